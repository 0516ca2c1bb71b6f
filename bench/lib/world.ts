// The benchmark's world on the rig: a pool of EC2 instances in moto (RunInstances batches),
// node identities in each rig cluster, kubelet-like CSRs (legitimate and hostile) created
// as those nodes, and the apiserver's view of what was decided.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { CertificatesV1Api, Watch, type V1CertificateSigningRequest } from "@kubernetes/client-node";
import { MOTO_AMI, type AwsClients } from "../../test/rig/aws-seed.js";
import type { RigCluster, RigIdentity } from "../../test/rig/cluster.js";
import { createArbitraryCsr, forgeNodeCsr } from "../../test/rig/kubelet.js";

const execFileAsync = promisify(execFile);

export interface PoolInstance {
  instanceId: string;
  /** PrivateDnsName: the kubelet's default node name on EC2. */
  node: string;
  privateIp: string;
}

/** Runs `count` instances in one subnet, `batch` per RunInstances call (MinCount = MaxCount). */
export async function seedInstances(
  clients: AwsClients,
  options: { subnetId: string; count: number; batch: number; progress: (message: string) => void },
): Promise<{ instances: PoolInstance[]; calls: number; seconds: number }> {
  const started = performance.now();
  const instances: PoolInstance[] = [];
  let calls = 0;
  while (instances.length < options.count) {
    const n = Math.min(options.batch, options.count - instances.length);
    const { Instances } = await clients.ec2.send(
      new RunInstancesCommand({
        ImageId: MOTO_AMI,
        InstanceType: "m5.large",
        MinCount: n,
        MaxCount: n,
        SubnetId: options.subnetId,
        TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "Name", Value: "bench-node" }] }],
      }),
    );
    calls += 1;
    for (const instance of Instances ?? []) {
      if (!instance.InstanceId || !instance.PrivateDnsName || !instance.PrivateIpAddress)
        throw new Error(
          `moto returned an instance without ID, PrivateDnsName or IP: ${JSON.stringify(instance)}`,
        );
      instances.push({
        instanceId: instance.InstanceId,
        node: instance.PrivateDnsName,
        privateIp: instance.PrivateIpAddress,
      });
    }
    options.progress(`moto: ${instances.length}/${options.count} instances running`);
  }
  return { instances, calls, seconds: (performance.now() - started) / 1000 };
}

/** Runs fn over items with at most `limit` in flight. */
export async function eachBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/**
 * Node client certificates (system:node:<name>, system:nodes), minted by the rig binary as
 * ClusterHandle.nodeCredentials does, but several at a time.
 */
export async function mintNodeIdentities(
  cluster: RigCluster,
  nodes: readonly string[],
  progress: (done: number) => void,
): Promise<number> {
  const missing = [...new Set(nodes)].filter((node) => !cluster.info.identities[`node-${node}`]);
  let done = 0;
  await eachBounded(missing, 4, async (node) => {
    const id = `node-${node}`;
    const { stdout } = await execFileAsync(cluster.rigBinaryPath, [
      "client-cert",
      "--dir",
      cluster.info.dir,
      "--id",
      id,
      "--cn",
      `system:node:${node}`,
      "--org",
      "system:nodes",
    ]);
    cluster.info.identities[id] = JSON.parse(stdout) as RigIdentity;
    done += 1;
    if (done % 100 === 0) progress(done);
  });
  return missing.length;
}

// Hostile requests the policy must deny at once (no grace period involved), with the first
// reason code it must give.
export const HOSTILE_KINDS = {
  "other-ip": "IP_NOT_OWNED", // a node asking for another node's IP
  "other-name": "DNS_NOT_OWNED", // ... for another node's DNS name
  "not-a-node": "NOT_A_NODE", // a non-node identity asking for a node's certificate
  foreign: "FOREIGN_INSTANCE", // a stranger: an instance outside the cluster's VPC joined it
} as const;
// (A node asking for another node's CN never reaches the approver: the apiserver's
// NodeRestriction admission refuses to create it.)
export type CsrKind = "legit" | keyof typeof HOSTILE_KINDS;

export interface PlannedCsr {
  kind: CsrKind;
  clusterIndex: number;
  instance: PoolInstance;
  /** The victim of a hostile request. */
  other: PoolInstance;
  expected: "Approved" | "Denied";
  expectedCode: string;
  name?: string;
}

/**
 * n CSRs over `clusters` clusters; every 20th is hostile (kinds in turn). `foreign` holds
 * instances outside the clusters' VPC, the requesters of the "foreign" kind.
 */
