// Event mode, incremental (SPEC §6): each cluster is swept once (one LIST, which also gives the
// resourceVersion to watch from), then watched. A watch event decides the CSR it carries, in
// batches that adapt to the load (group commit): a pending CSR that arrives while no lookup of
// its cluster is in flight and the region's EC2 bucket has a token is looked up at once; CSRs
// that arrive while a lookup is in flight (or the bucket is empty) form the next batch, sent
// the moment that lookup returns and a token is there (one DescribeInstances per batch). A
// batch's decisions and writes go on while the next batch is looked up; batches are decided
// one at a time, in order. Events for decided CSRs, and for our own writes, start no work,
// except the audit of an approval made elsewhere, once per CSR. A
// dropped watch resumes from the last resourceVersion it saw; only a 410 (too old) costs a new
// LIST. The sweep's budgets span the window's batches, per budget period
// (ClusterSession.budget, core/budgets.ts); CSRs a budget held are looked at again when the
// next period starts.
import type { ClusterTarget } from "./clusters.js";
import { newPeriod } from "../core/budgets.js";
import { isDecided } from "../core/fairness.js";
import type { ReadCsr } from "./csrs.js";
import {
  errorMessage,
  isAuditCandidate,
  newSession,
  prepareBatch,
  rememberDecided,
  retriesDue,
  sweepBatch,
  sweepCluster,
  withEc2Budgets,
  type ClusterOutcome,
  type ClusterSession,
  type SweepDeps,
} from "./sweep.js";

export interface WatchOptions {
  windowMs: number;
  /** Pause between a watch ending early (server close, error) and the next one. */
  reconnectDelayMs?: number;
  /**
   * How often CSRs decided `wait` are looked at again within the window (default 2 s); CSRs
   * held by a budget are looked at again at the first such tick of the next budget period.
   */
  retryWaitingMs?: number;
  /** The budget period of a window that starts without a sweep's session (default 60 s; tests shorten it). */
  budgetPeriodMs?: number;
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
  given: SweepDeps,
  options: WatchOptions,
  stats: Map<string, WatchStats> = new Map(),
): Promise<ClusterOutcome[]> {
  const deps = withEc2Budgets(given);
  const now = deps.now ?? (() => new Date());
  const outcomes: ClusterOutcome[] = [];
  const window = AbortSignal.timeout(options.windowMs);
  const minRemaining = deps.config.sweep.minRemainingMillis;
  const timeLeft = () => !window.aborted && (!deps.remainingMillis || deps.remainingMillis() > minRemaining);
  const retryWaiting = options.retryWaitingMs ?? 2000;

  await Promise.all(
    targets.map(async (target) => {
      const name = target.facts.name;
      const counts: WatchStats = { lists: 0, batches: 0, events: 0, ignoredEvents: 0, reconnects: 0 };
      stats.set(name, counts);
      const swept = deps.sessions?.get(name);
      const session: ClusterSession = swept ?? newSession(true);
      if (!session.budget && options.budgetPeriodMs !== undefined) {
        session.budget = newPeriod(now().getTime(), options.budgetPeriodMs);
      }

      const list = async (): Promise<boolean> => {
        counts.lists += 1;
        const outcome = await sweepCluster(target, deps, now, session);
        outcomes.push(outcome);
        return outcome.status === "ok";
      };

      // Pending CSRs to decide in the next batch (latest object per name). Those decided `wait`
      // (session.waiting) or held by a budget (session.held) no event brings back: they join a
      // batch every few seconds, or when the next budget period starts (retriesDue).
      const queue = new Map<string, ReadCsr>();
      const bucket = deps.ec2Budgets.forRegion(target.facts.region);
      let lookingUp = false;
      let timer: NodeJS.Timeout | undefined;
      let deciding: Promise<void> = Promise.resolve();

      // Sends the queued CSRs as one batch if none is being looked up and a token is there;
      // with the bucket empty, comes back when the next token is due (the only timer).
      const send = () => {
        if (lookingUp || queue.size === 0 || !timeLeft()) return;
        const wait = bucket.msUntilToken();
        if (wait > 0) {
          timer ??= setTimeout(() => {
            timer = undefined;
            send();
          }, wait);
          return;
        }
        const batch = prepareBatch(target, deps, now, session, [...queue.values()]);
        queue.clear();
        counts.batches += 1;
        lookingUp = true;
        void batch.facts.then(() => {
          lookingUp = false;
          send();
        });
        deciding = deciding
          .then(async () => {
            outcomes.push(await sweepBatch(target, deps, now, session, batch));
          })
          .catch((err: unknown) =>
            deps.log.warn("watch batch failed", { cluster: name, error: errorMessage(err) }),
          );
      };
      const onEvent = (type: string, read: ReadCsr) => {
        counts.events += 1;
        const csr = read.csr;
        const version = csr.metadata.resourceVersion;
        if (type === "DELETED" || isDecided(csr)) {
          // Decided (by us or anyone): it adds to what the window knows; an approval made
          // elsewhere is audited in the next batch, once (our own issued certificates are
          // compared by the scheduled sweep: the signer's event starts no work here).
          session.approved.note(csr);
          session.history.addFrom(csr);
          rememberDecided(session, csr.metadata.name);
          session.waiting.delete(csr.metadata.name);
          session.held.delete(csr.metadata.name);
          if (type !== "DELETED" && isAuditCandidate(target.settings, session.audit, csr, now(), false)) {
            queue.set(csr.metadata.name, read);
            send();
            return;
          }
          queue.delete(csr.metadata.name);
          counts.ignoredEvents += 1;
          return;
        }
        if (version !== undefined && session.ownWrites.has(version)) {
          counts.ignoredEvents += 1; // our own alert marker on a pending CSR
          return;
        }
        queue.set(csr.metadata.name, read);
        send();
      };
      const retry = setInterval(() => {
        for (const read of retriesDue(session, now().getTime())) {
          if (!queue.has(read.csr.metadata.name)) queue.set(read.csr.metadata.name, read);
        }
        send();
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
        if (timer) clearTimeout(timer);
        timer = undefined;
        await deciding;
      }
    }),
  );
  return outcomes;
}

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
