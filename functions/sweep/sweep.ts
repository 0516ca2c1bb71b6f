// One sweep (SPEC §6): resolve clusters → per cluster, concurrently and isolated:
// source (list CSRs, paginated, decided ones dropped at once, source.ts) → gather EC2 facts
// and Nodes (gather.ts) → decide (pure) and plan the whole cluster fairly (pure, decide.ts)
// → act and alert (execute.ts). Every error on the way turns into `wait` for the CSRs it
// touches; never approve/deny. The event-mode watch (watch.ts) runs the same batch pipeline.
import { nodeNameOf } from "../core/identity.js";
import { AuditLedger } from "../core/audit.js";
import type { Config } from "../core/config.js";
import type { FollowUp, NodeOverflow, PendingSet } from "../core/fairness.js";
import type { ClusterPolicySettings } from "../core/types.js";
import type { AwsClientCache } from "./aws.js";
import { mapBounded } from "./bounded.js";
import { kubeClient, type KubeApi, type KubeEndpoint, type ReadCsr } from "./csrs.js";
import { kubeEndpointOf, resolveClusters, type ClusterTarget } from "./clusters.js";
import { decideAndPlan } from "./decide.js";
import { Ec2Budgets } from "./ec2-budget.js";
import { execute } from "./execute.js";
import { gatherFacts, type BatchFacts, type GatherContext } from "./gather.js";
import type { AlertPublisher } from "./publish.js";
import {
  clusterOutcome,
  errorMessage,
  logDecision,
  totalsOf,
  unresolvedOutcome,
  type ClusterOutcome,
  type SweepLogger,
  type SweepReport,
} from "./report.js";
import { newSession, type ClusterSession } from "./session.js";
import { auditWindow, listCluster } from "./source.js";

export interface SweepDeps {
  config: Config;
  aws: AwsClientCache;
  /** Publishes alerts; absent: alerts are reported but not sent (read-only CLI runs). */
  alerts?: AlertPublisher;
  log: SweepLogger;
  kube?: (endpoint: KubeEndpoint) => KubeApi;
  now?: () => Date;
  /**
   * Aborts when no new work may start: no cluster, no write, no watch batch (the Lambda builds
   * it from its remaining time less config.sweep.minRemainingMillis). Absent: no deadline.
   */
  deadline?: AbortSignal;
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
    .map(unresolvedOutcome);
  const targets = resolved.targets.filter((t) => wanted(t.facts.name));
  deps.ec2Budgets.configure(
    deps.config.sweep.describeInstancesPerSecond,
    deps.config.sweep.describeInstancesBurst,
  );
  const results = await mapBounded(targets, deps.config.sweep.concurrency, async (target) => {
    if (deps.deadline?.aborted) {
      deps.log.warn("time budget low: cluster left for the next sweep", { cluster: target.facts.name });
      return clusterOutcome(target, target.settings, "deferred");
    }
    const session = newSession(deps.sessions !== undefined);
    deps.sessions?.set(target.facts.name, session);
    return sweepCluster(target, deps, now, session);
  });
  outcomes.push(...results);
  return {
    startedAt: started.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    clusters: outcomes,
    totals: totalsOf(outcomes),
  };
}

/** `deps` with the budgets every EC2 call of the run goes through (given ones, or new ones from config). */
export function withEc2Budgets(deps: SweepDeps): SweepDeps & { ec2Budgets: Ec2Budgets } {
  if (deps.ec2Budgets) return { ...deps, ec2Budgets: deps.ec2Budgets };
  const { describeInstancesPerSecond, describeInstancesBurst } = deps.config.sweep;
  return { ...deps, ec2Budgets: new Ec2Budgets(describeInstancesPerSecond, describeInstancesBurst) };
}

/** The cluster's settings for this run: CLI --dry-run forces dry-run. */
export function settingsFor(target: ClusterTarget, deps: SweepDeps): ClusterPolicySettings {
  return deps.readOnly ? { ...target.settings, mode: "dry-run" } : target.settings;
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
  const outcome = clusterOutcome(target, settings);
  try {
    if (deps.auditLedgers) session.useAuditLedger(ledgerOf(deps.auditLedgers, target.facts.name));
    session.audit.prune(now().getTime(), Math.max(auditWindow(settings), settings.alertRepeatWindowSeconds));
    const connect = async (): Promise<KubeApi> =>
      (deps.kube ?? ((e) => kubeClient(e)))(await kubeEndpointOf(target));
    const { kube, listing } = await listCluster(
      connect,
      () => target.forgetToken(),
      settings,
      now,
      session.audit,
    );
    session.listed(kube, listing);
    outcome.listed = listing.listed;
    outcome.pending = listing.pendingSeen;
    const audits = listing.audits.take();
    outcome.auditDeferred = listing.audits.deferred + listing.certificatesDeferred;
    await processBatch(target, deps, now, session, outcome, {
      pending: listing.pending,
      followUps: listing.followUps,
      audits,
    });
  } catch (err) {
    outcome.status = "failed";
    outcome.error = errorMessage(err);
    deps.log.error("cluster sweep failed", { cluster: target.facts.name, error: outcome.error });
  }
  outcome.durationMs = Math.round(performance.now() - t0);
  return outcome;
}

