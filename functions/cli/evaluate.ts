// `csr-approver evaluate` (SPEC §8): the pure policy run offline on kubectl and AWS CLI dumps.
// Nothing here may reach the network: only core/ and local files.
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import {
  ConfigError,
  DEFAULT_SETTINGS,
  isRegionName,
  isVpcId,
  parseConfig,
  settingsForCluster,
  type Config,
} from "../core/config.js";
import { auditOne } from "../core/audit.js";
import { checkIssuedCertificate } from "../core/certificate.js";
import { decide } from "../core/policy.js";
import { parseCertificateRequest } from "../core/request.js";
import type {
  ClusterFacts,
  ClusterPolicySettings,
  CsrObject,
  Decision,
  Ec2Instance,
  NodeObject,
} from "../core/types.js";
import {
  PROGRAM,
  UsageError,
  formatHelp,
  parseCommandArgs,
  stringListOption,
  stringOption,
  type CliIo,
  type CommandSpec,
} from "./args.js";
import { formatJsonLine, formatTable } from "./format.js";
import { csrsFrom, instancesFrom, nodesFrom, parseDocuments, readText, type InputSource } from "./inputs.js";

export const evaluateCommand: CommandSpec = {
  name: "evaluate",
  summary: "Decide kubelet-serving CSRs offline from kubectl and AWS CLI output. Never contacts the network.",
  usage:
    "evaluate --csr FILE|- --instances FILE [--node FILE] [--cluster-vpc VPC]… [--now RFC3339] [--config FILE] [--cluster NAME] [--eks] [--region REGION] [--output json|table]",
  options: {
    csr: {
      type: "string",
      valueName: "FILE|-",
      description:
        "CertificateSigningRequest(s), JSON or YAML, as `kubectl get csr -o json` prints (- for stdin).",
    },
    instances: {
      type: "string",
      valueName: "FILE|-",
      description: "EC2 instances as `aws ec2 describe-instances` prints them, JSON or YAML.",
    },
    node: {
      type: "string",
      valueName: "FILE|-",
      description: "Node object(s) as `kubectl get node -o json` prints, for the providerID cross-check.",
    },
    "cluster-vpc": {
      type: "string",
      multiple: true,
      valueName: "VPC",
      description: "A VPC of the cluster, e.g. vpc-0abc1234def567890.",
    },
    now: {
      type: "string",
      valueName: "RFC3339",
      description: "Evaluation time, e.g. 2026-01-01T00:10:00Z (default: now).",
    },
    config: {
      type: "string",
      valueName: "FILE",
      description:
        "Configuration file (YAML or JSON) for the cluster's settings (default: built-in defaults).",
    },
    cluster: {
      type: "string",
      valueName: "NAME",
      description: "Cluster name: selects its settings, VPCs and region from --config.",
    },
    eks: {
      type: "boolean",
      description:
        "The cluster is EKS: the CSR's IAM session name may identify the instance on its own (on every cluster kind it vetoes a mismatch).",
    },
    region: {
      type: "string",
      valueName: "REGION",
      description: "The cluster's region (default: from --config, else the instances' availability zones).",
    },
    output: {
      type: "string",
      valueName: "json|table",
      description: "json: one object per CSR per line (default); table: aligned columns.",
    },
  },
  details: `Exit status: 0 whatever the decisions; 2 when an argument or input file is wrong (one line on stderr).

Example:
  ${PROGRAM} evaluate --csr test/fixtures/csrs.json --instances test/fixtures/instances.json \\
    --node test/fixtures/nodes.json --cluster-vpc vpc-0a1b2c3d4e5f67890 --now 2026-01-01T00:05:00Z --output table`,
};

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const REGION_OF_ZONE = /^([a-z]{2}(?:-[a-z]+)+-\d{1,2})[a-z]?(?:-|$)/;

function usage(message: string): UsageError {
  return new UsageError(`${PROGRAM} evaluate: ${message} (see ${PROGRAM} evaluate --help)`);
}

function parseNow(text: string | undefined): Date {
  if (text === undefined) return new Date();
  const date = new Date(text.toUpperCase().replace(" ", "T"));
  if (!RFC3339.test(text) || Number.isNaN(date.getTime())) {
    throw usage(`--now '${text}': expected an RFC 3339 time like 2026-01-01T00:10:00Z`);
  }
  return date;
}

async function loadConfig(path: string): Promise<Config> {
  const source = `${PROGRAM}: --config ${path}`;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new UsageError(
      `${source}: ${code === "ENOENT" ? "no such file" : `cannot read (${code ?? "error"})`}`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    const reason = error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
    throw new UsageError(`${source}: is neither JSON nor YAML (${reason})`);
  }
  try {
    return parseConfig(doc);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new UsageError(`${source}: ${error.path ? `${error.path}: ` : ""}${error.problem}`);
    }
    throw error;
  }
}

/** The region every instance's availability zone is in, when they agree. */
function regionOfInstances(instances: Ec2Instance[]): string[] {
  const regions = new Set<string>();
  for (const instance of instances) {
    const zone = instance.Placement?.AvailabilityZone;
    const region = typeof zone === "string" ? REGION_OF_ZONE.exec(zone)?.[1] : undefined;
    if (region) regions.add(region);
  }
  return [...regions].sort();
}

