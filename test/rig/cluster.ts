// One throwaway Kubernetes control plane: spawns `rig cluster` (embedded etcd + a real
// kube-apiserver child), waits for its ready line, applies infra/rbac.yaml as the admin.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  CertificatesV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT, log } from "./build.js";

export interface RigIdentity {
  id: string;
  user: string;
  groups: string[];
  certFile: string;
  keyFile: string;
  // Client-certificate kubeconfig (certificate data embedded).
  kubeconfig: string;
  // Static bearer token from --token-auth-file, and a kubeconfig that uses it.
  token?: string;
  tokenKubeconfig?: string;
}

// What `rig cluster` prints on its ready line (and writes to <dir>/cluster.json).
export interface ClusterInfo {
  name: string;
  dir: string;
  server: string;
  etcd: string;
  caFile: string;
  clientCaFile: string;
  apiserverPid: number;
  apiserverLog: string;
  startSeconds: number;
  identities: Record<string, RigIdentity>;
  // The kubelet-serving signer run by `rig cluster` (cmd/rig/signer.go) and its CA.
  signer: SignerMode;
  signingCaFile: string;
}

// sign: kube-controller-manager's kubelet-serving signing controller issues approved CSRs;
// off: no signer (approved CSRs stay without a certificate); refuse: approved CSRs are marked
// Failed (reason RigSignerRefused), as a signer with a policy of its own would.
export type SignerMode = "sign" | "off" | "refuse";

export interface ClusterOptions {
  name: string;
  dir: string;
  rigBinary: string;
  apiserverBinary: string;
  // Node names that also get a static bearer token (node certs can be minted any time).
  tokenNodes?: string[];
  // Extra kube-apiserver flags, e.g. --authentication-token-webhook-config-file=...
  extraApiserverArgs?: string[];
  signer?: SignerMode; // default sign
}

export const RBAC_MANIFEST = join(REPO_ROOT, "infra/rbac.yaml");

// A cluster's connection facts and identity helpers; usable from any process that can see
// the cluster's directory (vitest workers get ClusterInfo through inject()).
export class ClusterHandle {
  readonly info: ClusterInfo;
  protected readonly rigBinary: string;

  constructor(info: ClusterInfo, rigBinary: string) {
    this.info = info;
    this.rigBinary = rigBinary;
  }

  get name(): string {
    return this.info.name;
  }

  get server(): string {
    return this.info.server;
  }

  // PEM of the CA that signed the apiserver's serving certificate.
  get caPem(): string {
    return readFileSync(this.info.caFile, "utf8");
  }

  // PEM of the CA the kubelet-serving signer issues with (the same cluster CA).
  get signingCaPem(): string {
    return readFileSync(this.info.signingCaFile, "utf8");
  }

  get rigBinaryPath(): string {
    return this.rigBinary;
  }

  identity(id: string): RigIdentity {
    const found = this.info.identities[id];
    if (!found) throw new Error(`cluster ${this.info.name} has no identity ${id}`);
    return found;
  }

  get admin(): RigIdentity {
    return this.identity("admin");
  }

  get approver(): RigIdentity {
    return this.identity("csr-approver");
  }

  // Mints a client certificate for any user/groups, signed by this cluster's client CA.
  clientCredentials(id: string, user: string, groups: string[]): RigIdentity {
    const args = ["client-cert", "--dir", this.info.dir, "--id", id, "--cn", user];
    for (const group of groups) args.push("--org", group);
    const out = execFileSync(this.rigBinary, args, { encoding: "utf8" });
    const minted = JSON.parse(out) as RigIdentity;
    this.info.identities[id] = minted;
    return minted;
  }

  // A node identity system:node:<name> in system:nodes, as the kubelet's client cert is.
  // Minted once per cluster and name (reused from disk across test files).
  nodeCredentials(name: string): RigIdentity {
    const id = `node-${name}`;
    const known = this.info.identities[id];
    if (known) return known;
    const prefix = join(this.info.dir, "identities", id);
    const onDisk: RigIdentity = {
      id,
      user: `system:node:${name}`,
      groups: ["system:nodes"],
      certFile: `${prefix}.crt`,
      keyFile: `${prefix}.key`,
      kubeconfig: `${prefix}.kubeconfig`,
    };
    if ([onDisk.certFile, onDisk.keyFile, onDisk.kubeconfig].every((file) => existsSync(file))) {
      this.info.identities[id] = onDisk;
      return onDisk;
    }
    return this.clientCredentials(id, onDisk.user, onDisk.groups);
  }

