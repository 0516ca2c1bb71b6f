// Hostile sizes (security review finding 1, issue 21) in `npm run bench -- --only-sizes`:
//
//   S1. one sweep (a fresh worker process, like a Lambda container) over 1,000 legitimate CSRs
//       and 100 maximum-size ones (~1.46 MB of PEM each, the most etcd stores) from 5 nodes:
//       peak RSS, pages asked for again smaller, every decision checked on the apiserver;
//   S2. continuous watch (the watch worker) while one node files 120 maximum-size CSRs at
//       ~6.6/s and 10 legitimate kubelet-format CSRs arrive meanwhile: peak RSS, and the time
//       from each legitimate CSR's creation to its approval.
//
// Target for both: peak RSS <= 256 MB (docs/fairness.md, "Memory"). Wrong decisions are
// reported through `problem` (the run is then refused).
import { CertificatesV1Api } from "@kubernetes/client-node";
import type { AlertSink } from "../test/rig/aws-seed.js";
import type { RigCluster } from "../test/rig/cluster.js";
import { forgeNodeCsr, MAX_SIZE_PEM_CHARS, maxSizeNodeCsr, type CreatedCsr } from "../test/rig/kubelet.js";
import { checkAlertDelivery, drainDelivered } from "./lib/alert-check.js";
import type { KubeCallCounts, SweepWorkerOutput } from "./lib/job.js";
import { median, percentile } from "./lib/stats.js";
import {
  createPlannedCsr,
  deleteAllCsrs,
  eachBounded,
  mintNodeIdentities,
  planCsrs,
  storedDecision,
  type PoolInstance,
  type StoredDecision,
} from "./lib/world.js";

export const SIZES_PLAN = {
  legit: 1000,
  big: 100,
  bigNodes: 5,
  flood: 120,
  floodPerSecond: 6.6,
  floodLegit: 15,
};
export const SIZES_PLAN_QUICK = {
  legit: 50,
  big: 20,
  bigNodes: 2,
  flood: 30,
  floodPerSecond: 6.6,
  floodLegit: 4,
};
export type SizesPlan = typeof SIZES_PLAN;
export const SIZES_PEAK_RSS_TARGET_BYTES = 256 * 1024 * 1024;

export interface SizesDeps {
  cluster: RigCluster;
  alerts: AlertSink;
  pool: PoolInstance[];
  /** One sweep of cluster `rig-1` in a fresh worker process (the scale settings). */
  sweep(): Promise<SweepWorkerOutput>;
  /** Starts the watch worker on `rig-1`; resolves once it watches; stop() ends it and returns its summary. */
  watch(): Promise<{ stop(): Promise<WatchSummary> }>;
  progress(message: string): void;
  problem(message: string): void;
}

export interface WatchSummary {
  cpuMs?: number;
  peakRssBytes?: number;
  kube?: Record<string, KubeCallCounts>;
}

export interface SizesResult {
  plan: SizesPlan;
  pemChars: number;
  sweep: {
    wallMs: number;
    cpuMs: number;
    peakRssBytes: number;
    listed: number;
    listPages: number;
    listShrunk: number;
    approved: number;
    denied: number;
    deniedTooLarge: number;
    writes: number;
    messages: number;
  };
  watch: {
    filed: number;
    filedPerSecond: number;
    denied: number;
    peakRssBytes: number;
    cpuMs: number;
    legitLatenciesMs: number[];
    legitMedianMs: number;
    legitP95Ms: number;
  };
  targets: { name: string; target: string; measured: string; met: boolean }[];
}

/** Decisions as the apiserver stores them, read a few CSRs a page (the big ones are 2 MB each). */
async function storedByName(cluster: RigCluster): Promise<Map<string, StoredDecision>> {
  const api = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
  const out = new Map<string, StoredDecision>();
  let token: string | undefined;
  do {
    const page = await api.listCertificateSigningRequest({
      limit: 20,
      ...(token ? { _continue: token } : {}),
    });
    for (const csr of page.items) out.set(csr.metadata?.name ?? "", storedDecision(csr));
    token = page.metadata?._continue || undefined;
  } while (token);
  return out;
}