interface Context {
  cluster: ClusterFacts;
  settings: ClusterPolicySettings;
  warnings: string[];
}

function clusterContext(
  values: { clusterName?: string; eks: boolean; region?: string; vpcIds: string[] },
  config: Config | undefined,
  instances: Ec2Instance[],
): Context {
  const warnings: string[] = [];
  const name = values.clusterName ?? "cluster";
  const selfManaged = config?.selfManaged.find((cluster) => cluster.name === name);
  const namedEks = config !== undefined && Object.hasOwn(config.eks.clusters, name);
  if (values.eks && selfManaged) {
    throw usage(`--eks: cluster '${name}' is configured under selfManaged`);
  }
  const kind = values.eks || (namedEks && !selfManaged) ? "eks" : "self-managed";

  let region = values.region ?? selfManaged?.region;
  if (region === undefined) {
    const seen = regionOfInstances(instances);
    if (seen.length > 1)
      throw usage(`the instances are in several regions (${seen.join(", ")}): pass --region`);
    region = seen[0] ?? "";
  }

  const vpcIds = values.vpcIds.length > 0 ? values.vpcIds : (selfManaged?.vpcIds ?? []);
  if (vpcIds.length === 0) {
    // Never guess the VPC from the instances: they are what is being checked.
    warnings.push(
      `${PROGRAM} evaluate: warning: no cluster VPC given (--cluster-vpc, or --config with --cluster naming a selfManaged cluster): no instance can be shown to belong to the cluster`,
    );
  }

  const settings = config
    ? settingsForCluster(config, name, kind)
    : { ...DEFAULT_SETTINGS, extraDnsNames: [...DEFAULT_SETTINGS.extraDnsNames] };
  return { cluster: { name, kind, region, vpcIds: [...vpcIds] }, settings, warnings };
}

export async function runEvaluate(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommandArgs(evaluateCommand, argv);
  if (values.help) {
    io.stdout(formatHelp(evaluateCommand));
    return 0;
  }

  const csrPath = stringOption(values, "csr");
  const instancesPath = stringOption(values, "instances");
  const nodePath = stringOption(values, "node");
  if (csrPath === undefined) throw usage("missing --csr FILE|-");
  if (instancesPath === undefined) throw usage("missing --instances FILE|-");
  const stdinFlags = [
    ["--csr", csrPath],
    ["--instances", instancesPath],
    ["--node", nodePath],
  ].filter(([, path]) => path === "-");
  if (stdinFlags.length > 1)
    throw usage(
      `only one input can be read from stdin (${stdinFlags.map(([flag]) => `${flag} -`).join(", ")})`,
    );

  const output = stringOption(values, "output") ?? "json";
  if (output !== "json" && output !== "table") throw usage(`--output '${output}': expected json or table`);
  const now = parseNow(stringOption(values, "now"));
  const vpcIds = stringListOption(values, "cluster-vpc");
  for (const vpc of vpcIds) {
    if (!isVpcId(vpc)) throw usage(`--cluster-vpc '${vpc}': expected a VPC ID like vpc-0abc1234def567890`);
  }
  const region = stringOption(values, "region");
  if (region !== undefined && !isRegionName(region)) {
    throw usage(`--region '${region}': expected a region name like eu-west-1`);
  }
  const configPath = stringOption(values, "config");
  const clusterName = stringOption(values, "cluster");

  const config = configPath === undefined ? undefined : await loadConfig(configPath);

  const csrSource: InputSource = { flag: "--csr", path: csrPath };
  const csrs = csrsFrom(csrSource, parseDocuments(csrSource, await readText(csrSource, io)));
  const instancesSource: InputSource = { flag: "--instances", path: instancesPath };
  const instances = instancesFrom(
    instancesSource,
    parseDocuments(instancesSource, await readText(instancesSource, io)),
  );
  let nodes: NodeObject[] = [];
  if (nodePath !== undefined) {
    const nodeSource: InputSource = { flag: "--node", path: nodePath };
    nodes = nodesFrom(nodeSource, parseDocuments(nodeSource, await readText(nodeSource, io)));
  }

  const context = clusterContext(
    { clusterName, eks: values.eks === true, region, vpcIds },
    config,
    instances,
  );
  for (const warning of context.warnings) io.stderr(`${warning}\n`);

  const decideNow = (csr: CsrObject): Decision =>
    decide({
      csr,
      parsed: parseCertificateRequest(csr.spec.request),
      instances,
      nodes,
      cluster: context.cluster,
      settings: context.settings,
      now,
    });
  const decisions: Decision[] = csrs.map(decideNow);
  // Decided CSRs: the audit the sweep makes of approvals made elsewhere (and of our own
  // issued certificates), without its memory of earlier sweeps.
  const audits = csrs.map((csr) =>
    auditOne(
      csr,
      {
        now,
        windowSeconds: context.settings.auditWindowSeconds ?? DEFAULT_SETTINGS.auditWindowSeconds ?? 3600,
        enabled: context.settings.audit !== false,
      },
      decideNow,
      (c) => checkIssuedCertificate(c.status?.certificate ?? "", c.spec.request),
    ),
  );

  if (output === "table") io.stdout(formatTable(decisions, audits));
  else decisions.forEach((decision, i) => io.stdout(`${formatJsonLine(decision, audits[i])}\n`));
  return 0;
}
