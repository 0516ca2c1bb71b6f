// The decision table (SPEC §2-4), one case per row, on REAL CSRs: each request is generated
// and signed by test/support/csr-factory.ts and parsed by the product's own PKCS#10 parser.
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CHECKS, decide } from "../../functions/core/policy.js";
import { parseCertificateRequest } from "../../functions/core/request.js";
import * as v from "valibot";
import { checkInstance } from "../../functions/sweep/ec2-schemas.js";
import { CsrSchema, NodeSchema } from "../../functions/sweep/k8s-schemas.js";
import {
  DENY_CODES,
  type ClusterFacts,
  type ClusterPolicySettings,
  type CsrObject,
  type DecisionKind,
  type Ec2Instance,
  type NodeObject,
  type ParseResult,
  type PolicyInput,
  type ReasonCode,
} from "../../functions/core/types.js";
import {
  createCsrPem,
  kubeletCsrObject,
  tamperSignature,
  tamperSubject,
  toRequestField,
  type KeySpec,
} from "../support/csr-factory.js";
import {
  A,
  A_DETACHING_IP,
  A_ID,
  A_IP,
  A_IPV6,
  A_NAME,
  A_PREFIX_IP,
  A_PUBLIC,
  A_SECONDARY_ENI_IP,
  A_SECONDARY_PUBLIC,
  A_SHORT,
  ALL,
  B,
  B_ID,
  B_IP,
  B_NAME,
  C_ID,
  CLUSTER_VPC,
  CREATED,
  DEAD,
  FOREIGN_ID,
  FOREIGN_IP,
  NOW_FRESH,
  NOW_STALE,
  OTHER_VPC,
  REGION,
  REUSED_IP,
  TWIN,
  TWIN_ID,
  cluster,
  instance,
  ipName,
  node,
  providerId,
  publicName,
  settings,
} from "./policy-fixtures.js";

// ---------------------------------------------------------------------------------------
// Building CSRs
// ---------------------------------------------------------------------------------------

interface KubeletOptions {
  dns?: string[];
  ips?: string[];
  key?: KeySpec;
  username?: string;
  groups?: string[];
  usages?: string[];
  signerName?: string;
  creationTimestamp?: string | null;
  expirationSeconds?: number;
  extra?: Record<string, string[]>;
  conditions?: NonNullable<CsrObject["status"]>["conditions"];
  pem?: string;
}

/** A kubelet-serving CSR for node N, as the kubelet and apiserver would create it. */
function kubelet(nodeName: string, options: KubeletOptions = {}): CsrObject {
  const csr = kubeletCsrObject({
    node: nodeName,
    dnsNames: options.dns ?? [],
    ips: options.ips ?? [],
    key: options.key,
    username: options.username,
    groups: options.groups,
    usages: options.usages,
    signerName: options.signerName,
    creationTimestamp: options.creationTimestamp ?? CREATED,
    expirationSeconds: options.expirationSeconds,
    extra: options.extra,
    conditions: options.conditions,
    pem: options.pem,
  });
  if (options.creationTimestamp === null) delete csr.metadata.creationTimestamp;
  return csr;
}

/** A node CSR with an arbitrary subject (for SUBJECT_MISMATCH and SAN-type cases). */
function customPem(nodeName: string, spec: Parameters<typeof createCsrPem>[0]): string {
  return createCsrPem({ commonName: `system:node:${nodeName}`, organizations: ["system:nodes"], ...spec });
}

const aDefault = { dns: [A_NAME], ips: [A_IP] };
const okCsr = (overrides: KubeletOptions = {}): CsrObject => kubelet(A_NAME, { ...aDefault, ...overrides });

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

interface Case {
  name: string;
  csr: CsrObject;
  parsed?: ParseResult; // default: the product's parser on csr.spec.request
  instances?: Ec2Instance[] | { unavailable: string };
  nodes?: NodeObject[] | { unavailable: string };
  cluster?: Partial<ClusterFacts>;
  settings?: Partial<ClusterPolicySettings>;
  now?: Date;
  decision: DecisionKind;
  codes: ReasonCode[]; // exactly, in order
  instanceId?: string | null; // null: no instance identified
  says?: string[]; // substrings of the joined reason messages
}

const eks: Partial<ClusterFacts> = { kind: "eks" };
const secp256k1 = generateKeyPairSync("ec", { namedCurve: "secp256k1" }).privateKey;
const withSession = (id: string): Record<string, string[]> => ({ sessionName: [id] });

