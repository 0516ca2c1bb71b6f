// The audit of approvals made elsewhere (core/audit.ts), the issued-certificate check
// (core/certificate.ts) and how the planner treats audit findings (core/fairness.ts).
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  AUDIT_LEDGER_MAX,
  AuditLedger,
  OldestFirst,
  approvedElsewhere,
  approverOf,
  auditOne,
  auditSubject,
  auditVerdict,
} from "../../functions/core/audit.js";
import { CONDITION_TEXT_KEPT, compactCsr, requestTooLarge } from "../../functions/core/request-size.js";
import { buildAlert, type ChatbotNotification } from "../../functions/core/alert.js";
import { checkIssuedCertificate } from "../../functions/core/certificate.js";
import { AlertHistory, ApprovedLedger, planCluster } from "../../functions/core/fairness.js";
import { APPROVED_REASON, DENIED_REASON } from "../../functions/core/plan.js";
import type { CsrCondition, CsrObject, Decision } from "../../functions/core/types.js";
import { standInCertificate } from "../support/certificate-factory.js";
import { kubeletCsrObject } from "../support/csr-factory.js";

const NOW = new Date("2026-06-01T12:00:00Z");
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000).toISOString();
const HOUR = 3600;

const approved = (reason: string, minutesAgo = 1): CsrCondition => ({
  type: "Approved",
  status: "True",
  reason,
  message: `approved by ${reason}`,
  lastUpdateTime: ago(minutesAgo),
  lastTransitionTime: ago(minutesAgo),
});

function csr(opts: {
  created?: number;
  conditions?: CsrCondition[];
  certificate?: string;
  uid?: string;
}): CsrObject {
  return {
    metadata: {
      name: `csr-${opts.uid ?? "x"}`,
      uid: opts.uid ?? "uid-x",
      creationTimestamp: ago(opts.created ?? 2),
    },
    spec: { signerName: "kubernetes.io/kubelet-serving", request: "", username: "system:node:ip-10-0-1-70" },
    status: {
      ...(opts.conditions ? { conditions: opts.conditions } : {}),
      ...(opts.certificate ? { certificate: opts.certificate } : {}),
    },
  };
}

