// Text safety of alerts (SPEC §7 "Text safety", issue 11 items 1 and 2): requester text never
// renders as markup, mention or link — in the Chatbot custom notification (client-markdown)
// nor in the Slack notifier's Block Kit — and every text is cut by code point within its
// limit. A battery of hostile strings with the exact rendered fragments, then properties over
// random requester strings (fast-check), random Unicode included.
import fc from "fast-check";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { AlertMessageSchema } from "../../functions/core/alert-contract.js";
import {
  ALERT_KINDS,
  ALERT_LIMITS,
  buildAlert,
  type AlertContext,
  type AlertKind,
  type ChatbotNotification,
} from "../../functions/core/alert.js";
import {
  chatCode,
  cut,
  cutMarkup,
  hasLoneSurrogate,
  mrkdwnCode,
  mrkdwnCodeBlock,
  sanitize,
} from "../../functions/core/text.js";
import type { ClusterFacts, Decision } from "../../functions/core/types.js";
import {
  renderSlackMessage,
  SLACK_LIMITS,
  type Block,
  type SlackMessage,
} from "../../functions/notify/blocks.js";

const NOW = new Date("2025-03-01T12:00:00Z");
const CLUSTER: ClusterFacts = { name: "prod-eu", kind: "eks", region: "eu-west-1", vpcIds: ["vpc-0abc"] };
const ISSUE_SAN = "https://evil.example/reauth *ACTION REQUIRED* @here";

// ---------------------------------------------------------------------------------------
// The helper itself: exact fragments for each hostile string, in both flavours
// ---------------------------------------------------------------------------------------

