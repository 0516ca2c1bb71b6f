// Issue 14's event-mode scenarios, run by bench/main.ts (also alone: --only-event):
//
//   a. scale-up: `scaleUpNodes` nodes (real node identities, one EC2 instance each in moto) file
//      their first serving CSR at random times over `scaleUpSeconds` while event mode runs
//      (bench/lib/event-worker.ts: runSweep keeping the sessions, then watchClusters);
//   b. renewals under continuous watch: `renewals` of those nodes, each already holding an
//      approved CSR, file a new one at random times over `renewalSeconds` while a fresh worker
//      watches (what a scheduled invocation with sweep.continuousWatch does).
//
// Time to approval is measured from outside: from sending the create request (as the kubelet
// does) to a separate admin watch seeing the Approved condition. Every CSR's stored decision is
// checked afterwards. The worker reports its WatchStats, Kubernetes calls and the time of each
// DescribeInstances call, so the targets (≤ 1 DescribeInstances a second per cluster, ≤ 1 CSR
// LIST per watch connect) are checked from counts, not assumed.
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import type { WatchStats } from "../../functions/sweep/watch.js";
import type { RigCluster } from "../../test/rig/index.js";
import type { KubeCallCounts, WorkerJob } from "./job.js";
import { median, percentile } from "./stats.js";
import {
  createPlannedCsr,
  deleteAllCsrs,
  mintNodeIdentities,
  planCsrs,
  storedDecisions,
  watchDecisions,
  type PlannedCsr,
  type PoolInstance,
  type StoredDecision,
} from "./world.js";

export interface EventWorld {
  clusters: RigCluster[];
  pool: PoolInstance[];
  foreign: PoolInstance[];
}

export interface EventPlan {
  scaleUpNodes: number;
  scaleUpSeconds: number;
  renewals: number;
  renewalSeconds: number;
}

export const EVENT_PLAN: EventPlan = {
  scaleUpNodes: 1000,
  scaleUpSeconds: 120,
  renewals: 100,
  renewalSeconds: 60,
};
export const EVENT_PLAN_QUICK: EventPlan = {
  scaleUpNodes: 20,
  scaleUpSeconds: 10,
  renewals: 10,
  renewalSeconds: 10,
};

export interface EventRun {
  scenario: string;
  clusters: number;
  csrs: number;
  /** Planned spread of the creates, and the span they actually took. */
  arrivalSeconds: number;
  sentSpanSeconds: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  minMs: number;
  /** The worker: its first sweep, then the watch. */
  sweepMs: number;
  watchedMs: number;
  cpuMs: number;
  peakRssBytes: number;
  csrLists: number;
  nodeLists: number;
  watchConnects: number;
  writes: number;
  describeInstances: number;
  /** Most DescribeInstances calls in any one second (sliding), per cluster: ≤ 1 is the target. */
  maxDescribePerSecondPerCluster: number;
  /** Shortest time between two DescribeInstances calls of the cluster, and their mean rate while watching. */
  minDescribeGapMs: number;
  describePerSecondWhileWatching: number;
  ec2BudgetWaitedMs: number;
  /** Watch events by type; events older than the resourceVersion the watch started from. */
  eventTypes: Record<string, number>;
  staleEvents: number;
  /** AWS calls by `service:Command` (the first sweep included). */
  aws: Record<string, number>;
  batches: number;
  events: number;
  ignoredEvents: number;
  reconnects: number;
  loadAverage: { before: number; after: number };
  latenciesMs: number[];
}

export interface EventModeResult {
  plan: EventPlan;
  cpus: number;
  runs: EventRun[];
}

interface Done {
  cpuMs: number;
  peakRssBytes: number;
  sweepMs: number;
  watchedMs: number;
  kube: Record<string, KubeCallCounts>;
  aws: Record<string, { calls: number }>;
  watch: Record<string, WatchStats>;
  describeAtMs: number[];
  ec2BudgetWaitedMs: number;
  eventTypes: Record<string, number>;
  staleEvents: number;
  warnings: string[];
}

export interface EventDeps {
  world: EventWorld;
  /** The worker's job for these cluster indexes (config, moto, topic), window in ms. */
  job: (clusterIndexes: number[], windowMs: number) => WorkerJob;
  writeJob: (job: WorkerJob) => string;
  workerPath: string;
  progress: (message: string) => void;
  problem: (message: string) => void;
  cpus: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Random arrival offsets over `seconds`, sorted (a seeded generator: runs are comparable). */
function arrivals(n: number, seconds: number, seed: number): number[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return Array.from({ length: n }, () => next() * seconds * 1000).sort((a, b) => a - b);
}

function maxPerSecond(times: number[]): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] as number) - (times[start] as number) >= 1000) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/**
 * Runs one worker over cluster 0 while `plan` CSRs are created at `offsets`; returns the
 * measurements once every CSR is decided (or 60 s after the last create).
 */
