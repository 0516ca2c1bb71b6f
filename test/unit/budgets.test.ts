// The budgets of an event-mode window (core/budgets.ts) and the planner that spends them
// (core/fairness.ts): a window's batches share one approval per instance per period, the
// cluster backstop and the per-node guard, whatever the timing of the batches. Issue #21,
// finding 2: four nodes filing a self-valid CSR every 0.5 s got an approval each per batch.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  BUDGET_PERIOD_MS,
  admit,
  flooding,
  newPeriod,
  nextPeriodAt,
  periodAt,
  withAlerts,
  withApprovals,
  withArrival,
  withGuardAlerted,
  type BudgetPeriod,
} from "../../functions/core/budgets.js";
import {
  AlertHistory,
  ApprovedLedger,
  approvalKey,
  planCluster,
  requesterOf,
  type Candidate,
} from "../../functions/core/fairness.js";
import type { CsrObject, Decision } from "../../functions/core/types.js";

const T0 = Date.parse("2026-06-01T12:00:00Z");

describe("periodAt: budget periods from the time passed in", () => {
  it("keeps the period while it lasts, then starts a fresh one on the boundary passed", () => {
    const p = withGuardAlerted(withAlerts(withApprovals(newPeriod(T0), ["i-a", "i-b"]), 3));
    expect(periodAt(p, T0 + BUDGET_PERIOD_MS - 1)).toBe(p);
    const next = periodAt(p, T0 + BUDGET_PERIOD_MS);
    expect(next).toMatchObject({
      start: T0 + BUDGET_PERIOD_MS,
      approvals: 0,
      alerts: 0,
      guardAlerted: false,
    });
    expect(next.approvedKeys.size).toBe(0);
    expect(nextPeriodAt(p)).toBe(T0 + BUDGET_PERIOD_MS);
    // Aligned to the first period, however late the next look is.
    expect(periodAt(p, T0 + 3.5 * BUDGET_PERIOD_MS).start).toBe(T0 + 3 * BUDGET_PERIOD_MS);
  });

  it("a clock that goes back, or an invalid time, never resets a budget early", () => {
    const p = withApprovals(newPeriod(T0), ["i-a"]);
    expect(periodAt(p, T0 - 10 * BUDGET_PERIOD_MS)).toBe(p);
    expect(periodAt(p, Number.NaN)).toBe(p);
  });

  it("starts a period at the first look when there is none; is a value (spending returns a new one)", () => {
    const p = periodAt(undefined, T0);
    expect(p).toMatchObject({ start: T0, approvals: 0, alerts: 0 });
    const spent = withApprovals(p, ["i-a"]);
    expect(p.approvals).toBe(0);
    expect(p.approvedKeys.has("i-a")).toBe(false);
    expect(spent.approvals).toBe(1);
    expect(spent.approvedKeys.has("i-a")).toBe(true);
    expect(withArrival(p, "system:node:x").arrivals.get("system:node:x")).toBe(1);
    expect(p.arrivals.size).toBe(0);
  });
});

