// The audit of approvals made elsewhere (SPEC §6 "Audit"). The approver never writes to a CSR
// someone else decided; it still decides such a CSR with the same policy, on current EC2
// facts, and raises one `approved-elsewhere` alert when the policy would not have approved
// it. It also checks, for CSRs we approved, that the issued certificate is the one requested.
// Pure: time comes in as a value; the sweep gathers the facts.
//
// Which CSRs (bounded, never the whole history):
// - kubelet-serving CSRs with an Approved condition whose reason is not ours, or with a
//   certificate but no Approved condition at all (a status written past the approval);
// - created, approved or issued within `auditWindowSeconds` (kube-controller-manager deletes
//   issued CSRs after an hour anyway). "Approved" is the condition's time, which the
//   approver writes; "issued" is the certificate's notBefore, which the signer writes, so an
//   approval with a back-dated condition is still seen once a certificate exists;
// - not audited already (AuditLedger below);
// - at most AUDIT_MAX_PER_SWEEP per cluster and sweep, oldest first (creation time, then UID:
//   both assigned by the API server); the rest are audited by the next sweeps.
//
// Why a ledger in memory: "alert once" for our own CSRs is a marker written on the CSR, and
// nothing may be written on a CSR someone else decided. So what was audited is remembered by
// the Lambda container, for the audit window, bounded in entries. A new container (a cold
// start: a few times a day for a function invoked every minute) starts with an empty ledger
// and audits the window again: an approval made elsewhere may then be reported a second
// time, never less than once. Alerts that repeat (same kind, requester and reasons within
// alertRepeatWindowSeconds) are still counted as repeats, as for denials.
import { certificateNotBefore } from "./certificate.js";
import { compareAge, type AlertHistory } from "./fairness.js";
import { APPROVED_REASON, type MarkerEntry } from "./plan.js";
import type { CsrCondition, CsrObject, Decision } from "./types.js";

/** CSRs audited per cluster and sweep (approved elsewhere, or our own issued ones checked). */
export const AUDIT_MAX_PER_SWEEP = 5000;
/**
 * Our own issued certificates compared per cluster and sweep: about 1 ms each (two ASN.1
 * parses), so a cold start after a fleet rotation spends about a second, not five; the rest
 * are compared by the next sweeps.
 */
export const AUDIT_CERTIFICATES_PER_SWEEP = 1000;
/** Ledger entries kept per cluster: a window's audits, far more than a window holds. */
export const AUDIT_LEDGER_MAX = 50_000;

export type AuditSubject = "approved-elsewhere" | "ours-issued";

/** The Approved condition in effect (the first one not False), whoever wrote it. */
export function approvalInEffect(csr: CsrObject): CsrCondition | undefined {
  return csr.status?.conditions?.find((c) => c.type === "Approved" && c.status !== "False");
}

function decidedOtherwise(csr: CsrObject): boolean {
  return (csr.status?.conditions ?? []).some((c) => c.type === "Denied" || c.type === "Failed");
}

/** Approved by someone else (not with our condition reason), or issued without any approval. */
export function approvedElsewhere(csr: CsrObject): boolean {
  const approved = approvalInEffect(csr);
  if (approved) return approved.reason !== APPROVED_REASON;
  return !decidedOtherwise(csr) && Boolean(csr.status?.certificate);
}

/** Who approved, as far as the API shows it: the Approved condition's reason and message. */
export function approverOf(csr: CsrObject): { reason: string; message: string; at?: string } {
  const approved = approvalInEffect(csr);
  if (!approved)
    return { reason: "(none)", message: "a certificate was issued without an Approved condition" };
  const at = approved.lastUpdateTime ?? approved.lastTransitionTime;
  return { reason: approved.reason ?? "", message: approved.message ?? "", ...(at ? { at } : {}) };
}

function time(value: string | undefined): number | undefined {
  const t = Date.parse(value ?? "");
  return Number.isFinite(t) ? t : undefined;
}

