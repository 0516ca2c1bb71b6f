// Event mode, incremental (SPEC §6): each cluster is swept once (one LIST, which also gives the
// resourceVersion to watch from), then watched. A watch event decides the CSR it carries:
// pending CSRs that arrive are collected for a moment and decided as one batch (one
// DescribeInstances for the nodes that appeared, at most one batch a second per cluster);
// events for decided CSRs, and for our own writes, start no work. A dropped watch resumes
// from the last resourceVersion it saw; only a 410 (too old) costs a new LIST. One flood guard
// and one alert budget span the window (ClusterSession).
import type { ClusterTarget } from "./clusters.js";
import { isDecided } from "../core/fairness.js";
import { requestTooLarge } from "../core/request-size.js";
import type { ReadCsr } from "./csrs.js";
import {
  errorMessage,
  newSession,
  sweepBatch,
  sweepCluster,
  type ClusterOutcome,
  type ClusterSession,
  type SweepDeps,
} from "./sweep.js";

export interface WatchOptions {
  windowMs: number;
  /** Pause between a watch ending early (server close, error) and the next one. */
  reconnectDelayMs?: number;
  /** How long the first event of a batch waits for others (default 20 ms). */
  batchDelayMs?: number;
  /** Least time between two batches of one cluster (default 1.05 s): never 2 EC2 lookups in a second. */
  batchSpacingMs?: number;
  /** How often CSRs decided `wait` are looked at again within the window (default 2 s). */
  retryWaitingMs?: number;
}

/** What the window did per cluster, for benchmarks and tests. */
export interface WatchStats {
  lists: number;
  batches: number;
  events: number;
  ignoredEvents: number;
  reconnects: number;
}

/**
 * Watches every target for `options.windowMs`. A cluster with a session from the sweep just
 * run (runSweep with `sessions`) continues from it; any other is swept first.
 */
export async function watchClusters(
  targets: ClusterTarget[],
  deps: SweepDeps,
  options: WatchOptions,
  stats: Map<string, WatchStats> = new Map(),
): Promise<ClusterOutcome[]> {
  const now = deps.now ?? (() => new Date());
  const outcomes: ClusterOutcome[] = [];
  const window = AbortSignal.timeout(options.windowMs);
  const minRemaining = deps.config.sweep.minRemainingMillis;
  const timeLeft = () => !window.aborted && (!deps.remainingMillis || deps.remainingMillis() > minRemaining);
  const batchDelay = options.batchDelayMs ?? 20;
  const spacing = options.batchSpacingMs ?? 1050;
  const retryWaiting = options.retryWaitingMs ?? 2000;

  await Promise.all(
    targets.map(async (target) => {
      const name = target.facts.name;
      const counts: WatchStats = { lists: 0, batches: 0, events: 0, ignoredEvents: 0, reconnects: 0 };
      stats.set(name, counts);
      const swept = deps.sessions?.get(name);
      const session: ClusterSession = swept ?? newSession(true);

      const list = async (): Promise<boolean> => {
        counts.lists += 1;
        const outcome = await sweepCluster(target, deps, now, session);
        outcomes.push(outcome);
        return outcome.status === "ok";
      };

      // Pending CSRs to decide in the next batch (latest object per name). Those decided `wait`
      // (session.waiting) no event brings back: they join a batch every few seconds.
      const queue = new Map<string, ReadCsr>();
      let lastBatch = 0;
      let timer: NodeJS.Timeout | undefined;
      let running: Promise<void> | undefined;

      const flush = async () => {
        timer = undefined;
        if (!timeLeft()) return;
        const batch = [...queue.values()];
        queue.clear();
        if (batch.length === 0) return;
        // Only batches that look EC2 up are spaced: oversized requests are denied unread.
        if (batch.some((read) => !requestTooLarge(read.csr))) lastBatch = Date.now();
        counts.batches += 1;
        outcomes.push(await sweepBatch(target, deps, now, session, batch));
      };
      const schedule = () => {
        if (timer || running) return;
        const wait = Math.max(batchDelay, lastBatch + spacing - Date.now());
        timer = setTimeout(() => {
          running = flush()
            .catch((err: unknown) =>
              deps.log.warn("watch batch failed", { cluster: name, error: errorMessage(err) }),
            )
            .finally(() => {
              running = undefined;
              if (queue.size > 0) schedule();
            });
        }, wait);
      };
      const onEvent = (type: string, read: ReadCsr) => {
        counts.events += 1;
        const csr = read.csr;
        const version = csr.metadata.resourceVersion;
        if (type === "DELETED" || isDecided(csr)) {
          // Decided (by us or anyone): it only adds to what the window knows.
          session.approved.note(csr);
          session.history.addFrom(csr);
          queue.delete(csr.metadata.name);
          session.waiting.delete(csr.metadata.name);
          counts.ignoredEvents += 1;
          return;
        }
        if (version !== undefined && session.ownWrites.has(version)) {
          counts.ignoredEvents += 1; // our own alert marker on a pending CSR
          return;
        }
        queue.set(csr.metadata.name, read);
        schedule();
      };
      // The guard and the alert budget are per minute of the window, as for scheduled sweeps:
      // the window's batches share them, and a long window does not run out.
      const budgetMinute = setInterval(() => {
        session.used = { approvals: 0, alerts: 0 };
        session.guardAlerted = false;
      }, BUDGET_PERIOD_MS);
      const retry = setInterval(() => {
        for (const [csrName, read] of session.waiting) if (!queue.has(csrName)) queue.set(csrName, read);
        if (queue.size > 0) schedule();
      }, retryWaiting);

      try {
        if (!(swept?.kube && swept.resourceVersion !== undefined) && !(await list())) return;
        while (timeLeft()) {
          const kube = session.kube;
          if (!kube) break;
          const end = await kube.watchKubeletServingCsrs(onEvent, window, session.resourceVersion);
          if (end.resourceVersion !== undefined) session.resourceVersion = end.resourceVersion;
          if (!timeLeft()) break;
          counts.reconnects += 1;
          await sleep(options.reconnectDelayMs ?? 1000, window);
          // Too old to resume (etcd compacted it): one new LIST, which also decides what it finds.
          if (end.expired && !(await list())) break;
        }
      } catch (err) {
        deps.log.warn("watch failed: the scheduled sweep will pick this cluster up", {
          cluster: name,
          error: errorMessage(err),
        });
      } finally {
        clearInterval(retry);
        clearInterval(budgetMinute);
        if (timer) clearTimeout(timer);
        timer = undefined;
        await running;
      }
    }),
  );
  return outcomes;
}

const BUDGET_PERIOD_MS = 60_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
