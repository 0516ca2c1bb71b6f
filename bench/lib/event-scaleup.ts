// The event-mode scenarios (issues 14 and 23), run by bench/main.ts (also alone: --only-event,
// a subset with --event=pool,lone,throttle,scaleup,renewal):
//
//   pool: a node pool scaling out: `pool.csrs` nodes file their first serving CSR
//      `pool.spacingMs` apart while event mode runs (bench/lib/event-worker.ts: runSweep keeping
//      the sessions, then watchClusters);
//   lone: CSRs arriving alone, `lone.spacingMs` apart;
//   throttle: the same as `pool`, with EC2 throttling every DescribeInstances for the first
//      `throttle.seconds` (bench/lib/ec2-fault-proxy.ts in front of moto);
//   scaleup: `scaleUpNodes` nodes file their first CSR at random times over `scaleUpSeconds`;
//   renewal: `renewals` of those nodes, each already holding an approved CSR, file a new one at
//      random times over `renewalSeconds` while a fresh worker watches (what a scheduled
//      invocation with sweep.continuousWatch does).
//
// Time to approval is measured from outside: from sending the create request (as the kubelet
// does) to a separate admin watch seeing the Approved condition. Every CSR's stored decision is
// checked afterwards. The worker reports its WatchStats, Kubernetes calls, the time of each
// DescribeInstances call (when its bucket granted it) and what its bucket saw, so the targets
// (calls within the bucket's allowance at every instant, ≤ 1 call per CSR, ≤ 1 CSR LIST per
// watch connect, back-off under throttling) are checked from counts, not assumed.
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import type { WatchStats } from "../../functions/sweep/watch.js";
import type { RigCluster } from "../../test/rig/index.js";
import { startFaultProxy, type FaultProxy } from "./ec2-fault-proxy.js";
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
  motoEndpoint: string;
}

export interface EventPlan {
  pool: { csrs: number; spacingMs: number };
  lone: { csrs: number; spacingMs: number };
  throttle: { csrs: number; spacingMs: number; seconds: number };
  scaleUpNodes: number;
  scaleUpSeconds: number;
  renewals: number;
  renewalSeconds: number;
}

export const EVENT_PLAN: EventPlan = {
  pool: { csrs: 50, spacingMs: 250 },
  lone: { csrs: 10, spacingMs: 1500 },
  throttle: { csrs: 20, spacingMs: 250, seconds: 8 },
  scaleUpNodes: 1000,
  scaleUpSeconds: 120,
  renewals: 100,
  renewalSeconds: 60,
};
export const EVENT_PLAN_QUICK: EventPlan = {
  pool: { csrs: 8, spacingMs: 250 },
  lone: { csrs: 3, spacingMs: 1500 },
  throttle: { csrs: 6, spacingMs: 250, seconds: 3 },
  scaleUpNodes: 20,
  scaleUpSeconds: 10,
  renewals: 10,
  renewalSeconds: 10,
};

export const EVENT_SCENARIOS = ["pool", "lone", "throttle", "scaleup", "renewal"] as const;
export type EventScenario = (typeof EVENT_SCENARIOS)[number];

export interface BucketSeen {
  /** The configured share (sweep.describeInstancesPerSecond, describeInstancesBurst). */
  ratePerSecond: number;
  burst: number;
  calls: number;
  waitedMs: number;
  /** Throttling answers the bucket saw (every attempt), and the lowest share AIMD went to. */
  throttled: number;
  lowestRatePerSecond: number;
}