async function measure(
  deps: EventDeps,
  scenario: string,
  plan: PlannedCsr[],
  offsets: number[],
  arrivalSeconds: number,
): Promise<EventRun> {
  const { world, progress, problem } = deps;
  const cluster = world.clusters[0] as RigCluster;
  const loadBefore = loadavg()[0] ?? 0;
  const decidedAt = new Map<string, { decision: StoredDecision; at: number }>();
  const stop = await watchDecisions(cluster, (name, decision, at) => {
    if (decision !== "Pending" && !decidedAt.has(name)) decidedAt.set(name, { decision, at });
  });
  const file = deps.writeJob(deps.job([0], 30 * 60_000));
  const child = spawn(process.execPath, ["--enable-source-maps", deps.workerPath, file], {
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
    child.once("close", (code) => reject(new Error(`event worker exited ${code}:\n${stderr.slice(-4000)}`)));
  });
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  try {
    await watching;
    // The watch opens right after the sweep; give it a moment to be established.
    await sleep(1000);
    progress(`${scenario}: watching; ${plan.length} CSRs over ${arrivalSeconds} s`);
    const sentAt = new Map<string, number>();
    const started = performance.now();
    let lastReport = started;
    let inFlight = 0;
    const creates: Promise<void>[] = [];
    for (const [i, csr] of plan.entries()) {
      const due = started + (offsets[i] as number);
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      while (inFlight >= 32) await sleep(5);
      inFlight += 1;
      creates.push(
        (async () => {
          const sent = performance.now();
          try {
            csr.name = await createPlannedCsr(cluster, csr);
            sentAt.set(csr.name, sent);
          } finally {
            inFlight -= 1;
          }
        })(),
      );
      if (performance.now() - lastReport > 15_000) {
        lastReport = performance.now();
        progress(`${scenario}: ${i + 1}/${plan.length} CSRs sent, ${decidedAt.size} decided`);
      }
    }
    await Promise.all(creates);
    const sentSpanSeconds = (performance.now() - started) / 1000;
    const names = plan.map((p) => p.name ?? "");
    const deadline = performance.now() + 60_000;
    while (performance.now() < deadline && !names.every((n) => decidedAt.has(n))) await sleep(50);
    if (!names.every((n) => decidedAt.has(n)))
      problem(
        `${scenario}: ${names.filter((n) => !decidedAt.has(n)).length} CSRs undecided 60 s after the last`,
      );
    const stored = await storedDecisions(cluster);
    for (const csr of plan)
      if (stored.get(csr.name ?? "") !== csr.expected)
        problem(
          `${scenario}: CSR ${csr.name} is ${stored.get(csr.name ?? "") ?? "missing"}, expected ${csr.expected}`,
        );

    child.kill("SIGTERM");
    await closed;
    const done = JSON.parse(
      stdout
        .trim()
        .split("\n")
        .find((line) => line.includes(`"event":"done"`)) ?? "null",
    ) as Done | null;
    if (!done) throw new Error(`${scenario}: the event worker printed no summary:\n${stderr.slice(-2000)}`);
    const latencies = names.flatMap((n) => {
      const decided = decidedAt.get(n);
      const sent = sentAt.get(n);
      return decided && sent !== undefined ? [decided.at - sent] : [];
    });
    const kube = Object.values(done.kube).reduce(
      (sum, k) => ({
        list: sum.list + k.list,
        nodeList: sum.nodeList + k.nodeList,
        writes: sum.writes + k.writes,
        watches: sum.watches + k.watches,
      }),
      { list: 0, nodeList: 0, writes: 0, watches: 0 },
    );
    const watch = Object.values(done.watch).reduce(
      (sum, w) => ({
        batches: sum.batches + w.batches,
        events: sum.events + w.events,
        ignoredEvents: sum.ignoredEvents + w.ignoredEvents,
        reconnects: sum.reconnects + w.reconnects,
      }),
      { batches: 0, events: 0, ignoredEvents: 0, reconnects: 0 },
    );
    const run: EventRun = {
      scenario,
      clusters: 1,
      csrs: plan.length,
      arrivalSeconds,
      sentSpanSeconds,
      medianMs: median(latencies),
      p95Ms: percentile(latencies, 95),
      maxMs: Math.max(...latencies),
      minMs: Math.min(...latencies),
      sweepMs: done.sweepMs,
      watchedMs: done.watchedMs,
      cpuMs: done.cpuMs,
      peakRssBytes: done.peakRssBytes,
      csrLists: kube.list,
      nodeLists: kube.nodeList,
      watchConnects: kube.watches,
      writes: kube.writes,
      describeInstances: done.aws["ec2:DescribeInstances"]?.calls ?? 0,
      maxDescribePerSecondPerCluster: maxPerSecond(done.describeAtMs),
      minDescribeGapMs: Math.min(
        ...done.describeAtMs.slice(1).map((at, i) => at - (done.describeAtMs[i] as number)),
      ),
      describePerSecondWhileWatching: done.describeAtMs.length / Math.max(1, done.watchedMs / 1000),
      ec2BudgetWaitedMs: done.ec2BudgetWaitedMs,
      eventTypes: done.eventTypes,
      staleEvents: done.staleEvents,
      aws: Object.fromEntries(Object.entries(done.aws).map(([k, v]) => [k, v.calls])),
      ...watch,
      loadAverage: { before: loadBefore, after: loadavg()[0] ?? 0 },
      latenciesMs: latencies.map((v) => Math.round(v)),
    };
    progress(
      `${scenario}: p50 ${Math.round(run.medianMs)} ms, p95 ${Math.round(run.p95Ms)} ms, max ${Math.round(run.maxMs)} ms; ` +
        `${run.csrLists} CSR LIST(s), ${run.nodeLists} node LIST(s), ${run.watchConnects} watch connect(s), ` +
        `${run.describeInstances} DescribeInstances (max ${run.maxDescribePerSecondPerCluster}/s), ` +
        `${run.batches} batches, ${run.events} events (${run.ignoredEvents} ignored; ${JSON.stringify(run.eventTypes)}, ` +
        `${run.staleEvents} older than the watch's start), AWS ${JSON.stringify(run.aws)}, load ${run.loadAverage.before.toFixed(1)}`,
    );
    for (const warning of done.warnings.slice(0, 5)) progress(`  ${scenario} warning: ${warning}`);
    return run;
  } finally {
    stop();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await closed;
    }
  }
}

