// The Slack notifier against a local HTTP server standing in for the incoming webhook:
// payload shape, Block Kit limits, retries (500, 429 + Retry-After), giving up, pacing within
// Slack's rate limit without losing a message, and the webhook URL never reaching a log line.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Logger } from "@aws-lambda-powertools/logger";
import type { SNSEvent } from "aws-lambda";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { buildAlert } from "../../functions/core/alert.js";
import type { Decision } from "../../functions/core/types.js";
import { createNotifier, DeliveryError, handler, type NotifierLog } from "../../functions/notifier.js";
import {
  readInbound,
  renderSlackMessage,
  SLACK_LIMITS,
  type Block,
  type SlackMessage,
} from "../../functions/notify/blocks.js";
import { createPacer, NO_PACING, SLACK_WEBHOOK_INTERVAL_MS } from "../../functions/notify/pacer.js";
import { parseRetryAfter } from "../../functions/notify/webhook.js";
import { cachedGetter, parseWebhookUrl, WebhookConfigError } from "../../functions/notify/webhook-url.js";

// ---------------------------------------------------------------------------------------
// The stand-in webhook
// ---------------------------------------------------------------------------------------

interface Reply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

const SECRET_PATH = "/services/T0SECRET1/B0SECRET2/xoxSecretTokenNeverLogged42";
let server: Server;
let baseUrl: string;
let replies: Reply[] = [];
let received: { path: string; contentType: string | undefined; body: unknown; at: number; status: number }[] =
  [];

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const at = Date.now(); // arrival, on the same clock as the pacer
    void readBody(req).then((text) => {
      const reply = replies.shift() ?? { status: 200, body: "ok" };
      received.push({
        path: req.url ?? "",
        contentType: req.headers["content-type"],
        body: JSON.parse(text),
        at,
        status: reply.status,
      });
      res.writeHead(reply.status, { "content-type": "text/plain", ...reply.headers });
      res.end(reply.body ?? (reply.status === 200 ? "ok" : "error"));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(() => {
  replies = [];
  received = [];
  vi.restoreAllMocks();
});

const webhookUrl = () => `${baseUrl}${SECRET_PATH}`;

// ---------------------------------------------------------------------------------------
// Fixtures: messages as the approver really builds them (core/alert.ts)
// ---------------------------------------------------------------------------------------

const CLUSTER = { name: "prod-eu", kind: "eks" as const, region: "eu-west-1", vpcIds: ["vpc-0abc"] };
const NOW = new Date("2025-03-01T12:00:00Z");

function deniedDecision(sanCount = 2): Decision {
  return {
    name: "csr-x7k2p",
    decision: "deny",
    reasons: [
      { code: "IP_NOT_OWNED", message: "IP SAN 10.0.9.9 is not an address of i-0123456789abcdef0" },
      { code: "DNS_NOT_OWNED", message: "DNS SAN evil.example.com is not a name of i-0123456789abcdef0" },
    ],
    node: "ip-10-0-1-70.eu-west-1.compute.internal",
    requester: "system:node:ip-10-0-1-70.eu-west-1.compute.internal",
    instanceId: "i-0123456789abcdef0",
    requestedSans: {
      dnsNames: Array.from({ length: sanCount }, (_, i) => `host-${i}.evil.example.com`),
      ips: Array.from({ length: sanCount }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`),
      other: [],
    },
    owned: { ips: ["10.0.1.70"], dnsNames: ["ip-10-0-1-70", "ip-10-0-1-70.eu-west-1.compute.internal"] },
  };
}

function deniedAlert(sanCount = 2): string {
  return buildAlert({
    kind: "denied",
    cluster: CLUSTER,
    decision: deniedDecision(sanCount),
    dryRun: false,
    now: NOW,
    account: "123456789012",
  }).message;
}

function snsEvent(...messages: string[]): SNSEvent {
  return {
    Records: messages.map((Message, i) => ({
      EventSource: "aws:sns",
      EventVersion: "1.0",
      EventSubscriptionArn: "arn:aws:sns:eu-west-1:123456789012:alerts:sub",
      Sns: {
        Type: "Notification",
        MessageId: `msg-${i}`,
        TopicArn: "arn:aws:sns:eu-west-1:123456789012:alerts",
        Subject: "csr-approver denied",
        Message,
        Timestamp: NOW.toISOString(),
        SignatureVersion: "1",
        Signature: "",
        SigningCertUrl: "",
        UnsubscribeUrl: "",
        MessageAttributes: {},
      },
    })),
  };
}

/** A logger that keeps every line, so tests can read what would reach CloudWatch. */
function recordingLog(): NotifierLog & { lines: string[] } {
  const lines: string[] = [];
  const put = (level: string) => (message: string, extra?: Record<string, unknown>) =>
    lines.push(JSON.stringify({ level, message, ...extra }));
  return { lines, info: put("info"), warn: put("warn"), error: put("error") };
}

const noSleep = { sleep: async () => {}, baseDelayMs: 1, timeoutMs: 2000 };

// ---------------------------------------------------------------------------------------
// Block Kit invariants
// ---------------------------------------------------------------------------------------

function textsOf(block: Block): string[] {
  switch (block.type) {
    case "header":
      return [block.text.text];
    case "section":
      return [...(block.text ? [block.text.text] : []), ...(block.fields ?? []).map((f) => f.text)];
    case "context":
      return block.elements.map((e) => e.text);
    case "divider":
      return [];
  }
}

function expectWithinSlackLimits(message: SlackMessage): void {
  expect(message.blocks.length).toBeGreaterThan(0);
  expect(message.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
  expect(message.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
  for (const block of message.blocks) {
    if (block.type === "header") {
      expect(block.text.type).toBe("plain_text");
      expect(block.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.headerText);
    }
    if (block.type === "section") {
      expect(block.text !== undefined || block.fields !== undefined).toBe(true);
      if (block.text) expect(block.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
      if (block.fields) {
        expect(block.fields.length).toBeLessThanOrEqual(SLACK_LIMITS.fields);
        for (const f of block.fields) expect(f.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fieldText);
      }
    }
    if (block.type === "context") {
      expect(block.elements.length).toBeLessThanOrEqual(SLACK_LIMITS.contextElements);
      for (const e of block.elements) expect(e.text.length).toBeLessThanOrEqual(SLACK_LIMITS.contextText);
    }
    for (const text of textsOf(block)) expect(text.length).toBeGreaterThan(0);
  }
}

function fieldsText(message: SlackMessage): string {
  return message.blocks
    .flatMap((b) => (b.type === "section" ? (b.fields ?? []).map((f) => f.text) : []))
    .join("\n");
}

function allText(message: SlackMessage): string {
  return message.blocks.flatMap(textsOf).join("\n");
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

describe("renderSlackMessage", () => {
  it("renders the approver's denial: header, who/what fields, reasons, requested vs owned, next steps, context", () => {
    const message = renderSlackMessage(deniedAlert());
    expectWithinSlackLimits(message);

    const [first] = message.blocks;
    expect(first?.type).toBe("header");
    expect(first?.type === "header" && first.text.text).toContain("kubelet-serving CSR denied");

    const fields = fieldsText(message);
    expect(fields).toContain("*Cluster*\n`prod-eu`");
    expect(fields).toContain("*Node*\n`ip-10-0-1-70.eu-west-1.compute.internal`");
    expect(fields).toContain("*Requester*\n`system:node:ip-10-0-1-70.eu-west-1.compute.internal`");
    expect(fields).toContain("*Decision*\n`deny (denied)`");
    expect(fields).toContain("*CSR*\n`csr-x7k2p`");
    expect(fields).toContain("*Instance*\n`i-0123456789abcdef0`");
    expect(fields).toContain("123456789012 / eu-west-1");

    const text = allText(message);
    // Reason messages quote requester text: each one is a code span as a whole.
    expect(text).toMatch(/\*Reasons\*\n• `IP_NOT_OWNED` `IP SAN 10\.0\.9\.9 is not an address/);
    expect(text).toContain("• `DNS_NOT_OWNED`");
    expect(fields).toMatch(
      /\*Requested SANs\*\nDNS: `host-0\.evil\.example\.com`, `host-1\.evil\.example\.com`\nIP: `10\.0\.0\.0`/,
    );
    expect(fields).toMatch(/\*Instance owns\*\nIP: `10\.0\.1\.70`\nDNS: `ip-10-0-1-70`/);
    expect(text).toContain("*Next steps*\n• Inspect the request");
    const last = message.blocks[message.blocks.length - 1];
    expect(last?.type).toBe("context");
    expect(textsOf(last!).join(" ")).toContain("KubeletServingCsrDenied");
    expect(message.text).toContain("csr-x7k2p");
  });

  it("says which account, region and cluster for every kind of alert: one channel serves a whole organization", () => {
    const base = { cluster: CLUSTER, now: NOW, dryRun: false, account: "111122223333" };
    const alerts = [
      buildAlert({ ...base, kind: "denied", decision: deniedDecision() }),
      buildAlert({ ...base, kind: "flood-guard", floodGuard: { approved: 10, held: 3, limit: 10 } }),
      buildAlert({
        ...base,
        kind: "node-flood",
        nodeFlood: { node: "ip-10-0-1-70", pending: 900, examined: 20 },
      }),
    ];
    for (const alert of alerts) {
      const message = renderSlackMessage(alert.message);
      const fields = fieldsText(message);
      expect(fields).toContain("*Cluster*\n`prod-eu`");
      expect(fields).toContain("*Account / region*\n`111122223333 / eu-west-1`");
      // The notification text (push, channel list) too, first, so that cutting keeps it.
      expect(message.text.startsWith("[111122223333 / eu-west-1] ")).toBe(true);
      expect(message.text).toContain("`prod-eu`");
    }
    // Two accounts' clusters of the same name are told apart.
    const other = renderSlackMessage(
      buildAlert({
        ...base,
        account: "444455556666",
        kind: "flood-guard",
        floodGuard: { approved: 10, held: 3, limit: 10 },
      }).message,
    );
    expect(other.text).not.toBe(renderSlackMessage(alerts[1]!.message).text);
    // A long summary is cut, not the account.
    const long = renderSlackMessage(
      buildAlert({
        ...base,
        kind: "denied",
        decision: { ...deniedDecision(), name: `csr-${"x".repeat(3000)}` },
      }).message,
    );
    expect(long.text.startsWith("[111122223333 / eu-west-1] ")).toBe(true);
    expect(long.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
    // No account in the alert (an older producer): the region alone.
    const { account: _account, ...withoutAccount } = base;
    const regionOnly = renderSlackMessage(
      buildAlert({ ...withoutAccount, kind: "flood-guard", floodGuard: { approved: 10, held: 3, limit: 10 } })
        .message,
    );
    expect(regionOnly.text.startsWith("[eu-west-1] ")).toBe(true);
  });

  it("keeps within Block Kit limits for a CSR with 5,000 SANs and says how many were left out", () => {
    const message = renderSlackMessage(deniedAlert(5000));
    expectWithinSlackLimits(message);
    const fields = fieldsText(message);
    const more = [...fields.matchAll(/\(\+(\d+) more\)/g)].map((m) => Number(m[1]));
    expect(more.length).toBe(2); // the DNS and the IP list
    // Shown plus "more" accounts for every SAN of each list.
    const requested = fields.split("*Instance owns*")[0]!;
    const dnsShown = (requested.match(/`host-\d+\.evil\.example\.com`/g) ?? []).length;
    expect(dnsShown).toBeGreaterThan(0);
    expect(dnsShown + more[0]!).toBe(5000);
    expect(JSON.stringify(message).length).toBeLessThan(40_000);
  });

  it("counts every item of raw (untruncated) arrays too", () => {
    const body = JSON.stringify({
      version: "1.0",
      source: "custom",
      content: { textType: "client-markdown", title: "t".repeat(400), description: "d", nextSteps: [] },
      metadata: {
        additionalContext: {
          cluster: "c",
          requestedSans: {
            dnsNames: Array.from({ length: 5000 }, (_, i) => `n${i}.example.com`),
            ips: [],
            other: [],
          },
          reasonCodes: Array.from({ length: 5000 }, () => "FORBIDDEN_SAN"),
        },
      },
    });
    const message = renderSlackMessage(body);
    expectWithinSlackLimits(message);
    const fields = fieldsText(message);
    const shown = (fields.match(/`n\d+\.example\.com`/g) ?? []).length;
    const more = Number(/\(\+(\d+) more\)/.exec(fields)?.[1]);
    expect(shown + more).toBe(5000);
    expect(allText(message)).toMatch(/• \(\+\d+ more\)/);
    expect(fields).toContain("Instance owns*\n_no instance identified_");
  });

  it("tolerates missing fields and foreign shapes without throwing", () => {
    const minimal = renderSlackMessage(
      JSON.stringify({ version: "1.0", content: { description: "only this" } }),
    );
    expectWithinSlackLimits(minimal);
    expect(allText(minimal)).toContain("only this");
    expect(minimal.blocks[0]?.type === "header" && minimal.blocks[0].text.text).toBe("csr-approver alert");

    for (const body of [
      "",
      "not json",
      "[1,2]",
      "null",
      JSON.stringify({ version: "1.0", content: {}, metadata: 5 }),
    ]) {
      expectWithinSlackLimits(renderSlackMessage(body, "subject"));
    }
  });

  it("renders CloudWatch alarm state changes from the same topic", () => {
    const message = renderSlackMessage(
      JSON.stringify({
        AlarmName: "csr-approver-dev-ApproverErrorsAlarm",
        AlarmDescription: "csr-approver: the approver Lambda failed",
        AWSAccountId: "123456789012",
        NewStateValue: "ALARM",
        OldStateValue: "OK",
        NewStateReason: "Threshold Crossed: 1 datapoint [2.0] was >= 1.0",
        StateChangeTime: "2025-03-01T12:00:00.000+0000",
        Region: "EU (Ireland)",
      }),
    );
    expectWithinSlackLimits(message);
    expect(message.blocks[0]?.type === "header" && message.blocks[0].text.text).toBe(
      ":rotating_light: ALARM: csr-approver-dev-ApproverErrorsAlarm",
    );
    expect(fieldsText(message)).toContain("OK → ALARM");
    expect(allText(message)).toContain("Threshold Crossed");
  });

  it("neutralises Slack control sequences coming from the CSR", () => {
    const decision = { ...deniedDecision(), node: "<!channel> `x` <https://evil.example|click>" };
    const body = JSON.parse(deniedAlert()) as { metadata: { additionalContext: Record<string, string> } };
    body.metadata.additionalContext.node = decision.node;
    body.metadata.additionalContext.requestedSans = JSON.stringify({
      dnsNames: ["<!here>"],
      ips: [],
      other: [],
    });
    const text = JSON.stringify(renderSlackMessage(JSON.stringify(body)));
    expect(text).not.toContain("<!channel>");
    expect(text).not.toContain("<!here>");
    expect(text).not.toContain("<https://evil");
    expect(text).toContain("&lt;!channel&gt;");
  });
});

describe("readInbound: the alert contract at the notifier's edge", () => {
  it("reads the approver's alerts of every kind as the contract's, anything else by its shape", () => {
    const base = { cluster: CLUSTER, now: NOW, dryRun: false, account: "111122223333" };
    for (const message of [
      deniedAlert(5000),
      buildAlert({ ...base, kind: "flood-guard", floodGuard: { approved: 10, held: 3, limit: 10 } }).message,
      buildAlert({ ...base, kind: "node-flood", nodeFlood: { node: "n", pending: 900, examined: 20 } })
        .message,
      buildAlert({
        ...base,
        kind: "approved-elsewhere",
        decision: deniedDecision(),
        audit: { approver: { reason: "R", message: "m" }, issued: false },
      }).message,
    ]) {
      expect(readInbound(message).kind).toBe("alert");
    }
    expect(readInbound(JSON.stringify({ AlarmName: "a", NewStateValue: "OK" })).kind).toBe("alarm");
    for (const body of ["", "not json", "[1,2]", "null", JSON.stringify({ content: {} })]) {
      expect(readInbound(body)).toEqual({ kind: "plain", body });
    }
  });

  it("a Chatbot-shaped message off the contract still renders, and says where it differs, never what it holds", () => {
    const body = JSON.parse(deniedAlert()) as { metadata: { additionalContext: Record<string, unknown> } };
    body.metadata.additionalContext.alertKind = "<!channel> made-up";
    const inbound = readInbound(JSON.stringify(body));
    expect(inbound).toMatchObject({ kind: "notification" });
    const problem = inbound.kind === "notification" ? inbound.problem : "";
    expect(problem).toMatch(/^metadata\.additionalContext\.alertKind: expected /);
    expect(problem).not.toContain("channel");
    expect(fieldsText(renderSlackMessage(JSON.stringify(body)))).toContain("*CSR*\n`csr-x7k2p`");
    const minimal = readInbound(JSON.stringify({ version: "1.0", content: { description: "only this" } }));
    expect(minimal).toMatchObject({ kind: "notification", problem: "source: missing" });
    // Off the contract, what it holds is still read: a summary without any structured context.
    const summaryOnly = JSON.stringify({ version: "1.0", content: {}, metadata: { summary: "disk full" } });
    expect(renderSlackMessage(summaryOnly).text).toBe("disk full");
  });

  it("logs one line for a message off the contract and delivers it all the same; none for the approver's", async () => {
    const log = recordingLog();
    const notify = createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => webhookUrl(),
      log,
      post: noSleep,
    });
    const foreign = JSON.stringify({ version: "1.0", content: { title: "t", description: "d" } });
    expect(await notify(snsEvent(deniedAlert(), foreign))).toEqual({ delivered: 2, failed: 0 });
    const warnings = log.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.level === "warn");
    expect(warnings).toEqual([
      {
        level: "warn",
        message: "alert message does not match the alert contract",
        messageId: "msg-1",
        problem: "source: missing",
      },
    ]);
  });
});

