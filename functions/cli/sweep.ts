// `csr-approver sweep` (SPEC §8): the Lambda's sweep, run once from a workstation with the
// ambient AWS credentials (the SDK's default chain; AWS_ENDPOINT_URL is honoured by the SDK).
import { ConfigError, isRegionName, isVpcId, settingsForCluster, type Config } from "../core/config.js";
import type { ClusterFacts } from "../core/types.js";
import { createAwsClients, type AwsClientCache } from "../sweep/aws.js";
import {
  DISCOVERY_FAILURE,
  resolveClusters,
  type ClusterTarget,
  type ResolvedClusters,
} from "../sweep/clusters.js";
import { kubeconfigEndpoint } from "../sweep/kubeconfig.js";
import { loadConfig } from "../sweep/config-source.js";
import { snsAlertPublisher, type AlertPublisher } from "../sweep/publish.js";
import { errorMessage, type SweepLogger } from "../sweep/report.js";
import { runSweep } from "../sweep/sweep.js";
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
import { eksTargetOf, loadKubeConfig } from "./kubeconfig.js";
import { formatSweepJson, formatSweepTable, sweepExitCode } from "./report.js";

export const sweepCommand: CommandSpec = {
  name: "sweep",
  summary:
    "Run one sweep of the configured clusters from this workstation, with the ambient AWS credentials.",
  usage:
    "sweep [--dry-run] [--config FILE] [--config-parameter NAME] [--cluster NAME]… [--kubeconfig FILE] [--context NAME] [--cluster-vpc VPC]… [--region REGION] [--topic-arn ARN] [--output table|json] [--verbose]",
  options: {
    "dry-run": {
      type: "boolean",
      description:
        "Decide only: approve, deny, alert and mark nothing (no cluster writes, no SNS). Recommended first.",
    },
    config: {
      type: "string",
      valueName: "FILE",
      description: "Configuration file, YAML or JSON (docs/configuration.md).",
    },
    "config-parameter": {
      type: "string",
      valueName: "NAME",
      description: "SSM parameter holding the configuration; its top-level keys replace those of --config.",
    },
    cluster: {
      type: "string",
      multiple: true,
      valueName: "NAME",
      description: "Sweep only this cluster (default: every configured or discovered cluster).",
    },
    kubeconfig: {
      type: "string",
      valueName: "FILE",
      description:
        "Sweep the one cluster of this kubeconfig's context, with its credentials (token, client certificate or exec plugin such as aws eks get-token) instead of the configured ones.",
    },
    context: {
      type: "string",
      valueName: "NAME",
      description:
        "Kubeconfig context (default: its current context; KUBECONFIG or ~/.kube/config without --kubeconfig).",
    },
    "cluster-vpc": {
      type: "string",
      multiple: true,
      valueName: "VPC",
      description:
        "With --kubeconfig: the cluster's VPC ID(s) for the EC2 checks (default: the selfManaged entry named by --cluster, or DescribeCluster for EKS).",
    },
    region: {
      type: "string",
      valueName: "REGION",
      description:
        "Region for EKS discovery when the config names none, and for SSM (default: AWS_REGION, AWS_DEFAULT_REGION).",
    },
    "topic-arn": {
      type: "string",
      valueName: "ARN",
      description:
        "SNS topic for alerts (default: env ALERT_TOPIC_ARN). Without one, CSRs that fail wait instead of being denied.",
    },
    output: {
      type: "string",
      valueName: "table|json",
      description: "table: for people (default); json: the sweep report as one JSON document.",
    },
    verbose: {
      type: "boolean",
      short: "v",
      description: "Log every decision to stderr (default: warnings and errors only).",
    },
  },
  details: `WITHOUT --dry-run THIS WRITES TO YOUR CLUSTERS: it approves and denies kubelet-serving
CSRs exactly as the deployed Lambda would (clusters configured with mode: dry-run excepted),
and publishes alerts to --topic-arn. A denial is only written once its alert is published,
so without a topic failing CSRs stay pending. Start with --dry-run.

Kubernetes credentials: on EKS a token signed with your AWS credentials, so the sweep acts
with your own access to the cluster; on self-managed clusters the configured Secrets Manager
secret or SSM parameter, as the Lambda uses. With --kubeconfig (or --context) the sweep visits
only the kubeconfig context's cluster, with that context's credentials, so nothing has to be
stored in AWS first. Its name is --cluster (which also picks its settings from --config),
else the EKS cluster name in the context, else the kubeconfig's cluster name; its VPC comes
from --cluster-vpc, else the selfManaged entry of that name, else DescribeCluster (EKS). The
EC2 facts always come from AWS (--region, AWS_REGION, or the entry's region).

Exit status: 0 when the sweep ran, whatever it decided; 1 when a cluster could not be swept
or a decision could not be written; 2 when an argument or the configuration is wrong (one
line on stderr).

Examples:
  ${PROGRAM} sweep --dry-run --config config/example.yaml --region eu-west-1
  ${PROGRAM} sweep --cluster prod-eu --topic-arn arn:aws:sns:eu-west-1:123456789012:csr-approver-alerts
  ${PROGRAM} sweep --dry-run --kubeconfig ~/.kube/config --context lab --cluster-vpc vpc-0abc1234def567890 --region eu-west-1`,
};