describe("which decided CSRs the audit looks at", () => {
  it("approved with another reason, or issued without approval: elsewhere; ours, denied or pending: not", () => {
    expect(approvedElsewhere(csr({ conditions: [approved("AutoApproved")] }))).toBe(true);
    expect(approvedElsewhere(csr({ certificate: "LS0t" }))).toBe(true);
    expect(approvedElsewhere(csr({ conditions: [approved(APPROVED_REASON)] }))).toBe(false);
    expect(approvedElsewhere(csr({}))).toBe(false);
    const denied: CsrCondition = { type: "Denied", status: "True", reason: DENIED_REASON };
    expect(approvedElsewhere(csr({ conditions: [denied] }))).toBe(false);
  });

  it("within the window by creation or approval time; outside both: never", () => {
    const old = { created: 180, conditions: [approved("AutoApproved", 120)] };
    expect(auditSubject(csr({ created: 5, conditions: [approved("AutoApproved")] }), NOW, HOUR)).toBe(
      "approved-elsewhere",
    );
    expect(auditSubject(csr({ created: 180, conditions: [approved("AutoApproved", 30)] }), NOW, HOUR)).toBe(
      "approved-elsewhere",
    );
    expect(auditSubject(csr(old), NOW, HOUR)).toBeUndefined();
    expect(auditSubject(csr(old), NOW, 4 * HOUR)).toBe("approved-elsewhere");
  });

  it("a back-dated approval is still seen through the certificate's notBefore (the signer's time)", () => {
    const request = kubeletCsrObject({ node: "ip-10-0-1-70", ips: ["10.0.1.70"] }).spec.request;
    const fresh = Buffer.from(standInCertificate(request, { notBefore: new Date(ago(5)) })).toString(
      "base64",
    );
    const stale = Buffer.from(standInCertificate(request, { notBefore: new Date(ago(300)) })).toString(
      "base64",
    );
    const backDated = { created: 180, conditions: [approved("AutoApproved", 170)] };
    expect(auditSubject(csr({ ...backDated, certificate: fresh }), NOW, HOUR)).toBe("approved-elsewhere");
    expect(auditSubject(csr({ ...backDated, certificate: stale }), NOW, HOUR)).toBeUndefined();
    // Ours: our own condition's time is ours; the certificate is not parsed for the window.
    expect(
      auditSubject(
        csr({ created: 180, conditions: [approved(APPROVED_REASON, 170)], certificate: fresh }),
        NOW,
        HOUR,
      ),
    ).toBeUndefined();
    expect(
      auditSubject(csr({ conditions: [approved(APPROVED_REASON)], certificate: fresh }), NOW, HOUR),
    ).toBe("ours-issued");
    expect(auditSubject(csr({ conditions: [approved(APPROVED_REASON)] }), NOW, HOUR)).toBeUndefined();
  });

  it("names the approver as the condition does", () => {
    expect(approverOf(csr({ conditions: [approved("AutoApproved", 3)] }))).toEqual({
      reason: "AutoApproved",
      message: "approved by AutoApproved",
      at: ago(3),
    });
    expect(approverOf(csr({ certificate: "LS0t" })).reason).toBe("(none)");
  });

  it("deny is a violation, wait inconclusive, approve or skip pass", () => {
    const d = (decision: Decision["decision"]): Decision => ({ name: "x", decision, reasons: [] });
    expect(
      ["deny", "wait", "approve", "skip"].map((k) => auditVerdict(d(k as Decision["decision"]))),
    ).toEqual(["violation", "inconclusive", "pass", "pass"]);
  });

  it("auditOne decides the CSR as if undecided, and is off with audit: false", () => {
    const c = csr({ conditions: [approved("AutoApproved")] });
    const seen: CsrObject[] = [];
    const denyAll = (x: CsrObject): Decision => {
      seen.push(x);
      return { name: x.metadata.name, decision: "deny", reasons: [{ code: "IP_NOT_OWNED", message: "m" }] };
    };
    const result = auditOne(c, { now: NOW, windowSeconds: HOUR, enabled: true }, denyAll, () => ({
      ok: true,
    }));
    expect(result).toMatchObject({
      subject: "approved-elsewhere",
      verdict: "violation",
      alert: "approved-elsewhere",
    });
    expect(seen[0]?.status).toBeUndefined();
    expect(
      auditOne(c, { now: NOW, windowSeconds: HOUR, enabled: false }, denyAll, () => ({ ok: true })),
    ).toBe(undefined);
  });
});

describe("the ledger and the per-sweep bound", () => {
  it("remembers audits for the window, forgets older ones, and never holds more than its cap", () => {
    const ledger = new AuditLedger();
    const t0 = NOW.getTime();
    ledger.remember("a", t0 - 2 * HOUR * 1000);
    ledger.remember("b", t0 - 10_000);
    ledger.prune(t0, HOUR);
    expect([ledger.has("a"), ledger.has("b")]).toEqual([false, true]);
    for (let i = 0; i < AUDIT_LEDGER_MAX + 10; i++) ledger.remember(`k${i}`, t0);
    expect(ledger.size).toBe(AUDIT_LEDGER_MAX);
    expect(ledger.has("k0")).toBe(false);
    expect(ledger.has(`k${AUDIT_LEDGER_MAX + 9}`)).toBe(true);
  });

  it("replays the audit alerts it delivered into a sweep's history, so the repeat rule sees them", () => {
    const ledger = new AuditLedger();
    const c = csr({ conditions: [approved("AutoApproved")] });
    ledger.recordAlert(
      c,
      { kind: "approved-elsewhere", via: "alert", codes: ["IP_NOT_OWNED"] },
      NOW.getTime(),
    );
    const history = new AlertHistory();
    ledger.replayInto(history);
    expect(
      history.lastAlertAt(
        AlertHistory.key("approved-elsewhere", "system:node:ip-10-0-1-70", ["IP_NOT_OWNED"]),
      ),
    ).toBe(NOW.getTime());
  });

  it("keeps the oldest `max` by creation time then UID, within 2 × max, and counts the rest", () => {
    const kept = new OldestFirst<CsrObject>(3, (c) => c);
    const items = [5, 1, 4, 2, 9, 3, 8].map((m, i) => csr({ created: m, uid: `u${i}` }));
    for (const item of items) kept.add(item);
    expect(kept.deferred).toBe(4); // counted whether or not the items were taken yet
    // Oldest = created the most minutes ago: 9, 8, 5.
    expect(kept.take().map((c) => c.metadata.uid)).toEqual(["u4", "u6", "u0"]);
    expect(kept.deferred).toBe(4);
  });
});

