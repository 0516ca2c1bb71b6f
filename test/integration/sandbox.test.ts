// The `npm start` scenario against the integration rig: the same function, an already-running
// rig. Every hostile request must be denied with its code (and alerted), every legitimate one
// approved, and what `npm start` prints must show each CSR.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { formatDecisions, formatJsonLines, formatScenario, formatServing } from "../../sandbox/print.js";
import { verifyServing } from "../../sandbox/tls.js";
import { REPO_ROOT } from "../rig/build.js";
import { cleanRigState, parseOptions } from "../../sandbox/run.js";
import {
  removeSandboxScenario,
  runSandboxScenario,
  type ScenarioRig,
  type ScenarioResult,
} from "../../sandbox/scenario.js";
import { settingsForCluster } from "../../functions/core/config.js";
import { conditionsOf } from "../support/sweep-world.js";
import { rig } from "../rig/context.js";

const EXPECTED: Record<string, { decision: "approve" | "deny"; codes?: string[]; first?: string }> = {
  "multi-eni": { decision: "approve" },
  "public-eip": { decision: "approve" },
  "dual-stack": { decision: "approve" },
  "resource-name": { decision: "approve" },
  "twin-new": { decision: "approve" },
  kubespray: { decision: "approve" },
  "other-ip": { decision: "deny", codes: ["IP_NOT_OWNED"] },
  "other-name": { decision: "deny", codes: ["DNS_NOT_OWNED"] },
  "metadata-ip": { decision: "deny", codes: ["IP_NOT_OWNED"] },
  "kubespray-ip": { decision: "deny", codes: ["IP_NOT_OWNED"] },
  "not-a-node": { decision: "deny", first: "NOT_A_NODE" },
  terminated: { decision: "deny", codes: ["INSTANCE_NOT_FOUND"] },
  "other-vpc": { decision: "deny", codes: ["FOREIGN_INSTANCE"] },
};

