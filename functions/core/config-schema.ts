// The configuration document (SPEC §5) as one valibot schema: the single source of its types,
// its validation, its defaults, the reference table in docs/configuration.md and
// config/schema.json (both generated from it: `npm run config:docs`). Each field carries its
// description, the docs' type column, and the problem text of a wrong value, so config.ts
// turns the first issue into one line naming the key. Objects are strict (a typo must never
// silently turn a check off). Rules that need code (templates, CIDRs, EC2's domains) run as
// `v.rawCheck`/`v.rawTransform` steps over the existing one-place helpers. Pure.
import * as v from "valibot";
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
import type { ClusterPolicySettings } from "./types.js";

// ---------------------------------------------------------------------------------------
// Building blocks: every schema and action carries its own one-line problem text
// ---------------------------------------------------------------------------------------

/** The docs' columns beside the description: the type as the reference table writes it, and
 * the default when the schema's own (optional) default does not say it. */
export interface FieldDocs {
  type: string;
  default?: string;
  /** An object of per-cluster overrides: documented as one `<setting>` row. */
  settings?: true;
}

/** A wrong value as an error shows it: short, one line. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === "object") return "an object";
  return String(value);
}

const expectedText = (what: string, value: unknown): string =>
  `expected ${what}, got ${describeValue(value)}`;
/** The message of a failed type or format check: `expected <what>, got <the value>`. */
const expected =
  (what: string) =>
  (issue: v.BaseIssue<unknown>): string =>
    expectedText(what, issue.input);

/** A field as documented: its description and the docs' columns live next to its rules. */
function field<S extends v.GenericSchema>(schema: S, description: string, docs: FieldDocs) {
  return v.pipe(schema, v.description(description), v.metadata({ docs }));
}

/** A rule written as code: `problem` returns the one-line problem, or undefined when fine. */
function rule<T>(problem: (value: T) => string | undefined) {
  return v.rawCheck<T>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const text = problem(dataset.value);
    if (text !== undefined) addIssue({ message: text });
  });
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A strict object. A list is not one, and an unknown key is refused before any value is
 * checked, then `before` (a rule over the raw keys), then the values in order.
 */
function object<const E extends v.ObjectEntries>(
  entries: E,
  opts: {
    whenNull?: string;
    before?: (input: Record<string, unknown>) => string | undefined;
    presentFirst?: true;
  } = {},
) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isMap, (issue) =>
      issue.input === null && opts.whenNull
        ? expectedText(opts.whenNull, null)
        : expectedText("an object", issue.input),
    ),
    v.rawCheck<Record<string, unknown>>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const input = dataset.value;
      const unknownKey = Object.keys(input).find((key) => !Object.hasOwn(entries, key));
      if (unknownKey !== undefined) {
        const at: v.ObjectPathItem = {
          type: "object",
          origin: "key",
          input,
          key: unknownKey,
          value: input[unknownKey],
        };
        addIssue({ message: "unknown key", path: [at] });
        return;
      }
      const problem = opts.before?.(input);
      if (problem !== undefined) addIssue({ message: problem });
    }),
    strict(v.strictObject(entries), opts.presentFirst),
  );
}

/**
 * Runs a strict object's entries. A key whose value is `undefined` (only a JS caller can pass
 * one: YAML has none) is absent. With `presentFirst`, the values present are checked before a
 * required key is reported as missing, so an error names the leaf that is wrong
 * (`nonEc2Nodes.ipRanges[0]`, not the absent `nodeNames`); the output keeps the declared order.
 */
function strict<S extends v.StrictObjectSchema<v.ObjectEntries, undefined>>(
  schema: S,
  presentFirst = false,
): S {
  return {
    ...schema,
    "~run"(dataset, config) {
      const raw = dataset.value as Record<string, unknown>;
      const input = Object.values(raw).includes(undefined)
        ? Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined))
        : raw;
      const keys = Object.keys(schema.entries);
      const absent = presentFirst ? keys.filter((key) => !(key in input)) : [];
      if (absent.length === 0) return schema["~run"]({ ...dataset, value: input }, config);
      const order = [...keys.filter((key) => key in input), ...absent];
      const entries = Object.fromEntries(order.map((key) => [key, schema.entries[key]]));
      const result = schema["~run"].call({ ...schema, entries }, { ...dataset, value: input }, config);
      if (result.typed) {
        const value = result.value as Record<string, unknown>;
        result.value = Object.fromEntries(keys.filter((key) => key in value).map((key) => [key, value[key]]));
      }
      return result;
    },
  };
}

