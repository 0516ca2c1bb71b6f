// One sweep (SPEC §6): resolve clusters → per cluster, concurrently and isolated:
// list CSRs (paginated, decided ones dropped at once) → gather EC2 facts and Nodes →
// decide (pure) → plan the whole cluster fairly (pure, core/fairness.ts) → act → alert.
// Every error on the way turns into `wait` for the CSRs it touches; never approve/deny.
import type { Config } from "../core/config.js";
import {
  admit,
  flooding,
  nextPeriodAt,
  periodAt,
  withAlerts,
  withApprovals,
  withGuardAlerted,
  type BudgetPeriod,
} from "../core/budgets.js";
import {
  AlertHistory,
  PendingSet,
  ApprovedLedger,
  approvalKey,
  compareAge,
  isDecided,
  requesterOf,
  planCluster,
  type AlertWork,
  type AuditFinding,
  type CsrAlertKind,
  type CsrWork,
  type DenialSummary,
  type FollowUp,
  type NodeOverflow,
} from "../core/fairness.js";
import {
  followUpFor,
  withAlertMarkers,
  withCondition,
  type Delivery,
  type MarkerEntry,
} from "../core/plan.js";
import {
  AUDIT_CERTIFICATES_PER_SWEEP,
  AUDIT_MAX_BYTES,
  AUDIT_MAX_PER_SWEEP,
  AuditLedger,
  auditSize,
  compactForAudit,
  OldestFirst,
  approvedElsewhere,
  approverOf,
  asUndecided,
  auditKey,
  auditSubject,
  auditVerdict,
  type AuditVerdict,
} from "../core/audit.js";
import { checkIssuedCertificate } from "../core/certificate.js";
import { alertedKinds } from "../core/plan.js";
import { parseProviderId, sessionInstanceId } from "../core/identity.js";
import { FactsIndex } from "../core/facts-index.js";
import { decide } from "../core/policy.js";
import { parseCertificateRequest } from "../core/request.js";
import { requestTooLarge } from "../core/request-size.js";
import type {
  ClusterPolicySettings,
  CsrCondition,
  CsrObject,
  Decision,
  DecisionKind,
  Ec2Instance,
  NodeObject,
  PolicyInput,
  Reason,
} from "../core/types.js";
import type { AwsClientCache } from "./aws.js";
import { kubeEndpointOf, resolveClusters, type ClusterTarget } from "./clusters.js";
import { kubeClient, KubeError, type KubeApi, type KubeEndpoint, type ReadCsr } from "./csrs.js";
import { mapBounded } from "./bounded.js";
import { Ec2Budgets } from "./ec2-budget.js";
import { describeInstancesForNodes, planInstanceLookups, type NodeLookupRequest } from "./facts.js";
import type { AlertPublisher } from "./publish.js";

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

export interface SweepDeps {
  config: Config;
  aws: AwsClientCache;
  /** Publishes alerts; absent: alerts are reported but not sent (read-only CLI runs). */
  alerts?: AlertPublisher;
  log: SweepLogger;
  kube?: (endpoint: KubeEndpoint) => KubeApi;
  now?: () => Date;
  /** Lambda time left; the sweep starts no new cluster below config.sweep.minRemainingMillis. */
  remainingMillis?: () => number;
  /** Only these clusters (names). */
  onlyClusters?: string[];
  /** Force dry-run everywhere and write nothing at all, not even alert markers (CLI --dry-run). */
  readOnly?: boolean;
  /**
   * Event mode: each cluster's session (its client, resourceVersion, history and budgets) is
   * kept here, so the watch that follows continues from this sweep instead of listing again.
   */
  sessions?: Map<string, ClusterSession>;
  /**
   * What the audit already examined, per cluster name, kept by the caller for as long as it
   * lives (the Lambda container): nothing is written to a CSR approved elsewhere, so this is
   * what keeps later sweeps silent about it. Absent: each sweep audits its window afresh.
   */
  auditLedgers?: Map<string, AuditLedger>;
  /**
   * The approver's DescribeInstances share, one bucket per region, kept for the container's life
   * (functions/approver.ts). Absent: a sweep or watch makes its own, configured from `config`.
   */
  ec2Budgets?: Ec2Budgets;
  /** Resolved targets to use instead of discovering them (event-mode re-sweeps reuse them). */
  targets?: { targets: ClusterTarget[]; failures: { cluster: string; region: string; error: string }[] };
}

export async function runSweep(given: SweepDeps): Promise<SweepReport> {
  const deps = withEc2Budgets(given);
  const now = deps.now ?? (() => new Date());
  const started = now();
  const t0 = performance.now();
  const resolved = deps.targets ?? (await resolveClusters(deps.config, deps.aws, deps.log));
  const wanted = (name: string) => !deps.onlyClusters?.length || deps.onlyClusters.includes(name);

  const outcomes: ClusterOutcome[] = resolved.failures
    .filter((f) => wanted(f.cluster))
    .map((f) => ({
      cluster: f.cluster,
      region: f.region,
      source: "eks" as const,
      status: "failed" as const,
      error: f.error,
      mode: "enforce" as const,
      ...EMPTY_COUNTS,
    }));

  const targets = resolved.targets.filter((t) => wanted(t.facts.name));
  deps.ec2Budgets.configure(
    deps.config.sweep.describeInstancesPerSecond,
    deps.config.sweep.describeInstancesBurst,
  );
  const minRemaining = deps.config.sweep.minRemainingMillis;
  const results = await mapBounded(targets, deps.config.sweep.concurrency, async (target) => {
    if (deps.remainingMillis && deps.remainingMillis() < minRemaining) {
      deps.log.warn("time budget low: cluster left for the next sweep", { cluster: target.facts.name });
      return deferred(target);
    }
    const session = newSession(deps.sessions !== undefined);
    deps.sessions?.set(target.facts.name, session);
    return sweepCluster(target, deps, now, session);
  });
  outcomes.push(...results);

  const totals = Object.fromEntries(ACTIONS.map((a) => [a, 0])) as Record<CsrAction, number>;
  for (const c of outcomes) for (const o of c.csrs) totals[o.action] += 1;
  return {
    startedAt: started.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    clusters: outcomes,
    totals,
  };
}

