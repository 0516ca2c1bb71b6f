// What `npm start` prints: the seeded account, the sweep's decisions, the state read back
// from the apiserver, the alerts read back from the topic, and the verdict. Tables in the
// style of `csr-approver sweep` (functions/cli/report.ts); JSON lines for --json.
import { alignedTable as table } from "../functions/cli/format.js";
import type { CsrOutcome } from "../functions/sweep/report.js";
import type { CaseVerdict, ScenarioResult } from "./scenario.js";

/** Values come from the cluster and AWS: no control character reaches a terminal. */
export function cell(value: string | undefined): string {
  if (value === undefined || value === "") return "-";
  return [...value].map((char) => (/\p{Cc}/u.test(char) ? "?" : char)).join("");
}

export function clip(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max - 1)}…`;
}

function heading(title: string): string[] {
  return ["", title, "─".repeat(Math.min(title.length, 100))];
}

function caseRank(result: ScenarioResult, csr: string): number {
  const index = result.cases.findIndex((v) => v.case.csr === csr);
  return index < 0 ? result.cases.length : index;
}

function codes(outcome: CsrOutcome | undefined): string {
  return outcome?.reasons.map((r) => r.code).join(",") ?? "";
}

export function formatAccount(result: ScenarioResult): string {
  const lines = heading(
    `The account (moto): cluster VPC ${result.vpcId}, another VPC ${result.otherVpcId}, alert topic ${result.topicArn}`,
  );
  lines.push(
    ...table(
      ["INSTANCE", "NAME", "STATE", "NODE NAME", "PRIVATE IPS", "PUBLIC IPS", "IPV6"],
      result.instances.map((i) => [
        i.instanceId,
        i.label,
        i.state,
        cell(i.nodeName),
        cell(i.privateIps.join(",")),
        cell(i.publicIps.join(",")),
        cell(i.ipv6.join(",")),
      ]),
    ),
  );
  return `${lines.join("\n")}\n`;
}

export function formatDecisions(result: ScenarioResult): string {
  const cluster = result.report.clusters.find((c) => c.cluster === result.clusterName);
  const lines = heading(
    `Decisions of the sweep (runSweep) on cluster "${result.clusterName}": ${cluster?.csrs.length ?? 0} CSRs in ${result.report.durationMs} ms`,
  );
  const byName = new Map(result.cases.map((v) => [v.case.csr, v]));
  // In the order the cases were told (the sweep reports by CSR name); others after them.
  const rank = (name: string) => caseRank(result, name);
  const outcomes = result.report.clusters
    .flatMap((c) => c.csrs)
    .sort((x, y) => rank(x.name) - rank(y.name) || x.name.localeCompare(y.name));
  const rows = outcomes.map((o) => {
    const verdict = byName.get(o.name);
    return [
      verdict?.case.id ?? "-",
      cell(o.name),
      cell(o.node),
      cell(o.requester),
      cell(o.instanceId),
      o.action,
      cell(codes(o)),
      verdict ? (verdict.problems.length === 0 ? "ok" : "WRONG") : "-",
    ];
  });
  // A case the sweep never reported still gets its row: that is a failure to see.
  for (const verdict of result.cases.filter((v) => !v.outcome)) {
    rows.push([
      verdict.case.id,
      verdict.case.csr,
      "-",
      cell(verdict.case.requester),
      "-",
      "not reported",
      "-",
      "WRONG",
    ]);
  }
  lines.push(
    ...table(["CASE", "CSR", "NODE", "REQUESTER", "INSTANCE", "DECISION", "REASONS", "AS EXPECTED"], rows),
  );

  lines.push("", "The cases:");
  lines.push(
    ...table(
      ["  CASE", "KIND", "EXPECTED", "WHAT"],
      result.cases.map((v) => [
        `  ${v.case.id}`,
        v.case.kind,
        v.case.expected.decision + (v.case.expected.code ? ` ${v.case.expected.code}` : ""),
        v.case.story,
      ]),
    ),
  );
  const denied = outcomes.filter((o) => o.decision !== "approve" && o.reasons.length > 0);
  if (denied.length > 0) {
    lines.push("", "Why (the reasons written into each Denied condition):");
    for (const o of denied) {
      const id = byName.get(o.name)?.case.id ?? o.name;
      for (const reason of o.reasons) lines.push(`  ${id}: ${reason.code}: ${cell(reason.message)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export function formatStoredState(result: ScenarioResult): string {
  const lines = heading("Read back from the apiserver (status.conditions, as the cluster admin)");
  lines.push(
    ...table(
      ["CASE", "CSR", "CONDITION", "REASON", "MESSAGE"],
      result.cases.map((v) => [
        v.case.id,
        v.case.csr,
        v.stored,
        cell(v.storedCondition?.reason),
        clip(cell(v.storedCondition?.message), 90),
      ]),
    ),
  );
  return `${lines.join("\n")}\n`;
}

export function formatAlerts(result: ScenarioResult): string {
  const lines = heading(
    `Alerts that reached the SNS topic (read through its SQS subscription): ${result.alerts.length}`,
  );
  if (result.alerts.length === 0) {
    lines.push("none");
  } else {
    const caseOf = new Map(result.cases.map((v) => [v.case.csr, v.case.id]));
    lines.push(
      ...table(
        ["CASE", "CSR", "REASON CODES", "TITLE", "SNS MESSAGE ATTRIBUTES"],
        [...result.alerts]
          .sort((x, y) => caseRank(result, x.csr) - caseRank(result, y.csr))
          .map((a) => [
            caseOf.get(a.csr) ?? "-",
            cell(a.csr),
            cell(a.reasonCodes.join(",")),
            cell(a.title),
            cell(
              Object.entries(a.attributes)
                .sort(([x], [y]) => x.localeCompare(y))
                .map(([key, value]) => `${key}=${value}`)
                .join(" "),
            ),
          ]),
      ),
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The seed's promise: each approved node serves a certificate metrics-server accepts. */
export function formatServing(result: ScenarioResult): string {
  const lines = heading(
    "Serving certificates, checked as metrics-server does (TLS client trusting only the cluster CA)",
  );
  const rows: string[][] = [];
  for (const v of result.cases) {
    const node = v.outcome?.node ?? v.case.requester.replace(/^system:node:/, "");
    const certificate = v.issued ? "issued" : "none issued";
    if (v.tls.length === 0) {
      rows.push([v.case.id, cell(node), "-", certificate, `- (${v.stored})`]);
      continue;
    }
    for (const check of v.tls)
      rows.push([
        v.case.id,
        cell(node),
        cell(check.dialled),
        certificate,
        check.ok ? `verified (${cell(check.protocol)})` : `FAILED: ${clip(cell(check.error), 60)}`,
      ]);
  }
  lines.push(...table(["CASE", "NODE", "DIALLED AS", "CERTIFICATE", "TLS"], rows));
  return `${lines.join("\n")}\n`;
}

/** The audit: an approval made elsewhere, its one alert, and nothing written to it. */
export function formatElsewhere(result: ScenarioResult): string {
  const e = result.elsewhere;
  if (!e) return "";
  const lines = heading("Approved elsewhere: the audit of an approval another approver made");
  lines.push(
    `${cell(e.csr)}: ${cell(e.story)}`,
    `  approved by ${cell(e.approvedBy)} (the Approved condition's reason and message)`,
    `  next sweep: ${e.outcome?.action ?? "-"} (${codes(e.outcome)}); alerts: ${
      e.alerts.map((a) => `${cell(a.title)} [${cell(a.reasonCodes.join(","))}]`).join("; ") || "none"
    }`,
    `  the sweep after: ${e.laterAlerts} alert(s); conditions on the CSR: ${cell(e.conditions.join(", "))} (nothing written by the approver)`,
  );
  return `${lines.join("\n")}\n`;
}

export function formatVerdict(result: ScenarioResult): string {
  const hostile = result.cases.filter((v) => v.case.kind === "hostile");
  const legitimate = result.cases.filter((v) => v.case.kind === "legitimate");
  const lines = [""];
  if (result.problems.length === 0) {
    lines.push(
      `OK: all ${hostile.length} hostile requests were denied with the expected reason and alerted, and got no certificate; all ${legitimate.length} legitimate requests were approved, issued, and verified over TLS at the node's IP and DNS name.`,
    );
  } else {
    lines.push(`FAILED: ${result.problems.length} thing(s) did not go as they must:`);
    lines.push(...result.problems.map((p) => `  - ${cell(p)}`));
  }
  lines.push(...result.notes.map((note) => `Note: ${note}`));
  return `${lines.join("\n")}\n`;
}

export function formatScenario(result: ScenarioResult): string {
  return [
    formatAccount(result),
    formatDecisions(result),
    formatStoredState(result),
    formatAlerts(result),
    formatServing(result),
    formatElsewhere(result),
    formatVerdict(result),
  ].join("");
}

/** One JSON object per case, every key always present. */
export function formatJsonLines(result: ScenarioResult): string {
  return result.cases.map((v) => `${JSON.stringify(jsonOf(v))}\n`).join("");
}

function jsonOf(v: CaseVerdict): Record<string, unknown> {
  return {
    case: v.case.id,
    kind: v.case.kind,
    story: v.case.story,
    expected: { decision: v.case.expected.decision, code: v.case.expected.code ?? null },
    csr: v.case.csr,
    node: v.outcome?.node ?? null,
    requester: v.outcome?.requester ?? v.case.requester,
    instanceId: v.outcome?.instanceId ?? null,
    decision: v.outcome?.decision ?? null,
    action: v.outcome?.action ?? null,
    reasons: (v.outcome?.reasons ?? []).map((r) => ({ code: r.code, message: r.message })),
    stored: v.stored,
    alerts: v.alerts.map((a) => ({ title: a.title, reasonCodes: a.reasonCodes })),
    issued: v.issued,
    tls: v.tls.map((t) => ({ dialled: t.dialled, ok: t.ok, error: t.error ?? null })),
    ok: v.problems.length === 0,
    problems: v.problems,
  };
}

export function formatNextSteps(): string {
  return [
    "",
    "Next:",
    "  Point the same sweep at your own clusters, read-only, with your AWS credentials:",
    "    npx --no-install csr-approver sweep --dry-run --config my-config.yaml",
    "  (start from config/example.yaml; every key is in docs/configuration.md; the CLI in docs/cli.md)",
    "  Deploy it (one Lambda per AWS account, scheduled and event-driven): docs/deployment.md",
    "  Keep this sandbox running to poke at it: npm start -- --keep",
    "",
  ].join("\n");
}