export function planCsrs(
  pool: readonly PoolInstance[],
  foreign: readonly PoolInstance[],
  n: number,
  clusters: number,
  withHostile = true,
): PlannedCsr[] {
  if (n > pool.length) throw new Error(`need ${n} instances, the pool has ${pool.length}`);
  const kinds = Object.keys(HOSTILE_KINDS) as (keyof typeof HOSTILE_KINDS)[];
  const planned: PlannedCsr[] = [];
  for (let i = 0; i < n; i++) {
    const hostile = withHostile && i % 20 === 19;
    const kind: CsrKind = hostile ? (kinds[Math.floor(i / 20) % kinds.length] as CsrKind) : "legit";
    const stranger = foreign[Math.floor(i / 20) % Math.max(1, foreign.length)];
    if (kind === "foreign" && !stranger) throw new Error("no foreign instances to plan a stranger's CSR");
    planned.push({
      kind,
      clusterIndex: i % clusters,
      instance: kind === "foreign" ? (stranger as PoolInstance) : (pool[i] as PoolInstance),
      other: pool[(i + 1) % pool.length] as PoolInstance,
      expected: kind === "legit" ? "Approved" : "Denied",
      expectedCode: kind === "legit" ? "ALL_CHECKS_PASSED" : HOSTILE_KINDS[kind],
    });
  }
  return planned;
}

export async function createPlannedCsr(cluster: RigCluster, csr: PlannedCsr): Promise<string> {
  const { instance: self, other } = csr;
  const nodeSubject = (node: string) => ({
    commonName: `system:node:${node}`,
    organizations: ["system:nodes"],
  });
  switch (csr.kind) {
    // Thousands of CSRs: made in TypeScript in the kubelet's format (a kubelet process per
    // CSR would dominate the measurement); the integration tests use the kubelet's own code.
    case "legit":
      return (await forgeNodeCsr(cluster, { node: self.node, dnsNames: [self.node], ips: [self.privateIp] }))
        .name;
    case "other-ip":
      return (
        await forgeNodeCsr(cluster, {
          node: self.node,
          dnsNames: [self.node],
          ips: [self.privateIp, other.privateIp],
        })
      ).name;
    case "other-name":
      return (
        await forgeNodeCsr(cluster, {
          node: self.node,
          dnsNames: [self.node, other.node],
          ips: [self.privateIp],
        })
      ).name;
    case "not-a-node":
      return (
        await createArbitraryCsr(cluster, {
          as: cluster.admin,
          request: { ...nodeSubject(self.node), dnsNames: [self.node], ips: [self.privateIp] },
        })
      ).name;
    case "foreign":
      return (await forgeNodeCsr(cluster, { node: self.node, dnsNames: [self.node], ips: [self.privateIp] }))
        .name;
  }
}

export function adminCertificates(cluster: RigCluster): CertificatesV1Api {
  return cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
}

export type StoredDecision = "Approved" | "Denied" | "Failed" | "Pending";

export function storedDecision(csr: V1CertificateSigningRequest): StoredDecision {
  const types = (csr.status?.conditions ?? []).filter((c) => c.status === "True").map((c) => c.type);
  for (const type of ["Denied", "Failed", "Approved"] as const) if (types.includes(type)) return type;
  return "Pending";
}

/** Every CSR's decision as the apiserver stores it, read as the cluster admin. */
export async function storedDecisions(cluster: RigCluster): Promise<Map<string, StoredDecision>> {
  const list = await adminCertificates(cluster).listCertificateSigningRequest();
  return new Map(list.items.map((csr) => [csr.metadata?.name ?? "", storedDecision(csr)]));
}

export async function deleteAllCsrs(cluster: RigCluster): Promise<void> {
  const api = adminCertificates(cluster);
  await api.deleteCollectionCertificateSigningRequest({});
  for (let attempt = 0; attempt < 100; attempt++) {
    if ((await api.listCertificateSigningRequest()).items.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${cluster.name}: CSRs still listed 10 s after deleting them all`);
}

/**
 * Calls onChange(name, decision, atMs) for every CSR event the cluster admin sees, until the
 * returned stop() is called. Used to time approvals from outside the approver.
 */
export async function watchDecisions(
  cluster: RigCluster,
  onChange: (name: string, decision: StoredDecision, atMs: number) => void,
): Promise<() => void> {
  const controller = await new Watch(cluster.kubeConfig(cluster.admin)).watch(
    "/apis/certificates.k8s.io/v1/certificatesigningrequests",
    {},
    (_phase, obj: V1CertificateSigningRequest) => {
      const at = performance.now();
      onChange(obj.metadata?.name ?? "", storedDecision(obj), at);
    },
    () => {},
  );
  return () => controller.abort();
}