describe("npm start's scenario on the integration rig", () => {
  let result: ScenarioResult;
  let sandboxRig: ScenarioRig;

  beforeAll(async () => {
    const handles = rig();
    const cluster = handles.clusters[0];
    if (!cluster) throw new Error("the integration rig provides no cluster");
    sandboxRig = { cluster, moto: handles.moto };
    // A shared cluster: other test files may have left CSRs there; the scenario decides its own.
    result = await runSandboxScenario(sandboxRig, { prefix: "sandbox-it", onlyOwnCsrs: true });
  });

  // The rig is shared with the other integration files.
  afterAll(async () => {
    if (result) await removeSandboxScenario(sandboxRig, result);
  });

  it("runs every case it promises, hostile and legitimate", () => {
    expect(result.cases.map((v) => v.case.id).sort()).toEqual(Object.keys(EXPECTED).sort());
    expect(result.report.clusters.map((c) => [c.cluster, c.status])).toEqual([["sandbox", "ok"]]);
  });

  it("denies every hostile request with its reason, writes Denied and publishes one alert each", async () => {
    for (const verdict of result.cases.filter((v) => v.case.kind === "hostile")) {
      const want = EXPECTED[verdict.case.id];
      const codes = verdict.outcome?.reasons.map((r) => r.code);
      expect(verdict.outcome?.action, verdict.case.id).toBe("denied");
      if (want?.codes) expect(codes, verdict.case.id).toEqual(want.codes);
      if (want?.first) expect(codes?.[0], verdict.case.id).toBe(want.first);
      // Read again here, independently of the scenario's own read-back.
      const conditions = await conditionsOf(rig().clusters[0]!, verdict.case.csr);
      expect(
        conditions.map((c) => c.type),
        verdict.case.id,
      ).toEqual(["Denied", "CsrApproverAlerted"]);
      expect(
        verdict.alerts.map((a) => a.decision),
        verdict.case.id,
      ).toEqual(["deny"]);
      expect(verdict.alerts[0]?.reasonCodes, verdict.case.id).toEqual(codes);
      expect(verdict.alerts[0]?.title, verdict.case.id).not.toBe("");
    }
  });

  it("approves every legitimate request without an alert", async () => {
    const legitimate = result.cases.filter((v) => v.case.kind === "legitimate");
    expect(legitimate).toHaveLength(6);
    for (const verdict of legitimate) {
      expect(verdict.outcome, verdict.case.id).toMatchObject({ decision: "approve", action: "approved" });
      const conditions = await conditionsOf(rig().clusters[0]!, verdict.case.csr);
      expect(
        conditions.map((c) => c.type),
        verdict.case.id,
      ).toEqual(["Approved"]);
      expect(verdict.alerts, verdict.case.id).toEqual([]);
    }
    // The twin reusing a terminated instance's IP is approved as the running instance.
    const twin = result.cases.find((v) => v.case.id === "twin-new");
    const running = result.instances.find((i) => i.label === "twin-new");
    expect(twin?.outcome?.instanceId).toBe(running?.instanceId);
  });

  it("identifies the kubespray node by its instance's Name tag (nodeNameTemplates), and only that instance", () => {
    const node1 = result.instances.find((i) => i.label === "node1");
    expect(node1?.nodeName).toBe("sandbox-it-node1");
    // Not a name EC2 gives the instance: only the template can name it.
    expect(node1?.nodeName).not.toBe(node1?.node);
    expect(node1?.nodeName).not.toContain(node1?.instanceId ?? "?");
    expect(settingsForCluster(result.config, "sandbox", "self-managed").nodeNameTemplates).toEqual([
      "{{tag:Name}}",
    ]);
    const kubespray = result.cases.find((v) => v.case.id === "kubespray");
    expect(kubespray?.outcome).toMatchObject({ node: node1?.nodeName, instanceId: node1?.instanceId });
    // A kubelet without a cloud provider: its IP and its hostname, nothing else.
    expect(kubespray?.case.addresses).toEqual([
      { type: "InternalIP", address: node1?.privateIps[0] },
      { type: "Hostname", address: node1?.nodeName },
    ]);
    // The same node asking for a neighbour's IP is found as that instance, and denied.
    const hostile = result.cases.find((v) => v.case.id === "kubespray-ip");
    expect(hostile?.outcome).toMatchObject({ instanceId: node1?.instanceId, action: "denied" });
    expect(hostile?.outcome?.reasons[0]?.message).toContain(node1?.instanceId);
  });

  it("issues each legitimate request (the kubelet's own CSR) and verifies it over TLS as metrics-server does; no certificate for any hostile one", async () => {
    for (const verdict of result.cases) {
      if (verdict.case.kind === "hostile") {
        expect(verdict.issued, verdict.case.id).toBe(false);
        expect(verdict.tls, verdict.case.id).toEqual([]);
        continue;
      }
      expect(verdict.issued, verdict.case.id).toBe(true);
      const addresses = verdict.case.addresses ?? [];
      const internalIp = addresses.find((a) => a.type === "InternalIP")?.address;
      // Its DNS name: InternalDNS (AWS cloud provider), else the Hostname (kubespray).
      const internalDns =
        addresses.find((a) => a.type === "InternalDNS")?.address ??
        addresses.find((a) => a.type === "Hostname")?.address;
      expect(
        verdict.tls.map((t) => [t.dialled, t.ok]),
        verdict.case.id,
      ).toEqual([
        [internalIp, true],
        [internalDns, true],
      ]);
    }
    // Each legitimate CSR came from the kubelet's manager with the AWS cloud provider's addresses.
    const multi = result.cases.find((v) => v.case.id === "multi-eni");
    expect(multi?.case.addresses?.filter((a) => a.type === "InternalIP").length).toBeGreaterThanOrEqual(4);
    // The check means something: another node's address, or another CA, fails it.
    const publicEip = result.cases.find((v) => v.case.id === "public-eip");
    const otherIp = publicEip?.case.addresses?.find((a) => a.type === "InternalIP")?.address ?? "";
    const wrongNode = await verifyServing({
      certFile: multi!.certFile!,
      caPem: rig().clusters[0]!.signingCaPem,
      dialled: otherIp,
    });
    expect(wrongNode).toMatchObject({ ok: false, error: expect.stringContaining(otherIp) });
    const wrongCa = await verifyServing({
      certFile: multi!.certFile!,
      caPem: readFileSync(rig().clusters[0]!.info.clientCaFile, "utf8"),
      dialled: multi!.tls[0]!.dialled,
    });
    expect(wrongCa.ok).toBe(false);
    expect(wrongCa.error).toMatch(/issuer|verify/i);
    const serving = formatServing(result);
    writeFileSync(join(REPO_ROOT, ".rig", "sandbox-serving.txt"), serving);
    for (const verdict of result.cases) expect(serving, verdict.case.id).toContain(verdict.case.id);
  });

  it("README.md and docs/sandbox.md show this table as it is printed (instance IDs and the user prefix aside)", () => {
    const normalize = (text: string) =>
      text
        .split("\n")
        .map((line) =>
          line
            .replace(/i-[0-9a-f]{17}/g, "i-ID")
            .replace(/sandbox-it-(ci-bot|node1)/g, "sandbox-$1")
            .replace(/\s+/g, " ")
            .trim(),
        )
        .filter((line) => line && !line.startsWith("```"));
    const printed = normalize(formatServing(result));
    for (const doc of ["README.md", "docs/sandbox.md"]) {
      const text = readFileSync(join(REPO_ROOT, doc), "utf8");
      const start = text.indexOf("Serving certificates, checked as metrics-server does");
      expect(start, doc).toBeGreaterThan(0);
      const block = text.slice(start).split(/\n\s*\n/)[0] ?? "";
      expect(normalize(block), doc).toEqual(printed);
    }
  });

  it("reports no problem, and its output shows each CSR", () => {
    expect(result.problems).toEqual([]);
    const decisions = formatDecisions(result);
    const everything = formatScenario(result);
    for (const verdict of result.cases) {
      const row = decisions.split("\n").find((line) => line.startsWith(`${verdict.case.id} `));
      expect(row, verdict.case.id).toContain(verdict.case.csr);
      expect(row, verdict.case.id).toContain(verdict.case.kind === "hostile" ? "denied" : "approved");
      expect(row, verdict.case.id).toMatch(/ ok$/);
      expect(everything).toContain(verdict.case.csr);
    }
    expect(everything).toContain("OK: all 7 hostile requests were denied");
    const lines = formatJsonLines(result)
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { csr: string; ok: boolean });
    expect(lines.map((l) => l.csr).sort()).toEqual(result.cases.map((v) => v.case.csr).sort());
    expect(lines.every((l) => l.ok)).toBe(true);
  });

  it("shows one approval made elsewhere: one approved-elsewhere alert, nothing written, the next sweep silent", () => {
    const e = result.elsewhere!;
    expect(e).toBeDefined();
    expect(e.problems).toEqual([]);
    expect(e.outcome).toMatchObject({ action: "approved-elsewhere", audit: "violation" });
    expect(e.outcome?.reasons.map((r) => r.code)).toEqual(["IP_NOT_OWNED"]);
    expect(e.alerts.map((a) => a.attributes.alertKind)).toEqual(["approved-elsewhere"]);
    expect(e.laterAlerts).toBe(0);
    expect(e.conditions).toEqual(["Approved"]);
    const printed = formatScenario(result);
    expect(printed).toContain("Approved elsewhere: the audit of an approval another approver made");
    expect(printed).toContain("approved by RubberStamp: approved every pending CSR");
  });
});

