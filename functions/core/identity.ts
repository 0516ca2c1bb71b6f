// Which instance is node N (SPEC §3)? Only facts the node cannot forge establish identity:
// EC2's own names for the instance and, on EKS, the IAM session name the authenticator saw
// (on every cluster kind a session name that is an instance ID vetoes a mismatch).
// The Node object's providerID is written by the kubelet itself, so it only ever cross-checks.
import { expandNodeNameTemplate } from "./name-templates.js";
import { firstLabel, normalizeDnsName, resourceNameHostnames } from "./ownership.js";
import type { ClusterTag, CsrObject, Ec2Instance, NodeObject } from "./types.js";

/** How an instance was tied to node N. */
export type IdentitySource =
  | "private-dns-name"
  | "short-hostname"
  | "instance-id"
  | "resource-name"
  | "name-template"
  | "session-name"
  | "provider-id";

export type IdentityResult =
  | {
      kind: "matched";
      instance: Ec2Instance;
      instanceId: string;
      matchedBy: IdentitySource[];
      /** N matched one of the instance's EC2 names (so N itself is an owned DNS name). */
      nodeNameMatched: boolean;
      why: string;
    }
  | { kind: "none"; why: string }
  | { kind: "conflict"; instanceIds: string[]; why: string };

export interface IdentityOptions {
  clusterKind?: "eks" | "self-managed";
  /** Short names repeat across VPCs: when several instances match, prefer the cluster's. */
  vpcIds?: string[];
  /** Node objects, for the providerID cross-check. */
  nodes?: NodeObject[];
  trustNodeProviderId?: boolean;
  /** The cluster's `nodeNameTemplates`: N is also instance X when a template expanded for X gives N. */
  nodeNameTemplates?: readonly string[];
  /** With templates: an instance must carry this tag (as well as be in `vpcIds`) to be matched by one. */
  clusterTag?: ClusterTag;
}

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const PROVIDER_ID = /^aws:\/\/\/([a-z0-9-]+)\/(i-(?:[0-9a-f]{8}|[0-9a-f]{17}))$/;

/** The username prefix of a node's credential: `system:node:<N>`. */
export const NODE_USER_PREFIX = "system:node:";

/** N from a requester `system:node:N` (non-empty), else undefined: the one parser of node usernames. */
export function nodeNameOf(username: string | undefined): string | undefined {
  const name = username?.startsWith(NODE_USER_PREFIX) ? username.slice(NODE_USER_PREFIX.length) : "";
  return name === "" ? undefined : name;
}

/** `aws:///<az>/<instance-id>`, the form the AWS cloud provider writes; anything else: undefined. */
export function parseProviderId(providerId: string): { az: string; instanceId: string } | undefined {
  const match = PROVIDER_ID.exec(providerId);
  if (!match?.[1] || !match[2]) return undefined;
  return { az: match[1], instanceId: match[2] };
}

/** States that count for identity: the rest (terminated, stopped, …) leave names and IPs for reuse. */
export function isLiveState(state: string | undefined): boolean {
  return state === "pending" || state === "running";
}

function instanceIdOf(instance: Ec2Instance): string | undefined {
  const id = instance.InstanceId?.toLowerCase();
  return id?.match(INSTANCE_ID) ? id : undefined;
}

/**
 * Templates name only the cluster's own instances (its VPCs and, when set, its tag): an
 * inventory name such as `node1` is reused by every kubespray cluster in the account.
 */
export function belongsToCluster(
  instance: Ec2Instance,
  vpcIds: readonly string[],
  clusterTag: ClusterTag | undefined,
): boolean {
  if (!vpcIds.includes(instance.VpcId as string)) return false;
  if (!clusterTag) return true;
  const tag = instance.Tags?.find((t) => t.Key === clusterTag.key);
  if (!tag) return false;
  return clusterTag.values === undefined || clusterTag.values.includes(tag.Value as string);
}

/** How node N may be named by templates: the templates, and which instances they may name. */
interface Templating {
  templates: readonly string[];
  vpcIds: readonly string[];
  clusterTag: ClusterTag | undefined;
}

