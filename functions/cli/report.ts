// Output of `csr-approver sweep`: the SweepReport as one JSON document for scripts, or a
// table for people (one row per CSR the sweep looked at, then one line per cluster, then
// totals), and the exit-code rule both share.
import { alignedTable as table, cell } from "./format.js";
import type { ClusterOutcome, CsrAction, CsrOutcome, SweepReport } from "../sweep/report.js";

/** The sweep ran; whatever was decided. */
export const EXIT_OK = 0;
/** At least one cluster could not be swept, or a decision could not be written. */
export const EXIT_FAILED = 1;

/**
 * 1 when any cluster failed (discovery, credentials, listing) or any CSR's decision could not
 * be carried out (action `error`, e.g. a refused write): both mean the sweep did not do what
 * it decided. Deferred clusters only happen under a Lambda time budget, never in the CLI.
 */
export function sweepExitCode(report: SweepReport): number {
  const failed =
    report.clusters.some((cluster) => cluster.status === "failed") ||
    report.clusters.some((cluster) => cluster.csrs.some((csr) => csr.action === "error"));
  return failed ? EXIT_FAILED : EXIT_OK;
}

export function formatSweepJson(report: SweepReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

// Order of the totals line: what was written first, then what was only decided.
const TOTAL_ORDER: CsrAction[] = [
  "approved",
  "denied",
  "would-approve",
  "would-deny",
  "left-pending",
  "alerted",
  "approved-elsewhere",
  "flood-guarded",
  "held",
  "deferred",
  "waiting",
  "error",
  "audited",
  "skipped",
];

function clusterLabel(cluster: Pick<ClusterOutcome, "cluster" | "region">): string {
  // resolveClusters reports a whole region whose EKS listing failed as cluster "*".
  return cluster.cluster === "*" ? `*(${cluster.region || "no region"})` : cluster.cluster;
}

/**
 * Rows are the CSRs the sweep did something about; already-decided ones are only counted, and
 * so are approvals made elsewhere that the audit found in order (or could not settle yet).
 */
function csrRows(report: SweepReport): CsrOutcome[] {
  return report.clusters.flatMap((cluster) =>
    cluster.csrs.filter((csr) => csr.action !== "skipped" && csr.action !== "audited"),
  );
}

export interface TableOptions {
  /** The sweep ran with --dry-run: say so, since nothing was written anywhere. */
  readOnly?: boolean;
}

export function formatSweepTable(report: SweepReport, options: TableOptions = {}): string {
  const lines: string[] = [];
  const rows = csrRows(report);
  if (rows.length === 0) {
    lines.push("No pending kubelet-serving CSRs.");
  } else {
    lines.push(
      ...table(
        ["CLUSTER", "CSR", "NODE", "INSTANCE", "DECISION", "ACTION", "REASONS"],
        rows.map((csr) => [
          cell(csr.cluster),
          cell(csr.name),
          cell(csr.node),
          cell(csr.instanceId),
          csr.decision,
          csr.action,
          cell(csr.reasons.map((reason) => reason.code).join(",")),
        ]),
      ),
    );
    // The table names reasons; their sentences follow for everything not approved, with
    // any error that kept a decision from being carried out.
    const details = rows.flatMap((csr) => {
      const who = `${cell(csr.cluster)}/${cell(csr.name)}`;
      const reasons =
        csr.decision === "approve"
          ? []
          : csr.reasons.map((reason) => `${who}: ${reason.code}: ${cell(reason.message)}`);
      const approver =
        csr.approvedBy !== undefined ? [`${who}: approved elsewhere by ${cell(csr.approvedBy)}`] : [];
      return csr.error
        ? [...reasons, ...approver, `${who}: error: ${cell(csr.error)}`]
        : [...reasons, ...approver];
    });
    if (details.length > 0) lines.push("", ...details);
  }

  lines.push("");
  if (report.clusters.length === 0) {
    lines.push("No clusters to sweep.");
  } else {
    lines.push(
      ...table(
        ["CLUSTER", "SOURCE", "REGION", "MODE", "STATUS", "CSRS", "TIME"],
        report.clusters.map((cluster) => [
          cell(clusterLabel(cluster)),
          cluster.source,
          cell(cluster.region),
          cluster.mode,
          cluster.status + (cluster.floodGuardTripped ? " (flood guard)" : ""),
          String(cluster.csrs.length),
          `${cluster.durationMs}ms`,
        ]),
      ),
    );
    const failures = report.clusters.filter((cluster) => cluster.status === "failed");
    if (failures.length > 0) {
      lines.push(
        "",
        ...failures.map((cluster) => `${cell(clusterLabel(cluster))}: failed: ${cell(cluster.error)}`),
      );
    }
    const floods = report.clusters.flatMap((cluster) =>
      cluster.nodeFloods.map(
        (flood) =>
          `${cell(clusterLabel(cluster))}: node ${cell(flood.node)} has ${flood.pending} pending CSRs: only its newest ${flood.examined} examined (node flood guard)`,
      ),
    );
    if (floods.length > 0) lines.push("", ...floods);
  }

  lines.push("", totalsLine(report, options));
  return `${lines.join("\n")}\n`;
}

export function totalsLine(report: SweepReport, options: TableOptions = {}): string {
  const counts = TOTAL_ORDER.filter((action) => (report.totals[action] ?? 0) > 0).map(
    (action) => `${report.totals[action]} ${action}`,
  );
  const failed = report.clusters.filter((cluster) => cluster.status === "failed").length;
  const clusters = `${report.clusters.length} cluster${report.clusters.length === 1 ? "" : "s"}`;
  const readOnly = options.readOnly ? "; --dry-run: nothing was written" : "";
  return `Totals: ${counts.length > 0 ? counts.join(", ") : "no CSRs"}; ${clusters}, ${failed} failed; ${report.durationMs}ms${readOnly}`;
}
