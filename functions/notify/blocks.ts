// SNS alert message → Slack Block Kit payload for an incoming webhook. Pure.
//
// The topic carries three kinds of messages: the approver's Chatbot custom notifications
// (SPEC §7, built by core/alert.ts), CloudWatch alarm state changes, and anything else an
// operator publishes. Each renders; nothing here throws on a malformed or partial message.
//
// Every value that came from a CSR is attacker-controlled: it is escaped for mrkdwn (& < >,
// so no <!channel> or <url|link> can be smuggled in) and backticks are neutralised. Block
// Kit limits are respected by construction; lists that do not fit end with "(+N more)".

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

export interface TextObject {
  type: "plain_text" | "mrkdwn";
  text: string;
  emoji?: boolean;
}

export type Block =
  | { type: "header"; text: TextObject }
  | { type: "section"; text?: TextObject; fields?: TextObject[] }
  | { type: "context"; elements: TextObject[] }
  | { type: "divider" };

export interface SlackMessage {
  /** Fallback text for notifications and clients that do not render blocks. */
  text: string;
  blocks: Block[];
}

/** Renders one SNS message body (and its subject, when SNS had one). */
export function renderSlackMessage(body: string, subject?: string): SlackMessage {
  const parsed = parseJson(body);
  if (isRecord(parsed) && isRecord(parsed.content) && parsed.version !== undefined) {
    return renderChatbotNotification(parsed);
  }
  if (isRecord(parsed) && typeof parsed.AlarmName === "string" && typeof parsed.NewStateValue === "string") {
    return renderAlarm(parsed);
  }
  return renderPlain(body, subject);
}

// ---------------------------------------------------------------------------------------
// The approver's notifications
// ---------------------------------------------------------------------------------------