/**
 * A map with free keys (`eks.tags`, `eks.clusters`): `v.record`, except that a list is not a
 * map and every own key counts (v.record skips `constructor` and `prototype`, valid EKS
 * cluster names whose settings would be dropped without a word).
 */
function map<K extends v.GenericSchema<string, string>, V extends v.GenericSchema>(
  key: K,
  value: V,
  what: string,
): v.RecordSchema<K, V, undefined> {
  const base = v.record(key, value);
  return {
    ...base,
    "~run"(dataset, config) {
      const input: unknown = dataset.value;
      if (!isMap(input)) {
        v._addIssue(this, "type", dataset, config, { message: expected(what) });
        return dataset as unknown as v.OutputDataset<v.InferOutput<typeof base>, v.RecordIssue>;
      }
      const output: Record<string, unknown> = {};
      const issues: v.BaseIssue<unknown>[] = [];
      for (const [name, item] of Object.entries(input)) {
        const keyRun = key["~run"]({ value: name }, config);
        const valueRun = keyRun.issues ? undefined : value["~run"]({ value: item }, config);
        const found = keyRun.issues ?? valueRun?.issues;
        if (found) {
          const origin = keyRun.issues ? "key" : "value";
          const at: v.ObjectPathItem = { type: "object", origin, input, key: name, value: item };
          for (const issue of found) issues.push({ ...issue, path: [at, ...(issue.path ?? [])] });
          if (config.abortEarly) break;
          continue;
        }
        Object.defineProperty(output, name, {
          value: valueRun?.value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      const result = { value: output, typed: issues.length === 0, ...(issues.length ? { issues } : {}) };
      return result as unknown as v.OutputDataset<v.InferOutput<typeof base>, v.RecordIssue>;
    },
  };
}

function list<S extends v.GenericSchema>(item: S, what = "a list") {
  return v.array(item, expected(what));
}

function nonEmptyList<S extends v.GenericSchema>(item: S, what: string) {
  return v.pipe(v.array(item, expected(what)), v.minLength(1, expected(what)));
}

/** A required key: absent or null, it is reported as missing. */
function required<S extends v.GenericSchema>(schema: S) {
  return v.nonNullish(schema, "required key is missing");
}

function text(pattern: RegExp, what: string) {
  return v.pipe(v.string(expected(what)), v.regex(pattern, expected(what)));
}

function positiveInteger(what = "a positive integer") {
  return v.pipe(v.number(expected(what)), v.safeInteger(expected(what)), v.minValue(1, expected(what)));
}

/** A whole number of seconds from `min` to one day. */
function seconds(min: number, max = 86_400) {
  const what = `an integer from ${min} to ${max} (seconds)`;
  return v.pipe(
    v.number(expected(what)),
    v.safeInteger(expected(what)),
    v.minValue(min, expected(what)),
    v.maxValue(max, expected(what)),
  );
}

const boolean = v.boolean(expected("true or false"));

// ---------------------------------------------------------------------------------------
// Shapes of single values
// ---------------------------------------------------------------------------------------

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

const region = text(REGION, 'a region name like "eu-west-1"');
const clusterName = text(CLUSTER_NAME, 'a cluster name (letters, digits, "-", "_", "."; at most 100)');
const glob = text(GLOB, 'a cluster name glob like "prod-*" (letters, digits, "-", "_", ".", "*", "?")');

/**
 * The smallest `notIssuedAfterSeconds`: a healthy signer issues within about a second of the
 * approval (the rig's kube-controller-manager controller does), so 10 s still cannot alert on
 * normal latency, and the alert changes no decision (it is sent once per CSR), so a low value
 * costs at most a spurious alert. It lets the integration test wait for real.
 */
export const NOT_ISSUED_MIN_SECONDS = 10;

export const EXTRA_DNS_PLACEHOLDERS = ["shortName", "privateDnsName", "instanceId", "region", "nodeName"];

const placeholders = (names: readonly string[]): string => names.map((name) => `{{${name}}}`).join(" ");

function extraDnsNameProblem(value: string): string | undefined {
  const known = placeholders(EXTRA_DNS_PLACEHOLDERS);
  let unknownPlaceholder: string | undefined;
  // Substitute a valid label for each placeholder, then the result must be a plain DNS name.
  const sample = value.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_match, name: string) => {
    if (!EXTRA_DNS_PLACEHOLDERS.includes(name)) unknownPlaceholder ??= name;
    return "x";
  });
  if (unknownPlaceholder !== undefined)
    return `unknown placeholder {{${unknownPlaceholder}}} (known: ${known})`;
  const name = sample.toLowerCase().replace(/\.$/, "");
  if (name.length > 253 || !name.split(".").every((label) => DNS_LABEL.test(label)))
    return expectedText(EXTRA_DNS_NAME, value);
  // Without a per-instance part every instance would own the name, so any node could get it.
  const perInstance = ["shortName", "privateDnsName", "instanceId", "nodeName"];
  if (!perInstance.some((placeholder) => new RegExp(`\\{\\{\\s*${placeholder}\\s*\\}\\}`).test(value))) {
    return `${JSON.stringify(value)} names no instance: use one of {{shortName}} {{privateDnsName}} {{instanceId}} {{nodeName}}, or every node could claim it`;
  }
  return undefined;
}
const EXTRA_DNS_NAME = `a DNS name template like "{{shortName}}.corp.example.com" (placeholders: ${placeholders(EXTRA_DNS_PLACEHOLDERS)}; no wildcards)`;
const extraDnsName = v.pipe(v.string(expected(EXTRA_DNS_NAME)), rule(extraDnsNameProblem));

const NODE_NAME_TEMPLATE = 'a node name template like "{{tag:Name}}" or "{{shortName}}.corp.example.com"';
const nodeNameTemplate = v.pipe(
  v.string(expected(NODE_NAME_TEMPLATE)),
  v.nonEmpty(expected(NODE_NAME_TEMPLATE)),
  rule((value: string) => {
    const parsed = parseNodeNameTemplate(value);
    return parsed.ok ? undefined : parsed.problem;
  }),
);

const TAG_KEY = 'a tag key like "kubernetes.io/cluster/{{cluster}}"';
const tagKey = v.pipe(
  v.string(expected(TAG_KEY)),
  v.check((key) => key.trim() !== "", expected(TAG_KEY)),
  v.maxLength(128, expected("a tag key of at most 128 characters")),
  rule((key: string) => {
    const placeholder = /\{\{\s*([^}]*?)\s*\}\}/.exec(key.replaceAll("{{cluster}}", ""));
    return placeholder ? `unknown placeholder {{${placeholder[1]}}} (known: {{cluster}})` : undefined;
  }),
);

