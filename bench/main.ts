// `npm run bench`: measures the approver against the real rig (3 kube-apiservers + moto) and
// writes bench/results/latest.{md,json} plus a dated copy. See docs/benchmarks.md.
//
//   1. sweep scale: 1, 100, 1,000 pending CSRs over 1 and 3 clusters, one sweep each
//   2. time to approval in event mode (watchClusters), 50 CSRs created one by one
//   2b. event mode at scale: 1,000-node scale-up, renewals under continuous watch
//       (bench/lib/event-scaleup.ts; alone with --only-event)
//   3. cold start of the approver and notifier bundles vs a bare `node -e 0`
//   4. cost model from measured idle sweeps over 1, 10 and 50 configured clusters
//
// Every decision is checked against the apiservers' stored state: one wrong decision and the
// run is not reported (exit 2). Missed targets are reported as missed (exit 0; --strict: 1).
// --quick: small sizes for trying the harness out; results go to .rig/bench/quick/ only.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import {
  createAlertSink,
  awsClients,
  createVpc,
  type AlertSink,
  type AwsClients,
} from "../test/rig/aws-seed.js";
import { REPO_ROOT } from "../test/rig/build.js";
import { DEFAULT_SWEEP } from "../functions/core/config.js";
import { startRig, MOTO_CREDENTIALS, type Rig, type RigCluster } from "../test/rig/index.js";
import { storeApproverToken } from "../test/support/sweep-world.js";
import { writeCharts, writeEventCharts } from "./lib/charts.js";
import { measureColdStart } from "./lib/cold-start.js";
import {
  continuousWatchCost,
  eventModeScenarios,
  eventTargets,
  renderContinuousWatchCost,
  renderEventMode,
  EVENT_PLAN,
  EVENT_PLAN_QUICK,
  EVENT_SCENARIOS,
  type EventScenario,
  type EventModeResult,
} from "./lib/event-scaleup.js";
import { renderSizes, sizesScenarios, SIZES_PLAN, SIZES_PLAN_QUICK, type WatchSummary } from "./sizes.js";
import {
  auditReplay,
  ensurePool,
  LAMBDA_TIMEOUT_MS,
  fleetRotation,
  hostileFlood,
  replaySweep,
  type AuditResult,
  type FairnessDeps,
  type FloodResult,
  type RotationResult,
} from "./fairness.js";
import {
  evaluateFairnessTargets,
  renderFairnessMarkdown,
  type FairnessResult,
} from "./lib/fairness-report.js";
import { checkAlertDelivery, drainDelivered } from "./lib/alert-check.js";
import { emptyKubeCounts } from "./lib/instrument.js";
import type { KubeCallCounts, SweepRunResult, SweepWorkerOutput, WorkerJob } from "./lib/job.js";
import {
  renderMarkdown,
  type BenchResult,
  type CostModel,
  type IdleRow,
  type ScaleRow,
  type Target,
  type TimeToApproval,
} from "./lib/report.js";
import { median, percentile } from "./lib/stats.js";
import {
  createPlannedCsr,
  deleteAllCsrs,
  eachBounded,
  mintNodeIdentities,
  planCsrs,
  seedInstances,
  storedDecisions,
  watchDecisions,
  type PlannedCsr,
  type PoolInstance,
  type StoredDecision,
} from "./lib/world.js";

const args = process.argv.slice(2);
const QUICK = args.includes("--quick");
const STRICT = args.includes("--strict");
// Investigation aids (nothing is written to bench/results with these): only the sweep-scale
// part, chosen sizes, and a V8 CPU profile of every sweep worker in .rig/bench/prof/.
const ONLY_SCALE = args.includes("--only-scale");
// The fairness scenarios alone (issue 10): written to bench/results/fairness.{md,json}, which a
// full run writes too.
const ONLY_FAIRNESS = args.includes("--only-fairness");
const CPU_PROF = args.includes("--cpu-prof");
// Issue 14's event-mode scenarios alone (1,000-node scale-up, renewals under continuous watch,
// and the cost model's continuous-watch row): results in bench/results/event-latest.{md,json}.
const ONLY_EVENT = args.includes("--only-event");
// Issue 24's audit cost alone (5,000 approvals made elsewhere in the window, one sweep):
// results in bench/results/audit.{md,json}.
const ONLY_AUDIT = args.includes("--only-audit");
const AUDIT = QUICK
  ? { approvedElsewhere: 500, nodes: 20, hostile: 3 }
  : { approvedElsewhere: 5000, nodes: 100, hostile: 5 };
/** The audit's bounds: one sweep within the default one-minute schedule, and the fairness RSS bound. */
const AUDIT_TARGET = { wallMs: 60_000, peakRssBytes: 256 * 1024 * 1024 };
// Some of the event-mode scenarios only (pool, lone, throttle, scaleup, renewal): nothing is
// written to bench/results unless all ran (the run's own files stay in .rig/bench/).
const EVENT_ONLY = args
  .find((a) => a.startsWith("--event="))
  ?.slice("--event=".length)
  .split(",") as EventScenario[] | undefined;
for (const id of EVENT_ONLY ?? [])
  if (!(EVENT_SCENARIOS as readonly string[]).includes(id))
    throw new Error(`--event: unknown scenario "${id}" (one of ${EVENT_SCENARIOS.join(", ")})`);
// Issue 21's hostile sizes alone (bench/sizes.ts): results in bench/results/sizes.{md,json}.
const ONLY_SIZES = args.includes("--only-sizes");
const listArg = (name: string): number[] | undefined =>
  args
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3)
    .split(",")
    .map(Number);
const OUT = join(REPO_ROOT, ".rig", "bench");
const RESULTS = QUICK ? join(OUT, "quick") : join(REPO_ROOT, "bench", "results");
const ACCOUNT = "123456789012";
const REGION = "us-east-1";

const PLAN = QUICK
  ? { scales: [1, 20], clusterCounts: [3, 1], tta: 10, coldIterations: 3, idle: [1, 4], idleRuns: 3 }
  : {
      scales: [1, 100, 1000],
      clusterCounts: [3, 1],
      tta: 50,
      coldIterations: 11,
      idle: [1, 10, 50],
      idleRuns: 6,
    };
PLAN.scales = listArg("scales") ?? PLAN.scales;
PLAN.clusterCounts = listArg("clusters") ?? PLAN.clusterCounts;
// Fairness scenarios (bench/fairness.ts), at the sizes issue 10 asks for.
const FAIR = QUICK
  ? {
      rotation: [200],
      maxSweeps: 12,
      flood: { legit: 20, attackers: 2, perAttacker: 50, sweeps: 2 },
      replay: { total: 5000, pending: 200, pendingNodes: 50, approvedIssued: 8, denied: 2 },
    }
  : {
      rotation: listArg("rotation") ?? [1000, 5000],
      maxSweeps: 12,
      flood: { legit: 100, attackers: 4, perAttacker: 250, sweeps: 2 },
      replay: { total: 100_000, pending: 1000, pendingNodes: 250, approvedIssued: 40, denied: 10 },
    };