/**
 * Whether a decided CSR is one for the audit now, and which kind. `windowSeconds` bounds it:
 * created, approved or issued within the window. The certificate is parsed only when the
 * cheaper times are outside the window.
 */
export function auditSubject(csr: CsrObject, now: Date, windowSeconds: number): AuditSubject | undefined {
  const elsewhere = approvedElsewhere(csr);
  const certificate = csr.status?.certificate;
  const ours = !elsewhere && approvalInEffect(csr)?.reason === APPROVED_REASON && !decidedOtherwise(csr);
  if (!elsewhere && !(ours && certificate)) return undefined;
  const since = now.getTime() - windowSeconds * 1000;
  const approved = approvalInEffect(csr);
  const recent =
    (time(csr.metadata.creationTimestamp) ?? 0) >= since ||
    (time(approved?.lastUpdateTime) ?? 0) >= since ||
    (time(approved?.lastTransitionTime) ?? 0) >= since ||
    // Only for approvals made elsewhere: their condition's times are the other approver's word.
    (elsewhere && certificate !== undefined && (certificateNotBefore(certificate)?.getTime() ?? 0) >= since);
  if (!recent) return undefined;
  return elsewhere ? "approved-elsewhere" : "ours-issued";
}

/** The CSR as the policy would have seen it before anyone decided it. */
export function asUndecided(csr: CsrObject): CsrObject {
  const { status: _status, ...rest } = csr;
  return rest;
}

export type AuditVerdict = "pass" | "violation" | "inconclusive";

/**
 * What the policy's decision means for a CSR already approved: `violation` when it would not
 * have been approved (deny); `inconclusive` when the facts do not settle it now (wait, e.g.
 * EC2 unreachable: the next sweep looks again); `pass` otherwise (approve, or a skip such as
 * `nonNodeRequests: ignore`).
 */
export function auditVerdict(decision: Decision): AuditVerdict {
  if (decision.decision === "deny") return "violation";
  if (decision.decision === "wait") return "inconclusive";
  return "pass";
}

/** The key of one audit in the ledger: the CSR and the version audited. */
export function auditKey(csr: CsrObject): string {
  return `${csr.metadata.uid ?? csr.metadata.name}`;
}

/**
 * What one cluster's audits already covered, kept by the caller across sweeps (the Lambda
 * container) for the audit window. Bounded: entries expire with the window, and beyond
 * AUDIT_LEDGER_MAX the oldest are forgotten first (they would at most be audited again).
 */
export class AuditLedger {
  private readonly entries = new Map<string, number>(); // key → when audited (ms), insertion order
  /** The audit alerts delivered (on their own, as repeats, in a summary), for the repeat rule. */
  private readonly alerts: { csr: CsrObject; entry: MarkerEntry; at: number }[] = [];

  /** Records a delivered audit alert; only what the repeat rule needs of the CSR is kept. */
  recordAlert(csr: CsrObject, entry: MarkerEntry, at: number): void {
    const { uid } = csr.metadata;
    this.alerts.push({
      csr: {
        metadata: { name: csr.metadata.name, ...(uid !== undefined ? { uid } : {}) },
        spec: {
          signerName: "",
          request: "",
          ...(csr.spec.username !== undefined ? { username: csr.spec.username } : {}),
        },
      },
      entry,
      at,
    });
    if (this.alerts.length > AUDIT_LEDGER_MAX) this.alerts.shift();
  }