// ---------------------------------------------------------------------------------------
// Nodes outside EC2: static rules never reach EC2's space (security review, finding 4): no
// pattern or template that could name something in EC2's DNS domains, no range in
// IPv4-mapped IPv6.
// ---------------------------------------------------------------------------------------

const NODE_NAME_PATTERN =
  'a node name pattern like "onprem-*" (lower-case letters, digits, "-", ".", "*", "?"; at least one literal character)';
const nonEc2NodeName = v.pipe(
  v.string(expected(NODE_NAME_PATTERN)),
  v.regex(NODE_NAME_PATTERN_SYNTAX, expected(NODE_NAME_PATTERN)),
  v.check((pattern) => /[a-z0-9.-]/.test(pattern), expected(NODE_NAME_PATTERN)),
  rule((pattern: string) => {
    const domain = ec2DomainReachedBy(pattern);
    return domain === undefined
      ? undefined
      : `${JSON.stringify(pattern)} can match names in EC2's DNS domain ${domain}: EC2's nodes are checked against EC2, never by static rules`;
  }),
);

const CIDR = 'an IPv4 or IPv6 prefix like "192.168.10.0/24" or "fd00:10::/64" (no host bits set)';
const nonEc2Range = v.pipe(
  v.string(expected(CIDR)),
  v.rawTransform<string, string>(({ dataset, addIssue, NEVER }) => {
    const cidr = parseCidr(dataset.value);
    if (!cidr) addIssue({ message: expectedText(CIDR, dataset.value) });
    else if (cidr.length === 0) addIssue({ message: `${cidr.text} would allow every address` });
    else if (overlapsIpv4Mapped(cidr)) {
      addIssue({
        message: `${cidr.text} overlaps ${IPV4_MAPPED_PREFIX} (IPv4-mapped IPv6): a certificate carries those as IPv4 addresses, EC2's space`,
      });
    } else return cidr.text;
    return NEVER;
  }),
);

