// One sweep (SPEC §6): resolve clusters → per cluster, concurrently and isolated:
// list CSRs → gather EC2 facts and Nodes → decide (pure) → plan (pure) → act → alert.
// Every error on the way turns into `wait` for the CSRs it touches; never approve/deny.
import type { Config } from "../core/config.js";
import { planFor, withAlertMarker, withCondition, type AlertKind, type Plan } from "../core/plan.js";
import { parseProviderId, sessionInstanceId } from "../core/identity.js";
import { decide } from "../core/policy.js";
import { parseCertificateRequest } from "../core/request.js";
import type {
  ClusterPolicySettings,
  CsrCondition,
  Decision,
  DecisionKind,
  Ec2Instance,
  NodeObject,
  PolicyInput,
  Reason,
} from "../core/types.js";
import type { AwsClientCache } from "./aws.js";
import { resolveClusters, type ClusterTarget } from "./clusters.js";
import { kubeClient, KubeError, type KubeApi, type KubeEndpoint, type ReadCsr } from "./csrs.js";
import { describeInstancesForNodes } from "./facts.js";
import { publishDecisionAlert, type AlertPublisher } from "./publish.js";

export type CsrAction =
  | "approved"
  | "denied"
  | "would-approve"
  | "would-deny"
  | "left-pending"
  | "flood-guarded"
  | "waiting"
  | "skipped"
  | "alerted"
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
  alert?: AlertKind;
  error?: string;
}

export interface ClusterOutcome {
  cluster: string;
  region: string;
  source: "eks" | "self-managed";
  status: "ok" | "failed" | "deferred";
  error?: string;
  mode: "enforce" | "dry-run";
  csrs: CsrOutcome[];
  floodGuardTripped: boolean;
  durationMs: number;
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
  /** Resolved targets to use instead of discovering them (event-mode re-sweeps reuse them). */
  targets?: { targets: ClusterTarget[]; failures: { cluster: string; region: string; error: string }[] };
}

export async function runSweep(deps: SweepDeps): Promise<SweepReport> {
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
      csrs: [],
      floodGuardTripped: false,
      durationMs: 0,
    }));

  const targets = resolved.targets.filter((t) => wanted(t.facts.name));
  const minRemaining = deps.config.sweep.minRemainingMillis;
  const results = await mapBounded(targets, deps.config.sweep.concurrency, async (target) => {
    if (deps.remainingMillis && deps.remainingMillis() < minRemaining) {
      deps.log.warn("time budget low: cluster left for the next sweep", { cluster: target.facts.name });
      return deferred(target);
    }
    return sweepCluster(target, deps, now);
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

const ACTIONS: CsrAction[] = [
  "approved",
  "denied",
  "would-approve",
  "would-deny",
  "left-pending",
  "flood-guarded",
  "waiting",
  "skipped",
  "alerted",
  "error",
];

function deferred(target: ClusterTarget): ClusterOutcome {
  return {
    cluster: target.facts.name,
    region: target.facts.region,
    source: target.source,
    status: "deferred",
    mode: target.settings.mode,
    csrs: [],
    floodGuardTripped: false,
    durationMs: 0,
  };
}

/** One cluster, isolated: any throw ends up as a `failed` outcome, never in another cluster. */
export async function sweepCluster(
  target: ClusterTarget,
  deps: SweepDeps,
  now: () => Date,
): Promise<ClusterOutcome> {
  const t0 = performance.now();
  const settings: ClusterPolicySettings = deps.readOnly
    ? { ...target.settings, mode: "dry-run" }
    : target.settings;
  const outcome: ClusterOutcome = {
    cluster: target.facts.name,
    region: target.facts.region,
    source: target.source,
    status: "ok",
    mode: settings.mode,
    csrs: [],
    floodGuardTripped: false,
    durationMs: 0,
  };
  try {
    const connect = async (): Promise<KubeApi> =>
      (deps.kube ?? ((e) => kubeClient(e)))({
        name: target.facts.name,
        endpoint: target.endpoint,
        token: await target.token(),
        ...(target.caData ? { caData: target.caData } : {}),
      });
    let kube = await connect();
    let reads: ReadCsr[];
    try {
      reads = await kube.listKubeletServingCsrs();
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 401)) throw err;
      // A token kept from an earlier sweep may have been rotated away: one fresh try.
      target.forgetToken();
      kube = await connect();
      reads = await kube.listKubeletServingCsrs();
    }
    const pending = reads.filter((r) => !isDecided(r));

    // Facts are gathered once for the whole cluster; an error becomes `unavailable`, which
    // the policy turns into `wait` for every CSR that needs it.
    let instances: PolicyInput["instances"] = [];
    let nodes: PolicyInput["nodes"] = [];
    if (pending.length > 0) {
      nodes = await kube.listNodes().catch((err: unknown) => ({
        unavailable: `Kubernetes node list failed: ${errorMessage(err)}`,
      }));
      instances = await gatherInstances(deps, target, pending, Array.isArray(nodes) ? nodes : []);
    }

    const ctx: ClusterContext = { target, settings, deps, kube, instances, nodes, now, approvals: 0 };
    for (const read of reads) {
      const result = await handleCsr(ctx, read);
      outcome.csrs.push(result);
      logDecision(deps.log, result);
    }
    if (outcome.csrs.some((c) => c.action === "flood-guarded")) {
      outcome.floodGuardTripped = true;
      await alertFloodGuard(ctx, outcome);
    }
  } catch (err) {
    outcome.status = "failed";
    outcome.error = errorMessage(err);
    deps.log.error("cluster sweep failed", { cluster: target.facts.name, error: outcome.error });
  }
  outcome.durationMs = Math.round(performance.now() - t0);
  return outcome;
}

