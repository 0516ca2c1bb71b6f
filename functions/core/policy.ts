// The decision (SPEC §2): the checks as one ordered table of pure functions, in the spirit of
// OpenShift cluster-machine-approver's csr_check.go. Each check sees the same context and says
// pass, fail (conclusive: deny), wait (not conclusive yet) or unknown (it depends on something
// an earlier check could not establish). The first check that does not pass decides whether the
// CSR is denied or left waiting; a denial lists every failure that could be evaluated.
import {
  identifyInstance,
  isLiveState,
  NODE_USER_PREFIX,
  nodeNameOf,
  parseProviderId,
  sessionInstanceId,
  type IdentityResult,
} from "./identity.js";
import { canonicalIp } from "./ip.js";
import {
  allowedDnsNames,
  ec2DomainOf,
  ec2Knowledge,
  ipsOutsideRanges,
  isIpv4Mapped,
  matchingPattern,
} from "./non-ec2.js";
import { inUseInterfaces, normalizeDnsName, ownedAddresses } from "./ownership.js";
import { MAX_SPEC_REQUEST_CHARS, requestLength } from "./request-size.js";
import {
  APPROVE_CODE,
  KUBELET_SERVING_SIGNER,
  NON_EC2_APPROVE_CODE,
  type CsrObject,
  type Decision,
  type DenyCode,
  type Ec2Instance,
  type NodeObject,
  type NonEc2NodeRules,
  type OwnedAddresses,
  type ParsedRequest,
  type PolicyInput,
  type Reason,
  type WaitCode,
} from "./types.js";

export const NODE_GROUP = "system:nodes";
/** SPEC §2 check 13: clocks and EC2's LaunchTime granularity. */
export const LAUNCH_TOLERANCE_SECONDS = 300;
const ALLOWED_USAGE_SETS: readonly (readonly string[])[] = [
  ["digital signature", "key encipherment", "server auth"],
  ["digital signature", "server auth"],
];
const ALLOWED_CURVES = ["P-256", "P-384", "P-521"];
const MIN_RSA_BITS = 2048;

export interface CheckRow {
  n: number;
  code: DenyCode | "SKIP";
  description: string;
  /** Other deny codes this check can give. */
  otherCodes?: readonly DenyCode[];
  /** Wait codes this check can give while its facts are not conclusive. */
  waitCodes?: readonly WaitCode[];
}

export const CHECKS: readonly CheckRow[] = [
  {
    n: 1,
    code: "SKIP",
    description: `spec.signerName is ${KUBELET_SERVING_SIGNER}; no Approved/Denied/Failed condition`,
  },
  {
    n: 2,
    code: "NOT_A_NODE",
    description: "spec.username is system:node:<N> with non-empty N; spec.groups contains system:nodes",
  },
  {
    n: 3,
    code: "MALFORMED_REQUEST",
    otherCodes: ["REQUEST_TOO_LARGE"],
    description: `spec.request is at most ${MAX_SPEC_REQUEST_CHARS} characters (else REQUEST_TOO_LARGE, unread) and is exactly one PEM CERTIFICATE REQUEST block that parses as PKCS#10`,
  },
  { n: 4, code: "BAD_SIGNATURE", description: "its self-signature verifies" },
  { n: 5, code: "WEAK_KEY", description: "key is RSA >= 2048 bits, ECDSA P-256/P-384/P-521, or Ed25519" },
  {
    n: 6,
    code: "SUBJECT_MISMATCH",
    description: "subject Organization is exactly [system:nodes] and the single CN equals spec.username",
  },
  {
    n: 7,
    code: "BAD_USAGES",
    description:
      "spec.usages, as a set, equals {digital signature, key encipherment, server auth} or {digital signature, server auth}",
  },
  {
    n: 8,
    code: "FORBIDDEN_SAN",
    description: "at least one DNS or IP SAN; no other SAN type (email, URI, other names)",
  },
  {
    n: 9,
    code: "EXPIRATION_TOO_LONG",
    description: "spec.expirationSeconds, when set, <= maxExpirationSeconds",
  },
  {
    n: 10,
    code: "INSTANCE_NOT_FOUND",
    otherCodes: ["IDENTITY_CONFLICT"],
    waitCodes: ["INSTANCE_NOT_VISIBLE", "FACTS_UNAVAILABLE"],
    description:
      "the instance of node N is identified (SPEC §3): wait, then deny after pendingGraceSeconds; IDENTITY_CONFLICT when sources disagree",
  },
  {
    n: 11,
    code: "INSTANCE_NOT_RUNNING",
    waitCodes: ["INSTANCE_PENDING"],
    description: "that instance is running (pending: wait, then deny after pendingGraceSeconds)",
  },
  {
    n: 12,
    code: "FOREIGN_INSTANCE",
    waitCodes: ["FACTS_UNAVAILABLE"],
    description:
      "the instance's VPC is one of the cluster's VPCs and, when configured, it carries the cluster tag",
  },
  {
    n: 13,
    code: "CSR_PREDATES_INSTANCE",
    waitCodes: ["FACTS_UNAVAILABLE"],
    description: `the CSR was created no earlier than the instance's LaunchTime - ${LAUNCH_TOLERANCE_SECONDS} s`,
  },
  { n: 14, code: "IP_NOT_OWNED", description: "every IP SAN is an address the instance owns (SPEC §4)" },
  { n: 15, code: "DNS_NOT_OWNED", description: "every DNS SAN is a name the instance owns (SPEC §4)" },
  // Checks 16-18 replace 11-15 for a node outside EC2: only with the cluster's nonEc2Nodes rules,
  // when node N matches one of their patterns and EC2 has no instance (terminated ones aside)
  // with N's name, no sessionName names an instance and no Node object of N names an EC2 providerID.
  {
    n: 16,
    code: "NON_EC2_ADDRESS_IN_EC2",
    description:
      "nodes outside EC2 (nonEc2Nodes): no EC2 instance that is not terminated holds a requested IP or carries a requested DNS name",
  },
  {
    n: 17,
    code: "NON_EC2_IP_NOT_ALLOWED",
    description:
      "nodes outside EC2: every IP SAN lies in nonEc2Nodes.ipRanges and, on EKS, in the cluster's remote node networks; none is IPv4-mapped IPv6",
  },
  {
    n: 18,
    code: "NON_EC2_DNS_NOT_ALLOWED",
    description:
      "nodes outside EC2: every DNS SAN is a nonEc2Nodes.dnsNames template expanded for N, and none is in EC2's DNS domains",
  },
];