  kubeConfig(identity: RigIdentity | string, useToken = false): KubeConfig {
    const ident = typeof identity === "string" ? this.identity(identity) : identity;
    const kc = new KubeConfig();
    const path = useToken ? ident.tokenKubeconfig : ident.kubeconfig;
    if (!path)
      throw new Error(`identity ${ident.id} has no ${useToken ? "token" : "certificate"} kubeconfig`);
    kc.loadFromFile(path);
    return kc;
  }

  // Test hygiene on the shared clusters: remove CSRs (and Nodes) a test file created, so
  // the next file's sweep does not see them. Deleting everything is for files that own a cluster.
  async deleteCsrs(names?: string[]): Promise<void> {
    const api = this.kubeConfig("admin").makeApiClient(CertificatesV1Api);
    const targets =
      names ??
      (await api.listCertificateSigningRequest()).items.flatMap((csr) =>
        csr.metadata?.name ? [csr.metadata.name] : [],
      );
    for (const name of targets) await api.deleteCertificateSigningRequest({ name }).catch(ignoreNotFound);
  }

  async deleteNodes(names: string[]): Promise<void> {
    const api = this.kubeConfig("admin").makeApiClient(CoreV1Api);
    for (const name of names) await api.deleteNode({ name }).catch(ignoreNotFound);
  }

  async applyManifest(path: string): Promise<void> {
    const api = KubernetesObjectApi.makeApiClient(this.kubeConfig("admin"));
    const docs = parseAllDocuments(readFileSync(path, "utf8"));
    for (const doc of docs) {
      if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`);
      const object = doc.toJS() as KubernetesObject | null;
      if (object) await api.create(object);
    }
  }
}

// A cluster this process started and owns.
export class RigCluster extends ClusterHandle {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  private constructor(info: ClusterInfo, child: ChildProcess, rigBinary: string, exited: Promise<void>) {
    super(info, rigBinary);
    this.child = child;
    this.exited = exited;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(options: ClusterOptions): Promise<RigCluster> {
    const args = [
      "cluster",
      "--dir",
      options.dir,
      "--name",
      options.name,
      "--apiserver",
      options.apiserverBinary,
      "--signer",
      options.signer ?? "sign",
    ];
    for (const node of options.tokenNodes ?? []) args.push("--node", node);
    for (const flag of options.extraApiserverArgs ?? []) args.push(`--apiserver-arg=${flag}`);
    // Own process group (killable as a whole); stdin stays a pipe: when we die, it closes
    // and the rig shuts etcd and the apiserver down (the apiserver also has Pdeathsig).
    const child = spawn(options.rigBinary, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
    trackChild(child);
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-20_000);
    });
    const exited = new Promise<void>((resolveExit) => child.once("close", () => resolveExit()));
    const info = await new Promise<ClusterInfo>((resolveReady, reject) => {
      let stdout = "";
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (chunk: string) => {
        stdout += chunk;
        const newline = stdout.indexOf("\n");
        if (newline < 0) return;
        const line = stdout.slice(0, newline);
        try {
          const parsed = JSON.parse(line) as ClusterInfo & { event: string };
          if (parsed.event === "ready") resolveReady(parsed);
        } catch {
          reject(new Error(`cluster ${options.name}: unexpected rig output: ${line}`));
        }
      });
      child.once("error", (error) =>
        reject(new Error(`cluster ${options.name}: cannot start rig: ${error.message}`)),
      );
      child.once("close", (code, signal) =>
        reject(new Error(`cluster ${options.name}: rig exited (${code ?? signal}) before ready:\n${stderr}`)),
      );
    });
    const cluster = new RigCluster(info, child, options.rigBinary, exited);
    try {
      await cluster.applyManifest(RBAC_MANIFEST);
    } catch (error) {
      await cluster.stop();
      throw new Error(
        `cluster ${options.name}: applying ${RBAC_MANIFEST} failed: ${(error as Error).message}`,
      );
    }
    return cluster;
  }

  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const timeout = new Promise<"timeout">((resolveTimeout) =>
      setTimeout(() => resolveTimeout("timeout"), 20_000).unref(),
    );
    if ((await Promise.race([this.exited, timeout])) === "timeout") {
      killGroup(pid);
      await this.exited;
    }
  }
}

function ignoreNotFound(error: unknown): void {
  if ((error as { code?: number }).code !== 404) throw error;
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

// Last resort if the test process exits without stop(): the rig also stops on stdin EOF.
export function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once("close", () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const live of liveChildren) if (live.pid !== undefined) killGroup(live.pid);
    });
  }
}

export function logCluster(cluster: RigCluster): void {
  log(
    `cluster ${cluster.info.name}: ${cluster.server} (etcd ${cluster.info.etcd}) ready in ${cluster.info.startSeconds.toFixed(1)}s`,
  );
}
