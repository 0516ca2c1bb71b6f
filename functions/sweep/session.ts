// One cluster's state across a sweep and the event-mode window that follows it: what the
// listing learned (history, approvals, where to watch from), the budget period's spending
// (a pure value, core/budgets.ts), and the CSRs to look at again. Only this module changes
// it: the others read it and tell it what happened, through the methods below.
import {
  admit,
  newPeriod,
  nextPeriodAt,
  periodAt,
  withAlerts,
  withApprovals,
  withGuardAlerted,
  type BudgetPeriod,
} from "../core/budgets.js";
import {
  AlertHistory,
  ApprovedLedger,
  PendingSet,
  compareAge,
  requesterOf,
  type NodeOverflow,
} from "../core/fairness.js";
import { AuditLedger, auditKey } from "../core/audit.js";
import type { MarkerEntry } from "../core/plan.js";
import type { CsrObject } from "../core/types.js";
import type { KubeApi, ReadCsr } from "./csrs.js";

/** Bounded: a window's own writes, far more than any window makes. */
const OWN_WRITES_KEPT = 50_000;

/** Event mode: a batch's CSRs against the period's per-node guard (ClusterSession.admit). */
export interface Admitted {
  /** The CSRs to examine now: retries, then the fresh ones within their node's guard. */
  examine: ReadCsr[];
  /** Requesters whose guard for the period tripped with this batch. */
  tripped: NodeOverflow[];
}

/**
 * What one cluster's sweep learned and spent, kept for an event-mode window so that the CSRs
 * arriving by watch are decided against the same history, and one flood guard and one alert
 * budget span the whole window.
 */
export class ClusterSession {
  #kube: KubeApi | undefined;
  #resourceVersion: string | undefined;
  #approved = new ApprovedLedger();
  #history = new AlertHistory();
  /**
   * What the current budget period spent (core/budgets.ts): a scheduled sweep is one period,
   * and an event-mode window continues it, so every batch of the window shares its budgets.
   */
  #budget: BudgetPeriod | undefined;
  /** resourceVersions our own writes produced: their watch events start no work. */
  readonly #ownWrites = new Set<string>();
  /**
   * Event mode: CSRs whose decided version the watch has seen (by us or anyone). A batch read
   * before that event is not decided again from its stale pending copy. Bounded like ownWrites.
   */
  readonly #decidedSeen = new Set<string>();
  /** Pending CSRs last decided `wait`: no event brings them back, so the watch retries them. */
  readonly #waiting = new Map<string, ReadCsr>();
  /**
   * Valid CSRs held by a budget of the period (the cluster backstop, one approval per
   * instance) or not examined past their node's guard: the watch retries them when the next
   * period starts. At most `maxPendingPerNode` per requester, its newest.
   */
  #held = new Map<string, ReadCsr>();
  /** Node objects in the cluster at the last full Node LIST (sizes the `auto` backstop). */
  #nodeCount: number | undefined;
  /** The cluster's audit ledger (SweepDeps.auditLedgers, or this session's own). */
  #audit = new AuditLedger();

  /** Event mode: alerts over the budget wait for the next scheduled sweep and its summary. */
  constructor(readonly eventMode = false) {}