describe("core/text: one escaping helper, two flavours", () => {
  // [hostile value, Chatbot client-markdown, Block Kit mrkdwn (verbatim)]
  const table: [string, string, string][] = [
    [
      ISSUE_SAN,
      "`https[:]//evil.example/reauth *ACTION REQUIRED* ＠here`",
      "`https://evil.example/reauth *ACTION REQUIRED* @here`",
    ],
    ["<!channel>", "`‹!channel›`", "`&lt;!channel&gt;`"],
    ["<!here|here>", "`‹!here|here›`", "`&lt;!here|here&gt;`"],
    ["<@U123>", "`‹＠U123›`", "`&lt;@U123&gt;`"],
    ["<#C024BE7LR|general>", "`‹＃C024BE7LR|general›`", "`&lt;#C024BE7LR|general&gt;`"],
    ["<http://x|y>", "`‹http[:]//x|y›`", "`&lt;http://x|y&gt;`"],
    ["<mailto:a@b.example|mail>", "`‹mailto:a＠b.example|mail›`", "`&lt;mailto:a@b.example|mail&gt;`"],
    ["#channel", "`＃channel`", "`#channel`"],
    ["@channel @everyone", "`＠channel ＠everyone`", "`@channel @everyone`"],
    ["_italic_ ~strike~ *bold*", "`_italic_ ~strike~ *bold*`", "`_italic_ ~strike~ *bold*`"],
    ["`code` ```block```", "`ˋcodeˋ ˋˋˋblockˋˋˋ`", "`ˋcodeˋ ˋˋˋblockˋˋˋ`"],
    ["line1\nline2\r\n> quote", "`line1 line2 › quote`", "`line1 line2 &gt; quote`"],
    ["&lt;!here&gt; &amp;", "`＆lt;!here＆gt; ＆amp;`", "`&amp;lt;!here&amp;gt; &amp;amp;`"],
    ["[click](https://evil.example)", "`[click](https[:]//evil.example)`", "`[click](https://evil.example)`"],
    ["evil\u202Egnp.exe\u200B\u2066x", "`evilgnp.exex`", "`evilgnp.exex`"],
    ["a\u0000b\u0007c\u2028d", "`a b c d`", "`a b c d`"],
    ["lone \uD83D high", "`lone \uFFFD high`", "`lone \uFFFD high`"],
    ["   ", "(empty)", "(empty)"],
  ];

  it.each(table)("%j", (value, chat, mrkdwn) => {
    expect(chatCode(value, 200)).toBe(chat);
    expect(mrkdwnCode(value, 200)).toBe(mrkdwn);
  });

  it("cuts by code point: x + 400 emoji leaves no half character, whatever the limit", () => {
    const name = "x" + "😀".repeat(400);
    for (let max = 0; max <= 60; max++) {
      const out = cut(name, max);
      expect(out.length).toBeLessThanOrEqual(max);
      expect(hasLoneSurrogate(out)).toBe(false);
    }
    expect(cut(name, 6)).toBe("x😀😀…");
    expect(cut(name, 5)).toBe("x😀…"); // the second emoji would not fit whole
    expect(mrkdwnCode(name, 150)).toMatch(/^`x(😀){74}…`$/);
  });

  it("cutMarkup never leaves a code span or an entity open", () => {
    const text = "*Node* `evil *bold* @here` and `&lt;b&gt;`";
    for (let max = 1; max <= text.length; max++) {
      const out = cutMarkup(text, max);
      expect(out.length).toBeLessThanOrEqual(max);
      expect((out.match(/`/g) ?? []).length % 2).toBe(0);
      expect(out).not.toMatch(/&[a-z]*…$/);
    }
    expect(cutMarkup(text, 20)).toBe("*Node* …");
    expect(cutMarkup("```a b c d e f```", 10)).toBe("…");
  });

  it("a code block keeps lines, escapes and neutralises, and stays within its limit", () => {
    expect(mrkdwnCodeBlock("a <!here>\n`x`\r\nb", 100)).toBe("```a &lt;!here&gt;\nˋxˋ\nb```");
    const long = mrkdwnCodeBlock("<".repeat(5000), 3000);
    expect(long.length).toBeLessThanOrEqual(3000);
    expect(long).toMatch(/^```(&lt;)+…```$/);
  });

  it("sanitize: control characters become spaces, invisibles go, lone surrogates become U+FFFD", () => {
    expect(sanitize("a\tb\u0085c\u00ADd\uFEFFe\uDC00")).toBe("a b cde\uFFFD");
    expect(sanitize("😀\u{E0041}")).toBe("😀");
  });
});

// ---------------------------------------------------------------------------------------
// Both renderings of a hostile denial: exact fragments
// ---------------------------------------------------------------------------------------

function hostileDecision(value: string, name = value): Decision {
  return {
    name,
    decision: "deny",
    node: value,
    requester: `system:node:${value}`,
    instanceId: "i-0123456789abcdef0",
    reasons: [{ code: "DNS_NOT_OWNED", message: `DNS SAN ${value} is not a name of i-0123456789abcdef0` }],
    requestedSans: { dnsNames: [value], ips: ["10.0.9.9"], other: [`URI:${value}`] },
    owned: { ips: ["10.0.1.70"], dnsNames: ["ip-10-0-1-70.eu-west-1.compute.internal"] },
  };
}

function chatbotOf(ctx: AlertContext): ChatbotNotification {
  return JSON.parse(buildAlert(ctx).message) as ChatbotNotification;
}

/** Every text a chat client renders from the Chatbot notification. */
function chatTexts(n: ChatbotNotification): string[] {
  return [n.content.title, n.content.description, ...n.content.nextSteps, n.metadata.summary];
}

function blockTexts(block: Block): { text: string; type: string; verbatim?: boolean }[] {
  switch (block.type) {
    case "header":
      return [block.text];
    case "section":
      return [...(block.text ? [block.text] : []), ...(block.fields ?? [])];
    case "context":
      return block.elements;
    case "divider":
      return [];
  }
}

function mrkdwnTexts(message: SlackMessage): string[] {
  return message.blocks
    .flatMap(blockTexts)
    .filter((t) => t.type === "mrkdwn")
    .map((t) => t.text);
}

/** The text outside code blocks and code spans: what a renderer would interpret. */
function outsideCode(text: string): string {
  return text.replace(/```[\s\S]*?```/g, " ").replace(/`[^`\n]*`/g, " ");
}

describe("a hostile denial, rendered both ways", () => {
  const ctx: AlertContext = {
    kind: "denied",
    cluster: { ...CLUSTER, name: "<!here> #ops" },
    decision: hostileDecision(ISSUE_SAN, "<@U123> *ACTION*"),
    dryRun: false,
    now: NOW,
    account: "123456789012",
  };

  it("Chatbot client-markdown: every requester value is a defanged code span", () => {
    const n = chatbotOf(ctx);
    const sanChat = "`https[:]//evil.example/reauth *ACTION REQUIRED* ＠here`";
    expect(n.content.title).toBe(":no_entry: kubelet-serving CSR denied: `‹＠U123› *ACTION*`");
    expect(n.metadata.summary).toBe(
      "kubelet-serving CSR denied: CSR `‹＠U123› *ACTION*` in `‹!here› ＃ops` for node " +
        `${sanChat} (DNS_NOT_OWNED)`,
    );
    const d = n.content.description;
    expect(d).toContain("*Cluster* `‹!here› ＃ops` (eks, `eu-west-1`, account `123456789012`)");
    expect(d).toContain(
      `*CSR* \`‹＠U123› *ACTION*\` · *Node* ${sanChat} · *Requester* \`system:node:https[:]//`,
    );
    expect(d).toContain(
      "• `DNS_NOT_OWNED` `DNS SAN https[:]//evil.example/reauth *ACTION REQUIRED* ＠here is not a name of i-0123456789abcdef0`",
    );
    expect(d).toContain(`*Requested SANs* DNS: ${sanChat}; IP: \`10.0.9.9\`; other: \`URI:https[:]//`);
    expect(n.content.nextSteps[0]).toBe("Inspect the request: `kubectl get csr ‹＠U123› *ACTION* -o yaml`");
    for (const text of chatTexts(n)) {
      expect(text).not.toMatch(/[<>&@#]|:\/\//);
      expect(outsideCode(text)).not.toMatch(/evil|ACTION|U123|here|ops/);
    }
    // The exact values travel unrendered, for machines.
    expect(n.metadata.additionalContext.node).toBe(ISSUE_SAN);
    expect(n.metadata.additionalContext.cluster).toBe("<!here> #ops");
  });

  it("Block Kit: header in our own words, exact values in verbatim code spans", () => {
    const message = renderSlackMessage(buildAlert(ctx).message);
    const header = message.blocks[0]!;
    expect(header).toEqual({
      type: "header",
      text: { type: "plain_text", text: ":no_entry: kubelet-serving CSR denied", emoji: true },
    });
    for (const block of message.blocks) {
      for (const t of blockTexts(block)) if (t.type === "mrkdwn") expect(t.verbatim).toBe(true);
    }
    const texts = mrkdwnTexts(message);
    const all = texts.join("\n");
    const sanSlack = "`https://evil.example/reauth *ACTION REQUIRED* @here`";
    expect(texts).toContain("*Cluster*\n`&lt;!here&gt; #ops`");
    expect(texts).toContain(`*Node*\n${sanSlack}`);
    expect(texts).toContain("*CSR*\n`&lt;@U123&gt; *ACTION*`");
    expect(texts).toContain("*Requester*\n`system:node:https://evil.example/reauth *ACTION REQUIRED* @here`");
    expect(all).toContain(
      "• `DNS_NOT_OWNED` `DNS SAN https://evil.example/reauth *ACTION REQUIRED* @here is not a name of i-0123456789abcdef0`",
    );
    expect(all).toContain(`*Requested SANs*\nDNS: ${sanSlack}\nIP: \`10.0.9.9\`\nOther: \`URI:https://evil`);
    expect(all).toContain("id `denied:123456789012:eu-west-1:&lt;!here&gt; #ops:&lt;@U123&gt; *ACTION*`");
    for (const text of texts) {
      expect(text).not.toMatch(/[<>]/);
      expect(text).not.toMatch(/&(?!amp;|lt;|gt;)/);
      expect(outsideCode(text)).not.toMatch(/evil|ACTION|U123|@|:\/\/|#ops/);
    }
    // The fallback text (notifications) has no verbatim: it is defanged like Chatbot text.
    expect(message.text).toBe(
      "[123456789012 / eu-west-1] kubelet-serving CSR denied: CSR `‹＠U123› *ACTION*` in `‹!here› ＃ops` for node " +
        "`https[:]//evil.example/reauth *ACTION REQUIRED* ＠here` (DNS_NOT_OWNED)",
    );
  });

  it("a CSR name of x + 400 emoji leaves no half character in either rendering", () => {
    const name = "x" + "😀".repeat(400);
    const alert = buildAlert({ ...ctx, decision: hostileDecision(name) });
    expect(hasLoneSurrogate(alert.message)).toBe(false);
    for (const text of chatTexts(JSON.parse(alert.message) as ChatbotNotification)) {
      expect(hasLoneSurrogate(text)).toBe(false);
    }
    const payload = JSON.stringify(renderSlackMessage(alert.message));
    expect(payload).not.toMatch(/\\ud[89a-f][0-9a-f]{2}/i); // JSON.stringify escapes lone surrogates
    expect(hasLoneSurrogate(payload)).toBe(false);
  });

  it("a foreign message's title never reaches the header as markup: plain text, emoji codes off", () => {
    const message = renderSlackMessage("body <!here>", "<!channel> :rotating_light: @here");
    expect(message.blocks[0]).toEqual({
      type: "header",
      text: { type: "plain_text", text: "<!channel> :rotating_light: @here", emoji: false },
    });
    expect(mrkdwnTexts(message)).toEqual(["```body &lt;!here&gt;```"]);
    expect(message.text).toBe("`‹!channel› :rotating_light: ＠here`");
  });
});

// ---------------------------------------------------------------------------------------
// Properties over random requester text
// ---------------------------------------------------------------------------------------

const SENTINEL = "QZX";

const fragment = fc.constantFrom(
  "<",
  ">",
  "&",
  "@here",
  "@channel",
  "<!channel>",
  "<@U123>",
  "<http://x|y>",
  "#general",
  "`",
  "```",
  "*",
  "_",
  "~",
  "https://evil.example/",
  "\n",
  "\r\n",
  "\u0000",
  "\u202E",
  "\u200B",
  "😀",
  "\uD83D", // lone high surrogate
  "\uDE00", // lone low surrogate
  "&lt;",
  "&amp;",
  "|",
  ":",
  " ",
  SENTINEL,
);

const piece = fc.oneof(
  { weight: 3, arbitrary: fragment },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
);

const shortText = fc.array(piece, { maxLength: 40 }).map((parts) => parts.join(""));

/** Requester text: short and hostile, or long enough to be cut anywhere. */
const requesterText = fc
  .tuple(
    fc.oneof(
      { weight: 4, arbitrary: shortText },
      { weight: 1, arbitrary: shortText.map((s) => s + "😀".repeat(400)) },
      { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 200, maxLength: 2000 }) },
    ),
    fc.boolean(),
  )
  // The sentinel marks requester text: it may only ever appear inside a code span.
  .map(([text, first]) => (first ? SENTINEL + text : text + SENTINEL));

const hostileContext: fc.Arbitrary<AlertContext> = fc
  .record({
    kind: fc.constantFrom<AlertKind>(...ALERT_KINDS),
    csr: requesterText,
    node: requesterText,
    requester: requesterText,
    cluster: requesterText,
    sans: fc.array(requesterText, { maxLength: 30 }),
    dryRun: fc.boolean(),
  })
  .map(({ kind, csr, node, requester, cluster, sans, dryRun }) => {
    const decision: Decision = {
      name: csr,
      decision: "deny",
      node,
      requester,
      reasons: sans.slice(0, 12).map((san) => ({
        code: "DNS_NOT_OWNED" as const,
        message: `DNS SAN ${san} is not a name of the instance`,
      })),
      requestedSans: { dnsNames: sans, ips: ["10.0.9.9"], other: sans.slice(0, 3) },
      owned: { ips: ["10.0.1.70"], dnsNames: [node] },
    };
    return {
      kind,
      cluster: { ...CLUSTER, name: cluster },
      dryRun,
      now: NOW,
      account: "123456789012",
      ...(kind === "flood-guard"
        ? { floodGuard: { approved: 20, held: 7, limit: 20 } }
        : kind === "node-flood"
          ? { nodeFlood: { node, pending: 900, examined: 20 } }
          : kind === "summary"
            ? {
                summary: {
                  total: 40,
                  nodes: sans.length + 1,
                  budget: 20,
                  byKind: [{ kind: "denied" as const, count: 40 }],
                  byCode: [{ code: "DNS_NOT_OWNED", count: 40 }],
                  byNode: [node, ...sans].map((n, i) => ({
                    node: n,
                    isNode: i % 2 === 0,
                    count: 2,
                    codes: ["DNS_NOT_OWNED"],
                  })),
                },
              }
            : { decision, repeats: { count: 7, lastAlertAt: NOW } }),
    };
  });

function allStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) for (const v of value) allStrings(v, out);
  else if (value !== null && typeof value === "object")
    for (const v of Object.values(value)) allStrings(v, out);
  return out;
}

describe("properties over random requester text (fast-check)", () => {
  it("Chatbot text: no mention, link or markup from the requester, within limits, whole characters", () => {
    fc.assert(
      fc.property(hostileContext, (ctx) => {
        const alert = buildAlert(ctx);
        expect(Buffer.byteLength(alert.message)).toBeLessThanOrEqual(ALERT_LIMITS.messageBytes);
        const n = JSON.parse(alert.message) as ChatbotNotification;
        // The alert contract the Slack notifier validates against holds whatever the requester wrote.
        expect(v.parse(AlertMessageSchema, n)).toEqual(n);
        for (const s of allStrings(n)) expect(hasLoneSurrogate(s)).toBe(false);
        expect(n.content.title.length).toBeLessThanOrEqual(ALERT_LIMITS.title);
        expect(n.metadata.summary.length).toBeLessThanOrEqual(ALERT_LIMITS.title);
        expect(n.content.description.length).toBeLessThanOrEqual(ALERT_LIMITS.description);
        for (const step of n.content.nextSteps)
          expect(step.length).toBeLessThanOrEqual(ALERT_LIMITS.nextStep);
        for (const text of chatTexts(n)) {
          // No character any chat renderer reads as a control sequence, mention or link.
          expect(text).not.toMatch(/[<>&@#]|:\/\//);
          for (const line of text.split("\n")) expect((line.match(/`/g) ?? []).length % 2).toBe(0);
          // Requester text only inside code spans.
          expect(outsideCode(text)).not.toContain(SENTINEL);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("Block Kit: verbatim mrkdwn, nothing unescaped, requester text only in code, Slack's limits, whole characters", () => {
    fc.assert(
      fc.property(hostileContext, (ctx) => {
        const message = renderSlackMessage(buildAlert(ctx).message);
        for (const s of allStrings(message)) expect(hasLoneSurrogate(s)).toBe(false);
        expect(message.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
        expect(message.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
        expect(message.text).not.toMatch(/[<>@]|:\/\//);
        expect(outsideCode(message.text)).not.toContain(SENTINEL);
        for (const block of message.blocks) {
          if (block.type === "header") {
            expect(block.text.type).toBe("plain_text");
            expect(block.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.headerText);
            expect(block.text.text).not.toContain(SENTINEL); // our own words only
          }
          if (block.type === "section") {
            if (block.text) expect(block.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
            expect((block.fields ?? []).length).toBeLessThanOrEqual(SLACK_LIMITS.fields);
            for (const f of block.fields ?? [])
              expect(f.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fieldText);
          }
          if (block.type === "context") {
            expect(block.elements.length).toBeLessThanOrEqual(SLACK_LIMITS.contextElements);
            for (const e of block.elements)
              expect(e.text.length).toBeLessThanOrEqual(SLACK_LIMITS.contextText);
          }
          for (const t of blockTexts(block)) {
            expect(t.text.length).toBeGreaterThan(0);
            if (t.type !== "mrkdwn") continue;
            expect(t.verbatim).toBe(true);
            expect(t.text).not.toMatch(/[<>]/);
            expect(t.text).not.toMatch(/&(?!amp;|lt;|gt;)/);
            expect((t.text.match(/`/g) ?? []).length % 2).toBe(0);
            const outside = outsideCode(t.text);
            expect(outside).not.toContain(SENTINEL);
            expect(outside).not.toMatch(/@|:\/\//);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("cut and cutMarkup: within the limit, never half a character, over any Unicode", () => {
    const anyUnicode = fc.oneof(
      fc.string({ unit: "binary", maxLength: 400 }),
      fc.string({ unit: "grapheme", maxLength: 200 }),
      fc.array(piece, { maxLength: 60 }).map((p) => p.join("")),
    );
    fc.assert(
      fc.property(anyUnicode, fc.integer({ min: 0, max: 300 }), (text, max) => {
        const wellFormed = sanitize(text);
        expect(hasLoneSurrogate(wellFormed)).toBe(false);
        for (const out of [cut(wellFormed, max), cutMarkup(wellFormed, max)]) {
          expect(out.length).toBeLessThanOrEqual(max);
          expect(hasLoneSurrogate(out)).toBe(false);
        }
        expect((cutMarkup(wellFormed, max).match(/`/g) ?? []).length % 2).toBe(
          wellFormed.length <= max ? (wellFormed.match(/`/g) ?? []).length % 2 : 0,
        );
        for (const literal of [chatCode(text, max), mrkdwnCode(text, max)]) {
          expect(hasLoneSurrogate(literal)).toBe(false);
          expect((literal.match(/`/g) ?? []).length).toBeLessThanOrEqual(2);
        }
      }),
      { numRuns: 500 },
    );
  });
});
