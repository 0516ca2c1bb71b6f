// Decide and plan one batch, on the facts the gatherer brought: the policy per CSR (core/
// policy.ts, with only the facts that can matter to it: core/facts-index.ts), the audit's
// verdict on approvals made elsewhere (core/audit.ts), and the cluster plan (core/fairness.ts)
// within what the session's budget period has left. Pure calls into core; the session is told
// what was decided (CSRs to retry, CSRs held for the next period).
import { approverOf, asUndecided, auditVerdict } from "../core/audit.js";
import { flooding } from "../core/budgets.js";
import { FactsIndex } from "../core/facts-index.js";
import {
  planCluster,
  type AuditFinding,
  type ClusterPlan,
  type FollowUp,
  type NodeOverflow,
} from "../core/fairness.js";
import { decide } from "../core/policy.js";
import { parseCertificateRequest } from "../core/request.js";
import type { ClusterFacts, ClusterPolicySettings, Decision } from "../core/types.js";
import type { ReadCsr } from "./csrs.js";
import type { BatchFacts } from "./gather.js";
import { approvedByText, outcomeOf, untouchedAction, type CsrOutcome } from "./report.js";
import type { ClusterSession } from "./session.js";

export interface DecideContext {
  cluster: ClusterFacts;
  settings: ClusterPolicySettings;
  session: ClusterSession;
  now: () => Date;
  /** Nothing is remembered of an audit that passed (CLI --dry-run writes nothing at all). */
  readOnly: boolean;
}

export interface Planned {
  plan: ClusterPlan<ReadCsr>;
  /** The policy on this batch's facts (re-decides a CSR re-read after a 409). */
  decideOne: (read: ReadCsr) => Decision;
  /** Audited approvals that are no violation, then the CSRs the plan does not touch, reported as they are. */
  reported: CsrOutcome[];
  /** Approvals made elsewhere examined. */
  audited: number;
}

/** The policy on one CSR, with the facts of the batch (indexed once for the batch). */
export function decider(ctx: DecideContext, facts: BatchFacts): (read: ReadCsr) => Decision {
  const { instances, nodes } = facts;
  const { settings } = ctx;
  const index =
    Array.isArray(instances) && Array.isArray(nodes)
      ? new FactsIndex(instances, nodes, {
          allInstances: settings.nonEc2Nodes !== undefined,
          providerIdRivals: settings.trustNodeProviderId,
          nodeNameTemplates: settings.nodeNameTemplates,
          region: ctx.cluster.region,
        })
      : undefined;
  return (read) => {
    if (read.unreadable) return read.unreadable; // failed its schema at the edge (k8s-schemas.ts)
    const parsed = parseCertificateRequest(read.csr.spec.request ?? "");
    return decide({
      csr: read.csr,
      parsed,
      // Only the facts that can matter to this CSR: a sweep stays linear in pending CSRs.
      instances: index ? index.instancesFor(read.csr, parsed) : instances,
      nodes: index ? index.nodesFor(read.csr) : nodes,
      cluster: ctx.cluster,
      settings,
      now: ctx.now(),
    });
  };
}

/**
 * Decides the batch's pending CSRs (`kept`) and audits (`elsewhere`), and plans the cluster's
 * writes and alerts within the budget period.
 */
export function decideAndPlan(
  ctx: DecideContext,
  facts: BatchFacts,
  batch: {
    kept: ReadCsr[];
    followUps: FollowUp<ReadCsr>[];
    overflows: NodeOverflow[];
    elsewhere: ReadCsr[];
  },
): Planned {
  const { session, settings, now } = ctx;
  const decideOne = decider(ctx, facts);
  const candidates = batch.kept.map((read) => ({ item: read, csr: read.csr, decision: decideOne(read) }));
  for (const c of candidates) session.decided(c.item, c.decision.decision === "wait");
  const period = session.period(now().getTime());
  const reported: CsrOutcome[] = [];
  const findings = auditElsewhere(ctx, decideOne, batch.elsewhere, reported);
  const plan = planCluster({
    candidates,
    followUps: batch.followUps,
    audits: findings,
    overflows: batch.overflows,
    approved: session.approved,
    history: session.history,
    settings,
    nodeCount: session.nodeCount ?? 0,
    now: now(),
    used: { approvals: period.approvals, alerts: period.alerts, approvedKeys: period.approvedKeys },
    flooding: flooding(period, settings.maxPendingPerNode),
  });
  // Held by a budget of this period: looked at again when the next one starts (event mode).
  session.holdForNextPeriod(
    plan.held.filter((h) => h.why === "cluster-guard" || h.why === "instance-period").map((h) => h.item),
    settings.maxPendingPerNode,
  );
  // What the plan does not touch is reported from its decision.
  const touched = new Set<ReadCsr>([...plan.approvals, ...plan.work].map((w) => w.item));
  const heldWhy = new Map(plan.held.map((h) => [h.item, h.why]));
  for (const c of candidates) {
    if (touched.has(c.item)) continue;
    reported.push({
      ...outcomeOf(ctx.cluster.name, c.decision),
      action: untouchedAction(heldWhy.get(c.item), c.decision),
    });
  }
  return { plan, decideOne, reported, audited: batch.elsewhere.length };
}

/**
 * Approvals made elsewhere, decided by the same policy on the facts just gathered. Those it
 * would not approve become findings for the plan (alerts under the budget and repeat rules);
 * the others are reported, and remembered unless the facts were inconclusive.
 */
function auditElsewhere(
  ctx: DecideContext,
  decideOne: (read: ReadCsr) => Decision,
  elsewhere: ReadCsr[],
  reported: CsrOutcome[],
): AuditFinding<ReadCsr>[] {
  const findings: AuditFinding<ReadCsr>[] = [];
  for (const read of elsewhere) {
    const decision = decideOne({ ...read, csr: asUndecided(read.csr) });
    const verdict = auditVerdict(decision);
    const approver = approverOf(read.csr);
    if (verdict === "violation") {
      findings.push({
        item: read,
        csr: read.csr,
        decision,
        audit: { approver, issued: Boolean(read.csr.status?.certificate) },
      });
      continue;
    }
    reported.push({
      ...outcomeOf(ctx.cluster.name, decision),
      action: "audited",
      audit: verdict,
      approvedBy: approvedByText(approver),
    });
    if (verdict === "pass" && !ctx.readOnly) ctx.session.auditPassed(read.csr, ctx.now().getTime());
  }
  return findings;
}
