// CSRs through the real apiserver, authenticated as whoever sends them, so spec.username,
// spec.groups and spec.uid are filled in by the apiserver, not by the test. Legitimate ones
// come from the kubelet's own code (`kubeletCsr`, `startKubelet`: `rig kubelet`); hostile
// shapes a kubelet never makes from TypeScript (`forgeNodeCsr`, `createArbitraryCsr`).
import { spawn } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { CertificatesV1Api, type V1CertificateSigningRequest } from "@kubernetes/client-node";
import { createCsrPem, der, toRequestField, type CsrSpec } from "../support/csr-factory.js";
import type { ClusterHandle, RigIdentity } from "./cluster.js";

export const KUBELET_SERVING = "kubernetes.io/kubelet-serving";
export const KUBELET_USAGES = ["digital signature", "server auth"];

export interface ForgedNodeCsrOptions {
  // The node it claims to be (and is authenticated as).
  node: string;
  dnsNames?: string[];
  ips?: string[];
  key?: KeyObject;
}

export interface CreatedCsr {
  csr: V1CertificateSigningRequest;
  name: string;
  key: KeyObject;
  pem: string;
}

export function certificatesApi(
  cluster: ClusterHandle,
  identity: RigIdentity,
  useToken = false,
): CertificatesV1Api {
  return cluster.kubeConfig(identity, useToken).makeApiClient(CertificatesV1Api);
}

/**
 * A CSR in the kubelet's format (ECDSA P-256, CN system:node:<node>, O system:nodes,
 * kubelet-serving, the kubelet's usages) built by TypeScript with whatever SANs the test
 * names, sent as the node: what a compromised node could send (another node's IP or name,
 * a flood). Not what a kubelet makes: legitimate CSRs come from `kubeletCsr()` or
 * `startKubelet()`, the kubelet's own code. (The benchmarks also use it to make thousands.)
 */
export async function forgeNodeCsr(
  cluster: ClusterHandle,
  options: ForgedNodeCsrOptions,
): Promise<CreatedCsr> {
  return createArbitraryCsr(cluster, {
    as: cluster.nodeCredentials(options.node),
    request: {
      commonName: `system:node:${options.node}`,
      organizations: ["system:nodes"],
      dnsNames: options.dnsNames,
      ips: options.ips,
      ...(options.key ? { privateKey: options.key } : {}),
    },
  });
}

/**
 * PEM characters of the largest kubelet-serving CSR the apiserver stores: etcd takes objects
 * up to 1.5 MiB, and the PEM is kept as bytes (the JSON carries it base64: ~1.95 MB).
 */
export const MAX_SIZE_PEM_CHARS = 1_460_000;

/**
 * A CSR of `pemChars` PEM characters (default the maximum) from the node, valid PKCS#10 that Go
 * parses and verifies: the kubelet's shape plus one non-critical extension of padding, what a
 * compromised node could file to exhaust the approver's memory (security review, finding 1).
 */
export async function maxSizeNodeCsr(
  cluster: ClusterHandle,
  options: ForgedNodeCsrOptions & { pemChars?: number; name?: string; reuse?: CreatedCsr },
): Promise<CreatedCsr> {
  // `reuse`: the same request again under a new name (a flood costs the sender no signing).
  const { key, pem } = options.reuse ?? maxSizePem(options);
  const csr = await createCsrAs(cluster, cluster.nodeCredentials(options.node), {
    metadata: options.name ? { name: options.name } : { generateName: "csr-" },
    spec: { signerName: KUBELET_SERVING, usages: KUBELET_USAGES, request: toRequestField(pem) },
  });
  return { csr, name: csr.metadata?.name ?? "", key, pem };
}

