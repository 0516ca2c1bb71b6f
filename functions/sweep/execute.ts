// The executor: carries out one cluster plan (core/fairness.ts) against the API server and the
// alert topic. Approvals first (slow denials never hold a legitimate node back); then the
// cluster backstop's alert, the summary, and each CSR's alerts before its write. No denial is
// written unless its alert went out: on its own (published just before the write), as a
// repeat of one within the window, or in the summary published before any write it covers.
// A write whose CSR changed (409) is re-read and re-decided once; transient failures are
// retried. Nothing here decides: the plan did, and a 409's re-decision is the caller's policy.
import { nodeNameOf } from "../core/identity.js";
import type { AlertContext } from "../core/alert.js";
import { approverOf } from "../core/audit.js";
import { approvalKey, isDecided, type AlertWork, type ClusterPlan, type CsrWork } from "../core/fairness.js";
import { withAlertMarkers, withCondition, type MarkerEntry } from "../core/plan.js";
import type { ClusterFacts, ClusterPolicySettings, CsrCondition, Decision } from "../core/types.js";
import { mapBounded } from "./bounded.js";
import { KubeError, type KubeApi, type ReadCsr } from "./csrs.js";
import type { AlertPublisher } from "./publish.js";
import {
  approvedByText,
  errorMessage,
  outcomeOf,
  SweepFailure,
  workAction,
  type CsrOutcome,
  type SweepLogger,
} from "./report.js";
import type { ClusterSession } from "./session.js";

export interface ExecuteContext {
  cluster: ClusterFacts;
  settings: ClusterPolicySettings;
  kube: Pick<KubeApi, "readCsr" | "replaceConditions">;
  /** Absent: alerts cannot go out, so denials wait (approvals do not need one). */
  alerts?: AlertPublisher;
  log: SweepLogger;
  session: ClusterSession;
  /** Write nothing at all, publish nothing (CLI --dry-run): the outcomes say what would happen. */
  readOnly: boolean;
  /** Aborted: the Lambda's time is short; no new write starts (the CSR is `deferred`). */
  deadline?: AbortSignal;
  now: () => Date;
  /** The policy, again, on a CSR re-read after a 409. */
  decide: (read: ReadCsr) => Decision;
  /** Pause before the n-th retry of a transiently failed write (default 200 ms × 2^n). */
  retryDelayMs?: (attempt: number) => number;
}

export interface Executed {
  /** Approvals' outcomes, then the work's, in plan order. */
  csrs: CsrOutcome[];
  floodGuardTripped: boolean;
  alertsSent: number;
}

/** Writes in flight per cluster: enough to approve a fleet rotation in seconds, few enough for any apiserver. */
const WRITE_CONCURRENCY = 8;
/** A write retried this many times on transient failures (5xx, transport). */
const WRITE_RETRIES = 2;
const CHANGED = "the CSR changed during the sweep: decided again next sweep";

type SummaryState = "none" | "sent" | "failed" | "deferred";

/** Carries out `plan`; the session learns what was approved, alerted and spent. */
export async function execute(ctx: ExecuteContext, plan: ClusterPlan<ReadCsr>): Promise<Executed> {
  const run = new Run(ctx);
  const { session, now } = ctx;
  const csrs = await mapBounded(plan.approvals, WRITE_CONCURRENCY, (w) => run.approve(w));
  const approvedKeys: string[] = [];
  plan.approvals.forEach((w, i) => {
    if (csrs[i]?.action !== "approved") return;
    approvedKeys.push(approvalKey(w.decision, w.csr));
    session.approvedNow({ ...w.csr, status: { conditions: [w.condition!] } });
  });
  session.approvalsWritten(approvedKeys, now().getTime());
  let floodGuardTripped = false;
  if (plan.clusterGuard) {
    floodGuardTripped = true;
    if (!session.guardAlerted && (await run.floodGuard(plan.clusterGuard))) session.floodGuardAlerted();
  }
  // The summary goes out before any write it covers; if it cannot, those writes wait. In an
  // event-mode window they wait for the next scheduled sweep, which has a budget of its own.
  const summary: SummaryState = !plan.summary
    ? "none"
    : session.eventMode
      ? "deferred"
      : (await run.summary(plan.summary))
        ? "sent"
        : "failed";
  csrs.push(...(await mapBounded(plan.work, WRITE_CONCURRENCY, (w) => run.carryOut(w, summary))));
  session.alertsPublished(run.published, now().getTime());
  return { csrs, floodGuardTripped, alertsSent: run.published };
}

/** One plan being carried out: counts what it published. */
class Run {
  published = 0;

  constructor(private readonly ctx: ExecuteContext) {}

  private base(decision: Decision): CsrOutcome {
    return outcomeOf(this.ctx.cluster.name, decision);
  }

  private get timeIsShort(): boolean {
    return this.ctx.deadline?.aborted === true;
  }