const TOPIC_ARN =
  /^arn:aws[a-z-]*:sns:([a-z]{2}(?:-[a-z]+)+-\d{1,2}):(\d{12}):[A-Za-z0-9_-]{1,256}(\.fifo)?$/;

function usage(message: string): UsageError {
  return new UsageError(`${PROGRAM} sweep: ${message}`);
}

/** Engine log lines on stderr: one line each, key=value fields, info only when verbose. */
export function stderrLogger(io: CliIo, verbose: boolean): SweepLogger {
  const write = (level: string, message: string, extra: Record<string, unknown> = {}): void => {
    const fields = Object.entries(extra)
      .filter(([, value]) => value !== undefined)
      // Values come from clusters and AWS: JSON.stringify quotes them and escapes control characters.
      .map(([key, value]) => `${key}=${JSON.stringify(value)}`);
    io.stderr(`${PROGRAM}: ${level}: ${message}${fields.length > 0 ? ` ${fields.join(" ")}` : ""}\n`);
  };
  return {
    info: (message, extra) => {
      if (verbose) write("info", message, extra);
    },
    warn: (message, extra) => write("warn", message, extra),
    error: (message, extra) => write("error", message, extra),
  };
}

async function readConfig(
  file: string | undefined,
  parameter: string | undefined,
  region: string | undefined,
  aws: AwsClientCache,
): Promise<Config> {
  if (parameter !== undefined && region === undefined) {
    throw usage("--config-parameter needs a region: give --region or set AWS_REGION");
  }
  try {
    return await loadConfig({
      file,
      ssmParameter: parameter,
      ssm: () => aws.forRegion(region ?? "").ssm,
    });
  } catch (error) {
    if (error instanceof ConfigError) throw usage(error.message);
    // Anything else came from SSM (missing parameter, no credentials, network).
    throw usage(`--config-parameter ${parameter ?? ""}: ${errorMessage(error)}`);
  }
}

/** Keeps the wanted clusters; a name that is nowhere to be found is a usage error. */
function selectClusters(resolved: ResolvedClusters, wanted: string[]): ResolvedClusters {
  if (wanted.length === 0) return resolved;
  const known = new Set([
    ...resolved.targets.map((target) => target.facts.name),
    ...resolved.failures.map((failure) => failure.cluster),
  ]);
  const discoveryFailed = resolved.failures.some((failure) => failure.cluster === DISCOVERY_FAILURE);
  const missing = wanted.filter((name) => !known.has(name));
  // When a region's listing failed, a missing name may live there: that is a failure to
  // report (exit 1), not a typo.
  if (missing.length > 0 && !discoveryFailed) {
    const names = [...known].sort().join(", ") || "none";
    throw usage(`--cluster ${missing.join(", ")}: no such cluster (found: ${names})`);
  }
  return {
    targets: resolved.targets.filter((target) => wanted.includes(target.facts.name)),
    failures: resolved.failures.filter(
      (failure) =>
        wanted.includes(failure.cluster) || (failure.cluster === DISCOVERY_FAILURE && missing.length > 0),
    ),
  };
}