export async function eventModeScenarios(deps: EventDeps, plan: EventPlan): Promise<EventModeResult> {
  const { world, progress } = deps;
  const cluster = world.clusters[0] as RigCluster;
  await Promise.all(world.clusters.map((c) => deleteAllCsrs(c)));
  const csrs = planCsrs(world.pool, world.foreign, plan.scaleUpNodes, 1, false);
  const minted = await mintNodeIdentities(
    cluster,
    csrs.map((p) => p.instance.node),
    (done) => progress(`event scale-up: ${done} node certificates minted`),
  );
  progress(`event scale-up: ${minted} node certificates minted (${csrs.length} nodes)`);
  const scaleUp = await measure(
    deps,
    "event scale-up",
    csrs,
    arrivals(csrs.length, plan.scaleUpSeconds, 14),
    plan.scaleUpSeconds,
  );
  // Renewals: nodes that hold the certificate approved above file a new CSR.
  const renewing = arrivals(plan.renewals, csrs.length, 1014).map((x) => Math.floor(x / 1000));
  const picked = [...new Set(renewing)].slice(0, plan.renewals);
  for (let i = 0; picked.length < plan.renewals && i < csrs.length; i++)
    if (!picked.includes(i)) picked.push(i);
  const renewals = picked.map((i) => ({ ...(csrs[i] as PlannedCsr), name: undefined }) as PlannedCsr);
  const renewal = await measure(
    deps,
    "renewals, continuous watch",
    renewals,
    arrivals(renewals.length, plan.renewalSeconds, 114),
    plan.renewalSeconds,
  );
  return { plan, cpus: deps.cpus, runs: [scaleUp, renewal] };
}

export const EVENT_TARGET = { describePerSecondPerCluster: 1, renewalP95Ms: 1000 };

export interface EventTarget {
  id: string;
  what: string;
  target: string;
  measured: string;
  met: boolean;
}

