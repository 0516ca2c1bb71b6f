import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { AlertMessageSchema } from "../../functions/core/alert-contract.js";
import {
  ALERT_KINDS,
  ALERT_LIMITS,
  buildAlert,
  truncateList,
  type AlertContext,
  type ChatbotNotification,
} from "../../functions/core/alert.js";
import type { ClusterFacts, Decision } from "../../functions/core/types.js";

const NOW = new Date("2025-01-02T03:04:05Z");
const cluster: ClusterFacts = { name: "prod-1", kind: "eks", region: "eu-west-1", vpcIds: ["vpc-0abc"] };
const denied: Decision = {
  name: "csr-7x9k2",
  decision: "deny",
  node: "ip-10-0-1-70.eu-west-1.compute.internal",
  requester: "system:node:ip-10-0-1-70.eu-west-1.compute.internal",
  instanceId: "i-0123456789abcdef0",
  reasons: [
    { code: "IP_NOT_OWNED", message: "IP SAN 10.0.9.9 is not an address of i-0123456789abcdef0" },
    { code: "DNS_NOT_OWNED", message: "DNS SAN api.example.com is not a name of i-0123456789abcdef0" },
  ],
  requestedSans: {
    dnsNames: ["ip-10-0-1-70.eu-west-1.compute.internal", "api.example.com"],
    ips: ["10.0.1.70", "10.0.9.9"],
    other: [],
  },
  owned: { ips: ["10.0.1.70"], dnsNames: ["ip-10-0-1-70", "ip-10-0-1-70.eu-west-1.compute.internal"] },
};

function parse(ctx: AlertContext): { n: ChatbotNotification; raw: ReturnType<typeof buildAlert> } {
  const raw = buildAlert(ctx);
  return { n: JSON.parse(raw.message) as ChatbotNotification, raw };
}