function ledgerOf(ledgers: Map<string, AuditLedger>, cluster: string): AuditLedger {
  let ledger = ledgers.get(cluster);
  if (!ledger) {
    ledger = new AuditLedger();
    ledgers.set(cluster, ledger);
  }
  return ledger;
}

/** What one batch brings to the pipeline: a listing's pending CSRs, or a watch batch's. */
export interface Batch {
  pending: PendingSet<ReadCsr>;
  followUps?: FollowUp<ReadCsr>[];
  /** Event mode: requesters whose guard for the period tripped with this batch. */
  tripped?: NodeOverflow[];
  /** Approvals made elsewhere to audit, decided with the batch on the same facts. */
  audits?: ReadCsr[];
  /** Event mode: the facts the batch's lookup is already gathering (watch.ts). */
  facts?: Promise<BatchFacts>;
}

/** The fact gatherer's view of a connected cluster. */
export function gatherContext(
  target: ClusterTarget,
  deps: SweepDeps & { ec2Budgets: Ec2Budgets },
  session: ClusterSession,
): GatherContext {
  const kube = session.kube;
  if (!kube) throw new Error("not connected");
  const region = target.facts.region;
  return {
    cluster: target.facts.name,
    region,
    settings: settingsFor(target, deps),
    kube,
    ec2: deps.aws.forRegion(region).ec2,
    budget: deps.ec2Budgets.forRegion(region),
    session,
    log: deps.log,
  };
}

/** gather → decide and plan → execute, for one batch of a connected cluster; fills `outcome`. */
export async function processBatch(
  target: ClusterTarget,
  given: SweepDeps,
  now: () => Date,
  session: ClusterSession,
  outcome: ClusterOutcome,
  batch: Batch,
): Promise<void> {
  const deps = withEc2Budgets(given);
  const kube = session.kube;
  if (!kube) throw new Error("not connected");
  const settings = settingsFor(target, deps);
  const followUps = batch.followUps ?? [];
  const elsewhere = batch.audits ?? [];
  // A CSR decided while its batch was looked up (its event came in meanwhile) is left alone:
  // deciding the stale pending copy could only alert on what someone else already decided.
  const kept = batch.pending.items().filter((r) => !session.seenDecided(r.csr.metadata.name));
  const batchOverflows = batch.pending.overflows();
  const overflows = [
    ...batchOverflows,
    ...(batch.tripped ?? []).filter((t) => !batchOverflows.some((o) => o.requester === t.requester)),
  ];
  outcome.notExamined = outcome.pending - kept.length;

  // Audit: approvals made elsewhere need EC2 facts, gathered with the pending CSRs' in the
  // same batched lookup (our own issued ones were compared while listing).
  const facts = await (batch.facts ??
    gatherFacts(gatherContext(target, deps, session), kept, followUps.length > 0, elsewhere));
  const readOnly = deps.readOnly === true;
  const context = { cluster: target.facts, settings, session, now, readOnly };
  const { plan, decideOne, reported, audited } = decideAndPlan(context, facts, {
    kept,
    followUps,
    overflows,
    elsewhere,
  });
  outcome.audited += audited;
  outcome.csrs.push(...reported);
  outcome.approvalLimit = plan.approvalLimit;
  outcome.nodeFloods = overflows.map((o) => ({
    node: nodeNameOf(o.requester) ?? o.requester,
    pending: o.pending,
    examined: o.examined,
  }));

  const done = await execute(
    {
      ...context,
      kube,
      log: deps.log,
      decide: decideOne,
      ...(deps.alerts ? { alerts: deps.alerts } : {}),
      ...(deps.deadline ? { deadline: deps.deadline } : {}),
    },
    plan,
  );
  outcome.csrs.push(...done.csrs);
  if (done.floodGuardTripped) outcome.floodGuardTripped = true;
  outcome.alertsSent = done.alertsSent;
  for (const o of outcome.csrs) logDecision(deps.log, o);
}
