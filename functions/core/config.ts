// The configuration document (SPEC §5): a hand-written validator over `unknown` so every
// error names the exact key path, unknown keys are rejected (a typo must never silently
// turn a check off), and defaults are applied in one place. Pure: parsing YAML/JSON and
// reading files or SSM happen in the shell.
import { parseNodeNameTemplate } from "./name-templates.js";
import {
  ec2DomainReachedBy,
  ec2DomainReachedByTemplate,
  IPV4_MAPPED_PREFIX,
  NODE_NAME_PATTERN_SYNTAX,
  NON_EC2_DNS_PLACEHOLDERS,
  overlapsIpv4Mapped,
  parseCidr,
} from "./non-ec2.js";
import type { ClusterPolicySettings, ClusterTag, NonEc2NodeRules } from "./types.js";

// ---------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------

/** Per-cluster overrides of `defaults`; `clusterTag: null` turns a default tag check off. */
export type ClusterOverrides = Partial<Omit<ClusterPolicySettings, "clusterTag" | "nonEc2Nodes">> & {
  clusterTag?: ClusterTag | null;
  nonEc2Nodes?: NonEc2NodeRules | null;
};

/**
 * How the approver authenticates to a self-managed cluster: a bearer token stored in Secrets
 * Manager or SSM (the secret value is the token itself), or an aws-iam-authenticator token
 * (the EKS token format, presigned with the approver's own IAM role: nothing stored).
 */
export type CredentialSource =
  { secretsManager: string } | { ssmParameter: string } | { awsIamAuthenticator: { clusterId: string } };

export interface SelfManagedCluster {
  name: string;
  region: string;
  endpoint: string; // https URL of the API server
  caData: string; // base64 of the PEM CA bundle, as in a kubeconfig's certificate-authority-data
  credential: CredentialSource;
  vpcIds: string[];
  overrides: ClusterOverrides;
}

export interface EksConfig {
  discovery: boolean;
  include: string[];
  exclude: string[];
  tags: Record<string, string>;
  clusters: Record<string, ClusterOverrides>;
}

export interface SweepConfig {
  concurrency: number;
  watchWindowSeconds: number;
  minRemainingMillis: number;
  continuousWatch: boolean;
  describeInstancesPerSecond: number;
  describeInstancesBurst: number;
}

export interface Config {
  /** Regions where EKS discovery runs; empty: the region the approver runs in. */
  regions: string[];
  defaults: ClusterPolicySettings;
  eks: EksConfig;
  selfManaged: SelfManagedCluster[];
  sweep: SweepConfig;
}

export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(path ? `config: ${path}: ${problem}` : `config: ${problem}`);
    this.name = "ConfigError";
  }
}

// ---------------------------------------------------------------------------------------
// Defaults and the machine-readable reference (docs/configuration.md is checked against it)
// ---------------------------------------------------------------------------------------

export const DEFAULT_SETTINGS: ClusterPolicySettings = Object.freeze({
  mode: "enforce",
  deny: true,
  pendingGraceSeconds: 900,
  maxExpirationSeconds: 31_708_800,
  extraDnsNames: [],
  nodeNameTemplates: [],
  trustNodeProviderId: false,
  maxApprovalsPerSweep: "auto",
  maxPendingPerNode: 20,
  maxAlertsPerSweep: 20,
  alertRepeatWindowSeconds: 3600,
  notIssuedAfterSeconds: 600,
  audit: true,
  auditWindowSeconds: 3600,
  nonNodeRequests: "deny",
}) as ClusterPolicySettings;

export const DEFAULT_SWEEP: SweepConfig = Object.freeze({
  concurrency: 4,
  watchWindowSeconds: 180,
  minRemainingMillis: 10_000,
  continuousWatch: false,
  describeInstancesPerSecond: 5,
  describeInstancesBurst: 20,
});

/**
 * The smallest `notIssuedAfterSeconds`: a healthy signer issues within about a second of the
 * approval (the rig's kube-controller-manager controller does), so 10 s still cannot alert on
 * normal latency, and the alert changes no decision (it is sent once per CSR), so a low value
 * costs at most a spurious alert. It lets the integration test wait for real.
 */
export const NOT_ISSUED_MIN_SECONDS = 10;

export const EXTRA_DNS_PLACEHOLDERS = ["shortName", "privateDnsName", "instanceId", "region", "nodeName"];

export interface ConfigReferenceEntry {
  path: string; // `[]` marks list items, `<name>`/`<key>` marks map keys
  type: string;
  default: string; // as written in the docs; "required" when there is none
  description: string;
}