function maxSizePem(options: ForgedNodeCsrOptions & { pemChars?: number }): { key: KeyObject; pem: string } {
  const key = options.key ?? generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const request = (padding: number): CsrSpec => ({
    key: { type: "ecdsa", curve: "P-256" },
    commonName: `system:node:${options.node}`,
    organizations: ["system:nodes"],
    dnsNames: options.dnsNames ?? [options.node],
    ips: options.ips,
    privateKey: key,
    // An unregistered private OID: Go keeps an unknown non-critical extension as it is.
    rawExtensions: [der.seq(der.oid("1.3.6.1.4.1.57264.99.1"), der.tlv(0x04, Buffer.alloc(padding, 0x5a)))],
  });
  const wanted = options.pemChars ?? MAX_SIZE_PEM_CHARS;
  // PEM is ~65/48 of the DER: size the padding, then correct it once on the measured PEM.
  let padding = Math.max(0, Math.floor(((wanted - 2_000) * 48) / 65));
  padding += Math.floor(((wanted - createCsrPem(request(padding)).length) * 48) / 65) - 8;
  return { key, pem: createCsrPem(request(Math.max(0, padding))) };
}

export interface ArbitraryCsrOptions {
  // Who sends it: any identity of the cluster (a node's, the approver's, a minted user's).
  as: RigIdentity;
  useToken?: boolean;
  // The PKCS#10 content, e.g. another node's CN.
  request: CsrSpec;
  signerName?: string;
  usages?: string[];
  expirationSeconds?: number;
  name?: string; // default generateName csr-
}

// Hostile or unusual CSRs: any subject/SANs/signer/usages, sent as any identity.
export async function createArbitraryCsr(
  cluster: ClusterHandle,
  options: ArbitraryCsrOptions,
): Promise<CreatedCsr> {
  const key = options.request.privateKey ?? generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const pem = createCsrPem({ key: { type: "ecdsa", curve: "P-256" }, ...options.request, privateKey: key });
  const csr = await createCsrAs(
    cluster,
    options.as,
    {
      metadata: options.name ? { name: options.name } : { generateName: "csr-" },
      spec: {
        signerName: options.signerName ?? KUBELET_SERVING,
        usages: options.usages ?? KUBELET_USAGES,
        request: toRequestField(pem),
        expirationSeconds: options.expirationSeconds,
      },
    },
    options.useToken,
  );
  return { csr, name: csr.metadata?.name ?? "", key, pem };
}

