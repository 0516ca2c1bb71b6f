// SNS alert message → Slack Block Kit payload for an incoming webhook. Pure.
//
// The topic carries three kinds of messages: the approver's Chatbot custom notifications
// (SPEC §7, built by core/alert.ts), CloudWatch alarm state changes, and anything else an
// operator publishes. Each is read once at the edge (`readInbound`): the approver's against
// the alert contract (core/alert-contract.ts), the schema core/alert.ts writes by. A
// Chatbot-shaped message that does not match it (an older or foreign producer) still renders
// from whatever it holds, and says why it did not match, for the notifier's log; nothing
// here throws on a malformed or partial message.
//
// Text safety (SPEC §7, core/text.ts): every value that came from a CSR or a cluster (CSR,
// node and user names, SANs, cluster names, reason and error messages) appears only in a code
// span built by `mrkdwnCode` (one line, backticks neutralised, & < > escaped as Slack
// documents) or a code block, and every mrkdwn text object carries `verbatim: true`, so Slack
// neither auto-links URLs or channel names nor parses mentions. The header is plain text in
// our own words (the kind's title), never the requester's. Texts are cut by code point with
// `cutMarkup`, which never leaves a code span open or an entity half written. Block Kit
// limits are respected by construction; lists that do not fit end with "(+N more)".
import type {
  ContextBlock,
  DividerBlock,
  HeaderBlock,
  MrkdwnElement,
  PlainTextElement,
  SectionBlock,
} from "@slack/types";
import * as v from "valibot";
import { AlertMessageSchema, type AlertContextKey } from "../core/alert-contract.js";
import { alertTitle } from "../core/alert.js";
import {
  chatCode,
  cut,
  cutMarkup,
  defang,
  escapeMrkdwn,
  mrkdwnCode,
  mrkdwnCodeBlock,
  oneLine as oneLineValue,
  sanitize,
} from "../core/text.js";

/** Block Kit limits (https://api.slack.com/reference/block-kit/blocks). */
export const SLACK_LIMITS = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  contextText: 3000,
  fallbackText: 3000,
} as const;

/** Slack's text objects; ours in mrkdwn always carry `verbatim: true` (no auto-linking, no mentions). */
export type TextObject = PlainTextElement | MrkdwnElement;

/** The blocks we render, as Slack types them (our context blocks hold text only). */
export type Block =
  HeaderBlock | SectionBlock | (Omit<ContextBlock, "elements"> & { elements: TextObject[] }) | DividerBlock;

export interface SlackMessage {
  /** Fallback text for notifications and clients that do not render blocks. */
  text: string;
  blocks: Block[];
}

/** A JSON object (not an array, not null). */
const JsonObject = v.pipe(
  v.record(v.string(), v.unknown()),
  v.check((value) => !Array.isArray(value)),
);
type JsonObject = v.InferOutput<typeof JsonObject>;

/** Chatbot's custom-notification shape, as far as anyone else on the topic may follow it. */
const ChatbotShaped = v.looseObject({
  version: v.unknown(),
  content: JsonObject,
  metadata: v.fallback(v.looseObject({ additionalContext: v.fallback(JsonObject, {}) }), () => ({
    additionalContext: {},
  })),
});

/** A CloudWatch alarm state change. */
const AlarmShaped = v.looseObject({ AlarmName: v.string(), NewStateValue: v.string() });

/**
 * A notification as the renderer reads it: the alert contract's fields by name, each value
 * whatever the producer put there (ours: the contract's text; others: anything).
 */
interface Notification {
  id?: unknown;
  content: JsonObject;
  metadata: JsonObject;
  context: Partial<Record<AlertContextKey, unknown>>;
}

/** One SNS message, read at the edge. */
export type Inbound =
  | { kind: "alert"; notification: Notification } // the approver's: matches the alert contract
  /** Chatbot-shaped but not the contract's: `problem` says where it differs first. */
  | { kind: "notification"; notification: Notification; problem: string }
  | { kind: "alarm"; alarm: JsonObject }
  | { kind: "plain"; body: string };