const SETTING_REFERENCE: {
  key: keyof ClusterPolicySettings;
  type: string;
  default: string;
  description: string;
}[] = [
  {
    key: "mode",
    type: "`enforce` \\| `dry-run`",
    default: "`enforce`",
    description: "`dry-run` decides and alerts but writes nothing to the cluster.",
  },
  {
    key: "deny",
    type: "boolean",
    default: "`true`",
    description: "`false`: leave failing CSRs pending and alert once instead of denying them.",
  },
  {
    key: "pendingGraceSeconds",
    type: "positive integer",
    default: "`900`",
    description:
      "How long a CSR whose instance is not visible yet (or still `pending`) waits before it is denied.",
  },
  {
    key: "maxExpirationSeconds",
    type: "positive integer",
    default: "`31708800`",
    description: "Largest `spec.expirationSeconds` a CSR may ask for (367 days).",
  },
  {
    key: "extraDnsNames",
    type: "list of DNS name templates",
    default: "`[]`",
    description:
      "More DNS names an instance owns, e.g. `{{shortName}}.corp.example.com`. Placeholders: `{{shortName}}`, `{{privateDnsName}}`, `{{instanceId}}`, `{{region}}`, `{{nodeName}}`. No wildcards.",
  },
  {
    key: "nodeNameTemplates",
    type: "list of node name templates",
    default: "`[]`",
    description:
      "More names a node may have, over EC2 facts: node N is instance X when N equals a template expanded for X, e.g. `{{tag:Name}}` (kubespray inventory names) or `{{shortName}}.corp.example.com` (a custom DHCP domain). Placeholders: `{{privateDnsName}}`, `{{shortName}}`, `{{instanceId}}`, `{{region}}`, `{{tag:KEY}}`; each template needs one that differs per instance. Only live instances of the cluster's VPCs (and tag) match; a name two instances produce is `IDENTITY_CONFLICT`. `{{tag:KEY}}` trusts whoever may write that tag: see docs/policy.md.",
  },
  {
    key: "trustNodeProviderId",
    type: "boolean",
    default: "`false`",
    description:
      "Identify the instance from the Node's `spec.providerID` when the node name matches none. The kubelet writes that field itself: leave off unless node names cannot match.",
  },
  {
    key: "maxApprovalsPerSweep",
    type: "positive integer \\| `auto`",
    default: "`auto`",
    description:
      "Cluster-wide flood guard: beyond this many approvals in one cluster and sweep (event mode: budget period), approve nothing more and alert. `auto`: the larger of 100 and a quarter of the cluster's nodes: a rotation of every node takes ≤ 4 sweeps.",
  },
  {
    key: "maxPendingPerNode",
    type: "positive integer",
    default: "`20`",
    description:
      "Per-node flood guard: only a node's newest this many pending CSRs are examined in a sweep (event mode: budget period); a node with more trips its own guard (one alert naming it), never another node's approvals.",
  },
  {
    key: "maxAlertsPerSweep",
    type: "positive integer",
    default: "`20`",
    description:
      "Alerts per cluster and sweep (event mode: budget period); one summary alert (node requesters first, with their reason codes) covers the rest.",
  },
  {
    key: "alertRepeatWindowSeconds",
    type: "integer 60–86400",
    default: "`3600`",
    description:
      "A node denied again for the same reasons and requested names/addresses alerts once per window; the next alert after it carries the count. The history is read from the cluster's CSRs (kube-controller-manager deletes denied ones after 1 hour).",
  },
  {
    key: "notIssuedAfterSeconds",
    type: "integer 10–86400",
    default: "`600`",
    description:
      "A CSR the approver approved that still has no certificate this long after the approval raises one `not-issued` alert (the signer is down or stuck). kube-controller-manager issues within about a second.",
  },
  {
    key: "audit",
    type: "boolean",
    default: "`true`",
    description:
      "Audit approvals made by others: the same policy decides each on current EC2 facts; one it would not approve raises one `approved-elsewhere` alert, nothing is written to it. Also checks the certificates issued for our own approvals.",
  },
  {
    key: "auditWindowSeconds",
    type: "integer 60–86400",
    default: "`3600`",
    description:
      "The audit looks only at CSRs created, approved or issued within this many seconds (at most 5,000 per cluster and sweep, oldest first; the rest the next sweep).",
  },
  {
    key: "clusterTag",
    type: "object",
    default: "none",
    description:
      "When set, an instance must also carry this tag to belong to the cluster. Per cluster, `null` removes a default tag.",
  },
  {
    key: "nonNodeRequests",
    type: "`deny` \\| `ignore`",
    default: "`deny`",
    description:
      "CSRs whose requester is not a node (`NOT_A_NODE`): `deny` them, or `ignore` them (skip: no write, no alert) where other automation creates kubelet-serving CSRs.",
  },
  {
    key: "nonEc2Nodes",
    type: "object",
    default: "none",
    description:
      "Opt-in static rules for nodes that are not EC2 instances (on-premises, EKS Hybrid Nodes); weaker than the EC2 check, see docs/policy.md. Used only when EC2 knows neither the node name nor any requested IP. Per cluster, `null` removes a default rule set.",
  },
];

const CLUSTER_TAG_REFERENCE = (prefix: string): ConfigReferenceEntry[] => [
  {
    path: `${prefix}.clusterTag.key`,
    type: "string",
    default: "required",
    description:
      "Tag key; `{{cluster}}` expands to the cluster name, e.g. `kubernetes.io/cluster/{{cluster}}`.",
  },
  {
    path: `${prefix}.clusterTag.values`,
    type: "non-empty list of strings",
    default: "any value",
    description: "Accepted tag values; absent: the key alone suffices.",
  },
];

const NON_EC2_REFERENCE = (prefix: string): ConfigReferenceEntry[] => [
  {
    path: `${prefix}.nonEc2Nodes.nodeNames`,
    type: "non-empty list of node name patterns",
    default: "required",
    description:
      "Node names the rules apply to, e.g. `onprem-*`; `*` (any run) and `?` (one character) stay within one DNS label.",
  },
  {
    path: `${prefix}.nonEc2Nodes.ipRanges`,
    type: "non-empty list of CIDRs",
    default: "required",
    description:
      "Every IP SAN must lie in one of these IPv4/IPv6 prefixes (on EKS also in the cluster's remote node networks). Must not overlap any VPC.",
  },
  {
    path: `${prefix}.nonEc2Nodes.dnsNames`,
    type: "list of DNS name templates",
    default: "no DNS names",
    description:
      "The DNS SANs allowed, derived from the node name: `{{nodeName}}`, `{{shortName}}` (its first label), e.g. `{{shortName}}.dc1.example.com`.",
  },
];