const TTA_SPACING_MS = 200;
const CREATE_CONCURRENCY = 8;

// Targets from the issue.
const TARGET = {
  sweep1000Ms: 20_000,
  ec2InstancesPerCall: 200,
  peakRssBytes: 256 * 1024 * 1024,
  ttaMedianMs: 1000,
  ttaP95Ms: 3000,
  approverBundleBytes: 1_500_000, // scripts/package.mjs APPROVER_BUNDLE_BUDGET_BYTES
  loadInitMs: 300,
};

// Lambda pricing assumptions (us-east-1 list prices, arm64, first tier).
const PRICE = {
  usdPerGbSecondArm: 0.0000133334,
  usdPerMillionRequests: 0.2,
  freeGbSeconds: 400_000,
  freeRequests: 1_000_000,
  usdPer10kSecretsManagerCalls: 0.05,
  lambdaMbPerVcpu: 1769,
};

const benchStarted = performance.now();
function progress(message: string): void {
  const elapsed = Math.round((performance.now() - benchStarted) / 1000);
  const stamp = `${Math.floor(elapsed / 60)}:${String(elapsed % 60).padStart(2, "0")}`;
  process.stdout.write(`[bench ${stamp}] ${message}\n`);
}

/** Wrong decisions: the run is refused if there is any. */
const problems: string[] = [];
function problem(message: string): void {
  problems.push(message);
  process.stderr.write(`[bench] WRONG: ${message}\n`);
}

interface World {
  rig: Rig;
  clients: AwsClients;
  subnetId: string;
  clusters: RigCluster[];
  motoEndpoint: string;
  vpcId: string;
  secretArns: string[];
  alerts: AlertSink;
  pool: PoolInstance[];
  /** Instances in another VPC: strangers to every cluster. */
  foreign: PoolInstance[];
  seeding: BenchResult["seeding"];
  verified: BenchResult["decisionsVerified"];
}

/**
 * The scale, event-mode and idle parts keep `maxApprovalsPerSweep: 2000`, as in earlier runs:
 * the rig's clusters hold no Node objects, so the default `auto` resolves to its floor of 100
 * per sweep and would hold back a 1,000-CSR burst in one cluster. The fairness scenarios pass
 * `null`: the defaults, untouched.
 */
const SCALE_DEFAULTS = { maxApprovalsPerSweep: 2000 };

function configDoc(
  world: World,
  entries: { name: string; clusterIndex: number }[],
  defaults: Record<string, unknown> | null = SCALE_DEFAULTS,
): Record<string, unknown> {
  return {
    regions: [REGION],
    eks: { discovery: false },
    ...(defaults ? { defaults } : {}),
    selfManaged: entries.map((entry) => {
      const cluster = world.clusters[entry.clusterIndex] as RigCluster;
      return {
        name: entry.name,
        region: REGION,
        endpoint: cluster.server,
        caData: Buffer.from(cluster.caPem).toString("base64"),
        credential: { secretsManager: world.secretArns[entry.clusterIndex] },
        vpcIds: [world.vpcId],
      };
    }),
  };
}

function job(world: World, config: Record<string, unknown>, runs: number, windowMs?: number): WorkerJob {
  return {
    config,
    moto: { endpoint: world.motoEndpoint, region: REGION },
    topicArn: world.alerts.topicArn,
    account: ACCOUNT,
    runs,
    ...(windowMs !== undefined ? { windowMs } : {}),
  };
}

let jobCounter = 0;
function writeJob(spec: WorkerJob): string {
  mkdirSync(join(OUT, "jobs"), { recursive: true });
  const file = join(OUT, "jobs", `job-${process.pid}-${++jobCounter}.json`);
  writeFileSync(file, JSON.stringify(spec));
  return file;
}

/**
 * `timeoutMs`: the Lambda's timeout. A worker still running then is killed, as Lambda would,
 * and reported as one timed-out run with its CPU time and peak RSS read from /proc (Linux).
 */
async function runSweepWorker(spec: WorkerJob, timeoutMs?: number): Promise<SweepWorkerOutput> {
  const file = writeJob(spec);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const profile = CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${join(OUT, "prof")}`] : [];
    const child = spawn(
      process.execPath,
      [...profile, "--enable-source-maps", join(OUT, "sweep-worker.mjs"), file],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    let timedOut: SweepWorkerOutput | undefined;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = killedRun(child.pid ?? 0, performance.now() - started);
            child.kill("SIGKILL");
          }, timeoutMs);
    child.once("close", (code) => {
      if (timer) clearTimeout(timer);
      if (timedOut) return resolve(timedOut);
      if (code !== 0) return reject(new Error(`sweep worker exited ${code}:\n${stderr.slice(-4000)}`));
      try {
        resolve(JSON.parse(readFileSync(`${file}.out.json`, "utf8")) as SweepWorkerOutput);
      } catch {
        reject(new Error(`sweep worker left no result:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
      }
    });
  });
}

function killedRun(pid: number, wallMs: number): SweepWorkerOutput {
  let cpuMs = Number.NaN;
  let peakRssBytes = Number.NaN;
  try {
    // /proc/<pid>/stat fields 14 and 15: utime and stime in clock ticks (100 per second).
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    cpuMs = ((Number(fields[11]) + Number(fields[12])) / 100) * 1000;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    if (hwm) peakRssBytes = Number(hwm[1]) * 1024;
  } catch {
    // not Linux, or already gone
  }
  return {
    initMs: Number.NaN,
    runs: [
      {
        timedOut: true,
        wallMs,
        cpuMs,
        cpuUserMs: Number.NaN,
        cpuSystemMs: Number.NaN,
        peakRssBytes,
        heapUsedBytes: Number.NaN,
        kube: {},
        aws: {},
        connections: { tcp: 0, tls: 0 },
        totals: {},
        clusters: [],
        warnings: [],
      },
    ],
  };
}

function sumKube(kube: Record<string, KubeCallCounts>): KubeCallCounts {
  const total: KubeCallCounts = emptyKubeCounts();
  for (const counts of Object.values(kube))
    for (const key of Object.keys(total) as (keyof KubeCallCounts)[]) total[key] += counts[key];
  return total;
}

function awsByService(run: SweepRunResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(run.aws)) {
    const service = key.split(":")[0] ?? key;
    out[service] = (out[service] ?? 0) + value.calls;
  }
  return out;
}

async function drainAlerts(alerts: AlertSink): Promise<number> {
  let count = 0;
  for (;;) {
    const batch = await alerts.receive(1);
    if (batch.length === 0) return count;
    count += batch.length;
  }
}

// ---------------------------------------------------------------------------------------

