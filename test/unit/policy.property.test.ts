// Property tests for decide(): thousands of randomly mutated CSR objects against random
// instance sets. The safety property is recomputed here from the raw EC2 data, independently
// of identity.ts/ownership.ts: an approval is only ever given when every requested SAN
// belongs to a running, in-cluster instance that is provably node N.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FactsIndex } from "../../functions/core/facts-index.js";
import { decide } from "../../functions/core/policy.js";
import { parseCertificateRequest } from "../../functions/core/request.js";
import * as v from "valibot";
import { checkInstance } from "../../functions/sweep/ec2-schemas.js";
import { CsrSchema, NodeSchema } from "../../functions/sweep/k8s-schemas.js";
import {
  DENY_CODES,
  KUBELET_SERVING_SIGNER,
  WAIT_CODES,
  type ClusterFacts,
  type ClusterPolicySettings,
  type CsrCondition,
  type CsrObject,
  type Decision,
  type Ec2Instance,
  type Ec2NetworkInterface,
  type NodeObject,
  type ParseResult,
  type PolicyInput,
} from "../../functions/core/types.js";
import { createCsrPem, tamperSignature, toRequestField, type KeySpec } from "../support/csr-factory.js";

const REGION = "eu-west-1";
const CLUSTER_VPC = "vpc-0c1a5e7e0000000001";
const OTHER_VPC = "vpc-0f0e1a2b0000000009";
const CREATED_MS = Date.parse("2026-01-01T00:10:00Z");
const TAG_KEY = "kubernetes.io/cluster/prod";

// A small universe so that names, IPs and IDs collide often.
const IDS = ["i-0a1b2c3d4e5f60718", "i-0b2c3d4e5f6071829", "i-0c3d4e5f607182930", "i-0d4e5f60718293a4b"];
const PRIVATE_IPS = ["10.0.1.70", "10.0.2.9", "10.0.1.80", "10.0.5.5"];
const PUBLIC_IPS = ["54.1.2.3", "54.1.2.4", "34.240.1.9"];
const IPV6 = ["2a05:d018:1:2::70", "2a05:d018:1:2::9", "2a05:d018:1:2::80"];
const ipLabel = (ip: string): string => `ip-${ip.replaceAll(".", "-")}`;
const privateName = (ip: string): string => `${ipLabel(ip)}.${REGION}.compute.internal`;
const publicName = (ip: string): string => `ec2-${ip.replaceAll(".", "-")}.${REGION}.compute.amazonaws.com`;
const resourceName = (id: string): string => `${id}.${REGION}.compute.internal`;

const NODE_NAMES = [
  ...PRIVATE_IPS.map(privateName),
  ...PRIVATE_IPS.slice(0, 2).map(ipLabel),
  IDS[0] ?? "",
  resourceName(IDS[1] ?? ""),
  "worker-7",
];
const SAN_IPS = [
  ...PRIVATE_IPS,
  ...PUBLIC_IPS,
  ...IPV6,
  "2a05:d018:0001:0002:0000:0000:0000:0070",
  "::ffff:10.0.1.70",
  "169.254.169.254",
  "fd00:ec2::254",
  "127.0.0.1",
  "10.0.64.5",
];
const SAN_NAMES = [
  ...PRIVATE_IPS.map(privateName),
  ...PRIVATE_IPS.map(ipLabel),
  ...PUBLIC_IPS.map(publicName),
  ...IDS,
  ...IDS.map(resourceName),
  "worker-7",
  "IP-10-0-1-70.EU-WEST-1.COMPUTE.INTERNAL.",
  "ip-10-0-1-70.corp.example.com",
  "kubernetes.default.svc",
  `*.${REGION}.compute.internal`,
  `${privateName("10.0.1.70")}.evil.com`,
  `evil-${privateName("10.0.1.70")}`,
];
// nodeNameTemplates: inventory names from the Name tag (some tags collide with EC2's own short
// names, some are not valid node names), and a custom DHCP domain.
const NAME_TAGS = ["node1", "node2", "Node1", "ip-10-0-1-70", "web server"];
const NODE_NAME_TEMPLATES = ["{{tag:Name}}", "{{shortName}}.corp.example.com"];
const TEMPLATE_NODE_NAMES = [
  "node1",
  "node2",
  "ip-10-0-1-70.corp.example.com",
  "ip-10-0-2-9.corp.example.com",
];
const EXTRA_DNS_TEMPLATES = [
  "{{shortName}}.corp.example.com",
  "*.{{shortName}}.corp.example.com",
  "{{nodeName}}",
  "{{instanceId}}.{{region}}.example.com",
  "{{bogus}}.example.com",
];

// ---------------------------------------------------------------------------------------
// A pool of real CSRs, generated once (key generation and signing are the slow part)
// ---------------------------------------------------------------------------------------

