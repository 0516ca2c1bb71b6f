// What a sweep reports: per CSR, per cluster, in total; and how an outcome is logged. Errors
// travel as Error values (with `cause`) and become text only here, when reported or logged.
import type { AuditVerdict } from "../core/audit.js";
import type { AlertWork, CsrAlertKind, CsrWork, HeldReason } from "../core/fairness.js";
import type { Delivery } from "../core/plan.js";
import type { ClusterPolicySettings, Decision, DecisionKind, Reason } from "../core/types.js";
import type { ClusterTarget } from "./clusters.js";

export type CsrAction =
  | "approved"
  | "denied"
  | "would-approve"
  | "would-deny"
  | "left-pending"
  | "flood-guarded" // over the cluster-wide maxApprovalsPerSweep: left pending
  | "held" // valid, but a newer CSR of the same instance was approved (one per instance per sweep)
  | "deferred" // the Lambda's time ran short: left for the next sweep
  | "waiting"
  | "skipped"
  | "alerted"
  | "approved-elsewhere" // approved by someone else, and the policy would not have: alerted, nothing written
  | "audited" // approved by someone else and examined: the policy agrees, or cannot tell yet
  | "error";

export interface CsrOutcome {
  cluster: string;
  name: string;
  node?: string;
  requester?: string;
  instanceId?: string;
  decision: DecisionKind;
  action: CsrAction;
  reasons: Reason[];
  alert?: CsrAlertKind;
  /** How the alert went out: on its own, as a repeat within the window, or in the summary. */
  delivery?: Delivery;
  /** Audited (approved elsewhere): what the policy says of that approval now. */
  audit?: AuditVerdict;
  /** Audited: who approved it, as the Approved condition says (reason: message). */
  approvedBy?: string;
  error?: string;
}

export interface ClusterOutcome {
  cluster: string;
  region: string;
  source: "eks" | "self-managed";
  status: "ok" | "failed" | "deferred";
  error?: string;
  mode: "enforce" | "dry-run";
  /** Pending CSRs examined, and follow-ups; CSRs decided earlier are only counted in `listed`. */
  csrs: CsrOutcome[];
  /** The cluster-wide backstop (maxApprovalsPerSweep) held approvals back. */
  floodGuardTripped: boolean;
  durationMs: number;
  listed: number;
  pending: number;
  /** Pending CSRs beyond maxPendingPerNode of their node: not examined this sweep. */
  notExamined: number;
  nodeFloods: { node: string; pending: number; examined: number }[];
  /** Audit: approvals made elsewhere examined, and those left for the next sweep (over its bound). */
  audited: number;
  auditDeferred: number;
  approvalLimit?: number;
  alertsSent: number;
}

export interface SweepReport {
  startedAt: string;
  durationMs: number;
  clusters: ClusterOutcome[];
  totals: Record<CsrAction, number>;
}