export async function createCsrAs(
  cluster: ClusterHandle,
  identity: RigIdentity,
  body: Omit<V1CertificateSigningRequest, "apiVersion" | "kind">,
  useToken = false,
): Promise<V1CertificateSigningRequest> {
  return certificatesApi(cluster, identity, useToken).createCertificateSigningRequest({
    body: { apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", ...body },
  });
}

// ---------------------------------------------------------------------------------------
// The kubelet's own code: `rig kubelet` (cmd/rig/kubelet.go) runs
// k8s.io/kubernetes/pkg/kubelet/certificate.NewKubeletServerCertificateManager as the node.
// ---------------------------------------------------------------------------------------

export type NodeAddressType = "InternalIP" | "ExternalIP" | "InternalDNS" | "ExternalDNS" | "Hostname";
export interface NodeAddress {
  type: NodeAddressType;
  address: string;
}

// The EC2 facts the AWS cloud provider reads (a DescribeInstances Instance).
export interface Ec2InstanceFacts {
  PrivateDnsName?: string;
  PublicDnsName?: string;
  PublicIpAddress?: string;
  NetworkInterfaces?: {
    Status?: string;
    Attachment?: { DeviceIndex?: number };
    PrivateIpAddresses?: { Primary?: boolean; PrivateIpAddress?: string }[];
    Ipv6Addresses?: { Ipv6Address?: string }[];
  }[];
}

/**
 * The Node addresses the AWS cloud provider publishes for an instance (cloud-provider-aws
 * `extractIPv4NodeAddresses`): InternalIP for every private IP of every in-use ENI (by
 * device index, primary address first), ExternalIP for the instance's public IP,
 * InternalDNS and Hostname for its private DNS name, ExternalDNS for its public DNS name.
 * `ipv6: true` adds the ENIs' IPv6 addresses as InternalIP, as with nodeIPFamilies ipv4,ipv6.
 * `hostname` replaces the private DNS name (EC2's resource-name hostnames, which moto lacks).
 */
export function awsNodeAddresses(
  instance: Ec2InstanceFacts,
  options: { ipv6?: boolean; hostname?: string } = {},
): NodeAddress[] {
  const enis = (instance.NetworkInterfaces ?? [])
    .filter((eni) => eni.Status === "in-use")
    .sort((a, b) => (a.Attachment?.DeviceIndex ?? 0) - (b.Attachment?.DeviceIndex ?? 0));
  const out: NodeAddress[] = [];
  for (const eni of enis) {
    const ips = [...(eni.PrivateIpAddresses ?? [])].sort((a, b) => Number(!!b.Primary) - Number(!!a.Primary));
    for (const ip of ips)
      if (ip.PrivateIpAddress) out.push({ type: "InternalIP", address: ip.PrivateIpAddress });
  }
  if (options.ipv6)
    for (const eni of enis)
      for (const ip of eni.Ipv6Addresses ?? [])
        if (ip.Ipv6Address) out.push({ type: "InternalIP", address: ip.Ipv6Address });
  if (instance.PublicIpAddress) out.push({ type: "ExternalIP", address: instance.PublicIpAddress });
  const privateDns = options.hostname ?? instance.PrivateDnsName;
  if (privateDns) {
    out.push({ type: "InternalDNS", address: privateDns });
    out.push({ type: "Hostname", address: privateDns });
  }
  if (instance.PublicDnsName) out.push({ type: "ExternalDNS", address: instance.PublicDnsName });
  return out;
}

export type KubeletOutcome =
  | { event: "issued"; name: string; certFile: string }
  | { event: "denied" | "failed"; name: string; reason: string; message: string };

export interface KubeletRun {
  // The CSR the kubelet's certificate manager created (generateName csr-).
  name: string;
  // Settles when the CSR is issued (certificate stored by the manager), denied or failed;
  // rejects on timeout or if the helper dies.
  outcome: Promise<KubeletOutcome>;
  stop(): void;
}

let kubeletRuns = 0;

export interface KubeletOptions {
  // The node's name as the kubelet knows it (its hostname or --hostname-override).
  node: string;
  // Its Node addresses, e.g. awsNodeAddresses(instance): the SANs come from these.
  addresses: NodeAddress[];
  // Authenticate with this bearer token (an EKS or aws-iam-authenticator token, as on EKS
  // nodes) instead of a client certificate for system:node:<node>.
  token?: string;
  timeoutSeconds?: number;
}

/**
 * Starts the kubelet's serving-certificate manager for `node` (a client certificate for
 * system:node:<node>, or `token`) with the given Node addresses; resolves once its CSR exists. The
 * manager keeps running until the CSR is issued, denied or failed (`outcome`), or `stop()`.
 */
export async function startKubelet(cluster: ClusterHandle, options: KubeletOptions): Promise<KubeletRun> {
  return runKubeletHelper(cluster, options, false);
}

export interface KubeletCsr {
  name: string;
  // Date.now() when the helper reported the CSR created (right after the API server's answer).
  createdAt: number;
  // As stored by the API server (read back as the admin).
  csr: V1CertificateSigningRequest;
}

/**
 * The CSR a real kubelet makes for `node` with these Node addresses: the kubelet's
 * certificate manager (`rig kubelet --exit-after-csr`) generates the key and creates the
 * CSR, and the helper exits as soon as it exists. For tests where the sweep decides it
 * later and nobody waits for the certificate (no process is left running); the private key
 * stays in the helper's cert dir, as on a node. `startKubelet` keeps the manager running.
 * SANs: DNS names from Hostname/InternalDNS/ExternalDNS, IPs from InternalIP/ExternalIP (the
 * kubelet's addressesToHostnamesAndIPs), so what a test wants in the request it puts in
 * `addresses`, usually `awsNodeAddresses(instance)`.
 */
export async function kubeletCsr(
  cluster: ClusterHandle,
  options: Omit<KubeletOptions, "timeoutSeconds">,
): Promise<KubeletCsr> {
  const run = await runKubeletHelper(cluster, { ...options, timeoutSeconds: 60 }, true);
  await run.exited;
  const csr = await certificatesApi(cluster, cluster.admin).readCertificateSigningRequest({ name: run.name });
  return { name: run.name, createdAt: run.createdAt, csr };
}

async function runKubeletHelper(
  cluster: ClusterHandle,
  options: KubeletOptions,
  exitAfterCsr: boolean,
): Promise<KubeletRun & { exited: Promise<void>; createdAt: number }> {
  const certDir = join(cluster.info.dir, "kubelets", `${process.pid}-${++kubeletRuns}`);
  const kubeconfig =
    options.token === undefined
      ? cluster.nodeCredentials(options.node).kubeconfig
      : tokenKubeconfig(cluster, `${certDir}.kubeconfig`, options.token);
  const args = [
    "kubelet",
    "--kubeconfig",
    kubeconfig,
    "--node",
    options.node,
    "--cert-dir",
    certDir,
    "--timeout",
    `${options.timeoutSeconds ?? 120}s`,
    ...(exitAfterCsr ? ["--exit-after-csr"] : []),
    ...options.addresses.map((a) => `--address=${a.type}=${a.address}`),
  ];
  const child = spawn(cluster.rigBinaryPath, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const lines: Record<string, string>[] = [];
  let createdAt = 0;
  const waiters: (() => void)[] = [];
  let buffered = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const part of parts) {
      if (!part.trim()) continue;
      const line = JSON.parse(part) as Record<string, string>;
      if (line.event === "csr") createdAt = Date.now();
      lines.push(line);
    }
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<number | null>((resolveClose) =>
    child.once("close", (code) => resolveClose(code)),
  );
  const failure = (what: string) =>
    new Error(`rig kubelet for ${options.node}: ${what}\n${stderr.trim()} (log: ${certDir}/kubelet.log)`);
  const waitFor = async (events: string[]): Promise<Record<string, string>> => {
    for (;;) {
      const found = lines.find((line) => events.includes(line.event ?? ""));
      if (found) return found;
      const woke = new Promise<void>((resolveWake) => waiters.push(resolveWake));
      const code = await Promise.race([woke.then(() => "line" as const), closed]);
      if (code !== "line") {
        const late = lines.find((line) => events.includes(line.event ?? ""));
        if (late) return late;
        throw failure(`exited (${code}) before ${events.join("/")}`);
      }
    }
  };
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  let created: Record<string, string>;
  try {
    created = await waitFor(["csr"]);
  } catch (error) {
    stop();
    throw error;
  }
  const outcome = exitAfterCsr
    ? Promise.reject(new Error("rig kubelet --exit-after-csr does not wait for the outcome"))
    : (waitFor(["issued", "denied", "failed"]) as Promise<KubeletOutcome>);
  outcome.catch(() => undefined); // reported to whoever awaits it
  const exited = closed.then((code) => {
    if (exitAfterCsr && code !== 0) throw failure(`exited (${code}) after creating ${created.name}`);
  });
  exited.catch(() => undefined);
  return { name: created.name ?? "", outcome, stop, exited, createdAt };
}

/** A kubeconfig file (JSON) for the cluster with a bearer token, readable only by us. */
function tokenKubeconfig(cluster: ClusterHandle, path: string, token: string): string {
  mkdirSync(dirname(path), { recursive: true });
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "rig",
        cluster: {
          server: cluster.server,
          "certificate-authority-data": Buffer.from(cluster.caPem).toString("base64"),
        },
      },
    ],
    users: [{ name: "node", user: { token } }],
    contexts: [{ name: "rig", context: { cluster: "rig", user: "node" } }],
    "current-context": "rig",
  };
  writeFileSync(path, JSON.stringify(config), { mode: 0o600 });
  return path;
}
