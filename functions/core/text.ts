// Text safety for alerts (SPEC §7 "Text safety"): the one helper both renderings use. Pure.
//
// Anything a requester controls — CSR name, subject, SANs, user and node names, EKS-discovered
// cluster names, and reason or error messages quoting them — is literal text. It reaches two
// renderers, and each gets its own flavour of the same treatment: one line, control and
// invisible characters out, cut by code point, inside a code span whose backticks are
// neutralised (ˋ, U+02CB), so no formatting character (* _ ~ > …) can take effect.
//
// - chatCode/chatLiteral — Amazon Q Developer in chat applications (AWS Chatbot) custom
//   notifications, `textType: client-markdown`. The service renders the content "in the
//   target chat platform's markdown" (Slack mrkdwn or Teams markdown; title and description
//   "support markdown content, including emojis"); we cannot set Block Kit's `verbatim`
//   there, nor know whether it entity-decodes, auto-links or parses `@here` (others' custom
//   notifications do get working `<url|text>` links through it). So nothing is left for a
//   renderer to interpret: the characters that start Slack control sequences, mentions,
//   channel links and e-mail links become look-alikes (< > & @ # → ‹ › ＆ ＠ ＃) and URL
//   schemes are defanged (`https://` → `https[:]//`). The exact values travel unrendered in
//   `metadata.additionalContext`.
// - mrkdwnCode/mrkdwnLiteral — our Slack notifier's Block Kit, always in mrkdwn text objects
//   with `verbatim: true` (no auto-linking of URLs or channel names, no mention parsing).
//   Values stay exact: only Slack's three control characters are entity-escaped (& < > →
//   &amp; &lt; &gt;, Slack's documented "Escaping text" rule), so no `<!here>`, `<@U…>`,
//   `<#C…>` or `<url|text>` can be formed.
//
// Cutting: `cut` never splits a surrogate pair, counts UTF-16 units (so a limit holds whether
// the consumer counts code units or code points) and marks a cut with "…". `cutMarkup` is the
// last-resort cut for assembled markdown: it also never leaves a code span open or an entity
// half written, so a cut can never let quoted text escape its code span.

export const ELLIPSIS = "…";

/** Neutralised backtick inside code spans. */
const BACKTICK_LOOKALIKE = "ˋ";

/** True for a UTF-16 high (leading) surrogate unit. */
function isHigh(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

/** True for a UTF-16 low (trailing) surrogate unit. */
function isLow(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * At most `max` UTF-16 units, cut at a code point boundary (never half a character); a cut
 * ends with "…". Costs O(max), whatever the length of `text`.
 */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < ELLIPSIS.length) return "";
  return text.slice(0, boundaryAtOrBefore(text, max - ELLIPSIS.length)) + ELLIPSIS;
}

/** The largest index ≤ `limit` that does not fall between the halves of a surrogate pair. */
function boundaryAtOrBefore(text: string, limit: number): number {
  if (limit <= 0) return 0;
  if (limit >= text.length) return text.length;
  return isLow(text.charCodeAt(limit)) && isHigh(text.charCodeAt(limit - 1)) ? limit - 1 : limit;
}

/**
 * Control characters (line breaks included) become spaces; invisible, joiner and
 * bidirectional-control characters (which can make one name read as another) are dropped;
 * a lone surrogate becomes U+FFFD. The result is well-formed UTF-16.
 */
export function sanitize(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (isHigh(unit) && i + 1 < text.length && isLow(text.charCodeAt(i + 1))) {
      const code = text.codePointAt(i)!;
      out += isInvisible(code) ? "" : text.slice(i, i + 2);
      i++;
      continue;
    }
    if (isHigh(unit) || isLow(unit)) out += "\uFFFD";
    else if (isControl(unit)) out += " ";
    else if (!isInvisible(unit)) out += text[i];
  }
  return out;
}

function isControl(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code < 0xa0) || code === 0x2028 || code === 0x2029;
}

function isInvisible(code: number): boolean {
  return (
    code === 0x00ad || // soft hyphen
    code === 0x061c || // Arabic letter mark
    code === 0x180e || // Mongolian vowel separator
    (code >= 0x200b && code <= 0x200f) || // zero-width space/joiners, LRM/RLM
    (code >= 0x202a && code <= 0x202e) || // bidi embeddings and overrides
    (code >= 0x2060 && code <= 0x2064) || // word joiner, invisible operators
    (code >= 0x2066 && code <= 0x2069) || // bidi isolates
    code === 0xfeff || // zero-width no-break space
    (code >= 0xe0000 && code <= 0xe007f) // tag characters
  );
}