/** The EC2 names node N is compared with, and which rule each one stands for. */
function nameMatches(
  nodeName: string,
  instance: Ec2Instance,
  region: string,
  templating: Templating,
): IdentitySource[] {
  const sources: IdentitySource[] = [];
  const id = instanceIdOf(instance);
  // N is never "" here (identifyInstance refuses it), so an absent name matches nothing.
  const privateDns = normalizeDnsName(instance.PrivateDnsName ?? "");
  if (nodeName === privateDns) sources.push("private-dns-name");
  if (nodeName === firstLabel(privateDns) && !nodeName.includes(".")) sources.push("short-hostname");
  if (nodeName === id) sources.push("instance-id");
  if (id && resourceNameHostnames(id, region).includes(nodeName)) {
    sources.push("resource-name");
  }
  if (
    templating.templates.some(
      (template) => expandNodeNameTemplate(template, instance, region) === nodeName,
    ) &&
    belongsToCluster(instance, templating.vpcIds, templating.clusterTag)
  ) {
    sources.push("name-template");
  }
  return sources;
}

/**
 * The instance ID the EKS authenticator recorded as the IAM session name, when it looks like one.
 * EKS puts it in `extra.sessionName` as a one-element list; other session names (hybrid nodes,
 * roles assumed by people) are not instance IDs and say nothing about EC2 identity.
 */
export function sessionInstanceId(csr: CsrObject): { instanceId?: string; raw?: string } {
  const values = csr.spec.extra?.["sessionName"] ?? [];
  if (values.length === 0) return {};
  // Several different session names cannot name one instance: report them raw.
  const raw = values.join(",");
  if (values.length > 1) return { raw };
  const lowered = raw.toLowerCase();
  return INSTANCE_ID.test(lowered) ? { instanceId: lowered, raw } : { raw };
}

/** A live instance (so it has an ID and a state), for messages. */
function describe(id: string, instance: Ec2Instance): string {
  return `${id} (${(instance.State as { Name: string }).Name}, ${instance.VpcId ?? "no VPC"})`;
}