async function setUpWorld(rig: Rig): Promise<World> {
  const moto = rig.moto;
  if (!moto) throw new Error("the rig started without moto");
  const clients = awsClients({ endpoint: moto.endpoint, region: REGION, credentials: MOTO_CREDENTIALS });
  const vpc = await createVpc(clients, {
    name: "bench",
    cidr: "10.20.0.0/16",
    subnets: [{ cidr: "10.20.0.0/20", az: "us-east-1a" }],
    ipv6: false,
  });
  const alerts = await createAlertSink(clients, "bench-alerts");
  const secretArns: string[] = [];
  for (const cluster of rig.clusters)
    secretArns.push(await storeApproverToken(clients, cluster, `bench/${cluster.name}-token`));
  const count = Math.max(...PLAN.scales, PLAN.tta + 3);
  const batch = 100;
  progress(`seeding ${count} EC2 instances in moto (RunInstances, ${batch} per call)`);
  const seeded = await seedInstances(clients, {
    subnetId: vpc.subnets[0]?.subnetId ?? "",
    count,
    batch,
    progress: (message) => progress(message),
  });
  progress(
    `moto: ${count} instances in ${seeded.seconds.toFixed(1)} s with ${seeded.calls} RunInstances calls`,
  );
  const otherVpc = await createVpc(clients, {
    name: "bench-other",
    cidr: "10.30.0.0/16",
    subnets: [{ cidr: "10.30.0.0/20", az: "us-east-1a" }],
    ipv6: false,
  });
  const strangers = await seedInstances(clients, {
    subnetId: otherVpc.subnets[0]?.subnetId ?? "",
    count: 20,
    batch: 20,
    progress: () => {},
  });
  return {
    rig,
    clients,
    subnetId: vpc.subnets[0]?.subnetId ?? "",
    clusters: rig.clusters,
    motoEndpoint: moto.endpoint,
    vpcId: vpc.vpcId,
    secretArns,
    alerts,
    pool: seeded.instances,
    foreign: strangers.instances,
    seeding: { instances: count, runInstancesCalls: seeded.calls, batch, seconds: seeded.seconds },
    verified: { csrs: 0, approved: 0, denied: 0, alertsDelivered: 0 },
  };
}

async function resetCsrs(world: World): Promise<void> {
  await Promise.all(world.clusters.map((cluster) => deleteAllCsrs(cluster)));
  await drainAlerts(world.alerts);
}

async function createCsrs(world: World, plan: PlannedCsr[]): Promise<void> {
  for (const [index, cluster] of world.clusters.entries()) {
    const nodes = plan.filter((p) => p.clusterIndex === index).map((p) => p.instance.node);
    const minted = await mintNodeIdentities(cluster, nodes, (done) =>
      progress(`${cluster.name}: ${done} node certificates minted`),
    );
    if (minted > 0) progress(`${cluster.name}: ${minted} node certificates minted`);
  }
  let created = 0;
  let lastReport = performance.now();
  await eachBounded(plan, CREATE_CONCURRENCY, async (csr) => {
    csr.name = await createPlannedCsr(world.clusters[csr.clusterIndex] as RigCluster, csr);
    created += 1;
    if (performance.now() - lastReport > 3000) {
      lastReport = performance.now();
      progress(`created ${created}/${plan.length} CSRs`);
    }
  });
}

/** Checks the worker's report AND the apiservers' stored state against the plan. */
async function verifyDecisions(
  world: World,
  label: string,
  plan: PlannedCsr[],
  run: SweepRunResult | undefined,
): Promise<void> {
  const stored = new Map<string, StoredDecision>();
  for (const [index, cluster] of world.clusters.entries())
    for (const [name, decision] of await storedDecisions(cluster)) stored.set(`${index}/${name}`, decision);
  const outcomes = new Map(
    (run?.clusters ?? []).flatMap((c) => c.csrs.map((o) => [`${c.cluster}/${o.name}`, o] as const)),
  );
  for (const csr of plan) {
    const key = `${csr.clusterIndex}/${csr.name}`;
    const decision = stored.get(key);
    if (decision !== csr.expected)
      problem(
        `${label}: ${csr.kind} CSR ${key} is ${decision ?? "missing"} on the apiserver, expected ${csr.expected}`,
      );
    if (run) {
      const outcome = outcomes.get(`rig-${csr.clusterIndex + 1}/${csr.name}`);
      const action = csr.expected === "Approved" ? "approved" : "denied";
      if (outcome?.action !== action)
        problem(
          `${label}: ${csr.kind} CSR ${key}: sweep action ${outcome?.action ?? "none"}, expected ${action}`,
        );
      else if (!outcome.reasons.includes(csr.expectedCode))
        problem(
          `${label}: ${csr.kind} CSR ${key}: reasons ${outcome.reasons.join(",")}, expected ${csr.expectedCode}`,
        );
    }
  }
  if (stored.size !== plan.length)
    problem(`${label}: the apiservers hold ${stored.size} CSRs, the plan has ${plan.length}`);
  world.verified.csrs += plan.length;
  world.verified.approved += plan.filter((p) => p.expected === "Approved").length;
  world.verified.denied += plan.filter((p) => p.expected === "Denied").length;
}

// ---------------------------------------------------------------------------------------
// 1. Sweep scale