export const CONFIG_REFERENCE: readonly ConfigReferenceEntry[] = [
  {
    path: "regions",
    type: "list of region names",
    default: "the approver's own region",
    description: "Regions where EKS discovery runs. Self-managed clusters name their own region.",
  },
  {
    path: "defaults",
    type: "object",
    default: "see below",
    description: "Per-cluster policy settings; every cluster may override any of them.",
  },
  ...SETTING_REFERENCE.map((entry) => ({
    path: `defaults.${entry.key}`,
    type: entry.type,
    default: entry.default,
    description: entry.description,
  })),
  ...CLUSTER_TAG_REFERENCE("defaults"),
  ...NON_EC2_REFERENCE("defaults"),
  { path: "eks", type: "object", default: "see below", description: "EKS cluster discovery." },
  {
    path: "eks.discovery",
    type: "boolean",
    default: "`true`",
    description: "List the EKS clusters of every region in `regions` and sweep those that match.",
  },
  {
    path: "eks.include",
    type: "list of name globs",
    default: '`["*"]`',
    description: "A discovered cluster is swept when its name matches one of these (`*` and `?` wildcards).",
  },
  {
    path: "eks.exclude",
    type: "list of name globs",
    default: "`[]`",
    description: "…and matches none of these.",
  },
  {
    path: "eks.tags",
    type: "map of string to string",
    default: "`{}`",
    description: "…and carries every one of these tags with exactly this value.",
  },
  {
    path: "eks.clusters",
    type: "map of cluster name to settings",
    default: "`{}`",
    description: "Overrides of `defaults` for named EKS clusters.",
  },
  {
    path: "eks.clusters.<name>.<setting>",
    type: "as in `defaults`",
    default: "`defaults.<setting>`",
    description: "Any key of `defaults`.",
  },
  {
    path: "selfManaged",
    type: "list of objects",
    default: "`[]`",
    description: "Clusters on EC2 not run by EKS (kubeadm, kubespray, …).",
  },
  {
    path: "selfManaged[].name",
    type: "string",
    default: "required",
    description: "Unique cluster name (letters, digits, `-`, `_`, `.`), used in alerts and `{{cluster}}`.",
  },
  {
    path: "selfManaged[].region",
    type: "region name",
    default: "required",
    description: "Region of the cluster's instances.",
  },
  {
    path: "selfManaged[].endpoint",
    type: "https URL",
    default: "required",
    description: "API server URL, e.g. `https://10.0.0.10:6443`.",
  },
  {
    path: "selfManaged[].caData",
    type: "string",
    default: "required",
    description:
      "The API server's CA bundle: base64 of the PEM (as kubeconfig `certificate-authority-data`) or the PEM itself.",
  },
  {
    path: "selfManaged[].credential",
    type: "object",
    default: "required",
    description:
      "How the approver authenticates: exactly one of the keys below. With a secret, its value is the bearer token.",
  },
  {
    path: "selfManaged[].credential.secretsManager",
    type: "Secrets Manager secret ARN",
    default: "—",
    description: "`arn:aws:secretsmanager:<region>:<account>:secret:<name>`.",
  },
  {
    path: "selfManaged[].credential.ssmParameter",
    type: "SSM parameter name or ARN",
    default: "—",
    description: "A SecureString parameter, e.g. `/csr-approver/kubeadm-lab/token`.",
  },
  {
    path: "selfManaged[].credential.awsIamAuthenticator",
    type: "object",
    default: "—",
    description:
      "The cluster runs aws-iam-authenticator (kops, kubespray): the approver presents an EKS-style token signed with its own IAM role, so no token is stored. Map the approver role in the authenticator's config.",
  },
  {
    path: "selfManaged[].credential.awsIamAuthenticator.clusterId",
    type: "string",
    default: "required",
    description:
      "The authenticator's cluster ID (its `clusterID` setting; kops: the cluster name), signed into every token as `x-k8s-aws-id`.",
  },
  {
    path: "selfManaged[].vpcIds",
    type: "non-empty list of VPC IDs",
    default: "required",
    description: "An instance belongs to the cluster only when it is in one of these VPCs.",
  },
  {
    path: "selfManaged[].<setting>",
    type: "as in `defaults`",
    default: "`defaults.<setting>`",
    description: "Any key of `defaults`, overriding it for this cluster.",
  },
  { path: "sweep", type: "object", default: "see below", description: "How a sweep runs." },
  {
    path: "sweep.concurrency",
    type: "positive integer",
    default: "`4`",
    description: "Clusters swept at the same time.",
  },
  {
    path: "sweep.watchWindowSeconds",
    type: "positive integer",
    default: "`180`",
    description: "Event mode: how long to watch for new CSRs after an instance starts.",
  },
  {
    path: "sweep.minRemainingMillis",
    type: "positive integer",
    default: "`10000`",
    description: "Start no new cluster when the Lambda has less time than this left.",
  },
  {
    path: "sweep.continuousWatch",
    type: "boolean",
    default: "`false`",
    description:
      "Every scheduled invocation keeps watching until shortly before the next one, so every CSR (renewals too) is decided within about a second. Costs about 60× the Lambda time of the default: see docs/deployment.md.",
  },
  {
    path: "sweep.describeInstancesPerSecond",
    type: "positive integer",
    default: "`5`",
    description:
      "Share of EC2's DescribeInstances bucket (per account and region: burst 100, refill 20/s, shared with other tools), calls a second: at most `describeInstancesBurst + this × t` in any t seconds. Halved on throttling, grown back (AIMD): docs/deployment.md.",
  },
  {
    path: "sweep.describeInstancesBurst",
    type: "positive integer",
    default: "`20`",
    description:
      "The size of the approver's bucket: calls that may go at once before the rate applies (a burst of new nodes is looked up without waiting).",
  },
];