const NON_EC2_DNS_NAME = `a DNS name template like "{{shortName}}.dc1.example.com" (placeholders: ${placeholders(NON_EC2_DNS_PLACEHOLDERS)}; no wildcards)`;
const nonEc2DnsName = v.pipe(
  v.string(expected(NON_EC2_DNS_NAME)),
  rule((value: string) => {
    const known = placeholders(NON_EC2_DNS_PLACEHOLDERS);
    let unknownPlaceholder: string | undefined;
    let count = 0;
    const sample = value.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_match, name: string) => {
      if (!NON_EC2_DNS_PLACEHOLDERS.includes(name)) unknownPlaceholder ??= name;
      count++;
      return "x";
    });
    if (unknownPlaceholder !== undefined)
      return `unknown placeholder {{${unknownPlaceholder}}} (known: ${known})`;
    const name = sample.toLowerCase().replace(/\.$/, "");
    if (name.length > 253 || !name.split(".").every((label) => DNS_LABEL.test(label)))
      return expectedText(NON_EC2_DNS_NAME, value);
    // A literal name would be allowed to every node that matches the patterns.
    if (count === 0)
      return `${JSON.stringify(value)} names no node: use ${known}, or every such node could claim it`;
    return undefined;
  }),
);

const NonEc2NodesSchema = field(
  v.pipe(
    object(
      {
        nodeNames: field(
          nonEmptyList(nonEc2NodeName, 'a non-empty list of node name patterns like ["onprem-*"]'),
          "Node names the rules apply to, e.g. `onprem-*`; `*` (any run) and `?` (one character) stay within one DNS label.",
          { type: "non-empty list of node name patterns" },
        ),
        ipRanges: field(
          nonEmptyList(nonEc2Range, 'a non-empty list of prefixes like ["192.168.10.0/24"]'),
          "Every IP SAN must lie in one of these IPv4/IPv6 prefixes (on EKS also in the cluster's remote node networks). Must not overlap any VPC.",
          { type: "non-empty list of CIDRs" },
        ),
        dnsNames: v.optional(
          field(
            list(nonEc2DnsName),
            "The DNS SANs allowed, derived from the node name: `{{nodeName}}`, `{{shortName}}` (its first label), e.g. `{{shortName}}.dc1.example.com`.",
            { type: "list of DNS name templates", default: "no DNS names" },
          ),
          () => [],
        ),
      },
      { whenNull: "an object (omit the key for no rules)", presentFirst: true },
    ),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const rules = dataset.value;
      rules.dnsNames.forEach((template, index) => {
        const domain = ec2DomainReachedByTemplate(template, rules.nodeNames);
        if (domain === undefined) return;
        const path: [v.ObjectPathItem, v.ArrayPathItem] = [
          { type: "object", origin: "value", input: rules, key: "dnsNames", value: rules.dnsNames },
          { type: "array", origin: "value", input: rules.dnsNames, key: index, value: template },
        ];
        addIssue({
          message: `${JSON.stringify(template)} can expand to names in EC2's DNS domain ${domain} (for nodes matching its nodeNames): static rules never certify EC2's names`,
          path,
        });
      });
    }),
  ),
  "Opt-in static rules for nodes that are not EC2 instances (on-premises, EKS Hybrid Nodes); weaker than the EC2 check, see docs/policy.md. Used only when EC2 knows neither the node name nor any requested IP. Per cluster, `null` removes a default rule set.",
  { type: "object", default: "none" },
);

const ClusterTagSchema = field(
  object(
    {
      key: field(
        tagKey,
        "Tag key; `{{cluster}}` expands to the cluster name, e.g. `kubernetes.io/cluster/{{cluster}}`.",
        { type: "string" },
      ),
      values: v.optional(
        field(
          nonEmptyList(
            v.string(expected("a string")),
            "a non-empty list of tag values (omit the key to accept any value)",
          ),
          "Accepted tag values; absent: the key alone suffices.",
          { type: "non-empty list of strings", default: "any value" },
        ),
      ),
    },
    { whenNull: "an object (omit the key for no tag check)" },
  ),
  "When set, an instance must also carry this tag to belong to the cluster. Per cluster, `null` removes a default tag.",
  { type: "object", default: "none" },
);

// ---------------------------------------------------------------------------------------
// Policy settings: `defaults`, overridden per cluster
// ---------------------------------------------------------------------------------------

/**
 * The settings with their defaults (`defaults`); a cluster's entry may override each. In the
 * order the merged settings have always had (the optional rule sets last).
 */