export interface SweepLogger {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

const ACTIONS: CsrAction[] = [
  "approved",
  "denied",
  "would-approve",
  "would-deny",
  "left-pending",
  "flood-guarded",
  "held",
  "deferred",
  "waiting",
  "skipped",
  "alerted",
  "approved-elsewhere",
  "audited",
  "error",
];

export function totalsOf(outcomes: ClusterOutcome[]): Record<CsrAction, number> {
  const totals = Object.fromEntries(ACTIONS.map((a) => [a, 0])) as Record<CsrAction, number>;
  for (const c of outcomes) for (const o of c.csrs) totals[o.action] += 1;
  return totals;
}

const EMPTY_COUNTS = {
  floodGuardTripped: false,
  durationMs: 0,
  listed: 0,
  pending: 0,
  notExamined: 0,
  audited: 0,
  auditDeferred: 0,
  alertsSent: 0,
} satisfies Partial<ClusterOutcome>;

/** A cluster's outcome before anything happened to it (fresh arrays: it is filled in place). */
export function clusterOutcome(
  target: ClusterTarget,
  settings: Pick<ClusterPolicySettings, "mode">,
  status: ClusterOutcome["status"] = "ok",
): ClusterOutcome {
  return {
    cluster: target.facts.name,
    region: target.facts.region,
    source: target.source,
    status,
    mode: settings.mode,
    ...EMPTY_COUNTS,
    csrs: [],
    nodeFloods: [],
  };
}

/** A cluster that could not be resolved (discovery or credentials failed). */
export function unresolvedOutcome(failure: {
  cluster: string;
  region: string;
  error: string;
}): ClusterOutcome {
  return {
    cluster: failure.cluster,
    region: failure.region,
    source: "eks",
    status: "failed",
    error: failure.error,
    mode: "enforce",
    ...EMPTY_COUNTS,
    csrs: [],
    nodeFloods: [],
  };
}

/** A CSR's outcome from its decision; the action is set by whoever carries it out. */
export function outcomeOf(cluster: string, d: Decision): CsrOutcome {
  return {
    cluster,
    name: d.name,
    ...(d.node !== undefined ? { node: d.node } : {}),
    ...(d.requester !== undefined ? { requester: d.requester } : {}),
    ...(d.instanceId !== undefined ? { instanceId: d.instanceId } : {}),
    decision: d.decision,
    action: "skipped",
    reasons: d.reasons,
  };
}

/** A CSR the plan neither approves nor works on: reported from why it was held, or its decision. */
export function untouchedAction(why: HeldReason | undefined, decision: Decision): CsrAction {
  switch (why) {
    case "would-approve":
      return "would-approve";
    case "cluster-guard":
      return "flood-guarded";
    case "superseded":
      return "held";
    default:
      return decision.decision === "wait" ? "waiting" : "skipped";
  }
}

/** A CSR's work, reported by its own alert (the node-flood marker only rides along). */
export function workAction<T>(work: CsrWork<T>, own: AlertWork | undefined): CsrAction {
  switch (own?.kind) {
    case "denied":
      return "denied";
    case "would-deny":
      return "would-deny";
    case "left-pending":
      return "left-pending";
    case "not-issued":
    case "failed":
    case "certificate-mismatch":
      return "alerted";
    case "approved-elsewhere":
      return "approved-elsewhere";
    default:
      // Only a node-flood marker rides on this CSR: report what its decision says.
      return work.decision.decision === "wait" ? "waiting" : "held";
  }
}

/** Who approved a CSR approved elsewhere, as its Approved condition says (bounded: anyone who approves writes it). */
export function approvedByText(approver: { reason: string; message: string }): string {
  return `${approver.reason}: ${approver.message}`.slice(0, 300);
}

export function logDecision(log: SweepLogger, o: CsrOutcome): void {
  // Already-decided CSRs, and approvals made elsewhere that pass, would drown the log.
  if (o.action === "skipped" || (o.action === "audited" && o.audit === "pass")) return;
  const fields = {
    cluster: o.cluster,
    csr: o.name,
    node: o.node,
    requester: o.requester,
    instanceId: o.instanceId,
    decision: o.decision,
    action: o.action,
    reasons: o.reasons.map((r) => r.code),
    ...(o.error ? { error: o.error } : {}),
  };
  if (o.action === "error") log.warn("csr decision not carried out", fields);
  else log.info("csr decision", fields);
}

/**
 * A step of the sweep that failed because of another error: `what` says which step, `cause`
 * keeps the error itself. errorMessage renders it as "<what>: <cause>" when it is logged.
 */
export class SweepFailure extends Error {
  constructor(what: string, cause: unknown) {
    super(what, { cause });
    this.name = "SweepFailure";
  }
}

/** One line for the log or the report: the first line of the message (with the causes of a SweepFailure). */
export function errorMessage(err: unknown): string {
  if (err instanceof SweepFailure) return `${err.message}: ${errorMessage(err.cause)}`;
  if (err instanceof Error) return err.message.split("\n")[0] ?? err.name;
  return String(err);
}
