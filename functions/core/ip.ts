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

const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Pairs of bytes as 16-bit groups. */
function toGroups(bytes: ArrayLike<number>): number[] {
  const groups: number[] = [];
  for (let i = 0; i < bytes.length; i += 2)
    groups.push((bytes[i] as number) * 256 + (bytes[i + 1] as number));
  return groups;
}

/**
 * Eight groups of hex digits, "::" at most once for one or more zero groups, an embedded dotted
 * quad (e.g. "::ffff:10.0.0.1") as the last two. No zone IDs ("fe80::1%eth0"): they never
 * appear in certificates or EC2 data. One linear pass (split, test) whatever the text's length.
 */
function parseIpv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const [head, tail] = halves.map((half) => (half === "" ? [] : half.split(":"))) as [string[], string[]?];
  const last = tail ?? head;
  const quad = last.at(-1)?.includes(".") ? parseIpv4(last.pop() as string) : [];
  if (!quad || ![...head, ...(tail ?? [])].every((group) => IPV6_GROUP.test(group))) return undefined;
  const hex = (groups: string[]) => groups.map((group) => parseInt(group, 16));
  const explicit = [...hex(head), ...hex(tail ?? []), ...toGroups(quad)];
  if (tail === undefined) return explicit.length === 8 ? explicit : undefined;
  // "::" stands for at least one zero group.
  if (explicit.length > 7) return undefined;
  const zeros = Array<number>(8 - explicit.length).fill(0);
  return [...hex(head), ...zeros, ...hex(tail), ...toGroups(quad)];
}

/** RFC 5952 text: lower case, no leading zeros, the first longest run (≥ 2) of zero groups as "::". */
function formatIpv6(groups: number[]): string {
  // IPv4-mapped addresses keep their dotted tail (RFC 5952 §5), as the PKCS#10 parser prints them.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return `::ffff:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  let bestStart = 0;
  let bestLength = 0;
  for (let start = 0; start < 8;) {
    if (groups[start] !== 0) {
      start++;
      continue;
    }
    let end = start;
    while (groups[end] === 0) end++;
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
  return bytes.length === 16 ? { value: formatIpv6(toGroups(bytes)), version: 6 } : undefined;
}

/**
 * The canonical form of an IP address, or undefined when `s` is not one.
 * IPv4-mapped IPv6 addresses (`::ffff:a00:1`) stay IPv6 (`::ffff:10.0.0.1`): they are a different
 * SAN from the IPv4 address, and no EC2 instance owns one, so they are never owned.
 */
export function canonicalIp(s: string | undefined): CanonicalIp | undefined {
  if (s === undefined) return undefined;
  const text = s;
  const v4 = parseIpv4(text);
  if (v4) return { value: v4.join("."), version: 4 };
  const v6 = parseIpv6(text);
  return v6 ? { value: formatIpv6(v6), version: 6 } : undefined;
}

/** The address as 4 or 16 bytes (same spellings as canonicalIp), or undefined. */
export function ipBytes(s: string | undefined): { version: 4 | 6; bytes: number[] } | undefined {
  if (s === undefined) return undefined;
  const v4 = parseIpv4(s);
  if (v4) return { version: 4, bytes: v4 };
  const v6 = parseIpv6(s);
  return v6 ? { version: 6, bytes: v6.flatMap((group) => [group >> 8, group & 0xff]) } : undefined;
}
