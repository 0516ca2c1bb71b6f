// Command rig runs one throwaway Kubernetes control plane for the integration tests:
// an embedded etcd plus a real kube-apiserver child process, on loopback ports, with PKI,
// static tokens and kubeconfigs generated into a directory. It prints one JSON line when
// the apiserver is ready and tears everything down when its stdin closes (the parent
// died) or on SIGTERM/SIGINT. `rig client-cert` mints further client identities later.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

type identity struct {
	ID              string   `json:"id"`
	User            string   `json:"user"`
	Groups          []string `json:"groups"`
	CertFile        string   `json:"certFile"`
	KeyFile         string   `json:"keyFile"`
	Kubeconfig      string   `json:"kubeconfig"`
	Token           string   `json:"token,omitempty"`
	TokenKubeconfig string   `json:"tokenKubeconfig,omitempty"`
}

type clusterInfo struct {
	Event        string  `json:"event"`
	Name         string  `json:"name"`
	Dir          string  `json:"dir"`
	Server       string  `json:"server"`
	Etcd         string  `json:"etcd"`
	CAFile       string  `json:"caFile"`
	ClientCAFile string  `json:"clientCaFile"`
	APIServerPID int     `json:"apiserverPid"`
	APIServerLog string  `json:"apiserverLog"`
	StartSeconds float64 `json:"startSeconds"`
	// The kubelet-serving signer (signer.go): mode and the CA it signs with.
	Signer        string               `json:"signer"`
	SigningCAFile string               `json:"signingCaFile"`
	Identities    map[string]*identity `json:"identities"`
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fatal(errors.New("usage: rig cluster|client-cert|kubelet [flags]"))
	}
	var err error
	switch os.Args[1] {
	case "cluster":
		err = runCluster(os.Args[2:])
	case "client-cert":
		err = runClientCert(os.Args[2:])
	case "kubelet":
		err = runKubelet(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "rig:", err)
	os.Exit(1)
}

func runClientCert(args []string) error {
	fs := flag.NewFlagSet("client-cert", flag.ContinueOnError)
	dir := fs.String("dir", "", "cluster directory")
	id := fs.String("id", "", "file name for the identity")
	cn := fs.String("cn", "", "user name (certificate CN)")
	var orgs stringList
	fs.Var(&orgs, "org", "group (certificate O), repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *id == "" || *cn == "" {
		return errors.New("client-cert needs --dir, --id and --cn")
	}
	raw, err := os.ReadFile(filepath.Join(*dir, "cluster.json"))
	if err != nil {
		return err
	}
	var info clusterInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return err
	}
	ident, err := makeCertIdentity(*dir, info.Server, *id, *cn, orgs)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(ident)
}

func makeCertIdentity(dir, server, id, cn string, orgs []string) (*identity, error) {
	if strings.ContainsAny(id, "/\\") || strings.HasPrefix(id, ".") {
		return nil, fmt.Errorf("bad identity id %q", id)
	}
	ca, err := loadCA(filepath.Join(dir, "pki"), "client-ca")
	if err != nil {
		return nil, err
	}
	prefix := filepath.Join(dir, "identities", id)
	if err := ca.issue(prefix, leafSpec{commonName: cn, organizations: orgs}); err != nil {
		return nil, err
	}
	ident := &identity{ID: id, User: cn, Groups: orgs, CertFile: prefix + ".crt", KeyFile: prefix + ".key", Kubeconfig: prefix + ".kubeconfig"}
	if ident.Groups == nil {
		ident.Groups = []string{}
	}
	if err := writeKubeconfig(ident.Kubeconfig, server, filepath.Join(dir, "pki", "server-ca.crt"), ident, ""); err != nil {
		return nil, err
	}
	return ident, nil
}