  get kube(): KubeApi | undefined {
    return this.#kube;
  }
  /** resourceVersion of the last listing or watch: the watch (re)starts there, missing nothing. */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }
  get approved(): ApprovedLedger {
    return this.#approved;
  }
  get history(): AlertHistory {
    return this.#history;
  }
  get audit(): AuditLedger {
    return this.#audit;
  }
  get nodeCount(): number | undefined {
    return this.#nodeCount;
  }

  /** The cluster's audit ledger from now on (one kept by the caller across sweeps). */
  useAuditLedger(ledger: AuditLedger): void {
    this.#audit = ledger;
  }

  /** A listing replaced what the session knew: the client it used, history, approvals, version. */
  listed(
    kube: KubeApi,
    listing: { approved: ApprovedLedger; history: AlertHistory; resourceVersion?: string },
  ): void {
    this.#kube = kube;
    this.#approved = listing.approved;
    this.#history = listing.history;
    this.#audit.replayInto(this.#history);
    if (listing.resourceVersion !== undefined) this.#resourceVersion = listing.resourceVersion;
  }

  /** A watch ended having seen up to this resourceVersion. */
  watchedTo(resourceVersion: string | undefined): void {
    if (resourceVersion !== undefined) this.#resourceVersion = resourceVersion;
  }

  countedNodes(count: number): void {
    this.#nodeCount = count;
  }

  /** A window that starts without a sweep's session starts its first budget period now. */
  startPeriodIfNone(now: number, periodMs: number): void {
    this.#budget ??= newPeriod(now, periodMs);
  }

  /** The budget period `now` falls in (kept as the current one). */
  period(now: number): BudgetPeriod {
    this.#budget = periodAt(this.#budget, now);
    return this.#budget;
  }

  approvalsWritten(keys: readonly string[], now: number): void {
    this.#budget = withApprovals(this.period(now), keys);
  }

  alertsPublished(count: number, now: number): void {
    this.#budget = withAlerts(this.period(now), count);
  }

  /** The cluster backstop's alert is due unless it already went out in this period. */
  get guardAlerted(): boolean {
    return this.#budget?.guardAlerted === true;
  }

  floodGuardAlerted(): void {
    if (this.#budget) this.#budget = withGuardAlerted(this.#budget);
  }

  /**
   * Event mode: admits a batch's pending CSRs to the budget period. The per-node guard spans
   * the period: a CSR that arrives counts with those its requester filed earlier in the period;
   * past the guard it waits for the next period. Retries (`waiting`, `held`) were counted when
   * they arrived.
   */
  admit(undecided: ReadCsr[], now: number, perRequester: number): Admitted {
    const isRetry = (r: ReadCsr) =>
      this.#waiting.has(r.csr.metadata.name) || this.#held.has(r.csr.metadata.name);
    const fresh = undecided.filter((r) => !isRetry(r)).sort((a, b) => compareAge(a.csr, b.csr));
    const admission = admit(periodAt(this.#budget, now), fresh, (r) => requesterOf(r.csr), perRequester);
    this.#budget = admission.period;
    return {
      examine: [...undecided.filter(isRetry), ...admission.examine],
      tripped: admission.tripped.map((t) => ({ ...t, examined: perRequester })),
    };
  }

  /** A batch read before the watch saw the CSR decided is not decided again from its stale copy. */
  seenDecided(name: string): boolean {
    return this.#decidedSeen.has(name);
  }

  /** The policy just decided this CSR: `wait` is retried by the watch; held ones are let go. */
  decided(read: ReadCsr, waits: boolean): void {
    const name = read.csr.metadata.name;
    if (waits) this.#waiting.set(name, read);
    else this.#waiting.delete(name);
    this.#held.delete(name);
  }

  /**
   * Keeps CSRs for the next budget period's retry: at most `perRequester` per requester (its
   * newest), so a flooding node cannot grow what the window keeps.
   */
  holdForNextPeriod(reads: ReadCsr[], perRequester: number): void {
    if (reads.length === 0) return;
    const kept = new PendingSet<ReadCsr>(perRequester, (r) => r.csr);
    const added = new Set(reads.map((r) => r.csr.metadata.name));
    for (const [name, read] of this.#held) if (!added.has(name)) kept.add(read);
    for (const read of reads) kept.add(read);
    this.#held = new Map(kept.items().map((r) => [r.csr.metadata.name, r]));
  }

  /**
   * Event mode: the CSRs to look at again now. Those last decided `wait`, always; those held by
   * a budget of the period (or past their node's guard), once the next period has started.
   */
  retriesDue(now: number): ReadCsr[] {
    const due = [...this.#waiting.values()];
    if (this.#budget && now >= nextPeriodAt(this.#budget)) {
      for (const read of this.#held.values()) if (!this.#waiting.has(read.csr.metadata.name)) due.push(read);
    }
    return due;
  }

  /** An alert about this CSR went out (on its own, as a repeat or in the summary) and its marker was written. */
  alerted(csr: CsrObject, entry: MarkerEntry, at: number): void {
    this.#history.record(csr, entry, at);
  }

  /**
   * An approval made elsewhere whose alert went out: the ledger remembers it (nothing is
   * written to that CSR), and the history counts the alert.
   */
  auditAlerted(csr: CsrObject, entry: MarkerEntry, at: number): void {
    this.#audit.remember(auditKey(csr), at);
    this.#audit.recordAlert(csr, entry, at);
    this.#history.record(csr, entry, at);
  }

  /** An approval made elsewhere that the policy agrees with: not examined again. */
  auditPassed(csr: CsrObject, at: number): void {
    this.#audit.remember(auditKey(csr), at);
  }

  /** We approved it: one approval per instance, and the history of the window, know it. */
  approvedNow(csr: CsrObject): void {
    this.#approved.note(csr);
  }

  /**
   * Event mode: the watch saw this CSR decided or deleted (by us or anyone): it adds to what
   * the window knows, and it is no longer retried.
   */
  sawDecided(csr: CsrObject): void {
    const name = csr.metadata.name;
    this.#approved.note(csr);
    this.#history.addFrom(csr);
    if (this.#decidedSeen.size >= OWN_WRITES_KEPT) this.#decidedSeen.clear();
    this.#decidedSeen.add(name);
    this.#waiting.delete(name);
    this.#held.delete(name);
  }

  /** A write of ours produced this resourceVersion: its watch event starts no work. */
  wrote(version: string): void {
    if (this.#ownWrites.size >= OWN_WRITES_KEPT) this.#ownWrites.clear();
    this.#ownWrites.add(version);
  }

  isOwnWrite(version: string): boolean {
    return this.#ownWrites.has(version);
  }
}

export function newSession(eventMode = false): ClusterSession {
  return new ClusterSession(eventMode);
}