interface ClusterContext {
  target: ClusterTarget;
  settings: ClusterPolicySettings;
  deps: SweepDeps;
  kube: KubeApi;
  instances: PolicyInput["instances"];
  nodes: PolicyInput["nodes"];
  now: () => Date;
  approvals: number;
}

function isDecided(read: ReadCsr): boolean {
  return (read.csr.status?.conditions ?? []).some((c) => ["Approved", "Denied", "Failed"].includes(c.type));
}

async function gatherInstances(
  deps: SweepDeps,
  target: ClusterTarget,
  pending: ReadCsr[],
  nodes: NodeObject[],
): Promise<Ec2Instance[] | { unavailable: string }> {
  const providerInstance = new Map(
    nodes.map((n) => [n.metadata.name, parseProviderId(n.spec?.providerID ?? "")?.instanceId]),
  );
  const requests = pending.flatMap((r) => {
    const username = r.csr.spec.username ?? "";
    if (!username.startsWith("system:node:")) return [];
    const node = username.slice("system:node:".length);
    // On every cluster kind: the session instance vetoes a mismatch (SPEC §3), decided on facts.
    const session = sessionInstanceId(r.csr).instanceId;
    // The providerID instance is fetched too: it is the cross-check, and with
    // trustNodeProviderId the only way a node whose name matches nothing is identified.
    const fromProvider = providerInstance.get(node);
    return [
      { node, ...(session ? { sessionInstanceId: session } : {}) },
      ...(fromProvider && fromProvider !== session ? [{ node, sessionInstanceId: fromProvider }] : []),
    ];
  });
  if (requests.length === 0) return [];
  try {
    return await describeInstancesForNodes(
      deps.aws.forRegion(target.facts.region).ec2,
      requests,
      target.facts.region,
    );
  } catch (err) {
    deps.log.warn("DescribeInstances failed: pending CSRs wait", {
      cluster: target.facts.name,
      error: errorMessage(err),
    });
    return { unavailable: `EC2 DescribeInstances failed: ${errorMessage(err)}` };
  }
}

function decideOne(ctx: ClusterContext, read: ReadCsr): Decision {
  return decide({
    csr: read.csr,
    parsed: parseCertificateRequest(read.csr.spec.request ?? ""),
    instances: ctx.instances,
    nodes: ctx.nodes,
    cluster: ctx.target.facts,
    settings: ctx.settings,
    now: ctx.now(),
  });
}