describe("npm start's options", () => {
  it("parses the four flags and rejects anything else", () => {
    expect(parseOptions([])).toEqual({ keep: false, noSweep: false, json: false, clean: false, help: false });
    expect(parseOptions(["--keep", "--no-sweep"])).toMatchObject({ keep: true, noSweep: true });
    expect(() => parseOptions(["--no-sweep"])).toThrow(/needs --keep/);
    expect(parseOptions(["--keep", "--json"])).toMatchObject({ keep: true, json: true });
    expect(parseOptions(["--clean"]).clean).toBe(true);
    expect(parseOptions(["-h"]).help).toBe(true);
    expect(() => parseOptions(["--kep"])).toThrow(/kep/);
    expect(() => parseOptions(["extra"])).toThrow();
  });

  it("--clean removes a rig state directory, but not while a live process uses it", () => {
    const dir = mkdtempSync(join(tmpdir(), "sandbox-clean-"));
    const quiet = [vi.spyOn(process.stdout, "write"), vi.spyOn(process.stderr, "write")];
    quiet.forEach((spy) => spy.mockImplementation(() => true));
    try {
      // A rig run of a live process (our parent), then a build of one: both block the clean.
      mkdirSync(join(dir, `run-${process.ppid}`, "cluster-1"), { recursive: true });
      expect(cleanRigState(dir)).toBe(1);
      expect(existsSync(join(dir, `run-${process.ppid}`))).toBe(true);
      rmSync(join(dir, `run-${process.ppid}`), { recursive: true });
      mkdirSync(join(dir, "bin", `.tmp-${process.ppid}`), { recursive: true });
      expect(cleanRigState(dir)).toBe(1);
      rmSync(join(dir, "bin", `.tmp-${process.ppid}`), { recursive: true });
      // Leftovers of dead runs do not block it (pid 2^22+1 is above Linux's pid_max).
      mkdirSync(join(dir, "sandbox-4194305"), { recursive: true });
      mkdirSync(join(dir, "venv"), { recursive: true });
      expect(cleanRigState(dir)).toBe(0);
      expect(existsSync(dir)).toBe(false);
      expect(cleanRigState(dir)).toBe(0);
    } finally {
      quiet.forEach((spy) => spy.mockRestore());
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