// ---------------------------------------------------------------------------------------
// Small shape checks
// ---------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

const REGION = /^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/;
const VPC_ID = /^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const PARTITION = "aws(?:-[a-z]+)*";
const SECRET_ARN = new RegExp(
  `^arn:${PARTITION}:secretsmanager:[a-z]{2,4}(-[a-z]+)+-\\d{1,2}:\\d{12}:secret:[A-Za-z0-9/_+=.@-]+$`,
);
const SSM_PARAMETER_ARN = new RegExp(
  `^arn:${PARTITION}:ssm:[a-z]{2,4}(-[a-z]+)+-\\d{1,2}:\\d{12}:parameter/[A-Za-z0-9_./-]+$`,
);
const SSM_PARAMETER_NAME = /^\/?[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;
const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
// Sent as the signed header x-k8s-aws-id: kops uses the cluster's DNS name.
const AUTHENTICATOR_CLUSTER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;
const GLOB = /^[A-Za-z0-9_.\-*?]+$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function isRegionName(value: string): boolean {
  return REGION.test(value);
}

export function isVpcId(value: string): boolean {
  return VPC_ID.test(value);
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === "object") return "an object";
  return String(value);
}

function fail(path: string, expected: string, value: unknown): never {
  throw new ConfigError(path, `expected ${expected}, got ${describe(value)}`);
}

function objectAt(path: string, value: unknown, known: readonly string[]): Json {
  if (!isObject(value)) fail(path, "an object", value);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new ConfigError(path ? `${path}.${key}` : key, "unknown key");
  }
  return value;
}

function booleanAt(path: string, value: unknown): boolean {
  if (typeof value !== "boolean") fail(path, "true or false", value);
  return value;
}

/** A whole number of seconds from `min` to one day. */
function secondsAt(path: string, value: unknown, min: number, max = 86_400): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(path, `an integer from ${min} to ${max} (seconds)`, value);
  }
  return value;
}

function positiveIntegerAt(path: string, value: unknown, orElse?: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    fail(path, orElse ? `a positive integer or ${orElse}` : "a positive integer", value);
  }
  return value;
}

function stringAt(path: string, value: unknown, expected = "a non-empty string"): string {
  if (typeof value !== "string" || value.trim() === "") fail(path, expected, value);
  return value;
}

function listAt<T>(
  path: string,
  value: unknown,
  item: (path: string, value: unknown) => T,
  opts: { nonEmpty?: string } = {},
): T[] {
  if (!Array.isArray(value) || (opts.nonEmpty !== undefined && value.length === 0)) {
    fail(path, opts.nonEmpty ?? "a list", value);
  }
  return value.map((element, index) => item(`${path}[${index}]`, element));
}

function regionAt(path: string, value: unknown): string {
  if (typeof value !== "string" || !REGION.test(value)) fail(path, 'a region name like "eu-west-1"', value);
  return value;
}

function globAt(path: string, value: unknown): string {
  if (typeof value !== "string" || !GLOB.test(value)) {
    fail(path, 'a cluster name glob like "prod-*" (letters, digits, "-", "_", ".", "*", "?")', value);
  }
  return value;
}

/**
 * `*` matches any run of characters, `?` exactly one; everything else literally.
 * Whoever may create EKS clusters picks the names, so no regex: a backtracking `.*` per `*`
 * made `*-*-*-*-*-*-prod` take seconds per name. This two-pointer matcher only ever resumes
 * after the last `*` seen (an earlier one can never be needed: the last one can absorb
 * whatever it would have), so it is O(pattern × name) at worst and linear in practice.
 */
export function globMatch(pattern: string, name: string): boolean {
  let p = 0; // next pattern position
  let n = 0; // next name position
  let star = -1; // position of the last `*` seen in the pattern
  let resume = 0; // name position that `*` is currently matched up to
  while (n < name.length) {
    const token = pattern[p];
    if (token === "*") {
      star = p++;
      resume = n;
    } else if (token !== undefined && (token === "?" || token === name[n])) {
      p++;
      n++;
    } else if (star >= 0) {
      // Let the last `*` take one more character and retry the rest of the pattern.
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === "*") p++;
  return p === pattern.length;
}

function dnsTemplateAt(path: string, value: unknown): string {
  const expected = `a DNS name template like "{{shortName}}.corp.example.com" (placeholders: ${EXTRA_DNS_PLACEHOLDERS.map((name) => `{{${name}}}`).join(" ")}; no wildcards)`;
  if (typeof value !== "string") fail(path, expected, value);
  let unknownPlaceholder: string | undefined;
  // Substitute a valid label for each placeholder, then the result must be a plain DNS name.
  const sample = value.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_match, name: string) => {
    if (!EXTRA_DNS_PLACEHOLDERS.includes(name)) unknownPlaceholder ??= name;
    return "x";
  });
  if (unknownPlaceholder !== undefined) {
    throw new ConfigError(
      path,
      `unknown placeholder {{${unknownPlaceholder}}} (known: ${EXTRA_DNS_PLACEHOLDERS.map((name) => `{{${name}}}`).join(" ")})`,
    );
  }
  const name = sample.toLowerCase().replace(/\.$/, "");
  if (name.length > 253 || !name.split(".").every((label) => DNS_LABEL.test(label)))
    fail(path, expected, value);
  // Without a per-instance part every instance would own the name, so any node could get it.
  const perInstance = ["shortName", "privateDnsName", "instanceId", "nodeName"];
  if (!perInstance.some((name) => new RegExp(`\\{\\{\\s*${name}\\s*\\}\\}`).test(value))) {
    throw new ConfigError(
      path,
      `${JSON.stringify(value)} names no instance: use one of {{shortName}} {{privateDnsName}} {{instanceId}} {{nodeName}}, or every node could claim it`,
    );
  }
  return value;
}