export function eventTargets(r: EventModeResult): EventTarget[] {
  const [scaleUp, renewal] = r.runs;
  const out: EventTarget[] = [];
  for (const run of r.runs) {
    out.push({
      id: `event-ec2-rate-${run === scaleUp ? "scaleup" : "renewal"}`,
      what: `${run.scenario}: DescribeInstances per second per cluster`,
      target: `≤ ${EVENT_TARGET.describePerSecondPerCluster}`,
      measured:
        `max ${run.maxDescribePerSecondPerCluster} in any 1 s (sliding), shortest gap ${Math.round(run.minDescribeGapMs)} ms, ` +
        `mean ${run.describePerSecondWhileWatching.toFixed(2)}/s; ${run.describeInstances} calls for ${run.batches} batches ` +
        `+ the first sweep, ${run.events} events`,
      met: run.maxDescribePerSecondPerCluster <= EVENT_TARGET.describePerSecondPerCluster,
    });
    out.push({
      id: `event-lists-${run === scaleUp ? "scaleup" : "renewal"}`,
      what: `${run.scenario}: CSR LISTs per watch (re)connect`,
      target: "≤ 1",
      measured: `${run.csrLists} LIST(s) for ${run.watchConnects} connect(s) (${run.reconnects} reconnects)`,
      met: run.csrLists <= Math.max(1, run.watchConnects),
    });
  }
  if (renewal)
    out.push({
      id: "renewal-p95",
      what: "renewals under continuous watch: time to approval, p95",
      target: `≤ ${(EVENT_TARGET.renewalP95Ms / 1000).toFixed(2)} s`,
      measured: `${(renewal.p95Ms / 1000).toFixed(2)} s`,
      met: renewal.p95Ms <= EVENT_TARGET.renewalP95Ms,
    });
  return out;
}

const ms = (value: number) => `${Math.round(value).toLocaleString("en-US")} ms`;

