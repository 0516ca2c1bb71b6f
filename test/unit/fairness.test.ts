import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  AlertHistory,
  ApprovedLedger,
  PendingSet,
  approvalLimit,
  planCluster,
  type Candidate,
  type ClusterPlanInput,
  type CsrWork,
} from "../../functions/core/fairness.js";
import {
  ALERTED_CONDITION,
  APPROVED_REASON,
  DENIED_REASON,
  markerEntries,
  targetsDigest,
  withAlertMarkers,
  type MarkerEntry,
} from "../../functions/core/plan.js";
import type {
  CsrCondition,
  CsrObject,
  Decision,
  DecisionKind,
  ReasonCode,
} from "../../functions/core/types.js";

const NOW = new Date("2026-06-01T12:00:00Z");

/** The marker entries the sweep records after carrying out a CSR's alerts. */
const markerEntriesFor = (work: CsrWork<unknown>): MarkerEntry[] =>
  work.alerts.map((a) => ({
    kind: a.kind,
    via: a.delivery,
    codes: a.codes,
    ...(a.targets ? { targets: a.targets } : {}),
  }));
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000).toISOString();

let uid = 0;
function csr(
  node: string,
  created: number, // minutes ago
  opts: { name?: string; conditions?: CsrCondition[]; certificate?: string } = {},
): CsrObject {
  uid += 1;
  return {
    metadata: {
      name: opts.name ?? `csr-${uid}`,
      uid: `uid-${String(uid).padStart(6, "0")}`,
      creationTimestamp: minutesAgo(created),
    },
    spec: { signerName: "kubernetes.io/kubelet-serving", request: "", username: `system:node:${node}` },
    status: {
      ...(opts.conditions ? { conditions: opts.conditions } : {}),
      ...(opts.certificate ? { certificate: opts.certificate } : {}),
    },
  };
}

function decision(c: CsrObject, kind: DecisionKind, codes: ReasonCode[] = [], instanceId?: string): Decision {
  const node = c.spec.username!.slice("system:node:".length);
  return {
    name: c.metadata.name,
    decision: kind,
    node,
    requester: c.spec.username!,
    ...(instanceId ? { instanceId } : kind === "approve" ? { instanceId: `i-${node}` } : {}),
    reasons: codes.map((code) => ({ code, message: `${code} for ${node}` })),
  };
}

const cand = (
  c: CsrObject,
  kind: DecisionKind,
  codes: ReasonCode[] = [],
  instanceId?: string,
): Candidate<CsrObject> => ({
  item: c,
  csr: c,
  decision: decision(c, kind, codes, instanceId),
});

function input(partial: Partial<ClusterPlanInput<CsrObject>>): ClusterPlanInput<CsrObject> {
  return {
    candidates: [],
    followUps: [],
    overflows: [],
    approved: new ApprovedLedger(),
    history: new AlertHistory(),
    settings: {
      mode: "enforce",
      deny: true,
      maxApprovalsPerSweep: "auto",
      maxAlertsPerSweep: 20,
      alertRepeatWindowSeconds: 3600,
      notIssuedAfterSeconds: 600,
    },
    nodeCount: 10,
    now: NOW,
    ...partial,
  };
}

describe("PendingSet: the newest CSRs of each requester, whatever arrives", () => {
  it("keeps each requester's newest N and counts the rest, in any arrival order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.integer({ min: 0, max: 500 })), {
          maxLength: 80,
        }),
        fc.integer({ min: 1, max: 5 }),
        (specs, cap) => {
          const set = new PendingSet<CsrObject>(cap, (c) => c);
          const all = specs.map(([node, age]) => csr(node, age));
          for (const c of all) set.add(c);
          for (const node of ["a", "b", "c"]) {
            const mine = all.filter((c) => c.spec.username === `system:node:${node}`);
            const newest = [...mine]
              .sort(
                (x, y) =>
                  Date.parse(y.metadata.creationTimestamp!) - Date.parse(x.metadata.creationTimestamp!) ||
                  (y.metadata.uid! < x.metadata.uid! ? -1 : 1),
              )
              .slice(0, cap);
            const kept = set.items().filter((c) => c.spec.username === `system:node:${node}`);
            expect(new Set(kept)).toEqual(new Set(newest));
            const overflow = set.overflows().find((o) => o.requester === `system:node:${node}`);
            if (mine.length > cap)
              expect(overflow).toEqual({
                requester: `system:node:${node}`,
                pending: mine.length,
                examined: cap,
              });
            else expect(overflow).toBeUndefined();
          }
          expect(set.size).toBe(set.items().length);
        },
      ),
    );
  });
});