function nodeNameTemplateAt(path: string, value: unknown): string {
  if (typeof value !== "string" || value === "") {
    fail(path, 'a node name template like "{{tag:Name}}" or "{{shortName}}.corp.example.com"', value);
  }
  const parsed = parseNodeNameTemplate(value);
  if (!parsed.ok) throw new ConfigError(path, parsed.problem);
  return value;
}

function clusterTagAt(path: string, value: unknown): ClusterTag {
  const tag = objectAt(path, value, CLUSTER_TAG_KEYS);
  const key = stringAt(`${path}.key`, tag.key, 'a tag key like "kubernetes.io/cluster/{{cluster}}"');
  if (key.length > 128) fail(`${path}.key`, "a tag key of at most 128 characters", key);
  const placeholder = /\{\{\s*([^}]*?)\s*\}\}/.exec(key.replaceAll("{{cluster}}", ""));
  if (placeholder)
    throw new ConfigError(`${path}.key`, `unknown placeholder {{${placeholder[1]}}} (known: {{cluster}})`);
  if (tag.values === undefined) return { key };
  const values = listAt(
    `${path}.values`,
    tag.values,
    (itemPath, item) => {
      if (typeof item !== "string") fail(itemPath, "a string", item);
      return item;
    },
    { nonEmpty: "a non-empty list of tag values (omit the key to accept any value)" },
  );
  return { key, values };
}

/**
 * The keys an object accepts are the ones CONFIG_REFERENCE documents under it, so the
 * reference (and the docs checked against it) cannot drift from the validator.
 */
function childKeys(parent: string): string[] {
  const prefix = parent === "" ? "" : `${parent}.`;
  return CONFIG_REFERENCE.map((entry) => entry.path)
    .filter((path) => path.startsWith(prefix))
    .map((path) => path.slice(prefix.length))
    .filter((rest) => /^[A-Za-z][A-Za-z0-9]*$/.test(rest));
}

const SETTING_KEYS = childKeys("defaults");
const CLUSTER_TAG_KEYS = childKeys("defaults.clusterTag");
const NON_EC2_KEYS = childKeys("defaults.nonEc2Nodes");
const CREDENTIAL_KEYS = childKeys("selfManaged[].credential");
const AUTHENTICATOR_KEYS = childKeys("selfManaged[].credential.awsIamAuthenticator");

/** Reads the setting keys present in `source`; other keys are the caller's business. */
function settingsAt(path: string, source: Json): ClusterOverrides {
  const at = (key: string): string => (path ? `${path}.${key}` : key);
  const out: ClusterOverrides = {};
  if (source.mode !== undefined) {
    if (source.mode !== "enforce" && source.mode !== "dry-run")
      fail(at("mode"), '"enforce" or "dry-run"', source.mode);
    out.mode = source.mode;
  }
  if (source.deny !== undefined) out.deny = booleanAt(at("deny"), source.deny);
  if (source.pendingGraceSeconds !== undefined) {
    out.pendingGraceSeconds = positiveIntegerAt(at("pendingGraceSeconds"), source.pendingGraceSeconds);
  }
  if (source.maxExpirationSeconds !== undefined) {
    out.maxExpirationSeconds = positiveIntegerAt(at("maxExpirationSeconds"), source.maxExpirationSeconds);
  }
  if (source.extraDnsNames !== undefined) {
    out.extraDnsNames = listAt(at("extraDnsNames"), source.extraDnsNames, dnsTemplateAt);
  }
  if (source.nodeNameTemplates !== undefined) {
    out.nodeNameTemplates = listAt(at("nodeNameTemplates"), source.nodeNameTemplates, nodeNameTemplateAt);
  }
  if (source.trustNodeProviderId !== undefined) {
    out.trustNodeProviderId = booleanAt(at("trustNodeProviderId"), source.trustNodeProviderId);
  }
  if (source.maxApprovalsPerSweep !== undefined) {
    out.maxApprovalsPerSweep =
      source.maxApprovalsPerSweep === "auto"
        ? "auto"
        : positiveIntegerAt(at("maxApprovalsPerSweep"), source.maxApprovalsPerSweep, '"auto"');
  }
  if (source.maxPendingPerNode !== undefined) {
    out.maxPendingPerNode = positiveIntegerAt(at("maxPendingPerNode"), source.maxPendingPerNode);
  }
  if (source.maxAlertsPerSweep !== undefined) {
    out.maxAlertsPerSweep = positiveIntegerAt(at("maxAlertsPerSweep"), source.maxAlertsPerSweep);
  }
  if (source.alertRepeatWindowSeconds !== undefined) {
    out.alertRepeatWindowSeconds = secondsAt(
      at("alertRepeatWindowSeconds"),
      source.alertRepeatWindowSeconds,
      60,
    );
  }
  if (source.notIssuedAfterSeconds !== undefined) {
    out.notIssuedAfterSeconds = secondsAt(
      at("notIssuedAfterSeconds"),
      source.notIssuedAfterSeconds,
      NOT_ISSUED_MIN_SECONDS,
    );
  }
  if (source.audit !== undefined) out.audit = booleanAt(at("audit"), source.audit);
  if (source.auditWindowSeconds !== undefined) {
    out.auditWindowSeconds = secondsAt(at("auditWindowSeconds"), source.auditWindowSeconds, 60);
  }
  if (source.clusterTag !== undefined) {
    out.clusterTag = source.clusterTag === null ? null : clusterTagAt(at("clusterTag"), source.clusterTag);
  }
  if (source.nonNodeRequests !== undefined) {
    if (source.nonNodeRequests !== "deny" && source.nonNodeRequests !== "ignore")
      fail(at("nonNodeRequests"), '"deny" or "ignore"', source.nonNodeRequests);
    out.nonNodeRequests = source.nonNodeRequests;
  }
  if (source.nonEc2Nodes !== undefined) {
    out.nonEc2Nodes =
      source.nonEc2Nodes === null ? null : nonEc2NodesAt(at("nonEc2Nodes"), source.nonEc2Nodes);
  }
  return out;
}

