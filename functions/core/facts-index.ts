// The facts that can matter to one CSR, picked from the cluster's once per sweep (pure).
// decide() reads its instance and Node lists whole, so handing it the cluster's lists made a
// sweep cost pending CSRs × (instances + nodes): a 5,000-node rotation did not fit a Lambda.
// The index hands each CSR a superset of what any check can look at:
// - instances whose name, short name, interface names or ID the node name could mean (and its
//   resource-name hostname), or that a nodeNameTemplate names N, the session name's and N's Node
//   objects' providerID instances;
// - instances holding a requested IP address (ownership, the reused-IP predecessor rule);
// - every record of an instance whose name one of those carries (a predecessor of it), and
//   every record of each ID picked (the duplicate-record consistency check);
// - Node objects named N; with trustNodeProviderId also every Node object its rival rule can
//   name: those whose providerID names the instance N's providerID names, or whose name is
//   one of that instance's EC2 names (private DNS name, its first label, ID, resource name) or
//   a name a template gives it.
// Clusters with nonEc2Nodes (delegated prefixes can hold any address) get the whole list.
// Records are typed: their shape was checked where they were read (sweep/k8s-schemas.ts,
// sweep/ec2-schemas.ts).
// test/unit/policy.property.test.ts checks that decisions with and without the index agree.
import { canonicalIp } from "./ip.js";
import { nodeNameOf, parseProviderId } from "./identity.js";
import { expandNodeNameTemplate } from "./name-templates.js";
import { firstLabel, normalizeDnsName } from "./ownership.js";
import type { CsrObject, Ec2Instance, NodeObject, ParseResult } from "./types.js";

export class FactsIndex {
  private readonly byKey = new Map<string, Ec2Instance[]>();
  private readonly byIp = new Map<string, Ec2Instance[]>();
  private readonly nodesByName = new Map<string, NodeObject[]>();
  // For the trusted-providerID rival rule: by providerID instance, and by first name label
  // (an instance ID, or a resource-name hostname i-….ec2.internal).
  private readonly nodesByProviderId = new Map<string, NodeObject[]>();
  private readonly nodesByFirstLabel = new Map<string, NodeObject[]>();
  // The template-given names of each instance (by lower-case ID), for the rival rule.
  private readonly templateNamesById = new Map<string, string[]>();
  private readonly whole: boolean;
  private readonly allNodes: boolean;
  private readonly rivals: boolean;

  constructor(
    private readonly instances: Ec2Instance[],
    private readonly nodes: NodeObject[],
    // providerIdRivals: the cluster trusts providerIDs (trustNodeProviderId);
    // nodeNameTemplates/region: the names the cluster's templates give each instance.
    options: {
      allInstances?: boolean;
      allNodes?: boolean;
      providerIdRivals?: boolean;
      nodeNameTemplates?: readonly string[];
      region?: string;
    } = {},
  ) {
    this.whole = options.allInstances === true;
    this.rivals = options.providerIdRivals === true;
    // The rival rule reads the claimed instance's EC2 names: without the instance index
    // (whole lists), hand every Node object over rather than guess.
    this.allNodes = options.allNodes === true || (this.rivals && this.whole);
    if (!this.whole) {
      for (const instance of instances) {
        for (const key of instanceKeys(instance)) push(this.byKey, key, instance);
        for (const name of templateNames(instance, options.nodeNameTemplates ?? [], options.region ?? "")) {
          push(this.byKey, name, instance);
          push(this.templateNamesById, instanceIdKey(instance), name);
        }
        for (const ip of heldIps(instance)) push(this.byIp, ip, instance);
      }
    }
    if (!this.allNodes) {
      for (const node of nodes) {
        const name = normalizeDnsName(node.metadata.name);
        push(this.nodesByName, name, node);
        if (!this.rivals) continue;
        push(this.nodesByFirstLabel, firstLabel(name), node);
        const id = providerInstanceOf(node);
        if (id) push(this.nodesByProviderId, id, node);
      }
    }
  }

  nodesFor(csr: CsrObject): NodeObject[] {
    if (this.allNodes) return this.nodes;
    const n = nodeNameOf(csr.spec.username);
    const own = n === undefined ? [] : (this.nodesByName.get(normalizeDnsName(n)) ?? []);
    if (!this.rivals) return own;
    const picked = new Set<NodeObject>(own);
    const add = (list: NodeObject[] | undefined) => list?.forEach((node) => picked.add(node));
    for (const node of own) {
      const id = providerInstanceOf(node);
      if (!id) continue;
      add(this.nodesByProviderId.get(id));
      add(this.nodesByFirstLabel.get(id));
      // Every record that could be the claimed instance (byKey holds it under its ID).
      for (const instance of this.byKey.get(id) ?? []) {
        if (typeof instance.PrivateDnsName !== "string" || instance.PrivateDnsName === "") continue;
        const dns = normalizeDnsName(instance.PrivateDnsName);
        add(this.nodesByName.get(dns));
        add(this.nodesByName.get(firstLabel(dns)));
      }
      for (const name of this.templateNamesById.get(id) ?? []) add(this.nodesByName.get(name));
    }
    // The cluster's order, so the checks see the objects as they came.
    return picked.size === own.length ? own : this.nodes.filter((node) => picked.has(node));
  }

