// How much of a CSR the approver reads and keeps (security-review finding 1). A kubelet's
// `spec.request` is under 3 KiB of base64; the apiserver accepts ~1.46 MB (under etcd's
// 1.5 MiB). A request beyond MAX_SPEC_REQUEST_CHARS is denied unread (REQUEST_TOO_LARGE), and
// what is kept of every CSR between listing and writing is its compact form: the fields the
// policy, the plan and the alerts read, never the oversized request, so memory follows the
// number of CSRs kept, not their size. Pure: no I/O.
import { approvalInEffect } from "./audit.js";
import type { CsrCondition, CsrObject } from "./types.js";

/** Characters of `spec.request` (base64 of the PEM, as served) beyond which a CSR is denied unread. */
export const MAX_SPEC_REQUEST_CHARS = 16 * 1024;

/**
 * The length of the CSR's request: the longer of the text present and `spec.requestLength`
 * (set by compactCsr when it dropped the text), so a compact form still says "too large"
 * and a stated length can never make a long request look short.
 */
export function requestLength(csr: unknown): number {
  const spec = (csr as { spec?: unknown } | null | undefined)?.spec;
  if (spec === null || typeof spec !== "object") return 0;
  const { request, requestLength: stated } = spec as { request?: unknown; requestLength?: unknown };
  const text = typeof request === "string" ? request.length : 0;
  const dropped = typeof stated === "number" && Number.isFinite(stated) ? stated : 0;
  return Math.max(text, dropped);
}

export function requestTooLarge(csr: unknown): boolean {
  return requestLength(csr) > MAX_SPEC_REQUEST_CHARS;
}

/**
 * What is kept of a listed CSR (`listed`: the default), or of an approval made elsewhere for
 * the audit (`audit`: never written to, so less is kept).
 */
export type CompactForm = "listed" | "audit";

/**
 * The compact form of a CSR as served: only what deciding, planning and alerting read. The
 * strings it keeps are the served object's own (no copies). An oversized request is replaced
 * by "" and its length; labels, annotations, managedFields and anything else the apiserver
 * added are left out. `listed` keeps every condition and a certificate up to
 * MAX_CERTIFICATE_CHARS (beyond it, a marker); `audit` keeps only the Approved condition in
 * effect, its texts cut to CONDITION_TEXT_KEPT, and only the marker of a certificate.
 * Compacting a compact form again gives the same result.
 */
export function compactCsr(raw: CsrObject, form: CompactForm = "listed"): CsrObject {
  const metadata = raw.metadata ?? ({} as CsrObject["metadata"]);
  const spec = raw.spec ?? ({} as CsrObject["spec"]);
  const tooLarge = requestTooLarge(raw);
  const status = raw.status;
  return {
    metadata: {
      name: metadata.name,
      ...pick(metadata, ["uid", "resourceVersion", "creationTimestamp"]),
    },
    spec: {
      signerName: spec.signerName,
      request: tooLarge ? "" : spec.request,
      ...(tooLarge ? { requestLength: requestLength(raw) } : {}),
      ...pick(spec, ["username", "uid", "groups", "usages", "expirationSeconds", "extra"]),
    },
    ...(status !== null && typeof status === "object"
      ? { status: form === "listed" ? listedStatus(status) : auditStatus(raw, status) }
      : {}),
  };
}

function listedStatus(status: NonNullable<CsrObject["status"]>): CsrObject["status"] {
  return {
    ...pick(status, ["conditions"]),
    // Kept for the check of our own issued certificates against their request
    // (a leaf is 1-2 KiB); one beyond the bound is only marked, and fails that check.
    ...(status.certificate
      ? { certificate: status.certificate.length <= MAX_CERTIFICATE_CHARS ? status.certificate : ISSUED }
      : {}),
  };
}

/** Characters of each text of the Approved condition the audit keeps (who approved, when). */
export const CONDITION_TEXT_KEPT = 1024;

function auditStatus(raw: CsrObject, status: NonNullable<CsrObject["status"]>): CsrObject["status"] {
  const approved = approvalInEffect(raw);
  const cut = (text: string) => text.slice(0, CONDITION_TEXT_KEPT);
  const condition: CsrCondition | undefined = approved && {
    type: approved.type,
    status: approved.status,
    ...(approved.reason !== undefined ? { reason: cut(approved.reason) } : {}),
    ...(approved.message !== undefined ? { message: cut(approved.message) } : {}),
    ...(approved.lastUpdateTime !== undefined ? { lastUpdateTime: cut(approved.lastUpdateTime) } : {}),
    ...(approved.lastTransitionTime !== undefined
      ? { lastTransitionTime: cut(approved.lastTransitionTime) }
      : {}),
  };
  return {
    ...(condition ? { conditions: [condition] } : {}),
    ...(status.certificate ? { certificate: ISSUED } : {}),
  };
}

/** What compactCsr keeps of a certificate beyond MAX_CERTIFICATE_CHARS: that there is one. */
const ISSUED = "(issued)";
/** Characters of `status.certificate` (base64 of the PEM chain) kept with a compact CSR. */
export const MAX_CERTIFICATE_CHARS = 16 * 1024;

function pick<T extends object, K extends keyof T>(from: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}