const SETTINGS = {
  mode: v.optional(
    field(
      v.picklist(["enforce", "dry-run"], expected('"enforce" or "dry-run"')),
      "`dry-run` decides and alerts but writes nothing to the cluster.",
      { type: "`enforce` \\| `dry-run`" },
    ),
    "enforce",
  ),
  deny: v.optional(
    field(boolean, "`false`: leave failing CSRs pending and alert once instead of denying them.", {
      type: "boolean",
    }),
    true,
  ),
  pendingGraceSeconds: v.optional(
    field(
      positiveInteger(),
      "How long a CSR whose instance is not visible yet (or still `pending`) waits before it is denied.",
      { type: "positive integer" },
    ),
    900,
  ),
  maxExpirationSeconds: v.optional(
    field(positiveInteger(), "Largest `spec.expirationSeconds` a CSR may ask for (367 days).", {
      type: "positive integer",
    }),
    31_708_800,
  ),
  extraDnsNames: v.optional(
    field(
      list(extraDnsName),
      "More DNS names an instance owns, e.g. `{{shortName}}.corp.example.com`. Placeholders: `{{shortName}}`, `{{privateDnsName}}`, `{{instanceId}}`, `{{region}}`, `{{nodeName}}`. No wildcards.",
      { type: "list of DNS name templates" },
    ),
    () => [],
  ),
  nodeNameTemplates: v.optional(
    field(
      list(nodeNameTemplate),
      "More names a node may have, over EC2 facts: node N is instance X when N equals a template expanded for X, e.g. `{{tag:Name}}` (kubespray inventory names) or `{{shortName}}.corp.example.com` (a custom DHCP domain). Placeholders: `{{privateDnsName}}`, `{{shortName}}`, `{{instanceId}}`, `{{region}}`, `{{tag:KEY}}`; each template needs one that differs per instance. Only live instances of the cluster's VPCs (and tag) match; a name two instances produce is `IDENTITY_CONFLICT`. `{{tag:KEY}}` trusts whoever may write that tag: see docs/policy.md.",
      { type: "list of node name templates" },
    ),
    () => [],
  ),
  trustNodeProviderId: v.optional(
    field(
      boolean,
      "Identify the instance from the Node's `spec.providerID` when the node name matches none. The kubelet writes that field itself: leave off unless node names cannot match.",
      { type: "boolean" },
    ),
    false,
  ),
  maxApprovalsPerSweep: v.optional(
    field(
      v.union(
        [v.literal("auto"), positiveInteger('a positive integer or "auto"')],
        expected('a positive integer or "auto"'),
      ),
      "Cluster-wide flood guard: beyond this many approvals in one cluster and sweep (event mode: budget period), approve nothing more and alert. `auto`: the larger of 100 and a quarter of the cluster's nodes: a rotation of every node takes ≤ 4 sweeps.",
      { type: "positive integer \\| `auto`" },
    ),
    "auto",
  ),
  maxPendingPerNode: v.optional(
    field(
      positiveInteger(),
      "Per-node flood guard: only a node's newest this many pending CSRs are examined in a sweep (event mode: budget period); a node with more trips its own guard (one alert naming it), never another node's approvals.",
      { type: "positive integer" },
    ),
    20,
  ),
  maxAlertsPerSweep: v.optional(
    field(
      positiveInteger(),
      "Alerts per cluster and sweep (event mode: budget period); one summary alert (node requesters first, with their reason codes) covers the rest.",
      { type: "positive integer" },
    ),
    20,
  ),
  alertRepeatWindowSeconds: v.optional(
    field(
      seconds(60),
      "A node denied again for the same reasons and requested names/addresses alerts once per window; the next alert after it carries the count. The history is read from the cluster's CSRs (kube-controller-manager deletes denied ones after 1 hour).",
      { type: "integer 60–86400" },
    ),
    3600,
  ),
  notIssuedAfterSeconds: v.optional(
    field(
      seconds(NOT_ISSUED_MIN_SECONDS),
      "A CSR the approver approved that still has no certificate this long after the approval raises one `not-issued` alert (the signer is down or stuck). kube-controller-manager issues within about a second.",
      { type: `integer ${NOT_ISSUED_MIN_SECONDS}–86400` },
    ),
    600,
  ),
  audit: v.optional(
    field(
      boolean,
      "Audit approvals made by others: the same policy decides each on current EC2 facts; one it would not approve raises one `approved-elsewhere` alert, nothing is written to it. Also checks the certificates issued for our own approvals.",
      { type: "boolean" },
    ),
    true,
  ),
  auditWindowSeconds: v.optional(
    field(
      seconds(60),
      "The audit looks only at CSRs created, approved or issued within this many seconds (at most 5,000 per cluster and sweep, oldest first; the rest the next sweep).",
      { type: "integer 60–86400" },
    ),
    3600,
  ),
  nonNodeRequests: v.optional(
    field(
      v.picklist(["deny", "ignore"], expected('"deny" or "ignore"')),
      "CSRs whose requester is not a node (`NOT_A_NODE`): `deny` them, or `ignore` them (skip: no write, no alert) where other automation creates kubelet-serving CSRs.",
      { type: "`deny` \\| `ignore`" },
    ),
    "deny",
  ),
  clusterTag: v.optional(ClusterTagSchema),
  nonEc2Nodes: v.optional(NonEc2NodesSchema),
};