type Outcome =
  | { status: "pass" }
  | { status: "fail"; reason: Reason }
  | { status: "wait"; reason: Reason }
  | { status: "unknown" } // depends on a fact an earlier check could not establish
  | { status: "n/a" }; // an EC2 check for a node outside EC2, or the other way round

const PASS: Outcome = { status: "pass" };
const UNKNOWN: Outcome = { status: "unknown" };
const NOT_APPLICABLE: Outcome = { status: "n/a" };
const fail = (code: DenyCode, message: string): Outcome => ({ status: "fail", reason: { code, message } });
const wait = (code: WaitCode, message: string): Outcome => ({ status: "wait", reason: { code, message } });

interface Context {
  input: PolicyInput;
  csr: CsrObject;
  nodeName?: string;
  request?: ParsedRequest;
  instances: Ec2Instance[];
  nodes: NodeObject[];
  createdAt?: number; // ms since epoch, when the CSR's creationTimestamp parses
  ageSeconds?: number;
  graceSeconds: number;
  identity?: IdentityResult;
  owned?: OwnedAddresses;
  /** Set when node N is judged by the cluster's nonEc2Nodes rules (checks 16-18). */
  nonEc2?: NonEc2Context;
}

interface NonEc2Context {
  /** N. */
  node: string;
  rules: NonEc2NodeRules;
  pattern: string;
  requestedIps: string[];
  ec2HeldIps: { ip: string; instanceId: string }[];
  /** Requested DNS names an instance that is not terminated carries. */
  ec2HeldNames: { name: string; instanceId: string }[];
}