describe("planCluster: approvals", () => {
  it("approves one CSR per instance, its newest; the older ones are held as superseded", () => {
    const old = csr("n1", 30);
    const newest = csr("n1", 2);
    const mid = csr("n1", 10);
    const plan = planCluster(
      input({ candidates: [cand(old, "approve"), cand(newest, "approve"), cand(mid, "approve")] }),
    );
    expect(plan.approvals.map((w) => w.csr)).toEqual([newest]);
    expect(plan.held.map((h) => [h.item, h.why])).toEqual(
      expect.arrayContaining([
        [old, "superseded"],
        [mid, "superseded"],
      ]),
    );
    expect(plan.approvals[0]!.condition).toMatchObject({ type: "Approved", reason: APPROVED_REASON });
  });

  it("a node with 150 valid CSRs named to sort first does not hold back the others", () => {
    const flood = Array.from({ length: 150 }, (_, i) => csr("attacker", 1 + (i % 5), { name: `0000-${i}` }));
    const others = ["n1", "n2", "n3", "n4", "n5"].map((n) => csr(n, 3, { name: `zzzz-${n}` }));
    const plan = planCluster(
      input({
        candidates: [...flood.map((c) => cand(c, "approve")), ...others.map((c) => cand(c, "approve"))],
        settings: { ...input({}).settings, maxApprovalsPerSweep: 3 },
      }),
    );
    // The limit is 3, the attacker gets at most one of them, and never before a node without a certificate that is older.
    expect(plan.approvals).toHaveLength(3);
    expect(plan.approvals.filter((w) => w.decision.node === "attacker").length).toBeLessThanOrEqual(1);
    expect(plan.clusterGuard).toEqual({ limit: 3, approved: 3, held: 3 });
  });

  it("orders nodes holding no approved CSR first, then the oldest CSR; names never matter", () => {
    const certifiedOld = csr("cert", 50, { name: "aaaa" });
    const freshA = csr("fresh-a", 5, { name: "zzzz" });
    const freshB = csr("fresh-b", 20, { name: "mmmm" });
    const approved = new ApprovedLedger();
    approved.note(csr("cert", 200, { conditions: [{ type: "Approved", status: "True" }] }));
    const plan = planCluster(
      input({
        candidates: [cand(certifiedOld, "approve"), cand(freshA, "approve"), cand(freshB, "approve")],
        approved,
      }),
    );
    expect(plan.approvals.map((w) => w.csr)).toEqual([freshB, freshA, certifiedOld]);
  });

  it("never approves a CSR older than the node's newest approved one (the kubelet waits only on its newest)", () => {
    const approved = new ApprovedLedger();
    approved.note(
      csr("n1", 10, { conditions: [{ type: "Approved", status: "True", reason: APPROVED_REASON }] }),
    );
    // Pending, not approved: no effect on the ledger.
    approved.note(csr("n1", 1));
    const older = csr("n1", 20);
    const newer = csr("n1", 5);
    const plan = planCluster(input({ candidates: [cand(older, "approve")], approved }));
    expect(plan.approvals).toEqual([]);
    expect(plan.held).toEqual([{ item: older, decision: expect.anything(), why: "superseded" }]);
    const both = planCluster(
      input({ candidates: [cand(older, "approve"), cand(newer, "approve")], approved }),
    );
    expect(both.approvals.map((w) => w.csr)).toEqual([newer]);
  });

  it("sizes the cluster-wide backstop to the cluster under auto", () => {
    expect(approvalLimit("auto", 0)).toBe(100);
    expect(approvalLimit("auto", 400)).toBe(100);
    expect(approvalLimit("auto", 401)).toBe(101);
    expect(approvalLimit("auto", 5000)).toBe(1250);
    expect(approvalLimit(7, 5000)).toBe(7);
    // A full rotation of 5,000 nodes: 4 sweeps, one a minute: within 10 minutes.
    expect(Math.ceil(5000 / approvalLimit("auto", 5000))).toBeLessThanOrEqual(10);
  });

  it("dry-run approves nothing and reports would-approve", () => {
    const c = csr("n1", 1);
    const plan = planCluster(
      input({ candidates: [cand(c, "approve")], settings: { ...input({}).settings, mode: "dry-run" } }),
    );
    expect(plan.approvals).toEqual([]);
    expect(plan.held).toEqual([{ item: c, decision: expect.anything(), why: "would-approve" }]);
  });

  it("wait and skip decisions produce no work", () => {
    const plan = planCluster(
      input({
        candidates: [
          cand(csr("n1", 1), "wait", ["INSTANCE_NOT_VISIBLE"]),
          cand(csr("n2", 1), "skip", ["OTHER_SIGNER"]),
        ],
      }),
    );
    expect(plan.approvals).toEqual([]);
    expect(plan.work).toEqual([]);
    expect(plan.held).toEqual([]);
  });
});

