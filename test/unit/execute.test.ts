// The executor (functions/sweep/execute.ts) against an in-memory Kubernetes client and alert
// publisher that record every call in one ordered log: no denial without its alert, a failed
// publish leaves the CSR pending, 409s re-read and re-decide, dry-run writes nothing. The
// plans come from the real planner (core/fairness.ts); the rig tests cover the HTTP edge.
import { describe, expect, it } from "vitest";
import type { AlertContext } from "../../functions/core/alert.js";
import { planCluster, type ClusterPlan } from "../../functions/core/fairness.js";
import { ALERTED_CONDITION } from "../../functions/core/plan.js";
import type {
  ClusterPolicySettings,
  CsrCondition,
  CsrObject,
  Decision,
  DenyCode,
} from "../../functions/core/types.js";
import { KUBELET_SERVING_SIGNER } from "../../functions/core/types.js";
import { KubeError, type KubeApi, type ReadCsr } from "../../functions/sweep/csrs.js";
import { execute, type ExecuteContext } from "../../functions/sweep/execute.js";
import type { AlertPublisher } from "../../functions/sweep/publish.js";
import { newSession } from "../../functions/sweep/session.js";
import { cluster, settings as policySettings } from "./policy-fixtures.js";

const NOW = new Date("2026-01-01T00:30:00Z");

type Call =
  | { op: "publish"; kind: string; csr?: string }
  | { op: "flood-guard" }
  | { op: "write"; csr: string; types: string[] }
  | { op: "read"; csr: string };

/** An in-memory API server: CSRs by name, each write bumps the resourceVersion (409 on a stale one). */
class FakeKube implements Pick<KubeApi, "readCsr" | "replaceConditions"> {
  readonly csrs = new Map<string, CsrObject>();
  /** Writes to answer with this error before they reach the store (one entry per write). */
  readonly failWrites: (KubeError | undefined)[] = [];
  constructor(private readonly calls: Call[]) {}

  add(csr: CsrObject): ReadCsr {
    this.csrs.set(csr.metadata.name, csr);
    return { csr };
  }

  async readCsr(name: string): Promise<ReadCsr> {
    this.calls.push({ op: "read", csr: name });
    const csr = this.csrs.get(name);
    if (!csr) throw new KubeError(404, `${name} not found`);
    return { csr };
  }

  async replaceConditions(read: ReadCsr, conditions: CsrCondition[]): Promise<ReadCsr> {
    const name = read.csr.metadata.name;
    this.calls.push({ op: "write", csr: name, types: conditions.map((c) => c.type) });
    const injected = this.failWrites.shift();
    if (injected) throw injected;
    const stored = this.csrs.get(name)!;
    if (stored.metadata.resourceVersion !== read.csr.metadata.resourceVersion) {
      throw new KubeError(409, `${name}: the object has been modified`);
    }
    const next = Number(stored.metadata.resourceVersion ?? "0") + 1;
    const written: CsrObject = {
      ...stored,
      metadata: { ...stored.metadata, resourceVersion: String(next) },
      status: { ...stored.status, conditions },
    };
    this.csrs.set(name, written);
    return { csr: written };
  }

  /** Someone else changed the CSR (a new resourceVersion, the same content unless given). */
  touch(name: string, change: Partial<CsrObject> = {}): void {
    const stored = this.csrs.get(name)!;
    const next = Number(stored.metadata.resourceVersion ?? "0") + 1;
    this.csrs.set(name, {
      ...stored,
      ...change,
      metadata: { ...stored.metadata, resourceVersion: String(next) },
    });
  }
}

class FakePublisher implements AlertPublisher {
  failing = false;
  constructor(private readonly calls: Call[]) {}
  async publish(ctx: Omit<AlertContext, "account">): Promise<void> {
    if (this.failing) throw new Error("injected SNS failure");
    this.calls.push({ op: "publish", kind: ctx.kind, ...(ctx.decision ? { csr: ctx.decision.name } : {}) });
  }
  async publishFloodGuard(): Promise<void> {
    if (this.failing) throw new Error("injected SNS failure");
    this.calls.push({ op: "flood-guard" });
  }
}

function csr(name: string, node: string, created = "2026-01-01T00:10:00Z"): CsrObject {
  return {
    metadata: { name, uid: `uid-${name}`, resourceVersion: "1", creationTimestamp: created },
    spec: { signerName: KUBELET_SERVING_SIGNER, request: "", username: `system:node:${node}` },
  };
}