export interface EventRun {
  id: EventScenario;
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
  /** Most DescribeInstances calls in any one second (sliding). */
  maxDescribePerSecondPerCluster: number;
  /** Shortest time between two DescribeInstances calls of the cluster, and their mean rate while watching. */
  minDescribeGapMs: number;
  describePerSecondWhileWatching: number;
  /** When each call's token was granted (ms since the worker started). */
  describeAtMs: number[];
  /**
   * The bucket's allowance checked at every instant: in any interval [a, b] between two calls,
   * calls ≤ burst + rate × (b − a). The least headroom left (calls; negative: exceeded).
   */
  allowanceHeadroom: number;
  bucket: BucketSeen;
  /** The watcher's calls: how many, and their median duration (where a CSR's time goes). */
  phasesMs: Record<string, { calls: number; p50: number }>;
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
  /** Every CSR decided as planned (stored decision checked). */
  allAsExpected: boolean;
  /** The throttle scenario: what the fault proxy did, and what was approved while it throttled. */
  throttle?: {
    seconds: number;
    throttledAnswers: number;
    approvedWhileThrottled: number;
    /** From the end of the throttling to the last approval. */
    recoveredAfterMs: number;
  };
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
  budget: BucketSeen;
  phasesMs: Record<string, { calls: number; p50: number }>;
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
  /** Only these scenarios (default: all). */
  only?: readonly EventScenario[];
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

const evenly = (n: number, spacingMs: number) => Array.from({ length: n }, (_, i) => i * spacingMs);

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
 * The least headroom under the bucket's allowance over every interval between two calls:
 * min over i ≤ j of burst + rate × (t_j − t_i) − (j − i + 1). Times are whole milliseconds,
 * so each interval gets a millisecond of slack either side.
 */
export function allowanceHeadroom(times: readonly number[], ratePerSecond: number, burst: number): number {
  let least = burst;
  for (let i = 0; i < times.length; i++)
    for (let j = i; j < times.length; j++) {
      const span = Math.max(0, (times[j] as number) - (times[i] as number) + 2) / 1000;
      least = Math.min(least, burst + ratePerSecond * span - (j - i + 1));
    }
  return least;
}

/**
 * Latency is only meaningful on a machine not busy with other work (2 cores shared here): waits
 * (up to 3 minutes) for the 1-minute load average to fall to 1.5 per core. Each run records the
 * load it saw either way.
 */
async function quietMachine(deps: EventDeps): Promise<void> {
  const quiet = 1.5 * deps.cpus;
  const until = performance.now() + 180_000;
  if ((loadavg()[0] ?? 0) <= quiet) return;
  deps.progress(`waiting for a quieter machine (load ${(loadavg()[0] ?? 0).toFixed(1)}, want ≤ ${quiet})`);
  while ((loadavg()[0] ?? 0) > quiet && performance.now() < until) await sleep(2000);
}

interface MeasureOptions {
  /** Throttle every DescribeInstances for this long from the first create (fault proxy). */
  throttleMs?: number;
}

/**
 * Runs one worker over cluster 0 while `plan` CSRs are created at `offsets`; returns the
 * measurements once every CSR is decided (or 60 s after the last create).
 */
async function measure(
  deps: EventDeps,
  id: EventScenario,
  scenario: string,
  plan: PlannedCsr[],
  offsets: number[],
  arrivalSeconds: number,
  options: MeasureOptions = {},
): Promise<EventRun> {
  const { world, progress, problem } = deps;
  const cluster = world.clusters[0] as RigCluster;
  const loadBefore = loadavg()[0] ?? 0;
  const decidedAt = new Map<string, { decision: StoredDecision; at: number }>();
  const stop = await watchDecisions(cluster, (name, decision, at) => {
    if (decision !== "Pending" && !decidedAt.has(name)) decidedAt.set(name, { decision, at });
  });
  const job = deps.job([0], 30 * 60_000);
  let proxy: FaultProxy | undefined;
  if (options.throttleMs !== undefined) {
    proxy = await startFaultProxy(world.motoEndpoint);
    job.moto = { ...job.moto, endpoint: proxy.url };
  }
  const file = deps.writeJob(job);
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
  let throttleEnd = 0;
  let throttleTimer: NodeJS.Timeout | undefined;
  try {
    await watching;
    // The watch opens right after the sweep; give it a moment to be established.
    await sleep(1000);
    progress(`${scenario}: watching; ${plan.length} CSRs over ${arrivalSeconds} s`);
    const sentAt = new Map<string, number>();
    const started = performance.now();
    if (proxy && options.throttleMs !== undefined) {
      proxy.throttling = true;
      throttleEnd = started + options.throttleMs;
      const p = proxy;
      throttleTimer = setTimeout(() => {
        p.throttling = false;
        progress(
          `${scenario}: throttling off (${p.throttled} DescribeInstances attempts answered throttled)`,
        );
      }, options.throttleMs);
    }
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
    const deadline = Math.max(performance.now(), throttleEnd) + 60_000;
    while (performance.now() < deadline && !names.every((n) => decidedAt.has(n))) await sleep(50);
    if (!names.every((n) => decidedAt.has(n)))
      problem(
        `${scenario}: ${names.filter((n) => !decidedAt.has(n)).length} CSRs undecided 60 s after the last`,
      );
    const stored = await storedDecisions(cluster);
    let allAsExpected = true;
    for (const csr of plan)
      if (stored.get(csr.name ?? "") !== csr.expected) {
        allAsExpected = false;
        problem(
          `${scenario}: CSR ${csr.name} is ${stored.get(csr.name ?? "") ?? "missing"}, expected ${csr.expected}`,
        );
      }

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
    const approvals = names.flatMap((n) => {
      const d = decidedAt.get(n);
      return d?.decision === "Approved" ? [d.at] : [];
    });
    const run: EventRun = {
      id,
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
      minDescribeGapMs:
        done.describeAtMs.length < 2
          ? 0
          : Math.min(...done.describeAtMs.slice(1).map((at, i) => at - (done.describeAtMs[i] as number))),
      describePerSecondWhileWatching: done.describeAtMs.length / Math.max(1, done.watchedMs / 1000),
      describeAtMs: done.describeAtMs,
      allowanceHeadroom: allowanceHeadroom(done.describeAtMs, done.budget.ratePerSecond, done.budget.burst),
      bucket: done.budget,
      phasesMs: done.phasesMs,
      ec2BudgetWaitedMs: done.ec2BudgetWaitedMs,
      eventTypes: done.eventTypes,
      staleEvents: done.staleEvents,
      aws: Object.fromEntries(Object.entries(done.aws).map(([k, v]) => [k, v.calls])),
      ...watch,
      allAsExpected,
      ...(proxy && options.throttleMs !== undefined
        ? {
            throttle: {
              seconds: options.throttleMs / 1000,
              throttledAnswers: proxy.throttled,
              approvedWhileThrottled: approvals.filter((at) => at < throttleEnd).length,
              recoveredAfterMs: Math.max(0, ...approvals.map((at) => at - throttleEnd)),
            },
          }
        : {}),
      loadAverage: { before: loadBefore, after: loadavg()[0] ?? 0 },
      latenciesMs: latencies.map((v) => Math.round(v)),
    };
    progress(
      `${scenario}: p50 ${Math.round(run.medianMs)} ms, p95 ${Math.round(run.p95Ms)} ms, max ${Math.round(run.maxMs)} ms; ` +
        `${run.csrLists} CSR LIST(s), ${run.nodeLists} Node read(s), ${run.watchConnects} watch connect(s), ` +
        `${run.describeInstances} DescribeInstances (max ${run.maxDescribePerSecondPerCluster}/s, headroom ${run.allowanceHeadroom.toFixed(1)}), ` +
        `${run.batches} batches, ${run.events} events (${run.ignoredEvents} ignored; ${JSON.stringify(run.eventTypes)}, ` +
        `${run.staleEvents} older than the watch's start), bucket ${JSON.stringify(run.bucket)}` +
        (run.throttle ? `, throttle ${JSON.stringify(run.throttle)}` : "") +
        `, call p50s ${JSON.stringify(run.phasesMs)}` +
        `, AWS ${JSON.stringify(run.aws)}, load ${run.loadAverage.before.toFixed(1)}`,
    );
    for (const warning of done.warnings.slice(0, 5)) progress(`  ${scenario} warning: ${warning}`);
    return run;
  } finally {
    stop();
    if (throttleTimer) clearTimeout(throttleTimer);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await closed;
    }
    await proxy?.close();
  }
}