describe("admit: the per-node guard across the batches of a period", () => {
  it("examines a requester's first N CSRs of the period, whichever batch they come in, and trips once", () => {
    const who = (r: string) => r;
    let p = newPeriod(T0);
    const first = admit(p, ["a", "a", "b"], who, 3);
    expect(first.examine).toEqual(["a", "a", "b"]);
    expect(first.tripped).toEqual([]);
    p = first.period;
    const second = admit(p, ["a", "a", "a", "a", "b"], who, 3);
    // a: 2 earlier + 1 more within the guard, then the one that trips it (it carries the
    // node-flood alert); the next two wait for the next period.
    expect(second.examine).toEqual(["a", "a", "b"]);
    expect(second.over).toEqual(["a", "a"]);
    expect(second.tripped).toEqual([{ requester: "a", pending: 6 }]);
    p = second.period;
    expect(flooding(p, 3)).toEqual(new Set(["a"]));
    const third = admit(p, ["a"], who, 3);
    expect(third.over).toEqual(["a"]);
    expect(third.tripped).toEqual([]); // already tripped this period: one alert, not one per batch
    // The next period starts afresh.
    expect(admit(periodAt(p, T0 + BUDGET_PERIOD_MS), ["a"], who, 3).examine).toEqual(["a"]);
  });

  it("property: per period, at most N (+ the one that trips) examined per requester, every CSR examined or over", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.constantFrom("a", "b", "c", "d"), { maxLength: 12 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 5 }),
        (batches, cap) => {
          let p = newPeriod(T0);
          const examined = new Map<string, number>();
          for (const batch of batches) {
            const a = admit(p, batch, (r) => r, cap);
            expect(a.examine.length + a.over.length).toBe(batch.length);
            for (const r of a.examine) examined.set(r, (examined.get(r) ?? 0) + 1);
            p = a.period;
          }
          for (const r of ["a", "b", "c", "d"]) {
            const filed = batches.flat().filter((x) => x === r).length;
            expect(examined.get(r) ?? 0).toBe(Math.min(filed, cap + 1));
            expect(p.arrivals.get(r) ?? 0).toBe(filed);
            expect(flooding(p, cap).has(r)).toBe(filed > cap);
          }
        },
      ),
    );
  });
});

// A window simulated as the sweep runs it (sweepBatch/processPending), with only the pure
// parts: admit → plan with what the period spent → spend what was approved.
let uid = 0;
function selfValid(node: string, at: number): Candidate<CsrObject> {
  uid += 1;
  const csr: CsrObject = {
    metadata: {
      name: `csr-${uid}`,
      uid: `uid-${String(uid).padStart(8, "0")}`,
      creationTimestamp: new Date(at).toISOString(),
    },
    spec: { signerName: "kubernetes.io/kubelet-serving", request: "", username: `system:node:${node}` },
  };
  const decision: Decision = {
    name: csr.metadata.name,
    decision: "approve",
    node,
    requester: `system:node:${node}`,
    instanceId: `i-${node}`,
    reasons: [],
  };
  return { item: csr, csr, decision };
}

interface WindowResult {
  approvals: { node: string; at: number }[];
  held: Map<string, Candidate<CsrObject>>;
}

function runWindow(
  arrivals: { node: string; at: number }[], // sorted by time
  opts: { batchMs: number; cap: number; limit: number | "auto"; nodeCount: number },
): WindowResult {
  let period: BudgetPeriod | undefined;
  const approved = new ApprovedLedger();
  const history = new AlertHistory();
  const approvals: WindowResult["approvals"] = [];
  const held = new Map<string, Candidate<CsrObject>>();
  const end = (arrivals.at(-1)?.at ?? T0) + 6 * BUDGET_PERIOD_MS;
  let i = 0;
  for (let t = T0; t <= end; t += opts.batchMs) {
    const fresh: Candidate<CsrObject>[] = [];
    while (i < arrivals.length && arrivals[i]!.at <= t) {
      fresh.push(selfValid(arrivals[i]!.node, arrivals[i]!.at));
      i += 1;
    }
    const turned = period !== undefined && t >= nextPeriodAt(period);
    const retries = turned ? [...held.values()] : [];
    if (turned) held.clear();
    const admission = admit(periodAt(period, t), fresh, (c) => requesterOf(c.csr), opts.cap);
    period = admission.period;
    for (const c of admission.over) held.set(c.csr.metadata.name, c);
    const candidates = [...retries, ...admission.examine];
    if (candidates.length === 0) continue;
    const plan = planCluster({
      candidates,
      followUps: [],
      overflows: [],
      approved,
      history,
      settings: {
        mode: "enforce",
        deny: true,
        maxApprovalsPerSweep: opts.limit,
        maxAlertsPerSweep: 20,
        alertRepeatWindowSeconds: 3600,
        notIssuedAfterSeconds: 600,
      },
      nodeCount: opts.nodeCount,
      now: new Date(t),
      used: { approvals: period.approvals, alerts: period.alerts, approvedKeys: period.approvedKeys },
      flooding: flooding(period, opts.cap),
    });
    for (const h of plan.held) {
      if (h.why === "cluster-guard" || h.why === "instance-period") {
        const c = candidates.find((x) => x.item === h.item)!;
        held.set(c.csr.metadata.name, c);
      }
    }
    for (const a of plan.approvals) {
      approvals.push({ node: a.decision.node!, at: t });
      approved.note({ ...a.csr, status: { conditions: [a.condition!] } });
    }
    period = withApprovals(
      period,
      plan.approvals.map((a) => approvalKey(a.decision, a.csr)),
    );
  }
  return { approvals, held };
}