type Overridable<S extends Record<string, v.OptionalSchema<v.GenericSchema, unknown>>> = {
  [K in keyof S]: v.OptionalSchema<S[K]["wrapped"], undefined>;
};

function overridable<S extends Record<string, v.OptionalSchema<v.GenericSchema, unknown>>>(
  settings: S,
): Overridable<S> {
  return Object.fromEntries(
    Object.entries(settings).map(([key, setting]) => [key, v.optional(setting.wrapped)]),
  ) as Overridable<S>;
}

const { clusterTag: _tag, nonNodeRequests, nonEc2Nodes: _rules, ...PLAIN_OVERRIDES } = overridable(SETTINGS);

/**
 * The settings a cluster's entry may carry: no defaults (absent: `defaults` applies), and
 * `null` removes a default tag check or rule set. In the order a cluster's overrides have
 * always had.
 */
export const OVERRIDE_ENTRIES = {
  ...PLAIN_OVERRIDES,
  clusterTag: v.optional(v.nullable(ClusterTagSchema)),
  nonNodeRequests,
  nonEc2Nodes: v.optional(v.nullable(NonEc2NodesSchema)),
};

export const OverridesSchema = field(
  object(OVERRIDE_ENTRIES),
  "Any key of `defaults`, overriding it for this cluster.",
  {
    type: "as in `defaults`",
    default: "`defaults.<setting>`",
    settings: true,
  },
);

const DefaultsSchema = object(SETTINGS);

// ---------------------------------------------------------------------------------------
// Self-managed clusters
// ---------------------------------------------------------------------------------------

const ENDPOINT = 'an https URL like "https://10.0.0.10:6443"';
const endpoint = v.pipe(
  v.string(expected(ENDPOINT)),
  v.rawTransform<string, string>(({ dataset, addIssue, NEVER }) => {
    let url: URL | undefined;
    try {
      url = new URL(dataset.value);
    } catch {
      url = undefined;
    }
    if (
      !url ||
      url.protocol !== "https:" ||
      url.hostname === "" ||
      url.username ||
      url.password ||
      url.search ||
      url.hash
    ) {
      addIssue({ message: expectedText(ENDPOINT, dataset.value) });
      return NEVER;
    }
    return dataset.value.replace(/\/+$/, "");
  }),
);

const CA_DATA = "base64 of a PEM CA certificate (kubeconfig certificate-authority-data) or the PEM itself";
/** Normalised to base64 of the PEM with a final newline, whichever form was given. */
const caData = v.pipe(
  v.string(expected(CA_DATA)),
  v.rawTransform<string, string>(({ dataset, addIssue, NEVER }) => {
    const trimmed = dataset.value.trim();
    const pem = trimmed.startsWith("-----BEGIN")
      ? trimmed
      : /^[A-Za-z0-9+/=\s]+$/.test(trimmed)
        ? Buffer.from(trimmed.replace(/\s+/g, ""), "base64").toString("utf8")
        : "";
    if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(pem)) {
      addIssue({ message: expectedText(CA_DATA, "[not a PEM certificate]") }); // never echo key material
      return NEVER;
    }
    return Buffer.from(pem.endsWith("\n") ? pem : `${pem}\n`, "utf8").toString("base64");
  }),
);

const SSM_PARAMETER = 'an SSM parameter name like "/csr-approver/my-cluster/token" or its ARN';
const ssmParameter = v.pipe(
  v.string(expected(SSM_PARAMETER)),
  v.maxLength(2048, expected(SSM_PARAMETER)),
  v.check(
    (parameter) =>
      (SSM_PARAMETER_NAME.test(parameter) || SSM_PARAMETER_ARN.test(parameter)) &&
      !/^\/?aws|^\/?ssm/i.test(parameter),
    expected(SSM_PARAMETER),
  ),
);

/** One of several keys, as a union the shell narrows with `in`. */
type OneOf<T> = { [K in keyof T]-?: { [P in K]-?: Exclude<T[P], undefined> } }[keyof T];