function nodeNamePatternAt(path: string, value: unknown): string {
  const expected =
    'a node name pattern like "onprem-*" (lower-case letters, digits, "-", ".", "*", "?"; at least one literal character)';
  if (typeof value !== "string" || !NODE_NAME_PATTERN_SYNTAX.test(value) || !/[a-z0-9.-]/.test(value))
    fail(path, expected, value);
  return value;
}

function cidrAt(path: string, value: unknown): string {
  const cidr = parseCidr(value);
  if (!cidr) {
    fail(path, 'an IPv4 or IPv6 prefix like "192.168.10.0/24" or "fd00:10::/64" (no host bits set)', value);
  }
  if (cidr.length === 0) throw new ConfigError(path, `${cidr.text} would allow every address`);
  return cidr.text;
}

function nonEc2DnsTemplateAt(path: string, value: unknown): string {
  const known = NON_EC2_DNS_PLACEHOLDERS.map((name) => `{{${name}}}`).join(" ");
  const expected = `a DNS name template like "{{shortName}}.dc1.example.com" (placeholders: ${known}; no wildcards)`;
  if (typeof value !== "string") fail(path, expected, value);
  let unknownPlaceholder: string | undefined;
  let placeholders = 0;
  const sample = value.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_match, name: string) => {
    if (!NON_EC2_DNS_PLACEHOLDERS.includes(name)) unknownPlaceholder ??= name;
    placeholders++;
    return "x";
  });
  if (unknownPlaceholder !== undefined)
    throw new ConfigError(path, `unknown placeholder {{${unknownPlaceholder}}} (known: ${known})`);
  const name = sample.toLowerCase().replace(/\.$/, "");
  if (name.length > 253 || !name.split(".").every((label) => DNS_LABEL.test(label)))
    fail(path, expected, value);
  // A literal name would be allowed to every node that matches the patterns.
  if (placeholders === 0) {
    throw new ConfigError(
      path,
      `${JSON.stringify(value)} names no node: use ${known}, or every such node could claim it`,
    );
  }
  return value;
}

// Static rules never reach EC2's space (security review, finding 4): no pattern or template
// that could name something in EC2's DNS domains, no range in IPv4-mapped IPv6.
function nonEc2NodeNameAt(path: string, value: unknown): string {
  const pattern = nodeNamePatternAt(path, value);
  const domain = ec2DomainReachedBy(pattern);
  if (domain !== undefined) {
    throw new ConfigError(
      path,
      `${JSON.stringify(pattern)} can match names in EC2's DNS domain ${domain}: EC2's nodes are checked against EC2, never by static rules`,
    );
  }
  return pattern;
}

function nonEc2RangeAt(path: string, value: unknown): string {
  const text = cidrAt(path, value);
  const cidr = parseCidr(text);
  if (cidr && overlapsIpv4Mapped(cidr)) {
    throw new ConfigError(
      path,
      `${text} overlaps ${IPV4_MAPPED_PREFIX} (IPv4-mapped IPv6): a certificate carries those as IPv4 addresses, EC2's space`,
    );
  }
  return text;
}

function nonEc2NodesAt(path: string, value: unknown): NonEc2NodeRules {
  const doc = objectAt(path, value, NON_EC2_KEYS);
  // Each key present is checked before a missing one is reported, so errors name the leaf.
  const nodeNames =
    doc.nodeNames === undefined
      ? undefined
      : listAt(`${path}.nodeNames`, doc.nodeNames, nonEc2NodeNameAt, {
          nonEmpty: 'a non-empty list of node name patterns like ["onprem-*"]',
        });
  const ipRanges =
    doc.ipRanges === undefined
      ? undefined
      : listAt(`${path}.ipRanges`, doc.ipRanges, nonEc2RangeAt, {
          nonEmpty: 'a non-empty list of prefixes like ["192.168.10.0/24"]',
        });
  const dnsNames =
    doc.dnsNames === undefined ? [] : listAt(`${path}.dnsNames`, doc.dnsNames, nonEc2DnsTemplateAt);
  if (nodeNames === undefined) throw new ConfigError(`${path}.nodeNames`, "required key is missing");
  if (ipRanges === undefined) throw new ConfigError(`${path}.ipRanges`, "required key is missing");
  dnsNames.forEach((template, index) => {
    const domain = ec2DomainReachedByTemplate(template, nodeNames);
    if (domain !== undefined) {
      throw new ConfigError(
        `${path}.dnsNames[${index}]`,
        `${JSON.stringify(template)} can expand to names in EC2's DNS domain ${domain} (for nodes matching ${path}.nodeNames): static rules never certify EC2's names`,
      );
    }
  });
  return { nodeNames, ipRanges, dnsNames };
}

function applyOverrides(base: ClusterPolicySettings, overrides: ClusterOverrides): ClusterPolicySettings {
  const { clusterTag, nonEc2Nodes, ...rest } = overrides;
  const merged: ClusterPolicySettings = { ...base, ...rest };
  if (clusterTag === null) delete merged.clusterTag;
  else if (clusterTag !== undefined) merged.clusterTag = clusterTag;
  if (nonEc2Nodes === null) delete merged.nonEc2Nodes;
  else if (nonEc2Nodes !== undefined) merged.nonEc2Nodes = nonEc2Nodes;
  return merged;
}

