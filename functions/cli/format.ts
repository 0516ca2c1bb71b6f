// Output of decisions: one JSON object per line (stable keys, for jq and scripts) or an
// aligned table for people.
import type { Decision } from "../core/types.js";

/** Every key is always present (null when unknown) so consumers need no existence checks. */
export function formatJsonLine(decision: Decision): string {
  return JSON.stringify({
    name: decision.name,
    decision: decision.decision,
    reasons: decision.reasons.map((reason) => ({ code: reason.code, message: reason.message })),
    node: decision.node ?? null,
    instanceId: decision.instanceId ?? null,
    requester: decision.requester ?? null,
    requestedSans: decision.requestedSans ?? null,
    owned: decision.owned ?? null,
  });
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

export function formatTable(decisions: Decision[]): string {
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
  if (details.length > 0) lines.push("", ...details);
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