/** The one key given (the `before` rule saw to it that there is exactly one). */
function theOne<T extends Record<string, unknown>>(choices: T): OneOf<T> {
  const key = Object.keys(choices).find((name) => choices[name] !== undefined) ?? "";
  return { [key]: choices[key] } as OneOf<T>;
}

const CredentialSchema = field(
  v.pipe(
    object(
      {
        secretsManager: v.optional(
          field(
            text(
              SECRET_ARN,
              'a Secrets Manager secret ARN like "arn:aws:secretsmanager:eu-west-1:123456789012:secret:name"',
            ),
            "`arn:aws:secretsmanager:<region>:<account>:secret:<name>`.",
            { type: "Secrets Manager secret ARN", default: "—" },
          ),
        ),
        ssmParameter: v.optional(
          field(ssmParameter, "A SecureString parameter, e.g. `/csr-approver/kubeadm-lab/token`.", {
            type: "SSM parameter name or ARN",
            default: "—",
          }),
        ),
        awsIamAuthenticator: v.optional(
          field(
            object({
              clusterId: required(
                field(
                  text(
                    AUTHENTICATOR_CLUSTER_ID,
                    'the authenticator\'s cluster ID like "lab.k8s.example.com" (letters, digits, "-", "_", "."; at most 253)',
                  ),
                  "The authenticator's cluster ID (its `clusterID` setting; kops: the cluster name), signed into every token as `x-k8s-aws-id`.",
                  { type: "string" },
                ),
              ),
            }),
            "The cluster runs aws-iam-authenticator (kops, kubespray): the approver presents an EKS-style token signed with its own IAM role, so no token is stored. Map the approver role in the authenticator's config.",
            { type: "object", default: "—" },
          ),
        ),
      },
      {
        before: (input) =>
          Object.values(input).filter((value) => value !== undefined).length === 1
            ? undefined
            : "expected exactly one of secretsManager, ssmParameter or awsIamAuthenticator",
      },
    ),
    v.transform(theOne),
  ),
  "How the approver authenticates: exactly one of the keys below. With a secret, its value is the bearer token.",
  { type: "object" },
);

const SelfManagedSchema = v.pipe(
  object({
    name: required(
      field(
        clusterName,
        "Unique cluster name (letters, digits, `-`, `_`, `.`), used in alerts and `{{cluster}}`.",
        {
          type: "string",
        },
      ),
    ),
    region: required(field(region, "Region of the cluster's instances.", { type: "region name" })),
    endpoint: required(
      field(endpoint, "API server URL, e.g. `https://10.0.0.10:6443`.", { type: "https URL" }),
    ),
    caData: required(
      field(
        caData,
        "The API server's CA bundle: base64 of the PEM (as kubeconfig `certificate-authority-data`) or the PEM itself.",
        { type: "string" },
      ),
    ),
    credential: required(CredentialSchema),
    vpcIds: required(
      field(
        nonEmptyList(
          text(VPC_ID, 'a VPC ID like "vpc-0abc1234def567890"'),
          'a non-empty list of VPC IDs like "vpc-0abc1234def567890"',
        ),
        "An instance belongs to the cluster only when it is in one of these VPCs.",
        { type: "non-empty list of VPC IDs" },
      ),
    ),
    ...OVERRIDE_ENTRIES,
  }),
  v.transform(({ name, region, endpoint, caData, credential, vpcIds, ...overrides }) => ({
    name,
    region,
    endpoint,
    caData,
    credential,
    vpcIds,
    overrides,
  })),
);

// ---------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------

const SEE_BELOW = { type: "object", default: "see below" };