  /** Adds the delivered audit alerts to a sweep's alert history (read from markers otherwise). */
  replayInto(history: AlertHistory): void {
    for (const a of this.alerts) history.record(a.csr, a.entry, a.at);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  remember(key: string, at: number): void {
    this.entries.delete(key);
    this.entries.set(key, at);
    while (this.entries.size > AUDIT_LEDGER_MAX) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Forgets what is older than the window: such CSRs are out of the audit anyway. */
  prune(now: number, windowSeconds: number): void {
    const since = now - windowSeconds * 1000;
    for (const [key, at] of this.entries) {
      if (at >= since) break; // insertion order is time order
      this.entries.delete(key);
    }
    while (this.alerts.length > 0 && (this.alerts[0]?.at ?? 0) < since) this.alerts.shift();
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * The oldest items fed one at a time (creation time, then UID), at most `max` of them and at
 * most `maxBytes` by `sizeOf`: sorted and cut in batches, so memory stays within twice both
 * bounds and time is n log max, whatever the listing holds. What is cut is counted.
 */
export class OldestFirst<T> {
  private items: T[] = [];
  private bytes = 0;
  private seen = 0;

  constructor(
    private readonly max: number,
    private readonly csrOf: (item: T) => CsrObject,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
    private readonly sizeOf: (item: T) => number = () => 0,
  ) {}

  add(item: T): void {
    this.seen += 1;
    this.items.push(item);
    this.bytes += this.sizeOf(item);
    if (this.items.length >= 2 * this.max || this.bytes >= 2 * this.maxBytes) this.trim();
  }

  private trim(): void {
    this.items.sort((a, b) => compareAge(this.csrOf(a), this.csrOf(b)));
    let bytes = 0;
    let keep = 0;
    for (const item of this.items) {
      const size = this.sizeOf(item);
      if (keep >= this.max || bytes + size > this.maxBytes) break;
      bytes += size;
      keep += 1;
    }
    this.items.length = keep;
    this.bytes = bytes;
  }

  /** The kept items, oldest first. */
  take(): T[] {
    this.trim();
    return this.items;
  }

  /** How many were offered beyond those kept (audited by later sweeps). */
  get deferred(): number {
    this.trim();
    return this.seen - this.items.length;
  }
}

/** Request text kept per sweep for the audit: 8,000 kubelet requests; a flood of huge ones waits. */
export const AUDIT_MAX_BYTES = 16 * 1024 * 1024;

/** The bytes a kept audit item costs, roughly: its request plus a fixed overhead. */
export function auditSize(csr: CsrObject): number {
  return (csr.spec.request?.length ?? 0) + 2048;
}

/** What the audit says of one decided CSR (evaluate prints it; the sweep acts on the same parts). */
export interface AuditResult {
  subject: AuditSubject;
  verdict: AuditVerdict;
  /** approved-elsewhere: the Approved condition's reason and message (who approved, as far as the API shows). */
  approvedBy?: { reason: string; message: string; at?: string };
  issued: boolean;
  /** approved-elsewhere: the policy's decision on current facts, as if the CSR were still pending. */
  decision?: Decision;
  /** ours-issued: what differs between the certificate and the request. */
  certificateProblems?: string[];
  /** The alert the sweep publishes for it (once), if any. */
  alert?: "approved-elsewhere" | "certificate-mismatch";
}

/**
 * The audit of one decided CSR with no memory of earlier sweeps: undefined when it is not
 * one for the audit (undecided, denied, ours and not issued, outside the window, audit off).
 * `decideUndecided` runs the policy on the CSR as if pending (the caller holds the facts).
 */
export function auditOne(
  csr: CsrObject,
  options: { now: Date; windowSeconds: number; enabled: boolean },
  decideUndecided: (csr: CsrObject) => Decision,
  checkCertificate: (csr: CsrObject) => { ok: true } | { ok: false; problems: string[] },
): AuditResult | undefined {
  if (!options.enabled) return undefined;
  const subject = auditSubject(csr, options.now, options.windowSeconds);
  if (!subject) return undefined;
  const issued = Boolean(csr.status?.certificate);
  if (subject === "ours-issued") {
    const check = checkCertificate(csr);
    return check.ok
      ? { subject, verdict: "pass", issued }
      : {
          subject,
          verdict: "violation",
          issued,
          certificateProblems: check.problems,
          alert: "certificate-mismatch",
        };
  }
  const decision = decideUndecided(asUndecided(csr));
  const verdict = auditVerdict(decision);
  return {
    subject,
    verdict,
    approvedBy: approverOf(csr),
    issued,
    decision,
    ...(verdict === "violation" ? { alert: "approved-elsewhere" as const } : {}),
  };
}
