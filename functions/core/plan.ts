// What the sweep should do about one CSR, given the policy's decision: pure, so the rules
// for dry-run, `deny: false` and "alert once" are table-tested like the policy itself. The
// cluster-wide budgets are core/fairness.ts's; the sweep only carries the plan out.
import { createHash } from "node:crypto";
import type { AlertKind as AnyAlertKind } from "./alert-kinds.js";
import { NON_EC2_APPROVE_CODE, type CsrCondition, type CsrObject, type Decision } from "./types.js";

/** Condition reasons this product writes, so later sweeps can recognise its own work. */
export const APPROVED_REASON = "CsrApproverApproved";
export const DENIED_REASON = "CsrApproverDenied";
/**
 * A condition of our own type that records which alerts were already published for a CSR.
 * It lives on the CSR (written through the approval subresource, like Approved/Denied), so
 * "alert once" needs no database. Kubernetes ignores condition types it does not know.
 */
export const ALERTED_CONDITION = "CsrApproverAlerted";

/** The per-CSR alert kinds (the others are per cluster or per node). */
export type AlertKind = Exclude<AnyAlertKind, "flood-guard" | "node-flood" | "summary">;

export type Plan =
  | { action: "none" }
  | { action: "approve"; condition: CsrCondition }
  | { action: "would-approve" } // dry-run
  | { action: "deny"; alert: "denied"; condition: CsrCondition } // publish first, then write
  | { action: "alert"; alert: Exclude<AlertKind, "denied"> }; // publish, then record the marker

export interface PlanContext {
  mode: "enforce" | "dry-run";
  deny: boolean;
  now: Date;
  /** The cluster's `notIssuedAfterSeconds`: our approval older than this without a certificate alerts. */
  notIssuedAfterSeconds: number;
}

/** What the follow-up of a CSR we approved needs to know: the time and the cluster's threshold. */
export type FollowUpContext = Pick<PlanContext, "now" | "notIssuedAfterSeconds">;

export function planFor(decision: Decision, csr: CsrObject, ctx: PlanContext): Plan {
  switch (decision.decision) {
    case "wait":
      return { action: "none" };
    case "skip":
      return followUp(csr, ctx);
    case "approve":
      if (ctx.mode === "dry-run") return { action: "would-approve" };
      return { action: "approve", condition: approvedCondition(decision) };
    case "deny":
      if (ctx.mode === "dry-run") return alertOnce(csr, "would-deny");
      if (!ctx.deny) return alertOnce(csr, "left-pending");
      return { action: "deny", alert: "denied", condition: deniedCondition(decision) };
  }
}

/** CSRs we approved earlier: alert once if the signer failed or never issued. */
function followUp(csr: CsrObject, { now, notIssuedAfterSeconds }: FollowUpContext): Plan {
  const conditions = csr.status?.conditions ?? [];
  const approved = conditions.find((c) => c.type === "Approved" && c.reason === APPROVED_REASON);
  if (!approved) return { action: "none" };
  if (conditions.some((c) => c.type === "Failed")) return alertOnce(csr, "failed");
  if (csr.status?.certificate) return { action: "none" };
  const approvedAt = Date.parse(approved.lastUpdateTime ?? approved.lastTransitionTime ?? "");
  if (Number.isFinite(approvedAt) && now.getTime() - approvedAt > notIssuedAfterSeconds * 1000) {
    return alertOnce(csr, "not-issued");
  }
  return { action: "none" };
}

function alertOnce(csr: CsrObject, kind: Exclude<AlertKind, "denied">): Plan {
  return alertedKinds(csr).has(kind) ? { action: "none" } : { action: "alert", alert: kind };
}

/**
 * How an alert about a CSR went out: on its own (`alert`), left out as a repeat of one sent
 * within the repeat window (`repeat`), or counted in the sweep's summary alert (`summary`).
 */
export type Delivery = "alert" | "repeat" | "summary";

/** One entry of the alert marker: which alert, how it went out, for which reason codes. */
export interface MarkerEntry {
  kind: string;
  via: Delivery;
  codes: string[];
  /** `targetsDigest` of what the request named ("" or absent: nothing, or an older marker). */
  targets?: string;
}

/**
 * What a request names (DNS names, IP addresses, other SANs), as a digest for the alert's
 * repeat key and marker: 128 bits of SHA-256, so no two different requests share one by
 * accident or by effort. "" when the request names nothing we could read.
 */
export function targetsDigest(sans: Decision["requestedSans"]): string {
  if (!sans) return "";
  const parts = [
    ...sans.dnsNames.map((v) => `dns:${v}`),
    ...sans.ips.map((v) => `ip:${v}`),
    ...sans.other.map((v) => `other:${v}`),
  ];
  if (parts.length === 0) return "";
  const sorted = [...new Set(parts)].sort();
  return createHash("sha256").update(JSON.stringify(sorted)).digest("hex").slice(0, 32);
}