interface KubeconfigOptions {
  path: string | undefined;
  context: string | undefined;
  wanted: string[];
  clusterVpcs: string[];
  region: string | undefined;
}

/** --kubeconfig: the one cluster of the context, its EC2 facts from AWS, its settings from --config. */
async function kubeconfigTarget(
  io: CliIo,
  config: Config,
  aws: AwsClientCache,
  options: KubeconfigOptions,
  log: SweepLogger,
): Promise<ResolvedClusters> {
  if (options.wanted.length > 1) throw usage("--kubeconfig sweeps one cluster: give --cluster at most once");
  const kc = loadKubeConfig(io, options.path, options.context, usage);
  const eks = eksTargetOf(kc);
  const name = options.wanted[0] ?? eks?.clusterName ?? kc.getCurrentCluster()?.name ?? "";
  if (name === "") throw usage("--kubeconfig: the context names no cluster: give --cluster NAME");
  for (const vpc of options.clusterVpcs) {
    if (!isVpcId(vpc)) throw usage(`--cluster-vpc '${vpc}': not a VPC ID like vpc-0abc1234def567890`);
  }
  const selfManaged = config.selfManaged.find((cluster) => cluster.name === name);
  let facts: ClusterFacts;
  if (options.clusterVpcs.length > 0 || selfManaged) {
    const region = options.region ?? selfManaged?.region ?? eks?.region;
    if (region === undefined) {
      throw usage("--kubeconfig: no region for the EC2 facts: give --region or set AWS_REGION");
    }
    facts = {
      name,
      kind: eks ? "eks" : "self-managed",
      region,
      vpcIds: options.clusterVpcs.length > 0 ? options.clusterVpcs : [...(selfManaged?.vpcIds ?? [])],
    };
  } else if (eks || Object.hasOwn(config.eks.clusters, name)) {
    const region = options.region ?? eks?.region;
    if (region === undefined) throw usage("--kubeconfig: no region for DescribeCluster: give --region");
    // The EKS cluster's VPC and remote node networks, exactly as the Lambda reads them.
    const described = await resolveClusters(
      {
        ...config,
        regions: [region],
        eks: {
          ...config.eks,
          discovery: false,
          tags: {}, // the kubeconfig chose this cluster: discovery's tag filter does not apply
          clusters: { [name]: config.eks.clusters[name] ?? {} },
        },
        selfManaged: [],
      },
      aws,
      log,
    );
    const found = described.targets.find((target) => target.facts.name === name);
    if (!found) {
      const failures = described.failures.filter((f) => f.cluster === name);
      return {
        targets: [],
        failures:
          failures.length > 0
            ? failures
            : [{ cluster: name, region, error: "EKS cluster is not ACTIVE or UPDATING (see --verbose)" }],
      };
    }
    facts = found.facts;
  } else {
    throw usage(
      `--kubeconfig: no VPC known for cluster '${name}': give --cluster-vpc VPC, or --cluster naming a selfManaged cluster of --config`,
    );
  }
  // What the sweep client cannot honour (insecure-skip-tls-verify, basic auth, …) stops here.
  try {
    await kubeconfigEndpoint(kc, name);
  } catch (error) {
    throw usage(`--kubeconfig: ${errorMessage(error)}`);
  }
  const target: ClusterTarget = {
    facts,
    settings: settingsForCluster(config, name, facts.kind),
    endpoint: kc.getCurrentCluster()?.server ?? "",
    source: facts.kind,
    token: async () => (await kubeconfigEndpoint(kc, name)).token,
    forgetToken: () => undefined,
    kubeEndpoint: () => kubeconfigEndpoint(kc, name),
  };
  return { targets: [target], failures: [] };
}