/** `deps` with the budgets every EC2 call of the run goes through (given ones, or new ones from config). */
export function withEc2Budgets(deps: SweepDeps): SweepDeps & { ec2Budgets: Ec2Budgets } {
  if (deps.ec2Budgets) return { ...deps, ec2Budgets: deps.ec2Budgets };
  const { describeInstancesPerSecond, describeInstancesBurst } = deps.config.sweep;
  return { ...deps, ec2Budgets: new Ec2Budgets(describeInstancesPerSecond, describeInstancesBurst) };
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

function deferred(target: ClusterTarget): ClusterOutcome {
  return {
    cluster: target.facts.name,
    region: target.facts.region,
    source: target.source,
    status: "deferred",
    mode: target.settings.mode,
    ...EMPTY_COUNTS,
  };
}

const EMPTY_COUNTS = {
  csrs: [],
  floodGuardTripped: false,
  durationMs: 0,
  listed: 0,
  pending: 0,
  notExamined: 0,
  nodeFloods: [],
  audited: 0,
  auditDeferred: 0,
  alertsSent: 0,
} satisfies Partial<ClusterOutcome>;

/**
 * What one cluster's sweep learned and spent, kept for an event-mode window so that the CSRs
 * arriving by watch are decided against the same history, and one flood guard and one alert
 * budget span the whole window.
 */
export interface ClusterSession {
  kube?: KubeApi;
  /** resourceVersion of the last listing: the watch starts there, missing nothing. */
  resourceVersion?: string;
  approved: ApprovedLedger;
  history: AlertHistory;
  /**
   * What the current budget period spent (core/budgets.ts): a scheduled sweep is one period,
   * and an event-mode window continues it, so every batch of the window shares its budgets.
   */
  budget?: BudgetPeriod;
  /** resourceVersions our own writes produced: their watch events start no work. */
  ownWrites: Set<string>;
  /**
   * Event mode: CSRs whose decided version the watch has seen (by us or anyone). A batch read
   * before that event is not decided again from its stale pending copy. Bounded like ownWrites.
   */
  decidedSeen: Set<string>;
  /** Event mode: alerts over the budget wait for the next scheduled sweep and its summary. */
  eventMode: boolean;
  /** Pending CSRs last decided `wait`: no event brings them back, so the watch retries them. */
  waiting: Map<string, ReadCsr>;
  /**
   * Valid CSRs held by a budget of the period (the cluster backstop, one approval per
   * instance) or not examined past their node's guard: the watch retries them when the next
   * period starts. At most `maxPendingPerNode` per requester, its newest.
   */
  held: Map<string, ReadCsr>;
  /** Node objects in the cluster at the last full Node LIST (sizes the `auto` backstop). */
  nodeCount?: number;
  /** The cluster's audit ledger (SweepDeps.auditLedgers, or this session's own). */
  audit: AuditLedger;
}

export function newSession(eventMode = false): ClusterSession {
  return {
    approved: new ApprovedLedger(),
    history: new AlertHistory(),
    ownWrites: new Set(),
    decidedSeen: new Set(),
    eventMode,
    waiting: new Map(),
    held: new Map(),
    audit: new AuditLedger(),
  };
}

function settingsFor(target: ClusterTarget, deps: SweepDeps): ClusterPolicySettings {
  return deps.readOnly ? { ...target.settings, mode: "dry-run" } : target.settings;
}

function emptyOutcome(target: ClusterTarget, settings: ClusterPolicySettings): ClusterOutcome {
  return {
    cluster: target.facts.name,
    region: target.facts.region,
    source: target.source,
    status: "ok",
    mode: settings.mode,
    ...EMPTY_COUNTS,
    csrs: [],
    nodeFloods: [],
  };
}

/** One cluster, isolated: any throw ends up as a `failed` outcome, never in another cluster. */
export async function sweepCluster(
  target: ClusterTarget,
  deps: SweepDeps,
  now: () => Date,
  session: ClusterSession = newSession(),
): Promise<ClusterOutcome> {
  const t0 = performance.now();
  const settings = settingsFor(target, deps);
  const outcome = emptyOutcome(target, settings);
  try {
    session.audit = ledgerFor(deps, target.facts.name, session.audit);
    session.audit.prune(now().getTime(), Math.max(auditWindow(settings), settings.alertRepeatWindowSeconds));
    const connect = async (): Promise<KubeApi> =>
      (deps.kube ?? ((e) => kubeClient(e)))(await kubeEndpointOf(target));
    let kube = await connect();
    let listing: Listing;
    try {
      listing = await listCsrs(kube, settings, now, session.audit);
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 401)) throw err;
      // A token kept from an earlier sweep may have been rotated away: one fresh try.
      target.forgetToken();
      kube = await connect();
      listing = await listCsrs(kube, settings, now, session.audit);
    }
    session.kube = kube;
    session.approved = listing.approved;
    session.history = listing.history;
    session.audit.replayInto(session.history);
    if (listing.resourceVersion !== undefined) session.resourceVersion = listing.resourceVersion;
    outcome.listed = listing.listed;
    outcome.pending = listing.pendingSeen;
    const audits = listing.audits.take();
    outcome.auditDeferred = listing.audits.deferred + listing.certificatesDeferred;
    await processPending(target, deps, now, session, outcome, listing.pending, listing.followUps, [], audits);
  } catch (err) {
    outcome.status = "failed";
    outcome.error = errorMessage(err);
    deps.log.error("cluster sweep failed", { cluster: target.facts.name, error: outcome.error });
  }
  outcome.durationMs = Math.round(performance.now() - t0);
  return outcome;
}