interface PoolEntry {
  node: string;
  ip: string; // the private IP the requesting kubelet would have
  request: string;
  parsed: ParseResult;
}

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function buildPool(): PoolEntry[] {
  const random = seededRandom(20260101);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const some = <T>(items: readonly T[], max: number): T[] =>
    Array.from({ length: Math.floor(random() * (max + 1)) }, () => pick(items));
  const keys: KeySpec[] = [
    { type: "ecdsa", curve: "P-256" },
    { type: "ecdsa", curve: "P-256" },
    { type: "ecdsa", curve: "P-384" },
    { type: "ed25519" },
    { type: "rsa", bits: 2048 },
    { type: "rsa", bits: 1024 },
  ];
  const pool: PoolEntry[] = [];
  for (let i = 0; i < 200; i++) {
    // Mostly honest kubelets (their own name and IP), some with one hostile extra.
    const ip = pick(PRIVATE_IPS);
    const node = random() < 0.85 ? pick([privateName(ip), privateName(ip), ipLabel(ip)]) : pick(NODE_NAMES);
    const honest = random() < 0.7;
    const dnsNames = honest
      ? [privateName(ip), ...(random() < 0.3 ? [ipLabel(ip)] : [])]
      : some(SAN_NAMES, 3);
    const ips = honest ? [ip] : some(SAN_IPS, 3);
    if (honest && random() < 0.25) {
      if (random() < 0.5) dnsNames.push(pick(SAN_NAMES));
      else ips.push(pick(SAN_IPS));
    }
    const variant = random();
    const cn = variant < 0.93 ? `system:node:${node}` : `system:node:${pick(NODE_NAMES)}`;
    const organizations = variant > 0.03 ? ["system:nodes"] : ["system:nodes", "system:masters"];
    let pem = createCsrPem({
      commonName: cn,
      organizations,
      dnsNames,
      ips,
      emails: random() < 0.03 ? ["root@example.com"] : [],
      uris: random() < 0.03 ? ["spiffe://cluster.local/x"] : [],
      key: pick(keys),
    });
    if (random() < 0.05) pem = tamperSignature(pem);
    const request = random() < 0.02 ? toRequestField("not a csr") : toRequestField(pem);
    pool.push({ node, ip, request, parsed: parseCertificateRequest(request) });
  }
  return pool;
}

/** Kubelets named by nodeNameTemplates, mostly honest (their name and their IP). */
function buildTemplatePool(): PoolEntry[] {
  const random = seededRandom(20261205);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  return Array.from({ length: 60 }, () => {
    const ip = pick(PRIVATE_IPS);
    const node = pick(TEMPLATE_NODE_NAMES);
    const dnsNames = random() < 0.8 ? [node] : [node, pick(SAN_NAMES)];
    const ips = random() < 0.8 ? [ip] : [pick(SAN_IPS)];
    const request = toRequestField(
      createCsrPem({
        commonName: `system:node:${node}`,
        organizations: ["system:nodes"],
        dnsNames,
        ips,
        key: { type: "ecdsa", curve: "P-256" },
      }),
    );
    return { node, ip, request, parsed: parseCertificateRequest(request) };
  });
}

const POOL = [...buildPool(), ...buildTemplatePool()];

// ---------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------

/** `arbitrary` in one case out of `outOf`, otherwise undefined. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, outOf: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: outOf - 1 }, { arbitrary, weight: 1 });
}

/** `common` `weight` times as often as `rare`. */
function usually<T>(common: fc.Arbitrary<T>, weight: number, rare: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: common, weight }, { arbitrary: rare, weight: 1 });
}

/** undefined in one case out of `outOf`, otherwise `arbitrary`. */
function mostly<T>(arbitrary: fc.Arbitrary<T>, outOf: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ arbitrary, weight: outOf - 1 }, { arbitrary: fc.constant(undefined), weight: 1 });
}

const statusArb = fc.constantFrom("in-use", "in-use", "in-use", "attaching", "detaching", undefined);

const instanceSpecArb = fc.record({
  id: fc.constantFrom(...IDS),
  ip: fc.constantFrom(...PRIVATE_IPS),
  state: fc.constantFrom(
    "running",
    "running",
    "running",
    "pending",
    "stopped",
    "stopping",
    "terminated",
    "shutting-down",
  ),
  vpc: fc.constantFrom(CLUSTER_VPC, CLUSTER_VPC, OTHER_VPC, undefined),
  nameStyle: fc.constantFrom("plain", "plain", "upper", "dot", "empty"),
  publicIp: sometimes(fc.constantFrom(...PUBLIC_IPS), 2),
  ipv6: sometimes(fc.constantFrom(...IPV6), 2),
  primaryStatus: statusArb,
  second: sometimes(
    fc.record({
      ip: fc.constantFrom(...PRIVATE_IPS),
      status: statusArb,
      publicIp: sometimes(fc.constantFrom(...PUBLIC_IPS), 2),
    }),
    3,
  ),
  noInterfaces: fc.boolean(),
  launchOffsetSeconds: fc.integer({ min: -7200, max: 3600 }),
  launchMissing: fc.constantFrom(false, false, false, false, true),
  tag: fc.constantFrom(undefined, "owned", "owned", "shared"),
  nameTag: sometimes(fc.constantFrom(...NAME_TAGS), 2),
});