// ---------------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------------

describe("renderSlackMessage: the audit's alerts", () => {
  it("approved-elsewhere: who approved (code span, no mention), whether a certificate exists", () => {
    const body = buildAlert({
      kind: "approved-elsewhere",
      cluster: CLUSTER,
      decision: deniedDecision(),
      audit: { approver: { reason: "RubberStamp", message: "<!channel> approved" }, issued: true },
      dryRun: false,
      now: NOW,
    }).message;
    const texts = renderSlackMessage(body).blocks.flatMap(textsOf);
    expect(texts).toContain("*Approved by*\n`RubberStamp: &lt;!channel&gt; approved`");
    expect(texts).toContain("*Certificate*\n`issued`");
    expect(texts.join("\n")).not.toContain("<!channel>");
  });

  it("certificate-mismatch: what differs", () => {
    const body = buildAlert({
      kind: "certificate-mismatch",
      cluster: CLUSTER,
      decision: { ...deniedDecision(), decision: "skip", reasons: [] },
      audit: { issued: true, problems: ["the certificate's public key is not the key of the request"] },
      dryRun: false,
      now: NOW,
    }).message;
    const texts = renderSlackMessage(body).blocks.flatMap(textsOf);
    expect(texts.some((t) => t.startsWith("*Certificate problems*") && t.includes("public key"))).toBe(true);
  });
});