function credentialAt(path: string, value: unknown): CredentialSource {
  const credential = objectAt(path, value, CREDENTIAL_KEYS);
  const keys = Object.keys(credential);
  if (keys.length !== 1) {
    throw new ConfigError(
      path,
      "expected exactly one of secretsManager, ssmParameter or awsIamAuthenticator",
    );
  }
  if (credential.awsIamAuthenticator !== undefined) {
    const at = `${path}.awsIamAuthenticator`;
    const authenticator = objectAt(at, credential.awsIamAuthenticator, AUTHENTICATOR_KEYS);
    if (authenticator.clusterId === undefined || authenticator.clusterId === null) {
      throw new ConfigError(`${at}.clusterId`, "required key is missing");
    }
    const clusterId = authenticator.clusterId;
    if (typeof clusterId !== "string" || !AUTHENTICATOR_CLUSTER_ID.test(clusterId)) {
      fail(
        `${at}.clusterId`,
        'the authenticator\'s cluster ID like "lab.k8s.example.com" (letters, digits, "-", "_", "."; at most 253)',
        clusterId,
      );
    }
    return { awsIamAuthenticator: { clusterId } };
  }
  if (credential.secretsManager !== undefined) {
    const arn = credential.secretsManager;
    if (typeof arn !== "string" || !SECRET_ARN.test(arn)) {
      fail(
        `${path}.secretsManager`,
        'a Secrets Manager secret ARN like "arn:aws:secretsmanager:eu-west-1:123456789012:secret:name"',
        arn,
      );
    }
    return { secretsManager: arn };
  }
  const parameter = credential.ssmParameter;
  if (
    typeof parameter !== "string" ||
    parameter.length > 2048 ||
    !(SSM_PARAMETER_NAME.test(parameter) || SSM_PARAMETER_ARN.test(parameter)) ||
    /^\/?aws|^\/?ssm/i.test(parameter)
  ) {
    fail(
      `${path}.ssmParameter`,
      'an SSM parameter name like "/csr-approver/my-cluster/token" or its ARN',
      parameter,
    );
  }
  return { ssmParameter: parameter };
}

function endpointAt(path: string, value: unknown): string {
  const expected = 'an https URL like "https://10.0.0.10:6443"';
  if (typeof value !== "string") fail(path, expected, value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(path, expected, value);
  }
  if (
    url.protocol !== "https:" ||
    url.hostname === "" ||
    url.username ||
    url.password ||
    url.search ||
    url.hash
  ) {
    fail(path, expected, value);
  }
  return value.replace(/\/+$/, "");
}

function caDataAt(path: string, value: unknown): string {
  const expected = "base64 of a PEM CA certificate (kubeconfig certificate-authority-data) or the PEM itself";
  if (typeof value !== "string") fail(path, expected, value);
  const trimmed = value.trim();
  const pem = trimmed.startsWith("-----BEGIN")
    ? trimmed
    : /^[A-Za-z0-9+/=\s]+$/.test(trimmed)
      ? Buffer.from(trimmed.replace(/\s+/g, ""), "base64").toString("utf8")
      : "";
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(pem)) {
    fail(path, expected, "[not a PEM certificate]");
  }
  return Buffer.from(pem.endsWith("\n") ? pem : `${pem}\n`, "utf8").toString("base64");
}

function vpcIdsAt(path: string, value: unknown): string[] {
  const expected = 'a non-empty list of VPC IDs like "vpc-0abc1234def567890"';
  return listAt(
    path,
    value,
    (itemPath, item) => {
      if (typeof item !== "string" || !VPC_ID.test(item))
        fail(itemPath, 'a VPC ID like "vpc-0abc1234def567890"', item);
      return item;
    },
    { nonEmpty: expected },
  );
}