type InstanceSpec = typeof instanceSpecArb extends fc.Arbitrary<infer T> ? T : never;

function buildInstance(spec: InstanceSpec): Ec2Instance {
  {
    const baseName = privateName(spec.ip);
    const name =
      spec.nameStyle === "upper"
        ? baseName.toUpperCase()
        : spec.nameStyle === "dot"
          ? `${baseName}.`
          : spec.nameStyle === "empty"
            ? ""
            : baseName;
    const eni = (
      ip: string,
      status: string | undefined,
      publicIp: string | undefined,
      ipv6?: string,
    ): Ec2NetworkInterface => ({
      Status: status,
      VpcId: spec.vpc,
      PrivateIpAddress: ip,
      PrivateDnsName: privateName(ip),
      PrivateIpAddresses: [
        {
          PrivateIpAddress: ip,
          PrivateDnsName: privateName(ip),
          ...(publicIp ? { Association: { PublicIp: publicIp, PublicDnsName: publicName(publicIp) } } : {}),
        },
      ],
      Ipv6Addresses: ipv6 ? [{ Ipv6Address: ipv6 }] : [],
      Ipv4Prefixes: [{ Ipv4Prefix: "10.0.64.0/28" }],
    });
    const result: Ec2Instance = {
      InstanceId: spec.id,
      State: { Name: spec.state },
      VpcId: spec.vpc,
      PrivateDnsName: name,
      PrivateIpAddress: spec.ip,
      PublicDnsName: spec.publicIp ? publicName(spec.publicIp) : "",
      Tags: [
        ...(spec.tag ? [{ Key: TAG_KEY, Value: spec.tag }] : []),
        ...(spec.nameTag ? [{ Key: "Name", Value: spec.nameTag }] : []),
      ],
    };
    if (!spec.launchMissing)
      result.LaunchTime = new Date(CREATED_MS + spec.launchOffsetSeconds * 1000).toISOString();
    if (spec.publicIp) result.PublicIpAddress = spec.publicIp;
    if (!spec.noInterfaces) {
      result.NetworkInterfaces = [eni(spec.ip, spec.primaryStatus, spec.publicIp, spec.ipv6)];
      if (spec.second)
        result.NetworkInterfaces.push(eni(spec.second.ip, spec.second.status, spec.second.publicIp));
    }
    return result;
  }
}

const conditionArb: fc.Arbitrary<CsrCondition> = fc.record({
  type: fc.constantFrom("Approved", "Denied", "Failed", "Progressing"),
  status: fc.constantFrom("True", "False"),
});

const csrArb = fc
  .record({
    entry: fc.constantFrom(...POOL),
    // Mostly a well-formed kubelet request, so that approvals are reached; each field is
    // sometimes wrong, so that every check gets exercised.
    usernameStyle: usually(fc.constant("node"), 12, fc.constantFrom("other-node", "person", "empty-node")),
    otherNode: fc.constantFrom(...NODE_NAMES),
    groups: usually<string[]>(
      fc.constantFrom(["system:nodes", "system:authenticated"], ["system:nodes"]),
      10,
      fc.constant(["system:authenticated"]),
    ),
    usages: usually<string[]>(
      fc.constantFrom(
        ["digital signature", "server auth"],
        ["digital signature", "key encipherment", "server auth"],
        ["server auth", "digital signature", "server auth"],
      ),
      10,
      fc.constantFrom(["digital signature", "server auth", "client auth"], ["server auth"]),
    ),
    signer: usually(
      fc.constant(KUBELET_SERVING_SIGNER),
      10,
      fc.constant("kubernetes.io/kube-apiserver-client"),
    ),
    created: mostly(fc.integer({ min: -600, max: 600 }), 12),
    expirationSeconds: sometimes(fc.constantFrom(3600, 31_708_800, 31_708_801, 999_999_999), 4),
    session: sometimes(fc.constantFrom(...IDS, "alice"), 3),
    conditions: sometimes(fc.array(conditionArb, { maxLength: 2 }), 6),
    // A compact form of an oversized request (finding 1): the parse may even say "valid".
    oversized: sometimes(fc.constantFrom(16 * 1024 + 1, 1_460_000), 20),
  })
  .map(({ entry, ...spec }) => {
    const username =
      spec.usernameStyle === "node"
        ? `system:node:${entry.node}`
        : spec.usernameStyle === "other-node"
          ? `system:node:${spec.otherNode}`
          : spec.usernameStyle === "person"
            ? "alice"
            : "system:node:";
    const csr: CsrObject = {
      metadata: {
        name: "csr-prop",
        ...(spec.created === undefined
          ? {}
          : { creationTimestamp: new Date(CREATED_MS + spec.created * 1000).toISOString() }),
      },
      spec: {
        signerName: spec.signer,
        request: entry.request,
        username,
        groups: spec.groups,
        usages: spec.usages,
      },
    };
    if (spec.expirationSeconds !== undefined) csr.spec.expirationSeconds = spec.expirationSeconds;
    if (spec.session !== undefined) csr.spec.extra = { sessionName: [spec.session] };
    if (spec.conditions !== undefined) csr.status = { conditions: spec.conditions };
    if (spec.oversized !== undefined) csr.spec.requestLength = spec.oversized;
    return { csr, parsed: entry.parsed, ip: entry.ip, node: entry.node };
  });