/** Event mode: a batch of CSRs that arrived by watch, admitted, its facts being looked up. */
export interface PreparedBatch {
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
export function prepareBatch(
  target: ClusterTarget,
  deps: SweepDeps,
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
    // The per-node guard spans the budget period: a CSR that arrives counts with those its
    // requester filed earlier in the period; past the guard it waits for the next period.
    // Retries (`waiting`, `held`) were counted when they arrived.
    const isRetry = (r: ReadCsr) =>
      session.waiting.has(r.csr.metadata.name) || session.held.has(r.csr.metadata.name);
    const fresh = undecided.filter((r) => !isRetry(r)).sort((a, b) => compareAge(a.csr, b.csr));
    const admission = admit(periodAt(session.budget, now().getTime()), fresh, (r) => requesterOf(r.csr), cap);
    session.budget = admission.period;
    for (const read of [...undecided.filter(isRetry), ...admission.examine]) pending.add(read);
    const kept = new Set(pending.items());
    holdForNextPeriod(
      session,
      undecided.filter((r) => !kept.has(r)),
      cap,
    );
    const facts = lookUp(target, deps, session, pending.items(), false, auditsKept).catch((err: unknown) => {
      const unavailable = `fact lookup failed: ${errorMessage(err)}`;
      return { nodes: { unavailable }, instances: { unavailable } };
    });
    const tripped = admission.tripped.map((t) => ({ ...t, examined: cap }));
    return {
      pending,
      reads: undecided.length,
      tripped,
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
export async function sweepBatch(
  target: ClusterTarget,
  deps: SweepDeps,
  now: () => Date,
  session: ClusterSession,
  batch: PreparedBatch,
): Promise<ClusterOutcome> {
  const t0 = performance.now();
  const settings = settingsFor(target, deps);
  const outcome = emptyOutcome(target, settings);
  try {
    if (batch.error !== undefined) throw batch.error;
    outcome.pending = batch.reads;
    outcome.auditDeferred = batch.auditDeferred;
    await processPending(
      target,
      deps,
      now,
      session,
      outcome,
      batch.pending,
      [],
      batch.tripped,
      batch.audits,
      batch.facts,
    );
  } catch (err) {
    outcome.status = "failed";
    outcome.error = errorMessage(err);
    deps.log.error("cluster batch failed", { cluster: target.facts.name, error: outcome.error });
  }
  outcome.durationMs = Math.round(performance.now() - t0);
  return outcome;
}

interface BatchFacts {
  instances: PolicyInput["instances"];
  nodes: PolicyInput["nodes"];
}

/**
 * Facts are gathered once for the whole batch; an error becomes `unavailable`, which the
 * policy turns into `wait` for every CSR that needs it.
 */
async function lookUp(
  target: ClusterTarget,
  deps: SweepDeps,
  session: ClusterSession,
  kept: ReadCsr[],
  followUps: boolean,
  /** Approvals made elsewhere to audit: their facts are gathered with the pending CSRs'. */
  elsewhere: ReadCsr[] = [],
): Promise<BatchFacts> {
  const kube = session.kube;
  if (!kube) throw new Error("not connected");
  const settings = settingsFor(target, deps);
  // An event batch reads only its requesters' Node objects (the providerID cross-check needs
  // no other) instead of listing every Node each batch; trustNodeProviderId needs them all.
  const perNode = session.eventMode && !settings.trustNodeProviderId && session.nodeCount !== undefined;
  // Oversized requests are denied unread: they need no EC2 lookup (a flood of them costs none).
  const asked = [
    ...kept.filter((read) => !requestTooLarge(read.csr)),
    ...elsewhere.map((r) => ({ ...r, csr: asUndecided(r.csr) })),
  ];
  const reading: Promise<PolicyInput["nodes"]> =
    asked.length > 0 || followUps
      ? (perNode ? readNodesOf(kube, asked) : kube.listNodes()).catch((err: unknown) => ({
          unavailable: `Kubernetes node list failed: ${errorMessage(err)}`,
        }))
      : Promise.resolve([]);
  const [nodes, instances] = await Promise.all([
    reading,
    asked.length > 0 ? gatherInstances(deps, target, asked, reading) : [],
  ]);
  if (!perNode && (asked.length > 0 || followUps) && Array.isArray(nodes)) session.nodeCount = nodes.length;
  return { instances, nodes };
}

async function processPending(
  target: ClusterTarget,
  deps: SweepDeps,
  now: () => Date,
  session: ClusterSession,
  outcome: ClusterOutcome,
  pending: PendingSet<ReadCsr>,
  followUps: FollowUp<ReadCsr>[],
  /** Event mode: requesters whose guard for the period tripped with this batch. */
  tripped: NodeOverflow[] = [],
  /** Approvals made elsewhere to audit, decided with the batch on the same facts. */
  audits: ReadCsr[] = [],
  /** Event mode: the facts the batch's lookup is gathering (prepareBatch). */
  facts?: Promise<BatchFacts>,
): Promise<void> {
  const kube = session.kube;
  if (!kube) throw new Error("not connected");
  const settings = settingsFor(target, deps);
  // A CSR decided while its batch was looked up (its event came in meanwhile) is left alone:
  // deciding the stale pending copy could only alert on what someone else already decided.
  const kept = pending.items().filter((r) => !session.decidedSeen.has(r.csr.metadata.name));
  const batchOverflows = pending.overflows();
  const overflows = [
    ...batchOverflows,
    ...tripped.filter((t) => !batchOverflows.some((o) => o.requester === t.requester)),
  ];
  // Audit: approvals made elsewhere need EC2 facts, gathered with the pending CSRs' in the
  // same batched lookup (our own issued ones were compared while listing).
  const elsewhere = audits;
  outcome.notExamined = outcome.pending - kept.length;

  const { instances, nodes } = await (facts ??
    lookUp(target, deps, session, kept, followUps.length > 0, elsewhere));

  const ctx: ClusterContext = { target, settings, deps, kube, instances, nodes, now, published: 0, session };
  if (Array.isArray(instances) && Array.isArray(nodes)) {
    ctx.index = new FactsIndex(instances, nodes, {
      allInstances: settings.nonEc2Nodes !== undefined,
      providerIdRivals: settings.trustNodeProviderId,
      nodeNameTemplates: settings.nodeNameTemplates,
      region: target.facts.region,
    });
  }
  const candidates = kept.map((read) => ({ item: read, csr: read.csr, decision: decideOne(ctx, read) }));
  for (const c of candidates) {
    if (c.decision.decision === "wait") session.waiting.set(c.csr.metadata.name, c.item);
    else session.waiting.delete(c.csr.metadata.name);
    session.held.delete(c.csr.metadata.name);
  }
  const period = periodAt(session.budget, now().getTime());
  session.budget = period;
  const findings = auditElsewhere(ctx, elsewhere, outcome);
  const plan = planCluster({
    candidates,
    followUps,
    audits: findings,
    overflows,
    approved: session.approved,
    history: session.history,
    settings,
    nodeCount: session.nodeCount ?? 0,
    now: now(),
    used: { approvals: period.approvals, alerts: period.alerts, approvedKeys: period.approvedKeys },
    flooding: flooding(period, settings.maxPendingPerNode),
  });
  // Held by a budget of this period: looked at again when the next one starts (event mode).
  holdForNextPeriod(
    session,
    plan.held.filter((h) => h.why === "cluster-guard" || h.why === "instance-period").map((h) => h.item),
    settings.maxPendingPerNode,
  );
  outcome.approvalLimit = plan.approvalLimit;
  outcome.nodeFloods = overflows.map((o) => ({
    node: nodeName(o.requester),
    pending: o.pending,
    examined: o.examined,
  }));

  // What the plan does not touch is reported from its decision.
  const touched = new Set<ReadCsr>([...plan.approvals, ...plan.work].map((w) => w.item));
  const heldWhy = new Map(plan.held.map((h) => [h.item, h.why]));
  for (const c of candidates) {
    if (touched.has(c.item)) continue;
    const why = heldWhy.get(c.item);
    const action: CsrAction =
      why === "would-approve"
        ? "would-approve"
        : why === "cluster-guard"
          ? "flood-guarded"
          : why === "superseded"
            ? "held"
            : c.decision.decision === "wait"
              ? "waiting"
              : "skipped";
    outcome.csrs.push({ ...outcomeOf(ctx, c.decision), action });
  }

  // Approvals first: slow denials never hold a legitimate node back.
  const approvals = await mapBounded(plan.approvals, WRITE_CONCURRENCY, (w) => approveOne(ctx, w));
  outcome.csrs.push(...approvals);
  const approvedKeys: string[] = [];
  plan.approvals.forEach((w, i) => {
    if (approvals[i]?.action !== "approved") return;
    approvedKeys.push(approvalKey(w.decision, w.csr));
    session.approved.note({ ...w.csr, status: { conditions: [w.condition!] } });
  });
  session.budget = withApprovals(periodAt(session.budget, now().getTime()), approvedKeys);
  if (plan.clusterGuard) {
    outcome.floodGuardTripped = true;
    if (!session.budget.guardAlerted && (await alertFloodGuard(ctx, plan.clusterGuard))) {
      session.budget = withGuardAlerted(session.budget);
    }
  }
  // The summary goes out before any write it covers; if it cannot, those writes wait. In an
  // event-mode window they wait for the next scheduled sweep, which has a budget of its own.
  const summary: SummaryState = !plan.summary
    ? "none"
    : session.eventMode
      ? "deferred"
      : (await publishSummary(ctx, plan.summary))
        ? "sent"
        : "failed";
  outcome.csrs.push(...(await mapBounded(plan.work, WRITE_CONCURRENCY, (w) => carryOut(ctx, w, summary))));
  outcome.alertsSent = ctx.published;
  session.budget = withAlerts(periodAt(session.budget, now().getTime()), ctx.published);
  for (const o of outcome.csrs) logDecision(deps.log, o);
}

type SummaryState = "none" | "sent" | "failed" | "deferred";

/**
 * Keeps CSRs for the next budget period's retry: at most `perRequester` per requester (its
 * newest), so a flooding node cannot grow what the window keeps.
 */
function holdForNextPeriod(session: ClusterSession, reads: ReadCsr[], perRequester: number): void {
  if (reads.length === 0) return;
  const kept = new PendingSet<ReadCsr>(perRequester, (r) => r.csr);
  const added = new Set(reads.map((r) => r.csr.metadata.name));
  for (const [name, read] of session.held) if (!added.has(name)) kept.add(read);
  for (const read of reads) kept.add(read);
  session.held = new Map(kept.items().map((r) => [r.csr.metadata.name, r]));
}

/**
 * Event mode: the CSRs to look at again now. Those last decided `wait`, always; those held by
 * a budget of the period (or past their node's guard), once the next period has started.
 */
export function retriesDue(session: ClusterSession, now: number): ReadCsr[] {
  const due = [...session.waiting.values()];
  if (session.budget && now >= nextPeriodAt(session.budget)) {
    for (const read of session.held.values())
      if (!session.waiting.has(read.csr.metadata.name)) due.push(read);
  }
  return due;
}

/** The Node objects of the batch's requesters, read one by one (absent ones are left out). */
async function readNodesOf(kube: KubeApi, reads: ReadCsr[]): Promise<NodeObject[]> {
  const names = [
    ...new Set(
      reads.flatMap((r) => {
        const user = r.csr.spec.username ?? "";
        return user.startsWith("system:node:") && user.length > "system:node:".length
          ? [user.slice("system:node:".length)]
          : [];
      }),
    ),
  ];
  const found = await mapBounded(names, WRITE_CONCURRENCY, (name) => kube.readNode(name));
  return found.filter((n): n is NodeObject => n !== undefined);
}

/** Writes in flight per cluster: enough to approve a fleet rotation in seconds, few enough for any apiserver. */
const WRITE_CONCURRENCY = 8;

interface ClusterContext {
  target: ClusterTarget;
  settings: ClusterPolicySettings;
  deps: SweepDeps;
  kube: KubeApi;
  instances: PolicyInput["instances"];
  nodes: PolicyInput["nodes"];
  now: () => Date;
  published: number;
  session: ClusterSession;
  index?: FactsIndex;
}

interface Listing {
  resourceVersion?: string;
  listed: number;
  pendingSeen: number;
  pending: PendingSet<ReadCsr>;
  followUps: FollowUp<ReadCsr>[];
  approved: ApprovedLedger;
  history: AlertHistory;
  /** Approvals made elsewhere for the audit (core/audit.ts), oldest first, bounded. */
  audits: OldestFirst<ReadCsr>;
  /** Our own issued certificates compared while listing (bounded like the audit). */
  certificateChecks: number;
  certificatesDeferred: number;
}

/**
 * One paginated pass over the cluster's kubelet-serving CSRs. Decided CSRs are dropped at once
 * (their request is never parsed): only what they tell about certificates held, alerts sent
 * and follow-ups due is kept.
 */
async function listCsrs(
  kube: KubeApi,
  settings: ClusterPolicySettings,
  now: () => Date,
  ledger: AuditLedger,
): Promise<Listing> {
  const listing: Listing = {
    audits: auditSet(),
    certificateChecks: 0,
    certificatesDeferred: 0,
    listed: 0,
    pendingSeen: 0,
    pending: new PendingSet<ReadCsr>(settings.maxPendingPerNode, (r) => r.csr),
    followUps: [],
    approved: new ApprovedLedger(),
    history: new AlertHistory(),
  };
  const followUpContext = { now: now(), notIssuedAfterSeconds: settings.notIssuedAfterSeconds };
  const stats = await kube.listKubeletServingCsrs((read) => {
    listing.listed += 1;
    const csr = read.csr;
    if (csr.status?.conditions?.length) listing.history.addFrom(csr);
    if (!isDecided(csr)) {
      listing.pendingSeen += 1;
      listing.pending.add(read);
      return;
    }
    listing.approved.note(csr);
    if (isAuditCandidate(settings, ledger, csr, followUpContext.now)) {
      if (approvedElsewhere(csr)) listing.audits.add(keptForAudit(read));
      else checkOwnCertificate(listing, ledger, read, followUpContext.now);
    }
    const kind = followUpFor(csr, followUpContext);
    if (kind) listing.followUps.push({ item: read, csr, kind });
  });
  if (stats.resourceVersion !== undefined) listing.resourceVersion = stats.resourceVersion;
  return listing;
}

// ---------------------------------------------------------------------------------------
// Audit (core/audit.ts): approvals made elsewhere, and our own issued certificates
// ---------------------------------------------------------------------------------------

const DEFAULT_AUDIT_WINDOW_SECONDS = 3600;

function auditWindow(settings: ClusterPolicySettings): number {
  return settings.auditWindowSeconds ?? DEFAULT_AUDIT_WINDOW_SECONDS;
}

/** Approvals made elsewhere kept for one sweep's audit: oldest first, bounded in count and bytes. */
function auditSet(): OldestFirst<ReadCsr> {
  return new OldestFirst<ReadCsr>(
    AUDIT_MAX_PER_SWEEP,
    (r) => r.csr,
    AUDIT_MAX_BYTES,
    (r) => auditSize(r.csr),
  );
}

/** Nothing is ever written to an audited CSR, so only its compact form is kept (no raw object). */
function keptForAudit(read: ReadCsr): ReadCsr {
  const csr = compactForAudit(read.csr);
  return { csr, raw: csr as ReadCsr["raw"] };
}

function ledgerFor(deps: SweepDeps, cluster: string, own: AuditLedger): AuditLedger {
  if (!deps.auditLedgers) return own;
  let ledger = deps.auditLedgers.get(cluster);
  if (!ledger) {
    ledger = new AuditLedger();
    deps.auditLedgers.set(cluster, ledger);
  }
  return ledger;
}

/**
 * A decided CSR the audit should examine now (the one rule, for listings and watch events).
 * The watch passes `ownCertificates: false`: the signer's event for our own approval starts
 * no work there (the next scheduled sweep compares the certificate), so event mode's batches
 * stay one per arrival.
 */
export function isAuditCandidate(
  settings: ClusterPolicySettings,
  ledger: AuditLedger,
  csr: CsrObject,
  now: Date,
  ownCertificates = true,
): boolean {
  if (settings.audit === false || ledger.has(auditKey(csr))) return false;
  const subject = auditSubject(csr, now, auditWindow(settings));
  if (subject === "ours-issued") return ownCertificates && !alertedKinds(csr).has("certificate-mismatch");
  return subject === "approved-elsewhere";
}

/**
 * Our own approval, issued: the certificate must certify the request's names and key. Done
 * while listing, so only mismatches are kept; one that matches is remembered, not re-read.
 */
function checkOwnCertificate(listing: Listing, ledger: AuditLedger, read: ReadCsr, now: Date): void {
  if (listing.certificateChecks >= AUDIT_CERTIFICATES_PER_SWEEP) {
    listing.certificatesDeferred += 1;
    return;
  }
  listing.certificateChecks += 1;
  const csr = read.csr;
  const check = checkIssuedCertificate(csr.status?.certificate ?? "", csr.spec.request ?? "");
  if (check.ok) ledger.remember(auditKey(csr), now.getTime());
  else listing.followUps.push({ item: read, csr, kind: "certificate-mismatch", problems: check.problems });
}

/**
 * Approvals made elsewhere, decided by the same policy on the facts just gathered. Those it
 * would not approve become findings for the plan (alerts under the budget and repeat rules);
 * the others are reported, and remembered unless the facts were inconclusive.
 */
function auditElsewhere(
  ctx: ClusterContext,
  elsewhere: ReadCsr[],
  outcome: ClusterOutcome,
): AuditFinding<ReadCsr>[] {
  const findings: AuditFinding<ReadCsr>[] = [];
  for (const read of elsewhere) {
    const decision = decideOne(ctx, { ...read, csr: asUndecided(read.csr) });
    const verdict = auditVerdict(decision);
    const approver = approverOf(read.csr);
    outcome.audited += 1;
    if (verdict === "violation") {
      findings.push({
        item: read,
        csr: read.csr,
        decision,
        audit: { approver, issued: Boolean(read.csr.status?.certificate) },
      });
      continue;
    }
    outcome.csrs.push({
      ...outcomeOf(ctx, decision),
      action: "audited",
      audit: verdict,
      approvedBy: approvedByText(approver),
    });
    if (verdict === "pass" && !ctx.deps.readOnly) {
      ctx.session.audit.remember(auditKey(read.csr), ctx.now().getTime());
    }
  }
  return findings;
}

function approvedByText(approver: { reason: string; message: string }): string {
  return `${approver.reason}: ${approver.message}`.slice(0, 300);
}

/**
 * An approval made elsewhere that the policy would not have made: its alert goes out (on its
 * own, or as a repeat, or in the summary sent before) and nothing is written to the CSR. The
 * ledger remembers it only once the alert is out, so a failed publish is retried next sweep.
 */
async function carryOutAudit(
  ctx: ClusterContext,
  work: CsrWork<ReadCsr>,
  summary: SummaryState,
): Promise<CsrOutcome> {
  const alert = work.alerts[0];
  const base: CsrOutcome = {
    ...outcomeOf(ctx, work.decision),
    action: "approved-elsewhere",
    audit: "violation",
    approvedBy: approvedByText(approverOf(work.csr)),
    ...(alert ? { alert: alert.kind, delivery: alert.delivery } : {}),
  };
  if (!alert) return base;
  if (timeIsShort(ctx)) return { ...base, action: "deferred" };
  if (ctx.deps.readOnly) return base;
  if (alert.delivery === "summary" && summary !== "sent") {
    return summary === "deferred"
      ? { ...base, action: "deferred" }
      : { ...base, error: "the summary alert was not published" };
  }
  if (alert.delivery === "alert") {
    const sent = await publish(ctx, alert);
    if (sent !== true) return { ...base, error: sent };
  }
  const at = ctx.now().getTime();
  const entry: MarkerEntry = {
    kind: alert.kind,
    via: alert.delivery,
    codes: alert.codes,
    ...(alert.targets ? { targets: alert.targets } : {}),
  };
  ctx.session.audit.remember(auditKey(work.csr), at);
  ctx.session.audit.recordAlert(work.csr, entry, at);
  ctx.session.history.record(work.csr, entry, at);
  return base;
}

function nodeName(requester: string): string {
  return requester.startsWith("system:node:") ? requester.slice("system:node:".length) : requester;
}

function timeIsShort(ctx: ClusterContext): boolean {
  const left = ctx.deps.remainingMillis?.();
  return left !== undefined && left < ctx.deps.config.sweep.minRemainingMillis;
}

async function gatherInstances(
  deps: SweepDeps,
  target: ClusterTarget,
  pending: ReadCsr[],
  nodes: Promise<PolicyInput["nodes"]>,
): Promise<Ec2Instance[] | { unavailable: string }> {
  const region = target.facts.region;
  const budget = withEc2Budgets(deps).ec2Budgets.forRegion(region);
  const templates = target.settings.nodeNameTemplates;
  const lookup = (requests: NodeLookupRequest[], nodeNameTemplates: readonly string[] = templates) =>
    describeInstancesForNodes(deps.aws.forRegion(region).ec2, requests, region, {
      budget,
      nodeNameTemplates,
    });
  const requesters = new Set<string>();
  const requests = pending.flatMap((r) => {
    if (requestTooLarge(r.csr)) return []; // denied unread: no EC2 fact can change that
    const username = r.csr.spec.username ?? "";
    if (!username.startsWith("system:node:")) return [];
    const node = username.slice("system:node:".length);
    requesters.add(node);
    // On every cluster kind: the session instance vetoes a mismatch (SPEC §3), decided on facts.
    const session = sessionInstanceId(r.csr).instanceId;
    // nonEc2Nodes: "EC2 holds none of the requested IPs or names" must be looked up, not assumed.
    const { ips, dnsNames } = target.settings.nonEc2Nodes ? requestedSans(r) : { ips: [], dnsNames: [] };
    return [
      {
        node,
        ...(session ? { sessionInstanceId: session } : {}),
        ...(ips.length > 0 ? { ips } : {}),
        ...(dnsNames.length > 0 ? { dnsNames } : {}),
      },
    ];
  });
  if (requests.length === 0) return [];
  try {
    // What the CSRs name is looked up while the Node objects are read (neither waits for the other).
    const named = lookup(requests);
    named.catch(() => undefined); // awaited below; a failure is handled there
    // The providerID instances are fetched too: they are the cross-check, and with
    // trustNodeProviderId the only way a node whose name matches nothing is identified. Those
    // the first lookup did not ask for take one more (usually none: EKS names it in the session).
    const asked = new Set(planInstanceLookups(requests, region, templates).instanceIds);
    const read = await nodes;
    const extra = new Set<string>();
    for (const n of Array.isArray(read) ? read : []) {
      const id = parseProviderId(n.spec?.providerID ?? "")?.instanceId;
      if (id !== undefined && requesters.has(n.metadata.name) && !asked.has(id)) extra.add(id);
    }
    const [first, more] = await Promise.all([
      named,
      extra.size > 0
        ? lookup(
            [...extra].map((id) => ({ node: "", sessionInstanceId: id })),
            [],
          )
        : [],
    ]);
    const byId = new Map<string, Ec2Instance>();
    const withoutId: Ec2Instance[] = [];
    for (const instance of [...first, ...more]) {
      if (instance.InstanceId === undefined) withoutId.push(instance);
      else byId.set(instance.InstanceId, instance);
    }
    return [...byId.values(), ...withoutId];
  } catch (err) {
    deps.log.warn("DescribeInstances failed: pending CSRs wait", {
      cluster: target.facts.name,
      error: errorMessage(err),
    });
    return { unavailable: `EC2 DescribeInstances failed: ${errorMessage(err)}` };
  }
}

function requestedSans(read: ReadCsr): { ips: string[]; dnsNames: string[] } {
  const parsed = parseCertificateRequest(read.csr.spec.request ?? "");
  const sans = parsed.ok ? parsed.request.sans : [];
  return {
    ips: sans.flatMap((san) => (san.type === "ip" ? [san.value] : [])),
    dnsNames: sans.flatMap((san) => (san.type === "dns" ? [san.value] : [])),
  };
}

function decideOne(ctx: ClusterContext, read: ReadCsr): Decision {
  if (read.unreadable) return read.unreadable; // failed its schema at the edge (k8s-schemas.ts)
  const parsed = parseCertificateRequest(read.csr.spec.request ?? "");
  return decide({
    csr: read.csr,
    parsed,
    // Only the facts that can matter to this CSR: a sweep stays linear in pending CSRs.
    instances: ctx.index ? ctx.index.instancesFor(read.csr, parsed) : ctx.instances,
    nodes: ctx.index ? ctx.index.nodesFor(read.csr) : ctx.nodes,
    cluster: ctx.target.facts,
    settings: ctx.settings,
    now: ctx.now(),
  });
}

/**
 * A write whose CSR changed since it was listed (409) is re-read and re-decided once: it goes
 * ahead only if the decision is still the same; otherwise the next sweep looks again.
 */
async function writeWithReread(
  ctx: ClusterContext,
  work: CsrWork<ReadCsr>,
  conditionsFor: (read: ReadCsr) => CsrCondition[],
): Promise<"written" | "decided-meanwhile" | "changed"> {
  let read = work.item;
  for (let round = 0; ; round++) {
    try {
      await writeConditions(ctx, read, conditionsFor(read));
      return "written";
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 409) || round > 0) throw err;
      read = await ctx.kube.readCsr(read.csr.metadata.name);
      if (isDecided(read.csr)) return "decided-meanwhile";
      const again = decideOne(ctx, read);
      const same =
        again.decision === work.decision.decision && codesOf(again).join() === codesOf(work.decision).join();
      if (!same) return "changed";
    }
  }
}

function codesOf(d: Decision): string[] {
  return d.reasons.map((r) => r.code);
}

async function approveOne(ctx: ClusterContext, work: CsrWork<ReadCsr>): Promise<CsrOutcome> {
  const base = outcomeOf(ctx, work.decision);
  if (timeIsShort(ctx)) return { ...base, action: "deferred" };
  try {
    const result = await writeWithReread(ctx, work, (read) => withCondition(read.csr, work.condition!));
    if (result === "decided-meanwhile") return { ...base, action: "skipped" };
    if (result === "changed") return { ...base, decision: "wait", action: "waiting", error: CHANGED };
    return { ...base, action: "approved" };
  } catch (err) {
    return { ...base, action: "error", error: errorMessage(err) };
  }
}
const CHANGED = "the CSR changed during the sweep: decided again next sweep";

/**
 * Denials and alert markers: alerts sent on their own are published first; no denial is
 * written unless its alert went out (on its own, as a repeat of one within the window, or in
 * the summary published just before). A publish failure leaves the CSR for the next sweep.
 */
async function carryOut(
  ctx: ClusterContext,
  work: CsrWork<ReadCsr>,
  summary: SummaryState,
): Promise<CsrOutcome> {
  if (work.action === "audit") return carryOutAudit(ctx, work, summary);
  const readOnly = ctx.deps.readOnly === true;
  const denial = work.alerts.find((a) => a.kind === "denied");
  const own = work.alerts.find((a) => a.kind !== "node-flood");
  const base: CsrOutcome = {
    ...outcomeOf(ctx, work.decision),
    action: actionOf(work, own),
    ...(own ? { alert: own.kind, delivery: own.delivery } : {}),
  };
  if (timeIsShort(ctx)) return { ...base, action: "deferred" };
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
      const sent = await publish(ctx, alert);
      if (sent !== true) {
        failure = sent;
        continue;
      }
    }
    recorded.push({
      kind: alert.kind,
      via: alert.delivery,
      codes: alert.codes,
      ...(alert.targets ? { targets: alert.targets } : {}),
    });
  }
  if (readOnly) return base;
  const denialRecorded = denial !== undefined && recorded.some((e) => e.kind === "denied");
  if (denial && !denialRecorded) {
    // No denial without its alert: the CSR stays pending and is looked at again next sweep.
    return { ...base, decision: "wait", action: "waiting", ...(failure ? { error: failure } : {}) };
  }
  if (recorded.length === 0) return { ...base, ...(failure ? { error: failure } : {}) };
  try {
    const result = await writeWithReread(ctx, work, (read) =>
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
    for (const entry of recorded) {
      ctx.session.history.record(work.csr, entry, ctx.now().getTime());
    }
    return { ...base, ...(failure ? { error: failure } : {}) };
  } catch (err) {
    return { ...base, action: "error", error: errorMessage(err) };
  }
}

