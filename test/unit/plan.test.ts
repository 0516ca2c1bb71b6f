import { describe, expect, it } from "vitest";
import {
  ALERTED_CONDITION,
  APPROVED_REASON,
  DENIED_REASON,
  approvedCondition,
  approvedInstanceId,
  followUpFor,
  planFor,
  withAlertMarkers,
  withCondition,
  type PlanContext,
} from "../../functions/core/plan.js";
import type { CsrCondition, CsrObject, Decision, DecisionKind } from "../../functions/core/types.js";

const NOW = new Date("2026-06-01T12:00:00Z");

function csr(conditions: CsrCondition[] = [], certificate?: string): CsrObject {
  return {
    metadata: { name: "csr-abc" },
    spec: { signerName: "kubernetes.io/kubelet-serving", request: "" },
    status: { conditions, ...(certificate ? { certificate } : {}) },
  };
}

function decision(kind: DecisionKind): Decision {
  return {
    name: "csr-abc",
    decision: kind,
    node: "ip-10-0-1-70.ec2.internal",
    instanceId: "i-0123456789abcdef0",
    reasons:
      kind === "deny"
        ? [
            { code: "IP_NOT_OWNED", message: "IP SAN 10.0.9.9 is not an address of i-0123456789abcdef0" },
            { code: "DNS_NOT_OWNED", message: "DNS SAN evil is not a name of i-0123456789abcdef0" },
          ]
        : [],
  };
}

const enforce: PlanContext = {
  mode: "enforce",
  deny: true,
  now: NOW,
  notIssuedAfterSeconds: 600,
};
const ours = (minutesAgo: number): CsrCondition => oursSecondsAgo(minutesAgo * 60);
const oursSecondsAgo = (seconds: number): CsrCondition => ({
  type: "Approved",
  status: "True",
  reason: APPROVED_REASON,
  lastUpdateTime: new Date(NOW.getTime() - seconds * 1000).toISOString(),
});
const marker = (kinds: string): CsrCondition => ({ type: ALERTED_CONDITION, status: "True", message: kinds });