const nodesArb: fc.Arbitrary<NodeObject[]> = fc
  .array(
    fc.record({
      name: fc.constantFrom(...NODE_NAMES),
      providerID: sometimes(fc.constantFrom(...IDS.map((id) => `aws:///${REGION}a/${id}`), "kind://x/y"), 2),
    }),
    { maxLength: 3 },
  )
  .map((nodes) =>
    nodes.map(({ name, providerID }) =>
      providerID ? { metadata: { name }, spec: { providerID } } : { metadata: { name } },
    ),
  );

const inputArb: fc.Arbitrary<PolicyInput> = fc
  .record({
    request: csrArb,
    // One record per instance, as DescribeInstances returns them (duplicates are tested apart).
    instances: fc.uniqueArray(instanceSpecArb, { selector: (instance) => instance.id, maxLength: 4 }),
    // Usually one of them is the requester's own instance, itself sometimes not running or foreign.
    home: usually(
      fc.record({
        state: usually(fc.constant("running"), 6, fc.constantFrom("pending", "stopped", "terminated")),
        vpc: usually(fc.constant(CLUSTER_VPC), 6, fc.constant(OTHER_VPC)),
      }),
      3,
      fc.constant(undefined),
    ),
    nodes: nodesArb,
    kind: fc.constantFrom<ClusterFacts["kind"]>("eks", "self-managed"),
    vpcIds: fc.constantFrom<string[]>(
      [CLUSTER_VPC],
      [CLUSTER_VPC],
      [CLUSTER_VPC],
      [CLUSTER_VPC, OTHER_VPC],
      [],
    ),
    trustNodeProviderId: fc.boolean(),
    clusterTag: fc.constantFrom<ClusterPolicySettings["clusterTag"]>(
      undefined,
      undefined,
      { key: TAG_KEY },
      { key: TAG_KEY, values: ["owned"] },
    ),
    extraDnsNames: fc.subarray(EXTRA_DNS_TEMPLATES),
    nodeNameTemplates: fc.subarray(NODE_NAME_TEMPLATES),
    nowOffset: fc.integer({ min: -60, max: 3000 }),
  })
  .map((spec) => {
    const settings: ClusterPolicySettings = {
      mode: "enforce",
      deny: true,
      pendingGraceSeconds: 900,
      maxExpirationSeconds: 31_708_800,
      extraDnsNames: spec.extraDnsNames,
      nodeNameTemplates: spec.nodeNameTemplates,
      trustNodeProviderId: spec.trustNodeProviderId,
      maxApprovalsPerSweep: 10,
      maxPendingPerNode: 20,
      maxAlertsPerSweep: 20,
      alertRepeatWindowSeconds: 3600,
      notIssuedAfterSeconds: 600,
    };
    if (spec.clusterTag) settings.clusterTag = spec.clusterTag;
    return {
      csr: spec.request.csr,
      parsed: spec.request.parsed,
      instances: spec.instances.map((instance, index) =>
        buildInstance(
          index === 0 && spec.home
            ? {
                ...instance,
                ip: spec.request.ip,
                ...spec.home,
                // A kubespray node's own instance carries its inventory name.
                ...(/^node\d$/.test(spec.request.node) ? { nameTag: spec.request.node } : {}),
              }
            : instance,
        ),
      ),
      nodes: spec.nodes,
      cluster: { name: "prod", kind: spec.kind, region: REGION, vpcIds: spec.vpcIds },
      settings,
      now: new Date(CREATED_MS + spec.nowOffset * 1000),
    };
  });

// ---------------------------------------------------------------------------------------
// The independent oracle: why an approval is allowed, from the raw data alone
// ---------------------------------------------------------------------------------------

const lower = (name: string): string =>
  name.toLowerCase().endsWith(".") ? name.toLowerCase().slice(0, -1) : name.toLowerCase();