describe("buildAlert: Chatbot custom notification schema", () => {
  it("has exactly the custom-notification shape, with string-only additionalContext", () => {
    const { n } = parse({
      kind: "denied",
      cluster,
      decision: denied,
      dryRun: false,
      now: NOW,
      account: "111122223333",
    });
    expect(Object.keys(n).sort()).toEqual(["content", "id", "metadata", "source", "version"]);
    expect(n.version).toBe("1.0");
    expect(n.source).toBe("custom");
    expect(typeof n.id).toBe("string");
    expect(Object.keys(n.content).sort()).toEqual(["description", "nextSteps", "textType", "title"]);
    expect(n.content.textType).toBe("client-markdown");
    expect(n.content.title).toContain("denied");
    expect(n.content.title).toContain("csr-7x9k2");
    expect(Object.keys(n.metadata).sort()).toEqual(["additionalContext", "eventType", "summary", "threadId"]);
    expect(n.metadata.eventType).toBe("KubeletServingCsrDenied");
    expect(n.metadata.summary).toContain("IP_NOT_OWNED, DNS_NOT_OWNED");
    for (const value of Object.values(n.metadata.additionalContext)) expect(typeof value).toBe("string");
  });

  it("carries the machine-readable decision in additionalContext", () => {
    const { n } = parse({
      kind: "denied",
      cluster,
      decision: denied,
      dryRun: false,
      now: NOW,
      account: "111122223333",
    });
    const c = n.metadata.additionalContext;
    expect(c).toMatchObject({
      account: "111122223333",
      region: "eu-west-1",
      cluster: "prod-1",
      csr: "csr-7x9k2",
      node: "ip-10-0-1-70.eu-west-1.compute.internal",
      requester: "system:node:ip-10-0-1-70.eu-west-1.compute.internal",
      decision: "deny",
      reasonCodes: "IP_NOT_OWNED,DNS_NOT_OWNED",
      instanceId: "i-0123456789abcdef0",
      dryRun: "false",
      alertKind: "denied",
      time: "2025-01-02T03:04:05.000Z",
    });
    expect(JSON.parse(c.requestedSans!)).toEqual(denied.requestedSans);
    expect(JSON.parse(c.ownedAddresses!)).toEqual(denied.owned);
    expect(JSON.parse(c.reasons!)).toEqual([
      "IP_NOT_OWNED: IP SAN 10.0.9.9 is not an address of i-0123456789abcdef0",
      "DNS_NOT_OWNED: DNS SAN api.example.com is not a name of i-0123456789abcdef0",
    ]);
  });

  it("sets the SNS attributes filter policies use: cluster, decision, first reason code", () => {
    const { raw } = parse({ kind: "denied", cluster, decision: denied, dryRun: false, now: NOW });
    expect(raw.attributes).toEqual({
      cluster: { DataType: "String", StringValue: "prod-1" },
      decision: { DataType: "String", StringValue: "deny" },
      reason: { DataType: "String", StringValue: "IP_NOT_OWNED" },
      alertKind: { DataType: "String", StringValue: "denied" },
    });
    expect(raw.subject.length).toBeLessThanOrEqual(100);
    expect(raw.subject).toMatch(/^[\x20-\x7e]+$/);
  });

  it("describes the facts in the markdown description and suggests next steps", () => {
    const { n } = parse({ kind: "denied", cluster, decision: denied, dryRun: false, now: NOW });
    const d = n.content.description;
    expect(d).toContain("`IP_NOT_OWNED`");
    expect(d).toContain("`10.0.9.9`");
    expect(d).toContain("*Instance owns*");
    expect(n.content.nextSteps.length).toBeGreaterThan(0);
    expect(n.content.nextSteps.some((s) => s.includes("kubectl get csr csr-7x9k2"))).toBe(true);
    expect(n.content.nextSteps.some((s) => s.includes("--instance-ids i-0123456789abcdef0"))).toBe(true);
  });

  it("gives every kind its own event type, title and bounded next steps", () => {
    const eventTypes = new Set<string>();
    for (const kind of ALERT_KINDS) {
      const ctx: AlertContext =
        kind === "flood-guard"
          ? { kind, cluster, dryRun: false, now: NOW, floodGuard: { approved: 20, held: 7, limit: 20 } }
          : { kind, cluster, decision: denied, dryRun: kind === "would-deny", now: NOW };
      const { n, raw } = parse(ctx);
      eventTypes.add(n.metadata.eventType);
      expect(n.content.title.length).toBeLessThanOrEqual(ALERT_LIMITS.title);
      expect(n.content.description.length).toBeLessThanOrEqual(ALERT_LIMITS.description);
      expect(n.content.nextSteps.length).toBeGreaterThan(0);
      expect(n.content.nextSteps.length).toBeLessThanOrEqual(ALERT_LIMITS.nextSteps);
      expect(raw.attributes.alertKind!.StringValue).toBe(kind);
      // Each kind is what the alert contract (the Slack notifier's schema) describes.
      expect(v.parse(AlertMessageSchema, n)).toEqual(n);
    }
    expect(eventTypes.size).toBe(ALERT_KINDS.length);
  });

  it("marks dry-run alerts", () => {
    const { n } = parse({ kind: "would-deny", cluster, decision: denied, dryRun: true, now: NOW });
    expect(n.metadata.additionalContext.dryRun).toBe("true");
    expect(n.content.description).toContain("dry-run");
    expect(n.content.title).toContain("dry-run");
  });

  it("flood-guard alerts have cluster-level attributes and context", () => {
    const flood = parse({
      kind: "flood-guard",
      cluster,
      dryRun: false,
      now: NOW,
      floodGuard: { approved: 20, held: 7, limit: 20 },
    });
    expect(flood.raw.attributes.reason!.StringValue).toBe("FLOOD_GUARD");
    expect(flood.raw.attributes.decision!.StringValue).toBe("flood-guard");
    expect(flood.n.metadata.additionalContext).toMatchObject({
      approved: "20",
      held: "7",
      maxApprovalsPerSweep: "20",
    });
    expect(flood.n.metadata.threadId).toBe("csr-approver/-/eu-west-1/prod-1");
  });

  it("threads alerts per node and is deterministic", () => {
    const a = buildAlert({ kind: "denied", cluster, decision: denied, dryRun: false, now: NOW });
    const b = buildAlert({ kind: "denied", cluster, decision: denied, dryRun: false, now: NOW });
    expect(a).toEqual(b);
    const other = parse({
      kind: "denied",
      cluster,
      decision: { ...denied, name: "csr-other" },
      dryRun: false,
      now: NOW,
    });
    expect(other.n.metadata.threadId).toBe((JSON.parse(a.message) as ChatbotNotification).metadata.threadId);
    expect(other.n.id).not.toBe((JSON.parse(a.message) as ChatbotNotification).id);
  });
});