describe("planCluster: the alert budget", () => {
  it("sends at most maxAlertsPerSweep alerts on their own, one per node per round, the rest in one summary", () => {
    // 3 nodes, each with 12 denials for distinct reasons: 36 distinct alerts.
    const codes: ReasonCode[] = [
      "IP_NOT_OWNED",
      "DNS_NOT_OWNED",
      "BAD_USAGES",
      "WEAK_KEY",
      "FORBIDDEN_SAN",
      "SUBJECT_MISMATCH",
    ];
    const combos = codes
      .flatMap((a, i) => codes.slice(i + 1).map((b) => [a, b] as ReasonCode[]))
      .slice(0, 12);
    const candidates = ["a", "b", "c"].flatMap((node, n) =>
      combos.map((cs, i) => cand(csr(node, 100 - i - n), "deny", cs)),
    );
    const plan = planCluster(input({ candidates }));
    const alerts = plan.work.flatMap((w) => w.alerts);
    const sent = alerts.filter((a) => a.delivery === "alert");
    expect(sent).toHaveLength(20);
    // Round robin: no node gets a 8th alert before every other got its 7th.
    const perNode = ["a", "b", "c"].map((n) => sent.filter((a) => a.decision?.node === n).length);
    expect(Math.max(...perNode) - Math.min(...perNode)).toBeLessThanOrEqual(1);
    expect(alerts.filter((a) => a.delivery === "summary")).toHaveLength(16);
    expect(plan.summary).toMatchObject({ total: 16, nodes: 3 });
    expect(plan.summary!.byKind).toEqual([{ kind: "denied", count: 16 }]);
    expect(plan.summary!.byNode.reduce((s, n) => s + n.count, 0)).toBe(16);
    // Every denial is still written, with its Denied condition.
    expect(plan.work.every((w) => w.action === "deny" && w.condition?.type === "Denied")).toBe(true);
  });

  it("one node's 300 identical denials are one alert and 299 repeats", () => {
    const candidates = Array.from({ length: 300 }, (_, i) =>
      cand(csr("bad", 300 - i), "deny", ["IP_NOT_OWNED"]),
    );
    const plan = planCluster(input({ candidates }));
    const alerts = plan.work.flatMap((w) => w.alerts);
    expect(alerts.filter((a) => a.delivery === "alert")).toHaveLength(1);
    expect(alerts.filter((a) => a.delivery === "repeat")).toHaveLength(299);
    expect(plan.summary).toBeUndefined();
  });

  it("a denial repeated within the window is not alerted again; after it, once, with the count", () => {
    const history = (entries: [number, string][]) => {
      const h = new AlertHistory();
      for (const [ago, via] of entries) {
        h.addFrom(
          csr("bad", ago + 1, {
            conditions: [
              {
                type: "Denied",
                status: "True",
                reason: DENIED_REASON,
                message: "csr-approver: denied (IP_NOT_OWNED): x",
                lastUpdateTime: minutesAgo(ago),
              },
              {
                type: ALERTED_CONDITION,
                status: "True",
                message: `denied:${via}:IP_NOT_OWNED`,
                lastUpdateTime: minutesAgo(ago),
              },
            ],
          }),
        );
      }
      return h;
    };
    const next = () => [cand(csr("bad", 0), "deny", ["IP_NOT_OWNED"])];
    const within = planCluster(
      input({
        candidates: next(),
        history: history([
          [59, "alert"],
          [45, "repeat"],
          [30, "repeat"],
        ]),
      }),
    );
    expect(within.work[0]!.alerts[0]).toMatchObject({ delivery: "repeat" });
    const after = planCluster(
      input({
        candidates: next(),
        history: history([
          [61, "alert"],
          [45, "repeat"],
          [30, "repeat"],
          [15, "summary"],
        ]),
      }),
    );
    expect(after.work[0]!.alerts[0]).toMatchObject({
      delivery: "alert",
      repeats: 3,
      lastAlertAt: new Date(minutesAgo(61)),
    });
    // Other reasons, or another node, are not repeats.
    const other = planCluster(
      input({
        candidates: [
          cand(csr("bad", 0), "deny", ["DNS_NOT_OWNED"]),
          cand(csr("good", 0), "deny", ["IP_NOT_OWNED"]),
        ],
        history: history([[10, "alert"]]),
      }),
    );
    expect(other.work.flatMap((w) => w.alerts).map((a) => a.delivery)).toEqual(["alert", "alert"]);
  });

  it("v0.1 denials (Denied condition, no marker) count as alerts sent on their own", () => {
    const h = new AlertHistory();
    h.addFrom(
      csr("bad", 6, {
        conditions: [
          {
            type: "Denied",
            status: "True",
            reason: DENIED_REASON,
            message: "csr-approver: denied (IP_NOT_OWNED, DNS_NOT_OWNED): x",
            lastUpdateTime: minutesAgo(5),
          },
        ],
      }),
    );
    const plan = planCluster(
      input({ candidates: [cand(csr("bad", 0), "deny", ["DNS_NOT_OWNED", "IP_NOT_OWNED"])], history: h }),
    );
    expect(plan.work[0]!.alerts[0]!.delivery).toBe("repeat");
    // Someone else's Denied condition is not our history.
    const theirs = new AlertHistory();
    theirs.addFrom(
      csr("bad", 6, {
        conditions: [
          {
            type: "Denied",
            status: "True",
            reason: "KubectlDeny",
            message: "csr-approver: denied (IP_NOT_OWNED): x",
            lastUpdateTime: minutesAgo(5),
          },
        ],
      }),
    );
    expect(
      planCluster(input({ candidates: [cand(csr("bad", 0), "deny", ["IP_NOT_OWNED"])], history: theirs }))
        .work[0]!.alerts[0]!.delivery,
    ).toBe("alert");
  });

  it("left-pending and would-deny alert once per CSR and dedupe per node like denials", () => {
    const deny = { ...input({}).settings, deny: false };
    const marked = csr("bad", 10, {
      conditions: [
        {
          type: ALERTED_CONDITION,
          status: "True",
          message: "left-pending:alert:IP_NOT_OWNED",
          lastUpdateTime: minutesAgo(9),
        },
      ],
    });
    const h = new AlertHistory();
    h.addFrom(marked);
    const plan = planCluster(
      input({
        settings: deny,
        history: h,
        candidates: [cand(marked, "deny", ["IP_NOT_OWNED"]), cand(csr("bad", 1), "deny", ["IP_NOT_OWNED"])],
      }),
    );
    // The marked CSR has nothing left to do; the new one is a repeat, recorded by a marker.
    expect(plan.work).toHaveLength(1);
    expect(plan.work[0]).toMatchObject({
      action: "mark",
      alerts: [{ kind: "left-pending", delivery: "repeat" }],
    });
  });
});

