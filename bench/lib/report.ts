// The benchmark's result document: the data (latest.json) and its rendering (latest.md).
import type { ColdStartResult } from "./cold-start.js";
import {
  renderContinuousWatchCost,
  renderEventMode,
  type ContinuousWatchCost,
  type EventModeResult,
} from "./event-scaleup.js";

export interface ScaleRow {
  csrs: number;
  clusters: number;
  legit: number;
  hostile: number;
  /** Setup, not the product: minting node certificates and creating the CSRs. */
  createSeconds: number;
  wallMs: number;
  cpuMs: number;
  peakRssBytes: number;
  workerInitMs: number;
  kube: { list: number; nodeList: number; writes: number; reads: number; maxListPerCluster: number };
  ec2DescribeInstances: number;
  ec2Bound: number;
  aws: { ec2: number; eks: number; sts: number; sns: number; secretsManager: number; ssm: number };
  connections: { tcp: number; tls: number };
  approved: number;
  denied: number;
  /** SNS messages, and how the denials' alerts went out (own alert, repeat, in the summary). */
  alerts: { messages: number; own: number; repeats: number; summarised: number; summaries: number };
  resweep: { wallMs: number; writes: number; snsPublishes: number };
}

export interface IdleRow {
  clusters: number;
  coldWallMs: number;
  warmWallMsMedian: number;
  warmCpuMsMedian: number;
  peakRssBytes: number;
  awsCallsPerSweep: Record<string, number>;
  kubeCallsPerSweep: number;
}

export interface CostRow {
  clusters: number;
  billedMs: number;
  gbSecondsPerMonth: number;
  usdPerMonth: number;
  cpuScaledMs: number;
  cpuScaledGbSecondsPerMonth: number;
  cpuScaledUsdPerMonth: number;
  requestsUsdPerMonth: number;
  secretsManagerCallsPerMonth: number;
  secretsManagerUsdPerMonth: number;
}

export interface CostModel {
  schedule: string;
  invocationsPerMonth: number;
  memoryMb: number;
  architecture: string;
  usdPerGbSecond: number;
  usdPerMillionRequests: number;
  freeTier: { gbSeconds: number; requests: number };
  usdPer10kSecretsManagerCalls: number;
  lambdaMbPerVcpu: number;
  eventWindowSeconds: number;
  gbSecondsPerEvent: number;
  usdPer1000Events: number;
  rows: CostRow[];
  continuousWatch?: ContinuousWatchCost;
}

export interface TimeToApproval {
  csrs: number;
  spacingMs: number;
  clusters: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  minMs: number;
  createMedianMs: number;
  latenciesMs: number[];
  watcher: { cpuMs: number; peakRssBytes: number; sweeps: number; writes: number };
}

export interface Target {
  id: string;
  what: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; platform: string };
  rig: { clusters: number; startSeconds: number; apiserverFirstBuildSeconds?: number };
  seeding: { instances: number; runInstancesCalls: number; batch: number; seconds: number };
  scale: ScaleRow[];
  timeToApproval: TimeToApproval;
  coldStart: ColdStartResult;
  idle: IdleRow[];
  cost: CostModel;
  /** Issue 14: 1,000-node scale-up in event mode, renewals under continuous watch. */
  eventMode?: EventModeResult;
  targets: Target[];
  decisionsVerified: { csrs: number; approved: number; denied: number; alertsDelivered: number };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const ms = (value: number) => `${Math.round(value).toLocaleString("en-US")} ms`;
