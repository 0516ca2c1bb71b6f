// Output of decisions: one JSON object per line (stable keys, for jq and scripts) or an
// aligned table for people.
import type { AuditResult } from "../core/audit.js";
import type { Decision } from "../core/types.js";

/**
 * Every key is always present (null when unknown) so consumers need no existence checks.
 * `audit`: for a decided CSR the audit looks at (approved elsewhere, or our own once issued),
 * what it finds: `verdict` pass | violation | inconclusive, and the alert the sweep sends.
 */
export function formatJsonLine(decision: Decision, audit?: AuditResult): string {
  return JSON.stringify({
    name: decision.name,
    decision: decision.decision,
    reasons: decision.reasons.map((reason) => ({ code: reason.code, message: reason.message })),
    node: decision.node ?? null,
    instanceId: decision.instanceId ?? null,
    requester: decision.requester ?? null,
    requestedSans: decision.requestedSans ?? null,
    owned: decision.owned ?? null,
    audit: audit ? auditJson(audit) : null,
  });
}

function auditJson(audit: AuditResult): Record<string, unknown> {
  return {
    subject: audit.subject,
    verdict: audit.verdict,
    alert: audit.alert ?? null,
    approvedBy: audit.approvedBy ?? null,
    certificateIssued: audit.issued,
    reasons: (audit.decision?.reasons ?? []).map((r) => ({ code: r.code, message: r.message })),
    certificateProblems: audit.certificateProblems ?? [],
  };
}

/**
 * The one sanitiser of every table cell (evaluate and sweep): CSR names, node names and
 * messages come from the cluster, so no control character may reach a terminal, and no
 * bidirectional override or invisible character may make one name read as another.
 */
export function cell(value: string | undefined): string {
  if (value === undefined || value === "") return "-";
  return [...value].map((char) => (TERMINAL_UNSAFE.test(char) ? "?" : char)).join("");
}
const TERMINAL_UNSAFE = /[\p{Cc}\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/u;

export function formatTable(decisions: Decision[], audits: (AuditResult | undefined)[] = []): string {
  const header = ["NAME", "NODE", "INSTANCE", "DECISION", "REASONS"];
  const rows = decisions.map((decision) => [
    cell(decision.name),
    cell(decision.node),
    cell(decision.instanceId),
    decision.decision,
    cell(decision.reasons.map((reason) => reason.code).join(",")),
  ]);
  const lines = alignedTable(header, rows);
  // The table only names the reasons; their sentences follow, one per line, for deny and wait.
  const details = decisions.flatMap((decision) =>
    decision.decision === "deny" || decision.decision === "wait"
      ? decision.reasons.map((reason) => `${cell(decision.name)}: ${reason.code}: ${cell(reason.message)}`)
      : [],
  );
  // Decided CSRs the audit looked at: its verdict, who approved, and why it fails.
  const audited = decisions.flatMap((decision, i) => {
    const audit = audits[i];
    if (!audit) return [];
    const who = audit.approvedBy
      ? ` (approved elsewhere: ${cell(audit.approvedBy.reason)}: ${cell(audit.approvedBy.message)})`
      : " (approved by csr-approver)";
    const why =
      audit.verdict === "pass"
        ? []
        : [
            ...(audit.decision?.reasons ?? []).map((r) => `  ${r.code}: ${cell(r.message)}`),
            ...(audit.certificateProblems ?? []).map((p) => `  ${cell(p)}`),
          ];
    return [
      `${cell(decision.name)}: audit ${audit.verdict}${audit.alert ? ` → ${audit.alert} alert` : ""}${who}; certificate ${audit.issued ? "issued" : "not issued"}`,
      ...why,
    ];
  });
  if (details.length > 0) lines.push("", ...details);
  if (audited.length > 0) lines.push("", ...audited);
  return `${lines.join("\n")}\n`;
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function alignedTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (row: string[]): string =>
    row
      .map((value, column) => (column === row.length - 1 ? value : value.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