function deny(c: CsrObject, code: DenyCode = "INSTANCE_NOT_FOUND"): Decision {
  const node = c.spec.username!.slice("system:node:".length);
  return {
    name: c.metadata.name,
    decision: "deny",
    reasons: [{ code, message: code }],
    node,
    requester: c.spec.username!,
  };
}

function approve(c: CsrObject, instanceId: string): Decision {
  const node = c.spec.username!.slice("system:node:".length);
  return {
    name: c.metadata.name,
    decision: "approve",
    reasons: [],
    node,
    requester: c.spec.username!,
    instanceId,
  };
}

function world(overrides: Partial<ClusterPolicySettings> = {}) {
  const calls: Call[] = [];
  const kube = new FakeKube(calls);
  const alerts = new FakePublisher(calls);
  const session = newSession();
  const settings = policySettings({ pendingGraceSeconds: 1, ...overrides });
  const decisions = new Map<string, Decision>();
  const plan = (reads: ReadCsr[]): ClusterPlan<ReadCsr> =>
    planCluster({
      candidates: reads.map((r) => ({ item: r, csr: r.csr, decision: decisions.get(r.csr.metadata.name)! })),
      followUps: [],
      overflows: [],
      approved: session.approved,
      history: session.history,
      settings,
      nodeCount: 10,
      now: NOW,
    });
  const ctx = (more: Partial<ExecuteContext> = {}): ExecuteContext => ({
    cluster: cluster(),
    settings,
    kube,
    alerts,
    log: { info: () => {}, warn: () => {}, error: () => {} },
    session,
    readOnly: false,
    now: () => NOW,
    // The policy, again, after a 409: what `decisions` says now.
    decide: (read) => decisions.get(read.csr.metadata.name)!,
    retryDelayMs: () => 0,
    ...more,
  });
  return { calls, kube, alerts, session, decisions, plan, ctx };
}

const conditionTypes = (c: CsrObject | undefined) => (c?.status?.conditions ?? []).map((x) => x.type);

describe("executor: no denial without its alert", () => {
  it("publishes every denial's alert before writing that denial", async () => {
    const w = world();
    const reads = ["a", "b", "c"].map((n, i) =>
      w.kube.add(csr(`csr-${n}`, `ghost-${n}`, `2026-01-01T00:1${i}:00Z`)),
    );
    for (const r of reads) w.decisions.set(r.csr.metadata.name, deny(r.csr));
    const done = await execute(w.ctx(), w.plan(reads));
    expect(done.csrs.map((o) => o.action)).toEqual(["denied", "denied", "denied"]);
    expect(done.alertsSent).toBe(3);
    for (const r of reads) {
      const name = r.csr.metadata.name;
      const published = w.calls.findIndex((c) => c.op === "publish" && c.csr === name);
      const written = w.calls.findIndex((c) => c.op === "write" && c.csr === name);
      expect(published).toBeGreaterThanOrEqual(0);
      expect(written).toBeGreaterThan(published);
      expect(w.calls[written]).toMatchObject({ types: ["Denied", ALERTED_CONDITION] });
      expect(conditionTypes(w.kube.csrs.get(name))).toEqual(["Denied", ALERTED_CONDITION]);
    }
  });

  it("a failed publish leaves the CSR un-denied and waiting, with why", async () => {
    const w = world();
    const read = w.kube.add(csr("csr-bad", "ghost"));
    w.decisions.set("csr-bad", deny(read.csr));
    w.alerts.failing = true;
    const done = await execute(w.ctx(), w.plan([read]));
    expect(done.csrs).toEqual([
      expect.objectContaining({
        name: "csr-bad",
        decision: "wait",
        action: "waiting",
        error: "alert not published: injected SNS failure",
      }),
    ]);
    expect(w.calls.filter((c) => c.op === "write")).toEqual([]);
    expect(conditionTypes(w.kube.csrs.get("csr-bad"))).toEqual([]);
    expect(done.alertsSent).toBe(0);
  });

  it("without an alert topic a denial waits too (approvals do not need one)", async () => {
    const w = world();
    const bad = w.kube.add(csr("csr-bad", "ghost"));
    const good = w.kube.add(csr("csr-good", "real"));
    w.decisions.set("csr-bad", deny(bad.csr));
    w.decisions.set("csr-good", approve(good.csr, "i-0a1b2c3d4e5f60718"));
    const done = await execute(w.ctx({ alerts: undefined }), w.plan([bad, good]));
    expect(done.csrs.find((o) => o.name === "csr-bad")).toMatchObject({
      action: "waiting",
      error: "no alert topic configured",
    });
    expect(done.csrs.find((o) => o.name === "csr-good")).toMatchObject({ action: "approved" });
    expect(w.calls).toEqual([{ op: "write", csr: "csr-good", types: ["Approved"] }]);
  });

  it("over the alert budget: the summary goes out before any denial it covers; if it fails, they wait", async () => {
    for (const failing of [false, true]) {
      const w = world({ maxAlertsPerSweep: 1 });
      const reads = ["a", "b", "c"].map((n, i) =>
        w.kube.add(csr(`csr-${n}`, `ghost-${n}`, `2026-01-01T00:1${i}:00Z`)),
      );
      const codes: DenyCode[] = ["INSTANCE_NOT_FOUND", "NOT_A_NODE", "FORBIDDEN_SAN"];
      reads.forEach((r, i) => w.decisions.set(r.csr.metadata.name, deny(r.csr, codes[i])));
      const plan = w.plan(reads);
      expect(plan.summary?.total).toBe(2);
      let calls = 0;
      const publisher: AlertPublisher = {
        publish: async (ctx) => {
          calls += 1;
          if (failing && ctx.kind === "summary") throw new Error("injected SNS failure");
          return w.alerts.publish(ctx);
        },
        publishFloodGuard: () => w.alerts.publishFloodGuard(),
      };
      const done = await execute(w.ctx({ alerts: publisher }), plan);
      const summaryAt = w.calls.findIndex((c) => c.op === "publish" && c.kind === "summary");
      const summarised = plan.work.filter((x) => x.alerts.some((a) => a.delivery === "summary"));
      expect(summarised).toHaveLength(2);
      if (failing) {
        expect(summaryAt).toBe(-1);
        for (const x of summarised) {
          expect(done.csrs.find((o) => o.name === x.csr.metadata.name)).toMatchObject({
            action: "waiting",
            error: "the summary alert was not published",
          });
          expect(w.calls.some((c) => c.op === "write" && c.csr === x.csr.metadata.name)).toBe(false);
        }
      } else {
        expect(summaryAt).toBeGreaterThanOrEqual(0);
        for (const x of summarised) {
          const written = w.calls.findIndex((c) => c.op === "write" && c.csr === x.csr.metadata.name);
          expect(written).toBeGreaterThan(summaryAt);
        }
        expect(done.csrs.map((o) => o.action)).toEqual(["denied", "denied", "denied"]);
      }
      expect(calls).toBe(2); // the one alert on its own, and the summary
    }
  });
});

