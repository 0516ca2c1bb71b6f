// Event mode, incremental (SPEC §6): each cluster is swept once (one LIST, which also gives the
// resourceVersion to watch from), then watched. A watch event decides the CSR it carries, in
// batches that adapt to the load (group commit): a pending CSR that arrives while no lookup of
// its cluster is in flight and the region's EC2 bucket has a token is looked up at once; CSRs
// that arrive while a lookup is in flight (or the bucket is empty) form the next batch, sent
// the moment that lookup returns and a token is there (the bucket, sweep/ec2-budget.ts, is the
// one rate). A batch's decisions and writes go on while the next batch is looked up; batches
// are decided one at a time, in order. Events for decided CSRs, and for our own writes, start
// no work, except the audit of an approval made elsewhere, once per CSR. The watch stream
// itself (resume, reconnect, 410) is source.ts's. The sweep's budgets span the window's
// batches, per budget period (the session's, core/budgets.ts); CSRs a budget held are looked
// at again when the next period starts.
import { isDecided, PendingSet, type NodeOverflow } from "../core/fairness.js";
import type { ClusterTarget } from "./clusters.js";
import type { ReadCsr } from "./csrs.js";
import type { Ec2Budgets } from "./ec2-budget.js";
import { gatherFacts, type BatchFacts } from "./gather.js";
import { clusterOutcome, errorMessage, type ClusterOutcome } from "./report.js";
import { newSession, type ClusterSession } from "./session.js";
import { auditSet, follow, isAuditCandidate, keptForAudit } from "./source.js";
import {
  gatherContext,
  processBatch,
  settingsFor,
  sweepCluster,
  withEc2Budgets,
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
  const signal = deps.deadline ? AbortSignal.any([window, deps.deadline]) : window;
  const timeLeft = () => !signal.aborted;
  const retryWaiting = options.retryWaitingMs ?? 2000;

  await Promise.all(
    targets.map(async (target) => {
      const name = target.facts.name;
      const counts: WatchStats = { lists: 0, batches: 0, events: 0, ignoredEvents: 0, reconnects: 0 };
      stats.set(name, counts);
      const swept = deps.sessions?.get(name);
      const session: ClusterSession = swept ?? newSession(true);
      if (options.budgetPeriodMs !== undefined)
        session.startPeriodIfNone(now().getTime(), options.budgetPeriodMs);

      const list = async (): Promise<boolean> => {
        counts.lists += 1;
        const outcome = await sweepCluster(target, deps, now, session);
        outcomes.push(outcome);
        return outcome.status === "ok";
      };

      // Pending CSRs to decide in the next batch (latest object per name). Those decided `wait`
      // or held by a budget no event brings back: they join a batch every few seconds, or when
      // the next budget period starts (session.retriesDue).
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
          session.sawDecided(csr);
          if (type !== "DELETED" && isAuditCandidate(target.settings, session.audit, csr, now(), false)) {
            queue.set(csr.metadata.name, read);
            send();
            return;
          }
          queue.delete(csr.metadata.name);
          counts.ignoredEvents += 1;
          return;
        }
        if (version !== undefined && session.isOwnWrite(version)) {
          counts.ignoredEvents += 1; // our own alert marker on a pending CSR
          return;
        }
        queue.set(csr.metadata.name, read);
        send();
      };
      const retry = setInterval(() => {
        for (const read of session.retriesDue(now().getTime())) {
          if (!queue.has(read.csr.metadata.name)) queue.set(read.csr.metadata.name, read);
        }
        send();
      }, retryWaiting);

      try {
        if (!(swept?.kube && swept.resourceVersion !== undefined) && !(await list())) return;
        await follow(session, onEvent, {
          signal,
          timeLeft,
          reconnectDelayMs: options.reconnectDelayMs ?? 1000,
          relist: list,
          onReconnect: () => (counts.reconnects += 1),
        });
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

/** Event mode: a batch of CSRs that arrived by watch, admitted, its facts being looked up. */
interface PreparedBatch {
  pending: PendingSet<ReadCsr>;
  reads: number;
  /** Requesters whose guard for the period tripped with this batch. */
  tripped: NodeOverflow[];
  /** Node objects and EC2 instances for the batch; settles (never rejects) when the lookup is done. */
  facts: Promise<BatchFacts>;
  /** Approvals made elsewhere in the batch, audited with it; those over the audit bound. */
  audits: ReadCsr[];
  auditDeferred: number;
  /** Admission failed: the batch fails as a whole (its CSRs wait). */
  error?: unknown;
}

/**
 * Event mode, first half of a batch: admits its CSRs to the budget period (counted as they
 * arrive) and starts looking up the facts of those examined at once (the requesters' Node
 * objects, one DescribeInstances). The watch sends the next batch's lookup as soon as this one
 * settles, while this batch is still being decided and written.
 */
function prepareBatch(
  target: ClusterTarget,
  deps: SweepDeps & { ec2Budgets: Ec2Budgets },
  now: () => Date,
  session: ClusterSession,
  reads: ReadCsr[],
): PreparedBatch {
  const settings = settingsFor(target, deps);
  const cap = settings.maxPendingPerNode;
  const pending = new PendingSet<ReadCsr>(cap, (r) => r.csr);
  try {
    // Decided CSRs in a batch are approvals made elsewhere to audit; the rest are pending.
    const audits = auditSet();
    const undecided: ReadCsr[] = [];
    for (const read of reads) {
      if (!isDecided(read.csr)) undecided.push(read);
      else if (isAuditCandidate(settings, session.audit, read.csr, now())) audits.add(keptForAudit(read));
    }
    const auditsKept = audits.take();
    const admitted = session.admit(undecided, now().getTime(), cap);
    for (const read of admitted.examine) pending.add(read);
    const kept = new Set(pending.items());
    session.holdForNextPeriod(
      undecided.filter((r) => !kept.has(r)),
      cap,
    );
    const lookup = async () =>
      gatherFacts(gatherContext(target, deps, session), pending.items(), false, auditsKept);
    const facts = lookup().catch((err: unknown) => {
      const unavailable = `fact lookup failed: ${errorMessage(err)}`;
      return { nodes: { unavailable }, instances: { unavailable } };
    });
    return {
      pending,
      reads: undecided.length,
      tripped: admitted.tripped,
      facts,
      audits: auditsKept,
      auditDeferred: audits.deferred,
    };
  } catch (error) {
    const unavailable = `batch not admitted: ${errorMessage(error)}`;
    return {
      pending,
      reads: reads.length,
      tripped: [],
      audits: [],
      auditDeferred: 0,
      facts: Promise.resolve({ nodes: { unavailable }, instances: { unavailable } }),
      error,
    };
  }
}

/**
 * Event mode, second half: decides the batch against what the session already knows (no
 * listing). Same plan, same budgets as a sweep. The watch runs one at a time per cluster.
 */
async function sweepBatch(
  target: ClusterTarget,
  deps: SweepDeps,
  now: () => Date,
  session: ClusterSession,
  batch: PreparedBatch,
): Promise<ClusterOutcome> {
  const t0 = performance.now();
  const outcome = clusterOutcome(target, settingsFor(target, deps));
  try {
    if (batch.error !== undefined) throw batch.error;
    outcome.pending = batch.reads;
    outcome.auditDeferred = batch.auditDeferred;
    await processBatch(target, deps, now, session, outcome, {
      pending: batch.pending,
      tripped: batch.tripped,
      audits: batch.audits,
      facts: batch.facts,
    });
  } catch (err) {
    outcome.status = "failed";
    outcome.error = errorMessage(err);
    deps.log.error("cluster batch failed", { cluster: target.facts.name, error: outcome.error });
  }
  outcome.durationMs = Math.round(performance.now() - t0);
  return outcome;
}
