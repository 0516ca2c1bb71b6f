// Creates CSRs through the real apiserver the way the kubelet does with serverTLSBootstrap
// (pkg/kubelet/certificate: ECDSA P-256 key, generateName csr-, kubelet-serving signer,
// usages digital signature + server auth), authenticated as the node, so spec.username,
// spec.groups and spec.uid are filled in by the apiserver, not by the test.
import { spawn } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { join } from "node:path";
import { CertificatesV1Api, type V1CertificateSigningRequest } from "@kubernetes/client-node";
import { createCsrPem, toRequestField, type CsrSpec } from "../support/csr-factory.js";
import type { ClusterHandle, RigIdentity } from "./cluster.js";

export const KUBELET_SERVING = "kubernetes.io/kubelet-serving";
export const KUBELET_USAGES = ["digital signature", "server auth"];

export interface KubeletCsrOptions {
  // The node's name as the kubelet knows it (its hostname or --hostname-override).
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

// Exactly the kubelet's request, as node `options.node`.
export async function createKubeletCsr(
  cluster: ClusterHandle,
  options: KubeletCsrOptions,
): Promise<CreatedCsr> {
  const key = options.key ?? generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const pem = createCsrPem({
    commonName: `system:node:${options.node}`,
    organizations: ["system:nodes"],
    dnsNames: options.dnsNames,
    ips: options.ips,
    key: { type: "ecdsa", curve: "P-256" },
    privateKey: key,
  });
  const csr = await createCsrAs(cluster, cluster.nodeCredentials(options.node), {
    metadata: { generateName: "csr-" },
    spec: { signerName: KUBELET_SERVING, usages: KUBELET_USAGES, request: toRequestField(pem) },
  });
  return { csr, name: csr.metadata?.name ?? "", key, pem };
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

/**
 * Starts the kubelet's serving-certificate manager for `node` (authenticated as
 * system:node:<node>) with the given Node addresses; resolves once its CSR exists.
 */
export async function startKubelet(
  cluster: ClusterHandle,
  options: { node: string; addresses: NodeAddress[]; timeoutSeconds?: number },
): Promise<KubeletRun> {
  const identity = cluster.nodeCredentials(options.node);
  const certDir = join(cluster.info.dir, "kubelets", `${process.pid}-${++kubeletRuns}`);
  const args = [
    "kubelet",
    "--kubeconfig",
    identity.kubeconfig,
    "--node",
    options.node,
    "--cert-dir",
    certDir,
    "--timeout",
    `${options.timeoutSeconds ?? 120}s`,
    ...options.addresses.map((a) => `--address=${a.type}=${a.address}`),
  ];
  const child = spawn(cluster.rigBinaryPath, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const lines: Record<string, string>[] = [];
  const waiters: (() => void)[] = [];
  let buffered = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const part of parts) if (part.trim()) lines.push(JSON.parse(part) as Record<string, string>);
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
  const created = await waitFor(["csr"]);
  const outcome = waitFor(["issued", "denied", "failed"]) as Promise<KubeletOutcome>;
  outcome.catch(() => undefined); // reported to whoever awaits it
  return {
    name: created.name ?? "",
    outcome,
    stop: () => {
      if (child.exitCode === null) child.kill("SIGTERM");
    },
  };
}