function actionOf(work: CsrWork<ReadCsr>, own: AlertWork | undefined): CsrAction {
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

/**
 * A write retried on transient failures (5xx, transport) a couple of times within the sweep:
 * after an alert is out, giving up here would mean a second alert next sweep. 409 and other
 * 4xx go straight back to the caller (409: re-read and re-decide).
 */
async function writeConditions(
  ctx: ClusterContext,
  read: ReadCsr,
  conditions: CsrCondition[],
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const written = await ctx.kube.replaceConditions(read, conditions);
      const version = written.csr.metadata.resourceVersion;
      if (version !== undefined) rememberOwnWrite(ctx.session, version);
      return;
    } catch (err) {
      const transient = err instanceof KubeError && (err.status === 0 || err.status >= 500);
      if (!transient || attempt >= WRITE_RETRIES) throw err;
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  }
}
const WRITE_RETRIES = 2;

/** Bounded: a window's own writes, far more than any window makes. */
const OWN_WRITES_KEPT = 50_000;
/** Event mode: the watch saw this CSR decided (bounded as ownWrites). */
export function rememberDecided(session: ClusterSession, name: string): void {
  if (session.decidedSeen.size >= OWN_WRITES_KEPT) session.decidedSeen.clear();
  session.decidedSeen.add(name);
}