  async approve(work: CsrWork<ReadCsr>): Promise<CsrOutcome> {
    const base = this.base(work.decision);
    if (this.timeIsShort) return { ...base, action: "deferred" };
    try {
      const result = await this.writeWithReread(work, (read) => withCondition(read.csr, work.condition!));
      if (result === "decided-meanwhile") return { ...base, action: "skipped" };
      if (result === "changed") return { ...base, decision: "wait", action: "waiting", error: CHANGED };
      return { ...base, action: "approved" };
    } catch (err) {
      return { ...base, action: "error", error: errorMessage(err) };
    }
  }

  /**
   * Denials and alert markers: alerts sent on their own are published first; no denial is
   * written unless its alert went out (on its own, as a repeat of one within the window, or in
   * the summary published just before). A publish failure leaves the CSR for the next sweep.
   */
  async carryOut(work: CsrWork<ReadCsr>, summary: SummaryState): Promise<CsrOutcome> {
    if (work.action === "audit") return this.carryOutAudit(work, summary);
    const readOnly = this.ctx.readOnly;
    const denial = work.alerts.find((a) => a.kind === "denied");
    const own = work.alerts.find((a) => a.kind !== "node-flood");
    const base: CsrOutcome = {
      ...this.base(work.decision),
      action: workAction(work, own),
      ...(own ? { alert: own.kind, delivery: own.delivery } : {}),
    };
    if (this.timeIsShort) return { ...base, action: "deferred" };
    if (summary === "deferred" && work.alerts.some((a) => a.delivery === "summary")) {
      return { ...base, action: "deferred" }; // over the window's alert budget: the next sweep
    }
    const recorded: MarkerEntry[] = [];
    let failure: string | undefined;
    for (const alert of work.alerts) {
      if (alert.delivery === "summary" && summary !== "sent") {
        failure = "the summary alert was not published";
        continue;
      }
      if (alert.delivery === "alert" && !readOnly) {
        const sent = await this.publishAlert(alert);
        if (sent !== true) {
          failure = errorMessage(sent);
          continue;
        }
      }
      recorded.push(markerOf(alert));
    }
    if (readOnly) return base;
    const denialRecorded = denial !== undefined && recorded.some((e) => e.kind === "denied");
    if (denial && !denialRecorded) {
      // No denial without its alert: the CSR stays pending and is looked at again next sweep.
      return { ...base, decision: "wait", action: "waiting", ...(failure ? { error: failure } : {}) };
    }
    if (recorded.length === 0) return { ...base, ...(failure ? { error: failure } : {}) };
    try {
      const result = await this.writeWithReread(work, (read) =>
        withAlertMarkers(
          work.action === "deny"
            ? withCondition(read.csr, work.condition!)
            : (read.csr.status?.conditions ?? []),
          recorded,
        ),
      );
      if (result === "decided-meanwhile") return { ...base, action: "skipped" };
      if (result === "changed") return { ...base, decision: "wait", action: "waiting", error: CHANGED };
      // What was sent is history now, for the next batch of this window (and the cluster keeps it).
      const at = this.ctx.now().getTime();
      for (const entry of recorded) this.ctx.session.alerted(work.csr, entry, at);
      return { ...base, ...(failure ? { error: failure } : {}) };
    } catch (err) {
      return { ...base, action: "error", error: errorMessage(err) };
    }
  }

  /**
   * An approval made elsewhere that the policy would not have made: its alert goes out (on its
   * own, or as a repeat, or in the summary sent before) and nothing is written to the CSR. The
   * ledger remembers it only once the alert is out, so a failed publish is retried next sweep.
   */
  private async carryOutAudit(work: CsrWork<ReadCsr>, summary: SummaryState): Promise<CsrOutcome> {
    const alert = work.alerts[0];
    const base: CsrOutcome = {
      ...this.base(work.decision),
      action: "approved-elsewhere",
      audit: "violation",
      approvedBy: approvedByText(approverOf(work.csr)),
      ...(alert ? { alert: alert.kind, delivery: alert.delivery } : {}),
    };
    if (!alert) return base;
    if (this.timeIsShort) return { ...base, action: "deferred" };
    if (this.ctx.readOnly) return base;
    if (alert.delivery === "summary" && summary !== "sent") {
      return summary === "deferred"
        ? { ...base, action: "deferred" }
        : { ...base, error: "the summary alert was not published" };
    }
    if (alert.delivery === "alert") {
      const sent = await this.publishAlert(alert);
      if (sent !== true) return { ...base, error: errorMessage(sent) };
    }
    this.ctx.session.auditAlerted(work.csr, markerOf(alert), this.ctx.now().getTime());
    return base;
  }