describe("a window's batches share the budgets (finding 2)", () => {
  it("four nodes refiling a self-valid CSR every 0.5 s for 27 s: one approval each per period, not 25", () => {
    const attackers = ["att-1", "att-2", "att-3", "att-4"];
    const arrivals = Array.from({ length: 54 }, (_, k) =>
      attackers.map((node) => ({ node, at: T0 + 500 * k })),
    ).flat();
    const { approvals } = runWindow(arrivals, { batchMs: 1050, cap: 20, limit: "auto", nodeCount: 10 });
    for (const node of attackers) {
      const mine = approvals.filter((a) => a.node === node && a.at < T0 + BUDGET_PERIOD_MS);
      expect(mine).toHaveLength(1);
    }
  });

  it("the legitimate node's CSR, arriving mid-flood, is approved in the same window", () => {
    const arrivals = [
      ...Array.from({ length: 120 }, (_, k) =>
        ["att-1", "att-2", "att-3", "att-4"].map((node) => ({ node, at: T0 + 500 * k })),
      ).flat(),
      { node: "legit", at: T0 + 20_000 },
    ].sort((a, b) => a.at - b.at);
    const { approvals } = runWindow(arrivals, { batchMs: 1050, cap: 20, limit: "auto", nodeCount: 10 });
    const legit = approvals.filter((a) => a.node === "legit");
    expect(legit).toHaveLength(1);
    expect(legit[0]!.at - (T0 + 20_000)).toBeLessThanOrEqual(1050);
  });

  it("a CSR the backstop held is approved when the next period starts, within the window", () => {
    // A backstop of 2 and three nodes at once: the third waits one period, not for the next sweep.
    const arrivals = ["a", "b", "c"].map((node) => ({ node, at: T0 + 100 }));
    const { approvals, held } = runWindow(arrivals, { batchMs: 1000, cap: 20, limit: 2, nodeCount: 3 });
    expect(approvals.map((a) => a.node).sort()).toEqual(["a", "b", "c"]);
    const c = approvals.find((a) => a.node === "c")!;
    expect(c.at).toBeGreaterThanOrEqual(T0 + BUDGET_PERIOD_MS);
    expect(c.at).toBeLessThan(T0 + BUDGET_PERIOD_MS + 1000);
    expect(held.size).toBe(0);
  });

  it("property: per period, ≤ 1 approval per instance and ≤ the backstop, whatever the timing", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            node: fc.constantFrom("a", "b", "c", "d", "e"),
            dt: fc.integer({ min: 0, max: 4000 }),
          }),
          { maxLength: 120 },
        ),
        fc.integer({ min: 200, max: 3000 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        (steps, batchMs, limit, cap) => {
          let at = T0;
          const arrivals = steps.map((s) => ({ node: s.node, at: (at += s.dt) }));
          const { approvals } = runWindow(arrivals, { batchMs, cap, limit, nodeCount: 5 });
          const byPeriod = new Map<number, string[]>();
          for (const a of approvals) {
            const p = Math.floor((a.at - T0) / BUDGET_PERIOD_MS);
            byPeriod.set(p, [...(byPeriod.get(p) ?? []), a.node]);
          }
          for (const nodes of byPeriod.values()) {
            expect(nodes.length).toBeLessThanOrEqual(limit);
            expect(new Set(nodes).size).toBe(nodes.length);
          }
          // Every node that filed is approved within the window (its newest CSR, eventually).
          const filed = new Set(arrivals.map((a) => a.node));
          const got = new Set(approvals.map((a) => a.node));
          expect(got).toEqual(filed);
        },
      ),
      { numRuns: 60 },
    );
  });
});
