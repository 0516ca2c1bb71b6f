// EC2 facts for every pending CSR of one cluster, in as few DescribeInstances calls as
// possible (SPEC §6 step 3): never one call per CSR.
//
// API
//   describeInstancesForNodes(ec2, requests, region, options?) -> Promise<Ec2Instance[]>
//   planInstanceLookups(requests, region) -> { instanceIds: string[]; dnsNames: string[] }
//   EC2_FILTER_VALUE_LIMIT, INSTANCE_ID_PATTERN
//
// Candidates are derived from what the node cannot forge plus its claimed name (SPEC §3):
//   - instance IDs: node names that are IDs, resource-name hostnames
//     (`i-….<region>.compute.internal`, `i-….ec2.internal`), IAM session names (every kind);
//   - private DNS names: full names exactly; a short name (`ip-10-0-1-70`, Ubuntu's hostname)
//     expanded to the only names EC2 assigns in this region (`<short>.<region>.compute.internal`,
//     and `<short>.ec2.internal` in us-east-1). Exact values rather than an `ip-10-0-1-70.*`
//     wildcard: as precise for EC2-assigned names, no wildcard ever reaches EC2, and moto
//     (which does not implement wildcards for this filter) behaves like EC2.
// One `instance-id` filter query and one `private-dns-name` filter query (multiple filters AND,
// so the two kinds cannot share a call), each chunked at the per-filter value limit and
// paginated. The `instance-id` FILTER is used rather than `InstanceIds`, which fails the whole
// call when one ID does not exist. No state or VPC filter: the policy must see terminated
// twins and foreign instances to give the right reason. Results are a superset of what
// matters; the policy does the exact matching. Errors propagate (the caller turns them into
// `wait`).
// Node name templates (the cluster's nodeNameTemplates): each template turns N into the exact
// values its first per-instance placeholder must have (core/name-templates.ts): `tag:KEY`
// filter values (one query per tag key), private DNS names or instance IDs, merged into the
// queries above; a value that is not a plain lower-case name never reaches a filter.
// Requested IPs (clusters with nonEc2Nodes rules): "EC2 holds no instance with this address"
// must be conclusive before a static rule may approve, so every address is looked up on every
// interface: `network-interface.addresses.private-ip-address` (all private IPv4 of all ENIs,
// not only the primary), `network-interface.addresses.association.public-ip` (public IPv4 and
// Elastic IPs) and `network-interface.ipv6-addresses.ipv6-address`. Only canonical addresses
// reach a filter (no wildcard can), IPv4-mapped IPv6 never (EC2 assigns none; the policy
// denies them under static rules). Requested DNS names of those clusters' CSRs are looked up
// the same way (security review, finding 4): `private-dns-name` (a short name expanded as for
// N) and `dns-name` (public), so "no instance carries this name" is shown, not assumed.
import { DescribeInstancesCommand, type EC2Client, type Filter } from "@aws-sdk/client-ec2";
import type { MiddlewareStack } from "@smithy/types";
import { canonicalIp } from "../core/ip.js";
import { templateLookups } from "../core/name-templates.js";
import type { Ec2Instance } from "../core/types.js";
import { mapBounded } from "./bounded.js";
import { checkInstance } from "./ec2-schemas.js";
import { isThrottling, TokenBucket } from "./ec2-budget.js";
import { DEFAULT_SWEEP } from "../core/config.js";

/** Values per EC2 filter accepted in one request (the EC2 API's documented 200). */
export const EC2_FILTER_VALUE_LIMIT = 200;
const PAGE_SIZE = 1000; // DescribeInstances MaxResults upper bound
export const INSTANCE_ID_PATTERN = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

