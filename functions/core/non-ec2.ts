// Nodes that are not EC2 instances (on-premises kubespray/kubeadm nodes, EKS Hybrid Nodes):
// an opt-in, per-cluster set of static rules (`nonEc2Nodes`), applied by the policy's check
// table only when EC2 conclusively knows nothing of the node. Static rules are weaker than the
// EC2 check (docs/policy.md, "Nodes outside EC2"): they trust the cluster's node credential to
// name the node, and the configured ranges to contain only such nodes. So:
//   - a name or an address that EC2 knows is never approved by them: an instance that is not
//     terminated (pending, running, stopping, stopped, shutting-down: all hold their names and
//     addresses) with node N's name, or holding a requested IP, takes the CSR out of their reach;
//   - the node name must match a configured pattern (a glob matched in linear time, never a
//     regular expression built from or run on requester text);
//   - every IP SAN must lie in a configured prefix (and, on EKS, in one of the cluster's remote
//     node networks); every DNS SAN must be a configured template expanded for N;
//   - they never reach EC2's space (security review, finding 4): an IPv4-mapped IPv6 SAN
//     (`::ffff:10.0.1.70`, which the signer issues as the IPv4 address and Go's VerifyHostname
//     matches as such) is never allowed; no name in EC2's DNS domains (EC2_DNS_DOMAINS) is
//     ever allowed, and config refuses patterns and templates that could produce one; a
//     requested DNS name that an instance carries is EC2's, like a requested IP.
// Pure: no I/O, no clock.
import { globMatch } from "./glob.js";
import { ipBytes, canonicalIp } from "./ip.js";
import {
  expandDnsTemplate,
  firstLabel,
  isPlainHostname,
  normalizeDnsName,
  resourceNameHostnames,
} from "./ownership.js";
import type { Ec2Instance, NonEc2NodeRules } from "./types.js";

/** Placeholders of `nonEc2Nodes.dnsNames` templates: both are derived from N itself. */
export const NON_EC2_DNS_PLACEHOLDERS = ["nodeName", "shortName"];
/** Node names longer than a DNS name are never matched (and bound the matcher's work). */
const MAX_NAME = 253;
/** Pattern syntax: lower-case letters, digits, `-`, `.`, and the wildcards `*` and `?`. */
export const NODE_NAME_PATTERN_SYNTAX = /^[a-z0-9.*?-]{1,253}$/;

// ---------------------------------------------------------------------------------------
// EC2's space: its DNS domains and the IPv4-mapped IPv6 prefix
// ---------------------------------------------------------------------------------------

/**
 * The domains of every DNS name EC2 assigns, in every partition: private names
 * (`ip-10-0-1-70.ec2.internal`, `….<region>.compute.internal`, resource names `i-….…`) and
 * public ones (`ec2-….compute-1.amazonaws.com`, `.amazonaws.com.cn` in China, the European
 * Sovereign Cloud's `amazonaws.eu`, the ISO partitions' `c2s.ic.gov`, `sc2s.sgov.gov`,
 * `cloud.adc-e.uk`, `csp.hci.ic.gov`). A static rule never certifies a name in them.
 */
export const EC2_DNS_DOMAINS = [
  "compute.internal",
  "ec2.internal",
  "amazonaws.com",
  "amazonaws.com.cn",
  "amazonaws.eu",
  "c2s.ic.gov",
  "sc2s.sgov.gov",
  "cloud.adc-e.uk",
  "csp.hci.ic.gov",
] as const;

/** The EC2 domain `name` is in (or is), or undefined. */
export function ec2DomainOf(name: string): string | undefined {
  const text = normalizeDnsName(name);
  return EC2_DNS_DOMAINS.find((domain) => text === domain || text.endsWith(`.${domain}`));
}

/**
 * The EC2 domain some name matched by `glob` lies in (or is), or undefined. Labels are
 * compared from the right, each as a glob of one label (a wildcard never spans a dot), so
 * the answer is exact: `*.*.*.internal` reaches `compute.internal`, `*.corp.example.com` none.
 */
export function ec2DomainReachedBy(glob: string): string | undefined {
  const labels = glob.toLowerCase().replace(/\.$/, "").split(".");
  return EC2_DNS_DOMAINS.find((domain) => {
    const wanted = domain.split(".");
    if (labels.length < wanted.length) return false;
    return wanted.every((label, i) => {
      const pattern = labels[labels.length - wanted.length + i] ?? "";
      return pattern === label || (/[*?]/.test(pattern) && nodeNameMatches(pattern, label));
    });
  });
}

/**
 * The EC2 domain a `nonEc2Nodes.dnsNames` template could expand into for a node matching one
 * of `nodeNames`, or undefined: {{shortName}} is any one label, {{nodeName}} any name a
 * pattern matches.
 */
export function ec2DomainReachedByTemplate(
  template: string,
  nodeNames: readonly string[],
): string | undefined {
  const short = template.replace(/\{\{\s*shortName\s*\}\}/g, "*");
  if (!/\{\{\s*nodeName\s*\}\}/.test(short)) return ec2DomainReachedBy(short);
  for (const pattern of nodeNames) {
    const reached = ec2DomainReachedBy(short.replace(/\{\{\s*nodeName\s*\}\}/g, pattern));
    if (reached) return reached;
  }
  return undefined;
}