  /** One CSR's (or node's) alert; true, or why it did not go out. */
  private publishAlert(alert: AlertWork): Promise<true | Error> {
    const { ctx } = this;
    const message: Omit<AlertContext, "account"> = {
      kind: alert.kind,
      cluster: ctx.cluster,
      dryRun: ctx.settings.mode === "dry-run",
      now: ctx.now(),
      ...(alert.kind === "node-flood"
        ? { nodeFlood: { node: nodeNameOf(alert.requester) ?? alert.requester, ...alert.flood! } }
        : alert.decision
          ? { decision: alert.decision }
          : {}),
      ...(alert.audit ? { audit: alert.audit } : {}),
      ...(alert.repeats > 0
        ? {
            repeats: {
              count: alert.repeats,
              ...(alert.lastAlertAt ? { lastAlertAt: alert.lastAlertAt } : {}),
            },
          }
        : {}),
    };
    return this.publish((p) => p.publish(message), {
      failure: "alert not published",
      log: (err) => [`alert not published: ${errorMessage(err)}`, { alertKind: alert.kind }],
    });
  }

  /** The summary of the alerts over the budget; true when it went out (read-only: as if it had). */
  async summary(summary: NonNullable<ClusterPlan<ReadCsr>["summary"]>): Promise<boolean> {
    const { ctx } = this;
    if (ctx.readOnly) return true;
    const sent = await this.publish(
      (p) =>
        p.publish({
          kind: "summary",
          cluster: ctx.cluster,
          dryRun: ctx.settings.mode === "dry-run",
          now: ctx.now(),
          summary: { ...summary, budget: ctx.settings.maxAlertsPerSweep },
        }),
      {
        failure: "summary alert not published",
        log: (err) => [
          "summary alert not published: the denials it covers wait",
          { error: errorMessage(err) },
        ],
      },
    );
    return sent === true;
  }

  /** The cluster-wide guard's alert; true when it went out. */
  async floodGuard(guard: { limit: number; approved: number; held: number }): Promise<boolean> {
    const { ctx } = this;
    if (ctx.readOnly) return false;
    const sent = await this.publish(
      (p) => p.publishFloodGuard({ cluster: ctx.cluster, ...guard, now: ctx.now() }),
      {
        failure: "flood-guard alert not published",
        log: (err) => ["flood-guard alert not published", { error: errorMessage(err) }],
      },
    );
    return sent === true;
  }

  /**
   * The one way out to the alert topic: counts what went out; a failure is logged (with the
   * line `log` gives) and returned, never thrown: the caller turns it into `wait`.
   */
  private async publish(
    send: (publisher: AlertPublisher) => Promise<void>,
    on: { failure: string; log: (err: unknown) => [string, Record<string, unknown>] },
  ): Promise<true | Error> {
    const { alerts, log, cluster } = this.ctx;
    if (!alerts) return new Error("no alert topic configured");
    try {
      await send(alerts);
      this.published += 1;
      return true;
    } catch (err) {
      const [message, fields] = on.log(err);
      log.warn(message, { cluster: cluster.name, ...fields });
      return new SweepFailure(on.failure, err);
    }
  }

  /**
   * A write whose CSR changed since it was listed (409) is re-read and re-decided once: it goes
   * ahead only if the decision is still the same; otherwise the next sweep looks again.
   */
  private async writeWithReread(
    work: CsrWork<ReadCsr>,
    conditionsFor: (read: ReadCsr) => CsrCondition[],
  ): Promise<"written" | "decided-meanwhile" | "changed"> {
    let read = work.item;
    for (let round = 0; ; round++) {
      try {
        await this.writeConditions(read, conditionsFor(read));
        return "written";
      } catch (err) {
        if (!(err instanceof KubeError && err.status === 409) || round > 0) throw err;
        read = await this.ctx.kube.readCsr(read.csr.metadata.name);
        if (isDecided(read.csr)) return "decided-meanwhile";
        const again = this.ctx.decide(read);
        const same =
          again.decision === work.decision.decision &&
          codesOf(again).join() === codesOf(work.decision).join();
        if (!same) return "changed";
      }
    }
  }

  /**
   * A write retried on transient failures (5xx, transport) a couple of times within the sweep:
   * after an alert is out, giving up here would mean a second alert next sweep. 409 and other
   * 4xx go straight back to the caller (409: re-read and re-decide).
   */
  private async writeConditions(read: ReadCsr, conditions: CsrCondition[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const written = await this.ctx.kube.replaceConditions(read, conditions);
        const version = written.csr.metadata.resourceVersion;
        if (version !== undefined) this.ctx.session.wrote(version);
        return;
      } catch (err) {
        const transient = err instanceof KubeError && (err.status === 0 || err.status >= 500);
        if (!transient || attempt >= WRITE_RETRIES) throw err;
        const delay = this.ctx.retryDelayMs?.(attempt) ?? 200 * 2 ** attempt;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}

function markerOf(alert: AlertWork): MarkerEntry {
  return {
    kind: alert.kind,
    via: alert.delivery,
    codes: alert.codes,
    ...(alert.targets ? { targets: alert.targets } : {}),
  };
}

function codesOf(d: Decision): string[] {
  return d.reasons.map((r) => r.code);
}