describe("notifier delivery", () => {
  it("posts the rendered Block Kit JSON to the webhook", async () => {
    const log = recordingLog();
    const notify = createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => webhookUrl(),
      log,
      post: noSleep,
    });
    const result = await notify(snsEvent(deniedAlert(), deniedAlert()));
    expect(result).toEqual({ delivered: 2, failed: 0 });
    expect(received).toHaveLength(2);
    expect(received[0]!.path).toBe(SECRET_PATH);
    expect(received[0]!.contentType).toMatch(/^application\/json/);
    const body = received[0]!.body as SlackMessage;
    expect(body).toEqual(renderSlackMessage(deniedAlert()));
    expectWithinSlackLimits(body);
  });

  it("retries after a 500 and then succeeds", async () => {
    replies = [{ status: 500 }, { status: 503 }, { status: 200, body: "ok" }];
    const sleeps: number[] = [];
    const notify = createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => webhookUrl(),
      log: recordingLog(),
      post: { sleep: async (ms) => void sleeps.push(ms), baseDelayMs: 100, maxAttempts: 4, random: () => 1 },
    });
    await expect(notify(snsEvent(deniedAlert()))).resolves.toEqual({ delivered: 1, failed: 0 });
    expect(received).toHaveLength(3);
    expect(sleeps).toEqual([100, 200]); // exponential backoff
  });

  it("honours Retry-After on 429, in seconds and as an HTTP date", async () => {
    replies = [{ status: 429, headers: { "retry-after": "3" }, body: "rate_limited" }, { status: 200 }];
    const sleeps: number[] = [];
    const notify = createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => webhookUrl(),
      log: recordingLog(),
      post: { sleep: async (ms) => void sleeps.push(ms), baseDelayMs: 1 },
    });
    await notify(snsEvent(deniedAlert()));
    expect(sleeps).toEqual([3000]);
    expect(received).toHaveLength(2);

    const now = Date.parse("2025-03-01T12:00:00Z");
    expect(parseRetryAfter("Sat, 01 Mar 2025 12:00:07 GMT", now)).toBe(7000);
    expect(parseRetryAfter("garbage", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it("really waits for Retry-After with the default sleep", async () => {
    replies = [{ status: 429, headers: { "retry-after": "1" } }, { status: 200 }];
    const notify = createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => webhookUrl(),
      log: recordingLog(),
    });
    const started = performance.now();
    await notify(snsEvent(deniedAlert()));
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("gives up after maxAttempts, logs why, and throws so SNS/Lambda retry", async () => {
    replies = Array.from({ length: 10 }, () => ({ status: 500, body: "internal_error" }));
    const log = recordingLog();
    const notify = createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => webhookUrl(),
      log,
      post: { ...noSleep, maxAttempts: 3 },
    });
    await expect(notify(snsEvent(deniedAlert()))).rejects.toThrow(DeliveryError);
    expect(received).toHaveLength(3);
    const failure = log.lines.find((l) => l.includes("NOT delivered"));
    expect(failure).toBeDefined();
    expect(failure).toContain("gave up after 3 attempts");
    expect(failure).toContain("internal_error");
  });

  it("does not retry a 400 (the payload is wrong, retrying cannot help) but still fails", async () => {
    replies = [{ status: 400, body: "invalid_blocks" }];
    const log = recordingLog();
    const notify = createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => webhookUrl(),
      log,
      post: noSleep,
    });
    await expect(notify(snsEvent(deniedAlert()))).rejects.toThrow(/1 of 1 alert/);
    expect(received).toHaveLength(1);
    expect(log.lines.join("\n")).toContain("invalid_blocks");
  });

  it("delivers the other records when one fails, then throws", async () => {
    replies = [{ status: 200 }, { status: 400, body: "invalid_payload" }, { status: 200 }];
    const notify = createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => webhookUrl(),
      log: recordingLog(),
      post: noSleep,
    });
    await expect(notify(snsEvent(deniedAlert(), "second", deniedAlert()))).rejects.toThrow(/msg-1/);
    expect(received).toHaveLength(3);
  });

  it("stops retrying when the Lambda deadline is near", async () => {
    replies = Array.from({ length: 10 }, () => ({ status: 503 }));
    const log = recordingLog();
    const notify = createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => webhookUrl(),
      log,
      post: noSleep,
    });
    await expect(notify(snsEvent(deniedAlert()), { getRemainingTimeInMillis: () => 1500 })).rejects.toThrow(
      DeliveryError,
    );
    expect(received).toHaveLength(1);
    expect(log.lines.join("\n")).toContain("no time left to retry");
  });

  it("re-reads the URL after Slack says the webhook is gone (rotation), and caches it otherwise", async () => {
    let reads = 0;
    const getWebhookUrl = cachedGetter(async () => {
      reads++;
      return webhookUrl();
    });
    const notify = createNotifier({ pacer: NO_PACING, getWebhookUrl, log: recordingLog(), post: noSleep });
    await notify(snsEvent(deniedAlert()));
    await notify(snsEvent(deniedAlert()));
    expect(reads).toBe(1);
    replies = [{ status: 404, body: "no_service" }];
    await expect(notify(snsEvent(deniedAlert()))).rejects.toThrow(DeliveryError);
    await notify(snsEvent(deniedAlert()));
    expect(reads).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------
// Pacing and no loss (issue 10): ≤ 1 post per second per webhook, Retry-After honoured,
// every message delivered or kept by Lambda's retries and the DLQ
// ---------------------------------------------------------------------------------------

/** Gaps between consecutive arrivals at the stand-in webhook, in ms. */
function arrivalGaps(): number[] {
  return received.slice(1).map((r, i) => r.at - received[i]!.at);
}

/** Arrival jitter on loopback (connection set-up of the first request): well below Slack's tolerance. */
const JITTER_MS = 50;

function messageOf(body: unknown): string {
  return /message-\d+/.exec(JSON.stringify(body))?.[0] ?? "?";
}

describe("notifier pacing", () => {
  it("spaces every post, retries included, by one second across invocations and concurrent callers", async () => {
    expect(SLACK_WEBHOOK_INTERVAL_MS).toBe(1000);
    replies = [{ status: 200 }, { status: 500 }, { status: 200 }, { status: 200 }, { status: 200 }];
    const pacer = createPacer(SLACK_WEBHOOK_INTERVAL_MS); // one container's pacer
    const notify = createNotifier({
      getWebhookUrl: async () => webhookUrl(),
      log: recordingLog(),
      pacer,
      post: { baseDelayMs: 1, maxAttempts: 3 },
    });
    // Warm invocations one after the other (reserved concurrency 1)...
    await notify(snsEvent("message-0"));
    await notify(snsEvent("message-1")); // 500, then retried
    // ...and, should two ever share the container, concurrent ones.
    await Promise.all([notify(snsEvent("message-2")), notify(snsEvent("message-3"))]);
    expect(received.map((r) => r.status)).toEqual([200, 500, 200, 200, 200]);
    expect(new Set(received.filter((r) => r.status === 200).map((r) => messageOf(r.body)))).toEqual(
      new Set(["message-0", "message-1", "message-2", "message-3"]),
    );
    for (const gap of arrivalGaps())
      expect(gap).toBeGreaterThanOrEqual(SLACK_WEBHOOK_INTERVAL_MS - JITTER_MS);
  }, 20_000);

  it("holds every later post back for as long as a 429's Retry-After asked", async () => {
    replies = [
      { status: 429, headers: { "retry-after": "2" }, body: "rate_limited" },
      { status: 200 },
      { status: 200 },
    ];
    const notify = createNotifier({
      getWebhookUrl: async () => webhookUrl(),
      log: recordingLog(),
      pacer: createPacer(SLACK_WEBHOOK_INTERVAL_MS),
    });
    await notify(snsEvent("message-0"));
    await notify(snsEvent("message-1"));
    const [afterRetryAfter, afterPost] = arrivalGaps();
    expect(afterRetryAfter).toBeGreaterThanOrEqual(2000 - JITTER_MS);
    expect(afterPost).toBeGreaterThanOrEqual(SLACK_WEBHOOK_INTERVAL_MS - JITTER_MS);
  }, 20_000);

  it("fails the invocation rather than wait past its deadline for a slot, so Lambda retries it later", async () => {
    const pacer = createPacer(SLACK_WEBHOOK_INTERVAL_MS);
    pacer.holdOff(30_000); // Slack asked for 30 s of quiet
    const log = recordingLog();
    const notify = createNotifier({ getWebhookUrl: async () => webhookUrl(), log, pacer });
    const started = Date.now();
    await expect(notify(snsEvent("message-0"), { getRemainingTimeInMillis: () => 20_000 })).rejects.toThrow(
      DeliveryError,
    );
    expect(Date.now() - started).toBeLessThan(1000); // it did not sit out the wait
    expect(received).toHaveLength(0);
    expect(log.lines.join("\n")).toContain("rate limit: no time left in this invocation");
  });

  it("never drops a message: what cannot be delivered fails its invocation, Lambda retries it, then the DLQ keeps it", async () => {
    // Lambda's asynchronous invocation of an SNS-subscribed function, as serverless.yml sets
    // it up: one record per invocation, one at a time (reserved concurrency 1), a failed
    // invocation retried twice (maximumRetryAttempts: 2), then sent to the DLQ (onFailure).
    const MAX_RETRY_ATTEMPTS = 2;
    replies = [
      { status: 200 }, // message-0
      { status: 429, headers: { "retry-after": "1" }, body: "rate_limited" }, // message-1 ...
      { status: 200 }, // ... retried after Retry-After, within the invocation
      { status: 400, body: "invalid_blocks" }, // message-2: never accepted ...
      { status: 400, body: "invalid_blocks" },
      { status: 400, body: "invalid_blocks" }, // ... three invocations, then the DLQ
      { status: 503 }, // message-3: both attempts of its invocation fail ...
      { status: 503 },
      { status: 200 }, // ... and Lambda's retry delivers it
    ];
    const notify = createNotifier({
      getWebhookUrl: async () => webhookUrl(),
      log: recordingLog(),
      pacer: createPacer(SLACK_WEBHOOK_INTERVAL_MS),
      post: { maxAttempts: 2, baseDelayMs: 1 },
    });
    const sent = ["message-0", "message-1", "message-2", "message-3"];
    const dlq: string[] = [];
    for (const message of sent) {
      const event = snsEvent(message);
      for (let invocation = 0; ; invocation++) {
        const failed = await notify(event, { getRemainingTimeInMillis: () => 60_000 }).then(
          () => false,
          (error: unknown) => {
            expect(error).toBeInstanceOf(DeliveryError);
            return true;
          },
        );
        if (!failed) break;
        if (invocation === MAX_RETRY_ATTEMPTS) {
          dlq.push(message);
          break;
        }
      }
    }
    const delivered = received.filter((r) => r.status === 200).map((r) => messageOf(r.body));
    expect(delivered).toEqual(["message-0", "message-1", "message-3"]);
    expect(dlq).toEqual(["message-2"]);
    expect([...delivered, ...dlq].sort()).toEqual(sent); // nothing lost, nothing twice
    for (const gap of arrivalGaps())
      expect(gap).toBeGreaterThanOrEqual(SLACK_WEBHOOK_INTERVAL_MS - JITTER_MS);
  }, 30_000);
});

// ---------------------------------------------------------------------------------------
// The URL is a credential
// ---------------------------------------------------------------------------------------

describe("webhook URL secrecy", () => {
  function captureProcessOutput(): { text: () => string } {
    const chunks: string[] = [];
    const capture = (chunk: unknown) => {
      chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
      return true;
    };
    vi.spyOn(process.stdout, "write").mockImplementation(capture);
    vi.spyOn(process.stderr, "write").mockImplementation(capture);
    return { text: () => chunks.join("") };
  }

  function powertoolsLog(): NotifierLog {
    const logger = new Logger({ serviceName: "notifier-test", logLevel: "DEBUG" });
    return {
      info: (m, e = {}) => logger.info(m, e),
      warn: (m, e = {}) => logger.warn(m, e),
      error: (m, e = {}) => logger.error(m, e),
    };
  }

  const secretBits = ["T0SECRET1", "B0SECRET2", "xoxSecretTokenNeverLogged42", SECRET_PATH];

  it("never logs the URL: not on success, not on HTTP errors, not on network errors", async () => {
    const output = captureProcessOutput();
    const log = powertoolsLog();

    await createNotifier({ pacer: NO_PACING, getWebhookUrl: async () => webhookUrl(), log, post: noSleep })(
      snsEvent(deniedAlert()),
    );

    // A server that echoes the URL back in its error body must not get it into the logs.
    replies = [{ status: 400, body: `bad request for ${webhookUrl()} path ${SECRET_PATH}` }];
    await expect(
      createNotifier({ pacer: NO_PACING, getWebhookUrl: async () => webhookUrl(), log, post: noSleep })(
        snsEvent(deniedAlert()),
      ),
    ).rejects.toThrow(DeliveryError);

    // Nothing listens there: connection refused, with the secret path in the URL.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const deadUrl = `http://127.0.0.1:${deadPort}${SECRET_PATH}`;
    const error = await createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => deadUrl,
      log,
      post: { ...noSleep, maxAttempts: 2 },
    })(snsEvent(deniedAlert())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);

    const logged = output.text();
    vi.restoreAllMocks();
    expect(logged).toContain("alert delivered to Slack"); // the capture really saw the logs
    expect(logged).toContain("alert NOT delivered to Slack");
    expect(logged).toContain("ECONNREFUSED");
    for (const bit of secretBits) expect(logged).not.toContain(bit);
    for (const bit of secretBits) expect(String((error as Error).message)).not.toContain(bit);
  });

  it("never puts the URL into configuration errors", () => {
    const leaky = `http://hooks.example.com${SECRET_PATH}`;
    const attempt = (value: string) => {
      try {
        parseWebhookUrl(value, "secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack");
        return "accepted";
      } catch (e) {
        expect(e).toBeInstanceOf(WebhookConfigError);
        return (e as Error).message;
      }
    };
    const plainHttp = attempt(leaky);
    expect(plainHttp).toMatch(/must be https/);
    for (const bit of secretBits) expect(plainHttp).not.toContain(bit);
    expect(attempt(`{"url": "not a url ${SECRET_PATH}"}`)).toMatch(/not a URL/);
    expect(attempt("")).toMatch(/no webhook URL/);
    expect(parseWebhookUrl(`{"url":"https://hooks.slack.com${SECRET_PATH}"}`, "s")).toBe(
      `https://hooks.slack.com${SECRET_PATH}`,
    );
    expect(parseWebhookUrl(`  https://hooks.slack.com${SECRET_PATH}\n`, "s")).toBe(
      `https://hooks.slack.com${SECRET_PATH}`,
    );
    expect(parseWebhookUrl(`http://127.0.0.1:8080${SECRET_PATH}`, "s")).toBe(
      `http://127.0.0.1:8080${SECRET_PATH}`,
    );
  });

  it("fails the invocation when the URL cannot be read, without posting anything", async () => {
    const log = recordingLog();
    const notify = createNotifier({
      pacer: NO_PACING,
      getWebhookUrl: async () => {
        throw new WebhookConfigError("parameter /slack/webhook: no webhook URL in the value");
      },
      log,
      post: noSleep,
    });
    await expect(notify(snsEvent(deniedAlert()))).rejects.toThrow(/no Slack webhook URL/);
    expect(received).toHaveLength(0);
    expect(log.lines.join("\n")).toContain("cannot read the Slack webhook URL");
  });

  it("the deployed handler refuses to run without a configured webhook", async () => {
    captureProcessOutput();
    const context = {
      functionName: "csr-approver-test-notifier",
      functionVersion: "$LATEST",
      invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:csr-approver-test-notifier",
      memoryLimitInMB: "256",
      awsRequestId: "req-1",
      logGroupName: "/aws/lambda/x",
      logStreamName: "s",
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => 60_000,
      done: () => {},
      fail: () => {},
      succeed: () => {},
    };
    await expect(handler(snsEvent(deniedAlert()), context)).rejects.toThrow(/no webhook configured/);
    expect(received).toHaveLength(0);
  });
});