async function scaleScenario(world: World, csrs: number, clusters: number): Promise<ScaleRow> {
  const label = `${csrs} CSRs over ${clusters} cluster(s)`;
  progress(`scale: ${label}: preparing`);
  await resetCsrs(world);
  const plan = planCsrs(world.pool, world.foreign, csrs, clusters);
  const createStarted = performance.now();
  await createCsrs(world, plan);
  const createSeconds = (performance.now() - createStarted) / 1000;
  progress(`scale: ${label}: ${csrs} CSRs created in ${createSeconds.toFixed(1)} s; sweeping`);

  const entries = Array.from({ length: clusters }, (_, i) => ({ name: `rig-${i + 1}`, clusterIndex: i }));
  const out = await runSweepWorker(job(world, configDoc(world, entries), 2));
  const [run, again] = out.runs;
  if (!run || !again) throw new Error("the sweep worker returned too few runs");
  for (const c of run.clusters)
    if (c.status !== "ok") problem(`${label}: cluster ${c.cluster} ${c.status}: ${c.error}`);
  for (const warning of run.warnings) progress(`  sweep warning: ${warning}`);
  await verifyDecisions(world, label, plan, run);

  const hostile = plan.filter((p) => p.expected === "Denied").length;
  // Alerts are de-duplicated (same requester and reasons within the window) and capped per
  // cluster with one summary: every denial must have its delivery, and the queue must hold
  // exactly the messages the sweep says it sent.
  const delivered = await drainDelivered(world.alerts);
  const tallies = checkAlertDelivery(label, run, delivered, true, problem);
  world.verified.alertsDelivered += delivered.length;
  const againKube = sumKube(again.kube);
  if (againKube.writes !== 0 || (again.aws["sns:Publish"]?.calls ?? 0) !== 0)
    problem(`${label}: the second sweep wrote ${againKube.writes} times / published alerts`);

  // EC2 bound: one DescribeInstances per started 200 node names looked up, per cluster.
  let ec2Bound = 0;
  for (let i = 0; i < clusters; i++) {
    const lookedUp = plan.filter((p) => p.clusterIndex === i && p.kind !== "not-a-node").length;
    ec2Bound += Math.ceil(lookedUp / TARGET.ec2InstancesPerCall);
  }
  const kube = sumKube(run.kube);
  const byService = awsByService(run);
  const row: ScaleRow = {
    csrs,
    clusters,
    legit: csrs - hostile,
    hostile,
    createSeconds,
    wallMs: run.wallMs,
    cpuMs: run.cpuMs,
    peakRssBytes: run.peakRssBytes,
    workerInitMs: out.initMs,
    kube: {
      list: kube.list,
      nodeList: kube.nodeList,
      writes: kube.writes,
      reads: kube.reads,
      maxListPerCluster: Math.max(0, ...Object.values(run.kube).map((k) => k.list)),
    },
    ec2DescribeInstances: run.aws["ec2:DescribeInstances"]?.calls ?? 0,
    ec2Bound,
    aws: {
      ec2: byService.ec2 ?? 0,
      eks: byService.eks ?? 0,
      sts: byService.sts ?? 0,
      sns: byService.sns ?? 0,
      secretsManager: byService.secretsManager ?? 0,
      ssm: byService.ssm ?? 0,
    },
    connections: run.connections,
    approved: run.totals.approved ?? 0,
    denied: run.totals.denied ?? 0,
    alerts: {
      messages: delivered.length,
      own: tallies.reduce((n, t) => n + t.deliveries.alert, 0),
      repeats: tallies.reduce((n, t) => n + t.deliveries.repeat, 0),
      summarised: tallies.reduce((n, t) => n + t.deliveries.summary, 0),
      summaries: tallies.reduce((n, t) => n + (t.byKind.summary ?? 0), 0),
    },
    resweep: {
      wallMs: again.wallMs,
      writes: againKube.writes,
      snsPublishes: again.aws["sns:Publish"]?.calls ?? 0,
    },
  };
  progress(
    `scale: ${label}: ${(row.wallMs / 1000).toFixed(2)} s wall, ${(row.cpuMs / 1000).toFixed(2)} s CPU, ` +
      `${(row.peakRssBytes / 2 ** 20).toFixed(0)} MB peak RSS; k8s ${kube.list} list / ${kube.nodeList} node list / ` +
      `${kube.writes} writes; EC2 ${row.ec2DescribeInstances} DescribeInstances; SNS ${row.aws.sns}; ` +
      `${row.connections.tls} new TLS (k8s) connections`,
  );
  return row;
}

/** The watch worker (event mode in its own process) until stop(): its summary line. */
async function startWatchWorker(spec: WorkerJob): Promise<{ stop(): Promise<WatchSummary> }> {
  const file = writeJob(spec);
  const child = spawn(process.execPath, ["--enable-source-maps", join(OUT, "watch-worker.mjs"), file], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-8000)));
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes(`"event":"watching"`)) resolve();
    });
    child.once("close", (code) => reject(new Error(`watch worker exited ${code}:\n${stderr.slice(-4000)}`)));
  });
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await closed;
      const done = stdout
        .trim()
        .split("\n")
        .find((line) => line.includes(`"event":"done"`));
      return done ? (JSON.parse(done) as WatchSummary) : {};
    },
  };
}

// ---------------------------------------------------------------------------------------
// 2. Time to approval in event mode

async function timeToApproval(world: World): Promise<TimeToApproval> {
  progress(`event mode: ${PLAN.tta} CSRs, one every ${TTA_SPACING_MS} ms, while watchClusters runs`);
  await resetCsrs(world);
  const clusters = world.clusters.length;
  const decidedAt = new Map<string, { decision: StoredDecision; at: number }>();
  const stops = await Promise.all(
    world.clusters.map((cluster, index) =>
      watchDecisions(cluster, (name, decision, at) => {
        if (decision !== "Pending" && !decidedAt.has(`${index}/${name}`))
          decidedAt.set(`${index}/${name}`, { decision, at });
      }),
    ),
  );
  const entries = world.clusters.map((cluster, i) => ({ name: cluster.name, clusterIndex: i }));
  const file = writeJob(job(world, configDoc(world, entries), 1, 15 * 60_000));
  const child = spawn(process.execPath, ["--enable-source-maps", join(OUT, "watch-worker.mjs"), file], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const watching = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes(`"event":"watching"`)) resolve();
    });
    child.once("close", (code) => reject(new Error(`watch worker exited ${code}:\n${stderr.slice(-4000)}`)));
  });
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));

  const waitDecided = async (keys: string[], timeoutMs: number) => {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (keys.every((key) => decidedAt.has(key))) return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return false;
  };

  try {
    await watching;
    // Warm-up, one CSR per cluster: the watches are open once these are approved.
    const plan = planCsrs(world.pool, world.foreign, PLAN.tta + clusters, clusters, false);
    const warmUp = plan.slice(0, clusters);
    const measured = plan.slice(clusters);
    for (const [index, cluster] of world.clusters.entries())
      await mintNodeIdentities(
        cluster,
        plan.filter((p) => p.clusterIndex === index).map((p) => p.instance.node),
        () => {},
      );
    for (const csr of warmUp)
      csr.name = await createPlannedCsr(world.clusters[csr.clusterIndex] as RigCluster, csr);
    if (
      !(await waitDecided(
        warmUp.map((p) => `${p.clusterIndex}/${p.name}`),
        60_000,
      ))
    )
      throw new Error("event mode: the warm-up CSRs were not decided within 60 s");
    progress("event mode: watches open (warm-up CSRs approved); creating the measured CSRs");

    const sentAt = new Map<string, number>();
    const createMs: number[] = [];
    for (const [i, csr] of measured.entries()) {
      const sent = performance.now();
      csr.name = await createPlannedCsr(world.clusters[csr.clusterIndex] as RigCluster, csr);
      createMs.push(performance.now() - sent);
      sentAt.set(`${csr.clusterIndex}/${csr.name}`, sent);
      if ((i + 1) % 10 === 0) progress(`event mode: ${i + 1}/${measured.length} CSRs created`);
      await new Promise((resolve) => setTimeout(resolve, TTA_SPACING_MS));
    }
    const keys = [...sentAt.keys()];
    if (!(await waitDecided(keys, 60_000)))
      problem("event mode: CSRs still undecided 60 s after the last was created");
    await verifyDecisions(world, "event mode", plan, undefined);

    const latencies = keys.flatMap((key) => {
      const decided = decidedAt.get(key);
      const sent = sentAt.get(key);
      return decided && sent !== undefined ? [decided.at - sent] : [];
    });
    child.kill("SIGTERM");
    await closed;
    const done = JSON.parse(
      stdout
        .trim()
        .split("\n")
        .find((line) => line.includes(`"event":"done"`)) ?? "{}",
    ) as { cpuMs?: number; peakRssBytes?: number; kube?: Record<string, KubeCallCounts> };
    const kube = sumKube(done.kube ?? {});
    const result: TimeToApproval = {
      csrs: measured.length,
      spacingMs: TTA_SPACING_MS,
      clusters,
      medianMs: median(latencies),
      p95Ms: percentile(latencies, 95),
      maxMs: Math.max(...latencies),
      minMs: Math.min(...latencies),
      createMedianMs: median(createMs),
      latenciesMs: latencies.map((value) => Math.round(value)),
      watcher: {
        cpuMs: done.cpuMs ?? Number.NaN,
        peakRssBytes: done.peakRssBytes ?? Number.NaN,
        sweeps: kube.list,
        writes: kube.writes,
      },
    };
    progress(
      `event mode: median ${Math.round(result.medianMs)} ms, p95 ${Math.round(result.p95Ms)} ms, ` +
        `max ${Math.round(result.maxMs)} ms over ${latencies.length} CSRs (${kube.list} sweeps started)`,
    );
    return result;
  } finally {
    for (const stop of stops) stop();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await closed;
    }
  }
}