/** IPv6 text → a comparable key via WHATWG URL parsing (independent of core/ip.ts). */
function ipKey(ip: string): string {
  return ip.includes(":") ? new URL(`http://[${ip}]/`).hostname : `v4:${ip}`;
}

function ownsIp(instance: Ec2Instance, ip: string, version: number): boolean {
  if (version === 4 && ip.includes(":")) return false;
  const addresses: string[] = [];
  const interfaces = instance.NetworkInterfaces ?? [];
  if (interfaces.length === 0 && instance.PrivateIpAddress) addresses.push(instance.PrivateIpAddress);
  if (instance.PublicIpAddress) addresses.push(instance.PublicIpAddress);
  for (const eni of interfaces) {
    if (eni.Status !== "in-use") continue;
    for (const address of eni.PrivateIpAddresses ?? []) {
      if (address.PrivateIpAddress) addresses.push(address.PrivateIpAddress);
      if (address.Association?.PublicIp) addresses.push(address.Association.PublicIp);
    }
    for (const address of eni.Ipv6Addresses ?? [])
      if (address.Ipv6Address) addresses.push(address.Ipv6Address);
  }
  // An IPv4-mapped IPv6 SAN is never an EC2 address.
  if (/^::ffff:/i.test(ip)) return false;
  return addresses.some((address) => ipKey(address) === ipKey(ip));
}

function nodeNameMatches(instance: Ec2Instance, nodeName: string): boolean {
  const n = lower(nodeName);
  const privateDns = lower(instance.PrivateDnsName ?? "");
  const id = instance.InstanceId ?? "";
  return (
    (privateDns !== "" && (n === privateDns || n === privateDns.split(".")[0])) ||
    n === id ||
    n === resourceName(id)
  );
}

/** N by one of the cluster's nodeNameTemplates (only its own instances: VPC and tag). */
function templateMatches(instance: Ec2Instance, nodeName: string, input: PolicyInput): boolean {
  const n = lower(nodeName);
  if (!instance.VpcId || !input.cluster.vpcIds.includes(instance.VpcId)) return false;
  const tag = input.settings.clusterTag;
  if (tag) {
    const found = (instance.Tags ?? []).find((t) => t.Key === tag.key);
    if (!found || (tag.values && !tag.values.includes(found.Value ?? ""))) return false;
  }
  const nameTag = (instance.Tags ?? []).find((t) => t.Key === "Name")?.Value;
  const privateDns = lower(instance.PrivateDnsName ?? "");
  return input.settings.nodeNameTemplates.some((template) =>
    template === "{{tag:Name}}"
      ? nameTag !== undefined && /^[a-z0-9-]+$/.test(nameTag) && nameTag === n
      : privateDns !== "" && `${privateDns.split(".")[0]}.corp.example.com` === n,
  );
}

function ownsName(
  instance: Ec2Instance,
  requested: string,
  nodeName: string,
  nameMatched: boolean,
  templates: string[],
): boolean {
  if (requested.includes("*")) return false;
  const name = lower(requested);
  const privateDns = lower(instance.PrivateDnsName ?? "");
  const id = instance.InstanceId ?? "";
  const names = new Set<string>([id, resourceName(id)]);
  if (privateDns) names.add(privateDns).add(privateDns.split(".")[0] ?? "");
  if (instance.PublicDnsName) names.add(lower(instance.PublicDnsName));
  if (nameMatched) names.add(lower(nodeName));
  for (const eni of instance.NetworkInterfaces ?? []) {
    if (eni.Status !== "in-use") continue;
    if (eni.PrivateDnsName) names.add(lower(eni.PrivateDnsName));
    for (const address of eni.PrivateIpAddresses ?? []) {
      if (address.PrivateDnsName) names.add(lower(address.PrivateDnsName));
      if (address.Association?.PublicDnsName) names.add(lower(address.Association.PublicDnsName));
    }
  }
  const values: Record<string, string | undefined> = {
    shortName: privateDns ? privateDns.split(".")[0] : undefined,
    instanceId: id,
    region: REGION,
    nodeName: nameMatched ? lower(nodeName) : undefined,
  };
  for (const template of templates) {
    let ok = true;
    const expanded = template.replace(/\{\{(\w+)\}\}/g, (_all, key: string) => {
      const value = values[key];
      if (!value) ok = false;
      return value ?? "";
    });
    if (ok && !expanded.includes("*")) names.add(lower(expanded));
  }
  names.delete("");
  return names.has(name);
}