// Node names are CSR-controlled input. Only plain DNS names reach a filter: EC2 filter
// values treat `*`, `?` and `\` as wildcards/escapes, and a name like `*` would otherwise
// page through every instance in the region.
const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export interface NodeLookupRequest {
  /** N from `system:node:N`. */
  node: string;
  /** The instance ID named by the CSR's `spec.extra.sessionName` (any cluster kind), or by N's providerID. */
  sessionInstanceId?: string;
  /** Requested IP SANs to look up too (only for clusters with nonEc2Nodes rules). */
  ips?: readonly string[];
  /** Requested DNS SANs to look up too (only for clusters with nonEc2Nodes rules). */
  dnsNames?: readonly string[];
}

export interface InstanceLookupPlan {
  instanceIds: string[];
  /** Exact values for the `private-dns-name` filter. */
  dnsNames: string[];
  /** Exact values for the `dns-name` (public DNS name) filter: requested names only. */
  publicDnsNames: string[];
  /** Canonical requested addresses, for the interface-address filters. */
  ipv4: string[];
  ipv6: string[];
  /** Exact values for `tag:KEY` filters, by tag key (node name templates). */
  tags: { key: string; values: string[] }[];
}

export interface DescribeOptions {
  /** Overrides EC2_FILTER_VALUE_LIMIT (tests). */
  chunkSize?: number;
  /** Overrides MaxResults (tests; EC2 accepts 5..1000). */
  pageSize?: number;
  /** The DescribeInstances budget every call waits for (the sweep passes its region's; default: a fresh one). */
  budget?: TokenBucket;
  /** The cluster's nodeNameTemplates. */
  nodeNameTemplates?: readonly string[];
}

function normalise(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, "");
}

/** Instance ID named by a resource-name hostname of this region, if `name` is one. */
function instanceIdFromResourceName(name: string, region: string): string | undefined {
  const [first, ...rest] = name.split(".");
  if (first === undefined || !INSTANCE_ID_PATTERN.test(first)) return undefined;
  const domain = rest.join(".");
  const ok = domain === `${region}.compute.internal` || (region === "us-east-1" && domain === "ec2.internal");
  return ok ? first : undefined;
}

/** The domains of the private DNS names EC2 assigns in `region`. */
function privateDnsDomains(region: string): string[] {
  return region === "us-east-1"
    ? ["ec2.internal", `${region}.compute.internal`]
    : [`${region}.compute.internal`];
}