export function readInbound(body: string): Inbound {
  const parsed = parseJson(body);
  const ours = v.safeParse(AlertMessageSchema, parsed);
  if (ours.success) {
    const n = ours.output;
    return {
      kind: "alert",
      notification: {
        id: n.id,
        content: n.content,
        metadata: n.metadata,
        context: n.metadata.additionalContext,
      },
    };
  }
  const chatbot = v.safeParse(ChatbotShaped, parsed);
  if (chatbot.success) {
    const { id, content, metadata } = chatbot.output;
    return {
      kind: "notification",
      notification: {
        id,
        content,
        metadata,
        context: metadata.additionalContext,
      },
      problem: contractProblem(ours.issues[0]),
    };
  }
  const alarm = v.safeParse(AlarmShaped, parsed);
  if (alarm.success) return { kind: "alarm", alarm: alarm.output };
  return { kind: "plain", body };
}

/** Where a message first differs from the contract, in our words (never the value it holds). */
function contractProblem(issue: v.BaseIssue<unknown> | undefined): string {
  if (!issue) return "not the alert contract";
  const where = v.getDotPath(issue) ?? "message";
  return issue.received === "undefined"
    ? `${where}: missing`
    : `${where}: expected ${issue.expected ?? issue.kind}`;
}

export function renderInbound(inbound: Inbound, subject?: string): SlackMessage {
  switch (inbound.kind) {
    case "alert":
    case "notification":
      return renderChatbotNotification(inbound.notification);
    case "alarm":
      return renderAlarm(inbound.alarm);
    case "plain":
      return renderPlain(inbound.body, subject);
  }
}

/** Renders one SNS message body (and its subject, when SNS had one). */
export function renderSlackMessage(body: string, subject?: string): SlackMessage {
  return renderInbound(readInbound(body), subject);
}

// ---------------------------------------------------------------------------------------
// The approver's notifications
// ---------------------------------------------------------------------------------------

