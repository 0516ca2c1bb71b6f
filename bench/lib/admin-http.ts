// Raw JSON requests to a rig apiserver as its cluster admin (client certificate), for what
// the typed client does not give as served: CSR JSON exactly as the apiserver writes it,
// Node objects in bulk, and approval that waits for the rig's real signer to issue.
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import type { RigCluster } from "../../test/rig/cluster.js";

const agents = new WeakMap<RigCluster, Agent>();

function agentFor(cluster: RigCluster): Agent {
  let agent = agents.get(cluster);
  if (!agent) {
    agent = new Agent({
      keepAlive: true,
      maxSockets: 16,
      ca: cluster.caPem,
      cert: readFileSync(cluster.admin.certFile),
      key: readFileSync(cluster.admin.keyFile),
    });
    agents.set(cluster, agent);
  }
  return agent;
}

/** Sends one request as the admin; resolves with the parsed JSON, rejects on a non-2xx status. */
export function adminJson(
  cluster: RigCluster,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const url = new URL(path, cluster.server);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: agentFor(cluster),
        headers: {
          Accept: "application/json",
          ...(payload !== undefined
            ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.once("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300)
            return reject(new Error(`${method} ${path}: HTTP ${status}: ${text.slice(0, 300)}`));
          try {
            resolve(text ? JSON.parse(text) : {});
          } catch {
            reject(new Error(`${method} ${path}: the response is not JSON`));
          }
        });
        res.once("error", reject);
      },
    );
    req.once("error", reject);
    req.end(payload);
  });
}

export const CSR_API = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/** Every CSR of the cluster exactly as the apiserver serves it (one unpaginated list). */
export async function rawCsrList(
  cluster: RigCluster,
): Promise<{ envelope: Record<string, unknown>; items: Record<string, unknown>[] }> {
  const list = (await adminJson(cluster, "GET", CSR_API)) as Record<string, unknown> & {
    items: Record<string, unknown>[];
  };
  const { items, ...envelope } = list;
  return { envelope, items };
}

/**
 * Approves the CSR as the admin (unless it already is) and waits for the rig's real
 * kubelet-serving signer (kube-controller-manager's, started by `rig cluster`) to issue it, so
 * the CSR looks to the approver exactly as an issued kubelet-serving CSR does in a cluster.
 */
export async function approveAndAwaitIssue(
  cluster: RigCluster,
  name: string,
  timeoutMs = 60_000,
): Promise<void> {
  type Csr = { status?: { conditions?: { type: string }[]; certificate?: string } };
  let csr = (await adminJson(cluster, "GET", `${CSR_API}/${name}`)) as Csr;
  if (!(csr.status?.conditions ?? []).some((c) => c.type === "Approved")) {
    csr = (await adminJson(cluster, "PUT", `${CSR_API}/${name}/approval`, {
      ...csr,
      status: {
        ...csr.status,
        conditions: [
          ...(csr.status?.conditions ?? []),
          { type: "Approved", status: "True", reason: "BenchSetup", message: "approved by the bench set-up" },
        ],
      },
    })) as Csr;
  }
  const deadline = Date.now() + timeoutMs;
  while (!csr.status?.certificate) {
    if (Date.now() > deadline)
      throw new Error(
        `bench set-up: the rig's signer did not issue CSR ${name} within ${timeoutMs / 1000} s`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
    csr = (await adminJson(cluster, "GET", `${CSR_API}/${name}`)) as Csr;
  }
}

/** Registers a Node object as the kubelet (or the cloud controller) would: name and providerID. */
export function createNodeObject(cluster: RigCluster, name: string, instanceId: string): Promise<unknown> {
  return adminJson(cluster, "POST", "/api/v1/nodes", {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name },
    spec: { providerID: `aws:///us-east-1a/${instanceId}` },
  });
}

export async function deleteAllNodes(cluster: RigCluster): Promise<void> {
  await adminJson(cluster, "DELETE", "/api/v1/nodes");
  for (let attempt = 0; attempt < 200; attempt++) {
    const list = (await adminJson(cluster, "GET", "/api/v1/nodes?limit=1")) as { items?: unknown[] };
    if ((list.items ?? []).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${cluster.name}: Node objects still listed 20 s after deleting them all`);
}
