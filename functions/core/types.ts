// The shared vocabulary of the pure core. Nothing here does I/O; every shape is plain data
// so the same values flow from the Kubernetes/EC2 adapters, from `kubectl -o json` and
// `aws ec2 describe-instances` dumps, and from tests.

// ---------------------------------------------------------------------------------------
// Kubernetes objects (the subset of certificates.k8s.io/v1 and core/v1 that we read)
// ---------------------------------------------------------------------------------------

export const KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving";

export interface CsrCondition {
  type: string; // Approved | Denied | Failed
  status: string; // "True" | "False" | "Unknown"
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

export interface CsrObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string; // RFC 3339, as the apiserver writes it
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec: {
    signerName: string;
    request: string; // base64 of the PEM, exactly as in the API object
    /** Set when a compact form dropped an oversized `request` (then ""): its length (core/request-size.ts). */
    requestLength?: number;
    username?: string;
    uid?: string;
    groups?: string[];
    usages?: string[];
    expirationSeconds?: number;
    extra?: Record<string, string[]>;
  };
  status?: {
    conditions?: CsrCondition[];
    certificate?: string;
  };
}

export interface NodeObject {
  metadata: { name: string };
  spec?: { providerID?: string };
}

// ---------------------------------------------------------------------------------------
// PKCS#10 parsing result (functions/core/request.ts)
// ---------------------------------------------------------------------------------------

export type SubjectAltName =
  | { type: "dns"; value: string }
  | { type: "ip"; value: string; version: 4 | 6 } // value is the canonical textual form
  | { type: "email"; value: string }
  | { type: "uri"; value: string }
  | { type: "other"; value: string }; // otherName, directoryName, registeredID, x400, ediParty: described

export type PublicKeyInfo =
  | { algorithm: "rsa"; bits: number }
  | { algorithm: "ecdsa"; curve: string } // "P-256" | "P-384" | "P-521" or the curve OID when unknown
  | { algorithm: "ed25519" }
  | { algorithm: "other"; oid: string };

export interface ParsedRequest {
  subject: {
    commonNames: string[]; // every CN attribute, in order
    organizations: string[]; // every O attribute, in order
    other: { oid: string; value: string }[]; // every other attribute
  };
  sans: SubjectAltName[];
  extensions: { oid: string; critical: boolean }[]; // from the extensionRequest attribute
  publicKey: PublicKeyInfo;
  signatureAlgorithm: string; // OID or a well-known name
  signatureValid: boolean; // the self-signature verified against the embedded key
  signatureError?: string; // why not, when it did not
}

export type ParseResult = { ok: true; request: ParsedRequest } | { ok: false; error: string };

// ---------------------------------------------------------------------------------------
// EC2 facts: the shape `aws ec2 describe-instances` prints and the SDK returns (PascalCase).
// Only the fields the policy reads are listed; extra fields are ignored.
// ---------------------------------------------------------------------------------------

export interface Ec2Association {
  PublicIp?: string;
  PublicDnsName?: string;
}

export interface Ec2NetworkInterface {
  NetworkInterfaceId?: string;
  Status?: string; // "in-use" | "attaching" | "detaching" | ...
  VpcId?: string;
  PrivateDnsName?: string;
  PrivateIpAddress?: string;
  Association?: Ec2Association;
  PrivateIpAddresses?: {
    PrivateIpAddress?: string;
    PrivateDnsName?: string;
    Primary?: boolean;
    Association?: Ec2Association;
  }[];
  Ipv6Addresses?: { Ipv6Address?: string }[];
  // Delegated prefixes are pod ranges, never owned addresses (SPEC §4).
  Ipv4Prefixes?: { Ipv4Prefix?: string }[];
  Ipv6Prefixes?: { Ipv6Prefix?: string }[];
}

export interface Ec2Instance {
  InstanceId?: string;
  State?: { Name?: string };
  VpcId?: string;
  LaunchTime?: string | Date;
  PrivateDnsName?: string;
  PrivateIpAddress?: string;
  PublicDnsName?: string;
  PublicIpAddress?: string;
  Placement?: { AvailabilityZone?: string };
  Tags?: { Key?: string; Value?: string }[];
  NetworkInterfaces?: Ec2NetworkInterface[];
}

// ---------------------------------------------------------------------------------------
// Cluster facts and the validated per-cluster policy settings
// ---------------------------------------------------------------------------------------

export interface ClusterFacts {
  name: string;
  kind: "eks" | "self-managed";
  region: string;
  vpcIds: string[];
  /**
   * EKS only: the CIDRs of `remoteNetworkConfig.remoteNodeNetworks` from DescribeCluster (EKS
   * Hybrid Nodes), which bound the addresses of nodes outside EC2; absent: none configured.
   */
  remoteNodeNetworks?: string[];
}

export interface ClusterTag {
  key: string;
  values?: string[]; // absent: any value
}

/** Static rules for nodes that are not EC2 instances (functions/core/non-ec2.ts). */
export interface NonEc2NodeRules {
  nodeNames: string[]; // globs: `*` and `?` within one label
  ipRanges: string[]; // CIDRs, IPv4 or IPv6
  dnsNames: string[]; // templates with {{nodeName}} / {{shortName}}
}

