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
import { DescribeInstancesCommand, type EC2Client, type Filter } from "@aws-sdk/client-ec2";
import type { Ec2Instance } from "../core/types.js";

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
}

export interface InstanceLookupPlan {
  instanceIds: string[];
  /** Exact values for the `private-dns-name` filter. */
  dnsNames: string[];
}

export interface DescribeOptions {
  /** Overrides EC2_FILTER_VALUE_LIMIT (tests). */
  chunkSize?: number;
  /** Overrides MaxResults (tests; EC2 accepts 5..1000). */
  pageSize?: number;
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
): InstanceLookupPlan {
  const ids = new Set<string>();
  const dns = new Set<string>();
  for (const { node, sessionInstanceId } of requests) {
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
  return { instanceIds: [...ids].sort(), dnsNames: [...dns].sort() };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function describeAll(ec2: EC2Client, filter: Filter, pageSize: number): Promise<Ec2Instance[]> {
  const found: Ec2Instance[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [filter],
        MaxResults: pageSize,
        ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
      }),
    );
    for (const reservation of page.Reservations ?? [])
      found.push(...((reservation.Instances ?? []) as Ec2Instance[]));
    nextToken = page.NextToken !== undefined && page.NextToken !== "" ? page.NextToken : undefined;
  } while (nextToken !== undefined);
  return found;
}

export async function describeInstancesForNodes(
  ec2: EC2Client,
  requests: readonly NodeLookupRequest[],
  region: string,
  options: DescribeOptions = {},
): Promise<Ec2Instance[]> {
  const plan = planInstanceLookups(requests, region);
  const size = options.chunkSize ?? EC2_FILTER_VALUE_LIMIT;
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const queries: Filter[] = [
    ...chunks(plan.instanceIds, size).map((Values) => ({ Name: "instance-id", Values })),
    ...chunks(plan.dnsNames, size).map((Values) => ({ Name: "private-dns-name", Values })),
  ];
  const results = await Promise.all(queries.map((filter) => describeAll(ec2, filter, pageSize)));
  const byId = new Map<string, Ec2Instance>();
  const withoutId: Ec2Instance[] = [];
  for (const instance of results.flat()) {
    if (instance.InstanceId === undefined) withoutId.push(instance);
    else byId.set(instance.InstanceId, instance);
  }
  return [...byId.values(), ...withoutId];
}