export async function eventModeScenarios(deps: EventDeps, plan: EventPlan): Promise<EventModeResult> {
  const { world, progress } = deps;
  const wanted = (id: EventScenario) => !deps.only || deps.only.includes(id);
  const cluster = world.clusters[0] as RigCluster;
  await Promise.all(world.clusters.map((c) => deleteAllCsrs(c)));
  const csrs = planCsrs(world.pool, world.foreign, plan.scaleUpNodes, 1, false);
  const { pool, lone, throttle } = plan;
  const needed = wanted("scaleup") || wanted("renewal") ? csrs.length : pool.csrs + lone.csrs + throttle.csrs;
  const minted = await mintNodeIdentities(
    cluster,
    csrs.slice(0, needed).map((p) => p.instance.node),
    (done) => progress(`event scale-up: ${done} node certificates minted`),
  );
  progress(`event scale-up: ${minted} node certificates minted (${csrs.length} nodes)`);
  const fresh = (from: number, n: number) =>
    csrs.slice(from, from + n).map((c) => ({ ...c, name: undefined }) as PlannedCsr);
  const runs: EventRun[] = [];

  // Small scenarios first, on distinct nodes; the CSRs are deleted after each, so every node
  // is a new one to the scale-up that follows.
  const small: [EventScenario, string, number, { csrs: number; spacingMs: number }, MeasureOptions][] = [
    ["pool", `node pool scaling out (${pool.csrs} CSRs ${pool.spacingMs} ms apart)`, 0, pool, {}],
    ["lone", `lone CSRs (${lone.csrs}, ${lone.spacingMs / 1000} s apart)`, pool.csrs, lone, {}],
    [
      "throttle",
      `EC2 throttled for ${throttle.seconds} s (${throttle.csrs} CSRs ${throttle.spacingMs} ms apart)`,
      pool.csrs + lone.csrs,
      throttle,
      { throttleMs: throttle.seconds * 1000 },
    ],
  ];
  for (const [id, scenario, from, shape, options] of small) {
    if (!wanted(id)) continue;
    await quietMachine(deps);
    const planned = fresh(from, shape.csrs);
    const offsets = evenly(planned.length, shape.spacingMs);
    runs.push(await measure(deps, id, scenario, planned, offsets, (offsets.at(-1) ?? 0) / 1000, options));
    await deleteAllCsrs(cluster);
  }

  if (wanted("scaleup") || wanted("renewal")) {
    await quietMachine(deps);
    const scaleUp = fresh(0, csrs.length);
    runs.push(
      await measure(
        deps,
        "scaleup",
        `${plan.scaleUpNodes.toLocaleString("en-US")}-node scale-up over ${plan.scaleUpSeconds} s`,
        scaleUp,
        arrivals(scaleUp.length, plan.scaleUpSeconds, 14),
        plan.scaleUpSeconds,
      ),
    );
    if (wanted("renewal")) {
      // Renewals: nodes that hold the certificate approved above file a new CSR.
      const renewing = arrivals(plan.renewals, csrs.length, 1014).map((x) => Math.floor(x / 1000));
      const picked = [...new Set(renewing)].slice(0, plan.renewals);
      for (let i = 0; picked.length < plan.renewals && i < csrs.length; i++)
        if (!picked.includes(i)) picked.push(i);
      const renewals = picked.map((i) => ({ ...(csrs[i] as PlannedCsr), name: undefined }) as PlannedCsr);
      await quietMachine(deps);
      runs.push(
        await measure(
          deps,
          "renewal",
          "renewals, continuous watch",
          renewals,
          arrivals(renewals.length, plan.renewalSeconds, 114),
          plan.renewalSeconds,
        ),
      );
    }
  }
  return { plan, cpus: deps.cpus, runs };
}