/** `::ffff:0:0/96`: IPv6 spellings of IPv4 addresses, which certificates carry as IPv4. */
export const IPV4_MAPPED_PREFIX = "::ffff:0:0/96";

/** Whether `ip` is an IPv4-mapped IPv6 address (`::ffff:10.0.1.70`). */
export function isIpv4Mapped(ip: string): boolean {
  const canonical = canonicalIp(ip);
  return canonical?.version === 6 && canonical.value.startsWith("::ffff:") && canonical.value.includes(".");
}

/** Whether an IPv6 prefix shares any address with ::ffff:0:0/96. */
export function overlapsIpv4Mapped(cidr: Cidr): boolean {
  const mapped = parseCidr(IPV4_MAPPED_PREFIX);
  if (!mapped || cidr.version !== 6) return false;
  // Two prefixes overlap when the shorter one contains the other's first address.
  return cidr.length <= mapped.length
    ? cidrContains(cidr, "::ffff:0.0.0.0")
    : cidrContains(mapped, cidr.text.slice(0, cidr.text.indexOf("/")));
}

// ---------------------------------------------------------------------------------------
// Node-name patterns
// ---------------------------------------------------------------------------------------

/**
 * Glob match of a whole node name: `?` is one character other than `.`, `*` any run (possibly
 * empty) of characters other than `.`, so a wildcard never spans a label; everything else is
 * literal, compared case-insensitively. The matcher is glob.ts's (linear in practice, no
 * backtracking); both pattern and name are capped at 253 characters.
 */
export function nodeNameMatches(pattern: string, name: string): boolean {
  if (typeof pattern !== "string" || typeof name !== "string") return false;
  if (!NODE_NAME_PATTERN_SYNTAX.test(pattern) || name.length === 0 || name.length > MAX_NAME) return false;
  return globMatch(pattern, name.toLowerCase(), { withinLabel: true });
}

// ---------------------------------------------------------------------------------------
// IP prefixes
// ---------------------------------------------------------------------------------------

export interface Cidr {
  version: 4 | 6;
  bytes: number[];
  length: number;
  text: string;
}