function renderChatbotNotification(n: Notification): SlackMessage {
  const { content, metadata, context: ctx } = n;
  // The header is plain text in our own words: the kind's title. The Chatbot title quotes
  // the CSR name, which only the fields below show (in a code span).
  const ownTitle = alertTitle(str(ctx.alertKind) ?? "");
  const blocks: Block[] = [
    ownTitle !== undefined ? header(ownTitle) : header(str(content.title) ?? "csr-approver alert", false),
  ];

  const fieldValues: [string, string | undefined][] = [
    ["Cluster", str(ctx.cluster)],
    ["Node", str(ctx.node)],
    ["Requester", str(ctx.requester)],
    ["Decision", decisionLabel(str(ctx.decision), str(ctx.alertKind), str(ctx.dryRun))],
    ["CSR", str(ctx.csr)],
    ["Instance", str(ctx.instanceId)],
    ["Account / region", joinDefined([str(ctx.account), str(ctx.region)], " / ")],
    // approved-elsewhere: who approved, as the Approved condition says (a code span like any
    // value from the cluster); both audit kinds: whether a certificate exists.
    ["Approved by", joinDefined([str(ctx.approvedByReason), str(ctx.approvedByMessage)], ": ")],
    [
      "Certificate",
      ctx.certificateIssued === "true"
        ? "issued"
        : ctx.certificateIssued === "false"
          ? "not issued"
          : undefined,
    ],
  ];
  const fields = fieldValues
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== "")
    .map(([label, value]) => field(label, value));
  if (fields.length > 0) blocks.push({ type: "section", fields: fields.slice(0, SLACK_LIMITS.fields) });

  const reasons = reasonLines(ctx);
  if (reasons.length > 0)
    blocks.push(section(`*Reasons*\n${bulletList(reasons, SLACK_LIMITS.sectionText - 20)}`));

  const requested = addressLists(ctx.requestedSans);
  const owned = addressLists(ctx.ownedAddresses);
  if (requested || owned) {
    blocks.push({
      type: "section",
      fields: [
        field(
          "Requested SANs",
          describeAddresses(requested, [
            ["DNS", "dnsNames"],
            ["IP", "ips"],
            ["Other", "other"],
          ]),
          true,
        ),
        field(
          "Instance owns",
          owned
            ? describeAddresses(owned, [
                ["IP", "ips"],
                ["DNS", "dnsNames"],
              ])
            : "_no instance identified_",
          true,
        ),
      ],
    });
  }

  const certificateProblems = stringList(ctx.certificateProblems).map((p) => mrkdwnCode(p, 300));
  if (certificateProblems.length > 0)
    blocks.push(
      section(`*Certificate problems*\n${bulletList(certificateProblems, SLACK_LIMITS.sectionText - 30)}`),
    );

  // The description repeats the facts above in prose; it is the only source when the
  // structured context is missing (an older or foreign producer).
  if (Object.keys(ctx).length === 0) {
    const description = str(content.description);
    if (description) blocks.push(section(safeMarkdown(description, SLACK_LIMITS.sectionText)));
  }

  const nextSteps = Array.isArray(content.nextSteps) ? content.nextSteps.filter(isString) : [];
  if (nextSteps.length > 0) {
    blocks.push(
      section(`*Next steps*\n${bulletList(nextSteps.map(safeMarkdownLine), SLACK_LIMITS.sectionText - 20)}`),
    );
  }

  // The id quotes cluster and CSR names: a code span like every requester value.
  const contextBits = [
    mrkdwnOptional(str(metadata.eventType)),
    mrkdwnOptional(str(ctx.time)),
    str(n.id) !== undefined ? `id ${mrkdwnCode(str(n.id)!, 256)}` : undefined,
  ].filter(isString);
  if (contextBits.length > 0) blocks.push(contextBlock(contextBits));

  const summary = str(metadata.summary) ?? ownTitle ?? str(content.title) ?? "csr-approver alert";
  // One channel for many accounts (docs/organizations.md): the notification text says where
  // first, so a cut summary never loses it and two accounts' "prod" clusters stay apart.
  const where = joinDefined([str(ctx.account), str(ctx.region)], " / ");
  return finish(where !== undefined ? `[${where}] ${summary}` : summary, blocks);
}

function decisionLabel(decision?: string, kind?: string, dryRun?: string): string | undefined {
  const parts = [decision, kind !== undefined && kind !== decision ? `(${kind})` : undefined];
  if (dryRun === "true") parts.push("dry-run");
  return joinDefined(parts, " ");
}

/** `reasons` (JSON list of "CODE: message") when present, else the bare `reasonCodes`. */
function reasonLines(ctx: Notification["context"]): string[] {
  const reasons = stringList(ctx.reasons);
  if (reasons.length > 0) {
    // Reason messages quote SANs and names: the message is a code span as a whole.
    return reasons.map((line) => {
      const match = /^([A-Z_]+): (.*)$/s.exec(line);
      return match ? `${mrkdwnCode(match[1]!, 64)} ${mrkdwnCode(match[2]!, 400)}` : mrkdwnCode(line, 400);
    });
  }
  return stringList(ctx.reasonCodes).map((code) => mrkdwnCode(code, 64));
}

/** A list and how many items its producer already cut off (its "(+N more)" marker). */
interface CutList {
  items: string[];
  cut: number;
}
type AddressLists = Record<string, CutList>;

const MORE_MARKER = /^\(\+(\d+) more\)$/;

