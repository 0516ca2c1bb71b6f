// One sweep (SPEC §6): resolve clusters → per cluster, concurrently and isolated:
// list CSRs (paginated, decided ones dropped at once) → gather EC2 facts and Nodes →
// decide (pure) → plan the whole cluster fairly (pure, core/fairness.ts) → act → alert.
// Every error on the way turns into `wait` for the CSRs it touches; never approve/deny.
import type { Config } from "../core/config.js";
import {
  AlertHistory,
  PendingSet,
  ApprovedLedger,
  isDecided,
  planCluster,
  type AlertWork,
  type CsrAlertKind,
  type CsrWork,
  type DenialSummary,
  type FollowUp,
} from "../core/fairness.js";
import {
  followUpFor,
  withAlertMarkers,
  withCondition,
  type Delivery,
  type MarkerEntry,
} from "../core/plan.js";
import { parseProviderId, sessionInstanceId } from "../core/identity.js";
import { FactsIndex } from "../core/facts-index.js";
import { decide } from "../core/policy.js";
import { parseCertificateRequest } from "../core/request.js";
import { requestTooLarge } from "../core/request-size.js";
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
import { kubeEndpointOf, resolveClusters, type ClusterTarget } from "./clusters.js";
import { kubeClient, KubeError, type KubeApi, type KubeEndpoint, type ReadCsr } from "./csrs.js";
import { mapBounded } from "./bounded.js";
import { ec2Budget } from "./ec2-budget.js";
import { describeInstancesForNodes } from "./facts.js";
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
      ...EMPTY_COUNTS,
    }));

  const targets = resolved.targets.filter((t) => wanted(t.facts.name));
  ec2Budget.configure(deps.config.sweep.describeInstancesPerSecond, deps.config.sweep.describeInstancesBurst);
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
  used: { approvals: number; alerts: number };
  guardAlerted: boolean;
  /** resourceVersions our own writes produced: their watch events start no work. */
  ownWrites: Set<string>;
  /** Event mode: alerts over the budget wait for the next scheduled sweep and its summary. */
  eventMode: boolean;
  /** Pending CSRs last decided `wait`: no event brings them back, so the watch retries them. */
  waiting: Map<string, ReadCsr>;
  /** Node objects in the cluster at the last full Node LIST (sizes the `auto` backstop). */
  nodeCount?: number;
  /** When this session last called DescribeInstances (event mode keeps them ≥ 1 s apart). */
  lastDescribeAt?: number;
}

export function newSession(eventMode = false): ClusterSession {
  return {
    approved: new ApprovedLedger(),
    history: new AlertHistory(),
    used: { approvals: 0, alerts: 0 },
    guardAlerted: false,
    ownWrites: new Set(),
    eventMode,
    waiting: new Map(),
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
    const connect = async (): Promise<KubeApi> =>
      (deps.kube ?? ((e) => kubeClient(e)))(await kubeEndpointOf(target));
    let kube = await connect();
    let listing: Listing;
    try {
      listing = await listCsrs(kube, settings, now);
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 401)) throw err;
      // A token kept from an earlier sweep may have been rotated away: one fresh try.
      target.forgetToken();
      kube = await connect();
      listing = await listCsrs(kube, settings, now);
    }
    session.kube = kube;
    session.approved = listing.approved;
    session.history = listing.history;
    if (listing.resourceVersion !== undefined) session.resourceVersion = listing.resourceVersion;
    outcome.listed = listing.listed;
    outcome.pending = listing.pendingSeen;
    await processPending(target, deps, now, session, outcome, listing.pending, listing.followUps);
  } catch (err) {
    outcome.status = "failed";
    outcome.error = errorMessage(err);
    deps.log.error("cluster sweep failed", { cluster: target.facts.name, error: outcome.error });
  }
  outcome.durationMs = Math.round(performance.now() - t0);
  return outcome;
}

/**
 * Event mode: decides the pending CSRs that arrived by watch, as one batch, against what the
 * session already knows (no listing). Same plan, same budgets, one EC2 lookup for the batch.
 */
export async function sweepBatch(
  target: ClusterTarget,
  deps: SweepDeps,
  now: () => Date,
  session: ClusterSession,
  reads: ReadCsr[],
): Promise<ClusterOutcome> {
  const t0 = performance.now();
  const settings = settingsFor(target, deps);
  const outcome = emptyOutcome(target, settings);
  try {
    const pending = new PendingSet<ReadCsr>(settings.maxPendingPerNode, (r) => r.csr);
    for (const read of reads) pending.add(read);
    outcome.pending = reads.length;
    await processPending(target, deps, now, session, outcome, pending, []);
  } catch (err) {
    outcome.status = "failed";
    outcome.error = errorMessage(err);
    deps.log.error("cluster batch failed", { cluster: target.facts.name, error: outcome.error });
  }
  outcome.durationMs = Math.round(performance.now() - t0);
  return outcome;
}