/** `10.20.0.0/16`, `fd00:10::/64`: the address must have no bits set beyond the prefix. */
export function parseCidr(text: unknown): Cidr | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  if (slash < 0 || !/^(0|[1-9]\d{0,2})$/.test(text.slice(slash + 1))) return undefined;
  const address = ipBytes(text.slice(0, slash));
  const length = Number(text.slice(slash + 1));
  if (!address || length > address.bytes.length * 8) return undefined;
  for (let bit = length; bit < address.bytes.length * 8; bit++) {
    if (((address.bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) return undefined;
  }
  return { ...address, length, text: `${canonicalIp(text.slice(0, slash))?.value ?? ""}/${length}` };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const address = ipBytes(ip);
  if (!address || address.version !== cidr.version) return false;
  for (let bit = 0; bit < cidr.length; bit++) {
    const mask = 1 << (7 - (bit & 7));
    if (((address.bytes[bit >> 3] ?? 0) & mask) !== ((cidr.bytes[bit >> 3] ?? 0) & mask)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// What EC2 knows
// ---------------------------------------------------------------------------------------

/** A name, or undefined when absent or empty. Records are typed: sweep/ec2-schemas.ts checked them. */
function str(value: string | undefined): string | undefined {
  return value || undefined;
}

/** Every address an instance holds, whatever the state of its interfaces, and its delegated prefixes. */
function heldAddresses(instance: Ec2Instance): { ips: Set<string>; prefixes: Cidr[] } {
  const ips = new Set<string>();
  const prefixes: Cidr[] = [];
  const add = (value: string | undefined) => {
    const ip = canonicalIp(value);
    if (ip) ips.add(ip.value);
  };
  add(instance.PrivateIpAddress);
  add(instance.PublicIpAddress);
  for (const eni of instance.NetworkInterfaces ?? []) {
    add(eni.PrivateIpAddress);
    add(eni.Association?.PublicIp);
    for (const address of eni.PrivateIpAddresses ?? []) {
      add(address.PrivateIpAddress);
      add(address.Association?.PublicIp);
    }
    for (const address of eni.Ipv6Addresses ?? []) add(address.Ipv6Address);
    for (const prefix of eni.Ipv4Prefixes ?? []) {
      const cidr = parseCidr(prefix.Ipv4Prefix);
      if (cidr) prefixes.push(cidr);
    }
    for (const prefix of eni.Ipv6Prefixes ?? []) {
      const cidr = parseCidr(prefix.Ipv6Prefix);
      if (cidr) prefixes.push(cidr);
    }
  }
  return { ips, prefixes };
}

function ec2Names(instance: Ec2Instance, region: string | undefined): string[] {
  const names: string[] = [];
  const privateDns = str(instance.PrivateDnsName);
  if (privateDns) names.push(normalizeDnsName(privateDns), firstLabel(normalizeDnsName(privateDns)));
  const publicDns = str(instance.PublicDnsName);
  if (publicDns) names.push(normalizeDnsName(publicDns));
  for (const eni of instance.NetworkInterfaces ?? []) {
    const eniNames = [
      eni.PrivateDnsName,
      eni.Association?.PublicDnsName,
      ...(eni.PrivateIpAddresses ?? []).flatMap((address) => [
        address.PrivateDnsName,
        address.Association?.PublicDnsName,
      ]),
    ];
    for (const eniName of eniNames) {
      const text = str(eniName);
      if (text) names.push(normalizeDnsName(text), firstLabel(normalizeDnsName(text)));
    }
  }
  const id = str(instance.InstanceId)?.toLowerCase();
  if (id) {
    names.push(id);
    if (region) names.push(...resourceNameHostnames(id, region));
  }
  return names;
}

/**
 * What EC2 knows of node N, the requested IPs and the requested DNS names: instances that are
 * not terminated and carry N as one of their names, those that hold a requested IP, and those
 * that carry a requested DNS name. Empty lists: EC2 knows nothing.
 */
export function ec2Knowledge(
  nodeName: string,
  requestedIps: readonly string[],
  instances: readonly Ec2Instance[],
  region: string | undefined,
  requestedDnsNames: readonly string[] = [],
): {
  byName: string[];
  byIp: { ip: string; instanceId: string }[];
  byDns: { name: string; instanceId: string }[];
} {
  const name = normalizeDnsName(nodeName);
  const wanted = requestedIps.flatMap((ip) => canonicalIp(ip)?.value ?? []);
  const wantedNames = [...new Set(requestedDnsNames.map((dns) => normalizeDnsName(dns)))];
  const byName = new Set<string>();
  const byIp: { ip: string; instanceId: string }[] = [];
  const byDns: { name: string; instanceId: string }[] = [];
  for (const instance of instances) {
    if (instance.State?.Name === "terminated") continue;
    const id = str(instance.InstanceId) ?? "an instance without an ID";
    const names = ec2Names(instance, region);
    if (names.includes(name)) byName.add(id);
    for (const dns of wantedNames) {
      if (names.includes(dns) && !byDns.some((e) => e.name === dns && e.instanceId === id))
        byDns.push({ name: dns, instanceId: id });
    }
    const held = heldAddresses(instance);
    for (const ip of wanted) {
      if (held.ips.has(ip) || held.prefixes.some((prefix) => cidrContains(prefix, ip))) {
        if (!byIp.some((entry) => entry.ip === ip && entry.instanceId === id))
          byIp.push({ ip, instanceId: id });
      }
    }
  }
  return { byName: [...byName], byIp, byDns };
}

// ---------------------------------------------------------------------------------------
// The rules' verdict on one CSR
// ---------------------------------------------------------------------------------------

/** The pattern node N matches, or undefined. */
export function matchingPattern(rules: NonEc2NodeRules, nodeName: string): string | undefined {
  const patterns = Array.isArray(rules?.nodeNames) ? rules.nodeNames : [];
  return patterns.find((pattern) => nodeNameMatches(pattern, nodeName));
}

/** The DNS names N may have under the rules: each template expanded for N. */
export function allowedDnsNames(rules: NonEc2NodeRules, nodeName: string): string[] {
  const name = normalizeDnsName(nodeName);
  if (!isPlainHostname(name)) return [];
  const values = { nodeName: name, shortName: firstLabel(name) };
  const templates = Array.isArray(rules?.dnsNames) ? rules.dnsNames : [];
  const names = templates.flatMap((template) => expandDnsTemplate(template, values) ?? []);
  return [...new Set(names)].sort();
}

/**
 * IP SANs outside the allowed ranges: every configured `ipRanges` prefix, and on EKS also the
 * cluster's remote node networks (an IP must lie in one of each list). Undefined remote
 * networks on EKS (the cluster reported none) allow no address at all.
 */
export function ipsOutsideRanges(
  rules: NonEc2NodeRules,
  ips: readonly string[],
  remoteNodeNetworks: readonly string[] | undefined,
  clusterKind: string | undefined,
): { outside: string[]; ranges: string[]; remote?: string[] } {
  const ranges = (Array.isArray(rules?.ipRanges) ? rules.ipRanges : []).flatMap(
    (text) => parseCidr(text) ?? [],
  );
  const remote =
    clusterKind === "eks"
      ? (Array.isArray(remoteNodeNetworks) ? remoteNodeNetworks : []).flatMap((text) => parseCidr(text) ?? [])
      : undefined;
  const outside = ips.filter((ip) => {
    const canonical = canonicalIp(ip)?.value;
    if (!canonical || isIpv4Mapped(canonical)) return true; // EC2's IPv4 space in IPv6 spelling
    if (!ranges.some((cidr) => cidrContains(cidr, canonical))) return true;
    return remote !== undefined && !remote.some((cidr) => cidrContains(cidr, canonical));
  });
  return {
    outside,
    ranges: ranges.map((cidr) => cidr.text),
    ...(remote ? { remote: remote.map((cidr) => cidr.text) } : {}),
  };
}