// ---------------------------------------------------------------------------------------
// Small helpers. The input is typed: its shape was checked at the edge that read it
// (functions/sweep/k8s-schemas.ts, functions/sweep/ec2-schemas.ts, functions/cli/inputs.ts).
// ---------------------------------------------------------------------------------------

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** A timestamp's milliseconds; undefined when absent or not an RFC 3339 time (the text is the requester's). */
function parseTime(value: string | Date | undefined): number | undefined {
  if (typeof value === "string" && !RFC3339.test(value)) return undefined;
  const ms = value === undefined ? Number.NaN : new Date(value).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Lists in alerts stay short: long lists are cut with a count. */
function list(items: readonly string[], max = 12): string {
  if (items.length === 0) return "nothing";
  const shown = items.slice(0, max).join(", ");
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

function quote(value: string | undefined): string {
  return value === undefined ? "undefined" : JSON.stringify(value);
}

function instanceVpc(instance: Ec2Instance): string | undefined {
  if (instance.VpcId) return instance.VpcId;
  const vpcs = new Set(
    inUseInterfaces(instance)
      .map((eni) => eni.VpcId)
      .filter((vpc): vpc is string => Boolean(vpc)),
  );
  return vpcs.size === 1 ? [...vpcs][0] : undefined;
}

function graceState(ctx: Context): { expired: boolean; text: string } {
  if (ctx.ageSeconds === undefined) {
    return { expired: false, text: "the CSR's age is unknown, so it is treated as new" };
  }
  const age = Math.floor(ctx.ageSeconds);
  return ctx.ageSeconds > ctx.graceSeconds
    ? { expired: true, text: `the CSR is ${age} s old, past the ${ctx.graceSeconds} s grace period` }
    : { expired: false, text: `the CSR is ${age} s old, within the ${ctx.graceSeconds} s grace period` };
}

function matchedInstance(ctx: Context): { id: string; instance: Ec2Instance } | undefined {
  return ctx.identity?.kind === "matched"
    ? { id: ctx.identity.instanceId, instance: ctx.identity.instance }
    : undefined;
}

// ---------------------------------------------------------------------------------------
// The checks (2..15; check 1 decides skip before anything else)
// ---------------------------------------------------------------------------------------

function checkRequester(ctx: Context): Outcome {
  const { username, groups } = ctx.csr.spec;
  const problems: string[] = [];
  if (!ctx.nodeName) problems.push(`requester ${quote(username)} is not ${NODE_USER_PREFIX}<node name>`);
  if (!groups?.includes(NODE_GROUP)) {
    problems.push(`requester groups ${groups ? `[${list(groups)}]` : "(none)"} lack ${NODE_GROUP}`);
  }
  return problems.length === 0 ? PASS : fail("NOT_A_NODE", problems.join("; "));
}

function checkParses(ctx: Context): Outcome {
  const parsed = ctx.input.parsed;
  if (parsed.ok) return PASS;
  return fail("MALFORMED_REQUEST", `spec.request is not one PKCS#10 CERTIFICATE REQUEST: ${parsed.error}`);
}

function checkSignature(ctx: Context): Outcome {
  if (!ctx.request) return UNKNOWN;
  if (ctx.request.signatureValid) return PASS;
  const why = ctx.request.signatureError === undefined ? "" : `: ${ctx.request.signatureError}`;
  return fail("BAD_SIGNATURE", `the CSR's self-signature does not verify against its own key${why}`);
}

function checkKey(ctx: Context): Outcome {
  if (!ctx.request) return UNKNOWN;
  const key = ctx.request.publicKey;
  const required = `RSA >= ${MIN_RSA_BITS} bits, ECDSA P-256/P-384/P-521 or Ed25519 is required`;
  switch (key.algorithm) {
    case "rsa":
      return key.bits >= MIN_RSA_BITS ? PASS : fail("WEAK_KEY", `key is RSA ${key.bits} bits; ${required}`);
    case "ecdsa":
      return ALLOWED_CURVES.includes(key.curve)
        ? PASS
        : fail("WEAK_KEY", `key is ECDSA on curve ${key.curve}; ${required}`);
    case "ed25519":
      return PASS;
    default:
      return fail("WEAK_KEY", `key uses algorithm ${key.oid}; ${required}`);
  }
}

function checkSubject(ctx: Context): Outcome {
  if (!ctx.request) return UNKNOWN;
  const { organizations, commonNames } = ctx.request.subject;
  const username = ctx.csr.spec.username;
  const problems: string[] = [];
  if (organizations.length !== 1 || organizations[0] !== NODE_GROUP) {
    problems.push(`subject O is [${list(organizations.map(quote))}], not exactly [${NODE_GROUP}]`);
  }
  if (commonNames.length !== 1) {
    problems.push(`subject has ${commonNames.length} CNs [${list(commonNames.map(quote))}], not exactly one`);
  } else if (commonNames[0] !== username) {
    problems.push(`subject CN ${quote(commonNames[0])} is not the requester ${quote(username)}`);
  }
  return problems.length === 0 ? PASS : fail("SUBJECT_MISMATCH", problems.join("; "));
}

function checkUsages(ctx: Context): Outcome {
  const usages = ctx.csr.spec.usages;
  const allowed = "{digital signature, server auth} or {digital signature, key encipherment, server auth}";
  if (!usages)
    return fail("BAD_USAGES", `spec.usages is missing or not a list of strings; must be ${allowed}`);
  const set = [...new Set(usages)].sort();
  const ok = ALLOWED_USAGE_SETS.some(
    (allowedSet) => allowedSet.length === set.length && allowedSet.every((usage, i) => set[i] === usage),
  );
  return ok ? PASS : fail("BAD_USAGES", `usages {${list(set, 20)}} are not ${allowed}`);
}

function checkSanTypes(ctx: Context): Outcome {
  if (!ctx.request) return UNKNOWN;
  const sans = ctx.request.sans;
  const forbidden = sans.filter((san) => san.type !== "dns" && san.type !== "ip");
  const problems: string[] = [];
  if (forbidden.length > 0) {
    const described = forbidden.map((san) => `${san.type}:${san.value}`);
    problems.push(`forbidden SAN types (only DNS and IP are allowed): ${list(described)}`);
  }
  if (forbidden.length === sans.length) {
    problems.push("the CSR has no DNS or IP SAN");
  }
  return problems.length === 0 ? PASS : fail("FORBIDDEN_SAN", problems.join("; "));
}

function checkExpiration(ctx: Context): Outcome {
  const requested = ctx.csr.spec.expirationSeconds;
  const max = ctx.input.settings.maxExpirationSeconds;
  if (requested === undefined || requested <= max) return PASS;
  return fail("EXPIRATION_TOO_LONG", `spec.expirationSeconds ${requested} exceeds the maximum ${max}`);
}

function checkIdentity(ctx: Context): Outcome {
  const identity = ctx.identity; // set exactly when the requester names a node
  if (!identity) return UNKNOWN;
  if (identity.kind === "matched") return PASS;
  if (ctx.nonEc2) return PASS; // established as a node outside EC2: checks 16-18 decide
  if (identity.kind === "conflict") return fail("IDENTITY_CONFLICT", identity.why);
  const grace = graceState(ctx);
  return grace.expired
    ? fail("INSTANCE_NOT_FOUND", `${identity.why}; ${grace.text}`)
    : wait("INSTANCE_NOT_VISIBLE", `${identity.why} yet; ${grace.text}`);
}

function checkRunning(ctx: Context): Outcome {
  const matched = matchedInstance(ctx);
  if (!matched) return UNKNOWN;
  const state = matched.instance.State?.Name;
  if (state === "running") return PASS;
  const grace = graceState(ctx);
  if (state === "pending" && !grace.expired) {
    return wait("INSTANCE_PENDING", `instance ${matched.id} is still pending; ${grace.text}`);
  }
  // Identity only accepts live instances, so this is a pending instance past the grace period.
  return fail(
    "INSTANCE_NOT_RUNNING",
    `instance ${matched.id} is ${String(state)}, not running; ${grace.text}`,
  );
}

function checkMembership(ctx: Context): Outcome {
  const matched = matchedInstance(ctx);
  if (!matched) return UNKNOWN;
  const clusterVpcs = ctx.input.cluster.vpcIds;
  const vpc = instanceVpc(matched.instance);
  const problems: string[] = [];
  const undecided: string[] = [];
  if (clusterVpcs.length === 0) {
    undecided.push(
      `cluster ${ctx.input.cluster.name} has no VPC IDs configured, so membership of ${matched.id} cannot be proven`,
    );
  } else if (!vpc) {
    undecided.push(`instance ${matched.id} reports no VPC`);
  } else if (!clusterVpcs.includes(vpc)) {
    problems.push(`instance ${matched.id} is in ${vpc}, not in the cluster's VPC (${list(clusterVpcs)})`);
  }
  const tag = ctx.input.settings.clusterTag;
  if (tag) {
    const { key, values } = tag;
    if (!key || values?.length === 0) {
      undecided.push("the cluster tag setting is incomplete (no key, or an empty list of values)");
    } else {
      const found = matched.instance.Tags?.find((candidate) => candidate.Key === key);
      if (!found) {
        problems.push(`instance ${matched.id} lacks the cluster tag ${key}`);
      } else if (values && !values.includes(found.Value as string)) {
        problems.push(
          `instance ${matched.id} has tag ${key}=${quote(found.Value)}, not one of ${list(values.map(quote))}`,
        );
      }
    }
  }
  if (problems.length > 0) return fail("FOREIGN_INSTANCE", problems.join("; "));
  if (undecided.length > 0) return wait("FACTS_UNAVAILABLE", undecided.join("; "));
  return PASS;
}

function checkLaunchTime(ctx: Context): Outcome {
  const matched = matchedInstance(ctx);
  if (!matched) return UNKNOWN;
  const launched = parseTime(matched.instance.LaunchTime);
  if (launched === undefined) {
    return wait("FACTS_UNAVAILABLE", `instance ${matched.id} has no readable LaunchTime`);
  }
  if (ctx.createdAt === undefined) {
    return wait(
      "FACTS_UNAVAILABLE",
      "the CSR has no readable creationTimestamp to compare with the launch time",
    );
  }
  // The tolerance absorbs clock skew, but not when a gone instance had this name or one of the
  // requested IPs: a CSR from before the launch may then be the predecessor's, and approving
  // it would hand the new instance's certificate to whoever held the old one.
  const predecessor = predecessorOf(ctx, matched);
  const tolerance = predecessor ? 0 : LAUNCH_TOLERANCE_SECONDS;
  if (ctx.createdAt >= launched - tolerance * 1000) return PASS;
  return fail(
    "CSR_PREDATES_INSTANCE",
    `the CSR was created at ${iso(ctx.createdAt)}, before instance ${matched.id} launched at ${iso(launched)} (tolerance ${tolerance} s${predecessor ? `: ${predecessor} held its name or a requested IP` : ""})`,
  );
}

/** A non-live instance that had the matched instance's name, N, or a requested IP SAN. */
function predecessorOf(ctx: Context, matched: { id: string; instance: Ec2Instance }): string | undefined {
  // "" (no name) is never one of them: a nameless record is no predecessor by name.
  const names = new Set(
    [matched.instance.PrivateDnsName, ctx.nodeName].map((n) => normalizeDnsName(n ?? "")).filter(Boolean),
  );
  const requestedIps = new Set(
    sansOf(ctx.request, "ip").flatMap((san) => canonicalIp(san.value)?.value ?? []),
  );
  for (const instance of ctx.instances) {
    if (instance.InstanceId === matched.id || isLiveState(instance.State?.Name)) continue;
    const name = normalizeDnsName(instance.PrivateDnsName ?? "");
    const ips = [
      instance.PrivateIpAddress,
      ...(instance.NetworkInterfaces ?? []).flatMap((eni) =>
        (eni.PrivateIpAddresses ?? []).map((a) => a.PrivateIpAddress),
      ),
    ].flatMap((ip) => canonicalIp(ip)?.value ?? []);
    if (names.has(name) || ips.some((ip) => requestedIps.has(ip))) {
      return instance.InstanceId ?? "an earlier instance";
    }
  }
  return undefined;
}

function sansOf(
  request: ParsedRequest | undefined,
  type: "dns" | "ip",
): { value: string; version?: number }[] {
  return (request?.sans ?? []).flatMap((san) =>
    san.type !== type ? [] : [{ value: san.value, version: san.type === "ip" ? san.version : undefined }],
  );
}

function checkIpOwnership(ctx: Context): Outcome {
  const matched = matchedInstance(ctx);
  if (!ctx.request || !matched || !ctx.owned) return UNKNOWN;
  const owned = new Set(ctx.owned.ips);
  const notOwned = sansOf(ctx.request, "ip")
    .filter((san) => {
      const ip = canonicalIp(san.value);
      // A SAN whose text and declared family disagree is not something we can vouch for.
      return !ip || (san.version !== undefined && san.version !== ip.version) || !owned.has(ip.value);
    })
    .map((san) => san.value);
  if (notOwned.length === 0) return PASS;
  const subject =
    notOwned.length === 1
      ? `IP SAN ${notOwned[0]} is not an address`
      : `IP SANs ${list(notOwned)} are not addresses`;
  return fail("IP_NOT_OWNED", `${subject} of ${matched.id} (owns ${list(ctx.owned.ips)})`);
}

function checkDnsOwnership(ctx: Context): Outcome {
  const matched = matchedInstance(ctx);
  if (!ctx.request || !matched || !ctx.owned) return UNKNOWN;
  const owned = new Set(ctx.owned.dnsNames);
  const requested = sansOf(ctx.request, "dns").map((san) => san.value);
  const wildcards = requested.filter((name) => name.includes("*"));
  const notOwned = requested.filter((name) => !name.includes("*") && !owned.has(normalizeDnsName(name)));
  if (wildcards.length === 0 && notOwned.length === 0) return PASS;
  const parts: string[] = [];
  if (wildcards.length > 0) parts.push(`wildcard DNS SAN ${list(wildcards)} is never allowed`);
  if (notOwned.length > 0) {
    parts.push(
      notOwned.length === 1
        ? `DNS SAN ${notOwned[0]} is not a name`
        : `DNS SANs ${list(notOwned)} are not names`,
    );
  }
  return fail("DNS_NOT_OWNED", `${parts.join("; ")} of ${matched.id} (owns ${list(ctx.owned.dnsNames)})`);
}

// ---------------------------------------------------------------------------------------
// Nodes outside EC2 (functions/core/non-ec2.ts): checks 16-18
// ---------------------------------------------------------------------------------------

/**
 * Whether node N is judged by the static rules: the cluster has them, N matches a pattern, and
 * nothing ties N to EC2 (no instance that is not terminated has its name, no sessionName
 * instance ID, no EC2 providerID on its Node object). Only called when identity found none.
 */
function nonEc2Context(ctx: Context, nodeName: string): NonEc2Context | undefined {
  const rules = ctx.input.settings.nonEc2Nodes;
  if (!rules) return undefined;
  const pattern = matchingPattern(rules, nodeName);
  if (pattern === undefined) return undefined;
  // A name in EC2's DNS domains is EC2's to vouch for, whatever a pattern says (finding 4).
  if (ec2DomainOf(nodeName) !== undefined) return undefined;
  if (sessionInstanceId(ctx.csr).instanceId !== undefined) return undefined;
  const name = normalizeDnsName(nodeName);
  const claimsEc2 = ctx.nodes.some(
    (node) =>
      normalizeDnsName(node.metadata.name) === name &&
      parseProviderId(node.spec?.providerID ?? "") !== undefined,
  );
  if (claimsEc2) return undefined;
  const requestedIps = sansOf(ctx.request, "ip").map((san) => san.value);
  const requestedNames = sansOf(ctx.request, "dns").map((san) => san.value);
  const known = ec2Knowledge(nodeName, requestedIps, ctx.instances, ctx.input.cluster.region, requestedNames);
  if (known.byName.length > 0) return undefined;
  return { node: nodeName, rules, pattern, requestedIps, ec2HeldIps: known.byIp, ec2HeldNames: known.byDns };
}

function checkNonEc2Addresses(ctx: Context): Outcome {
  const nonEc2 = ctx.nonEc2;
  if (!nonEc2) return NOT_APPLICABLE;
  if (nonEc2.ec2HeldIps.length === 0 && nonEc2.ec2HeldNames.length === 0) return PASS;
  const held = [
    ...nonEc2.ec2HeldIps.map((entry) => `${entry.ip} (held by ${entry.instanceId})`),
    ...nonEc2.ec2HeldNames.map((entry) => `${entry.name} (a name of ${entry.instanceId})`),
  ];
  return fail(
    "NON_EC2_ADDRESS_IN_EC2",
    `node ${nonEc2.node} is not an EC2 instance but asks for EC2 addresses: ${list(held)}`,
  );
}

function checkNonEc2Ips(ctx: Context): Outcome {
  const nonEc2 = ctx.nonEc2;
  if (!nonEc2) return NOT_APPLICABLE;
  if (!ctx.request) return UNKNOWN;
  const mismatched = sansOf(ctx.request, "ip").filter((san) => {
    const ip = canonicalIp(san.value);
    return !ip || (san.version !== undefined && san.version !== ip.version);
  });
  const result = ipsOutsideRanges(
    nonEc2.rules,
    nonEc2.requestedIps,
    ctx.input.cluster.remoteNodeNetworks,
    ctx.input.cluster.kind,
  );
  const outside = [...new Set([...mismatched.map((san) => san.value), ...result.outside])];
  if (outside.length === 0) return PASS;
  const bounds = result.remote
    ? `nonEc2Nodes.ipRanges (${list(result.ranges)}) and the cluster's remote node networks (${list(result.remote)})`
    : `nonEc2Nodes.ipRanges (${list(result.ranges)})`;
  const mapped = outside.filter((ip) => isIpv4Mapped(ip));
  const why = mapped.length
    ? `; IPv4-mapped IPv6 (${list(mapped)}) is never allowed: a certificate carries it as the IPv4 address`
    : "";
  return fail(
    "NON_EC2_IP_NOT_ALLOWED",
    `IP SAN ${list(outside)} of node ${nonEc2.node} is not in ${bounds}${why}`,
  );
}

function checkNonEc2Dns(ctx: Context): Outcome {
  const nonEc2 = ctx.nonEc2;
  if (!nonEc2) return NOT_APPLICABLE;
  if (!ctx.request) return UNKNOWN;
  const allowed = allowedDnsNames(nonEc2.rules, nonEc2.node);
  const requested = sansOf(ctx.request, "dns").map((san) => san.value);
  const inEc2 = requested.filter((name) => ec2DomainOf(name) !== undefined);
  if (inEc2.length > 0) {
    return fail(
      "NON_EC2_DNS_NOT_ALLOWED",
      `DNS SAN ${list(inEc2)} of node ${nonEc2.node} is in EC2's DNS domains: static rules never allow it`,
    );
  }
  const notAllowed = requested.filter(
    (name) => name.includes("*") || !allowed.includes(normalizeDnsName(name)),
  );
  if (notAllowed.length === 0) return PASS;
  return fail(
    "NON_EC2_DNS_NOT_ALLOWED",
    `DNS SAN ${list(notAllowed)} of node ${nonEc2.node} is not one of the names nonEc2Nodes.dnsNames allows it (${list(allowed)})`,
  );
}

/** The EC2 checks 11-15 say nothing about a node judged by the static rules. */
function ec2Only(run: (ctx: Context) => Outcome): (ctx: Context) => Outcome {
  return (ctx) => (ctx.nonEc2 ? NOT_APPLICABLE : run(ctx));
}

/** Checks 2..18 in order: the table the decision walks. */
const ORDERED_CHECKS: readonly { n: number; run: (ctx: Context) => Outcome }[] = [
  { n: 2, run: checkRequester },
  { n: 3, run: checkParses },
  { n: 4, run: checkSignature },
  { n: 5, run: checkKey },
  { n: 6, run: checkSubject },
  { n: 7, run: checkUsages },
  { n: 8, run: checkSanTypes },
  { n: 9, run: checkExpiration },
  { n: 10, run: checkIdentity },
  { n: 11, run: ec2Only(checkRunning) },
  { n: 12, run: ec2Only(checkMembership) },
  { n: 13, run: ec2Only(checkLaunchTime) },
  { n: 14, run: ec2Only(checkIpOwnership) },
  { n: 15, run: ec2Only(checkDnsOwnership) },
  { n: 16, run: checkNonEc2Addresses },
  { n: 17, run: checkNonEc2Ips },
  { n: 18, run: checkNonEc2Dns },
];

// ---------------------------------------------------------------------------------------
// decide
// ---------------------------------------------------------------------------------------

/** Check 1: not ours, or already decided. */
function skipReason(csr: CsrObject): Reason | undefined {
  if (csr.spec.signerName !== KUBELET_SERVING_SIGNER) {
    return {
      code: "OTHER_SIGNER",
      message: `signer ${quote(csr.spec.signerName)} is not ${KUBELET_SERVING_SIGNER}`,
    };
  }
  const decided = csr.status?.conditions?.find((condition) =>
    ["Approved", "Denied", "Failed"].includes(condition.type),
  );
  if (!decided) return undefined;
  return {
    code: "ALREADY_DECIDED",
    message: `the CSR already has a ${decided.type} condition (status ${decided.status})`,
  };
}

function requestedSans(request: ParsedRequest): NonNullable<Decision["requestedSans"]> {
  const result = { dnsNames: [] as string[], ips: [] as string[], other: [] as string[] };
  for (const san of request.sans) {
    if (san.type === "dns") result.dnsNames.push(san.value);
    else if (san.type === "ip") result.ips.push(san.value);
    else result.other.push(`${san.type}:${san.value}`);
  }
  return result;
}

function inconsistentInstanceIds(instances: Ec2Instance[]): string[] {
  // Only IDs seen more than once can be inconsistent, and only those records are serialised:
  // decide() runs once per CSR over the cluster's whole instance list, so serialising every
  // record made a sweep quadratic (1,000 CSRs x 1,000 instances: ~15 s of JSON.stringify).
  const idOf = (instance: Ec2Instance): string | undefined => instance.InstanceId?.toLowerCase();
  const counts = new Map<string, number>();
  for (const instance of instances) {
    const id = idOf(instance);
    if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const seen = new Map<string, string>();
  const inconsistent = new Set<string>();
  for (const instance of instances) {
    const id = idOf(instance);
    if (id === undefined || (counts.get(id) as number) < 2) continue;
    const text = JSON.stringify(instance);
    const previous = seen.get(id);
    if (previous === undefined) seen.set(id, text);
    else if (previous !== text) inconsistent.add(id);
  }
  return [...inconsistent];
}

function unavailableMessage<T>(facts: T[] | { unavailable: string }, what: string): string | undefined {
  return Array.isArray(facts) ? undefined : `${what} could not be read: ${facts.unavailable}`;
}

function decideUnsafe(input: PolicyInput): Decision {
  const csr = input.csr;
  const base: Decision = { name: csr.metadata.name, decision: "wait", reasons: [] };
  const username = csr.spec.username;
  if (username !== undefined) base.requester = username;
  const nodeName = nodeNameOf(username);
  if (nodeName) base.node = nodeName;

  const skip = skipReason(csr);
  if (skip) return { ...base, decision: "skip", reasons: [skip] };

  // nonNodeRequests: ignore — a requester that is not a node is another tool's business.
  if (input.settings.nonNodeRequests === "ignore" && (!nodeName || !csr.spec.groups?.includes(NODE_GROUP))) {
    return {
      ...base,
      decision: "skip",
      reasons: [
        {
          code: "NON_NODE_IGNORED",
          message: `requester ${quote(username)} is not a node (system:node:<name> in ${NODE_GROUP}) and the cluster's nonNodeRequests is ignore`,
        },
      ],
    };
  }

  const request = input.parsed.ok ? input.parsed.request : undefined;
  if (request) base.requestedSans = requestedSans(request);
  const sans = base.requestedSans;

  // An error reading AWS or Kubernetes never approves or denies (SPEC §2 invariants).
  const unavailable = [
    unavailableMessage(input.instances, "EC2 instances"),
    unavailableMessage(input.nodes, "Kubernetes Node objects"),
  ].filter((message): message is string => message !== undefined);
  const inconsistent = Array.isArray(input.instances) ? inconsistentInstanceIds(input.instances) : [];
  if (inconsistent.length > 0) {
    // Two different records of one instance (e.g. pending in one page, running in the next).
    unavailable.push(`EC2 returned inconsistent records for ${list(inconsistent)}`);
  }
  if (!Number.isFinite(input.now.getTime())) unavailable.push("no valid evaluation time was given");
  if (unavailable.length > 0) {
    return {
      ...base,
      decision: "wait",
      reasons: unavailable.map((message) => ({ code: "FACTS_UNAVAILABLE", message })),
    };
  }

  // An oversized request is denied unread (finding 1): no parse, no EC2 fact, no other check
  // is worth its cost. (After the facts check: an AWS error never denies, SPEC §2.)
  const length = requestLength(csr);
  if (length > MAX_SPEC_REQUEST_CHARS) {
    return {
      ...base,
      decision: "deny",
      reasons: [
        {
          code: "REQUEST_TOO_LARGE",
          message: `spec.request is ${length} characters, over the ${MAX_SPEC_REQUEST_CHARS} a kubelet-serving request needs (a kubelet's is under 3,000): not read`,
        },
      ],
    };
  }

  const createdAt = parseTime(csr.metadata.creationTimestamp);
  const ctx: Context = {
    input,
    csr,
    // Both lists: an unavailable one has returned `wait` above.
    instances: input.instances as Ec2Instance[],
    nodes: input.nodes as NodeObject[],
    graceSeconds: input.settings.pendingGraceSeconds,
  };
  if (nodeName) ctx.nodeName = nodeName;
  if (request) ctx.request = request;
  if (createdAt !== undefined) {
    ctx.createdAt = createdAt;
    ctx.ageSeconds = (input.now.getTime() - createdAt) / 1000;
  }

  if (nodeName) {
    const { cluster, settings } = input;
    ctx.identity = identifyInstance(nodeName, csr, ctx.instances, cluster.region, {
      clusterKind: cluster.kind,
      vpcIds: cluster.vpcIds,
      nodes: ctx.nodes,
      trustNodeProviderId: settings.trustNodeProviderId,
      nodeNameTemplates: settings.nodeNameTemplates,
      ...(settings.clusterTag ? { clusterTag: settings.clusterTag } : {}),
    });
    if (ctx.identity.kind === "matched") {
      base.instanceId = ctx.identity.instanceId;
      ctx.owned = ownedAddresses(ctx.identity.instance, {
        ...(ctx.identity.nodeNameMatched ? { nodeName } : {}),
        region: cluster.region,
        extraDnsNames: settings.extraDnsNames,
      });
      base.owned = ctx.owned;
    } else if (ctx.identity.kind === "none") {
      const nonEc2 = nonEc2Context(ctx, nodeName);
      if (nonEc2) ctx.nonEc2 = nonEc2;
    }
  }

  const outcomes = ORDERED_CHECKS.map((check) => check.run(ctx));
  const first = outcomes.find((outcome) => outcome.status === "fail" || outcome.status === "wait");
  if (first?.status === "fail") {
    const reasons = outcomes.flatMap((outcome) => (outcome.status === "fail" ? [outcome.reason] : []));
    return { ...base, decision: "deny", reasons };
  }
  if (first?.status === "wait") {
    const reasons = outcomes.flatMap((outcome) => (outcome.status === "wait" ? [outcome.reason] : []));
    return { ...base, decision: "wait", reasons };
  }
  if (outcomes.some((outcome) => outcome.status !== "pass" && outcome.status !== "n/a")) {
    // Defensive: a check could not be evaluated although nothing before it failed.
    return {
      ...base,
      decision: "wait",
      reasons: [{ code: "FACTS_UNAVAILABLE", message: "a check could not be evaluated" }],
    };
  }

  // Every check passed, so the request parsed: its SANs are known.
  const requested = sans as NonNullable<Decision["requestedSans"]>;
  const sanText = [...requested.ips, ...requested.dnsNames];
  if (ctx.nonEc2) {
    return {
      ...base,
      decision: "approve",
      reasons: [
        {
          code: NON_EC2_APPROVE_CODE,
          message: `node ${ctx.nonEc2.node} is outside EC2 (EC2 knows neither its name nor a requested IP or DNS name) and matches the nonEc2Nodes pattern ${ctx.nonEc2.pattern}; every requested SAN is allowed by the static rules (${list(sanText)})`,
        },
      ],
    };
  }
  const matched = matchedInstance(ctx);
  if (!matched || matched.instance.State?.Name !== "running") {
    return {
      ...base,
      decision: "wait",
      reasons: [{ code: "FACTS_UNAVAILABLE", message: "no running instance was identified" }],
    };
  }
  const identityWhy = (ctx.identity as IdentityResult).why;
  return {
    ...base,
    decision: "approve",
    reasons: [
      {
        code: APPROVE_CODE,
        message: `${identityWhy}, running in ${String(instanceVpc(matched.instance))}; it owns every requested SAN (${list(sanText)})`,
      },
    ],
  };
}

/** The decision for one CSR. Never throws: an unexpected error becomes `wait`, never approve. */
export function decide(input: PolicyInput): Decision {
  try {
    return decideUnsafe(input);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      name: input.csr.metadata.name,
      decision: "wait",
      reasons: [{ code: "FACTS_UNAVAILABLE", message: `the CSR could not be evaluated: ${message}` }],
    };
  }
}