function alertPublisher(
  topicArn: string | undefined,
  aws: AwsClientCache,
  log: SweepLogger,
): AlertPublisher | undefined {
  if (topicArn === undefined) {
    log.warn("no --topic-arn or ALERT_TOPIC_ARN: CSRs that fail the checks wait instead of being denied");
    return undefined;
  }
  const [, region = "", account] = TOPIC_ARN.exec(topicArn) ?? [];
  return snsAlertPublisher({ topicArn, sns: aws.forRegion(region).sns, ...(account ? { account } : {}) });
}

export async function runSweepCommand(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommandArgs(sweepCommand, argv);
  if (values.help) {
    io.stdout(formatHelp(sweepCommand));
    return 0;
  }
  const output = stringOption(values, "output") ?? "table";
  if (output !== "json" && output !== "table") throw usage(`--output '${output}': expected table or json`);
  const region =
    stringOption(values, "region") ?? (io.env.AWS_REGION || io.env.AWS_DEFAULT_REGION || undefined);
  if (region !== undefined && !isRegionName(region)) {
    throw usage(
      `${values.region !== undefined ? "--region" : "AWS_REGION"} '${region}' is not a region name`,
    );
  }
  const dryRun = values["dry-run"] === true;
  const topicArn = stringOption(values, "topic-arn") ?? (io.env.ALERT_TOPIC_ARN || undefined);
  if (topicArn !== undefined && !TOPIC_ARN.test(topicArn)) {
    throw usage(
      `${values["topic-arn"] !== undefined ? "--topic-arn" : "ALERT_TOPIC_ARN"} '${topicArn}' is not an SNS topic ARN`,
    );
  }
  const wanted = stringListOption(values, "cluster");
  const log = stderrLogger(io, values.verbose === true);
  const kubeconfig = stringOption(values, "kubeconfig");
  const context = stringOption(values, "context");
  const clusterVpcs = stringListOption(values, "cluster-vpc");
  const viaKubeconfig = kubeconfig !== undefined || context !== undefined;
  if (!viaKubeconfig && clusterVpcs.length > 0) throw usage("--cluster-vpc goes with --kubeconfig");

  const aws = createAwsClients();
  try {
    const config = await readConfig(
      stringOption(values, "config"),
      stringOption(values, "config-parameter"),
      region,
      aws,
    );
    const eksWanted = config.eks.discovery || Object.keys(config.eks.clusters).length > 0;
    if (!viaKubeconfig && eksWanted && config.regions.length === 0 && region === undefined) {
      throw usage(
        "no region for EKS discovery: give --region, set AWS_REGION, or list regions in the configuration",
      );
    }
    const resolved = viaKubeconfig
      ? await kubeconfigTarget(
          io,
          config,
          aws,
          { path: kubeconfig, context, wanted, clusterVpcs, region },
          log,
        )
      : selectClusters(
          await resolveClusters(
            config,
            {
              forRegion: (r) => aws.forRegion(r),
              ...(region !== undefined ? { defaultRegion: region } : {}),
            },
            log,
          ),
          wanted,
        );
    // --dry-run publishes nothing, so it needs no topic and warns about none.
    const alerts = dryRun ? undefined : alertPublisher(topicArn, aws, log);
    const report = await runSweep({
      config,
      aws,
      log,
      targets: resolved,
      readOnly: dryRun,
      ...(alerts ? { alerts } : {}),
    });
    io.stdout(output === "json" ? formatSweepJson(report) : formatSweepTable(report, { readOnly: dryRun }));
    return sweepExitCode(report);
  } finally {
    // Keep-alive sockets would otherwise hold the process open after the sweep.
    aws.destroy();
  }
}
