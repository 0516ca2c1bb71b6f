package main

// `rig kubelet`: the kubelet's own serving-certificate code, nothing else. It runs
// k8s.io/kubernetes/pkg/kubelet/certificate.NewKubeletServerCertificateManager (what the
// kubelet starts with serverTLSBootstrap: true) for one node, authenticated with the node's
// client kubeconfig, and the node addresses given with --address (as the cloud provider
// publishes them on the Node). The manager builds the CSR template (CN system:node:<name>,
// O system:nodes, DNS and IP SANs from the addresses), generates the key, and creates the
// CSR; this command only watches it. One CSR per run: a second create (the manager retries
// after a denial) is refused before it leaves the process.
//
// stdout, one JSON line each:
//   {"event":"csr","name":"csr-abcde"}                    the CSR was created
//   {"event":"issued","name":...,"certFile":...}          certificate issued and stored
//   {"event":"denied"|"failed","name":...,"reason":...}   the CSR reached that state
// Exit 0 after issued/denied/failed, 1 on timeout or error. With --exit-after-csr it exits 0
// right after the csr line: for tests that only need the kubelet's CSR to exist (the sweep
// decides it later), without a process per pending CSR.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	capi "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletcert "k8s.io/kubernetes/pkg/kubelet/certificate"
	netutils "k8s.io/utils/net"
)

var addressTypes = map[string]v1.NodeAddressType{
	"Hostname":    v1.NodeHostName,
	"InternalIP":  v1.NodeInternalIP,
	"ExternalIP":  v1.NodeExternalIP,
	"InternalDNS": v1.NodeInternalDNS,
	"ExternalDNS": v1.NodeExternalDNS,
}

// csrCreateGuard lets exactly one CSR create through and records its name.
type csrCreateGuard struct {
	next    http.RoundTripper
	mu      sync.Mutex
	created bool
	names   chan string
}

func (g *csrCreateGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/certificatesigningrequests") {
		return g.next.RoundTrip(req)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.created {
		return nil, errors.New("rig kubelet: one CSR per run, not sending another")
	}
	resp, err := g.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	g.created = true // it exists now, whatever follows
	// The kubelet's client speaks protobuf; the universal deserializer reads either.
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
	created, ok := obj.(*capi.CertificateSigningRequest)
	if err != nil || !ok || created.Name == "" {
		return nil, fmt.Errorf("rig kubelet: cannot read the created CSR's name (%s): %v", resp.Header.Get("Content-Type"), err)
	}
	g.names <- created.Name
	return resp, nil
}

// As the kubelet's addressesToHostnamesAndIPs counts IPs: InternalIP and ExternalIP, and a
// Hostname that parses as an IP.
func hasIPAddress(addresses []v1.NodeAddress) bool {
	for _, a := range addresses {
		switch a.Type {
		case v1.NodeInternalIP, v1.NodeExternalIP, v1.NodeHostName:
			if netutils.ParseIPSloppy(a.Address) != nil {
				return true
			}
		}
	}
	return false
}

func emit(event map[string]string) {
	raw, _ := json.Marshal(event)
	fmt.Println(string(raw))
}

func runKubelet(args []string) error {
	fs := flag.NewFlagSet("kubelet", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "the node's client kubeconfig (system:node:<name>)")
	node := fs.String("node", "", "node name")
	certDir := fs.String("cert-dir", "", "where the manager stores kubelet-server-current.pem")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	exitAfterCsr := fs.Bool("exit-after-csr", false, "exit once the CSR exists (do not wait for its outcome)")
	var addresses stringList
	fs.Var(&addresses, "address", "node address Type=Value (InternalIP, ExternalIP, InternalDNS, ExternalDNS, Hostname), repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" || *node == "" || *certDir == "" {
		return errors.New("kubelet needs --kubeconfig, --node and --cert-dir")
	}
	var nodeAddresses []v1.NodeAddress
	for _, a := range addresses {
		kind, value, ok := strings.Cut(a, "=")
		if !ok || addressTypes[kind] == "" || value == "" {
			return fmt.Errorf("bad --address %q: want Type=Value with Type one of InternalIP, ExternalIP, InternalDNS, ExternalDNS, Hostname", a)
		}
		nodeAddresses = append(nodeAddresses, v1.NodeAddress{Type: addressTypes[kind], Address: value})
	}
	// The manager makes no CSR without an IP (feature gate AllowDNSOnlyNodeCSR, off by
	// default): say so now rather than time out waiting for one.
	if !hasIPAddress(nodeAddresses) {
		return errors.New("no IP address among the --address values: the kubelet requests no serving certificate without one (AllowDNSOnlyNodeCSR is off)")
	}
	dir, err := filepath.Abs(*certDir)
	if err != nil {
		return err
	}
	*certDir = dir
	if err := os.MkdirAll(*certDir, 0o700); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(*certDir, "kubelet.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	klog.LogToStderr(false)
	klog.SetOutput(logFile)

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	guard := &csrCreateGuard{names: make(chan string, 1)}
	config.Wrap(func(rt http.RoundTripper) http.RoundTripper { guard.next = rt; return guard })
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	manager, err := kubeletcert.NewKubeletServerCertificateManager(client, &kubeletconfig.KubeletConfiguration{},
		types.NodeName(*node), func() []v1.NodeAddress { return nodeAddresses }, *certDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }() // parent gone: stop
	manager.Start()
	defer manager.Stop()

	var name string
	select {
	case name = <-guard.names:
	case <-ctx.Done():
		return fmt.Errorf("no CSR created within %s (see %s)", *timeout, logFile.Name())
	}
	emit(map[string]string{"event": "csr", "name": name})
	if *exitAfterCsr {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("CSR %s: no decision or certificate within %s", name, *timeout)
		case <-time.After(200 * time.Millisecond):
		}
		csr, err := client.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue // transient; the deadline bounds us
		}
		for _, c := range csr.Status.Conditions {
			if c.Status != v1.ConditionTrue {
				continue
			}
			switch c.Type {
			case capi.CertificateDenied:
				emit(map[string]string{"event": "denied", "name": name, "reason": c.Reason, "message": c.Message})
				return nil
			case capi.CertificateFailed:
				emit(map[string]string{"event": "failed", "name": name, "reason": c.Reason, "message": c.Message})
				return nil
			}
		}
		// The manager stores the certificate once it sees it: then it is the kubelet's.
		if current := manager.Current(); current != nil && current.Leaf != nil {
			emit(map[string]string{
				"event":    "issued",
				"name":     name,
				"certFile": filepath.Join(*certDir, "kubelet-server-current.pem"),
			})
			return nil
		}
	}
}