describe("buildAlert: limits and hostile input", () => {
  it("stays under 256 KiB with thousands of SANs, cutting lists with a (+N more) marker", () => {
    const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
    const dnsNames = many(5000, (i) => `host-${i}.${"x".repeat(200)}.example.com`);
    const ips = many(5000, (i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const decision: Decision = {
      ...denied,
      reasons: many(3000, (i) => ({
        code: "DNS_NOT_OWNED" as const,
        message: `DNS SAN ${dnsNames[i]} is not owned`,
      })),
      requestedSans: { dnsNames, ips, other: [] },
      owned: { ips, dnsNames },
    };
    const { message, attributes } = buildAlert({
      kind: "denied",
      cluster,
      decision,
      dryRun: false,
      now: NOW,
    });
    const attributeBytes = Object.entries(attributes).reduce(
      (sum, [k, v]) =>
        sum + Buffer.byteLength(k) + Buffer.byteLength(v.StringValue) + Buffer.byteLength(v.DataType),
      0,
    );
    expect(Buffer.byteLength(message) + attributeBytes).toBeLessThan(256 * 1024);
    const n = JSON.parse(message) as ChatbotNotification;
    const sans = JSON.parse(n.metadata.additionalContext.requestedSans!) as {
      dnsNames: string[];
      ips: string[];
    };
    const marker = sans.dnsNames.at(-1)!;
    expect(marker).toMatch(/^\(\+\d+ more\)$/);
    const kept = sans.dnsNames.length - 1;
    expect(kept).toBeGreaterThan(0);
    expect(Number(/\d+/.exec(marker)![0])).toBe(5000 - kept);
    expect(sans.dnsNames.slice(0, kept)).toEqual(dnsNames.slice(0, kept));
    expect(n.content.description.length).toBeLessThanOrEqual(ALERT_LIMITS.description);
    expect(n.content.description).toMatch(/\(\+\d+ more\)/);
  });

  it("keeps small lists whole", () => {
    const { n } = parse({ kind: "denied", cluster, decision: denied, dryRun: false, now: NOW });
    expect(n.metadata.additionalContext.requestedSans).not.toContain("more)");
    expect(truncateList(["a", "b", "c"], 2)).toEqual(["a", "b", "(+1 more)"]);
    expect(truncateList(["a", "b"], 2)).toEqual(["a", "b"]);
  });

  it("bounds a huge attacker-chosen node name", () => {
    const node = "ä".repeat(1_000_000);
    const decision: Decision = {
      ...denied,
      node,
      requester: `system:node:${node}`,
      instanceId: undefined,
      owned: undefined,
    };
    const { message, subject } = buildAlert({ kind: "denied", cluster, decision, dryRun: false, now: NOW });
    expect(Buffer.byteLength(message)).toBeLessThan(64 * 1024);
    expect(subject.length).toBeLessThanOrEqual(100);
  });

  it("neutralises markdown, Slack mentions, control and bidi characters from the CSR", () => {
    const node = "evil`<!channel>`\n*bold*\u202Egnp.exe\u0007";
    const decision: Decision = {
      ...denied,
      name: "csr-`<@U123>`",
      node,
      requester: `system:node:${node}`,
      requestedSans: { dnsNames: ["<https://phish.example|click>"], ips: [], other: [] },
    };
    const { n, raw } = parse({ kind: "denied", cluster, decision, dryRun: false, now: NOW });
    const rendered = [
      n.content.title,
      n.content.description,
      n.metadata.summary,
      ...n.content.nextSteps,
    ].join("\n");
    expect(rendered).not.toContain("<!channel>");
    expect(rendered).not.toContain("<@U123>");
    expect(rendered).not.toContain("<https://");
    // eslint-disable-next-line no-control-regex -- asserting control characters are gone
    expect(rendered).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u202a-\u202e]/);
    // Every code span still opens and closes: no value broke out of its backticks.
    for (const line of n.content.description.split("\n")) expect((line.match(/`/g) ?? []).length % 2).toBe(0);
    // The description's line structure is ours: the node's newline did not add a line.
    expect(n.content.description.split("\n").filter((l) => l.includes("*bold*"))).toHaveLength(1);
    expect(raw.subject).toMatch(/^[\x20-\x7e]+$/);
    // eslint-disable-next-line no-control-regex -- asserting control characters are gone
    expect(n.metadata.additionalContext.node).not.toMatch(/[\u0000-\u001f\u202e]/);
  });
});

describe("buildAlert: the summary names node requesters first (issue #21, finding 3)", () => {
  const byNode = [
    { node: "ip-10-0-1-9.eu-west-1.compute.internal", isNode: true, count: 1, codes: ["IP_NOT_OWNED"] },
    ...Array.from({ length: 30 }, (_, i) => ({
      node: `system:serviceaccount:ns:sa-${i}`,
      isNode: false,
      count: 2,
      codes: ["NOT_A_NODE"],
    })),
  ];
  const summary = {
    total: 61,
    nodes: 31,
    budget: 20,
    byKind: [{ kind: "denied" as const, count: 61 }],
    byCode: [
      { code: "NOT_A_NODE", count: 60 },
      { code: "IP_NOT_OWNED", count: 1 },
    ],
    byNode,
  };

  it("text: the node first with its codes, as a code span; the rest counted", () => {
    const { n } = parse({ kind: "summary", cluster, dryRun: false, now: NOW, summary });
    const line = n.content.description.split("\n").find((l) => l.startsWith("*By node*"))!;
    expect(line).toMatch(
      /^\*By node\* `ip-10-0-1-9\.eu-west-1\.compute\.internal` 1 \(IP_NOT_OWNED\), requester `/,
    );
    expect(line).toContain(`(+${31 - ALERT_LIMITS.summaryRequestersInText} more requesters)`);
    expect(n.content.description.length).toBeLessThanOrEqual(ALERT_LIMITS.description);
  });

  it("JSON: every requester it has, the node first, with isNode and its reason codes", () => {
    const { n } = parse({ kind: "summary", cluster, dryRun: false, now: NOW, summary });
    const listed = JSON.parse(n.metadata.additionalContext.byNode!) as {
      node: string;
      isNode: boolean;
      count: number;
      reasonCodes: string;
    }[];
    expect(listed).toHaveLength(31);
    expect(listed[0]).toEqual({
      node: "ip-10-0-1-9.eu-west-1.compute.internal",
      isNode: true,
      count: 1,
      reasonCodes: "IP_NOT_OWNED",
    });
    expect(n.metadata.additionalContext.summarizedNodes).toBe("31");
  });

  it("within the SNS limit whatever the requesters' names, the node still first", () => {
    const huge = Array.from({ length: 100 }, (_, i) => ({
      node: `${"x".repeat(5000)}-${i}`,
      isNode: i === 0,
      count: 1,
      codes: ["IP_NOT_OWNED", "DNS_NOT_OWNED", "FORBIDDEN_SAN", "WEAK_KEY"],
    }));
    const { n, raw } = parse({
      kind: "summary",
      cluster,
      dryRun: false,
      now: NOW,
      summary: { ...summary, nodes: 100, byNode: huge },
    });
    expect(Buffer.byteLength(raw.message)).toBeLessThanOrEqual(ALERT_LIMITS.messageBytes);
    const listed = JSON.parse(n.metadata.additionalContext.byNode!) as { isNode: boolean }[];
    expect(listed[0]!.isNode).toBe(true);
    expect(n.content.description).toContain("(IP_NOT_OWNED, DNS_NOT_OWNED, FORBIDDEN_SAN, (+1 more))");
  });
});