export const EVENT_TARGET = {
  poolP50Ms: 50,
  poolP95Ms: 150,
  loneP50Ms: 50,
  scaleUpP95Ms: 1000,
  renewalP95Ms: 250,
};

export interface EventTarget {
  id: string;
  what: string;
  target: string;
  measured: string;
  met: boolean;
}

export function eventTargets(r: EventModeResult): EventTarget[] {
  const out: EventTarget[] = [];
  const run = (id: EventScenario) => r.runs.find((x) => x.id === id);
  const ms = (v: number) => `${Math.round(v)} ms`;
  const latency = (id: EventScenario, which: "p50" | "p95", bound: number) => {
    const x = run(id);
    if (!x) return;
    const value = which === "p50" ? x.medianMs : x.p95Ms;
    out.push({
      id: `event-${id}-${which}`,
      what: `${x.scenario}: time to approval, ${which}`,
      target: `≤ ${ms(bound)}`,
      measured: ms(value),
      met: value <= bound,
    });
  };
  latency("pool", "p50", EVENT_TARGET.poolP50Ms);
  latency("pool", "p95", EVENT_TARGET.poolP95Ms);
  latency("lone", "p50", EVENT_TARGET.loneP50Ms);
  latency("scaleup", "p95", EVENT_TARGET.scaleUpP95Ms);
  latency("renewal", "p95", EVENT_TARGET.renewalP95Ms);
  for (const x of r.runs) {
    out.push({
      id: `event-ec2-allowance-${x.id}`,
      what: `${x.scenario}: DescribeInstances within the bucket's allowance at every instant (burst + rate × t), ≤ 1 per CSR`,
      target: `≤ ${x.bucket.burst} + ${x.bucket.ratePerSecond}/s × t; ≤ ${x.csrs}`,
      measured:
        `${x.describeInstances} calls for ${x.csrs} CSRs in ${x.batches} batches, least headroom ${x.allowanceHeadroom.toFixed(1)} ` +
        `call(s), max ${x.maxDescribePerSecondPerCluster} in any 1 s, mean ${x.describePerSecondWhileWatching.toFixed(2)}/s`,
      met: x.allowanceHeadroom >= 0 && x.describeInstances <= x.csrs,
    });
    out.push({
      id: `event-lists-${x.id}`,
      what: `${x.scenario}: CSR LISTs per watch (re)connect`,
      target: "≤ 1",
      measured: `${x.csrLists} LIST(s) for ${x.watchConnects} connect(s) (${x.reconnects} reconnects)`,
      met: x.csrLists <= Math.max(1, x.watchConnects),
    });
  }
  const t = run("throttle");
  if (t?.throttle) {
    out.push({
      id: "event-throttle-no-approval-without-facts",
      what: `${t.scenario}: CSRs approved while every DescribeInstances was throttled`,
      target: "0",
      measured: `${t.throttle.approvedWhileThrottled} (${t.throttle.throttledAnswers} attempts answered RequestLimitExceeded)`,
      met: t.throttle.approvedWhileThrottled === 0,
    });
    out.push({
      id: "event-throttle-backoff",
      what: `${t.scenario}: back-off in the metric (Ec2Throttled, Ec2DescribeShare)`,
      target: `throttles counted; share below ${t.bucket.ratePerSecond}/s`,
      measured: `${t.bucket.throttled} throttles counted; share down to ${t.bucket.lowestRatePerSecond.toFixed(2)}/s`,
      met: t.bucket.throttled > 0 && t.bucket.lowestRatePerSecond < t.bucket.ratePerSecond,
    });
    out.push({
      id: "event-throttle-recovery",
      what: `${t.scenario}: all approved once throttling stops`,
      target: "all, as expected",
      measured: `${t.allAsExpected ? "all" : "NOT all"}; the last ${ms(t.throttle.recoveredAfterMs)} after throttling stopped`,
      met: t.allAsExpected,
    });
  }
  return out;
}

