// The CSR source of one cluster: one paginated LIST (through the Kubernetes adapter csrs.ts,
// which pages and halves oversized pages), keeping only what the sweep needs of decided CSRs;
// the watch that follows from the listing's resourceVersion (resume, reconnect, 410 → list
// again); and the choice of decided CSRs for the audit, which reads and never writes.
import {
  AUDIT_CERTIFICATES_PER_SWEEP,
  AUDIT_MAX_BYTES,
  AUDIT_MAX_PER_SWEEP,
  OldestFirst,
  approvedElsewhere,
  auditKey,
  auditSize,
  auditSubject,
  type AuditLedger,
} from "../core/audit.js";
import { checkIssuedCertificate } from "../core/certificate.js";
import { compactCsr } from "../core/request-size.js";
import { AlertHistory, ApprovedLedger, PendingSet, isDecided, type FollowUp } from "../core/fairness.js";
import { alertedKinds, followUpFor } from "../core/plan.js";
import type { ClusterPolicySettings, CsrObject } from "../core/types.js";
import { KubeError, type KubeApi, type ReadCsr, type WatchEventType } from "./csrs.js";
import type { ClusterSession } from "./session.js";

export interface Listing {
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
 * Lists the cluster with a client from `connect`. A token kept from an earlier sweep may have
 * been rotated away: on a 401, `forgetToken` drops it and one fresh client tries once more.
 */
export async function listCluster(
  connect: () => Promise<KubeApi>,
  forgetToken: () => void,
  settings: ClusterPolicySettings,
  now: () => Date,
  ledger: AuditLedger,
): Promise<{ kube: KubeApi; listing: Listing }> {
  const kube = await connect();
  try {
    return { kube, listing: await listCsrs(kube, settings, now, ledger) };
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 401)) throw err;
    forgetToken();
    const fresh = await connect();
    return { kube: fresh, listing: await listCsrs(fresh, settings, now, ledger) };
  }
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

export interface FollowOptions {
  /** Ends the watch (the window's end, or the deadline). */
  signal: AbortSignal;
  /** False once no more work should start (the window closed, or the Lambda's time is short). */
  timeLeft: () => boolean;
  reconnectDelayMs: number;
  /** Lists the cluster again (the resourceVersion was too old); false: the cluster failed. */
  relist: () => Promise<boolean>;
  onReconnect: () => void;
}

/**
 * Follows the cluster's CSRs from the session's resourceVersion while time is left. A
 * dropped watch resumes from the last resourceVersion it saw; only a 410 (too old: etcd
 * compacted it) costs a new LIST, which also decides what it finds.
 */
export async function follow(
  session: ClusterSession,
  onEvent: (type: WatchEventType, read: ReadCsr) => void,
  options: FollowOptions,
): Promise<void> {
  while (options.timeLeft()) {
    const kube = session.kube;
    if (!kube) break;
    const end = await kube.watchKubeletServingCsrs(onEvent, options.signal, session.resourceVersion);
    session.watchedTo(end.resourceVersion);
    if (!options.timeLeft()) break;
    options.onReconnect();
    await sleep(options.reconnectDelayMs, options.signal);
    if (end.expired && !(await options.relist())) break;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

// ---------------------------------------------------------------------------------------
// Which decided CSRs the audit examines (core/audit.ts)
// ---------------------------------------------------------------------------------------

const DEFAULT_AUDIT_WINDOW_SECONDS = 3600;

export function auditWindow(settings: ClusterPolicySettings): number {
  return settings.auditWindowSeconds ?? DEFAULT_AUDIT_WINDOW_SECONDS;
}

/** Approvals made elsewhere kept for one sweep's audit: oldest first, bounded in count and bytes. */
export function auditSet(): OldestFirst<ReadCsr> {
  return new OldestFirst<ReadCsr>(
    AUDIT_MAX_PER_SWEEP,
    (r) => r.csr,
    AUDIT_MAX_BYTES,
    (r) => auditSize(r.csr),
  );
}

/** Nothing is ever written to an audited CSR, so only its compact form is kept (no raw object). */
export function keptForAudit(read: ReadCsr): ReadCsr {
  const csr = compactCsr(read.csr, "audit");
  return { csr, raw: csr as ReadCsr["raw"] };
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
