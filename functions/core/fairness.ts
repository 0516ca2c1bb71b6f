// Fair, bounded sweeps (SPEC §6 "Fairness and budgets"): what one cluster's sweep does with
// its pending CSRs, decided as a whole. Pure: the sweep feeds in what it listed and decided
// and carries the returned work out in order; it keeps no counters of its own.
//
// The rules, and why:
// - Memory follows the pending CSRs, and a flooding requester cannot grow it: only each
//   requester's newest `maxPendingPerNode` pending CSRs are kept (PendingSet); a requester with
//   more trips its own flood guard (one alert naming it), nobody else's.
// - At most one approval per instance per sweep, its newest valid CSR; instances whose node
//   holds no issued certificate go first, then the oldest. So whatever one node creates,
//   every other node's valid CSR is approved in the same sweep.
// - The cluster-wide backstop is sized to the cluster (`auto`: max(100, nodes / 4)), so a
//   rotation of every node is approved within 4 sweeps.
// - At most `maxAlertsPerSweep` alerts on their own, handed out one per node per round (a
//   flooding node cannot use up the budget); the rest are counted in one summary alert that
//   goes out before the writes it covers, naming node requesters first. An alert of the same
//   kind for the same node, reasons and requested names/addresses already sent within
//   `alertRepeatWindowSeconds` is not sent again (a repeat); the next one after the window
//   carries the count of repeats in between. The history is read from the markers on the
//   cluster's own CSRs: no database.
// - Event mode: the window's budget period (core/budgets.ts) comes in as `used`, so the
//   budgets and "one approval per instance" span the window's batches.
// - Order never depends on what a requester writes (names, SANs): only on creation times
//   and UIDs, which the API server assigns.
import type { AlertKind } from "./alert-kinds.js";
import { nodeNameOf } from "./identity.js";
import {
  ALERTED_CONDITION,
  DENIED_REASON,
  approvedCondition,
  approvedInstanceId,
  markerEntries,
  planFor,
  targetsDigest,
  type Delivery,
  type MarkerEntry,
} from "./plan.js";
import type { ClusterPolicySettings, CsrCondition, CsrObject, Decision } from "./types.js";

/** The alerts a sweep sends about CSRs and nodes (flood-guard and summary are per cluster). */
export type CsrAlertKind = Exclude<AlertKind, "flood-guard" | "summary">;

// ---------------------------------------------------------------------------------------
// Age: the only order we use
// ---------------------------------------------------------------------------------------

function createdAt(csr: CsrObject): number {
  const t = Date.parse(csr.metadata.creationTimestamp ?? "");
  return Number.isFinite(t) ? t : 0;
}

/** Older first: creation time, then UID (both assigned by the API server), never the name. */
export function compareAge(a: CsrObject, b: CsrObject): number {
  const d = createdAt(a) - createdAt(b);
  if (d !== 0) return d;
  const ua = a.metadata.uid ?? "";
  const ub = b.metadata.uid ?? "";
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

export function requesterOf(csr: CsrObject): string {
  return csr.spec.username ?? "";
}

// ---------------------------------------------------------------------------------------
// Listing: what is kept of each listed CSR
// ---------------------------------------------------------------------------------------

export function isDecided(csr: CsrObject): boolean {
  return (csr.status?.conditions ?? []).some((c) => ["Approved", "Denied", "Failed"].includes(c.type));
}

/**
 * The newest `perRequester` pending CSRs of each requester, fed one at a time as pages
 * arrive; everything else is counted and dropped at once.
 */
export class PendingSet<T> {
  private readonly kept = new Map<string, T[]>(); // per requester, oldest first
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly perRequester: number,
    private readonly csrOf: (item: T) => CsrObject,
  ) {}

  add(item: T): void {
    const requester = requesterOf(this.csrOf(item));
    this.seen.set(requester, (this.seen.get(requester) ?? 0) + 1);
    const list = this.kept.get(requester) ?? [];
    if (!this.kept.has(requester)) this.kept.set(requester, list);
    // Insertion into a sorted list of at most perRequester + 1: linear in the cap, not the input.
    let i = list.length;
    while (i > 0 && compareAge(this.csrOf(list[i - 1] as T), this.csrOf(item)) > 0) i--;
    list.splice(i, 0, item);
    if (list.length > this.perRequester) list.shift();
  }

  items(): T[] {
    return [...this.kept.values()].flat();
  }

  /** Requesters with more pending CSRs than were kept, and how many they have. */
  overflows(): { requester: string; pending: number; examined: number }[] {
    return [...this.seen]
      .filter(([, pending]) => pending > this.perRequester)
      .map(([requester, pending]) => ({ requester, pending, examined: this.perRequester }));
  }

  get size(): number {
    let n = 0;
    for (const list of this.kept.values()) n += list.length;
    return n;
  }
}