const cases: Case[] = [
  // --- approve: every key type, both usage sets --------------------------------------
  {
    name: "ECDSA P-256, private DNS name and IP",
    csr: okCsr(),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
    instanceId: A_ID,
    says: [A_ID],
  },
  {
    name: "ECDSA P-384",
    csr: okCsr({ key: { type: "ecdsa", curve: "P-384" } }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "ECDSA P-521",
    csr: okCsr({ key: { type: "ecdsa", curve: "P-521" } }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "RSA 2048",
    csr: okCsr({ key: { type: "rsa", bits: 2048 } }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "RSA 3072",
    csr: okCsr({ key: { type: "rsa", bits: 3072 } }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "Ed25519",
    csr: okCsr({ key: { type: "ed25519" } }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "usages with key encipherment (RSA kubelets)",
    csr: okCsr({
      key: { type: "rsa", bits: 2048 },
      usages: ["digital signature", "key encipherment", "server auth"],
    }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "usages compared as a set: duplicates and order do not matter",
    csr: okCsr({ usages: ["server auth", "server auth", "digital signature"] }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },

  // --- approve: what an instance owns -------------------------------------------------
  {
    name: "public IP and public DNS name",
    csr: okCsr({ dns: [A_NAME, publicName(A_PUBLIC)], ips: [A_IP, A_PUBLIC] }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "multi-ENI: a secondary interface's private IP, public IP and names",
    csr: okCsr({
      dns: [A_NAME, ipName(A_SECONDARY_ENI_IP), publicName(A_SECONDARY_PUBLIC)],
      ips: [A_IP, A_SECONDARY_ENI_IP, A_SECONDARY_PUBLIC],
    }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "IPv6 address",
    csr: okCsr({ ips: [A_IP, A_IPV6] }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "IPv6 address spelled out in full in the SAN",
    csr: okCsr({ ips: ["2a05:d018:0001:0002:0000:0000:0000:0070"] }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "IPv6 address spelled in upper case by EC2",
    csr: okCsr({ ips: [A_IPV6] }),
    instances: [instance({ id: A_ID, ip: A_IP, ipv6: ["2A05:D018:1:2:0:0:0:70"] })],
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  { name: "IP SAN only", csr: okCsr({ dns: [] }), decision: "approve", codes: ["ALL_CHECKS_PASSED"] },
  { name: "DNS SAN only", csr: okCsr({ ips: [] }), decision: "approve", codes: ["ALL_CHECKS_PASSED"] },
  {
    name: "DNS SAN with a trailing dot and upper case",
    csr: okCsr({ dns: [`${A_NAME.toUpperCase()}.`] }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "short hostname node (Ubuntu): N = ip-10-0-1-70",
    csr: kubelet(A_SHORT, { dns: [A_SHORT, A_NAME], ips: [A_IP] }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
    instanceId: A_ID,
  },
  {
    name: "instance-ID node name with resource-name SAN",
    csr: kubelet(A_ID, { dns: [A_ID, `${A_ID}.${REGION}.compute.internal`], ips: [A_IP] }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
    instanceId: A_ID,
  },
  {
    name: "resource-name hostname node (IPv6-first subnets)",
    csr: kubelet(`${A_ID}.${REGION}.compute.internal`, {
      dns: [`${A_ID}.${REGION}.compute.internal`],
      ips: [A_IPV6],
    }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "us-east-1: ec2.internal names",
    csr: kubelet(`${A_ID}.ec2.internal`, {
      dns: [`${A_ID}.ec2.internal`, "ip-10-0-1-70.ec2.internal"],
      ips: [A_IP],
    }),
    instances: [instance({ id: A_ID, ip: A_IP, region: "us-east-1" })],
    cluster: { region: "us-east-1" },
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "instance without listed interfaces: owns its PrivateIpAddress",
    csr: okCsr(),
    instances: [instance({ id: A_ID, ip: A_IP, noInterfaces: true })],
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "extraDnsNames templates expand for this instance",
    csr: okCsr({
      dns: [
        A_NAME,
        `${A_SHORT}.corp.example.com`,
        `${A_ID}.nodes.example.com`,
        `${A_NAME}.alias.example.com`,
      ],
    }),
    settings: {
      extraDnsNames: [
        "{{shortName}}.corp.example.com",
        "{{instanceId}}.nodes.example.com",
        "{{nodeName}}.alias.example.com",
      ],
    },
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "extra subject attributes besides O and CN are tolerated",
    csr: okCsr({
      pem: customPem(A_NAME, {
        dnsNames: [A_NAME],
        ips: [A_IP],
        extraSubject: [{ oid: "2.5.4.6", value: "IE" }],
      }),
    }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "expirationSeconds at the maximum",
    csr: okCsr({ expirationSeconds: 31_708_800 }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "expirationSeconds under a lowered maximum",
    csr: okCsr({ expirationSeconds: 86_400 }),
    settings: { maxExpirationSeconds: 86_400 },
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "CSR created 200 s before LaunchTime (within the 300 s tolerance)",
    csr: okCsr({ creationTimestamp: "2026-01-01T00:01:40Z" }),
    now: new Date("2026-01-01T00:02:00Z"),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "cluster tag present with an allowed value",
    csr: okCsr(),
    settings: { clusterTag: { key: "kubernetes.io/cluster/prod", values: ["owned", "shared"] } },
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "cluster tag present, any value",
    csr: okCsr(),
    settings: { clusterTag: { key: "kubernetes.io/cluster/prod" } },
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },

  // --- approve: identity corner cases -------------------------------------------------
  {
    name: "IP reuse: the new instance is identified, the terminated one ignored",
    csr: kubelet(ipName(REUSED_IP), { dns: [ipName(REUSED_IP)], ips: [REUSED_IP] }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
    instanceId: C_ID,
  },
  {
    name: "the same instance listed twice, identically",
    csr: okCsr(),
    instances: [A, structuredClone(A), B],
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "short name also live in another VPC: the cluster VPC's instance wins",
    csr: kubelet(A_SHORT, { dns: [A_SHORT], ips: [A_IP] }),
    instances: [TWIN, A],
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
    instanceId: A_ID,
  },
  {
    name: "Node providerID agrees",
    csr: okCsr(),
    nodes: [node(A_NAME, providerId(A_ID))],
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "Node object without providerID",
    csr: okCsr(),
    nodes: [node(A_NAME)],
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "Node providerID in a non-AWS format is no evidence either way",
    csr: okCsr(),
    nodes: [node(A_NAME, `kind://docker/prod/${B_ID}`)],
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "EKS: session name agrees with the name",
    csr: okCsr({ extra: withSession(A_ID) }),
    cluster: eks,
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
    says: ["session-name"],
  },
  {
    name: "EKS: custom hostname identified by the session name alone, IP SANs only",
    csr: kubelet("worker-7", { ips: [A_IP, A_SECONDARY_ENI_IP], extra: withSession(A_ID) }),
    cluster: eks,
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
    instanceId: A_ID,
  },
  {
    name: "trustNodeProviderId: the providerID identifies an unnamed node",
    csr: kubelet("worker-7", { ips: [A_IP] }),
    nodes: [node("worker-7", providerId(A_ID))],
    settings: { trustNodeProviderId: true },
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
    instanceId: A_ID,
  },
  {
    name: "self-managed: session name agrees with the name",
    csr: okCsr({ extra: withSession(A_ID) }),
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
    instanceId: A_ID,
    says: ["session-name"],
  },
  {
    name: "trustNodeProviderId: unrelated Node objects do not stand in the way",
    csr: kubelet("worker-7", { ips: [B_IP] }),
    nodes: [node("worker-7", providerId(B_ID)), node(A_NAME, providerId(A_ID)), node("worker-8")],
    settings: { trustNodeProviderId: true },
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
    instanceId: B_ID,
  },

  // --- skip -----------------------------------------------------------------------------
  {
    name: "other signer",
    csr: okCsr({ signerName: "kubernetes.io/kube-apiserver-client-kubelet" }),
    decision: "skip",
    codes: ["OTHER_SIGNER"],
  },
  {
    name: "other signer, whatever else is wrong",
    csr: kubelet("x", { signerName: "example.com/custom", username: "alice", usages: ["client auth"] }),
    instances: { unavailable: "throttled" },
    decision: "skip",
    codes: ["OTHER_SIGNER"],
  },
  {
    name: "already approved",
    csr: okCsr({ conditions: [{ type: "Approved", status: "True", reason: "AutoApproved" }] }),
    decision: "skip",
    codes: ["ALREADY_DECIDED"],
  },
  {
    name: "already denied",
    csr: okCsr({ conditions: [{ type: "Denied", status: "True" }] }),
    decision: "skip",
    codes: ["ALREADY_DECIDED"],
  },
  {
    name: "failed (signer could not issue)",
    csr: okCsr({ conditions: [{ type: "Failed", status: "True" }] }),
    decision: "skip",
    codes: ["ALREADY_DECIDED"],
  },
  {
    name: "an Approved condition with status False still counts as decided",
    csr: okCsr({ conditions: [{ type: "Approved", status: "False" }] }),
    decision: "skip",
    codes: ["ALREADY_DECIDED"],
  },

  // --- wait ---------------------------------------------------------------------------
  {
    name: "no instance yet (EC2 eventual consistency), within grace",
    csr: okCsr(),
    instances: [B],
    decision: "wait",
    codes: ["INSTANCE_NOT_VISIBLE"],
    instanceId: null,
    says: ["120 s old"],
  },
  {
    name: "only a terminated instance had the name, within grace",
    csr: kubelet(ipName(REUSED_IP), { dns: [ipName(REUSED_IP)], ips: [REUSED_IP] }),
    instances: [DEAD],
    decision: "wait",
    codes: ["INSTANCE_NOT_VISIBLE"],
  },
  {
    name: "instance pending, within grace",
    csr: okCsr(),
    instances: [{ ...A, State: { Name: "pending" } }],
    decision: "wait",
    codes: ["INSTANCE_PENDING"],
    instanceId: A_ID,
  },
  {
    name: "pending instance in a foreign VPC waits until grace (first failing check decides)",
    csr: kubelet(ipName(FOREIGN_IP), { ips: [FOREIGN_IP] }),
    instances: [
      { ...instance({ id: FOREIGN_ID, ip: FOREIGN_IP, vpc: OTHER_VPC }), State: { Name: "pending" } },
    ],
    decision: "wait",
    codes: ["INSTANCE_PENDING"],
  },
  {
    name: "EC2 lookup failed",
    csr: okCsr(),
    instances: { unavailable: "RequestLimitExceeded" },
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
    says: ["RequestLimitExceeded"],
  },
  {
    name: "Node lookup failed",
    csr: okCsr(),
    nodes: { unavailable: "503 Service Unavailable" },
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
  },
  {
    name: "both lookups failed",
    csr: okCsr(),
    instances: { unavailable: "timeout" },
    nodes: { unavailable: "timeout" },
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE", "FACTS_UNAVAILABLE"],
  },
  {
    name: "a lookup error never denies, even a CSR that will be denied",
    csr: okCsr({ usages: ["client auth"] }),
    instances: { unavailable: "AccessDenied" },
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
  },
  {
    name: "no creationTimestamp: treated as new, never past grace",
    csr: okCsr({ creationTimestamp: null }),
    instances: [B],
    now: NOW_STALE,
    decision: "wait",
    codes: ["INSTANCE_NOT_VISIBLE"],
  },
  {
    name: "no creationTimestamp: cannot prove it postdates the launch",
    csr: okCsr({ creationTimestamp: null }),
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
    says: ["creationTimestamp"],
  },
  {
    name: "garbage creationTimestamp is as good as none",
    csr: okCsr({ creationTimestamp: "yesterday" }),
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
  },
  {
    name: "instance without LaunchTime",
    csr: okCsr(),
    instances: [{ ...A, LaunchTime: undefined }],
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
    says: ["LaunchTime"],
  },
  {
    name: "cluster without VPC IDs: membership cannot be proven",
    csr: okCsr(),
    cluster: { vpcIds: [] },
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
    says: ["no VPC IDs"],
  },
  {
    name: "cluster tag configured with an empty list of values",
    csr: okCsr(),
    settings: { clusterTag: { key: "kubernetes.io/cluster/prod", values: [] } },
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
  },
  {
    name: "the same instance listed twice with different states (paginated lookup raced a launch)",
    csr: okCsr(),
    instances: [{ ...A, State: { Name: "pending" } }, A],
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
    says: ["inconsistent"],
  },
  {
    name: "self-managed: session name alone does not identify a custom hostname: wait",
    csr: kubelet("worker-7", { ips: [A_IP], extra: withSession(A_ID) }),
    decision: "wait",
    codes: ["INSTANCE_NOT_VISIBLE"],
    says: ["only on EKS"],
  },
  {
    name: "self-managed: session name alone, past the grace period: not found",
    csr: kubelet("worker-7", { ips: [A_IP], extra: withSession(A_ID) }),
    now: NOW_STALE,
    decision: "deny",
    codes: ["INSTANCE_NOT_FOUND"],
  },
  {
    name: "untrusted providerID: an unnamed node waits (and is never approved on it)",
    csr: kubelet("worker-7", { ips: [A_IP] }),
    nodes: [node("worker-7", providerId(A_ID))],
    decision: "wait",
    codes: ["INSTANCE_NOT_VISIBLE"],
    says: ["not trusted"],
  },

  // --- deny: the requester and the request (checks 2-9) --------------------------------
  {
    name: "requester is a person",
    csr: okCsr({ username: "alice" }),
    decision: "deny",
    codes: ["NOT_A_NODE", "SUBJECT_MISMATCH"],
  },
  {
    name: "requester is a service account",
    csr: okCsr({ username: "system:serviceaccount:kube-system:csr-bot", groups: ["system:serviceaccounts"] }),
    decision: "deny",
    codes: ["NOT_A_NODE", "SUBJECT_MISMATCH"],
  },
  {
    name: "requester system:node: with an empty name",
    csr: kubelet("", { ips: [A_IP] }),
    decision: "deny",
    codes: ["NOT_A_NODE"],
    instanceId: null,
  },
  {
    name: "node user outside the system:nodes group",
    csr: okCsr({ groups: ["system:authenticated"] }),
    decision: "deny",
    codes: ["NOT_A_NODE"],
    instanceId: A_ID,
  },
  {
    name: "request is not a PEM CSR",
    csr: { ...okCsr(), spec: { ...okCsr().spec, request: toRequestField("hello") } },
    decision: "deny",
    codes: ["MALFORMED_REQUEST"],
  },
  {
    // security-review finding 1: denied unread, whatever else is true of it.
    name: "request one character over 16 KiB: denied unread",
    csr: { ...okCsr(), spec: { ...okCsr().spec, request: "A".repeat(16 * 1024 + 1) } },
    parsed: parseCertificateRequest(okCsr().spec.request), // a valid parse changes nothing
    decision: "deny",
    codes: ["REQUEST_TOO_LARGE"],
    says: ["16385 characters, over the 16384"],
  },
  {
    name: "request of exactly 16 KiB: read (and here malformed)",
    csr: { ...okCsr(), spec: { ...okCsr().spec, request: "A".repeat(16 * 1024) } },
    decision: "deny",
    codes: ["MALFORMED_REQUEST"],
  },
  {
    name: "compact form of a 1.46 MB request (text dropped): denied with no EC2 fact",
    csr: { ...okCsr(), spec: { ...okCsr().spec, request: "", requestLength: 1_460_000 } },
    instances: [],
    decision: "deny",
    codes: ["REQUEST_TOO_LARGE"],
  },
  {
    name: "an oversized request with EC2 unavailable waits (an AWS error never denies)",
    csr: { ...okCsr(), spec: { ...okCsr().spec, request: "", requestLength: 1_460_000 } },
    instances: { unavailable: "EC2 down" },
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
  },
  {
    name: "a stated requestLength below the text never shortens it",
    csr: { ...okCsr(), spec: { ...okCsr().spec, request: "A".repeat(20_000), requestLength: 10 } },
    decision: "deny",
    codes: ["REQUEST_TOO_LARGE"],
  },
  {
    name: "two PEM blocks in one request",
    csr: {
      ...okCsr(),
      spec: {
        ...okCsr().spec,
        request: toRequestField(customPem(A_NAME, { ips: [A_IP] }) + customPem(B_NAME, { ips: [B_IP] })),
      },
    },
    decision: "deny",
    codes: ["MALFORMED_REQUEST"],
  },
  {
    name: "malformed request and bad usages: both listed",
    csr: {
      ...okCsr({ usages: ["client auth"] }),
      spec: { ...okCsr({ usages: ["client auth"] }).spec, request: toRequestField("x") },
    },
    decision: "deny",
    codes: ["MALFORMED_REQUEST", "BAD_USAGES"],
  },
  {
    name: "tampered signature",
    csr: okCsr({ pem: tamperSignature(customPem(A_NAME, { dnsNames: [A_NAME], ips: [A_IP] })) }),
    decision: "deny",
    codes: ["BAD_SIGNATURE"],
  },
  {
    name: "subject rewritten after signing (CN of another node)",
    csr: okCsr({ pem: tamperSubject(customPem(A_NAME, { ips: [A_IP] }), `system:node:${B_NAME}`) }),
    decision: "deny",
    codes: ["BAD_SIGNATURE", "SUBJECT_MISMATCH"],
  },
  {
    name: "RSA 1024",
    csr: okCsr({ key: { type: "rsa", bits: 1024 } }),
    decision: "deny",
    codes: ["WEAK_KEY"],
    says: ["RSA 1024"],
  },
  {
    name: "RSA 1024 for another node's IP: both listed",
    csr: okCsr({ key: { type: "rsa", bits: 1024 }, ips: [B_IP] }),
    decision: "deny",
    codes: ["WEAK_KEY", "IP_NOT_OWNED"],
  },
  {
    name: "unsupported curve (secp256k1)",
    csr: okCsr({
      pem: customPem(A_NAME, { ips: [A_IP], key: { type: "ecdsa", curve: "P-256" }, privateKey: secp256k1 }),
    }),
    decision: "deny",
    codes: ["BAD_SIGNATURE", "WEAK_KEY"],
    says: ["1.3.132.0.10"],
  },
  {
    name: "CN names another node",
    csr: okCsr({
      pem: createCsrPem({
        commonName: `system:node:${B_NAME}`,
        organizations: ["system:nodes"],
        ips: [A_IP],
      }),
    }),
    decision: "deny",
    codes: ["SUBJECT_MISMATCH"],
  },
  {
    name: "extra organization system:masters",
    csr: okCsr({
      pem: customPem(A_NAME, { ips: [A_IP], organizations: ["system:nodes", "system:masters"] }),
    }),
    decision: "deny",
    codes: ["SUBJECT_MISMATCH"],
    says: ["system:masters"],
  },
  {
    name: "no organization",
    csr: okCsr({ pem: createCsrPem({ commonName: `system:node:${A_NAME}`, ips: [A_IP] }) }),
    decision: "deny",
    codes: ["SUBJECT_MISMATCH"],
  },
  {
    name: "two CNs",
    csr: okCsr({
      pem: customPem(A_NAME, {
        ips: [A_IP],
        extraSubject: [{ oid: "2.5.4.3", value: `system:node:${B_NAME}` }],
      }),
    }),
    decision: "deny",
    codes: ["SUBJECT_MISMATCH"],
  },
  {
    name: "client auth usage added",
    csr: okCsr({ usages: ["digital signature", "key encipherment", "server auth", "client auth"] }),
    decision: "deny",
    codes: ["BAD_USAGES"],
  },
  {
    name: "client auth usages only",
    csr: okCsr({ usages: ["digital signature", "client auth"] }),
    decision: "deny",
    codes: ["BAD_USAGES"],
  },
  {
    name: "server auth alone",
    csr: okCsr({ usages: ["server auth"] }),
    decision: "deny",
    codes: ["BAD_USAGES"],
  },
  {
    name: "usages missing",
    csr: (() => {
      const csr = okCsr();
      delete csr.spec.usages;
      return csr;
    })(),
    decision: "deny",
    codes: ["BAD_USAGES"],
  },
  {
    name: "email SAN",
    csr: okCsr({ pem: customPem(A_NAME, { ips: [A_IP], emails: ["root@example.com"] }) }),
    decision: "deny",
    codes: ["FORBIDDEN_SAN"],
  },
  {
    name: "URI SAN (SPIFFE ID)",
    csr: okCsr({
      pem: customPem(A_NAME, { ips: [A_IP], uris: ["spiffe://cluster.local/ns/kube-system/sa/admin"] }),
    }),
    decision: "deny",
    codes: ["FORBIDDEN_SAN"],
  },
  {
    name: "otherName SAN (UPN)",
    csr: okCsr({ pem: customPem(A_NAME, { ips: [A_IP], otherName: true }) }),
    decision: "deny",
    codes: ["FORBIDDEN_SAN"],
  },
  { name: "no SAN at all", csr: okCsr({ dns: [], ips: [] }), decision: "deny", codes: ["FORBIDDEN_SAN"] },
  {
    name: "expirationSeconds one over the maximum",
    csr: okCsr({ expirationSeconds: 31_708_801 }),
    decision: "deny",
    codes: ["EXPIRATION_TOO_LONG"],
  },
  {
    name: "a request failure denies even while the instance is not visible yet",
    csr: okCsr({ usages: ["client auth", "server auth", "digital signature"] }),
    instances: [],
    decision: "deny",
    codes: ["BAD_USAGES"],
    instanceId: null,
  },

  // --- deny: identity and the instance (checks 10-13) ----------------------------------
  {
    name: "no instance after the grace period",
    csr: okCsr(),
    instances: [B],
    now: NOW_STALE,
    decision: "deny",
    codes: ["INSTANCE_NOT_FOUND"],
    says: ["901 s old"],
  },
  {
    name: "only a stopped instance has the name, after grace",
    csr: okCsr(),
    instances: [{ ...A, State: { Name: "stopped" } }],
    now: NOW_STALE,
    decision: "deny",
    codes: ["INSTANCE_NOT_FOUND"],
  },
  {
    name: "terminated twin only, after grace",
    csr: kubelet(ipName(REUSED_IP), { ips: [REUSED_IP] }),
    instances: [DEAD],
    now: NOW_STALE,
    decision: "deny",
    codes: ["INSTANCE_NOT_FOUND"],
  },
  {
    name: "a shorter grace period is honoured",
    csr: okCsr(),
    instances: [],
    settings: { pendingGraceSeconds: 60 },
    decision: "deny",
    codes: ["INSTANCE_NOT_FOUND"],
  },
  {
    name: "instance still pending after grace",
    csr: okCsr(),
    instances: [{ ...A, State: { Name: "pending" } }],
    now: NOW_STALE,
    decision: "deny",
    codes: ["INSTANCE_NOT_RUNNING"],
  },
  {
    name: "pending past grace in a foreign VPC: both listed",
    csr: kubelet(ipName(FOREIGN_IP), { ips: [FOREIGN_IP] }),
    instances: [
      { ...instance({ id: FOREIGN_ID, ip: FOREIGN_IP, vpc: OTHER_VPC }), State: { Name: "pending" } },
    ],
    now: NOW_STALE,
    decision: "deny",
    codes: ["INSTANCE_NOT_RUNNING", "FOREIGN_INSTANCE"],
  },
  {
    name: "providerID spoof: Node claims to be another instance",
    csr: okCsr(),
    nodes: [node(A_NAME, providerId(B_ID))],
    decision: "deny",
    codes: ["IDENTITY_CONFLICT"],
    instanceId: null,
    says: [B_ID],
  },
  {
    name: "providerID spoof even with trustNodeProviderId",
    csr: okCsr(),
    nodes: [node(A_NAME, providerId(B_ID))],
    settings: { trustNodeProviderId: true },
    decision: "deny",
    codes: ["IDENTITY_CONFLICT"],
  },
  {
    name: "EKS: session name is another instance",
    csr: okCsr({ extra: withSession(B_ID) }),
    cluster: eks,
    decision: "deny",
    codes: ["IDENTITY_CONFLICT"],
  },
  {
    name: "self-managed: session name is another instance (a veto on every cluster kind)",
    csr: okCsr({ extra: withSession(B_ID) }),
    decision: "deny",
    codes: ["IDENTITY_CONFLICT"],
    instanceId: null,
    says: [A_ID, B_ID, "IAM session name"],
  },
  {
    name: "self-managed: session name is an instance missing from the facts: no approval",
    csr: okCsr({ extra: withSession("i-0999999999999999f") }),
    decision: "deny",
    codes: ["IDENTITY_CONFLICT"],
    instanceId: null,
  },
  {
    name: "self-managed: session name vetoes a trusted providerID",
    csr: kubelet("worker-7", { ips: [A_IP], extra: withSession(B_ID) }),
    nodes: [node("worker-7", providerId(A_ID))],
    settings: { trustNodeProviderId: true },
    decision: "deny",
    codes: ["IDENTITY_CONFLICT"],
    instanceId: null,
  },
  {
    name: "trustNodeProviderId: providerID names a live neighbour that has its own Node object",
    csr: kubelet("worker-7", { dns: [B_NAME], ips: [B_IP] }),
    nodes: [node("worker-7", providerId(B_ID)), node(B_NAME, providerId(B_ID))],
    settings: { trustNodeProviderId: true },
    decision: "deny",
    codes: ["IDENTITY_CONFLICT"],
    instanceId: null,
    says: [B_ID, B_NAME],
  },
  {
    name: "trustNodeProviderId: the neighbour's Node object has no providerID yet",
    csr: kubelet("worker-7", { ips: [B_IP] }),
    nodes: [node("worker-7", providerId(B_ID)), node(B_NAME)],
    settings: { trustNodeProviderId: true },
    decision: "deny",
    codes: ["IDENTITY_CONFLICT"],
  },
  {
    name: "trustNodeProviderId: another Node object carries the same providerID",
    csr: kubelet("worker-7", { ips: [B_IP] }),
    nodes: [node("worker-7", providerId(B_ID)), node("worker-8", providerId(B_ID))],
    settings: { trustNodeProviderId: true },
    decision: "deny",
    codes: ["IDENTITY_CONFLICT"],
  },
  {
    name: "EKS: session name disagrees and the usages are wrong: both listed",
    csr: okCsr({ extra: withSession(B_ID), usages: ["client auth"] }),
    cluster: eks,
    decision: "deny",
    codes: ["BAD_USAGES", "IDENTITY_CONFLICT"],
  },
  {
    name: "same private name live in two cluster VPCs: ambiguous",
    csr: okCsr(),
    instances: [A, TWIN],
    cluster: { vpcIds: [CLUSTER_VPC, OTHER_VPC] },
    decision: "deny",
    codes: ["IDENTITY_CONFLICT"],
    says: [A_ID, TWIN_ID],
  },
  {
    name: "instance in another VPC",
    csr: kubelet(ipName(FOREIGN_IP), { dns: [ipName(FOREIGN_IP)], ips: [FOREIGN_IP] }),
    decision: "deny",
    codes: ["FOREIGN_INSTANCE"],
    instanceId: FOREIGN_ID,
    says: [OTHER_VPC],
  },
  {
    name: "twin in another VPC is the only live match",
    csr: okCsr(),
    instances: [TWIN],
    decision: "deny",
    codes: ["FOREIGN_INSTANCE"],
    instanceId: TWIN_ID,
  },
  {
    name: "cluster tag missing",
    csr: kubelet(ipName(REUSED_IP), { ips: [REUSED_IP] }),
    settings: { clusterTag: { key: "kubernetes.io/cluster/prod" } },
    decision: "deny",
    codes: ["FOREIGN_INSTANCE"],
    says: ["lacks the cluster tag"],
  },
  {
    name: "cluster tag with the wrong value",
    csr: okCsr(),
    settings: { clusterTag: { key: "kubernetes.io/cluster/prod", values: ["shared"] } },
    decision: "deny",
    codes: ["FOREIGN_INSTANCE"],
  },
  {
    name: "CSR predates the instance (left over from a previous owner of the IP)",
    csr: kubelet(ipName(REUSED_IP), { ips: [REUSED_IP], creationTimestamp: "2026-01-01T00:04:59Z" }),
    instances: [DEAD, instance({ id: C_ID, ip: REUSED_IP, launch: "2026-01-01T00:10:00Z" })],
    now: new Date("2026-01-01T00:11:00Z"),
    decision: "deny",
    codes: ["CSR_PREDATES_INSTANCE"],
  },

  // --- deny: hostile SANs (checks 14-15) ----------------------------------------------
  {
    name: "another node's IP",
    csr: okCsr({ ips: [A_IP, B_IP] }),
    decision: "deny",
    codes: ["IP_NOT_OWNED"],
    says: [`IP SAN ${B_IP}`, `owns`],
  },
  {
    name: "another node's name",
    csr: okCsr({ dns: [A_NAME, B_NAME] }),
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
    says: [B_NAME],
  },
  {
    name: "another node's IP and name: both listed",
    csr: okCsr({ dns: [B_NAME], ips: [B_IP] }),
    decision: "deny",
    codes: ["IP_NOT_OWNED", "DNS_NOT_OWNED"],
  },
  {
    name: "IMDS IPv4",
    csr: okCsr({ ips: [A_IP, "169.254.169.254"] }),
    decision: "deny",
    codes: ["IP_NOT_OWNED"],
  },
  {
    name: "IMDS IPv6",
    csr: okCsr({ ips: [A_IP, "fd00:ec2::254"] }),
    decision: "deny",
    codes: ["IP_NOT_OWNED"],
  },
  {
    name: "loopback IPv4",
    csr: okCsr({ ips: [A_IP, "127.0.0.1"] }),
    decision: "deny",
    codes: ["IP_NOT_OWNED"],
  },
  { name: "loopback IPv6", csr: okCsr({ ips: ["::1"] }), decision: "deny", codes: ["IP_NOT_OWNED"] },
  {
    name: "unspecified address",
    csr: okCsr({ ips: ["0.0.0.0"] }),
    decision: "deny",
    codes: ["IP_NOT_OWNED"],
  },
  {
    name: "IPv4-mapped IPv6 spelling of its own IP is not owned",
    csr: okCsr({ ips: [`::ffff:${A_IP}`] }),
    decision: "deny",
    codes: ["IP_NOT_OWNED"],
  },
  {
    name: "a pod IP from its delegated prefix",
    csr: okCsr({ ips: [A_PREFIX_IP] }),
    decision: "deny",
    codes: ["IP_NOT_OWNED"],
  },
  {
    name: "an IP of a detaching interface",
    csr: okCsr({ ips: [A_DETACHING_IP] }),
    decision: "deny",
    codes: ["IP_NOT_OWNED"],
  },
  {
    name: "the API server service IP and names",
    csr: okCsr({
      dns: [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
      ],
      ips: ["172.20.0.1"],
    }),
    decision: "deny",
    codes: ["IP_NOT_OWNED", "DNS_NOT_OWNED"],
  },
  {
    name: "localhost",
    csr: okCsr({ dns: [A_NAME, "localhost"] }),
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
  },
  {
    name: "wildcard over the region's names",
    csr: okCsr({ dns: [`*.${REGION}.compute.internal`] }),
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
    says: ["wildcard"],
  },
  {
    name: "wildcard even under its own name",
    csr: okCsr({ dns: [`*.${A_NAME}`] }),
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
  },
  {
    name: "a wildcard template in extraDnsNames is ignored",
    csr: okCsr({ dns: [`*.${A_SHORT}.example.com`] }),
    settings: { extraDnsNames: ["*.{{shortName}}.example.com"] },
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
  },
  {
    name: "suffix trick",
    csr: okCsr({ dns: [`${A_NAME}.evil.com`] }),
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
  },
  {
    name: "prefix trick",
    csr: okCsr({ dns: [`evil-${A_NAME}`] }),
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
  },
  {
    name: "short name with a foreign domain",
    csr: okCsr({ dns: [`${A_SHORT}.evil.com`] }),
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
  },
  {
    name: "another instance's resource name",
    csr: okCsr({ dns: [`${B_ID}.${REGION}.compute.internal`] }),
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
  },
  {
    name: "extraDnsNames expand for this instance only",
    csr: okCsr({ dns: [`ip-10-0-2-9.corp.example.com`] }),
    settings: { extraDnsNames: ["{{shortName}}.corp.example.com"] },
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
  },
  {
    name: "EKS: N identified by session only is not an owned DNS name",
    csr: kubelet("worker-7", { dns: ["worker-7"], ips: [A_IP], extra: withSession(A_ID) }),
    cluster: eks,
    decision: "deny",
    codes: ["DNS_NOT_OWNED"],
    instanceId: A_ID,
  },
  {
    name: "the IP of the terminated instance whose name the new node reuses",
    csr: okCsr({ ips: [A_IP, REUSED_IP] }),
    instances: [A, DEAD],
    decision: "deny",
    codes: ["IP_NOT_OWNED"],
  },
  {
    name: "everything wrong at once: every evaluable failure is listed in check order",
    csr: kubelet(A_NAME, {
      pem: customPem(A_NAME, {
        ips: [B_IP],
        dnsNames: ["*.evil.com"],
        emails: ["x@example.com"],
        key: { type: "rsa", bits: 1024 },
      }),
      usages: ["client auth"],
      expirationSeconds: 999_999_999,
    }),
    nodes: [node(A_NAME, providerId(A_ID))],
    decision: "deny",
    codes: [
      "WEAK_KEY",
      "BAD_USAGES",
      "FORBIDDEN_SAN",
      "EXPIRATION_TOO_LONG",
      "IP_NOT_OWNED",
      "DNS_NOT_OWNED",
    ],
  },
];

// ---------------------------------------------------------------------------------------

function inputFor(testCase: Case): PolicyInput {
  return {
    csr: testCase.csr,
    parsed: testCase.parsed ?? parseCertificateRequest(testCase.csr.spec.request),
    instances: testCase.instances ?? ALL,
    nodes: testCase.nodes ?? [],
    cluster: cluster(testCase.cluster),
    settings: settings(testCase.settings),
    now: testCase.now ?? NOW_FRESH,
  };
}

describe("decide: the decision table", () => {
  it("has the cases this suite promises", () => {
    expect(cases.length).toBeGreaterThanOrEqual(90);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    // Every deny code and every decision kind is exercised by at least one row.
    const seen = new Set(cases.flatMap((c) => c.codes));
    // Nodes outside EC2 (checks 16-18) have their own table: test/unit/non-ec2.test.ts.
    for (const code of DENY_CODES.filter((c) => !c.startsWith("NON_EC2_")))
      expect(seen, code).toContain(code);
    for (const kind of ["approve", "deny", "wait", "skip"])
      expect(cases.map((c) => c.decision)).toContain(kind);
  });

  it.each(cases)("$name → $decision $codes", (testCase) => {
    const decision = decide(inputFor(testCase));
    expect({ decision: decision.decision, codes: decision.reasons.map((r) => r.code) }).toEqual({
      decision: testCase.decision,
      codes: testCase.codes,
    });
    expect(decision.name).toBe(testCase.csr.metadata.name);
    for (const reason of decision.reasons) {
      expect(reason.message.length).toBeGreaterThan(10);
      expect(reason.message).not.toContain("\n");
    }
    if (testCase.instanceId === null) expect(decision.instanceId).toBeUndefined();
    else if (testCase.instanceId !== undefined) expect(decision.instanceId).toBe(testCase.instanceId);
    const text = decision.reasons.map((r) => r.message).join(" | ");
    for (const fragment of testCase.says ?? []) expect(text).toContain(fragment);
    if (decision.decision === "approve") {
      expect(decision.owned).toBeDefined();
      expect(decision.instanceId).toBeDefined();
    }
  });
});

describe("decide: the Decision it reports", () => {
  it("names the node, requester, instance, SANs and what the instance owns", () => {
    const decision = decide(
      inputFor({ name: "", csr: okCsr({ ips: [A_IP, B_IP] }), decision: "deny", codes: [] }),
    );
    expect(decision).toMatchObject({
      decision: "deny",
      node: A_NAME,
      requester: `system:node:${A_NAME}`,
      instanceId: A_ID,
      requestedSans: { dnsNames: [A_NAME], ips: [A_IP, B_IP], other: [] },
    });
    expect(decision.owned?.ips).toContain(A_PUBLIC);
    expect(decision.reasons[0]?.message).toBe(
      `IP SAN ${B_IP} is not an address of ${A_ID} (owns ${decision.owned?.ips.join(", ")})`,
    );
  });

  it("reports other SAN types in requestedSans", () => {
    const csr = okCsr({ pem: customPem(A_NAME, { ips: [A_IP], emails: ["root@example.com"] }) });
    expect(decide(inputFor({ name: "", csr, decision: "deny", codes: [] })).requestedSans?.other).toEqual([
      "email:root@example.com",
    ]);
  });

  it("approves with a single reason naming the instance", () => {
    const decision = decide(inputFor({ name: "", csr: okCsr(), decision: "approve", codes: [] }));
    expect(decision.reasons).toHaveLength(1);
    expect(decision.reasons[0]?.message).toContain(A_ID);
    expect(decision.reasons[0]?.message).toContain(CLUSTER_VPC);
  });

  it("turns a parse result that contradicts the request into a denial, never an approval", () => {
    // The policy trusts `parsed` for the request checks; a forged "valid" parse still has to
    // pass ownership, and a failed parse denies.
    const csr = okCsr();
    const failed = decide({
      ...inputFor({ name: "", csr, decision: "deny", codes: [] }),
      parsed: { ok: false, error: "boom" },
    });
    expect(failed.decision).toBe("deny");
    expect(failed.reasons[0]?.message).toContain("boom");
  });
});

describe("decide: hostile input never throws", () => {
  const base = inputFor({ name: "", csr: okCsr(), decision: "approve", codes: [] });
  // What is read from outside never reaches decide() in a wrong shape: the edge schemas refuse it.
  const csrShapes: [string, unknown][] = [
    ["null csr", null],
    ["csr without spec", { metadata: { name: "x" } }],
    ["conditions not a list", { ...base.csr, status: { conditions: "Approved" } }],
    ["status not an object", { ...base.csr, status: 5 }],
    ["spec.groups not a list", { ...base.csr, spec: { ...base.csr.spec, groups: "system:nodes" } }],
    ["expirationSeconds a string", { ...base.csr, spec: { ...base.csr.spec, expirationSeconds: "1" } }],
  ];
  it.each(csrShapes)("%s: refused by the CSR schema", (_label, raw) => {
    expect(v.safeParse(CsrSchema, raw).success).toBe(false);
  });
  it("junk instance records and Node objects are refused by their schemas", () => {
    for (const record of [null, 1, "i-0a1b2c3d4e5f60718", { InstanceId: A_ID, State: null }]) {
      expect(() => checkInstance(record)).toThrow(/an EC2 instance record is malformed/);
    }
    for (const node of [null, { metadata: null }, { spec: { providerID: {} } }]) {
      expect(v.safeParse(NodeSchema, node).success).toBe(false);
    }
  });
  // Values built inside (the parse result, the configuration, the clock): an exception is a wait.
  const shapes: [string, Partial<Record<keyof PolicyInput, unknown>>][] = [
    ["parsed null", { parsed: null }],
    [
      "parsed request without arrays",
      { parsed: { ok: true, request: { subject: null, sans: null, publicKey: null } } },
    ],
    ["instances null", { instances: null }],
    ["cluster null", { cluster: null }],
    ["settings null", { settings: null }],
    ["now invalid", { now: new Date(Number.NaN) }],
    ["now missing", { now: undefined }],
  ];
  it.each(shapes)("%s", (_label, patch) => {
    const input = { ...base, ...patch } as PolicyInput;
    const decision = decide(input);
    expect(["wait", "deny", "skip"]).toContain(decision.decision);
  });
});

describe("CHECKS", () => {
  it("is SPEC §2's table (15 checks) and the 3 checks for nodes outside EC2, in order, each deny code once", () => {
    expect(CHECKS.map((check) => check.n)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
    ]);
    const codes = CHECKS.flatMap((check) => [check.code, ...(check.otherCodes ?? [])]).filter(
      (code) => code !== "SKIP",
    );
    expect([...codes].sort()).toEqual([...DENY_CODES].sort());
    expect(CHECKS[0]?.code).toBe("SKIP");
    expect(CHECKS[13]?.code).toBe("IP_NOT_OWNED");
  });
});