describe("what the audit keeps", () => {
  it("a byte budget as well as a count: a flood of huge requests is cut, oldest first", () => {
    const kept = new OldestFirst<CsrObject>(
      100,
      (c) => c,
      10_000,
      (c) => c.spec.request.length,
    );
    for (let i = 0; i < 50; i++)
      kept.add({
        ...csr({ created: 50 - i, uid: `u${i}` }),
        spec: { ...csr({}).spec, request: "x".repeat(3000) },
      });
    expect(kept.take().map((c) => c.metadata.uid)).toEqual(["u0", "u1", "u2"]);
    expect(kept.deferred).toBe(47);
  });

  it("compact: an oversized request leaves only its length and still fails as too large; one Approved condition, its texts cut; no certificate text", () => {
    const huge: CsrObject = {
      ...csr({
        conditions: [
          { ...approved("Rubber"), message: "m".repeat(5000) },
          { type: "Other", status: "True", message: "y".repeat(100_000) },
        ],
        certificate: "Q".repeat(200_000),
      }),
      spec: { ...csr({}).spec, request: "A".repeat(1_000_000) },
    };
    const compact = compactCsr(huge, "audit");
    expect(compact.spec.request).toBe("");
    expect(compact.spec.requestLength).toBe(1_000_000);
    expect(requestTooLarge(compact)).toBe(true);
    expect(compact.status?.conditions?.map((c) => c.type)).toEqual(["Approved"]);
    expect(compact.status?.conditions?.[0]).toMatchObject({ reason: "Rubber" });
    expect(compact.status?.conditions?.[0]?.message).toHaveLength(CONDITION_TEXT_KEPT);
    expect(compact.status?.certificate).toBe("(issued)");
    expect(JSON.stringify(compact).length).toBeLessThan(4096);
    // The sweep compacts every listed CSR first: the audit's form of that is the same.
    expect(compactCsr(compactCsr(huge), "audit")).toStrictEqual(compact);
  });
});