export function planInstanceLookups(
  requests: readonly NodeLookupRequest[],
  region: string,
  nodeNameTemplates: readonly string[] = [],
): InstanceLookupPlan {
  const ids = new Set<string>();
  const dns = new Set<string>();
  const publicDns = new Set<string>();
  const ipv4 = new Set<string>();
  const ipv6 = new Set<string>();
  const tags = new Map<string, Set<string>>();
  for (const { node, sessionInstanceId, ips, dnsNames } of requests) {
    for (const template of nodeNameTemplates) {
      for (const lookup of templateLookups(template, node, region)) {
        if (lookup.kind === "tag") {
          const values = tags.get(lookup.key) ?? new Set<string>();
          tags.set(lookup.key, values.add(lookup.value));
        } else if (lookup.kind === "instanceId") ids.add(lookup.value);
        else if (lookup.kind === "privateDnsName") dns.add(lookup.value);
        else for (const domain of privateDnsDomains(region)) dns.add(`${lookup.value}.${domain}`);
      }
    }
    for (const requested of dnsNames ?? []) {
      const name = normalise(requested);
      if (!DNS_NAME.test(name)) continue; // a wildcard or junk: never a filter value (and never allowed)
      if (name.includes(".")) {
        dns.add(name);
        publicDns.add(name);
      } else for (const domain of privateDnsDomains(region)) dns.add(`${name}.${domain}`);
    }
    for (const ip of ips ?? []) {
      const canonical = canonicalIp(ip);
      if (canonical?.version === 4) ipv4.add(canonical.value);
      else if (canonical?.version === 6 && !canonical.value.startsWith("::ffff:")) ipv6.add(canonical.value);
    }
    const session = sessionInstanceId?.trim().toLowerCase();
    if (session !== undefined && INSTANCE_ID_PATTERN.test(session)) ids.add(session);
    const name = normalise(node);
    if (!DNS_NAME.test(name)) continue;
    if (INSTANCE_ID_PATTERN.test(name)) {
      ids.add(name);
      continue;
    }
    const fromResourceName = instanceIdFromResourceName(name, region);
    if (fromResourceName !== undefined) {
      ids.add(fromResourceName);
      continue;
    }
    if (name.includes(".")) dns.add(name);
    else for (const domain of privateDnsDomains(region)) dns.add(`${name}.${domain}`);
  }
  return {
    instanceIds: [...ids].sort(),
    dnsNames: [...dns].sort(),
    publicDnsNames: [...publicDns].sort(),
    ipv4: [...ipv4].sort(),
    ipv6: [...ipv6].sort(),
    tags: [...tags]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, values]) => ({ key, values: [...values].sort() })),
  };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function describeAll(
  ec2: EC2Client,
  filter: Filter,
  pageSize: number,
  budget: TokenBucket,
): Promise<Ec2Instance[]> {
  const found: Ec2Instance[] = [];
  let nextToken: string | undefined;
  do {
    await budget.take();
    const command = new DescribeInstancesCommand({
      Filters: [filter],
      MaxResults: pageSize,
      ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
    });
    // Inside the SDK's retry loop: every throttled attempt shrinks the share, not only the last.
    (command.middlewareStack as unknown as MiddlewareStack<object, object>).add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          if (isThrottling(err)) budget.throttled();
          throw err;
        }
      },
      { step: "finalizeRequest", priority: "low", name: "csrApproverEc2Throttle" },
    );
    const page = await ec2.send(command);
    budget.succeeded();
    // Typed by the SDK, checked all the same: a malformed record fails the lookup (the CSRs wait).
    for (const reservation of page.Reservations ?? [])
      for (const instance of reservation.Instances ?? []) found.push(checkInstance(instance));
    nextToken = page.NextToken !== undefined && page.NextToken !== "" ? page.NextToken : undefined;
  } while (nextToken !== undefined);
  return found;
}

const DESCRIBE_CONCURRENCY = 4;

export async function describeInstancesForNodes(
  ec2: EC2Client,
  requests: readonly NodeLookupRequest[],
  region: string,
  options: DescribeOptions = {},
): Promise<Ec2Instance[]> {
  const plan = planInstanceLookups(requests, region, options.nodeNameTemplates);
  const size = options.chunkSize ?? EC2_FILTER_VALUE_LIMIT;
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const queries: Filter[] = [
    ...chunks(plan.instanceIds, size).map((Values) => ({ Name: "instance-id", Values })),
    ...chunks(plan.dnsNames, size).map((Values) => ({ Name: "private-dns-name", Values })),
    ...chunks(plan.publicDnsNames, size).map((Values) => ({ Name: "dns-name", Values })),
    ...chunks(plan.ipv4, size).flatMap((Values) => [
      { Name: "network-interface.addresses.private-ip-address", Values },
      { Name: "network-interface.addresses.association.public-ip", Values },
    ]),
    ...chunks(plan.ipv6, size).map((Values) => ({
      Name: "network-interface.ipv6-addresses.ipv6-address",
      Values,
    })),
    ...plan.tags.flatMap(({ key, values }) =>
      chunks(values, size).map((Values) => ({ Name: `tag:${key}`, Values })),
    ),
  ];
  const budget =
    options.budget ??
    new TokenBucket(DEFAULT_SWEEP.describeInstancesPerSecond, DEFAULT_SWEEP.describeInstancesBurst);
  // A few queries in flight at a time: a 5,000-node cluster is 25+ filter chunks.
  const results = await mapBounded(queries, DESCRIBE_CONCURRENCY, (filter) =>
    describeAll(ec2, filter, pageSize, budget),
  );
  const byId = new Map<string, Ec2Instance>();
  const withoutId: Ec2Instance[] = [];
  for (const instance of results.flat()) {
    if (instance.InstanceId === undefined) withoutId.push(instance);
    else byId.set(instance.InstanceId, instance);
  }
  return [...byId.values(), ...withoutId];
}