function clusterNameAt(path: string, value: unknown): string {
  if (typeof value !== "string" || !CLUSTER_NAME.test(value)) {
    fail(path, 'a cluster name (letters, digits, "-", "_", "."; at most 100)', value);
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------

const TOP_KEYS = childKeys("");
const EKS_KEYS = childKeys("eks");
const SELF_MANAGED_KEYS = [...childKeys("selfManaged[]"), ...SETTING_KEYS];
const SWEEP_KEYS = childKeys("sweep");

/** Validates a parsed YAML/JSON document; `null`/`undefined` (an empty file) means all defaults. */
export function parseConfig(doc: unknown): Config {
  const root = objectAt("", doc ?? {}, TOP_KEYS);

  const regions = root.regions === undefined ? [] : listAt("regions", root.regions, regionAt);
  if (new Set(regions).size !== regions.length) throw new ConfigError("regions", "lists a region twice");

  const defaultsDoc = objectAt("defaults", root.defaults ?? {}, SETTING_KEYS);
  const defaultOverrides = settingsAt("defaults", defaultsDoc);
  if (defaultOverrides.clusterTag === null) {
    fail("defaults.clusterTag", "an object (omit the key for no tag check)", null);
  }
  if (defaultOverrides.nonEc2Nodes === null) {
    fail("defaults.nonEc2Nodes", "an object (omit the key for no rules)", null);
  }
  const defaults = applyOverrides(
    { ...DEFAULT_SETTINGS, extraDnsNames: [], nodeNameTemplates: [] },
    defaultOverrides,
  );

  const eksDoc = objectAt("eks", root.eks ?? {}, EKS_KEYS);
  const clustersDoc = eksDoc.clusters === undefined ? {} : eksDoc.clusters;
  if (!isObject(clustersDoc)) fail("eks.clusters", "a map of cluster name to settings", clustersDoc);
  const clusters: Record<string, ClusterOverrides> = {};
  for (const [name, value] of Object.entries(clustersDoc)) {
    clusterNameAt(`eks.clusters.${name}`, name);
    clusters[name] = settingsAt(
      `eks.clusters.${name}`,
      objectAt(`eks.clusters.${name}`, value ?? {}, SETTING_KEYS),
    );
  }
  let tags: Record<string, string> = {};
  if (eksDoc.tags !== undefined) {
    if (!isObject(eksDoc.tags)) fail("eks.tags", "a map of tag key to value", eksDoc.tags);
    tags = Object.fromEntries(
      Object.entries(eksDoc.tags).map(([key, value]) => {
        if (typeof value !== "string")
          fail(`eks.tags.${key}`, "a string (quote numbers and booleans)", value);
        return [key, value];
      }),
    );
  }
  const eks: EksConfig = {
    discovery: eksDoc.discovery === undefined ? true : booleanAt("eks.discovery", eksDoc.discovery),
    include: eksDoc.include === undefined ? ["*"] : listAt("eks.include", eksDoc.include, globAt),
    exclude: eksDoc.exclude === undefined ? [] : listAt("eks.exclude", eksDoc.exclude, globAt),
    tags,
    clusters,
  };

  const selfManaged =
    root.selfManaged === undefined || root.selfManaged === null
      ? []
      : listAt("selfManaged", root.selfManaged, selfManagedAt);
  const seen = new Set<string>();
  selfManaged.forEach((cluster, index) => {
    if (seen.has(cluster.name)) {
      throw new ConfigError(`selfManaged[${index}].name`, `"${cluster.name}" is used by an earlier cluster`);
    }
    seen.add(cluster.name);
  });

  const sweepDoc = objectAt("sweep", root.sweep ?? {}, SWEEP_KEYS);
  const sweep: SweepConfig = {
    concurrency:
      sweepDoc.concurrency === undefined
        ? DEFAULT_SWEEP.concurrency
        : positiveIntegerAt("sweep.concurrency", sweepDoc.concurrency),
    watchWindowSeconds:
      sweepDoc.watchWindowSeconds === undefined
        ? DEFAULT_SWEEP.watchWindowSeconds
        : positiveIntegerAt("sweep.watchWindowSeconds", sweepDoc.watchWindowSeconds),
    minRemainingMillis:
      sweepDoc.minRemainingMillis === undefined
        ? DEFAULT_SWEEP.minRemainingMillis
        : positiveIntegerAt("sweep.minRemainingMillis", sweepDoc.minRemainingMillis),
    continuousWatch:
      sweepDoc.continuousWatch === undefined
        ? DEFAULT_SWEEP.continuousWatch
        : booleanAt("sweep.continuousWatch", sweepDoc.continuousWatch),
    describeInstancesPerSecond:
      sweepDoc.describeInstancesPerSecond === undefined
        ? DEFAULT_SWEEP.describeInstancesPerSecond
        : positiveIntegerAt("sweep.describeInstancesPerSecond", sweepDoc.describeInstancesPerSecond),
    describeInstancesBurst:
      sweepDoc.describeInstancesBurst === undefined
        ? DEFAULT_SWEEP.describeInstancesBurst
        : positiveIntegerAt("sweep.describeInstancesBurst", sweepDoc.describeInstancesBurst),
  };

  return { regions, defaults, eks, selfManaged, sweep };
}

function selfManagedAt(path: string, value: unknown): SelfManagedCluster {
  const doc = objectAt(path, value, SELF_MANAGED_KEYS);
  const required = (key: string): unknown => {
    if (doc[key] === undefined || doc[key] === null)
      throw new ConfigError(`${path}.${key}`, "required key is missing");
    return doc[key];
  };
  return {
    name: clusterNameAt(`${path}.name`, required("name")),
    region: regionAt(`${path}.region`, required("region")),
    endpoint: endpointAt(`${path}.endpoint`, required("endpoint")),
    caData: caDataAt(`${path}.caData`, required("caData")),
    credential: credentialAt(`${path}.credential`, required("credential")),
    vpcIds: vpcIdsAt(`${path}.vpcIds`, required("vpcIds")),
    overrides: settingsAt(path, doc),
  };
}

/**
 * The settings for one cluster: `defaults`, then the cluster's overrides (from
 * `eks.clusters.<name>` or its `selfManaged` entry), with `{{cluster}}` expanded in the tag key.
 */
export function settingsForCluster(
  config: Config,
  clusterName: string,
  kind: "eks" | "self-managed",
): ClusterPolicySettings {
  const overrides =
    kind === "eks"
      ? Object.hasOwn(config.eks.clusters, clusterName)
        ? config.eks.clusters[clusterName]
        : undefined
      : config.selfManaged.find((cluster) => cluster.name === clusterName)?.overrides;
  const settings = applyOverrides(config.defaults, overrides ?? {});
  const result: ClusterPolicySettings = {
    ...settings,
    extraDnsNames: [...settings.extraDnsNames],
    nodeNameTemplates: [...settings.nodeNameTemplates],
  };
  if (settings.nonEc2Nodes) {
    result.nonEc2Nodes = {
      nodeNames: [...settings.nonEc2Nodes.nodeNames],
      ipRanges: [...settings.nonEc2Nodes.ipRanges],
      dnsNames: [...settings.nonEc2Nodes.dnsNames],
    };
  }
  if (settings.clusterTag) {
    result.clusterTag = {
      key: settings.clusterTag.key.replaceAll("{{cluster}}", clusterName),
      ...(settings.clusterTag.values ? { values: [...settings.clusterTag.values] } : {}),
    };
  }
  return result;
}