/**
 * The newest approved CSR of each requester (by anyone; kept only as its age). A node with
 * one goes after nodes without; its pending CSRs older than it are superseded for good: the
 * kubelet waits only on its newest CSR, so approving an older one serves nobody.
 */
export class ApprovedLedger {
  private readonly newest = new Map<string, CsrObject>();

  note(csr: CsrObject): void {
    if (!(csr.status?.conditions ?? []).some((c) => c.type === "Approved")) return;
    const requester = requesterOf(csr);
    const current = this.newest.get(requester);
    if (current && compareAge(current, csr) >= 0) return;
    this.newest.set(requester, {
      metadata: {
        name: "",
        ...(csr.metadata.uid !== undefined ? { uid: csr.metadata.uid } : {}),
        ...(csr.metadata.creationTimestamp !== undefined
          ? { creationTimestamp: csr.metadata.creationTimestamp }
          : {}),
      },
      spec: { signerName: "", request: "" },
    });
  }

  holds(requester: string): boolean {
    return this.newest.has(requester);
  }

  /** A pending CSR older than the requester's newest approved one. */
  supersedes(csr: CsrObject): boolean {
    const newest = this.newest.get(requesterOf(csr));
    return newest !== undefined && compareAge(csr, newest) < 0;
  }
}

// ---------------------------------------------------------------------------------------
// Alert history, read from the markers on the cluster's CSRs
// ---------------------------------------------------------------------------------------

interface HistoryEntry {
  at: number;
  via: Delivery;
}

export class AlertHistory {
  private readonly byKey = new Map<string, HistoryEntry[]>();
  /** uid/kind pairs already recorded: a CSR seen again (watch events) is not counted twice. */
  private readonly seen = new Set<string>();

  /**
   * What makes two alerts the same: kind, requester, reason codes and what the request names
   * (`targetsDigest`). A request naming another address or name is never a repeat of an
   * earlier one, so a decoy alerted first cannot hide a neighbour's address asked for next.
   */
  static key(kind: string, requester: string, codes: readonly string[], targets = ""): string {
    return `${kind}\n${requester}\n${[...codes].sort().join("+")}\n${targets}`;
  }

  /** Records what the CSR's marker (or, from v0.1, our bare Denied condition) says was sent. */
  addFrom(csr: CsrObject): void {
    const conditions = csr.status?.conditions ?? [];
    const marker = conditions.find((c) => c.type === ALERTED_CONDITION);
    const denied = conditions.find((c) => c.type === "Denied" && c.reason === DENIED_REASON);
    const requester = requesterOf(csr);
    const entries = markerEntries(csr);
    const at = timeOf(marker ?? denied, csr);
    for (const entry of entries) {
      // Denials: the codes are the ones our Denied condition lists when the marker has none.
      const codes = entry.codes.length > 0 || entry.kind !== "denied" ? entry.codes : deniedCodes(denied);
      const key = AlertHistory.key(entry.kind, requester, codes, entry.targets);
      this.add(csr, entry.kind, key, { at, via: entry.via });
    }
    if (denied && !entries.some((e) => e.kind === "denied")) {
      const key = AlertHistory.key("denied", requester, deniedCodes(denied));
      this.add(csr, "denied", key, { at: timeOf(denied, csr), via: "alert" });
    }
  }

