// `npm start -- --keep --no-sweep`: the sandbox seeds the account and creates every CSR, decides
// none of them, and tells the operator how to point another approver (or kubectl, or this
// CLI through the kubeconfig) at the cluster. Nothing can be issued, so it waits for nothing.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { SweepReport } from "../../functions/sweep/report.js";
import { keepInstructions, pendingCases } from "../../sandbox/run.js";
import {
  removeSandboxScenario,
  runSandboxScenario,
  type ScenarioRig,
  type ScenarioResult,
} from "../../sandbox/scenario.js";
import { rig } from "../rig/context.js";
import { runCli } from "../support/cli.js";
import { conditionsOf } from "../support/sweep-world.js";

describe("the sandbox with --no-sweep", () => {
  let result: ScenarioResult;
  let sandboxRig: ScenarioRig;
  let stateDir: string;
  const progress: string[] = [];
  let elapsedMs = 0;

  beforeAll(async () => {
    const handles = rig();
    sandboxRig = { cluster: handles.clusters[0]!, moto: handles.moto };
    stateDir = mkdtempSync(join(tmpdir(), "sandbox-no-sweep-"));
    const started = Date.now();
    result = await runSandboxScenario(sandboxRig, {
      prefix: "sandbox-nosweep",
      noSweep: true,
      progress: (message) => progress.push(message),
    });
    elapsedMs = Date.now() - started;
  });

  afterAll(async () => {
    if (result) await removeSandboxScenario(sandboxRig, result);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("creates every case's CSR and leaves all of them pending, with nothing written or alerted", async () => {
    expect(result.cases.length).toBeGreaterThanOrEqual(10);
    expect(result.report.clusters).toEqual([]);
    for (const verdict of result.cases) {
      expect(verdict.stored, verdict.case.id).toBe("Pending");
      expect(verdict.issued, verdict.case.id).toBe(false);
      expect(await conditionsOf(sandboxRig.cluster, verdict.case.csr), verdict.case.id).toEqual([]);
    }
    expect(result.alerts).toEqual([]);
    expect(result.problems).toEqual([]);
  });

  it("does not wait for certificates nothing will approve: the kubelets' managers are stopped, none timed out", () => {
    expect(progress.some((m) => m.startsWith("not waiting for certificates"))).toBe(true);
    expect(progress.filter((m) => /waiting for the signer|checking each approved node/.test(m))).toEqual([]);
    // Waiting for them ended only at the managers' timeout (120 s) and recorded it per case.
    for (const verdict of result.cases) {
      expect(verdict.tls, verdict.case.id).toEqual([]);
      expect(verdict.problems, verdict.case.id).toEqual([]);
    }
    // Generous: the run itself takes seconds; the wait it no longer does took over 2 minutes.
    expect(elapsedMs).toBeLessThan(90_000);
  });

  it("prints the pending CSRs with what each should become, and how to point an approver at them", () => {
    const table = pendingCases(result);
    for (const verdict of result.cases) {
      const row = table.split("\n").find((line) => line.startsWith(`${verdict.case.id} `));
      expect(row, verdict.case.id).toContain(verdict.case.csr);
      expect(row, verdict.case.id).toContain("Pending");
      expect(row, verdict.case.id).toContain(verdict.case.expected.decision);
    }
    const cluster = sandboxRig.cluster;
    const text = keepInstructions(cluster, { moto: undefined }, result, stateDir, true);
    expect(text).toContain(`KUBECONFIG=${cluster.approver.kubeconfig}`);
    expect(text).toContain("certificate approve|deny");
    expect(text).toContain(
      `sweep --dry-run --kubeconfig ${cluster.approver.kubeconfig} --cluster sandbox --cluster-vpc ${result.vpcId} --config `,
    );
  });

  it("the printed CLI sweep (with the written config's nodeNameTemplates) would approve the kubespray node and not its hostile request", async () => {
    const cluster = sandboxRig.cluster;
    keepInstructions(cluster, { moto: undefined }, result, stateDir, true);
    const configFile = join(stateDir, "sandbox-config.yaml");
    const written = parse(readFileSync(configFile, "utf8")) as {
      selfManaged: { nodeNameTemplates?: string[] }[];
    };
    expect(written.selfManaged[0]?.nodeNameTemplates).toEqual(["{{tag:Name}}"]);
    const csrOf = (id: string) => result.cases.find((v) => v.case.id === id)?.case.csr ?? "";
    const run = await runCli(stateDir, [
      "sweep",
      "--dry-run",
      "--kubeconfig",
      cluster.approver.kubeconfig,
      "--cluster",
      "sandbox",
      "--cluster-vpc",
      result.vpcId,
      "--config",
      configFile,
      "--output",
      "json",
    ]);
    expect(run.code, run.stderr).toBe(0);
    const outcomes = (JSON.parse(run.stdout) as SweepReport).clusters.flatMap((c) => c.csrs);
    expect(outcomes.find((o) => o.name === csrOf("kubespray"))).toMatchObject({ action: "would-approve" });
    const hostile = outcomes.find((o) => o.name === csrOf("kubespray-ip"));
    expect(hostile?.decision).not.toBe("approve");
    expect(hostile?.reasons.map((r) => r.code)).toContain("IP_NOT_OWNED");
    // A dry run writes nothing.
    expect(await conditionsOf(cluster, csrOf("kubespray"))).toEqual([]);
  });
});