function renderChatbotNotification(n: Record<string, unknown>): SlackMessage {
  const content = asRecord(n.content);
  const metadata = asRecord(n.metadata);
  const ctx = asRecord(metadata.additionalContext);
  const title = str(content.title) ?? str(metadata.summary) ?? "csr-approver alert";
  const blocks: Block[] = [header(title)];

  const fieldValues: [string, string | undefined][] = [
    ["Cluster", str(ctx.cluster)],
    ["Node", str(ctx.node)],
    ["Requester", str(ctx.requester)],
    ["Decision", decisionLabel(str(ctx.decision), str(ctx.alertKind), str(ctx.dryRun))],
    ["CSR", str(ctx.csr)],
    ["Instance", str(ctx.instanceId)],
    ["Account / region", joinDefined([str(ctx.account), str(ctx.region)], " / ")],
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

  const error = str(ctx.error);
  if (error) blocks.push(section(`*Error*\n${codeBlock(error, SLACK_LIMITS.sectionText - 20)}`));

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

  const contextBits = [
    str(metadata.eventType),
    str(ctx.time),
    str(n.id) !== undefined ? `id ${str(n.id)}` : undefined,
  ].filter(isString);
  if (contextBits.length > 0) blocks.push(contextBlock(contextBits));

  const summary = str(metadata.summary) ?? title;
  return finish(summary, blocks);
}

function decisionLabel(decision?: string, kind?: string, dryRun?: string): string | undefined {
  const parts = [decision, kind !== undefined && kind !== decision ? `(${kind})` : undefined];
  if (dryRun === "true") parts.push("dry-run");
  return joinDefined(parts, " ");
}

/** `reasons` (JSON list of "CODE: message") when present, else the bare `reasonCodes`. */
function reasonLines(ctx: Record<string, unknown>): string[] {
  const reasons = stringList(ctx.reasons);
  if (reasons.length > 0) {
    return reasons.map((line) => {
      const match = /^([A-Z_]+): (.*)$/s.exec(line);
      return match ? `\`${escapeCode(match[1]!)}\` ${escapeText(match[2]!)}` : escapeText(line);
    });
  }
  return stringList(ctx.reasonCodes).map((code) => `\`${escapeCode(code)}\``);
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
  const parsed = typeof value === "string" ? parseJson(value) : value;
  if (!isRecord(parsed)) return undefined;
  const lists: AddressLists = {};
  for (const [key, raw] of Object.entries(parsed)) {
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

function renderAlarm(a: Record<string, unknown>): SlackMessage {
  const state = str(a.NewStateValue) ?? "UNKNOWN";
  const icon =
    state === "ALARM" ? ":rotating_light:" : state === "OK" ? ":white_check_mark:" : ":grey_question:";
  const name = str(a.AlarmName) ?? "alarm";
  const blocks: Block[] = [header(`${icon} ${state}: ${name}`)];
  const description = str(a.AlarmDescription);
  if (description) blocks.push(section(escapeText(clip(description, SLACK_LIMITS.sectionText))));
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
  if (reason) blocks.push(section(`*Reason*\n${escapeText(clip(reason, SLACK_LIMITS.sectionText - 20))}`));
  return finish(`${state}: ${name}`, blocks);
}

function renderPlain(body: string, subject?: string): SlackMessage {
  const title = subject && subject.trim() !== "" ? subject : "csr-approver notification";
  const blocks: Block[] = [header(title)];
  if (body.trim() !== "") blocks.push(section(codeBlock(body, SLACK_LIMITS.sectionText)));
  return finish(title, blocks);
}

// ---------------------------------------------------------------------------------------
// Block helpers: each one enforces its own limit
// ---------------------------------------------------------------------------------------

function header(text: string): Block {
  return {
    type: "header",
    text: { type: "plain_text", text: clip(oneLine(text), SLACK_LIMITS.headerText), emoji: true },
  };
}

function section(markdown: string): Block {
  return { type: "section", text: { type: "mrkdwn", text: clip(markdown, SLACK_LIMITS.sectionText) } };
}

/** A labelled field; `preformatted` values are already escaped markdown. */
function field(label: string, value: string, preformatted = false): TextObject {
  const body = preformatted ? value : `\`${escapeCode(oneLine(value))}\``;
  return { type: "mrkdwn", text: clip(`*${label}*\n${body}`, SLACK_LIMITS.fieldText) };
}

function contextBlock(items: string[]): Block {
  return {
    type: "context",
    elements: items
      .slice(0, SLACK_LIMITS.contextElements)
      .map((item) => ({ type: "mrkdwn" as const, text: clip(escapeText(oneLine(item)), 300) })),
  };
}

function finish(summary: string, blocks: Block[]): SlackMessage {
  return {
    text: clip(escapeText(oneLine(summary)), SLACK_LIMITS.fallbackText),
    blocks: blocks.slice(0, SLACK_LIMITS.blocks),
  };
}

/** "• a\n• b…" within `max` characters; what does not fit becomes "(+N more)". */
function bulletList(items: string[], max: number): string {
  return fitList(
    items.map((item) => `• ${oneLine(item)}`),
    0,
    "\n",
    max,
    (n) => `• (+${n} more)`,
  );
}

/** `a`, `b`, … within `max` characters; what does not fit becomes "(+N more)". */
function inlineList(list: CutList, max: number): string {
  return fitList(
    list.items.map((item) => `\`${escapeCode(oneLine(clip(item, 255)))}\``),
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
  return clip(out.join(separator), max);
}

function codeBlock(text: string, max: number): string {
  return `\`\`\`${clip(escapeText(text).replace(/`/g, "ˋ"), max - 6)}\`\`\``;
}

/** Text written by core/alert.ts in client-markdown: already sanitised, escaped again for Slack. */
function safeMarkdown(text: string, max: number): string {
  return clip(escapeText(text), max);
}

function safeMarkdownLine(text: string): string {
  return escapeText(oneLine(text));
}

/** mrkdwn control characters: & < > (Slack's own escaping rules). */
function escapeText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Inside a code span: escaped, and no backtick that would close it. */
function escapeCode(text: string): string {
  return escapeText(text).replace(/`/g, "ˋ");
}

/** Control characters (line breaks included) become spaces: one value, one line. */
function oneLine(text: string): string {
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    out += code < 0x20 || (code >= 0x7f && code < 0xa0) ? " " : ch;
  }
  return out.replace(/ {2,}/g, " ").trim();
}

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 1)}…`;
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
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