async function processPending(
  target: ClusterTarget,
  deps: SweepDeps,
  now: () => Date,
  session: ClusterSession,
  outcome: ClusterOutcome,
  pending: PendingSet<ReadCsr>,
  followUps: FollowUp<ReadCsr>[],
): Promise<void> {
  const kube = session.kube;
  if (!kube) throw new Error("not connected");
  const settings = settingsFor(target, deps);
  const kept = pending.items();
  const overflows = pending.overflows();
  outcome.notExamined = outcome.pending - kept.length;

  // Facts are gathered once for the whole batch; an error becomes `unavailable`, which the
  // policy turns into `wait` for every CSR that needs it.
  let instances: PolicyInput["instances"] = [];
  let nodes: PolicyInput["nodes"] = [];
  // An event batch reads only its requesters' Node objects (the providerID cross-check needs
  // no other) instead of listing every Node each second; trustNodeProviderId needs them all.
  const perNode = session.eventMode && !settings.trustNodeProviderId && session.nodeCount !== undefined;
  if (kept.length > 0 || followUps.length > 0) {
    nodes = await (perNode ? readNodesOf(kube, kept) : kube.listNodes()).catch((err: unknown) => ({
      unavailable: `Kubernetes node list failed: ${errorMessage(err)}`,
    }));
    if (!perNode && Array.isArray(nodes)) session.nodeCount = nodes.length;
  }
  // Oversized requests are denied unread: a batch of only those needs no EC2 call, so it
  // neither waits for nor spends the event-mode spacing (a flood of them never delays a node).
  if (kept.some((read) => !requestTooLarge(read.csr))) {
    if (session.eventMode && session.lastDescribeAt !== undefined) {
      const wait = session.lastDescribeAt + EVENT_DESCRIBE_SPACING_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    session.lastDescribeAt = Date.now();
    instances = await gatherInstances(deps, target, kept, Array.isArray(nodes) ? nodes : []);
  }

  const ctx: ClusterContext = { target, settings, deps, kube, instances, nodes, now, published: 0, session };
  if (Array.isArray(instances) && Array.isArray(nodes)) {
    ctx.index = new FactsIndex(instances, nodes, {
      allInstances: settings.nonEc2Nodes !== undefined,
      providerIdRivals: settings.trustNodeProviderId,
    });
  }
  const candidates = kept.map((read) => ({ item: read, csr: read.csr, decision: decideOne(ctx, read) }));
  for (const c of candidates) {
    if (c.decision.decision === "wait") session.waiting.set(c.csr.metadata.name, c.item);
    else session.waiting.delete(c.csr.metadata.name);
  }
  const plan = planCluster({
    candidates,
    followUps,
    overflows,
    approved: session.approved,
    history: session.history,
    settings,
    nodeCount: session.nodeCount ?? 0,
    now: now(),
    used: session.used,
  });
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
  plan.approvals.forEach((w, i) => {
    if (approvals[i]?.action !== "approved") return;
    session.used.approvals += 1;
    session.approved.note({ ...w.csr, status: { conditions: [w.condition!] } });
  });
  if (plan.clusterGuard) {
    outcome.floodGuardTripped = true;
    if (!session.guardAlerted) session.guardAlerted = await alertFloodGuard(ctx, plan.clusterGuard);
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
  session.used.alerts += ctx.published;
  for (const o of outcome.csrs) logDecision(deps.log, o);
}

type SummaryState = "none" | "sent" | "failed" | "deferred";

/** Event mode: at most one DescribeInstances a second per cluster. */
const EVENT_DESCRIBE_SPACING_MS = 1050; // a margin over 1 s: timers fire a millisecond early

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
}

/**
 * One paginated pass over the cluster's kubelet-serving CSRs. Decided CSRs are dropped at once
 * (their request is never parsed): only what they tell about certificates held, alerts sent
 * and follow-ups due is kept.
 */
async function listCsrs(kube: KubeApi, settings: ClusterPolicySettings, now: () => Date): Promise<Listing> {
  const listing: Listing = {
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
    const kind = followUpFor(csr, followUpContext);
    if (kind) listing.followUps.push({ item: read, csr, kind });
  });
  if (stats.resourceVersion !== undefined) listing.resourceVersion = stats.resourceVersion;
  return listing;
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
  nodes: NodeObject[],
): Promise<Ec2Instance[] | { unavailable: string }> {
  const providerInstance = new Map(
    nodes.map((n) => [n.metadata.name, parseProviderId(n.spec?.providerID ?? "")?.instanceId]),
  );
  const requests = pending.flatMap((r) => {
    if (requestTooLarge(r.csr)) return []; // denied unread: no EC2 fact can change that
    const username = r.csr.spec.username ?? "";
    if (!username.startsWith("system:node:")) return [];
    const node = username.slice("system:node:".length);
    // On every cluster kind: the session instance vetoes a mismatch (SPEC §3), decided on facts.
    const session = sessionInstanceId(r.csr).instanceId;
    // The providerID instance is fetched too: it is the cross-check, and with
    // trustNodeProviderId the only way a node whose name matches nothing is identified.
    const fromProvider = providerInstance.get(node);
    // nonEc2Nodes: "EC2 holds none of the requested IPs or names" must be looked up, not assumed.
    const { ips, dnsNames } = target.settings.nonEc2Nodes ? requestedSans(r) : { ips: [], dnsNames: [] };
    return [
      {
        node,
        ...(session ? { sessionInstanceId: session } : {}),
        ...(ips.length > 0 ? { ips } : {}),
        ...(dnsNames.length > 0 ? { dnsNames } : {}),
      },
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

function requestedSans(read: ReadCsr): { ips: string[]; dnsNames: string[] } {
  const parsed = parseCertificateRequest(read.csr.spec.request ?? "");
  const sans = parsed.ok ? parsed.request.sans : [];
  return {
    ips: sans.flatMap((san) => (san.type === "ip" ? [san.value] : [])),
    dnsNames: sans.flatMap((san) => (san.type === "dns" ? [san.value] : [])),
  };
}

function decideOne(ctx: ClusterContext, read: ReadCsr): Decision {
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
    recorded.push({ kind: alert.kind, via: alert.delivery, codes: alert.codes });
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
      return "alerted";
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

export { mapBounded };