  instancesFor(csr: CsrObject, parsed: ParseResult): Ec2Instance[] {
    if (this.whole) return this.instances;
    const picked = new Set<Ec2Instance>();
    const add = (list: Ec2Instance[] | undefined) => list?.forEach((i) => picked.add(i));
    const n = nodeNameOf(csr.spec.username);
    if (n !== undefined) {
      const name = normalizeDnsName(n);
      add(this.byKey.get(name));
      add(this.byKey.get(firstLabel(name)));
      for (const node of this.nodesFor(csr)) {
        if (normalizeDnsName(node.metadata.name) !== name) continue; // only N's own providerID identifies
        const id = parseProviderId(node.spec?.providerID ?? "")?.instanceId;
        if (id) add(this.byKey.get(id.toLowerCase()));
      }
    }
    for (const value of Object.values(csr.spec.extra ?? {}).flat()) {
      if (typeof value === "string") add(this.byKey.get(value.trim().toLowerCase()));
    }
    if (parsed.ok) {
      for (const san of parsed.request.sans) {
        if (san.type !== "ip") continue;
        const ip = canonicalIp(san.value)?.value;
        if (ip) add(this.byIp.get(ip));
      }
    }
    // Predecessors of what was picked (same name), and every record of each picked ID.
    for (const instance of [...picked]) {
      if (typeof instance.PrivateDnsName === "string" && instance.PrivateDnsName !== "") {
        add(this.byKey.get(normalizeDnsName(instance.PrivateDnsName)));
      }
      if (typeof instance.InstanceId === "string") add(this.byKey.get(instance.InstanceId.toLowerCase()));
    }
    // The cluster's order, so the checks see the records as they came.
    return this.instances.filter((i) => picked.has(i));
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  if (key === "") return;
  const list = map.get(key);
  if (list) {
    if (!list.includes(value)) list.push(value);
  } else map.set(key, [value]);
}

/** Every name a node name could be matched to this instance by, lower case, both full and short. */
function instanceKeys(instance: Ec2Instance): string[] {
  const names: (string | undefined)[] = [instance.PrivateDnsName, instance.PublicDnsName];
  for (const eni of instance.NetworkInterfaces ?? []) {
    names.push(eni.PrivateDnsName, eni.Association?.PublicDnsName);
    for (const address of eni.PrivateIpAddresses ?? []) {
      names.push(address.PrivateDnsName, address.Association?.PublicDnsName);
    }
  }
  const keys: string[] = [];
  for (const name of names) {
    if (!name) continue;
    const normal = normalizeDnsName(name);
    keys.push(normal, firstLabel(normal));
  }
  if (instance.InstanceId !== undefined) keys.push(instance.InstanceId.toLowerCase());
  return keys;
}

/** The names the cluster's nodeNameTemplates give the instance (any state or VPC: a superset). */
function templateNames(instance: Ec2Instance, templates: readonly string[], region: string): string[] {
  return templates.flatMap((template) => expandNodeNameTemplate(template, instance, region) ?? []);
}

function instanceIdKey(instance: Ec2Instance): string {
  return instance.InstanceId?.toLowerCase() ?? "";
}

/** Every address the instance has on record (private, public, IPv6), canonical. */
function heldIps(instance: Ec2Instance): string[] {
  const ips: (string | undefined)[] = [instance.PrivateIpAddress, instance.PublicIpAddress];
  for (const eni of instance.NetworkInterfaces ?? []) {
    ips.push(eni.PrivateIpAddress, eni.Association?.PublicIp);
    for (const address of eni.PrivateIpAddresses ?? []) {
      ips.push(address.PrivateIpAddress, address.Association?.PublicIp);
    }
    for (const v6 of eni.Ipv6Addresses ?? []) ips.push(v6.Ipv6Address);
  }
  return ips.flatMap((ip) => canonicalIp(ip)?.value ?? []);
}

function providerInstanceOf(node: NodeObject): string | undefined {
  return parseProviderId(node.spec?.providerID ?? "")?.instanceId.toLowerCase();
}