const s = (value: number) => `${(value / 1000).toFixed(2)} s`;
const int = (value: number) => Math.round(value).toLocaleString("en-US");
const usd = (value: number) => `$${value < 1 ? value.toFixed(4) : value.toFixed(2)}`;

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export function renderMarkdown(r: BenchResult): string {
  const met = r.targets.filter((t) => t.met).length;
  const out: string[] = [];
  out.push(`# csr-approver benchmark results`);
  out.push("");
  out.push(
    `Run ${r.startedAt} → ${r.finishedAt} with \`npm run bench\` on ${r.machine.cpus} × ${r.machine.cpuModel}, ` +
      `${r.machine.memoryGb} GB RAM, Node ${r.machine.node} (${r.machine.platform}). The rig: ${r.rig.clusters} ` +
      `kube-apiservers (started in ${r.rig.startSeconds.toFixed(1)} s) and moto, all on this machine, so every ` +
      `figure includes the servers' CPU competing with the sweep for the same 2 cores. How to reproduce and what ` +
      `each figure means: [docs/benchmarks.md](../../docs/benchmarks.md).`,
  );
  out.push("");
  out.push(
    `Decisions verified against the apiservers: ${int(r.decisionsVerified.csrs)} CSRs, ` +
      `${int(r.decisionsVerified.approved)} approved and ${int(r.decisionsVerified.denied)} denied exactly as ` +
      `planned, ${int(r.decisionsVerified.alertsDelivered)} SNS messages delivered: every denial has its alert ` +
      `(on its own, as a repeat of one sent for the same requester and reasons, or in the cluster's summary) and the ` +
      `queue holds exactly the messages the sweeps report sent. A run with any wrong decision is not reported. ` +
      `Fairness scenarios (issue 10): [fairness.md](fairness.md).`,
  );
  out.push("");
  out.push(`## Targets: ${met} of ${r.targets.length} met`);
  out.push("");
  out.push(
    table(
      ["", "target", "goal", "measured"],
      r.targets.map((t) => [t.met ? "met" : "**MISSED**", t.what, t.target, t.measured]),
    ),
  );
  out.push("");

  out.push(`## 1. Sweep scale`);
  out.push("");
  out.push(
    `Each row: one sweep in a fresh process (like a cold Lambda container), over CSRs created beforehand ` +
      `by real node identities; every 20th CSR is hostile (another node's IP or DNS name, a non-node ` +
      `requester, an instance from outside the cluster's VPC) and must be denied with its alert. EC2 instances: ${int(r.seeding.instances)} ` +
      `seeded in moto with ${r.seeding.runInstancesCalls} RunInstances calls of up to ${r.seeding.batch} ` +
      `(${r.seeding.seconds.toFixed(1)} s). Wall and CPU time cover resolving the clusters (token from Secrets ` +
      `Manager) and the sweep; peak RSS is the worker process's (Node itself included). ` +
      `\`maxApprovalsPerSweep\` is set to 2,000 for these runs, as before: the rig's clusters hold no Node objects, ` +
      `so the default \`auto\` would resolve to its floor of 100. Alerts: at most 20 per cluster and sweep on their ` +
      `own, then one summary; the \`not-a-node\` denials all come from the admin identity and repeat its first alert.`,
  );
  out.push("");
  out.push(
    table(
      [
        "CSRs",
        "clusters",
        "approved / denied",
        "wall",
        "CPU",
        "peak RSS",
        "k8s list / node list / writes",
        "max list per cluster",
        "EC2 DescribeInstances (bound)",
        "EKS",
        "STS",
        "SNS messages (denials: own alert / repeat / in summary)",
        "Secrets Mgr",
        "new TCP conns (TLS: k8s)",
        "re-sweep wall / writes",
      ],
      r.scale.map((row) => [
        int(row.csrs),
        row.clusters,
        `${int(row.approved)} / ${int(row.denied)}`,
        s(row.wallMs),
        s(row.cpuMs),
        mb(row.peakRssBytes),
        `${row.kube.list} / ${row.kube.nodeList} / ${int(row.kube.writes)}`,
        row.kube.maxListPerCluster,
        `${row.ec2DescribeInstances} (≤ ${row.ec2Bound})`,
        row.aws.eks,
        row.aws.sts,
        row.alerts
          ? `${row.alerts.messages} (${row.alerts.own} / ${row.alerts.repeats} / ${row.alerts.summarised})`
          : row.aws.sns,
        row.aws.secretsManager,
        `${int(row.connections.tcp)} (${int(row.connections.tls)})`,
        `${s(row.resweep.wallMs)} / ${row.resweep.writes}`,
      ]),
    ),
  );
  out.push("");
  const perCsr = r.scale
    .filter((row) => row.csrs >= 100)
    .map(
      (row) =>
        `${int(row.csrs)} CSRs over ${row.clusters} cluster(s): ${(row.wallMs / row.csrs).toFixed(1)} ms wall and ` +
        `${(row.cpuMs / row.csrs).toFixed(1)} ms CPU per CSR`,
    );
  if (perCsr.length > 0) out.push(`Per CSR: ${perCsr.join("; ")}.`);
  out.push(
    `Setup time (not product time) to mint node certificates and create the CSRs: ` +
      r.scale.map((row) => `${int(row.csrs)}×${row.clusters}: ${row.createSeconds.toFixed(1)} s`).join(", ") +
      ".",
  );
  out.push("");

  const t = r.timeToApproval;
  out.push(`## 2. Time to approval (event mode)`);
  out.push("");
  out.push(
    `\`watchClusters\` running in its own process over ${t.clusters} clusters; ${t.csrs} legitimate CSRs created ` +
      `one by one, ${t.spacingMs} ms apart, round-robin over the clusters. Latency: from sending the create ` +
      `request (as the kubelet does) to a separate admin watch seeing the Approved condition.`,
  );
  out.push("");
  out.push(
    table(
      [
        "median",
        "p95",
        "min",
        "max",
        "create call (median)",
        "sweeps started",
        "watcher CPU",
        "watcher peak RSS",
      ],
      [
        [
          ms(t.medianMs),
          ms(t.p95Ms),
          ms(t.minMs),
          ms(t.maxMs),
          ms(t.createMedianMs),
          t.watcher.sweeps,
          s(t.watcher.cpuMs),
          mb(t.watcher.peakRssBytes),
        ],
      ],
    ),
  );
  out.push("");

  if (r.eventMode) out.push(renderEventMode(r.eventMode));

  const c = r.coldStart;
  out.push(`## 3. Cold start`);
  out.push("");
  out.push(
    `Bundles built with serverless.yml's own esbuild options (minified ESM, everything bundled). Load + init: ` +
      `a fresh \`node\` with the function's Lambda environment (\`NODE_OPTIONS=--enable-source-maps\` included) ` +
      `imports the bundle until \`handler\` is exported; median of ${c.iterations} runs, interleaved with a bare ` +
      `\`node -e 0\` (median ${ms(c.bareNodeMsMedian)} for the whole process).`,
  );
  out.push("");
  out.push(
    table(
      [
        "function",
        "bundle",
        "gzip",
        "source map",
        "load + init (median / p95)",
        "load + init CPU",
        "whole process",
        "× bare node",
        "RSS",
      ],
      c.bundles.map((b) => [
        b.variant === "as deployed" ? b.fn : `${b.fn} (${b.variant})`,
        `${(b.bundleBytes / 1e6).toFixed(3)} MB`,
        `${(b.gzipBytes / 1e6).toFixed(3)} MB`,
        `${(b.sourceMapBytes / 1e6).toFixed(3)} MB`,
        `${ms(b.importMsMedian)} / ${ms(b.importMsP95)}`,
        ms(b.importCpuMsMedian),
        ms(b.processMsMedian),
        `${b.ratioToBareNode.toFixed(2)}×`,
        mb(b.rssBytes),
      ]),
    ),
  );
  out.push("");
  out.push(
    `Machine load while measuring (1-minute load average): ${c.loadAverage.before.toFixed(1)} before, ` +
      `${c.loadAverage.after.toFixed(1)} after, on ${r.machine.cpus} cores. Wall times grow with load; the CPU ` +
      `time of the import much less.`,
  );
  out.push("");

  const m = r.cost;
  out.push(`## 4. Cost model`);
  out.push("");
  out.push(
    `Idle sweeps (no pending CSR: the common case every minute), measured with 1, 10 and 50 configured ` +
      `clusters (the entries point at the 3 rig apiservers in turn); warm = median of the 2nd to last sweep in ` +
      `one process, as consecutive invocations of a warm container.`,
  );
  out.push("");
  out.push(
    table(
      [
        "clusters",
        "cold sweep",
        "warm sweep (median)",
        "warm CPU",
        "peak RSS",
        "AWS calls per sweep",
        "k8s calls per sweep",
      ],
      r.idle.map((row) => [
        row.clusters,
        ms(row.coldWallMs),
        ms(row.warmWallMsMedian),
        ms(row.warmCpuMsMedian),
        mb(row.peakRssBytes),
        Object.entries(row.awsCallsPerSweep)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ") || "none",
        row.kubeCallsPerSweep,
      ]),
    ),
  );
  out.push("");
  out.push(
    `Assumptions: schedule \`${m.schedule}\` = ${int(m.invocationsPerMonth)} invocations per 30-day month; ` +
      `${m.memoryMb} MB (serverless.yml), ${m.architecture}; Lambda price ${m.usdPerGbSecond} USD per GB-second ` +
      `and ${m.usdPerMillionRequests} USD per million requests (us-east-1 list price, arm64, first pricing tier). ` +
      `The free tier (${int(m.freeTier.gbSeconds)} GB-s and ${int(m.freeTier.requests)} requests per month, per ` +
      `account, shared by all functions) is NOT subtracted below. Billed duration = the warm idle sweep, rounded ` +
      `up to 1 ms. Lambda gives ${m.memoryMb} MB about ${(m.memoryMb / m.lambdaMbPerVcpu).toFixed(2)} vCPU ` +
      `(${m.lambdaMbPerVcpu} MB = 1 vCPU), so a pessimistic estimate scales the CPU part of the sweep by ` +
      `${(m.lambdaMbPerVcpu / m.memoryMb).toFixed(2)}: wall − CPU + CPU × ${(m.lambdaMbPerVcpu / m.memoryMb).toFixed(2)}. ` +
      `Network latency to real EKS endpoints (a few ms per call) is not in these loopback figures. ` +
      `Self-managed clusters read their token from Secrets Manager on every invocation ` +
      `(${m.usdPer10kSecretsManagerCalls} USD per 10,000 calls); EKS clusters use a presigned STS URL instead (no call).`,
  );
  out.push("");
  out.push(
    table(
      [
        "clusters",
        "billed per sweep",
        "GB-s / month",
        "Lambda compute / month",
        "CPU-scaled: per sweep / GB-s / USD",
        "share of the free tier's GB-s",
        "request charge / month",
        "Secrets Manager calls / USD (self-managed)",
      ],
      m.rows.map((row) => [
        row.clusters,
        ms(row.billedMs),
        int(row.gbSecondsPerMonth),
        usd(row.usdPerMonth),
        `${ms(row.cpuScaledMs)} / ${int(row.cpuScaledGbSecondsPerMonth)} / ${usd(row.cpuScaledUsdPerMonth)}`,
        `${((100 * row.cpuScaledGbSecondsPerMonth) / m.freeTier.gbSeconds).toFixed(1)} % (CPU-scaled)`,
        usd(row.requestsUsdPerMonth),
        `${int(row.secretsManagerCallsPerMonth)} / ${usd(row.secretsManagerUsdPerMonth)}`,
      ]),
    ),
  );
  out.push("");
  out.push(
    `Event mode costs more than the schedule: each EC2 "running" event keeps the approver for the watch ` +
      `window (\`sweep.watchWindowSeconds\`, default ${m.eventWindowSeconds} s), i.e. ` +
      `${m.gbSecondsPerEvent.toFixed(0)} GB-s per event, ${usd(m.usdPer1000Events)} per 1,000 instance launches ` +
      `(the time it waits on the watch is billed too). Derived from the configuration, not measured: with ` +
      `\`reservedConcurrency: 1\` launch events do not share a window; they queue and each runs its own in ` +
      `turn, holding up the scheduled sweep meanwhile.`,
  );
  out.push("");
  if (m.continuousWatch) out.push(renderContinuousWatchCost(m.continuousWatch, m.schedule, m.memoryMb));
  return `${out.join("\n")}\n`;
}