export interface ClusterPolicySettings {
  mode: "enforce" | "dry-run";
  deny: boolean;
  pendingGraceSeconds: number;
  maxExpirationSeconds: number;
  extraDnsNames: string[]; // templates, e.g. "{{shortName}}.corp.example.com"
  /** Templates over EC2 facts that name nodes, e.g. "{{tag:Name}}" (functions/core/name-templates.ts). */
  nodeNameTemplates: string[];
  trustNodeProviderId: boolean;
  clusterTag?: ClusterTag;
  /** Cluster-wide backstop per sweep; "auto": max(100, a quarter of the cluster's nodes). */
  maxApprovalsPerSweep: number | "auto";
  /** CSRs of one requester examined per sweep (its newest); more pending trips its own flood guard. */
  maxPendingPerNode: number;
  /** Individual alerts per cluster and sweep; the rest are covered by one summary alert. */
  maxAlertsPerSweep: number;
  /** Repeated alerts of one node for the same reasons are sent once per this window. */
  alertRepeatWindowSeconds: number;
  /** A CSR we approved that still has no certificate after this long raises one `not-issued` alert. */
  notIssuedAfterSeconds: number;
  /** Audit approvals made by others (absent: on). */
  audit?: boolean;
  /** The audit looks at CSRs created, approved or issued this recently (absent: 3600). */
  auditWindowSeconds?: number;
  /** `ignore`: CSRs from requesters that are not nodes are left alone (skip) instead of denied. */
  nonNodeRequests?: "deny" | "ignore"; // absent: deny
  /** Opt-in static rules for nodes outside EC2; absent: every node must be an EC2 instance. */
  nonEc2Nodes?: NonEc2NodeRules;
}

// ---------------------------------------------------------------------------------------
// Decisions (SPEC §2)
// ---------------------------------------------------------------------------------------

export type DecisionKind = "approve" | "deny" | "wait" | "skip";

export const DENY_CODES = [
  "NOT_A_NODE",
  "MALFORMED_REQUEST",
  "REQUEST_TOO_LARGE",
  "BAD_SIGNATURE",
  "WEAK_KEY",
  "SUBJECT_MISMATCH",
  "BAD_USAGES",
  "FORBIDDEN_SAN",
  "EXPIRATION_TOO_LONG",
  "INSTANCE_NOT_FOUND",
  "IDENTITY_CONFLICT",
  "INSTANCE_NOT_RUNNING",
  "FOREIGN_INSTANCE",
  "CSR_PREDATES_INSTANCE",
  "IP_NOT_OWNED",
  "DNS_NOT_OWNED",
  "NON_EC2_ADDRESS_IN_EC2",
  "NON_EC2_IP_NOT_ALLOWED",
  "NON_EC2_DNS_NOT_ALLOWED",
] as const;
export type DenyCode = (typeof DENY_CODES)[number];

export const WAIT_CODES = [
  "INSTANCE_NOT_VISIBLE", // no pending/running instance matches yet (within the grace period)
  "INSTANCE_PENDING", // the instance is still `pending` (within the grace period)
  "FACTS_UNAVAILABLE", // an AWS or Kubernetes call failed: never approve or deny on an error
] as const;
export type WaitCode = (typeof WAIT_CODES)[number];

export const SKIP_CODES = ["OTHER_SIGNER", "ALREADY_DECIDED", "NON_NODE_IGNORED"] as const;
export type SkipCode = (typeof SKIP_CODES)[number];

export const APPROVE_CODE = "ALL_CHECKS_PASSED" as const;
/** Approval of a node outside EC2 by the cluster's static `nonEc2Nodes` rules (weaker than EC2's). */
export const NON_EC2_APPROVE_CODE = "NON_EC2_RULES_PASSED" as const;
export const APPROVE_CODES = [APPROVE_CODE, NON_EC2_APPROVE_CODE] as const;

export type ReasonCode = DenyCode | WaitCode | SkipCode | (typeof APPROVE_CODES)[number];

export interface Reason {
  code: ReasonCode;
  message: string; // one human sentence naming the fact that failed
}

export interface OwnedAddresses {
  ips: string[]; // canonical textual forms, sorted
  dnsNames: string[]; // lower case, no trailing dot, sorted
}

export interface Decision {
  name: string; // CSR name
  decision: DecisionKind;
  reasons: Reason[]; // deny: every failing check it could evaluate, in check order
  node?: string; // N from system:node:N
  requester?: string; // spec.username
  instanceId?: string; // the instance identified as node N, when one was
  requestedSans?: { dnsNames: string[]; ips: string[]; other: string[] };
  owned?: OwnedAddresses; // what the instance owns, when an instance was identified
}

/** Everything the policy needs to decide one CSR. Time comes in as a value. */
export interface PolicyInput {
  csr: CsrObject;
  parsed: ParseResult;
  /**
   * Candidate EC2 instances (any state; the batched lookup may return more than the one
   * that matters), or `unavailable` with the error when the lookup failed.
   */
  instances: Ec2Instance[] | { unavailable: string };
  /** Node objects for the providerID cross-check; `unavailable` when the lookup failed. */
  nodes: NodeObject[] | { unavailable: string };
  cluster: ClusterFacts;
  settings: ClusterPolicySettings;
  now: Date;
}