export function identifyInstance(
  node: string,
  csr: CsrObject,
  instances: Ec2Instance[],
  region: string,
  options: IdentityOptions = {},
): IdentityResult {
  const nodeName = normalizeDnsName(node);
  if (nodeName === "") return { kind: "none", why: "the requester names no node" };

  // Only pending/running instances, each once (a batched lookup may repeat one).
  const live = new Map<string, Ec2Instance>();
  for (const instance of instances) {
    const id = instanceIdOf(instance);
    if (id && isLiveState(instance.State?.Name) && !live.has(id)) live.set(id, instance);
  }

  const templating: Templating = {
    templates: options.nodeNameTemplates ?? [],
    vpcIds: options.vpcIds ?? [],
    clusterTag: options.clusterTag,
  };
  const byName = new Map<string, IdentitySource[]>();
  const byTemplate = new Set<string>();
  for (const [id, instance] of live) {
    const sources = nameMatches(nodeName, instance, region, templating);
    if (sources.length > 0) byName.set(id, sources);
    if (sources.includes("name-template")) byTemplate.add(id);
  }
  // A name a template gives one live instance and any rule another (a tag copied by an Auto
  // Scaling group, a hand-written tag equal to another instance's EC2 name) identifies nobody.
  const named = [...byName.keys()];
  if (named.length > 1 && byTemplate.size > 0) {
    return {
      kind: "conflict",
      instanceIds: named,
      why: `node name ${nodeName} is given by name templates or EC2 names to several live instances: ${named
        .map((id) => describe(id, live.get(id) as Ec2Instance))
        .join(", ")}`,
    };
  }
  // Private DNS names embed only the IP and region, so the same name can be live in two VPCs
  // (overlapping CIDRs). Prefer the candidates in the cluster's VPCs; ambiguity that remains is
  // a conflict: no single instance can be shown to be N.
  let candidates = named;
  const vpcIds = templating.vpcIds;
  const inCluster = candidates.filter((id) => vpcIds.includes((live.get(id) as Ec2Instance).VpcId as string));
  if (inCluster.length > 0) candidates = inCluster;

  // The session name is set by the API server's authenticator, never by the client: on every
  // cluster kind it vetoes a node name that names another instance; only on EKS (where EC2
  // names the node's IAM session after the instance) may it identify the instance by itself.
  const session = sessionInstanceId(csr);
  const sessionId = session.instanceId;
  const sessionIdentifies = options.clusterKind === "eks";

  if (sessionId && candidates.length > 0 && !candidates.includes(sessionId)) {
    return {
      kind: "conflict",
      instanceIds: [...candidates, sessionId],
      why: `node name ${nodeName} matches ${candidates.join(", ")} but the IAM session name says ${sessionId}`,
    };
  }

  let chosen: { id: string; matchedBy: IdentitySource[]; nodeNameMatched: boolean } | undefined;
  if (sessionId && sessionIdentifies) {
    if (!live.has(sessionId)) {
      return {
        kind: "none",
        why: `the IAM session name says ${sessionId}, which is not a pending or running instance`,
      };
    }
    const sources = byName.get(sessionId) ?? [];
    chosen = { id: sessionId, matchedBy: [...sources, "session-name"], nodeNameMatched: sources.length > 0 };
  } else if (candidates.length > 1) {
    // Outside EKS the session name vetoes but never picks one of several live namesakes.
    return {
      kind: "conflict",
      instanceIds: candidates,
      why: `node name ${nodeName} matches several live instances: ${candidates
        .map((id) => describe(id, live.get(id) as Ec2Instance))
        .join(", ")}`,
    };
  } else if (candidates[0] !== undefined) {
    const id = candidates[0];
    const sources = byName.get(id) as IdentitySource[];
    // The veto above guarantees a session instance ID here is this instance: it agrees.
    chosen = { id, matchedBy: sessionId ? [...sources, "session-name"] : sources, nodeNameMatched: true };
  }

  // providerID: the kubelet wrote it, so it may veto but never vouch (unless configured to).
  const nodeObjects = (options.nodes ?? []).map((nodeObject) => ({
    name: normalizeDnsName(nodeObject.metadata.name),
    instanceId: parseProviderId(nodeObject.spec?.providerID ?? "")?.instanceId,
  }));
  const providerIds = new Set<string>();
  for (const nodeObject of nodeObjects) {
    if (nodeObject.name === nodeName && nodeObject.instanceId) providerIds.add(nodeObject.instanceId);
  }

  if (!chosen) {
    const [onlyProviderId] = providerIds;
    const claimed = onlyProviderId ? live.get(onlyProviderId) : undefined;
    if (options.trustNodeProviderId && providerIds.size === 1 && onlyProviderId && claimed) {
      // Trusted, the providerID still may not take an instance another Node object stands for:
      // one that carries the same providerID, or whose name is one of the instance's EC2 names.
      const rivals = nodeObjects.filter(
        (other) =>
          other.name !== nodeName &&
          (other.instanceId === onlyProviderId ||
            nameMatches(other.name, claimed, region, templating).length > 0),
      );
      if (rivals.length > 0) {
        const rivalNames = [...new Set(rivals.map((other) => other.name))];
        return {
          kind: "conflict",
          instanceIds: [onlyProviderId],
          why: `node ${nodeName}'s Node object's providerID names ${onlyProviderId}, but Node ${rivalNames.join(", ")} also stands for that instance (same providerID or one of its EC2 names)`,
        };
      }
      const matchedBy: IdentitySource[] =
        sessionId === onlyProviderId ? ["provider-id", "session-name"] : ["provider-id"];
      chosen = { id: onlyProviderId, matchedBy, nodeNameMatched: false };
    } else {
      const hint =
        providerIds.size > 0
          ? `; the Node object's providerID names ${[...providerIds].join(", ")}, which ${
              options.trustNodeProviderId
                ? "is not a single pending or running instance"
                : "is not trusted alone"
            }`
          : "";
      const sessionHint =
        session.raw && !sessionId
          ? ` (IAM session name ${session.raw} is not an instance ID)`
          : sessionId && !sessionIdentifies
            ? ` (IAM session name ${sessionId} identifies an instance on its own only on EKS)`
            : "";
      return {
        kind: "none",
        why: `no pending or running instance has the name ${nodeName}${sessionHint}${hint}`,
      };
    }
  }

  if (sessionId && sessionId !== chosen.id) {
    // Only reachable through a trusted providerID: the session name vetoes it too.
    return {
      kind: "conflict",
      instanceIds: [chosen.id, sessionId],
      why: `node ${nodeName} is ${chosen.id} by provider-id, but the IAM session name says ${sessionId}`,
    };
  }

  const conflicting = [...providerIds].filter((id) => id !== chosen.id);
  if (conflicting.length > 0) {
    return {
      kind: "conflict",
      instanceIds: [chosen.id, ...conflicting],
      why: `node ${nodeName} is ${chosen.id} by ${chosen.matchedBy.join(", ")}, but its Node object's providerID names ${conflicting.join(", ")}`,
    };
  }

  const instance = live.get(chosen.id) as Ec2Instance;
  return {
    kind: "matched",
    instance,
    instanceId: chosen.id,
    matchedBy: chosen.matchedBy,
    nodeNameMatched: chosen.nodeNameMatched,
    why: `node ${nodeName} is ${chosen.id} by ${chosen.matchedBy.join(", ")}`,
  };
}
