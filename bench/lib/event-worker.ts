// Event mode as functions/approver.ts runs it (an EC2 "running" event, or a scheduled run with
// sweep.continuousWatch): resolveClusters, one runSweep that keeps each cluster's session, then
// watchClusters continuing from it for `windowMs`. Prints {"event":"watching"} when the sweep is
// done and the watches open, and on SIGTERM (or at the window's end) a summary line with the
// WatchStats per cluster, Kubernetes and AWS call counts, and the time of every DescribeInstances
// call (taken at the approver's own token bucket once its token is there, so none is missed), and
// what the bucket saw: its configured share, throttling answers, the lowest share AIMD reached.
import { resolveClusters } from "../../functions/sweep/clusters.js";
import { Ec2Budgets, type TokenBucket } from "../../functions/sweep/ec2-budget.js";
import type { ClusterSession } from "../../functions/sweep/session.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { watchClusters, type WatchStats } from "../../functions/sweep/watch.js";
import { workerContext } from "./worker-context.js";

const { job, config, aws, alerts, kube, warnings, log } = workerContext(process.argv[2] ?? "");
const cpu0 = process.cpuUsage();
const t0 = performance.now();

// The container's budgets, as functions/approver.ts keeps them. Every DescribeInstances goes
// through its region's bucket first: the moment its token is granted times the call.
const { describeInstancesPerSecond, describeInstancesBurst } = config.sweep;
const budgets = new Ec2Budgets(describeInstancesPerSecond, describeInstancesBurst);
const describeAtMs: number[] = [];
const timed = new Set<TokenBucket>();
const forRegion = budgets.forRegion.bind(budgets);
budgets.forRegion = (region) => {
  const bucket = forRegion(region);
  if (!timed.has(bucket)) {
    timed.add(bucket);
    const take = bucket.take.bind(bucket);
    bucket.take = async () => {
      await take();
      describeAtMs.push(Math.round(performance.now() - t0));
    };
  }
  return bucket;
};

// Watch events by type, and those whose object is no newer than the resourceVersion the watch
// started from (a watch that resumes correctly delivers none of those).
const eventTypes: Record<string, number> = {};
let staleEvents = 0;
// Where a CSR's time goes: how long each call the watch makes takes (ms, every call).
const phases: Record<string, number[]> = { readNode: [], describeInstances: [], approve: [] };
const timedCall =
  <A extends unknown[], R>(phase: string, fn: (...args: A) => Promise<R>) =>
  async (...args: A): Promise<R> => {
    const started = performance.now();
    try {
      return await fn(...args);
    } finally {
      phases[phase]?.push(performance.now() - started);
    }
  };
aws.forRegion(job.moto.region).ec2.middlewareStack.add(
  (next, context) => async (args) => {
    const started = performance.now();
    try {
      return await next(args);
    } finally {
      if (context.commandName === "DescribeInstancesCommand")
        phases.describeInstances?.push(performance.now() - started);
    }
  },
  { step: "initialize", name: "benchDescribeTimer", priority: "low" },
);
const factory: typeof kube.factory = (endpoint) => {
  const inner = kube.factory(endpoint);
  return {
    ...inner,
    readNode: timedCall("readNode", inner.readNode),
    replaceConditions: timedCall("approve", inner.replaceConditions),
    watchKubeletServingCsrs: (onEvent, signal, from) =>
      inner.watchKubeletServingCsrs(
        (type, read) => {
          eventTypes[type] = (eventTypes[type] ?? 0) + 1;
          const version = Number(read.csr.metadata.resourceVersion);
          if (from !== undefined && version <= Number(from)) staleEvents += 1;
          onEvent(type, read);
        },
        signal,
        from,
      ),
  };
};

const stats = new Map<string, WatchStats>();
let sweepMs = 0;
let watchStartedMs = 0;

function summary(): void {
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `${JSON.stringify({
      event: "done",
      cpuMs: (cpu.user + cpu.system) / 1000,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      sweepMs,
      watchedMs: Math.round(performance.now() - t0 - watchStartedMs),
      kube: Object.fromEntries(kube.byCluster),
      aws: aws.calls.byCommand(),
      watch: Object.fromEntries(stats),
      describeAtMs,
      eventTypes,
      staleEvents,
      ec2BudgetWaitedMs: budgets.stats().waitedMs,
      phasesMs: Object.fromEntries(
        Object.entries(phases).map(([k, v]) => {
          const sorted = [...v].sort((a, b) => a - b);
          return [k, { calls: v.length, p50: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0) }];
        }),
      ),
      budget: {
        ratePerSecond: describeInstancesPerSecond,
        burst: describeInstancesBurst,
        ...budgets.stats(),
      },
      warnings,
    })}\n`,
  );
}

process.once("SIGTERM", () => {
  summary();
  process.exit(0);
});

const targets = await resolveClusters(config, aws, log);
const sessions = new Map<string, ClusterSession>();
const deps = { config, aws, alerts, log, kube: factory, ec2Budgets: budgets };
const sweepStarted = performance.now();
await runSweep({ ...deps, targets, sessions });
sweepMs = performance.now() - sweepStarted;
watchStartedMs = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ event: "watching", clusters: targets.targets.length, sweepMs })}\n`);
await watchClusters(targets.targets, { ...deps, sessions }, { windowMs: job.windowMs ?? 60_000 }, stats);
summary();
process.exit(0);