async function handleCsr(ctx: ClusterContext, first: ReadCsr): Promise<CsrOutcome> {
  let read = first;
  let published: AlertKind | undefined;
  // At most two rounds: the second only after a 409, with a fresh read and a fresh decision.
  for (let round = 0; round < 2; round++) {
    const decision = decideOne(ctx, read);
    const plan = planFor(decision, read.csr, {
      mode: ctx.settings.mode,
      deny: ctx.settings.deny,
      maxApprovalsPerSweep: ctx.settings.maxApprovalsPerSweep,
      approvalsSoFar: ctx.approvals,
      now: ctx.now(),
    });
    const base = outcomeOf(ctx, decision);
    try {
      return await carryOut(ctx, read, decision, plan, base, published, (kind) => (published = kind));
    } catch (err) {
      if (err instanceof KubeError && err.status === 409 && round === 0) {
        try {
          read = await ctx.kube.readCsr(read.csr.metadata.name);
        } catch (readErr) {
          return { ...base, action: "error", error: errorMessage(readErr) };
        }
        continue;
      }
      return { ...base, action: "error", error: errorMessage(err) };
    }
  }
  return { ...outcomeOf(ctx, decideOne(ctx, read)), action: "error", error: "conflict persisted" };
}

async function carryOut(
  ctx: ClusterContext,
  read: ReadCsr,
  decision: Decision,
  plan: Plan,
  base: CsrOutcome,
  alreadyPublished: AlertKind | undefined,
  markPublished: (kind: AlertKind) => void,
): Promise<CsrOutcome> {
  const readOnly = ctx.deps.readOnly === true;
  switch (plan.action) {
    case "none":
      return { ...base, action: decision.decision === "wait" ? "waiting" : "skipped" };
    case "would-approve":
      return { ...base, action: "would-approve" };
    case "flood-guarded":
      return { ...base, action: "flood-guarded" };
    case "approve":
      await writeConditions(ctx, read, withCondition(read.csr, plan.condition));
      ctx.approvals += 1;
      return { ...base, action: "approved" };
    case "deny": {
      // No denial without its alert: publish first; a failed publish leaves the CSR pending.
      if (alreadyPublished !== "denied") {
        const sent = await publish(ctx, decision, "denied");
        if (sent !== true) return { ...base, decision: "wait", action: "waiting", error: sent };
        markPublished("denied");
      }
      await writeConditions(ctx, read, withCondition(read.csr, plan.condition));
      return { ...base, action: "denied", alert: "denied" };
    }
    case "alert": {
      const action: CsrAction =
        plan.alert === "would-deny"
          ? "would-deny"
          : plan.alert === "left-pending"
            ? "left-pending"
            : "alerted";
      if (readOnly) return { ...base, action, alert: plan.alert };
      if (alreadyPublished !== plan.alert) {
        const sent = await publish(ctx, decision, plan.alert);
        if (sent !== true) return { ...base, action, error: sent };
        markPublished(plan.alert);
      }
      // The marker makes the alert once-only; if writing it fails, the next sweep alerts again.
      await writeConditions(ctx, read, withAlertMarker(read.csr, plan.alert));
      return { ...base, action, alert: plan.alert };
    }
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
      await ctx.kube.replaceConditions(read, conditions);
      return;
    } catch (err) {
      const transient = err instanceof KubeError && (err.status === 0 || err.status >= 500);
      if (!transient || attempt >= WRITE_RETRIES) throw err;
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  }
}
const WRITE_RETRIES = 2;

async function publish(ctx: ClusterContext, decision: Decision, kind: AlertKind): Promise<true | string> {
  if (!ctx.deps.alerts) return "no alert topic configured";
  try {
    await publishDecisionAlert(ctx.deps.alerts, {
      kind,
      decision,
      cluster: ctx.target.facts,
      dryRun: ctx.settings.mode === "dry-run",
      now: ctx.now(),
    });
    return true;
  } catch (err) {
    const message = `alert not published: ${errorMessage(err)}`;
    ctx.deps.log.warn(message, { cluster: ctx.target.facts.name, csr: decision.name });
    return message;
  }
}

async function alertFloodGuard(ctx: ClusterContext, outcome: ClusterOutcome): Promise<void> {
  if (!ctx.deps.alerts || ctx.deps.readOnly) return;
  const held = outcome.csrs.filter((c) => c.action === "flood-guarded").length;
  try {
    await ctx.deps.alerts.publishFloodGuard({
      cluster: ctx.target.facts,
      approved: ctx.approvals,
      held,
      limit: ctx.settings.maxApprovalsPerSweep,
      now: ctx.now(),
    });
  } catch (err) {
    ctx.deps.log.warn("flood-guard alert not published", {
      cluster: outcome.cluster,
      error: errorMessage(err),
    });
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
  if (o.action === "skipped") return; // already-decided CSRs would drown the log
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

/** Runs fn over items with at most `limit` in flight; results keep the input order. */
export async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
