// `npm start -- --keep --no-sweep`: the sandbox seeds the account and creates every CSR, decides
// none of them, and tells the operator how to point another approver (or kubectl, or this
// CLI through the kubeconfig) at the cluster.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keepInstructions, pendingCases } from "../../sandbox/run.js";
import {
  removeSandboxScenario,
  runSandboxScenario,
  type ScenarioRig,
  type ScenarioResult,
} from "../../sandbox/scenario.js";
import { rig } from "../rig/context.js";
import { conditionsOf } from "../support/sweep-world.js";

describe("the sandbox with --no-sweep", () => {
  let result: ScenarioResult;
  let sandboxRig: ScenarioRig;
  let stateDir: string;

  beforeAll(async () => {
    const handles = rig();
    sandboxRig = { cluster: handles.clusters[0]!, moto: handles.moto };
    stateDir = mkdtempSync(join(tmpdir(), "sandbox-no-sweep-"));
    result = await runSandboxScenario(sandboxRig, { prefix: "sandbox-nosweep", noSweep: true });
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
      expect(await conditionsOf(sandboxRig.cluster, verdict.case.csr), verdict.case.id).toEqual([]);
    }
    expect(result.alerts).toEqual([]);
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
      `sweep --dry-run --kubeconfig ${cluster.approver.kubeconfig} --cluster sandbox --cluster-vpc ${result.vpcId}`,
    );
  });
});