describe("the issued certificate against its request", () => {
  const request = kubeletCsrObject({ node: "ip-10-0-1-70", dnsNames: ["ip-10-0-1-70"], ips: ["10.0.1.70"] })
    .spec.request;
  const b64 = (pem: string) => Buffer.from(pem).toString("base64");

  it("the same names and key: ok", () => {
    expect(checkIssuedCertificate(b64(standInCertificate(request)), request).ok).toBe(true);
  });

  it("an extra name, a missing one, another key: each named", () => {
    const extra = checkIssuedCertificate(b64(standInCertificate(request, { extraIp: "10.0.1.99" })), request);
    expect(extra).toMatchObject({
      ok: false,
      problems: [
        "the certificate's SANs differ from the request's: 1 not requested, 0 requested but missing",
      ],
    });
    const missing = checkIssuedCertificate(
      b64(standInCertificate(request, { dropSan: "10.0.1.70" })),
      request,
    );
    expect(missing).toMatchObject({
      ok: false,
      problems: [
        "the certificate's SANs differ from the request's: 0 not requested, 1 requested but missing",
      ],
    });
    const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    const key = checkIssuedCertificate(b64(standInCertificate(request, { otherKey })), request);
    expect(key).toMatchObject({
      ok: false,
      problems: ["the certificate's public key is not the key of the request"],
    });
  });

  it("IPv6 SANs compare as addresses", () => {
    const v6 = kubeletCsrObject({
      node: "ip-10-0-1-70",
      dnsNames: ["ip-10-0-1-70"],
      ips: ["10.0.1.70", "2a05:d018:1:2::70"],
    }).spec.request;
    expect(checkIssuedCertificate(b64(standInCertificate(v6)), v6).ok).toBe(true);
    const extra = checkIssuedCertificate(b64(standInCertificate(v6, { extraIp: "2a05:d018:1:2::71" })), v6);
    expect(extra).toMatchObject({
      ok: false,
      problems: [
        "the certificate's SANs differ from the request's: 1 not requested, 0 requested but missing",
      ],
    });
    expect(checkIssuedCertificate(b64(standInCertificate(v6, { dropSan: "2a05:d018:1:2::70" })), v6).ok).toBe(
      false,
    );
  });

  it("a certificate that does not parse is a problem, not a crash; names compare case-insensitively", () => {
    const garbage = b64("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    const result = checkIssuedCertificate(garbage, request);
    expect(result.ok).toBe(false);
    const upper = kubeletCsrObject({ node: "ip-10-0-1-70", dnsNames: ["IP-10-0-1-70"], ips: ["10.0.1.70"] })
      .spec.request;
    // The factory signs both requests with its one default key: only the names' case differs.
    expect(checkIssuedCertificate(b64(standInCertificate(upper)), request).ok).toBe(true);
  });
});

describe("planning audit findings", () => {
  const settings = {
    mode: "enforce" as const,
    deny: true,
    maxApprovalsPerSweep: "auto" as const,
    maxAlertsPerSweep: 1,
    alertRepeatWindowSeconds: HOUR,
    notIssuedAfterSeconds: 600,
  };
  const finding = (uid: string, node: string) => {
    const c = {
      ...csr({ conditions: [approved("AutoApproved")], uid }),
      spec: { ...csr({}).spec, username: `system:node:${node}` },
    };
    const decision: Decision = {
      name: c.metadata.name,
      decision: "deny",
      node,
      requester: c.spec.username,
      reasons: [{ code: "IP_NOT_OWNED", message: "m" }],
    };
    return { item: c, csr: c, decision, audit: { issued: true } };
  };

  it("an approved-elsewhere alert with no write; over the budget into the summary; a repeat within the window", () => {
    const history = new AlertHistory();
    const a = finding("u1", "n1");
    const b = finding("u2", "n2");
    history.record(
      { ...a.csr, metadata: { name: "earlier", uid: "u0" } },
      { kind: "approved-elsewhere", via: "alert", codes: ["IP_NOT_OWNED"] },
      NOW.getTime() - 60_000,
    );
    const c = finding("u3", "n3");
    const plan = planCluster({
      candidates: [],
      followUps: [],
      audits: [a, b, c],
      overflows: [],
      approved: new ApprovedLedger(),
      history,
      settings,
      nodeCount: 0,
      now: NOW,
    });
    expect(plan.work.every((w) => w.action === "audit" && w.condition === undefined)).toBe(true);
    const delivery = Object.fromEntries(plan.work.map((w) => [w.csr.metadata.uid, w.alerts[0]?.delivery]));
    expect(delivery).toEqual({ u1: "repeat", u2: "alert", u3: "summary" });
    expect(plan.summary?.byKind).toEqual([{ kind: "approved-elsewhere", count: 1 }]);
  });
});

describe("the approved-elsewhere alert", () => {
  it("names the approver in code spans, says whether issued, and what to do", () => {
    const { message, attributes } = buildAlert({
      kind: "approved-elsewhere",
      cluster: { name: "prod", kind: "eks", region: "eu-west-1", vpcIds: ["vpc-1"] },
      decision: {
        name: "csr-1",
        decision: "deny",
        node: "ip-10-0-1-70",
        requester: "system:node:ip-10-0-1-70",
        reasons: [{ code: "IP_NOT_OWNED", message: "IP SAN 10.0.1.99 is not an address of i-1" }],
      },
      audit: { approver: { reason: "Rubber`Stamp", message: "<!channel> ok" }, issued: true },
      dryRun: false,
      now: NOW,
    });
    const n = JSON.parse(message) as ChatbotNotification;
    // Backticks neutralised, no mention can come from the other approver's message.
    expect(n.content.description).toContain("*Approved by* reason `RubberˋStamp`, message `‹!channel› ok`");
    expect(n.content.description).not.toContain("<!channel>");
    expect(n.content.description).toContain("*Certificate* issued");
    expect(n.content.nextSteps.join("\n")).toMatch(/cannot be revoked/);
    expect(n.content.nextSteps.join("\n")).toMatch(/rotating the cluster CA/);
    expect(n.metadata.additionalContext).toMatchObject({
      alertKind: "approved-elsewhere",
      approvedByReason: "Rubber`Stamp",
      certificateIssued: "true",
      reasonCodes: "IP_NOT_OWNED",
    });
    expect(attributes.decision?.StringValue).toBe("approved-elsewhere");
  });
});