/** One value, one line: sanitised, runs of spaces collapsed, trimmed, cut to `max`. */
export function oneLine(text: string, max: number): string {
  // A first cut bounds the work for megabyte-long values; the final cut bounds the result.
  const bounded = text.length > 4 * max + 16 ? text.slice(0, boundaryAtOrBefore(text, 4 * max + 16)) : text;
  return cut(sanitize(bounded).replace(/\s+/g, " ").trim(), max);
}

// ---------------------------------------------------------------------------------------
// Chatbot client-markdown
// ---------------------------------------------------------------------------------------

/**
 * A requester value for Chatbot client-markdown, without its code span: one line, ≤ `max`
 * characters before neutralising, no backtick, and nothing any chat renderer turns into a
 * mention, link or control sequence.
 */
export function chatLiteral(value: string, max: number): string {
  return defang(oneLine(value, max).replace(/`/g, BACKTICK_LOOKALIKE));
}

/** A requester value for Chatbot client-markdown, in a code span (see `chatLiteral`). */
export function chatCode(value: string, max: number): string {
  return codeSpan(chatLiteral(value, max));
}

const LOOKALIKES: Record<string, string> = {
  "<": "‹", // U+2039: no <!here>, <@U…>, <#C…>, <url|text>
  ">": "›", // U+203A
  "&": "＆", // U+FF06: no entity that decodes to < or >
  "@": "＠", // U+FF20: no @here / @channel / @user, no e-mail auto-link
  "#": "＃", // U+FF03: no #channel link
};

/**
 * The look-alike substitution of `chatLiteral` on its own, for text that is ours apart from
 * values already in code spans (idempotent: applying it twice changes nothing more).
 */
export function defang(text: string): string {
  return text.replace(/:\/\//g, "[:]//").replace(/[<>&@#]/g, (ch) => LOOKALIKES[ch]!);
}

// ---------------------------------------------------------------------------------------
// Slack mrkdwn (Block Kit text objects with verbatim: true)
// ---------------------------------------------------------------------------------------

/** Slack's control characters as entities: & < > (Slack's "Escaping text" rule). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * A requester value for a Block Kit mrkdwn text object (which must carry `verbatim: true`),
 * without its code span: one line, cut to `max` characters before escaping (an entity is
 * never cut), backticks neutralised, & < > escaped. The value otherwise stays exact.
 */
export function mrkdwnLiteral(value: string, max: number): string {
  return escapeMrkdwn(oneLine(value, max).replace(/`/g, BACKTICK_LOOKALIKE));
}

/** A requester value for Block Kit mrkdwn, in a code span (see `mrkdwnLiteral`). */
export function mrkdwnCode(value: string, max: number): string {
  return codeSpan(mrkdwnLiteral(value, max));
}

/**
 * Multi-line requester text (an error message) as a mrkdwn code block: lines kept, control
 * characters otherwise spaces, backticks neutralised, & < > escaped, ≤ `max` characters.
 */
export function mrkdwnCodeBlock(text: string, max: number): string {
  const lines = text
    .slice(0, boundaryAtOrBefore(text, 4 * max + 16))
    .split(/\r\n|\r|\n/)
    .map((line) => sanitize(line).trimEnd());
  const body = lines.join("\n").trim().replace(/`/g, BACKTICK_LOOKALIKE) || " ";
  const escaped = escapeMrkdwnWithin(body, max - 6);
  return "```" + escaped + "```";
}

/** escapeMrkdwn, then cut to `max` by whole code points: never half an entity. */
function escapeMrkdwnWithin(text: string, max: number): string {
  const full = escapeMrkdwn(text);
  if (full.length <= max) return full;
  let out = "";
  for (const ch of text) {
    const piece = escapeMrkdwn(ch);
    if (out.length + piece.length > max - ELLIPSIS.length) break;
    out += piece;
  }
  return out + ELLIPSIS;
}

// ---------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------

function codeSpan(literal: string): string {
  // An empty code span ("``") renders as two backticks in Slack: say so in words instead.
  return literal === "" ? "(empty)" : "`" + literal + "`";
}

/**
 * Cuts assembled markdown (ours, with requester values in code spans) to `max` UTF-16 units
 * without breaking it: never half a character, never inside an `&…;` entity, never leaving a
 * code span or block open (which would let the rest of a quoted value render as markup).
 */
export function cutMarkup(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < ELLIPSIS.length) return "";
  let kept = text.slice(0, boundaryAtOrBefore(text, max - ELLIPSIS.length));
  kept = kept.replace(/&[a-z]*$/, "");
  while (((kept.match(/`/g) ?? []).length & 1) === 1) {
    kept = kept.replace(/`+[^`]*$/, "");
  }
  return kept + ELLIPSIS;
}

/** True when `text` holds an unpaired surrogate (half a character). */
export function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (isHigh(unit) && i + 1 < text.length && isLow(text.charCodeAt(i + 1))) i++;
    else if (isHigh(unit) || isLow(unit)) return true;
  }
  return false;
}