describe("planCluster: node floods", () => {
  it("a node over maxPendingPerNode gets one node-flood alert, carried by one of its writes", () => {
    const mine = Array.from({ length: 5 }, (_, i) => cand(csr("flood", 5 - i), "deny", ["IP_NOT_OWNED"]));
    const plan = planCluster(
      input({ candidates: mine, overflows: [{ requester: "system:node:flood", pending: 900, examined: 5 }] }),
    );
    const floods = plan.work.flatMap((w) => w.alerts).filter((a) => a.kind === "node-flood");
    expect(floods).toEqual([
      expect.objectContaining({
        delivery: "alert",
        flood: { pending: 900, examined: 5 },
        requester: "system:node:flood",
      }),
    ]);
    // It rides on a denial write (one write per CSR), and comes first in the budget order.
    expect(plan.work).toHaveLength(5);
    expect(plan.work[0]!.alerts.map((a) => a.kind)).toEqual(["node-flood", "denied"]);
  });

  it("is sent once per window (history from its marker)", () => {
    const h = new AlertHistory();
    h.addFrom(
      csr("flood", 20, {
        conditions: [
          {
            type: ALERTED_CONDITION,
            status: "True",
            message: "node-flood:alert:",
            lastUpdateTime: minutesAgo(10),
          },
        ],
      }),
    );
    const waiting = cand(csr("flood", 1), "wait", ["INSTANCE_NOT_VISIBLE"]);
    const plan = planCluster(
      input({
        candidates: [waiting],
        history: h,
        overflows: [{ requester: "system:node:flood", pending: 50, examined: 1 }],
      }),
    );
    expect(plan.work).toEqual([
      expect.objectContaining({
        action: "mark",
        alerts: [expect.objectContaining({ kind: "node-flood", delivery: "repeat" })],
      }),
    ]);
  });

  it("a flooding node whose kept CSRs were all approved carries no marker", () => {
    const c = cand(csr("flood", 1), "approve");
    const plan = planCluster(
      input({ candidates: [c], overflows: [{ requester: "system:node:flood", pending: 50, examined: 1 }] }),
    );
    expect(plan.approvals).toHaveLength(1);
    expect(plan.work).toEqual([]);
  });
});