  /** Records an alert the sweep has just delivered (and written to the CSR's marker). */
  record(csr: CsrObject, entry: MarkerEntry, at: number): void {
    const key = AlertHistory.key(entry.kind, requesterOf(csr), entry.codes, entry.targets);
    this.add(csr, entry.kind, key, { at, via: entry.via });
  }

  private add(csr: CsrObject, kind: string, key: string, entry: HistoryEntry): void {
    const id = `${csr.metadata.uid ?? csr.metadata.name}\n${kind}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    const list = this.byKey.get(key);
    if (list) list.push(entry);
    else this.byKey.set(key, [entry]);
  }

  /** When an alert with this key last went out on its own, if ever (as far as the cluster remembers). */
  lastAlertAt(key: string): number | undefined {
    let last: number | undefined;
    for (const e of this.byKey.get(key) ?? [])
      if (e.via === "alert" && (last === undefined || e.at > last)) last = e.at;
    return last;
  }

  /** Entries with this key not sent on their own since `since` (all of them when undefined). */
  unsentSince(key: string, since: number | undefined): number {
    return (this.byKey.get(key) ?? []).filter(
      (e) => e.via !== "alert" && (since === undefined || e.at >= since),
    ).length;
  }
}

function timeOf(condition: CsrCondition | undefined, csr: CsrObject): number {
  const t = Date.parse(condition?.lastUpdateTime ?? condition?.lastTransitionTime ?? "");
  return Number.isFinite(t) ? t : createdAt(csr);
}

/** The codes of our own Denied condition: "csr-approver: denied (A, B): …". */
function deniedCodes(denied: CsrCondition | undefined): string[] {
  const match = /^csr-approver: denied \(([A-Z_, ]*)\)/.exec(denied?.message ?? "");
  return match ? (match[1] ?? "").split(", ").filter(Boolean) : [];
}

// ---------------------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------------------

export interface Candidate<T> {
  item: T;
  csr: CsrObject;
  decision: Decision;
}

export interface FollowUp<T> {
  item: T;
  csr: CsrObject;
  kind: "failed" | "not-issued" | "certificate-mismatch";
  /** certificate-mismatch: what differs between the certificate and the request. */
  problems?: string[];
}

/**
 * A CSR approved by someone else that the policy would not approve (core/audit.ts): one
 * `approved-elsewhere` alert under the same budget and repeat rules, and no write at all.
 */
export interface AuditFinding<T> {
  item: T;
  csr: CsrObject;
  decision: Decision;
  audit: NonNullable<AlertWork["audit"]>;
}

export interface NodeOverflow {
  requester: string;
  pending: number;
  examined: number;
}

export interface ClusterPlanInput<T> {
  /** Pending CSRs kept by the PendingSet, each with the policy's decision. */
  candidates: Candidate<T>[];
  /** Decided CSRs approved by us that need a follow-up alert. */
  followUps: FollowUp<T>[];
  /** Approvals made elsewhere that the policy would not have made (alerted, never written). */
  audits?: AuditFinding<T>[];
  overflows: NodeOverflow[];
  /** What the cluster already approved, per requester. */
  approved: ApprovedLedger;
  history: AlertHistory;
  settings: Pick<
    ClusterPolicySettings,
    | "mode"
    | "deny"
    | "maxApprovalsPerSweep"
    | "maxAlertsPerSweep"
    | "alertRepeatWindowSeconds"
    | "notIssuedAfterSeconds"
  >;
  nodeCount: number;
  now: Date;
  /**
   * What the window's budget period already spent (event mode, core/budgets.ts): approvals
   * and alerts count against the cluster's budgets, and an instance approved in the period
   * gets no second approval in it.
   */
  used?: { approvals: number; alerts: number; approvedKeys?: ReadonlySet<string> };
  /** Requesters past their per-node guard earlier in the period: they go last (event mode). */
  flooding?: ReadonlySet<string>;
}

/** One alert about a CSR or a node, and how it goes out. */
export interface AlertWork {
  kind: CsrAlertKind;
  delivery: Delivery;
  decision?: Decision;
  requester: string;
  codes: string[];
  /** `targetsDigest` of what the request names: part of the repeat key. */
  targets: string;
  /** Similar alerts (same kind, node, codes and targets) not sent on their own since the last one that was. */
  repeats: number;
  lastAlertAt?: Date;
  /** node-flood: the node's pending CSRs and how many were examined. */
  flood?: { pending: number; examined: number };
  /** approved-elsewhere and certificate-mismatch: who approved, whether issued, what differs. */
  audit?: {
    approver?: { reason: string; message: string; at?: string };
    issued: boolean;
    problems?: string[];
  };
}

/** Everything the sweep does to one CSR: alerts first, then at most one write. */
export interface CsrWork<T> {
  item: T;
  csr: CsrObject;
  decision: Decision;
  /** `audit`: an approval made elsewhere: its alert is published and nothing is written. */
  action: "approve" | "deny" | "mark" | "audit";
  /** The Approved or Denied condition to append. */
  condition?: CsrCondition;
  alerts: AlertWork[];
}

/**
 * superseded: a newer CSR of the instance is approved or chosen; cluster-guard: over the
 * backstop; instance-period: the instance was approved earlier in this budget period (event
 * mode), so it waits for the next one.
 */
export type HeldReason = "superseded" | "cluster-guard" | "instance-period" | "would-approve";

export interface DenialSummary {
  total: number;
  nodes: number; // distinct requesters (byNode lists the first SUMMARY_NODE_LIMIT)
  byKind: { kind: CsrAlertKind; count: number }[];
  /**
   * Per requester: node requesters first (by node name), then any other requester; within
   * each, the most alerts first. `isNode`: the requester is `system:node:<node>`.
   */
  byNode: { node: string; isNode: boolean; count: number; codes: string[] }[];
  byCode: { code: string; count: number }[];
}

export interface ClusterPlan<T> {
  /** Resolved cluster-wide limit of approvals this sweep. */
  approvalLimit: number;
  approvals: CsrWork<T>[];
  /** Valid CSRs not approved this sweep, and why. */
  held: { item: T; decision: Decision; why: HeldReason }[];
  /** Denials and alert markers, in alert-budget order. */
  work: CsrWork<T>[];
  /** Over the alert budget: one summary alert covers these; it goes out before their writes. */
  summary?: DenialSummary;
  clusterGuard?: { limit: number; approved: number; held: number };
}

export const AUTO_APPROVALS_FLOOR = 100;
export const AUTO_APPROVALS_SHARE_OF_NODES = 4; // a quarter of the nodes per sweep

export function approvalLimit(setting: number | "auto", nodeCount: number): number {
  if (setting !== "auto") return setting;
  return Math.max(AUTO_APPROVALS_FLOOR, Math.ceil(nodeCount / AUTO_APPROVALS_SHARE_OF_NODES));
}

/** What "one approval per instance" counts: the EC2 instance, or the node outside EC2. */
export function approvalKey(decision: Decision, csr: CsrObject): string {
  return decision.instanceId ?? `node:${decision.node ?? requesterOf(csr)}`;
}

export function planCluster<T>(input: ClusterPlanInput<T>): ClusterPlan<T> {
  const { settings, now } = input;
  const limit = approvalLimit(settings.maxApprovalsPerSweep, input.nodeCount);
  const approvalsLeft = Math.max(0, limit - (input.used?.approvals ?? 0));
  const ctx = {
    mode: settings.mode,
    deny: settings.deny,
    now,
    notIssuedAfterSeconds: settings.notIssuedAfterSeconds,
  };
  const held: ClusterPlan<T>["held"] = [];

  // Approvals: the newest valid CSR of each instance.
  const newestPerInstance = new Map<string, Candidate<T>>();
  const alertable: { work: CsrWork<T>; alert: AlertWork; age: CsrObject }[] = [];
  for (const c of input.candidates) {
    const plan = planFor(c.decision, c.csr, ctx);
    if ((plan.action === "approve" || plan.action === "would-approve") && input.approved.supersedes(c.csr)) {
      held.push({ item: c.item, decision: c.decision, why: "superseded" });
    } else if (plan.action === "approve" || plan.action === "would-approve") {
      const key = approvalKey(c.decision, c.csr);
      const current = newestPerInstance.get(key);
      if (!current || compareAge(current.csr, c.csr) < 0) {
        if (current) held.push({ item: current.item, decision: current.decision, why: "superseded" });
        newestPerInstance.set(key, c);
      } else {
        held.push({ item: c.item, decision: c.decision, why: "superseded" });
      }
    } else if (plan.action === "deny" || plan.action === "alert") {
      const kind = plan.action === "deny" ? "denied" : plan.alert;
      const work: CsrWork<T> = {
        item: c.item,
        csr: c.csr,
        decision: c.decision,
        action: plan.action === "deny" ? "deny" : "mark",
        ...(plan.action === "deny" ? { condition: plan.condition } : {}),
        alerts: [],
      };
      alertable.push({ work, alert: alertOf(kind, c.csr, c.decision), age: c.csr });
    }
  }
  for (const f of input.followUps) {
    const decision = followUpDecision(f.csr);
    const work: CsrWork<T> = { item: f.item, csr: f.csr, decision, action: "mark", alerts: [] };
    const alert = alertOf(f.kind, f.csr, decision);
    if (f.problems) alert.audit = { issued: true, problems: f.problems };
    alertable.push({ work, alert, age: f.csr });
  }
  for (const a of input.audits ?? []) {
    const work: CsrWork<T> = { item: a.item, csr: a.csr, decision: a.decision, action: "audit", alerts: [] };
    alertable.push({
      work,
      alert: { ...alertOf("approved-elsewhere", a.csr, a.decision), audit: a.audit },
      age: a.csr,
    });
  }

  // Nodes holding nothing approved first, then those holding something, then nodes that
  // tripped their own flood guard; within each, the oldest CSR first.
  const flooding = new Set([...input.overflows.map((o) => o.requester), ...(input.flooding ?? [])]);
  const rank = (c: Candidate<T>) =>
    flooding.has(requesterOf(c.csr)) ? 2 : input.approved.holds(requesterOf(c.csr)) ? 1 : 0;
  const chosen = [...newestPerInstance.values()].sort(
    (a, b) => rank(a) - rank(b) || compareAge(a.csr, b.csr),
  );
  const approvals: CsrWork<T>[] = [];
  const approvedInPeriod = input.used?.approvedKeys;
  for (const c of chosen) {
    if (settings.mode === "dry-run") {
      held.push({ item: c.item, decision: c.decision, why: "would-approve" });
    } else if (approvedInPeriod?.has(approvalKey(c.decision, c.csr))) {
      held.push({ item: c.item, decision: c.decision, why: "instance-period" });
    } else if (approvals.length < approvalsLeft) {
      approvals.push({
        item: c.item,
        csr: c.csr,
        decision: c.decision,
        action: "approve",
        condition: approvedCondition(c.decision),
        alerts: [],
      });
    } else {
      held.push({ item: c.item, decision: c.decision, why: "cluster-guard" });
    }
  }
  const guardHeld = held.filter((h) => h.why === "cluster-guard").length;

  // Node floods: one alert naming the node, carried by one of its writes (its marker makes
  // the alert once per window); a flooding node with nothing to write this sweep carries it
  // on its oldest kept CSR that has no other write.
  const writes = new Map<CsrObject, CsrWork<T>>(alertable.map((a) => [a.work.csr, a.work]));
  const approvedCsrs = new Set(approvals.map((a) => a.csr));
  for (const overflow of input.overflows) {
    const own = input.candidates
      .filter((c) => requesterOf(c.csr) === overflow.requester && !approvedCsrs.has(c.csr))
      .sort((a, b) => compareAge(a.csr, b.csr));
    const carrier = own.find((c) => writes.has(c.csr)) ?? own[0];
    if (!carrier) continue; // everything kept was approved: nothing to carry the marker
    const work: CsrWork<T> = writes.get(carrier.csr) ?? {
      item: carrier.item,
      csr: carrier.csr,
      decision: carrier.decision,
      action: "mark",
      alerts: [],
    };
    if (!writes.has(carrier.csr)) writes.set(carrier.csr, work);
    const alert: AlertWork = {
      kind: "node-flood",
      delivery: "alert",
      requester: overflow.requester,
      codes: [],
      targets: "",
      repeats: 0,
      flood: { pending: overflow.pending, examined: overflow.examined },
    };
    alertable.push({ work, alert, age: carrier.csr });
  }

  // Deliveries: repeats first (they cost nothing), then the budget round-robin across nodes.
  const windowMs = settings.alertRepeatWindowSeconds * 1000;
  const sentThisSweep = new Set<string>();
  const ordered = roundRobin(alertable);
  let budget = Math.max(0, settings.maxAlertsPerSweep - (input.used?.alerts ?? 0));
  const summaryItems: AlertWork[] = [];
  for (const a of ordered) {
    const key = AlertHistory.key(a.alert.kind, a.alert.requester, a.alert.codes, a.alert.targets);
    const last = input.history.lastAlertAt(key);
    const alert = a.alert;
    if (sentThisSweep.has(key) || (last !== undefined && now.getTime() - last < windowMs)) {
      alert.delivery = "repeat";
    } else if (budget > 0) {
      budget -= 1;
      alert.delivery = "alert";
      sentThisSweep.add(key);
      alert.repeats = input.history.unsentSince(key, last);
      if (last !== undefined) alert.lastAlertAt = new Date(last);
    } else {
      alert.delivery = "summary";
      summaryItems.push(alert);
    }
    a.work.alerts.push(alert);
  }

  // Work order: one entry per CSR, in the order its first alert came in the budget order.
  const work: CsrWork<T>[] = [];
  const seen = new Set<CsrWork<T>>();
  for (const a of ordered) {
    if (!seen.has(a.work)) {
      seen.add(a.work);
      work.push(a.work);
    }
  }

  return {
    approvalLimit: limit,
    approvals,
    held,
    work,
    ...(summaryItems.length > 0 ? { summary: summarise(summaryItems) } : {}),
    ...(guardHeld > 0
      ? {
          clusterGuard: { limit, approved: approvals.length + (input.used?.approvals ?? 0), held: guardHeld },
        }
      : {}),
  };
}

function alertOf(kind: CsrAlertKind, csr: CsrObject, decision: Decision): AlertWork {
  const codes =
    kind === "denied" || kind === "would-deny" || kind === "left-pending" || kind === "approved-elsewhere"
      ? [...new Set(decision.reasons.map((r) => r.code))].sort()
      : [];
  return {
    kind,
    delivery: "alert",
    decision,
    requester: requesterOf(csr),
    codes,
    targets: codes.length > 0 ? targetsDigest(decision.requestedSans) : "",
    repeats: 0,
  };
}

/** A follow-up concerns an approved CSR: the decision is a skip that names it. */
function followUpDecision(csr: CsrObject): Decision {
  const requester = requesterOf(csr);
  const node = nodeNameOf(requester);
  const instanceId = approvedInstanceId(csr);
  return {
    name: csr.metadata.name,
    decision: "skip",
    reasons: [{ code: "ALREADY_DECIDED", message: "approved earlier by csr-approver" }],
    ...(node !== undefined ? { node } : {}),
    requester,
    ...(instanceId !== undefined ? { instanceId } : {}),
  };
}

/**
 * Round-robin over requesters: each round takes the next alert of every requester, so the
 * budget reaches every node before any node gets a second one. Requesters are ordered by
 * their oldest item, items within a requester node-flood first, then by age.
 */
function roundRobin<X extends { alert: AlertWork; age: CsrObject }>(items: X[]): X[] {
  const groups = new Map<string, X[]>();
  for (const item of items) {
    const list = groups.get(item.alert.requester);
    if (list) list.push(item);
    else groups.set(item.alert.requester, [item]);
  }
  const lists = [...groups.values()].map((list) =>
    list.sort(
      (a, b) =>
        Number(b.alert.kind === "node-flood") - Number(a.alert.kind === "node-flood") ||
        compareAge(a.age, b.age),
    ),
  );
  const oldest = (list: X[]) => list.reduce((o, x) => (compareAge(x.age, o.age) < 0 ? x : o)).age;
  lists.sort((a, b) => compareAge(oldest(a), oldest(b)));
  const out: X[] = [];
  for (let round = 0; out.length < items.length; round++) {
    for (const list of lists) {
      const item = list[round];
      if (item) out.push(item);
    }
  }
  return out;
}

export const SUMMARY_LIST_LIMIT = 20;
/** Requesters the summary names (the alert's text shows fewer; its JSON as many as fit). */
export const SUMMARY_NODE_LIMIT = 100;

function summarise(items: AlertWork[]): DenialSummary {
  const count = <K>(keys: K[]): { key: K; count: number }[] => {
    const m = new Map<K, number>();
    for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
    // Largest first; ties keep first-seen order (the budget order), never name order.
    return [...m].map(([key, n]) => ({ key, count: n })).sort((a, b) => b.count - a.count);
  };
  return {
    total: items.length,
    nodes: new Set(items.map((i) => i.requester)).size,
    byKind: count(items.map((i) => i.kind)).map(({ key, count: n }) => ({ kind: key, count: n })),
    byNode: byRequester(items),
    byCode: count(items.flatMap((i) => (i.codes.length > 0 ? i.codes : [i.kind.toUpperCase()])))
      .slice(0, SUMMARY_LIST_LIMIT)
      .map(({ key, count: n }) => ({ code: key, count: n })),
  };
}

function nodeOf(a: AlertWork): string {
  return a.decision?.node ?? a.requester;
}

/**
 * The summary's requesters: nodes first, so that other requesters cannot push a node's
 * alert out of the list; then the most alerts first, ties in budget order. Each with the
 * reason codes (or kinds) of its summarised alerts.
 */
function byRequester(items: AlertWork[]): DenialSummary["byNode"] {
  const m = new Map<
    string,
    { node: string; isNode: boolean; count: number; codes: Set<string>; at: number }
  >();
  items.forEach((i, at) => {
    const isNode = nodeNameOf(i.requester) !== undefined;
    const key = `${isNode ? "n" : "r"}\n${i.requester}`;
    const entry = m.get(key) ?? { node: nodeOf(i), isNode, count: 0, codes: new Set<string>(), at };
    m.set(key, entry);
    entry.count += 1;
    for (const c of i.codes.length > 0 ? i.codes : [i.kind.toUpperCase()]) entry.codes.add(c);
  });
  return [...m.values()]
    .sort((a, b) => Number(b.isNode) - Number(a.isNode) || b.count - a.count || a.at - b.at)
    .slice(0, SUMMARY_NODE_LIMIT)
    .map((e) => ({ node: e.node, isNode: e.isNode, count: e.count, codes: [...e.codes].sort() }));
}