function rememberOwnWrite(session: ClusterSession, version: string): void {
  if (session.ownWrites.size >= OWN_WRITES_KEPT) session.ownWrites.clear();
  session.ownWrites.add(version);
}

async function publish(ctx: ClusterContext, alert: AlertWork): Promise<true | string> {
  if (!ctx.deps.alerts) return "no alert topic configured";
  try {
    await ctx.deps.alerts.publish({
      kind: alert.kind,
      cluster: ctx.target.facts,
      dryRun: ctx.settings.mode === "dry-run",
      now: ctx.now(),
      ...(alert.kind === "node-flood"
        ? { nodeFlood: { node: nodeName(alert.requester), ...alert.flood! } }
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
    });
    ctx.published += 1;
    return true;
  } catch (err) {
    const message = `alert not published: ${errorMessage(err)}`;
    ctx.deps.log.warn(message, { cluster: ctx.target.facts.name, alertKind: alert.kind });
    return message;
  }
}

async function publishSummary(ctx: ClusterContext, summary: DenialSummary): Promise<boolean> {
  if (ctx.deps.readOnly) return true;
  if (!ctx.deps.alerts) return false;
  try {
    await ctx.deps.alerts.publish({
      kind: "summary",
      cluster: ctx.target.facts,
      dryRun: ctx.settings.mode === "dry-run",
      now: ctx.now(),
      summary: { ...summary, budget: ctx.settings.maxAlertsPerSweep },
    });
    ctx.published += 1;
    return true;
  } catch (err) {
    ctx.deps.log.warn("summary alert not published: the denials it covers wait", {
      cluster: ctx.target.facts.name,
      error: errorMessage(err),
    });
    return false;
  }
}

/** The cluster-wide guard's alert; true when it went out. */
async function alertFloodGuard(
  ctx: ClusterContext,
  guard: { limit: number; approved: number; held: number },
): Promise<boolean> {
  if (!ctx.deps.alerts || ctx.deps.readOnly) return false;
  try {
    await ctx.deps.alerts.publishFloodGuard({ cluster: ctx.target.facts, ...guard, now: ctx.now() });
    ctx.published += 1;
    return true;
  } catch (err) {
    ctx.deps.log.warn("flood-guard alert not published", {
      cluster: ctx.target.facts.name,
      error: errorMessage(err),
    });
    return false;
  }
}

function outcomeOf(ctx: ClusterContext, d: Decision): CsrOutcome {
  return {
    cluster: ctx.target.facts.name,
    name: d.name,
    ...(d.node !== undefined ? { node: d.node } : {}),
    ...(d.requester !== undefined ? { requester: d.requester } : {}),
    ...(d.instanceId !== undefined ? { instanceId: d.instanceId } : {}),
    decision: d.decision,
    action: "skipped",
    reasons: d.reasons,
  };
}

function logDecision(log: SweepLogger, o: CsrOutcome): void {
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

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0] ?? err.name;
  return String(err);
}

export { mapBounded };