export function renderEventMode(r: EventModeResult): string {
  const out: string[] = [];
  out.push(`## 2b. Event mode at scale (issue 14)`);
  out.push("");
  out.push(
    `One rig cluster. Scale-up: ${r.plan.scaleUpNodes.toLocaleString("en-US")} nodes (one EC2 instance each in moto, ` +
      `a real node client certificate each) file their first serving CSR at random times over ` +
      `${r.plan.scaleUpSeconds} s while event mode runs in its own process (runSweep keeping the session, then ` +
      `watchClusters). Renewals: ${r.plan.renewals} of those nodes, each holding an approved CSR, file a new one ` +
      `at random times over ${r.plan.renewalSeconds} s while a fresh process watches, as a scheduled invocation ` +
      `with \`sweep.continuousWatch: true\` does. Time to approval: from sending the create request to a ` +
      `separate admin watch seeing Approved. DescribeInstances calls are timed at the approver's token bucket. ` +
      `Load: 1-minute load average on ${r.cpus} cores, shared with other work.`,
  );
  out.push("");
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  const head = [
    "scenario",
    "CSRs (sent over)",
    "p50",
    "p95",
    "max",
    "CSR LISTs",
    "node LISTs",
    "watch connects",
    "DescribeInstances (max / s)",
    "batches",
    "events (ignored)",
    "writes",
    "first sweep",
    "watcher CPU",
    "load before → after",
  ];
  out.push(line(head), line(head.map(() => "---")));
  for (const run of r.runs)
    out.push(
      line([
        run.scenario,
        `${run.csrs} (${run.sentSpanSeconds.toFixed(0)} s)`,
        ms(run.medianMs),
        ms(run.p95Ms),
        ms(run.maxMs),
        run.csrLists,
        run.nodeLists,
        run.watchConnects,
        `${run.describeInstances} (${run.maxDescribePerSecondPerCluster})`,
        run.batches,
        `${run.events} (${run.ignoredEvents})`,
        run.writes,
        ms(run.sweepMs),
        `${(run.cpuMs / 1000).toFixed(1)} s`,
        `${run.loadAverage.before.toFixed(1)} → ${run.loadAverage.after.toFixed(1)}`,
      ]),
    );
  out.push("");
  const targets = eventTargets(r);
  out.push(line(["", "target", "goal", "measured"]), line(["---", "---", "---", "---"]));
  for (const t of targets) out.push(line([t.met ? "met" : "**MISSED**", t.what, t.target, t.measured]));
  out.push("");
  return `${out.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------
// Continuous watch in the cost model: each scheduled invocation runs until CONTINUOUS_MARGIN
// before the next (functions/approver.ts), so its billed duration is the period minus 5 s,
// whatever the sweep took; the watcher's measured CPU shows how little of it is work.

export interface ContinuousWatchCost {
  billedMsPerInvocation: number;
  gbSecondsPerMonth: number;
  computeUsdPerMonth: number;
  requestsUsdPerMonth: number;
  usdPerMonth: number;
  /** After the free tier (400,000 GB-s, 1 M requests), if nothing else in the account uses it. */
  usdPerMonthAfterFreeTier: number;
  defaultBilledMs: number;
  defaultGbSecondsPerMonth: number;
  defaultUsdPerMonth: number;
  defaultUsdPerMonthAfterFreeTier: number;
  /** Measured: the watcher's CPU per minute of watching (renewal scenario), when run. */
  watcherCpuMsPerMinute?: number;
}

export function continuousWatchCost(
  model: {
    schedule: string;
    invocationsPerMonth: number;
    memoryMb: number;
    usdPerGbSecond: number;
    usdPerMillionRequests: number;
    freeTier: { gbSeconds: number; requests: number };
  },
  defaultBilledMs: number,
  watcher?: { cpuMs: number; watchedMs: number },
): ContinuousWatchCost {
  const match = /^rate\((\d+) minutes?\)$/.exec(model.schedule);
  const periodMs = Number(match?.[1] ?? 1) * 60_000;
  const billedMs = periodMs - 5_000;
  const gb = model.memoryMb / 1024;
  const requests = model.invocationsPerMonth;
  const requestsUsd = (requests / 1e6) * model.usdPerMillionRequests;
  const requestsUsdFree =
    (Math.max(0, requests - model.freeTier.requests) / 1e6) * model.usdPerMillionRequests;
  const cost = (ms: number) => {
    const gbSeconds = (requests * ms * gb) / 1000;
    return {
      gbSeconds,
      usd: gbSeconds * model.usdPerGbSecond + requestsUsd,
      usdFree: Math.max(0, gbSeconds - model.freeTier.gbSeconds) * model.usdPerGbSecond + requestsUsdFree,
    };
  };
  const continuous = cost(billedMs);
  const base = cost(defaultBilledMs);
  return {
    billedMsPerInvocation: billedMs,
    gbSecondsPerMonth: continuous.gbSeconds,
    computeUsdPerMonth: continuous.gbSeconds * model.usdPerGbSecond,
    requestsUsdPerMonth: requestsUsd,
    usdPerMonth: continuous.usd,
    usdPerMonthAfterFreeTier: continuous.usdFree,
    defaultBilledMs,
    defaultGbSecondsPerMonth: base.gbSeconds,
    defaultUsdPerMonth: base.usd,
    defaultUsdPerMonthAfterFreeTier: base.usdFree,
    ...(watcher && watcher.watchedMs > 0
      ? { watcherCpuMsPerMinute: (watcher.cpuMs / watcher.watchedMs) * 60_000 }
      : {}),
  };
}

export function renderContinuousWatchCost(
  c: ContinuousWatchCost,
  schedule: string,
  memoryMb: number,
): string {
  const usd = (value: number) => `$${value < 1 ? value.toFixed(4) : value.toFixed(2)}`;
  const int = (value: number) => Math.round(value).toLocaleString("en-US");
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  const out = [
    `Continuous watch (\`sweep.continuousWatch: true\`) next to the default, one configured cluster, ` +
      `${memoryMb} MB arm64, schedule \`${schedule}\`: a continuous invocation is billed until 5 s before the ` +
      `next one (${int(c.billedMsPerInvocation)} ms), the default for its measured warm idle sweep. Monthly ` +
      `cost = compute (GB-s) + requests; "after free tier" subtracts the whole free tier, as if nothing else ` +
      `in the account used it.` +
      (c.watcherCpuMsPerMinute !== undefined
        ? ` Measured CPU of the watching process: ${int(c.watcherCpuMsPerMinute)} ms per minute of watching ` +
          `(billed all the same: Lambda bills wall time).`
        : ""),
    "",
    line(["mode", "billed per invocation", "GB-s / month", "USD / month", "USD / month after free tier"]),
    line(["---", "---", "---", "---", "---"]),
    line([
      "default (scheduled sweep)",
      `${int(c.defaultBilledMs)} ms`,
      int(c.defaultGbSecondsPerMonth),
      usd(c.defaultUsdPerMonth),
      usd(c.defaultUsdPerMonthAfterFreeTier),
    ]),
    line([
      "continuous watch",
      `${int(c.billedMsPerInvocation)} ms`,
      int(c.gbSecondsPerMonth),
      usd(c.usdPerMonth),
      usd(c.usdPerMonthAfterFreeTier),
    ]),
    "",
  ];
  return `${out.join("\n")}\n`;
}