/** `{dnsNames, ips, other}`-like lists, given as an object or as its JSON text. */
function addressLists(value: unknown): AddressLists | undefined {
  const parsed = v.safeParse(JsonObject, typeof value === "string" ? parseJson(value) : value);
  if (!parsed.success) return undefined;
  const lists: AddressLists = {};
  for (const [key, raw] of Object.entries(parsed.output)) {
    const items = stringList(raw);
    const marker = MORE_MARKER.exec(items[items.length - 1] ?? "");
    lists[key] = marker ? { items: items.slice(0, -1), cut: Number(marker[1]) } : { items, cut: 0 };
  }
  return lists;
}

function describeAddresses(lists: AddressLists | undefined, labels: [string, string][]): string {
  if (!lists) return "_unknown_";
  const lines = labels
    .map(([label, key]) => ({ label, list: lists[key] ?? { items: [], cut: 0 } }))
    .filter(({ label, list }) => label !== "Other" || list.items.length + list.cut > 0);
  // Share the field's room fairly between the lists.
  const room = Math.floor((SLACK_LIMITS.fieldText - 40) / Math.max(lines.length, 1));
  return lines
    .map(({ label, list }) => {
      const text = list.items.length + list.cut === 0 ? "none" : inlineList(list, room - label.length - 2);
      return `${label}: ${text}`;
    })
    .join("\n");
}

// ---------------------------------------------------------------------------------------
// CloudWatch alarms and anything else
// ---------------------------------------------------------------------------------------

function renderAlarm(a: JsonObject): SlackMessage {
  const state = str(a.NewStateValue) ?? "UNKNOWN";
  const icon =
    state === "ALARM" ? ":rotating_light:" : state === "OK" ? ":white_check_mark:" : ":grey_question:";
  const name = str(a.AlarmName) ?? "alarm";
  const blocks: Block[] = [header(`${icon} ${state}: ${name}`)];
  const description = str(a.AlarmDescription);
  if (description) blocks.push(section(escapeMrkdwn(cut(description, SLACK_LIMITS.sectionText / 5))));
  const fields = (
    [
      ["State", joinDefined([str(a.OldStateValue), state], " → ")],
      ["Region", str(a.Region)],
      ["Account", str(a.AWSAccountId)],
      ["Changed", str(a.StateChangeTime)],
    ] as [string, string | undefined][]
  )
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([label, value]) => field(label, value));
  if (fields.length > 0) blocks.push({ type: "section", fields });
  const reason = str(a.NewStateReason);
  if (reason) blocks.push(section(`*Reason*\n${escapeMrkdwn(cut(reason, SLACK_LIMITS.sectionText / 5))}`));
  return finish(`${state}: ${name}`, blocks);
}

/** Anything else on the topic: its subject as a plain header (no emoji codes), the body as code. */
function renderPlain(body: string, subject?: string): SlackMessage {
  const title = subject && subject.trim() !== "" ? subject : "csr-approver notification";
  const blocks: Block[] = [header(title, false)];
  if (body.trim() !== "") blocks.push(section(mrkdwnCodeBlock(body, SLACK_LIMITS.sectionText)));
  return finish(chatCode(title, 200), blocks);
}

// ---------------------------------------------------------------------------------------
// Block helpers: each one enforces its own limit
// ---------------------------------------------------------------------------------------

/**
 * A plain-text header (no markup, links or mentions possible). Emoji codes render only in
 * our own titles (`emoji`); a foreign title shows them as typed.
 */
function header(text: string, emoji = true): Block {
  return {
    type: "header",
    text: { type: "plain_text", text: oneLineValue(text, SLACK_LIMITS.headerText), emoji },
  };
}

function mrkdwn(text: string, max: number): MrkdwnElement {
  return { type: "mrkdwn", text: cutMarkup(text, max), verbatim: true };
}

function section(markdown: string): Block {
  return { type: "section", text: mrkdwn(markdown, SLACK_LIMITS.sectionText) };
}

/** A labelled field; `preformatted` values are already escaped markdown. */
function field(label: string, value: string, preformatted = false): MrkdwnElement {
  const body = preformatted ? value : mrkdwnCode(value, 300);
  return mrkdwn(`*${label}*\n${body}`, SLACK_LIMITS.fieldText);
}