describe("executor: 409 on a write", () => {
  it("approve: re-read, re-decided the same: written on the fresh copy", async () => {
    const w = world();
    const read = w.kube.add(csr("csr-ok", "real"));
    w.decisions.set("csr-ok", approve(read.csr, "i-0a1b2c3d4e5f60718"));
    w.kube.touch("csr-ok"); // a label added meanwhile: our copy is stale
    const done = await execute(w.ctx(), w.plan([read]));
    expect(done.csrs).toEqual([expect.objectContaining({ name: "csr-ok", action: "approved" })]);
    expect(w.calls.map((c) => c.op)).toEqual(["write", "read", "write"]);
    expect(conditionTypes(w.kube.csrs.get("csr-ok"))).toEqual(["Approved"]);
    expect(w.session.approved.holds("system:node:real")).toBe(true);
  });

  it("approve: re-read, now decided otherwise: nothing written, waits for the next sweep", async () => {
    const w = world();
    const read = w.kube.add(csr("csr-ok", "real"));
    w.decisions.set("csr-ok", approve(read.csr, "i-0a1b2c3d4e5f60718"));
    const plan = w.plan([read]);
    w.kube.touch("csr-ok");
    w.decisions.set("csr-ok", deny(read.csr)); // the instance went away meanwhile
    const done = await execute(w.ctx(), plan);
    expect(done.csrs).toEqual([
      expect.objectContaining({
        action: "waiting",
        decision: "wait",
        error: "the CSR changed during the sweep: decided again next sweep",
      }),
    ]);
    expect(w.calls.map((c) => c.op)).toEqual(["write", "read"]);
    expect(conditionTypes(w.kube.csrs.get("csr-ok"))).toEqual([]);
  });

  it("approve: re-read, decided by someone else meanwhile: skipped", async () => {
    const w = world();
    const read = w.kube.add(csr("csr-ok", "real"));
    w.decisions.set("csr-ok", approve(read.csr, "i-0a1b2c3d4e5f60718"));
    w.kube.touch("csr-ok", { status: { conditions: [{ type: "Denied", status: "True", reason: "Admin" }] } });
    const done = await execute(w.ctx(), w.plan([read]));
    expect(done.csrs).toEqual([expect.objectContaining({ action: "skipped" })]);
    expect(w.calls.map((c) => c.op)).toEqual(["write", "read"]);
  });

  it("a second 409 after the re-read is an error, never a third write", async () => {
    const w = world();
    const read = w.kube.add(csr("csr-ok", "real"));
    w.decisions.set("csr-ok", approve(read.csr, "i-0a1b2c3d4e5f60718"));
    w.kube.failWrites.push(new KubeError(409, "conflict"), new KubeError(409, "conflict again"));
    const done = await execute(w.ctx(), w.plan([read]));
    expect(done.csrs).toEqual([expect.objectContaining({ action: "error", error: "conflict again" })]);
    expect(w.calls.map((c) => c.op)).toEqual(["write", "read", "write"]);
  });

  it("deny: the alert goes out once, the denial is written on the re-read copy", async () => {
    const w = world();
    const read = w.kube.add(csr("csr-bad", "ghost"));
    w.decisions.set("csr-bad", deny(read.csr));
    w.kube.touch("csr-bad");
    const done = await execute(w.ctx(), w.plan([read]));
    expect(done.csrs).toEqual([expect.objectContaining({ action: "denied" })]);
    expect(w.calls.map((c) => c.op)).toEqual(["publish", "write", "read", "write"]);
    expect(conditionTypes(w.kube.csrs.get("csr-bad"))).toEqual(["Denied", ALERTED_CONDITION]);
  });

  it("a transient failure (5xx) is retried in place: no second alert", async () => {
    const w = world();
    const read = w.kube.add(csr("csr-bad", "ghost"));
    w.decisions.set("csr-bad", deny(read.csr));
    w.kube.failWrites.push(new KubeError(503, "unavailable"));
    const done = await execute(w.ctx(), w.plan([read]));
    expect(done.csrs).toEqual([expect.objectContaining({ action: "denied" })]);
    expect(w.calls.map((c) => c.op)).toEqual(["publish", "write", "write"]);
  });
});