async function fileBig(
  cluster: RigCluster,
  node: string,
  reuse: CreatedCsr | undefined,
): Promise<CreatedCsr> {
  return maxSizeNodeCsr(cluster, { node, ...(reuse ? { reuse } : {}) });
}

export async function sizesScenarios(d: SizesDeps, plan: SizesPlan): Promise<SizesResult> {
  const { cluster } = d;
  if (d.pool.length < plan.legit + plan.bigNodes + plan.floodLegit + 1)
    throw new Error(`sizes: the pool has ${d.pool.length} instances, the plan needs more`);
  const legitPool = d.pool.slice(0, plan.legit);
  const bigNodes = d.pool.slice(plan.legit, plan.legit + plan.bigNodes).map((i) => i.node);
  const floodNode = bigNodes[0]!;
  const floodLegit = d.pool.slice(plan.legit + plan.bigNodes, plan.legit + plan.bigNodes + plan.floodLegit);
  await mintNodeIdentities(
    cluster,
    [...d.pool.slice(0, plan.legit + plan.bigNodes + plan.floodLegit).map((i) => i.node)],
    (n) => d.progress(`sizes: ${n} node certificates minted`),
  );

  // ---- S1: one sweep over 1,000 legitimate + 100 maximum-size CSRs --------------------------
  await deleteAllCsrs(cluster);
  await drainDelivered(d.alerts);
  const planned = planCsrs(legitPool, [], plan.legit, 1, false);
  d.progress(`sizes S1: creating ${plan.legit} legitimate CSRs`);
  await eachBounded(planned, 8, async (csr) => {
    csr.name = await createPlannedCsr(cluster, csr);
  });
  d.progress(`sizes S1: creating ${plan.big} maximum-size CSRs from ${plan.bigNodes} nodes`);
  const big = new Set<string>();
  let pemChars = 0;
  for (const node of bigNodes) {
    let first: CreatedCsr | undefined;
    for (let i = 0; i < plan.big / plan.bigNodes; i++) {
      const made = await fileBig(cluster, node, first);
      first ??= made;
      pemChars = made.pem.length;
      big.add(made.name);
    }
  }
  d.progress(
    `sizes S1: ${plan.legit + plan.big} CSRs created (big ones ${pemChars} PEM characters); sweeping`,
  );
  const out = await d.sweep();
  const run = out.runs[0];
  if (!run) throw new Error("sizes S1: the sweep worker returned no run");
  if (run.timedOut) d.problem("sizes S1: the sweep was still running at the Lambda timeout");
  for (const c of run.clusters)
    if (c.status !== "ok") d.problem(`sizes S1: cluster ${c.cluster} ${c.status}: ${c.error}`);
  const outcomes = run.clusters.flatMap((c) => c.csrs);
  const stored = await storedByName(cluster);
  for (const csr of planned)
    if (stored.get(csr.name ?? "") !== "Approved")
      d.problem(
        `sizes S1: legitimate CSR ${csr.name} is ${stored.get(csr.name ?? "") ?? "missing"}, expected Approved`,
      );
  for (const name of big) {
    if (stored.get(name) !== "Denied")
      d.problem(`sizes S1: big CSR ${name} is ${stored.get(name) ?? "missing"}, expected Denied`);
    const o = outcomes.find((x) => x.name === name);
    if (o?.reasons.join() !== "REQUEST_TOO_LARGE")
      d.problem(
        `sizes S1: big CSR ${name}: reasons ${o?.reasons.join(",") ?? "none"}, expected REQUEST_TOO_LARGE`,
      );
  }
  const delivered = await drainDelivered(d.alerts);
  checkAlertDelivery("sizes S1", run, delivered, true, d.problem);
  const kube = Object.values(run.kube)[0];
  const sweep = {
    wallMs: run.wallMs,
    cpuMs: run.cpuMs,
    peakRssBytes: run.peakRssBytes,
    listed: run.clusters.reduce((n, c) => n + c.listed, 0),
    listPages: kube?.listPages ?? 0,
    listShrunk: kube?.listShrunk ?? 0,
    approved: outcomes.filter((o) => o.action === "approved").length,
    denied: outcomes.filter((o) => o.action === "denied").length,
    deniedTooLarge: outcomes.filter((o) => o.action === "denied" && o.reasons.includes("REQUEST_TOO_LARGE"))
      .length,
    writes: kube?.writes ?? 0,
    messages: delivered.length,
  };
  d.progress(
    `sizes S1: ${(sweep.wallMs / 1000).toFixed(1)} s, peak RSS ${(sweep.peakRssBytes / 2 ** 20).toFixed(0)} MiB; ` +
      `${sweep.approved} approved, ${sweep.deniedTooLarge} denied REQUEST_TOO_LARGE; ${sweep.listPages} pages (${sweep.listShrunk} asked again smaller)`,
  );

  // ---- S2: continuous watch during a 120-CSR maximum-size flood ------------------------------
  await deleteAllCsrs(cluster);
  await drainDelivered(d.alerts);
  // Decisions are read by name (no watch in the harness: its 2 MB events would slow the very
  // process that times the legitimate CSRs): each legitimate CSR is polled every 25 ms.
  const decidedAt = new Map<string, { decision: StoredDecision; at: number }>();
  const api = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
  const decisionOf = async (name: string) =>
    storedDecision(await api.readCertificateSigningRequest({ name }));
  const polls: Promise<void>[] = [];
  const pollUntilDecided = (name: string, deadline: number) =>
    (async () => {
      while (performance.now() < deadline) {
        const decision = await decisionOf(name);
        if (decision !== "Pending") return void decidedAt.set(name, { decision, at: performance.now() });
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
  const watcher = await d.watch();
  let summary: WatchSummary = {};
  const floodNames: string[] = [];
  const legitSent = new Map<string, number>();
  let floodSeconds = 0;
  try {
    await new Promise((r) => setTimeout(r, 2000)); // swept once, watching
    d.progress(
      `sizes S2: ${plan.flood} maximum-size CSRs at ${plan.floodPerSecond}/s from one node, ${plan.floodLegit} legitimate meanwhile`,
    );
    const spacing = 1000 / plan.floodPerSecond;
    const floodStarted = performance.now();
    const flood = (async () => {
      let first: CreatedCsr | undefined;
      for (let i = 0; i < plan.flood; i++) {
        const due = floodStarted + i * spacing;
        await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
        const made = await fileBig(cluster, floodNode, first);
        first ??= made;
        floodNames.push(made.name);
      }
      floodSeconds = (performance.now() - floodStarted) / 1000;
    })();
    // At least 1.2 s apart: event mode makes at most one DescribeInstances a second per cluster,
    // so legitimate CSRs arriving faster queue behind each other, flood or not.
    const legitEvery = Math.max(1200, (plan.flood / plan.floodPerSecond / (plan.floodLegit + 1)) * 1000);
    for (const instance of floodLegit) {
      await new Promise((r) => setTimeout(r, legitEvery));
      const sent = performance.now();
      const made = await forgeNodeCsr(cluster, {
        node: instance.node,
        dnsNames: [instance.node],
        ips: [instance.privateIp],
      });
      legitSent.set(made.name, sent);
      polls.push(pollUntilDecided(made.name, performance.now() + 30_000));
    }
    await flood;
    await Promise.all(polls);
    // The flood's decisions, one by one (2 MB each), for up to a minute.
    const deadline = performance.now() + 60_000;
    for (const name of floodNames) {
      while (performance.now() < deadline) {
        const decision = await decisionOf(name);
        if (decision !== "Pending") {
          decidedAt.set(name, { decision, at: performance.now() });
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    summary = await watcher.stop();
  }
  const latencies = [...legitSent].flatMap(([name, sent]) => {
    const decided = decidedAt.get(name);
    if (decided?.decision !== "Approved") {
      d.problem(`sizes S2: legitimate CSR ${name} is ${decided?.decision ?? "undecided"}, expected Approved`);
      return [];
    }
    return [Math.round(decided.at - sent)];
  });
  let floodDenied = 0;
  for (const name of floodNames) {
    const decision = decidedAt.get(name)?.decision;
    if (decision === "Approved") d.problem(`sizes S2: big CSR ${name} was approved`);
    if (decision === "Denied") floodDenied += 1;
  }
  await drainDelivered(d.alerts);
  const watch = {
    filed: floodNames.length,
    filedPerSecond: floodNames.length / Math.max(floodSeconds, 0.001),
    denied: floodDenied,
    peakRssBytes: summary.peakRssBytes ?? Number.NaN,
    cpuMs: summary.cpuMs ?? Number.NaN,
    legitLatenciesMs: latencies,
    legitMedianMs: latencies.length ? median(latencies) : Number.NaN,
    legitP95Ms: latencies.length ? percentile(latencies, 95) : Number.NaN,
  };
  d.progress(
    `sizes S2: ${watch.filed} big CSRs at ${watch.filedPerSecond.toFixed(1)}/s, ${watch.denied} denied within the window; ` +
      `watcher peak RSS ${(watch.peakRssBytes / 2 ** 20).toFixed(0)} MiB; legitimate approvals median ${watch.legitMedianMs} ms, p95 ${watch.legitP95Ms} ms`,
  );
  await deleteAllCsrs(cluster);

  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const targets = [
    {
      name: `sweep: ${plan.big} maximum-size + ${plan.legit} legitimate CSRs, peak RSS`,
      target: "≤ 256 MB",
      measured: mib(sweep.peakRssBytes),
      met: sweep.peakRssBytes <= SIZES_PEAK_RSS_TARGET_BYTES,
    },
    {
      name: "sweep: every legitimate CSR approved, every big one denied (REQUEST_TOO_LARGE), in one sweep",
      target: `${plan.legit} / ${plan.big}`,
      measured: `${sweep.approved} / ${sweep.deniedTooLarge}`,
      met: sweep.approved === plan.legit && sweep.deniedTooLarge === plan.big,
    },
    {
      name: `continuous watch during a ${plan.flood}-CSR maximum-size flood, peak RSS`,
      target: "≤ 256 MB",
      measured: mib(watch.peakRssBytes),
      met: watch.peakRssBytes <= SIZES_PEAK_RSS_TARGET_BYTES,
    },
    {
      name: "continuous watch: legitimate approval during the flood, p95",
      target: "≤ 1000 ms",
      measured: `${watch.legitP95Ms} ms`,
      met: watch.legitP95Ms <= 1000,
    },
  ];
  return { plan, pemChars, sweep, watch, targets };
}

export function renderSizes(result: SizesResult, header: string): string {
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  const lines = [
    header,
    "",
    `Maximum-size CSRs: ${result.pemChars} PEM characters each (limit ${MAX_SIZE_PEM_CHARS}; ~1.95 MB as served in JSON).`,
    "",
    "| target | goal | measured | met |",
    "| --- | --- | --- | --- |",
    ...result.targets.map((t) => `| ${t.name} | ${t.target} | ${t.measured} | ${t.met ? "yes" : "**no**"} |`),
    "",
    "## S1: one sweep",
    "",
    "| wall | CPU | peak RSS | listed | pages | pages asked again smaller | approved | denied (REQUEST_TOO_LARGE) | writes | SNS messages |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    `| ${(result.sweep.wallMs / 1000).toFixed(1)} s | ${(result.sweep.cpuMs / 1000).toFixed(1)} s | ${mib(result.sweep.peakRssBytes)} MiB | ${result.sweep.listed} | ${result.sweep.listPages} | ${result.sweep.listShrunk} | ${result.sweep.approved} | ${result.sweep.denied} (${result.sweep.deniedTooLarge}) | ${result.sweep.writes} | ${result.sweep.messages} |`,
    "",
    "## S2: continuous watch during the flood",
    "",
    "| big CSRs filed | rate | denied in the window | watcher peak RSS | watcher CPU | legitimate approvals: median | p95 |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    `| ${result.watch.filed} | ${result.watch.filedPerSecond.toFixed(1)}/s | ${result.watch.denied} | ${mib(result.watch.peakRssBytes)} MiB | ${(result.watch.cpuMs / 1000).toFixed(1)} s | ${result.watch.legitMedianMs} ms | ${result.watch.legitP95Ms} ms |`,
    "",
    `Legitimate approval latencies (ms, from the create call to the first read showing Approved, read every 25 ms): ${result.watch.legitLatenciesMs.join(", ")}.`,
    "",
  ];
  return lines.join("\n");
}