describe("planFor: what the sweep does with a decision", () => {
  const cases: [string, DecisionKind, CsrObject, Partial<PlanContext>, string, string?][] = [
    ["wait does nothing", "wait", csr(), {}, "none"],
    ["approve in enforce", "approve", csr(), {}, "approve"],
    ["approve in dry-run only reports", "approve", csr(), { mode: "dry-run" }, "would-approve"],
    ["deny in enforce denies with an alert", "deny", csr(), {}, "deny", "denied"],
    ["deny in dry-run alerts would-deny", "deny", csr(), { mode: "dry-run" }, "alert", "would-deny"],
    [
      "dry-run would-deny alerted before: nothing",
      "deny",
      csr([marker("would-deny")]),
      { mode: "dry-run" },
      "none",
    ],
    ["deny:false leaves pending with one alert", "deny", csr(), { deny: false }, "alert", "left-pending"],
    ["deny:false alerted before: nothing", "deny", csr([marker("left-pending")]), { deny: false }, "none"],
    ["dry-run wins over deny:false", "deny", csr(), { mode: "dry-run", deny: false }, "alert", "would-deny"],
    [
      "skip of a CSR we did not approve",
      "skip",
      csr([{ type: "Approved", status: "True", reason: "KubectlApprove" }]),
      {},
      "none",
    ],
    ["our approval, issued", "skip", csr([ours(30)], "Y2VydA=="), {}, "none"],
    ["our approval, 5 min, not issued yet: patience", "skip", csr([ours(5)]), {}, "none"],
    ["our approval, 11 min, not issued: alert", "skip", csr([ours(11)]), {}, "alert", "not-issued"],
    ["not-issued alerted before: nothing", "skip", csr([ours(11), marker("not-issued")]), {}, "none"],
    [
      "our approval then Failed: alert",
      "skip",
      csr([ours(1), { type: "Failed", status: "True" }]),
      {},
      "alert",
      "failed",
    ],
    [
      "Failed alerted before: nothing",
      "skip",
      csr([ours(1), { type: "Failed", status: "True" }, marker("not-issued,failed")]),
      {},
      "none",
    ],
    [
      "someone else's approval that Failed: not ours",
      "skip",
      csr([
        { type: "Approved", status: "True", reason: "X" },
        { type: "Failed", status: "True" },
      ]),
      {},
      "none",
    ],
  ];
  it.each(cases)("%s", (_name, kind, object, ctx, action, alert) => {
    const plan = planFor(decision(kind), object, { ...enforce, ...ctx });
    expect(plan.action).toBe(action);
    if (alert) expect((plan as { alert?: string }).alert).toBe(alert);
  });

  describe("notIssuedAfterSeconds: the not-issued alert fires only once the approval is older", () => {
    // Condition times are whole seconds (RFC 3339 as the API server writes them).
    it.each([
      [600, 599, "none"],
      [600, 600, "none"], // exactly the threshold: not older than it yet
      [600, 601, "alert"],
      [10, 9, "none"],
      [10, 10, "none"],
      [10, 11, "alert"],
      [86_400, 86_399, "none"],
      [86_400, 86_401, "alert"],
    ])("threshold %i s, approved %i s ago: %s", (threshold, ago, action) => {
      const plan = planFor(decision("skip"), csr([oursSecondsAgo(ago)]), {
        ...enforce,
        notIssuedAfterSeconds: threshold,
      });
      expect(plan.action).toBe(action);
      if (action === "alert") expect(plan).toMatchObject({ alert: "not-issued" });
      expect(followUpFor(csr([oursSecondsAgo(ago)]), { now: NOW, notIssuedAfterSeconds: threshold })).toBe(
        action === "alert" ? "not-issued" : undefined,
      );
    });

    it("the threshold decides, not a constant: 11 minutes is patience under a 1-hour threshold", () => {
      const object = csr([ours(11)]);
      expect(planFor(decision("skip"), object, enforce)).toMatchObject({
        action: "alert",
        alert: "not-issued",
      });
      expect(planFor(decision("skip"), object, { ...enforce, notIssuedAfterSeconds: 3600 }).action).toBe(
        "none",
      );
    });

    it("an issued certificate or an earlier alert silences it whatever the threshold", () => {
      const tight = { ...enforce, notIssuedAfterSeconds: 10 };
      expect(planFor(decision("skip"), csr([oursSecondsAgo(60)], "Y2VydA=="), tight).action).toBe("none");
      expect(planFor(decision("skip"), csr([oursSecondsAgo(60), marker("not-issued")]), tight).action).toBe(
        "none",
      );
    });
  });

  it("writes Approved and Denied conditions in kubectl's form, naming instance or codes", () => {
    const approve = planFor(decision("approve"), csr(), enforce);
    expect(approve).toMatchObject({
      action: "approve",
      condition: { type: "Approved", status: "True", reason: APPROVED_REASON },
    });
    expect((approve as { condition: CsrCondition }).condition.message).toContain("i-0123456789abcdef0");
    const deny = planFor(decision("deny"), csr(), enforce) as { condition: CsrCondition };
    expect(deny.condition).toMatchObject({ type: "Denied", status: "True", reason: DENIED_REASON });
    expect(deny.condition.message).toContain("IP_NOT_OWNED, DNS_NOT_OWNED");
  });

  it("reads back the instance our Approved condition names, and nothing from anyone else's", () => {
    const approvedBy = (condition: CsrCondition) => csr([condition]);
    const ec2 = approvedCondition(decision("approve"));
    expect(approvedInstanceId(approvedBy(ec2))).toBe("i-0123456789abcdef0");
    const outside = approvedCondition({
      ...decision("approve"),
      instanceId: undefined,
      reasons: [{ code: "NON_EC2_RULES_PASSED", message: "rules passed" }],
    });
    expect(approvedInstanceId(approvedBy(outside))).toBeUndefined();
    expect(approvedInstanceId(approvedBy({ ...ec2, reason: "SomeoneElse" }))).toBeUndefined();
    expect(approvedInstanceId(csr())).toBeUndefined();
  });

  it("never drops existing conditions", () => {
    const existing = csr([{ type: "Custom", status: "True", reason: "x" }, marker("would-deny")]);
    const added = withCondition(existing, { type: "Approved", status: "True" });
    expect(added.map((c) => c.type)).toEqual(["Custom", ALERTED_CONDITION, "Approved"]);
    const marked = withAlertMarkers(existing.status?.conditions ?? [], [
      { kind: "not-issued", via: "alert", codes: [] },
    ]);
    expect(marked.map((c) => c.type)).toEqual(["Custom", ALERTED_CONDITION]);
    expect(marked[1]?.message).toBe("would-deny:alert: not-issued:alert:");
    const failed = withAlertMarkers([marker("failed")], [{ kind: "failed", via: "alert", codes: [] }]);
    expect(failed[0]?.message).toBe("failed:alert:");
  });
});