// ---------------------------------------------------------------------------------------
// 4. Idle sweeps and the cost model

async function idleSweeps(world: World): Promise<IdleRow[]> {
  await resetCsrs(world);
  const rows: IdleRow[] = [];
  for (const count of PLAN.idle) {
    const entries = Array.from({ length: count }, (_, i) => ({
      name: `idle-${i + 1}`,
      clusterIndex: i % world.clusters.length,
    }));
    const out = await runSweepWorker(job(world, configDoc(world, entries), PLAN.idleRuns));
    for (const run of out.runs)
      for (const c of run.clusters)
        if (c.status !== "ok")
          problem(`idle sweep over ${count} clusters: ${c.cluster} ${c.status}: ${c.error}`);
    const [cold, ...warm] = out.runs;
    if (!cold || warm.length === 0) throw new Error("the idle sweep worker returned too few runs");
    const last = warm[warm.length - 1] as SweepRunResult;
    const row: IdleRow = {
      clusters: count,
      coldWallMs: cold.wallMs,
      warmWallMsMedian: median(warm.map((r) => r.wallMs)),
      warmCpuMsMedian: median(warm.map((r) => r.cpuMs)),
      peakRssBytes: last.peakRssBytes,
      awsCallsPerSweep: Object.fromEntries(Object.entries(last.aws).map(([k, v]) => [k, v.calls])),
      kubeCallsPerSweep: Object.values(sumKube(last.kube)).reduce((a, b) => a + b, 0),
    };
    progress(
      `idle: ${count} cluster(s): cold ${Math.round(row.coldWallMs)} ms, warm median ${Math.round(row.warmWallMsMedian)} ms ` +
        `(${Math.round(row.warmCpuMsMedian)} ms CPU)`,
    );
    rows.push(row);
  }
  return rows;
}

