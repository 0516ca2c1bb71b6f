// The fact gatherer: for one batch of CSRs, the EC2 instances they may be (batched
// DescribeInstances through facts.ts, each call waiting for the region's token bucket, which
// is passed in) and the Node objects (every Node, or only the requesters' in event mode).
// Gathered once per batch; a failure becomes `unavailable`, which the policy turns into `wait`
// for every CSR that needs it.
import type { EC2Client } from "@aws-sdk/client-ec2";
import { asUndecided } from "../core/audit.js";
import { nodeNameOf, parseProviderId, sessionInstanceId } from "../core/identity.js";
import { parseCertificateRequest } from "../core/request.js";
import { requestTooLarge } from "../core/request-size.js";
import type { ClusterPolicySettings, Ec2Instance, NodeObject, PolicyInput } from "../core/types.js";
import { mapBounded } from "./bounded.js";
import type { KubeApi, ReadCsr } from "./csrs.js";
import type { TokenBucket } from "./ec2-budget.js";
import { describeInstancesForNodes, planInstanceLookups, type NodeLookupRequest } from "./facts.js";
import { errorMessage, type SweepLogger } from "./report.js";
import type { ClusterSession } from "./session.js";

export interface BatchFacts {
  instances: PolicyInput["instances"];
  nodes: PolicyInput["nodes"];
}

/** What the gatherer needs of one cluster: its client, its region's EC2 client and bucket. */
export interface GatherContext {
  cluster: string;
  region: string;
  settings: ClusterPolicySettings;
  kube: Pick<KubeApi, "listNodes" | "readNode">;
  ec2: EC2Client;
  /** The region's DescribeInstances bucket (sweep/ec2-budget.ts), kept by the caller. */
  budget: TokenBucket;
  session: ClusterSession;
  log: SweepLogger;
}

/** Node GETs in flight per cluster (event mode reads the requesters' Nodes one by one). */
const NODE_READS_AT_ONCE = 8;

/**
 * The facts of a batch: `kept` are its pending CSRs, `elsewhere` the approvals made elsewhere
 * it audits, `followUps` whether follow-ups need the Node list (for the cluster's size).
 */
export async function gatherFacts(
  ctx: GatherContext,
  kept: ReadCsr[],
  followUps: boolean,
  elsewhere: ReadCsr[] = [],
): Promise<BatchFacts> {
  const { kube, session, settings } = ctx;
  // An event batch reads only its requesters' Node objects (the providerID cross-check needs
  // no other) instead of listing every Node each batch; trustNodeProviderId needs them all.
  const perNode = session.eventMode && !settings.trustNodeProviderId && session.nodeCount !== undefined;
  // Oversized requests are denied unread: they need no EC2 lookup (a flood of them costs none).
  const asked = [
    ...kept.filter((read) => !requestTooLarge(read.csr)),
    ...elsewhere.map((r) => ({ ...r, csr: asUndecided(r.csr) })),
  ];
  const reading: Promise<PolicyInput["nodes"]> =
    asked.length > 0 || followUps
      ? (perNode ? readNodesOf(kube, asked) : kube.listNodes()).catch((err: unknown) => ({
          unavailable: `Kubernetes node list failed: ${errorMessage(err)}`,
        }))
      : Promise.resolve([]);
  const [nodes, instances] = await Promise.all([
    reading,
    asked.length > 0 ? gatherInstances(ctx, asked, reading) : [],
  ]);
  if (!perNode && (asked.length > 0 || followUps) && Array.isArray(nodes)) session.countedNodes(nodes.length);
  return { instances, nodes };
}

/** The Node objects of the batch's requesters, read one by one (absent ones are left out). */
async function readNodesOf(kube: Pick<KubeApi, "readNode">, reads: ReadCsr[]): Promise<NodeObject[]> {
  const names = [
    ...new Set(
      reads.flatMap((r) => {
        const node = nodeNameOf(r.csr.spec.username);
        return node ? [node] : [];
      }),
    ),
  ];
  const found = await mapBounded(names, NODE_READS_AT_ONCE, (name) => kube.readNode(name));
  return found.filter((n): n is NodeObject => n !== undefined);
}

async function gatherInstances(
  ctx: GatherContext,
  pending: ReadCsr[],
  nodes: Promise<PolicyInput["nodes"]>,
): Promise<Ec2Instance[] | { unavailable: string }> {
  const { region, settings } = ctx;
  const templates = settings.nodeNameTemplates;
  const lookup = (requests: NodeLookupRequest[], nodeNameTemplates: readonly string[] = templates) =>
    describeInstancesForNodes(ctx.ec2, requests, region, { budget: ctx.budget, nodeNameTemplates });
  const requesters = new Set<string>();
  const requests = pending.flatMap((r) => {
    if (requestTooLarge(r.csr)) return []; // denied unread: no EC2 fact can change that
    const node = nodeNameOf(r.csr.spec.username);
    if (node === undefined) return [];
    requesters.add(node);
    // On every cluster kind: the session instance vetoes a mismatch (SPEC §3), decided on facts.
    const session = sessionInstanceId(r.csr).instanceId;
    // nonEc2Nodes: "EC2 holds none of the requested IPs or names" must be looked up, not assumed.
    const { ips, dnsNames } = settings.nonEc2Nodes ? requestedSans(r) : { ips: [], dnsNames: [] };
    return [
      {
        node,
        ...(session ? { sessionInstanceId: session } : {}),
        ...(ips.length > 0 ? { ips } : {}),
        ...(dnsNames.length > 0 ? { dnsNames } : {}),
      },
    ];
  });
  if (requests.length === 0) return [];
  try {
    // What the CSRs name is looked up while the Node objects are read (neither waits for the other).
    const named = lookup(requests);
    named.catch(() => undefined); // awaited below; a failure is handled there
    // The providerID instances are fetched too: they are the cross-check, and with
    // trustNodeProviderId the only way a node whose name matches nothing is identified. Those
    // the first lookup did not ask for take one more (usually none: EKS names it in the session).
    const asked = new Set(planInstanceLookups(requests, region, templates).instanceIds);
    const read = await nodes;
    const extra = new Set<string>();
    for (const n of Array.isArray(read) ? read : []) {
      const id = parseProviderId(n.spec?.providerID ?? "")?.instanceId;
      if (id !== undefined && requesters.has(n.metadata.name) && !asked.has(id)) extra.add(id);
    }
    const [first, more] = await Promise.all([
      named,
      extra.size > 0
        ? lookup(
            [...extra].map((id) => ({ node: "", sessionInstanceId: id })),
            [],
          )
        : [],
    ]);
    const byId = new Map<string, Ec2Instance>();
    const withoutId: Ec2Instance[] = [];
    for (const instance of [...first, ...more]) {
      if (instance.InstanceId === undefined) withoutId.push(instance);
      else byId.set(instance.InstanceId, instance);
    }
    return [...byId.values(), ...withoutId];
  } catch (err) {
    ctx.log.warn("DescribeInstances failed: pending CSRs wait", {
      cluster: ctx.cluster,
      error: errorMessage(err),
    });
    return { unavailable: `EC2 DescribeInstances failed: ${errorMessage(err)}` };
  }
}

function requestedSans(read: ReadCsr): { ips: string[]; dnsNames: string[] } {
  const parsed = parseCertificateRequest(read.csr.spec.request ?? "");
  const sans = parsed.ok ? parsed.request.sans : [];
  return {
    ips: sans.flatMap((san) => (san.type === "ip" ? [san.value] : [])),
    dnsNames: sans.flatMap((san) => (san.type === "dns" ? [san.value] : [])),
  };
}
