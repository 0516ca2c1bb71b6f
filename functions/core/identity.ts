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

/** `aws:///<az>/<instance-id>`, the form the AWS cloud provider writes; anything else: undefined. */
export function parseProviderId(providerId: string): { az: string; instanceId: string } | undefined {
  if (typeof providerId !== "string") return undefined;
  const match = PROVIDER_ID.exec(providerId);
  if (!match?.[1] || !match[2]) return undefined;
  return { az: match[1], instanceId: match[2] };
}

/** States that count for identity: the rest (terminated, stopped, …) leave names and IPs for reuse. */
export function isLiveState(state: string | undefined): boolean {
  return state === "pending" || state === "running";
}

function instanceIdOf(instance: Ec2Instance): string | undefined {
  // Stryker disable next-line OptionalChaining: callers pass objects only (defence in depth)
  const id = instance?.InstanceId;
  return typeof id === "string" && INSTANCE_ID.test(id.toLowerCase()) ? id.toLowerCase() : undefined;
}

function stateOf(instance: Ec2Instance): string | undefined {
  // Stryker disable next-line OptionalChaining: callers pass objects only (defence in depth)
  const state = instance?.State?.Name;
  // A non-string state is not live either way, and only live instances are described.
  // Stryker disable next-line ConditionalExpression: see above
  return typeof state === "string" ? state : undefined;
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
  const tag = instance.Tags?.find((t) => t?.Key === clusterTag.key);
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
  // normalizeDnsName maps a non-string to "" itself; a placeholder here could never equal a
  // normalised (lower-case) N either.
  const privateDns =
    // Stryker disable next-line ConditionalExpression,StringLiteral: see above
    typeof instance.PrivateDnsName === "string" ? normalizeDnsName(instance.PrivateDnsName) : "";
  if (privateDns !== "" && nodeName === privateDns) sources.push("private-dns-name");
  if (privateDns !== "" && nodeName === firstLabel(privateDns) && !nodeName.includes(".")) {
    sources.push("short-hostname");
  }
  if (id && nodeName === id) sources.push("instance-id");
  if (id && typeof region === "string" && resourceNameHostnames(id, region).includes(nodeName)) {
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
  const extra: unknown = csr?.spec?.extra;
  // A primitive `extra` has no sessionName property either (defence in depth).
  // Stryker disable next-line ConditionalExpression: see above
  if (!extra || typeof extra !== "object") return {};
  const value: unknown = (extra as Record<string, unknown>)["sessionName"];
  // [undefined] holds no string, so it ends like [] below.
  // Stryker disable next-line ConditionalExpression: see above
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  const strings = values.filter((item): item is string => typeof item === "string");
  if (strings.length !== 1 || values.length !== 1) {
    // Several different session names cannot name one instance: report them raw.
    return strings.length === 0 ? {} : { raw: strings.join(",") };
  }
  // Stryker disable next-line StringLiteral: strings has exactly one element here
  const raw = strings[0] ?? "";
  const lowered = raw.toLowerCase();
  return INSTANCE_ID.test(lowered) ? { instanceId: lowered, raw } : { raw };
}

function describe(instance: Ec2Instance): string {
  // Only live instances are described: they always have an ID and a state.
  // Stryker disable next-line StringLiteral: see above
  const id = instanceIdOf(instance) ?? "?";
  const vpc = typeof instance.VpcId === "string" ? instance.VpcId : "no VPC";
  // Stryker disable next-line StringLiteral: see above
  return `${id} (${stateOf(instance) ?? "unknown state"}, ${vpc})`;
}

export function identifyInstance(
  node: string,
  csr: CsrObject,
  instances: Ec2Instance[],
  region: string,
  options: IdentityOptions = {},
): IdentityResult {
  // A non-string N normalises to "", which no guarded rule below matches (defence in depth).
  // Stryker disable next-line ConditionalExpression: see above
  if (typeof node !== "string" || node.length === 0)
    return { kind: "none", why: "the requester names no node" };
  const nodeName = normalizeDnsName(node);

  // Only pending/running instances, each once (a batched lookup may repeat one).
  const live = new Map<string, Ec2Instance>();
  // Stryker disable next-line ArrayDeclaration: a placeholder string is skipped like any non-object
  for (const instance of Array.isArray(instances) ? instances : []) {
    // instanceIdOf gives no ID for a non-object either (defence in depth).
    // Stryker disable next-line ConditionalExpression,LogicalOperator: see above
    if (!instance || typeof instance !== "object") continue;
    const id = instanceIdOf(instance);
    if (id && isLiveState(stateOf(instance)) && !live.has(id)) live.set(id, instance);
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
        .map((id) => describe(live.get(id) ?? {}))
        .join(", ")}`,
    };
  }
  // Private DNS names embed only the IP and region, so the same name can be live in two VPCs
  // (overlapping CIDRs). Prefer the candidates in the cluster's VPCs; ambiguity that remains is
  // a conflict: no single instance can be shown to be N.
  let candidates = [...byName.keys()];
  // The guard only saves work: with one candidate, or no VPCs, the filter changes nothing.
  // Stryker disable next-line ArrayDeclaration: see above
  const vpcIds = Array.isArray(options.vpcIds) ? options.vpcIds : [];
  // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: see above
  if (candidates.length > 1 && vpcIds.length > 0) {
    // Stryker disable next-line OptionalChaining,StringLiteral: candidates are keys of live; no VPC ID is a placeholder
    const inCluster = candidates.filter((id) => vpcIds.includes(live.get(id)?.VpcId ?? ""));
    if (inCluster.length > 0) candidates = inCluster;
  }

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
        .map((id) => describe(live.get(id) ?? {}))
        .join(", ")}`,
    };
  } else if (
    // Stryker disable next-line ConditionalExpression,LogicalOperator: with no candidate, candidates[0] is undefined
    candidates.length === 1 &&
    candidates[0]
  ) {
    const id = candidates[0];
    // Stryker disable next-line ArrayDeclaration: every candidate is a key of byName
    const sources = byName.get(id) ?? [];
    // The veto above guarantees a session instance ID here is this instance: it agrees.
    chosen = { id, matchedBy: sessionId ? [...sources, "session-name"] : sources, nodeNameMatched: true };
  }

  // providerID: the kubelet wrote it, so it may veto but never vouch (unless configured to).
  // Placeholders in these lists have no name and no providerID: they match nothing below.
  // Stryker disable next-line ArrayDeclaration: see above
  const nodeObjects = (Array.isArray(options.nodes) ? options.nodes : []).flatMap((nodeObject) => {
    const name = nodeObject?.metadata?.name;
    // Stryker disable next-line ArrayDeclaration: see above
    if (typeof name !== "string") return [];
    const providerId = nodeObject.spec?.providerID;
    // Stryker disable next-line ConditionalExpression: parseProviderId refuses non-strings itself
    const parsed = typeof providerId === "string" ? parseProviderId(providerId) : undefined;
    return [{ name: normalizeDnsName(name), instanceId: parsed?.instanceId }];
  });
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
      // Stryker disable next-line StringLiteral: matchedBy is ["provider-id"] here, so the separator never shows
      why: `node ${nodeName} is ${chosen.id} by ${chosen.matchedBy.join(", ")}, but the IAM session name says ${sessionId}`,
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

  const instance = live.get(chosen.id) ?? {};
  return {
    kind: "matched",
    instance,
    instanceId: chosen.id,
    matchedBy: chosen.matchedBy,
    nodeNameMatched: chosen.nodeNameMatched,
    why: `node ${nodeName} is ${chosen.id} by ${chosen.matchedBy.join(", ")}`,
  };
}