/** Every reason an approval is justified; returns the first violated property, or undefined. */
function approvalViolation(input: PolicyInput, decision: Decision): string | undefined {
  const { csr, parsed } = input;
  const instances = input.instances as Ec2Instance[];
  const nodes = input.nodes as NodeObject[];
  if (csr.spec.signerName !== KUBELET_SERVING_SIGNER) return "signer";
  if ((csr.status?.conditions ?? []).some((c) => ["Approved", "Denied", "Failed"].includes(c.type)))
    return "conditions";
  const username = csr.spec.username ?? "";
  if (!username.startsWith("system:node:") || username.length === "system:node:".length) return "username";
  const nodeName = username.slice("system:node:".length);
  if (!csr.spec.groups?.includes("system:nodes")) return "groups";
  if (!parsed.ok) return "parsed";
  const request = parsed.request;
  if (!request.signatureValid) return "signature";
  const key = request.publicKey;
  const keyOk =
    (key.algorithm === "rsa" && key.bits >= 2048) ||
    (key.algorithm === "ecdsa" && ["P-256", "P-384", "P-521"].includes(key.curve)) ||
    key.algorithm === "ed25519";
  if (!keyOk) return "key";
  if (request.subject.organizations.join("|") !== "system:nodes") return "organization";
  if (request.subject.commonNames.length !== 1 || request.subject.commonNames[0] !== username) return "cn";
  const usages = [...new Set(csr.spec.usages ?? [])].sort().join("|");
  if (
    usages !== "digital signature|server auth" &&
    usages !== "digital signature|key encipherment|server auth"
  )
    return "usages";
  if (request.sans.length === 0 || request.sans.some((san) => san.type !== "dns" && san.type !== "ip"))
    return "san types";
  if ((csr.spec.expirationSeconds ?? 0) > input.settings.maxExpirationSeconds) return "expiration";

  const chosen = instances.filter((instance) => instance.InstanceId === decision.instanceId);
  const running = chosen.find((instance) => instance.State?.Name === "running");
  if (!running) return "the approved instance is not running";
  if (!running.VpcId || !input.cluster.vpcIds.includes(running.VpcId)) return "vpc";
  const tag = input.settings.clusterTag;
  if (tag) {
    const found = (running.Tags ?? []).find((t) => t.Key === tag.key);
    if (!found || (tag.values && !tag.values.includes(found.Value ?? ""))) return "tag";
  }
  const created = Date.parse(csr.metadata.creationTimestamp ?? "");
  const launched = Date.parse(String(running.LaunchTime ?? ""));
  if (!Number.isFinite(created) || !Number.isFinite(launched) || created < launched - 300_000)
    return "launch time";

  // Identity: by name, or EKS session name, or (when trusted) the Node's providerID.
  const liveIds = new Set(
    instances
      .filter((i) => i.State?.Name === "running" || i.State?.Name === "pending")
      .map((i) => i.InstanceId),
  );
  const byTemplate = templateMatches(running, nodeName, input);
  const nameMatched = nodeNameMatches(running, nodeName) || byTemplate;
  const session = input.cluster.kind === "eks" ? csr.spec.extra?.sessionName?.[0] : undefined;
  const sessionIsId = session !== undefined && /^i-[0-9a-f]{17}$/.test(session);
  const providerIds = nodes
    .filter((n) => n.metadata.name === nodeName)
    .map((n) => /^aws:\/\/\/[^/]+\/(i-[0-9a-f]+)$/.exec(n.spec?.providerID ?? "")?.[1])
    .filter((id): id is string => id !== undefined);
  if (sessionIsId && session !== running.InstanceId) return "session name names another instance";
  if (providerIds.some((id) => id !== running.InstanceId)) return "providerID names another instance";
  const byProvider = input.settings.trustNodeProviderId && providerIds.includes(running.InstanceId ?? "");
  if (!nameMatched && !(sessionIsId && session === running.InstanceId) && !byProvider)
    return "not identified as N";
  if (!sessionIsId && nameMatched) {
    // Another live instance in the cluster's VPCs with the same name makes N ambiguous.
    const rivals = instances.filter(
      (i) =>
        i.InstanceId !== running.InstanceId &&
        liveIds.has(i.InstanceId) &&
        nodeNameMatches(i, nodeName) &&
        input.cluster.vpcIds.includes(i.VpcId ?? ""),
    );
    if (rivals.length > 0) return "ambiguous name";
  }
  // A template-given name identifies nobody when another live instance has it by any rule.
  const templateRivals = instances.filter(
    (i) =>
      i.InstanceId !== running.InstanceId &&
      liveIds.has(i.InstanceId) &&
      (templateMatches(i, nodeName, input) || (byTemplate && nodeNameMatches(i, nodeName))),
  );
  if (templateRivals.length > 0) return "name given by a template to several instances";

  for (const san of request.sans) {
    if (san.type === "ip" && !ownsIp(running, san.value, san.version)) return `IP ${san.value} not owned`;
    if (
      san.type === "dns" &&
      !ownsName(running, san.value, nodeName, nameMatched, input.settings.extraDnsNames)
    ) {
      return `DNS ${san.value} not owned`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------

/** Other nodes' instances: IDs and addresses of their own, otherwise any shape. */
const DECOY_IDS = [
  "i-0e1e2e3e4e5e6e7e0",
  "i-0e1e2e3e4e5e6e7e1",
  "i-0e1e2e3e4e5e6e7e2",
  "i-0e1e2e3e4e5e6e7e3",
];
const decoysArb = fc.uniqueArray(
  fc.tuple(instanceSpecArb, fc.integer({ min: 0, max: DECOY_IDS.length - 1 })).map(([spec, i]) =>
    buildInstance({
      ...spec,
      id: DECOY_IDS[i]!,
      ip: `10.0.9.${10 + i}`,
      second: undefined,
      publicIp: undefined,
      ipv6: undefined,
    }),
  ),
  { selector: (instance) => instance.InstanceId, maxLength: 4 },
);

// Other Node objects of the cluster: named like decoy or real instances (their private DNS
// names, short names, IDs, resource names) and carrying decoy or real providerIDs, so that
// with trustNodeProviderId some are rivals of the CSR's node and most are not.
const DECOY_NODE_NAMES = [
  ...NODE_NAMES,
  ...DECOY_IDS.map((_, i) => privateName(`10.0.9.${10 + i}`)),
  ...DECOY_IDS,
  ...DECOY_IDS.map(resourceName),
  "worker-8",
];
const decoyNodesArb: fc.Arbitrary<NodeObject[]> = fc
  .array(
    fc.record({
      name: fc.constantFrom(...DECOY_NODE_NAMES),
      providerID: sometimes(
        fc.constantFrom(...[...IDS, ...DECOY_IDS].map((id) => `aws:///${REGION}a/${id}`)),
        2,
      ),
    }),
    { maxLength: 6 },
  )
  .map((nodes) =>
    nodes.map(({ name, providerID }) =>
      providerID ? { metadata: { name }, spec: { providerID } } : { metadata: { name } },
    ),
  );

describe("decide: properties", { timeout: 60_000 }, () => {
  it("the CSR pool covers approvable and hostile requests", () => {
    expect(
      POOL.filter((entry) => entry.parsed.ok && entry.parsed.request.signatureValid).length,
    ).toBeGreaterThan(100);
    expect(POOL.some((entry) => !entry.parsed.ok)).toBe(true);
    expect(POOL.some((entry) => entry.parsed.ok && !entry.parsed.request.signatureValid)).toBe(true);
  });

  it("never approves what the raw EC2 data does not justify, and never fails internally", () => {
    const seen = { approve: 0, deny: 0, wait: 0, skip: 0 };
    const codesSeen = new Set<string>();
    fc.assert(
      fc.property(inputArb, (input) => {
        const decision = decide(input);
        seen[decision.decision]++;
        for (const reason of decision.reasons) codesSeen.add(reason.code);
        expect(decision.reasons.length).toBeGreaterThan(0);
        for (const reason of decision.reasons) expect(reason.message).not.toMatch(/could not be evaluated/);
        if (decision.decision === "deny") {
          for (const reason of decision.reasons) expect(DENY_CODES).toContain(reason.code);
        }
        if (decision.decision === "wait") {
          for (const reason of decision.reasons) expect(WAIT_CODES).toContain(reason.code);
        }
        if (decision.decision === "approve") {
          expect(decision.reasons.map((r) => r.code)).toEqual(["ALL_CHECKS_PASSED"]);
          expect(approvalViolation(input, decision)).toBeUndefined();
        }
        // Grace: "not found" and "not running" are only given to CSRs older than the grace period.
        const codes = decision.reasons.map((r) => r.code);
        // An oversized request is never approved, and is denied for that alone (finding 1).
        if (codes.includes("REQUEST_TOO_LARGE")) expect(codes).toEqual(["REQUEST_TOO_LARGE"]);
        if ((input.csr.spec.requestLength ?? 0) > 16 * 1024) expect(decision.decision).not.toBe("approve");
        if (codes.includes("INSTANCE_NOT_FOUND") || codes.includes("INSTANCE_NOT_RUNNING")) {
          const created = Date.parse(input.csr.metadata.creationTimestamp ?? "");
          expect(input.now.getTime() - created).toBeGreaterThan(900_000);
        }
      }),
      { numRuns: 10000, seed: 424242 },
    );
    // The generators must reach every outcome, or the property proves little.
    expect(seen.approve).toBeGreaterThan(100);
    expect(seen.deny).toBeGreaterThan(300);
    expect(seen.wait).toBeGreaterThan(100);
    expect(seen.skip).toBeGreaterThan(100);
    // Nodes outside EC2 (nonEc2Nodes) have their own suite: test/unit/non-ec2.test.ts.
    const ec2Codes = [...DENY_CODES, ...WAIT_CODES].filter((code) => !code.startsWith("NON_EC2_"));
    for (const code of ec2Codes) expect(codesSeen, code).toContain(code);
  });

  it("an AWS or Kubernetes error never approves or denies a kubelet-serving CSR", () => {
    fc.assert(
      fc.property(inputArb, fc.constantFrom("instances", "nodes", "both"), (input, which) => {
        const failed: PolicyInput = {
          ...input,
          instances: which === "nodes" ? input.instances : { unavailable: "throttled" },
          nodes: which === "instances" ? input.nodes : { unavailable: "timeout" },
        };
        const decision = decide(failed);
        expect(["wait", "skip"]).toContain(decision.decision);
        if (decision.decision === "wait")
          expect(decision.reasons.map((r) => r.code)).toContain("FACTS_UNAVAILABLE");
      }),
      { numRuns: 1500, seed: 7 },
    );
  });

  it("a decision does not depend on the order of the instance list", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const instances = input.instances as Ec2Instance[];
        const forward = decide(input);
        const backward = decide({ ...input, instances: [...instances].reverse() });
        expect(backward.decision).toBe(forward.decision);
        expect(backward.instanceId).toBe(forward.instanceId);
      }),
      { numRuns: 1500, seed: 99 },
    );
  });

  it("arbitrary junk read from outside is refused at the edge, or never approves", () => {
    // What the sweep and the CLI read (CSR and Node objects, EC2 records) passes the edge schemas
    // (sweep/k8s-schemas.ts, sweep/ec2-schemas.ts) before decide() sees it; junk that happens to
    // fit a schema is a typed value, and decide() must still never approve on it.
    const junk = fc.anything({ maxDepth: 2, withNullPrototype: true, withBigInt: true, withDate: true });
    fc.assert(
      fc.property(
        inputArb,
        fc.constantFrom("csr", "spec", "status", "instances", "nodes"),
        junk,
        (input, field, value) => {
          let broken: PolicyInput;
          if (field === "csr" || field === "spec" || field === "status") {
            const raw = field === "csr" ? value : { ...input.csr, [field]: value };
            const checked = v.safeParse(CsrSchema, raw);
            if (!checked.success) return; // refused at the edge: k8s-schemas.test.ts
            broken = { ...input, csr: checked.output as CsrObject };
          } else if (field === "instances") {
            const records = Array.isArray(value) ? value : [value];
            let instances: Ec2Instance[];
            try {
              instances = records.map(checkInstance);
            } catch {
              return; // refused at the edge: ec2-schemas.test.ts
            }
            broken = { ...input, instances };
          } else {
            const records = Array.isArray(value) ? value : [value];
            const nodes = records.map((record) => v.safeParse(NodeSchema, record));
            if (!nodes.every((node) => node.success)) return;
            broken = { ...input, nodes: nodes.map((node) => node.output) };
          }
          const decision = decide(broken);
          expect(decision.reasons.length).toBeGreaterThan(0);
          for (const reason of decision.reasons) expect(reason.message).not.toMatch(/could not be evaluated/);
          // Junk nodes or a status can happen to be valid ([], {}, null): only there may it approve.
          if (field !== "nodes" && field !== "status") expect(decision.decision).not.toBe("approve");
        },
      ),
      { numRuns: 3000, seed: 1234 },
    );
  });

  it("the sweep's facts index changes no decision: each CSR is decided the same on its picked facts", () => {
    let picked = 0;
    let pickedNodes = 0;
    fc.assert(
      fc.property(inputArb, decoysArb, decoyNodesArb, (input, decoys, decoyNodes) => {
        if (!Array.isArray(input.instances) || !Array.isArray(input.nodes)) return;
        // The cluster holds more than this CSR's facts: other nodes' instances and Node
        // objects (some of them rivals for the CSR's instance), in any order.
        const instances = [...decoys, ...input.instances];
        const nodes = [...decoyNodes, ...input.nodes];
        const full = decide({ ...input, instances, nodes });
        const index = new FactsIndex(instances, nodes, {
          providerIdRivals: input.settings.trustNodeProviderId,
          nodeNameTemplates: input.settings.nodeNameTemplates,
          region: input.cluster.region,
        });
        const narrowed = index.instancesFor(input.csr, input.parsed);
        const narrowedNodes = index.nodesFor(input.csr);
        picked += narrowed.length < instances.length ? 1 : 0;
        if (input.settings.trustNodeProviderId && narrowedNodes.length < nodes.length) pickedNodes += 1;
        const indexed = decide({ ...input, instances: narrowed, nodes: narrowedNodes });
        expect(indexed).toEqual(full);
      }),
      { numRuns: 5000, seed: 4321 },
    );
    expect(picked).toBeGreaterThan(100); // the index did leave facts out, often
    expect(pickedNodes).toBeGreaterThan(100); // and Node objects too, with trusted providerIDs
  });
});