describe("follow-ups", () => {
  it("not-issued and failed alerts take part in the budget", () => {
    const approved = (node: string) =>
      csr(node, 30, {
        conditions: [
          {
            type: "Approved",
            status: "True",
            reason: APPROVED_REASON,
            message:
              "csr-approver: kubelet serving certificate for node x matches EC2 instance i-0abc; all checks passed",
          },
        ],
      });
    const followUps = Array.from({ length: 25 }, (_, i) => ({
      item: approved(`n${i}`),
      csr: approved(`n${i}`),
      kind: "not-issued" as const,
    }));
    const plan = planCluster(input({ followUps }));
    const alerts = plan.work.flatMap((w) => w.alerts);
    expect(alerts.filter((a) => a.delivery === "alert")).toHaveLength(20);
    expect(plan.summary).toMatchObject({ total: 5, byKind: [{ kind: "not-issued", count: 5 }] });
    expect(plan.work[0]!.decision.instanceId).toBe("i-0abc");
  });
});

describe("alert markers", () => {
  it("round-trip, replace an entry of the same kind, keep other conditions, read v0.1 markers", () => {
    const base: CsrCondition[] = [{ type: "Custom", status: "True" }];
    const one = withAlertMarkers(base, [
      { kind: "denied", via: "repeat", codes: ["IP_NOT_OWNED", "DNS_NOT_OWNED"] },
    ]);
    const two = withAlertMarkers(one, [
      { kind: "node-flood", via: "alert", codes: [] },
      { kind: "denied", via: "alert", codes: ["X"] },
    ]);
    expect(two.map((c) => c.type)).toEqual(["Custom", ALERTED_CONDITION]);
    const read = (conditions: CsrCondition[]) => markerEntries({ ...csr("n", 0), status: { conditions } });
    expect(read(two)).toEqual([
      { kind: "node-flood", via: "alert", codes: [] },
      { kind: "denied", via: "alert", codes: ["X"] },
    ]);
    expect(read([{ type: ALERTED_CONDITION, status: "True", message: "would-deny,not-issued" }])).toEqual([
      { kind: "would-deny", via: "alert", codes: [] },
      { kind: "not-issued", via: "alert", codes: [] },
    ]);
  });
});