describe("executor: nothing written when it must not be", () => {
  it("read-only (CLI --dry-run): no write, no publish, outcomes say what would happen", async () => {
    // The sweep forces dry-run settings on a read-only run (settingsFor).
    const w = world({ mode: "dry-run" });
    const bad = w.kube.add(csr("csr-bad", "ghost"));
    const good = w.kube.add(csr("csr-good", "real"));
    w.decisions.set("csr-bad", deny(bad.csr));
    w.decisions.set("csr-good", approve(good.csr, "i-0a1b2c3d4e5f60718"));
    const plan = w.plan([bad, good]);
    const done = await execute(w.ctx({ readOnly: true }), plan);
    expect(w.calls).toEqual([]);
    expect(done.alertsSent).toBe(0);
    expect(done.csrs.map((o) => [o.name, o.action])).toEqual([["csr-bad", "would-deny"]]);
    expect(plan.held).toEqual([expect.objectContaining({ why: "would-approve" })]);
  });

  it("dry-run mode: the would-deny alert goes out and only its marker is written, never Denied or Approved", async () => {
    const w = world({ mode: "dry-run" });
    const bad = w.kube.add(csr("csr-bad", "ghost"));
    const good = w.kube.add(csr("csr-good", "real"));
    w.decisions.set("csr-bad", deny(bad.csr));
    w.decisions.set("csr-good", approve(good.csr, "i-0a1b2c3d4e5f60718"));
    const done = await execute(w.ctx(), w.plan([bad, good]));
    expect(done.csrs.map((o) => [o.name, o.action])).toEqual([["csr-bad", "would-deny"]]);
    expect(w.calls).toEqual([
      { op: "publish", kind: "would-deny", csr: "csr-bad" },
      { op: "write", csr: "csr-bad", types: [ALERTED_CONDITION] },
    ]);
    expect(conditionTypes(w.kube.csrs.get("csr-good"))).toEqual([]);
  });

  it("past the deadline: nothing new starts, every CSR is deferred", async () => {
    const w = world();
    const bad = w.kube.add(csr("csr-bad", "ghost"));
    const good = w.kube.add(csr("csr-good", "real"));
    w.decisions.set("csr-bad", deny(bad.csr));
    w.decisions.set("csr-good", approve(good.csr, "i-0a1b2c3d4e5f60718"));
    const deadline = new AbortController();
    deadline.abort();
    const done = await execute(w.ctx({ deadline: deadline.signal }), w.plan([bad, good]));
    expect(done.csrs.map((o) => o.action)).toEqual(["deferred", "deferred"]);
    expect(w.calls).toEqual([]);
  });
});
