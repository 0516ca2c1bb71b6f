// The configuration document (SPEC §5): loading it through the one schema (config-schema.ts)
// and turning the first problem into one line that names the key path; merging a cluster's
// settings over `defaults`. Pure: parsing YAML/JSON and reading files or SSM happen in the
// shell.
import * as v from "valibot";
import { ConfigSchema, describeValue, type ClusterOverrides, type Config } from "./config-schema.js";
import type { ClusterPolicySettings } from "./types.js";

export {
  DEFAULT_SETTINGS,
  DEFAULT_SWEEP,
  EXTRA_DNS_PLACEHOLDERS,
  NOT_ISSUED_MIN_SECONDS,
  isRegionName,
  isVpcId,
  type ClusterOverrides,
  type Config,
  type CredentialSource,
  type EksConfig,
  type SelfManagedCluster,
  type SweepConfig,
} from "./config-schema.js";
// The EKS cluster filters (`eks.include`, `eks.exclude`) are the configuration's globs.
export { globMatch } from "./glob.js";

export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(path ? `config: ${path}: ${problem}` : `config: ${problem}`);
    this.name = "ConfigError";
  }
}

/** `selfManaged[0].credential.ssmParameter`: object keys joined by dots, list indexes in brackets. */
function keyPath(issue: v.BaseIssue<unknown>): string {
  return (issue.path ?? []).reduce<string>((path, item) => {
    const key: unknown = item.key;
    if (typeof key === "number") return `${path}[${key}]`;
    return path ? `${path}.${String(key)}` : String(key);
  }, "");
}

/** The one-line problem of an issue: every field of the schema carries its own text. */
function problemOf(issue: v.BaseIssue<unknown>): string {
  // A strict object's own key issues: a required key absent, or (never reached: object()
  // refuses unknown keys first) one it does not know.
  if (issue.type === "strict_object" && issue.kind === "schema") {
    return issue.expected === "never" ? "unknown key" : "required key is missing";
  }
  return issue.message;
}

/** Validates a parsed YAML/JSON document; `null`/`undefined` (an empty file) means all defaults. */
export function parseConfig(doc: unknown): Config {
  const result = v.safeParse(ConfigSchema, doc ?? {}, {
    abortEarly: true,
    // Only reached by a schema without its own text: still one line naming the key.
    message: (issue) => `expected ${issue.expected ?? "another value"}, got ${describeValue(issue.input)}`,
  });
  if (result.success) return result.output;
  const [issue] = result.issues;
  throw new ConfigError(keyPath(issue), problemOf(issue));
}

/** `defaults` ← a cluster's overrides: absent keys keep the default, `null` removes a tag or rule set. */
function applyOverrides(base: ClusterPolicySettings, overrides: ClusterOverrides): ClusterPolicySettings {
  const { clusterTag, nonEc2Nodes, ...rest } = overrides;
  const merged: ClusterPolicySettings = { ...base, ...rest }; // the schema leaves absent keys out
  if (clusterTag === null) delete merged.clusterTag;
  else if (clusterTag !== undefined) merged.clusterTag = clusterTag;
  if (nonEc2Nodes === null) delete merged.nonEc2Nodes;
  else if (nonEc2Nodes !== undefined) merged.nonEc2Nodes = nonEc2Nodes;
  return merged;
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