function costModel(idle: IdleRow[]): CostModel {
  const serverless = parseYaml(readFileSync(join(REPO_ROOT, "serverless.yml"), "utf8"), {
    logLevel: "silent",
  }) as {
    params: { default: { sweepSchedule: string; approverMemorySize: number } };
    provider: { architecture: string };
  };
  const schedule = serverless.params.default.sweepSchedule;
  const match = /^rate\((\d+) minutes?\)$/.exec(schedule);
  if (!match) throw new Error(`cost model: cannot read the schedule ${schedule}`);
  const invocationsPerMonth = (30 * 24 * 60) / Number(match[1]);
  const memoryMb = serverless.params.default.approverMemorySize;
  const gb = memoryMb / 1024;
  const cpuFactor = PRICE.lambdaMbPerVcpu / memoryMb;
  return {
    schedule,
    invocationsPerMonth,
    memoryMb,
    architecture: serverless.provider.architecture,
    usdPerGbSecond: PRICE.usdPerGbSecondArm,
    usdPerMillionRequests: PRICE.usdPerMillionRequests,
    freeTier: { gbSeconds: PRICE.freeGbSeconds, requests: PRICE.freeRequests },
    usdPer10kSecretsManagerCalls: PRICE.usdPer10kSecretsManagerCalls,
    lambdaMbPerVcpu: PRICE.lambdaMbPerVcpu,
    // An EC2 "running" event keeps the function for the watch window (the default window).
    eventWindowSeconds: DEFAULT_SWEEP.watchWindowSeconds,
    gbSecondsPerEvent: DEFAULT_SWEEP.watchWindowSeconds * gb,
    usdPer1000Events: 1000 * DEFAULT_SWEEP.watchWindowSeconds * gb * PRICE.usdPerGbSecondArm,
    rows: idle.map((row) => {
      const billedMs = Math.ceil(row.warmWallMsMedian);
      const cpu = Math.min(row.warmCpuMsMedian, row.warmWallMsMedian);
      const cpuScaledMs = Math.ceil(row.warmWallMsMedian - cpu + cpu * cpuFactor);
      const gbSeconds = (invocationsPerMonth * billedMs * gb) / 1000;
      const cpuScaledGbSeconds = (invocationsPerMonth * cpuScaledMs * gb) / 1000;
      const secretsCalls = (row.awsCallsPerSweep["secretsManager:GetSecretValue"] ?? 0) * invocationsPerMonth;
      return {
        clusters: row.clusters,
        billedMs,
        gbSecondsPerMonth: gbSeconds,
        usdPerMonth: gbSeconds * PRICE.usdPerGbSecondArm,
        cpuScaledMs,
        cpuScaledGbSecondsPerMonth: cpuScaledGbSeconds,
        cpuScaledUsdPerMonth: cpuScaledGbSeconds * PRICE.usdPerGbSecondArm,
        requestsUsdPerMonth: (invocationsPerMonth / 1e6) * PRICE.usdPerMillionRequests,
        secretsManagerCallsPerMonth: secretsCalls,
        secretsManagerUsdPerMonth: (secretsCalls / 10_000) * PRICE.usdPer10kSecretsManagerCalls,
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------

function runEventMode(world: World): Promise<EventModeResult> {
  return eventModeScenarios(
    {
      world,
      job: (indexes, windowMs) =>
        job(
          world,
          configDoc(
            world,
            indexes.map((i) => ({ name: `rig-${i + 1}`, clusterIndex: i })),
          ),
          1,
          windowMs,
        ),
      writeJob,
      workerPath: join(OUT, "event-worker.mjs"),
      progress,
      problem,
      cpus: cpus().length,
      ...(EVENT_ONLY ? { only: EVENT_ONLY } : {}),
    },
    QUICK ? EVENT_PLAN_QUICK : EVENT_PLAN,
  );
}

/** The cost model with its continuous-watch row, from the measured idle sweep and watcher. */
function costWithContinuous(idle: IdleRow[], event?: EventModeResult): CostModel {
  const model = costModel(idle);
  const renewal = event?.runs.find((run) => run.id === "renewal");
  model.continuousWatch = continuousWatchCost(model, model.rows[0]?.billedMs ?? 0, renewal);
  return model;
}

function evaluateTargets(r: Omit<BenchResult, "targets">): Target[] {
  const targets: Target[] = [];
  const sec = (value: number) => `${(value / 1000).toFixed(2)} s`;
  const largest = Math.max(...PLAN.scales);
  for (const row of r.scale.filter((x) => x.csrs === largest && x.clusters === 3))
    targets.push({
      id: "sweep-time",
      what: `${row.csrs.toLocaleString("en-US")} CSRs over 3 clusters decided and written`,
      target: `≤ ${sec(TARGET.sweep1000Ms)}`,
      measured: sec(row.wallMs),
      met: row.wallMs <= TARGET.sweep1000Ms,
    });
  const worstEc2 = r.scale.filter((x) => x.ec2DescribeInstances > x.ec2Bound);
  targets.push({
    id: "ec2-calls",
    what: "EC2 DescribeInstances per cluster, every scale",
    target: `≤ 1 per ${TARGET.ec2InstancesPerCall} instances`,
    measured: r.scale.map((x) => `${x.ec2DescribeInstances}/${x.ec2Bound}`).join(", ") + " (calls/bound)",
    met: worstEc2.length === 0,
  });
  const kubeOk = r.scale.every(
    (x) =>
      x.kube.maxListPerCluster <= 1 &&
      x.kube.list <= x.clusters &&
      x.kube.nodeList <= x.clusters &&
      x.kube.writes === x.approved + x.denied &&
      x.kube.reads === 0,
  );
  targets.push({
    id: "kube-calls",
    what: "Kubernetes calls per sweep, every scale",
    target: "≤ 1 list + 1 node list per cluster, 1 write per decided CSR",
    measured:
      r.scale.map((x) => `${x.kube.list}+${x.kube.nodeList}+${x.kube.writes}`).join(", ") +
      " (list+nodes+writes)",
    met: kubeOk,
  });
  const peak = Math.max(...r.scale.map((x) => x.peakRssBytes));
  targets.push({
    id: "peak-rss",
    what: "peak RSS of a sweep, every scale",
    target: `≤ ${TARGET.peakRssBytes / 2 ** 20} MB`,
    measured: `${(peak / 2 ** 20).toFixed(0)} MB (largest)`,
    met: peak <= TARGET.peakRssBytes,
  });
  const t = r.timeToApproval;
  targets.push({
    id: "tta-median",
    what: "time to approval in event mode, median",
    target: `≤ ${sec(TARGET.ttaMedianMs)}`,
    measured: sec(t.medianMs),
    met: t.medianMs <= TARGET.ttaMedianMs,
  });
  targets.push({
    id: "tta-p95",
    what: "time to approval in event mode, p95",
    target: `≤ ${sec(TARGET.ttaP95Ms)}`,
    measured: sec(t.p95Ms),
    met: t.p95Ms <= TARGET.ttaP95Ms,
  });
  if (r.eventMode) targets.push(...eventTargets(r.eventMode));
  const approver = r.coldStart.bundles.find((b) => b.fn === "approver" && b.variant === "as deployed");
  if (approver) {
    targets.push({
      id: "bundle-size",
      what: "approver bundle, minified",
      target: `≤ ${(TARGET.approverBundleBytes / 1e6).toFixed(1)} MB`,
      measured: `${(approver.bundleBytes / 1e6).toFixed(3)} MB`,
      met: approver.bundleBytes <= TARGET.approverBundleBytes,
    });
    targets.push({
      id: "load-init",
      what: "approver load + init (median)",
      target: `≤ ${TARGET.loadInitMs} ms`,
      measured: `${Math.round(approver.importMsMedian)} ms (CPU ${Math.round(approver.importCpuMsMedian)} ms; whole process ${approver.ratioToBareNode.toFixed(2)}× bare node)`,
      met: approver.importMsMedian <= TARGET.loadInitMs,
    });
  }
  return targets;
}

async function main(): Promise<number> {
  const major = Number(process.versions.node.split(".")[0]);
  if (major !== 22) {
    process.stderr.write(
      `error: the benchmark runs on Node 22 (the Lambda runtime), got ${process.version}; use npm run bench\n`,
    );
    return 1;
  }
  const startedAt = new Date().toISOString();
  progress(
    `plan: scales ${PLAN.scales.join(", ")} CSRs over ${PLAN.clusterCounts.join(" and ")} cluster(s)${QUICK ? " (quick)" : ""}`,
  );

  if (ONLY_AUDIT) {
    progress("--only-audit: the audit of approvals made elsewhere, written to bench/results/audit.{md,json}");
    const rig = await startRig({ clusters: 1 });
    let audit: AuditResult;
    try {
      const world = await setUpWorld(rig);
      const deps: FairnessDeps = {
        world,
        sweep: (config, options) => {
          const { timeoutMs, ...jobOptions } = options ?? {};
          return runSweepWorker({ ...job(world, config, 1), ...jobOptions }, timeoutMs);
        },
        config: (entries) => configDoc(world, entries, null),
        progress,
        problem,
      };
      await ensurePool(deps, AUDIT.nodes + AUDIT.hostile);
      audit = await auditReplay(deps, AUDIT);
    } finally {
      progress("stopping the rig");
      await rig.stop();
    }
    return writeAudit(audit, startedAt);
  }

  if (ONLY_FAIRNESS) {
    progress("--only-fairness: the fairness scenarios only, written to bench/results/fairness.{md,json}");
    const rig = await startRig({ clusters: 3 });
    let fairness: FairnessResult;
    try {
      fairness = await runFairness(await setUpWorld(rig));
    } finally {
      progress("stopping the rig");
      await rig.stop();
    }
    return writeFairness(fairness, startedAt);
  }

  if (ONLY_SIZES) {
    progress("--only-sizes: maximum-size CSRs in a sweep and under continuous watch (issue 21)");
    const plan = QUICK ? SIZES_PLAN_QUICK : SIZES_PLAN;
    PLAN.scales = [plan.legit + plan.bigNodes + plan.floodLegit + 1];
    const rig = await startRig({ clusters: 1 });
    let markdown = "";
    let json = "";
    try {
      const world = await setUpWorld(rig);
      const entries = [{ name: "rig-1", clusterIndex: 0 }];
      const result = await sizesScenarios(
        {
          cluster: world.clusters[0] as RigCluster,
          alerts: world.alerts,
          pool: world.pool,
          sweep: () => runSweepWorker(job(world, configDoc(world, entries), 1), LAMBDA_TIMEOUT_MS),
          watch: () => startWatchWorker(job(world, configDoc(world, entries), 1, 15 * 60_000)),
          progress,
          problem,
        },
        plan,
      );
      markdown = renderSizes(
        result,
        `# csr-approver benchmark: hostile sizes (\`npm run bench -- --only-sizes\`)\n\n` +
          `Run ${startedAt} → ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown"}, ` +
          `Node ${process.versions.node}${QUICK ? " (quick)" : ""}. See [docs/fairness.md](../../docs/fairness.md), "Memory".`,
      );
      json = `${JSON.stringify({ startedAt, finishedAt: new Date().toISOString(), quick: QUICK, ...result }, null, 2)}\n`;
    } finally {
      await rig.stop();
    }
    if (problems.length > 0) {
      process.stderr.write(
        `\n[bench] REFUSED: ${problems.length} problem(s):\n  ${problems.slice(0, 50).join("\n  ")}\n`,
      );
      return 2;
    }
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, "sizes.md"), markdown);
    writeFileSync(join(RESULTS, "sizes.json"), json);
    progress(`results: ${join(RESULTS, "sizes.md")}`);
    return 0;
  }

  if (ONLY_SCALE) {
    progress("--only-scale: sweep scale only, nothing written to bench/results");
    const rig = await startRig({ clusters: 3 });
    try {
      const world = await setUpWorld(rig);
      for (const clusters of PLAN.clusterCounts)
        for (const csrs of PLAN.scales) await scaleScenario(world, csrs, clusters);
    } finally {
      await rig.stop();
    }
    return problems.length > 0 ? 2 : 0;
  }

  if (ONLY_EVENT) {
    progress("--only-event: event-mode scale-up, renewals under continuous watch, cost model");
    const rig = await startRig({ clusters: 3 });
    let markdown = "";
    let json = "";
    let eventResult: EventModeResult | undefined;
    try {
      const world = await setUpWorld(rig);
      const event = await runEventMode(world);
      eventResult = event;
      PLAN.idle = [1];
      const cost = costWithContinuous(await idleSweeps(world), event);
      const continuous = cost.continuousWatch;
      markdown =
        `# csr-approver benchmark: event mode (\`npm run bench -- --only-event\`)\n\n` +
        `Run ${startedAt} → ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown"}, ` +
        `Node ${process.versions.node}. See [docs/benchmarks.md](../../docs/benchmarks.md).\n\n` +
        renderEventMode(event) +
        `\n## Cost model: continuous watch\n\n` +
        (continuous ? renderContinuousWatchCost(continuous, cost.schedule, cost.memoryMb) : "");
      json = `${JSON.stringify({ startedAt, finishedAt: new Date().toISOString(), quick: QUICK, event, cost, targets: eventTargets(event) }, null, 2)}\n`;
    } finally {
      await rig.stop();
    }
    if (problems.length > 0) {
      process.stderr.write(
        `\n[bench] REFUSED: ${problems.length} problem(s):\n  ${problems.slice(0, 50).join("\n  ")}\n`,
      );
      return 2;
    }
    mkdirSync(RESULTS, { recursive: true });
    // A subset of the scenarios is written next to the full run, named after what ran.
    const base = EVENT_ONLY ? `event-${EVENT_ONLY.join("-")}` : "event-latest";
    writeFileSync(join(RESULTS, `${base}.md`), markdown);
    writeFileSync(join(RESULTS, `${base}.json`), json);
    progress(`results: ${join(RESULTS, `${base}.md`)}`);
    if (eventResult && !EVENT_ONLY)
      for (const chart of await writeEventCharts(eventResult, RESULTS))
        progress(`chart: ${join(RESULTS, chart.file)}`);
    return 0;
  }

  progress(
    `cold start: ${PLAN.coldIterations} rounds of bare node + approver + notifier (before the rig starts: quiet machine)`,
  );
  const serverless = parseYaml(readFileSync(join(REPO_ROOT, "serverless.yml"), "utf8"), {
    logLevel: "silent",
  }) as {
    params: { default: { approverMemorySize: number } };
    functions: { notifier: { memorySize: number } };
  };
  const coldStart = await measureColdStart({
    lambdaDir: join(OUT, "lambda"),
    loader: join(REPO_ROOT, "bench", "load-bundle.mjs"),
    offlineGuard: join(REPO_ROOT, "scripts", "offline-guard.cjs"),
    memoryMb: {
      approver: serverless.params.default.approverMemorySize,
      notifier: serverless.functions.notifier.memorySize,
    },
    iterations: PLAN.coldIterations,
    progress,
  });
  for (const b of coldStart.bundles)
    progress(
      `cold start: ${b.fn} (${b.variant}): ${(b.bundleBytes / 1e6).toFixed(3)} MB, load + init ${Math.round(b.importMsMedian)} ms ` +
        `(process ${Math.round(b.processMsMedian)} ms = ${b.ratioToBareNode.toFixed(2)}× bare node ${Math.round(coldStart.bareNodeMsMedian)} ms)`,
    );

  progress("starting the rig: 3 clusters + moto (the first build of kube-apiserver takes a while)");
  const rig = await startRig({ clusters: 3 });
  try {
    const world = await setUpWorld(rig);
    const scale: ScaleRow[] = [];
    for (const clusters of PLAN.clusterCounts)
      for (const csrs of PLAN.scales) scale.push(await scaleScenario(world, csrs, clusters));
    const tta = await timeToApproval(world);
    const eventMode = await runEventMode(world);
    progress(`idle sweeps for the cost model: ${PLAN.idle.join(", ")} configured clusters`);
    const idle = await idleSweeps(world);
    const partial = {
      startedAt,
      finishedAt: new Date().toISOString(),
      quick: QUICK,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model.trim() ?? "unknown",
        memoryGb: Math.round(totalmem() / 2 ** 30),
        node: process.versions.node,
        platform: `${process.platform}/${process.arch}`,
      },
      rig: {
        clusters: rig.clusters.length,
        startSeconds: rig.startSeconds,
        ...(rig.binaries.firstBuildSeconds !== undefined
          ? { apiserverFirstBuildSeconds: rig.binaries.firstBuildSeconds }
          : {}),
      },
      seeding: world.seeding,
      scale,
      timeToApproval: tta,
      coldStart,
      idle,
      eventMode,
      cost: costWithContinuous(idle, eventMode),
      decisionsVerified: world.verified,
    };
    const result: BenchResult = { ...partial, targets: evaluateTargets(partial) };
    // The main results are written before the (long) fairness scenarios start.
    const code = await writeMain(result);
    if (code === 2) return 2;
    const fairness = await runFairness(world);
    return Math.max(code, writeFairness(fairness, fairness.startedAt));
  } finally {
    progress("stopping the rig");
    await rig.stop();
  }
}

async function writeMain(result: BenchResult): Promise<number> {
  if (problems.length > 0) {
    process.stderr.write(
      `\n[bench] REFUSED: ${problems.length} wrong decision(s); no results written:\n  ${problems.slice(0, 50).join("\n  ")}\n`,
    );
    return 2;
  }
  mkdirSync(RESULTS, { recursive: true });
  const markdown = renderMarkdown(result);
  const json = `${JSON.stringify(result, null, 2)}\n`;
  const dated = result.startedAt.slice(0, 10);
  for (const name of ["latest", dated]) {
    writeFileSync(join(RESULTS, `${name}.md`), markdown);
    writeFileSync(join(RESULTS, `${name}.json`), json);
  }
  progress(`results: ${join(RESULTS, "latest.md")} (and ${dated}.md/.json)`);
  for (const chart of await writeCharts(result, RESULTS)) progress(`chart: ${join(RESULTS, chart.file)}`);
  for (const target of result.targets)
    progress(
      `${target.met ? "met   " : "MISSED"} ${target.what}: ${target.measured} (goal ${target.target})`,
    );
  const missed = result.targets.filter((target) => !target.met).length;
  return STRICT && missed > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------
// 5. Fairness and budgets (issue 10)

async function runFairness(world: World): Promise<FairnessResult> {
  const startedAt = new Date().toISOString();
  const load = [loadavg()[0] ?? 0];
  const deps: FairnessDeps = {
    world,
    sweep: (config, options) => {
      const { timeoutMs, ...jobOptions } = options ?? {};
      return runSweepWorker({ ...job(world, config, 1), ...jobOptions }, timeoutMs);
    },
    config: (entries) => configDoc(world, entries, null),
    progress,
    problem,
  };
  const rotation: RotationResult[] = [];
  for (const size of FAIR.rotation) {
    rotation.push(await fleetRotation(deps, size, FAIR.maxSweeps));
    load.push(loadavg()[0] ?? 0);
  }
  const flood: FloodResult[] = [];
  for (const attackersHoldCertificate of [true, false]) {
    flood.push(await hostileFlood(deps, { ...FAIR.flood, attackersHoldCertificate }));
    load.push(loadavg()[0] ?? 0);
  }
  const replay = await replaySweep(deps, FAIR.replay);
  load.push(loadavg()[0] ?? 0);
  await resetCsrs(world);
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    quick: QUICK,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? "unknown",
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.versions.node,
      platform: `${process.platform}/${process.arch}`,
    },
    loadAverage1m: load,
    uptime: uptimeLine(),
    rotation,
    flood,
    replay,
    targets: [],
  };
}

function uptimeLine(): string {
  try {
    return execFileSync("uptime", { encoding: "utf8" }).trim();
  } catch {
    return `load average ${loadavg()
      .map((v) => v.toFixed(2))
      .join(", ")}`;
  }
}

function writeAudit(audit: AuditResult, startedAt: string): number {
  if (problems.length > 0) {
    process.stderr.write(
      `\n[bench] REFUSED: ${problems.length} problem(s); no audit results written:\n  ${problems.slice(0, 50).join("\n  ")}\n`,
    );
    return 1;
  }
  const r = audit.run;
  const targets = [
    {
      what: `one sweep auditing ${audit.approvedElsewhere} approvals made elsewhere: wall time`,
      target: `≤ ${AUDIT_TARGET.wallMs / 1000} s (the default schedule)`,
      measured: `${(r.wallMs / 1000).toFixed(1)} s`,
      met: r.wallMs <= AUDIT_TARGET.wallMs,
    },
    {
      what: "peak RSS of that sweep",
      target: `≤ ${AUDIT_TARGET.peakRssBytes / 2 ** 20} MB (the fairness bound)`,
      measured: `${(r.peakRssBytes / 2 ** 20).toFixed(0)} MB`,
      met: r.peakRssBytes <= AUDIT_TARGET.peakRssBytes,
    },
  ];
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown"}, ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.versions.node}`;
  const md = [
    "# csr-approver benchmark: the audit of approvals made elsewhere (`npm run bench -- --only-audit`)",
    "",
    `Run started ${startedAt}${QUICK ? " (quick)" : ""} on ${machine}; load ${uptimeLine()}.`,
    "",
    `${audit.approvedElsewhere} kubelet-serving CSRs approved by another approver (the rig admin, reason ` +
      "`BenchSetup`) and issued by the rig's signer, created within the last minute, served by the " +
      `replay apiserver from real CSR JSON: ${audit.hostile} hostile (another node's IP), the rest clones of ` +
      `${audit.nodes} nodes' own CSRs. One sweep with the default settings, in a fresh worker process.`,
    "",
    "| target | wanted | measured | met |",
    "| --- | --- | --- | --- |",
    ...targets.map((t) => `| ${t.what} | ${t.target} | ${t.measured} | ${t.met ? "yes" : "**no**"} |`),
    "",
    "| figure | value |",
    "| --- | --- |",
    `| audited / left for the next sweep | ${r.audited} / ${r.auditDeferred} |`,
    `| approved-elsewhere (violations) | ${r.violations} (alerts on their own: ${r.alertKinds["approved-elsewhere"] ?? 0}) |`,
    `| SNS messages | ${r.messages} |`,
    `| wall / CPU | ${(r.wallMs / 1000).toFixed(1)} s / ${(r.cpuMs / 1000).toFixed(1)} s |`,
    `| peak RSS | ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MB |`,
    `| DescribeInstances calls (HTTP attempts) | ${r.ec2DescribeInstances} (${r.ec2Attempts}) |`,
    `| LIST pages served | ${r.serverPages} |`,
    `| writes to the audited CSRs | ${r.writes} |`,
    `| set-up (mint, create, approve, issue, capture) | ${audit.setupSeconds.toFixed(0)} s |`,
    "",
  ].join("\n");
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, "audit.md"), md);
  writeFileSync(
    join(RESULTS, "audit.json"),
    `${JSON.stringify({ startedAt, quick: QUICK, ...audit, targets }, null, 2)}\n`,
  );
  progress(`audit results: ${join(RESULTS, "audit.md")}`);
  for (const t of targets) progress(`  ${t.met ? "met" : "MISSED"}: ${t.what}: ${t.measured} (${t.target})`);
  return STRICT && targets.some((t) => !t.met) ? 1 : 0;
}

function writeFairness(fairness: FairnessResult, startedAt: string): number {
  fairness.targets = evaluateFairnessTargets(fairness, FAIR);
  if (problems.length > 0) {
    process.stderr.write(
      `\n[bench] REFUSED: ${problems.length} wrong decision(s); no fairness results written:\n  ${problems.slice(0, 50).join("\n  ")}\n`,
    );
    return 2;
  }
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, "fairness.md"), renderFairnessMarkdown(fairness));
  writeFileSync(join(RESULTS, "fairness.json"), `${JSON.stringify(fairness, null, 2)}\n`);
  progress(`fairness results: ${join(RESULTS, "fairness.md")} (run started ${startedAt})`);
  for (const target of fairness.targets)
    progress(
      `${target.met ? "met   " : "MISSED"} ${target.what}: ${target.measured} (goal ${target.target})`,
    );
  return STRICT && fairness.targets.some((t) => !t.met) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