func b64File(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// writeKubeconfig embeds everything so the file can be copied anywhere (e.g. into a secret).
func writeKubeconfig(path, server, caFile string, ident *identity, token string) error {
	ca, err := b64File(caFile)
	if err != nil {
		return err
	}
	var user string
	if token != "" {
		user = fmt.Sprintf("    token: %s\n", token)
	} else {
		cert, err := b64File(ident.CertFile)
		if err != nil {
			return err
		}
		key, err := b64File(ident.KeyFile)
		if err != nil {
			return err
		}
		user = fmt.Sprintf("    client-certificate-data: %s\n    client-key-data: %s\n", cert, key)
	}
	doc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: rig
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
%scontexts:
- name: rig
  context:
    cluster: rig
    user: %s
current-context: rig
`, server, ca, ident.ID, user, ident.ID)
	return os.WriteFile(path, []byte(doc), 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startEtcd(dir string) (*embed.Etcd, string, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		clientPort, err := freePort()
		if err != nil {
			return nil, "", err
		}
		peerPort, err := freePort()
		if err != nil {
			return nil, "", err
		}
		clientURL, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
		peerURL, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
		cfg := embed.NewConfig()
		cfg.Name = "rig"
		cfg.Dir = filepath.Join(dir, "etcd")
		cfg.ListenClientUrls = []url.URL{*clientURL}
		cfg.AdvertiseClientUrls = []url.URL{*clientURL}
		cfg.ListenPeerUrls = []url.URL{*peerURL}
		cfg.AdvertisePeerUrls = []url.URL{*peerURL}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.UnsafeNoFsync = true // throwaway data; fsync only slows the tests
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
		_ = os.RemoveAll(cfg.Dir)
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err
			continue // most likely a port taken between freePort and bind
		}
		select {
		case <-e.Server.ReadyNotify():
			return e, clientURL.String(), nil
		case <-time.After(60 * time.Second):
			e.Close()
			return nil, "", errors.New("etcd did not become ready in 60s")
		}
	}
	return nil, "", fmt.Errorf("etcd: %w", lastErr)
}

type clusterFlags struct {
	dir, name, apiserver, signer string
	nodes, extraArgs             stringList
}

func runCluster(args []string) error {
	// Pdeathsig is tied to the forking OS thread: keep main on one thread for our lifetime.
	runtime.LockOSThread()
	started := time.Now()
	var f clusterFlags
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.StringVar(&f.dir, "dir", "", "state directory (wiped)")
	fs.StringVar(&f.name, "name", "rig", "cluster name, for logs")
	fs.StringVar(&f.apiserver, "apiserver", "", "kube-apiserver binary")
	fs.Var(&f.nodes, "node", "node name that gets a static token too, repeatable")
	fs.Var(&f.extraArgs, "apiserver-arg", "extra kube-apiserver flag (--x=y), repeatable")
	fs.StringVar(&f.signer, "signer", signerSign, "kubelet-serving signer: sign, off or refuse")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.dir == "" || f.apiserver == "" {
		return errors.New("cluster needs --dir and --apiserver")
	}
	if !validSignerMode(f.signer) {
		return fmt.Errorf("--signer must be sign, off or refuse, not %q", f.signer)
	}
	dir, err := filepath.Abs(f.dir)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	for _, sub := range []string{"pki", "identities"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan string, 4)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() { s := <-signals; stop <- "signal " + s.String() }()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop <- "stdin closed" }()

	info, err := prepareCluster(dir, f)
	if err != nil {
		return err
	}
	etcd, etcdURL, err := startEtcd(dir)
	if err != nil {
		return err
	}
	defer etcd.Close()
	info.Etcd = etcdURL

	var apiserver *exec.Cmd
	var apiserverExit chan error
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		info.Server = fmt.Sprintf("https://127.0.0.1:%d", port)
		if err := writeIdentityKubeconfigs(info); err != nil {
			return err
		}
		apiserver, apiserverExit, err = startAPIServer(dir, f, info, port)
		if err != nil {
			return err
		}
		err = waitReady(ctx, info, apiserverExit, stop)
		if err == nil {
			break
		}
		killGroup(apiserver, apiserverExit)
		if attempt < 3 && strings.Contains(logTail(info.APIServerLog), "address already in use") {
			continue
		}
		return fmt.Errorf("kube-apiserver did not become ready: %w\n--- last lines of %s ---\n%s", err, info.APIServerLog, logTail(info.APIServerLog))
	}
	defer killGroup(apiserver, apiserverExit)
	if err := startSigner(ctx, info, f.signer); err != nil {
		return err
	}
	info.Event = "ready"
	info.APIServerPID = apiserver.Process.Pid
	info.StartSeconds = time.Since(started).Seconds()
	raw, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster.json"), raw, 0o600); err != nil {
		return err
	}
	fmt.Println(string(raw))

	select {
	case reason := <-stop:
		fmt.Fprintf(os.Stderr, "rig %s: stopping (%s)\n", f.name, reason)
		return nil
	case err := <-apiserverExit:
		return fmt.Errorf("kube-apiserver exited: %v\n%s", err, logTail(info.APIServerLog))
	case err := <-etcd.Err():
		return fmt.Errorf("etcd failed: %v", err)
	}
}

func prepareCluster(dir string, f clusterFlags) (*clusterInfo, error) {
	pki := filepath.Join(dir, "pki")
	serverCA, err := createCA(pki, "server-ca", "rig-server-ca-"+f.name)
	if err != nil {
		return nil, err
	}
	if _, err := createCA(pki, "client-ca", "rig-client-ca-"+f.name); err != nil {
		return nil, err
	}
	if err := serverCA.issue(filepath.Join(pki, "apiserver"), leafSpec{
		commonName: "kube-apiserver",
		dnsNames:   []string{"localhost"},
		ips:        []net.IP{net.ParseIP("127.0.0.1")},
		server:     true,
	}); err != nil {
		return nil, err
	}
	if err := writeServiceAccountKeys(pki); err != nil {
		return nil, err
	}
	info := &clusterInfo{
		Name:         f.name,
		Dir:          dir,
		CAFile:       filepath.Join(pki, "server-ca.crt"),
		ClientCAFile: filepath.Join(pki, "client-ca.crt"),
		APIServerLog: filepath.Join(dir, "kube-apiserver.log"),
		Identities:   map[string]*identity{},
		Signer:       f.signer,
		// The cluster CA signs kubelet serving certificates too (as on EKS and kubeadm).
		SigningCAFile: filepath.Join(pki, "server-ca.crt"),
	}
	add := func(id, user string, groups ...string) {
		info.Identities[id] = &identity{ID: id, User: user, Groups: groups}
	}
	add("admin", "rig-admin", "system:masters")
	add("csr-approver", "csr-approver", "csr-approver:approvers")
	for _, node := range f.nodes {
		add("node-"+node, "system:node:"+node, "system:nodes")
	}
	var tokens strings.Builder
	for _, ident := range info.Identities {
		if ident.Token, err = randomToken(); err != nil {
			return nil, err
		}
		// token,user,uid,"group1,group2"
		fmt.Fprintf(&tokens, "%s,%s,%s,\"%s\"\n", ident.Token, ident.User, ident.User, strings.Join(ident.Groups, ","))
	}
	if err := os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(tokens.String()), 0o600); err != nil {
		return nil, err
	}
	return info, nil
}

// writeIdentityKubeconfigs (re)writes every identity's files for the chosen server URL.
func writeIdentityKubeconfigs(info *clusterInfo) error {
	for id, ident := range info.Identities {
		issued, err := makeCertIdentity(info.Dir, info.Server, id, ident.User, ident.Groups)
		if err != nil {
			return err
		}
		issued.Token = ident.Token
		issued.TokenKubeconfig = filepath.Join(info.Dir, "identities", id+"-token.kubeconfig")
		if err := writeKubeconfig(issued.TokenKubeconfig, info.Server, info.CAFile, issued, issued.Token); err != nil {
			return err
		}
		info.Identities[id] = issued
	}
	return nil
}

func startAPIServer(dir string, f clusterFlags, info *clusterInfo, port int) (*exec.Cmd, chan error, error) {
	pki := filepath.Join(dir, "pki")
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--etcd-servers=" + info.Etcd,
		"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
		"--client-ca-file=" + info.ClientCAFile,
		"--token-auth-file=" + filepath.Join(pki, "tokens.csv"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		// Endpoints may not hold loopback addresses; nothing here routes to the Service anyway.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--profiling=false",
		"--v=1",
	}
	args = append(args, f.extraArgs...)
	logFile, err := os.Create(info.APIServerLog)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(f.apiserver, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = dir
	// Dies with us even if we are SIGKILLed; own process group so it can be killed whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, fmt.Errorf("start %s: %w", f.apiserver, err)
	}
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait(); logFile.Close(); close(exit) }()
	return cmd, exit, nil
}

func killGroup(cmd *exec.Cmd, exit chan error) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exit:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exit
	}
}

func waitReady(ctx context.Context, info *clusterInfo, exit chan error, stop chan string) error {
	admin := info.Identities["admin"]
	cert, err := tls.LoadX509KeyPair(admin.CertFile, admin.KeyFile)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(info.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}
	deadline := time.Now().Add(240 * time.Second)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		select {
		case err := <-exit:
			return fmt.Errorf("process exited: %v", err)
		case reason := <-stop:
			stop <- reason
			return fmt.Errorf("interrupted: %s", reason)
		case <-time.After(250 * time.Millisecond):
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, info.Server+"/readyz", nil)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return fmt.Errorf("timed out after 240s; last /readyz: %s", last)
}

func logTail(path string) string {
	file, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer file.Close()
	var lines []string
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1024*1024), 1024*1024)
	for scanner.Scan() {
		lines = append(lines, scanner.Text())
		if len(lines) > 40 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