describe("alerts cannot be hidden (issue #21, finding 3)", () => {
  const sans = (ips: string[], dnsNames: string[] = []) => ({ dnsNames, ips, other: [] });
  const denial = (c: CsrObject, requested: ReturnType<typeof sans>): Candidate<CsrObject> => ({
    item: c,
    csr: c,
    decision: { ...decision(c, "deny", ["IP_NOT_OWNED"]), requestedSans: requested },
  });
  /** The history of a cluster holding one CSR of `node` denied and alerted for `requested`. */
  const alertedFor = (node: string, requested: ReturnType<typeof sans>, minutes = 10) => {
    const first = denial(csr(node, minutes + 1), requested);
    const plan = planCluster(input({ candidates: [first] }));
    expect(plan.work[0]!.alerts[0]!.delivery).toBe("alert");
    const conditions = withAlertMarkers(
      [
        {
          type: "Denied",
          status: "True",
          reason: DENIED_REASON,
          message: "csr-approver: denied (IP_NOT_OWNED): x",
          lastUpdateTime: minutesAgo(minutes),
        },
      ],
      markerEntriesFor(plan.work[0]!),
    ).map((c) => (c.type === ALERTED_CONDITION ? { ...c, lastUpdateTime: minutesAgo(minutes) } : c));
    const history = new AlertHistory();
    history.addFrom({ ...first.csr, status: { conditions } });
    return history;
  };

  it("a decoy alerted first does not hide a neighbour's address asked for next: two alerts", () => {
    const history = alertedFor("bad", sans(["10.9.9.9"]));
    const next = planCluster(input({ history, candidates: [denial(csr("bad", 1), sans(["10.0.1.70"]))] }));
    expect(next.work[0]!.alerts[0]).toMatchObject({ kind: "denied", delivery: "alert", repeats: 0 });
    // The same request again is a repeat, as before.
    const again = planCluster(input({ history, candidates: [denial(csr("bad", 1), sans(["10.9.9.9"]))] }));
    expect(again.work[0]!.alerts[0]!.delivery).toBe("repeat");
  });

  it("names count as well as addresses; order and duplicates do not make a request new", () => {
    const history = alertedFor("bad", sans(["10.9.9.9", "10.9.9.8"], ["decoy.example"]));
    const plan = (requested: ReturnType<typeof sans>) =>
      planCluster(input({ history, candidates: [denial(csr("bad", 1), requested)] })).work[0]!.alerts[0]!
        .delivery;
    expect(plan(sans(["10.9.9.8", "10.9.9.9", "10.9.9.9"], ["decoy.example"]))).toBe("repeat");
    expect(plan(sans(["10.9.9.9", "10.9.9.8"], ["ip-10-0-1-70.ec2.internal"]))).toBe("alert");
    expect(plan(sans(["10.9.9.9", "10.9.9.8"]))).toBe("alert");
    // An address asked for as a name is a different request.
    expect(plan(sans(["10.9.9.9"], ["10.9.9.8", "decoy.example"]))).toBe("alert");
  });

  it("within one sweep: the decoy and the neighbour request are two alerts, not one and a repeat", () => {
    const plan = planCluster(
      input({
        candidates: [denial(csr("bad", 3), sans(["10.9.9.9"])), denial(csr("bad", 2), sans(["10.0.1.70"]))],
      }),
    );
    expect(plan.work.flatMap((w) => w.alerts).map((a) => a.delivery)).toEqual(["alert", "alert"]);
  });

  it("a marker written before digests (no targets) hides no request that names something", () => {
    const history = new AlertHistory();
    history.addFrom(
      csr("bad", 11, {
        conditions: [
          {
            type: ALERTED_CONDITION,
            status: "True",
            message: "denied:alert:IP_NOT_OWNED",
            lastUpdateTime: minutesAgo(10),
          },
        ],
      }),
    );
    const plan = planCluster(input({ history, candidates: [denial(csr("bad", 1), sans(["10.0.1.70"]))] }));
    expect(plan.work[0]!.alerts[0]!.delivery).toBe("alert");
  });

  it("the marker records the digest: 128 bits of hex, never a requested name or address", () => {
    const plan = planCluster(input({ candidates: [denial(csr("bad", 1), sans(["10.0.1.70"], ["x.y"]))] }));
    const [entry] = markerEntriesFor(plan.work[0]!);
    expect(entry!.targets).toMatch(/^[0-9a-f]{32}$/);
    expect(entry!.targets).toBe(targetsDigest(sans(["10.0.1.70"], ["x.y"])));
    const marker = withAlertMarkers([], [entry!])[0]!;
    expect(marker.message).toBe(`denied:alert:IP_NOT_OWNED:${entry!.targets}`);
    expect(marker.message).not.toContain("10.0.1.70");
    expect(markerEntries({ ...csr("n", 0), status: { conditions: [marker] } })).toEqual([entry]);
    expect(targetsDigest(undefined)).toBe("");
    expect(targetsDigest(sans([]))).toBe("");
  });

  it("the summary names node requesters first, with their reason codes, whatever else used the budget", () => {
    // 20 other requesters (older) use the whole budget; the node's neighbour-IP denial is summarised.
    const others = Array.from({ length: 22 }, (_, i) => {
      const c = csr("x", 100 - i);
      c.spec.username = `system:serviceaccount:ns:sa-${i}`;
      return {
        item: c,
        csr: c,
        decision: {
          name: c.metadata.name,
          decision: "deny" as const,
          requester: c.spec.username,
          reasons: [{ code: "NOT_A_NODE" as ReasonCode, message: "not a node" }],
        },
      };
    });
    const node = denial(csr("ip-10-0-1-9", 1), sans(["10.0.1.70"]));
    const plan = planCluster(input({ candidates: [...others, node] }));
    expect(plan.summary).toBeDefined();
    expect(plan.summary!.nodes).toBe(3);
    expect(plan.summary!.byNode[0]).toEqual({
      node: "ip-10-0-1-9",
      isNode: true,
      count: 1,
      codes: ["IP_NOT_OWNED"],
    });
    expect(plan.summary!.byNode.slice(1).every((n) => !n.isNode)).toBe(true);
    expect(plan.summary!.byNode[1]).toMatchObject({ codes: ["NOT_A_NODE"] });
  });
});

describe("planCluster: budgets spent earlier in the window", () => {
  it("an instance approved earlier in the period is held (instance-period); others are approved", () => {
    const a = cand(csr("a", 1), "approve");
    const b = cand(csr("b", 2), "approve");
    const plan = planCluster(
      input({ candidates: [a, b], used: { approvals: 1, alerts: 0, approvedKeys: new Set(["i-a"]) } }),
    );
    expect(plan.approvals.map((w) => w.decision.node)).toEqual(["b"]);
    expect(plan.held).toEqual([{ item: a.item, decision: a.decision, why: "instance-period" }]);
  });

  it("requesters past their guard earlier in the period go after everyone else", () => {
    const flooder = cand(csr("f", 50), "approve");
    const late = cand(csr("l", 1), "approve");
    const plan = planCluster(
      input({
        candidates: [flooder, late],
        settings: { ...input({}).settings, maxApprovalsPerSweep: 1 },
        flooding: new Set(["system:node:f"]),
      }),
    );
    expect(plan.approvals.map((w) => w.decision.node)).toEqual(["l"]);
    expect(plan.held).toEqual([{ item: flooder.item, decision: flooder.decision, why: "cluster-guard" }]);
  });
});