/**
 * The marker's message lists its entries separated by spaces, each `kind:via:CODE+CODE` and,
 * when the request named anything, `:digest` (v0.1 wrote bare kinds separated by commas: read
 * as delivered on their own). We write it ourselves and only through the approval
 * subresource, so it is trusted like Denied.
 */
export function markerEntries(csr: CsrObject): MarkerEntry[] {
  const marker = csr.status?.conditions?.find((c) => c.type === ALERTED_CONDITION);
  return (marker?.message ?? "")
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((token) => {
      const [kind = "", via, codes, targets] = token.split(":");
      return {
        kind,
        via: via === "repeat" || via === "summary" ? via : "alert",
        codes: (codes ?? "").split("+").filter(Boolean),
        ...(targets ? { targets } : {}),
      };
    });
}

export function alertedKinds(csr: CsrObject): Set<string> {
  return new Set(markerEntries(csr).map((e) => e.kind));
}

/** The conditions with the marker extended by `entries` (an entry of the same kind is replaced). */
export function withAlertMarkers(conditions: CsrCondition[], entries: MarkerEntry[]): CsrCondition[] {
  const existing = conditions.find((c) => c.type === ALERTED_CONDITION);
  const kept = existing ? markerEntries({ ...EMPTY_CSR, status: { conditions: [existing] } }) : [];
  const merged = [...kept.filter((e) => !entries.some((n) => n.kind === e.kind)), ...entries];
  const marker: CsrCondition = {
    type: ALERTED_CONDITION,
    status: "True",
    reason: "AlertPublished",
    message: merged
      .map((e) => `${e.kind}:${e.via}:${e.codes.join("+")}${e.targets ? `:${e.targets}` : ""}`)
      .join(" "),
  };
  // An existing marker is updated where it stands: conditions are never dropped or reordered.
  return existing ? conditions.map((c) => (c === existing ? marker : c)) : [...conditions, marker];
}
const EMPTY_CSR: CsrObject = { metadata: { name: "" }, spec: { signerName: "", request: "" } };

/** The follow-up alert a CSR we approved earlier needs now, if any (signer failed or silent). */
export function followUpFor(csr: CsrObject, ctx: FollowUpContext): "failed" | "not-issued" | undefined {
  const plan = followUp(csr, ctx);
  return plan.action === "alert" && (plan.alert === "failed" || plan.alert === "not-issued")
    ? plan.alert
    : undefined;
}

/** Existing conditions are never dropped: the new one is appended. */
export function withCondition(csr: CsrObject, condition: CsrCondition): CsrCondition[] {
  return [...(csr.status?.conditions ?? []), condition];
}

/**
 * Our Approved condition. Its message is the only record of the instance that a later sweep
 * can read (the approval subresource writes nothing else we may use), so it names the
 * instance in a fixed form that `approvedInstanceId` reads back: writer and reader live here.
 */
export function approvedCondition(d: Decision): CsrCondition {
  return {
    type: "Approved",
    status: "True",
    reason: APPROVED_REASON,
    message:
      d.reasons[0]?.code === NON_EC2_APPROVE_CODE
        ? `csr-approver: kubelet serving certificate for node ${d.node ?? "?"}, outside EC2, matches the cluster's nonEc2Nodes rules`
        : `csr-approver: kubelet serving certificate for node ${d.node ?? "?"} ${MATCHES_INSTANCE}${d.instanceId ?? "?"}; all checks passed`,
  };
}

const MATCHES_INSTANCE = "matches EC2 instance ";
const APPROVED_INSTANCE = new RegExp(`${MATCHES_INSTANCE}(i-[0-9a-f]+)`);

/**
 * The instance our own approval of `csr` matched, as `approvedCondition` recorded it; none
 * for an approval outside EC2, someone else's, or none at all.
 */
export function approvedInstanceId(csr: CsrObject): string | undefined {
  const approved = csr.status?.conditions?.find((c) => c.type === "Approved" && c.reason === APPROVED_REASON);
  return APPROVED_INSTANCE.exec(approved?.message ?? "")?.[1];
}

function deniedCondition(d: Decision): CsrCondition {
  const codes = d.reasons.map((r) => r.code).join(", ");
  const first = d.reasons[0]?.message ?? "";
  // The apiserver caps nothing here, but keep the message readable in `kubectl describe`.
  const message = `csr-approver: denied (${codes}): ${first}`.slice(0, 1024);
  return { type: "Denied", status: "True", reason: DENIED_REASON, message };
}