const ms = (value: number) => `${Math.round(value).toLocaleString("en-US")} ms`;

export function renderEventMode(r: EventModeResult): string {
  const out: string[] = [];
  const bucket = r.runs[0]?.bucket;
  out.push(`## 2b. Event mode: adaptive batching (issues 14, 23)`);
  out.push("");
  out.push(
    `One rig cluster; each scenario runs event mode in its own process (runSweep keeping the session, then ` +
      `watchClusters), as a scheduled invocation with \`sweep.continuousWatch: true\` does, while nodes (one EC2 ` +
      `instance each in moto, a real node client certificate each) file serving CSRs. Node pool: ` +
      `${r.plan.pool.csrs} CSRs ${r.plan.pool.spacingMs} ms apart; lone: ${r.plan.lone.csrs} CSRs ` +
      `${r.plan.lone.spacingMs} ms apart; throttled: ${r.plan.throttle.csrs} CSRs ${r.plan.throttle.spacingMs} ms ` +
      `apart while a fault proxy in front of moto answers every DescribeInstances \`RequestLimitExceeded\` for ` +
      `${r.plan.throttle.seconds} s; scale-up: ${r.plan.scaleUpNodes.toLocaleString("en-US")} nodes at random ` +
      `times over ${r.plan.scaleUpSeconds} s; renewals: ${r.plan.renewals} of those nodes, each holding an ` +
      `approved CSR, at random times over ${r.plan.renewalSeconds} s. Time to approval: from sending the create ` +
      `request to a separate admin watch seeing Approved. DescribeInstances calls are timed when the approver's ` +
      `token bucket grants them` +
      (bucket ? ` (share: ${bucket.ratePerSecond}/s, burst ${bucket.burst}, the defaults)` : "") +
      `. Load: 1-minute load average on ${r.cpus} cores, shared with other work.`,
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
    "Node reads (LIST or GET)",
    "watch connects",
    "DescribeInstances (max / s)",
    "batches",
    "events (ignored)",
    "writes",
    "throttles (lowest share)",
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
        `${run.bucket.throttled} (${run.bucket.lowestRatePerSecond.toFixed(2)}/s)`,
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