export const ConfigSchema = v.pipe(
  object({
    regions: v.optional(
      field(
        v.pipe(
          list(region),
          rule((regions: string[]) =>
            new Set(regions).size === regions.length ? undefined : "lists a region twice",
          ),
        ),
        "Regions where EKS discovery runs. Self-managed clusters name their own region.",
        { type: "list of region names", default: "the approver's own region" },
      ),
      () => [],
    ),
    defaults: v.nullish(
      field(
        DefaultsSchema,
        "Per-cluster policy settings; every cluster may override any of them.",
        SEE_BELOW,
      ),
      () => ({}),
    ),
    eks: v.nullish(
      field(
        object({
          discovery: v.optional(
            field(boolean, "List the EKS clusters of every region in `regions` and sweep those that match.", {
              type: "boolean",
            }),
            true,
          ),
          include: v.optional(
            field(
              list(glob),
              "A discovered cluster is swept when its name matches one of these (`*` and `?` wildcards).",
              { type: "list of name globs" },
            ),
            () => ["*"],
          ),
          exclude: v.optional(
            field(list(glob), "…and matches none of these.", { type: "list of name globs" }),
            () => [],
          ),
          tags: v.optional(
            field(
              map(
                v.string(),
                v.string(expected("a string (quote numbers and booleans)")),
                "a map of tag key to value",
              ),
              "…and carries every one of these tags with exactly this value.",
              { type: "map of string to string" },
            ),
            () => ({}),
          ),
          clusters: v.optional(
            field(
              map(
                clusterName,
                v.nullish(OverridesSchema, () => ({})),
                "a map of cluster name to settings",
              ),
              "Overrides of `defaults` for named EKS clusters.",
              { type: "map of cluster name to settings" },
            ),
            () => ({}),
          ),
        }),
        "EKS cluster discovery.",
        SEE_BELOW,
      ),
      () => ({}),
    ),
    selfManaged: v.nullish(
      field(
        v.pipe(
          list(SelfManagedSchema),
          v.rawCheck(({ dataset, addIssue }) => {
            if (!dataset.typed) return;
            const seen = new Set<string>();
            dataset.value.forEach((cluster, index) => {
              if (seen.has(cluster.name)) {
                const path: [v.ArrayPathItem, v.ObjectPathItem] = [
                  { type: "array", origin: "value", input: dataset.value, key: index, value: cluster },
                  { type: "object", origin: "value", input: cluster, key: "name", value: cluster.name },
                ];
                addIssue({ message: `"${cluster.name}" is used by an earlier cluster`, path });
              }
              seen.add(cluster.name);
            });
          }),
        ),
        "Clusters on EC2 not run by EKS (kubeadm, kubespray, …).",
        { type: "list of objects" },
      ),
      () => [],
    ),
    sweep: v.nullish(
      field(
        object({
          concurrency: v.optional(
            field(positiveInteger(), "Clusters swept at the same time.", { type: "positive integer" }),
            4,
          ),
          watchWindowSeconds: v.optional(
            field(positiveInteger(), "Event mode: how long to watch for new CSRs after an instance starts.", {
              type: "positive integer",
            }),
            180,
          ),
          minRemainingMillis: v.optional(
            field(positiveInteger(), "Start no new cluster when the Lambda has less time than this left.", {
              type: "positive integer",
            }),
            10_000,
          ),
          continuousWatch: v.optional(
            field(
              boolean,
              "Every scheduled invocation keeps watching until shortly before the next one, so every CSR (renewals too) is decided within about a second. Costs about 60× the Lambda time of the default: see docs/deployment.md.",
              { type: "boolean" },
            ),
            false,
          ),
          describeInstancesPerSecond: v.optional(
            field(
              positiveInteger(),
              "Share of EC2's DescribeInstances bucket (per account and region: burst 100, refill 20/s, shared with other tools), calls a second: at most `describeInstancesBurst + this × t` in any t seconds. Halved on throttling, grown back (AIMD): docs/deployment.md.",
              { type: "positive integer" },
            ),
            5,
          ),
          describeInstancesBurst: v.optional(
            field(
              positiveInteger(),
              "The size of the approver's bucket: calls that may go at once before the rate applies (a burst of new nodes is looked up without waiting).",
              { type: "positive integer" },
            ),
            20,
          ),
        }),
        "How a sweep runs.",
        SEE_BELOW,
      ),
      () => ({}),
    ),
  }),
  v.title("csr-approver configuration"),
);

// ---------------------------------------------------------------------------------------
// Types and defaults, from the schema
// ---------------------------------------------------------------------------------------

export type Config = v.InferOutput<typeof ConfigSchema>;
export type EksConfig = Config["eks"];
export type SweepConfig = Config["sweep"];
export type SelfManagedCluster = Config["selfManaged"][number];
/**
 * How the approver authenticates to a self-managed cluster: a bearer token stored in Secrets
 * Manager or SSM (the secret value is the token itself), or an aws-iam-authenticator token
 * (the EKS token format, presigned with the approver's own IAM role: nothing stored).
 */
export type CredentialSource = SelfManagedCluster["credential"];
/** Per-cluster overrides of `defaults`; `clusterTag: null` turns a default tag check off. */
export type ClusterOverrides = v.InferOutput<typeof OverridesSchema>;

/** Every setting's default (the policy's input type is core/types.ts's ClusterPolicySettings). */
export const DEFAULT_SETTINGS: ClusterPolicySettings = Object.freeze(v.parse(DefaultsSchema, {}));
export const DEFAULT_SWEEP: SweepConfig = Object.freeze(v.parse(ConfigSchema, {}).sweep);