function contextBlock(items: string[]): Block {
  return {
    type: "context",
    elements: items.slice(0, SLACK_LIMITS.contextElements).map((item) => mrkdwn(flat(item), 600)),
  };
}

/**
 * The top-level `text` (notifications, clients without blocks) has no `verbatim`: it gets
 * the look-alike treatment of Chatbot text as a whole (core/text.ts `defang`), on one line.
 */
function finish(summary: string, blocks: Block[]): SlackMessage {
  return {
    text: cutMarkup(
      escapeMrkdwn(defang(flat(cut(summary, SLACK_LIMITS.fallbackText)))),
      SLACK_LIMITS.fallbackText,
    ),
    blocks: blocks.slice(0, SLACK_LIMITS.blocks),
  };
}

/** An optional scalar of ours (event type, time) for mrkdwn: escaped, one line. */
function mrkdwnOptional(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : escapeMrkdwn(oneLineValue(value, 200));
}

/** "• a\n• b…" within `max` characters; what does not fit becomes "(+N more)". */
function bulletList(items: string[], max: number): string {
  return fitList(
    items.map((item) => `• ${flat(item)}`),
    0,
    "\n",
    max,
    (n) => `• (+${n} more)`,
  );
}

/** `a`, `b`, … within `max` characters; what does not fit becomes "(+N more)". */
function inlineList(list: CutList, max: number): string {
  return fitList(
    list.items.map((item) => mrkdwnCode(item, 255)),
    list.cut,
    ", ",
    max,
    (n) => `(+${n} more)`,
  );
}

/**
 * Joins as many items as fit in `max` characters, then one "(+N more)" marker counting the
 * rest plus the `cut` items the producer had already left out.
 */
function fitList(
  items: string[],
  cut: number,
  separator: string,
  max: number,
  more: (n: number) => string,
): string {
  const out: string[] = [];
  let length = 0;
  let kept = 0;
  for (const item of items) {
    const rest = items.length - kept - 1 + cut;
    const tail = rest > 0 ? separator.length + more(rest).length : 0;
    const added = (out.length > 0 ? separator.length : 0) + item.length;
    if (length + added + tail > max) break;
    out.push(item);
    length += added;
    kept++;
  }
  const hidden = items.length - kept + cut;
  if (hidden > 0) out.push(more(hidden));
  return cutMarkup(out.join(separator), max);
}

/** Text written by core/alert.ts in client-markdown: requester values already in code spans. */
function safeMarkdown(text: string, max: number): string {
  return cutMarkup(escapeMrkdwn(sanitizeLines(text)), max);
}

function safeMarkdownLine(text: string): string {
  return escapeMrkdwn(flat(text));
}

/** Markdown of ours on one line: control characters out, runs of spaces collapsed. */
function flat(text: string): string {
  return sanitize(text).replace(/\s+/g, " ").trim();
}

/** Markdown of ours over several lines: each line sanitised, the line breaks kept. */
function sanitizeLines(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => sanitize(line))
    .join("\n");
}

// ---------------------------------------------------------------------------------------
// Tolerant readers
// ---------------------------------------------------------------------------------------

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

/** A scalar as text: strings as they are, numbers and booleans spelled out. */
function str(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** A list given as an array, as JSON text of an array, or as comma-separated text. */
function stringList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(str).filter(isString);
  if (typeof value !== "string" || value.trim() === "") return [];
  const parsed = value.trimStart().startsWith("[") ? parseJson(value) : undefined;
  if (Array.isArray(parsed)) return parsed.map(str).filter(isString);
  return value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

function joinDefined(parts: (string | undefined)[], separator: string): string | undefined {
  const defined = parts.filter((part): part is string => part !== undefined && part !== "");
  return defined.length > 0 ? defined.join(separator) : undefined;
}
