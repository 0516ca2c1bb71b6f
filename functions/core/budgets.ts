// The budgets of an event-mode window (SPEC §6 "Fairness and budgets"), as a pure value: what
// the window has spent in its current budget period. A scheduled sweep is one period; a watch
// window that follows it continues the same period and then starts new ones, so its batches
// share the sweep's budgets instead of each batch getting its own:
// - one approval per instance per period (an instance approved in a period waits for the next
//   one, however many valid CSRs it files);
// - the cluster backstop (`maxApprovalsPerSweep`) and the alert budget count every batch;
// - the per-node guard (`maxPendingPerNode`) counts the pending CSRs a requester files in the
//   period, whichever batch they arrive in.
// Periods are computed from the `now` passed in: no timer decides when a budget resets, and a
// clock that goes back never resets one early.
export const BUDGET_PERIOD_MS = 60_000;

export interface BudgetPeriod {
  /** When this period began (ms since the epoch). */
  readonly start: number;
  readonly periodMs: number;
  /** Approvals written in this period (the cluster backstop). */
  readonly approvals: number;
  /** Alerts published in this period (the alert budget). */
  readonly alerts: number;
  /** Approval keys (EC2 instance, or node outside EC2) approved in this period. */
  readonly approvedKeys: ReadonlySet<string>;
  /** Pending CSRs each requester filed in this period (the per-node guard). */
  readonly arrivals: ReadonlyMap<string, number>;
  /** The cluster backstop's `flood-guard` alert went out in this period. */
  readonly guardAlerted: boolean;
}

export function newPeriod(now: number, periodMs: number = BUDGET_PERIOD_MS): BudgetPeriod {
  return {
    start: now,
    periodMs,
    approvals: 0,
    alerts: 0,
    approvedKeys: new Set(),
    arrivals: new Map(),
    guardAlerted: false,
  };
}

/**
 * The period `now` falls in: `current` itself while it lasts, else a fresh one starting on
 * the boundary `now` has passed (periods stay aligned to the window's first). Without a
 * current period, one starts at `now`.
 */
export function periodAt(
  current: BudgetPeriod | undefined,
  now: number,
  periodMs: number = BUDGET_PERIOD_MS,
): BudgetPeriod {
  if (!current) return newPeriod(now, periodMs);
  const elapsed = now - current.start;
  if (!(elapsed >= current.periodMs)) return current; // NaN or a clock gone back: same period
  return newPeriod(
    current.start + Math.floor(elapsed / current.periodMs) * current.periodMs,
    current.periodMs,
  );
}

/** When the next period starts: CSRs held by a budget of this one are looked at again then. */
export function nextPeriodAt(period: BudgetPeriod): number {
  return period.start + period.periodMs;
}

/** The period after approvals of these keys (one per approval written). */
export function withApprovals(period: BudgetPeriod, keys: readonly string[]): BudgetPeriod {
  if (keys.length === 0) return period;
  return {
    ...period,
    approvals: period.approvals + keys.length,
    approvedKeys: new Set([...period.approvedKeys, ...keys]),
  };
}

export function withAlerts(period: BudgetPeriod, alerts: number): BudgetPeriod {
  return alerts === 0 ? period : { ...period, alerts: period.alerts + alerts };
}

export function withGuardAlerted(period: BudgetPeriod): BudgetPeriod {
  return { ...period, guardAlerted: true };
}

/** A requester's pending CSR arrived (counted once per CSR, not per look at it). */
export function withArrival(period: BudgetPeriod, requester: string): BudgetPeriod {
  const arrivals = new Map(period.arrivals);
  arrivals.set(requester, (arrivals.get(requester) ?? 0) + 1);
  return { ...period, arrivals };
}

/** How a batch's newly arrived CSRs fare against the per-node guard of the period. */
export interface Admission<T> {
  period: BudgetPeriod;
  /** Within the requester's guard, or the CSR that trips it: examined now. */
  examine: T[];
  /** Past the requester's guard: not examined in this period (retried in the next). */
  over: T[];
  /** Requesters whose guard tripped with this batch: pending CSRs filed in the period. */
  tripped: { requester: string; pending: number }[];
}

/**
 * The per-node guard across the batches of a period: a requester's first `perRequester`
 * CSRs of the period are examined, any more wait for the next period. The CSR that trips the
 * guard is examined too: it carries the requester's one `node-flood` alert (the plan puts
 * the alert on a CSR of the requester's, and the ones filed before it were decided in
 * earlier batches). `items` come in age order (oldest first), so what a requester files
 * later never displaces what it filed before.
 */
export function admit<T>(
  period: BudgetPeriod,
  items: readonly T[],
  requesterOf: (item: T) => string,
  perRequester: number,
): Admission<T> {
  const arrivals = new Map(period.arrivals);
  const examine: T[] = [];
  const over: T[] = [];
  const tripped = new Map<string, number>();
  for (const item of items) {
    const requester = requesterOf(item);
    const before = arrivals.get(requester) ?? 0;
    arrivals.set(requester, before + 1);
    if (before < perRequester) examine.push(item);
    else if (before === perRequester) {
      examine.push(item);
      tripped.set(requester, 0);
    } else over.push(item);
  }
  for (const requester of tripped.keys()) tripped.set(requester, arrivals.get(requester) ?? 0);
  return {
    period: { ...period, arrivals },
    examine,
    over,
    tripped: [...tripped].map(([requester, pending]) => ({ requester, pending })),
  };
}

/** Requesters past their per-node guard in this period: they go after everyone else. */
export function flooding(period: BudgetPeriod, perRequester: number): Set<string> {
  return new Set([...period.arrivals].filter(([, n]) => n > perRequester).map(([r]) => r));
}
