// Shared EC2/cluster fixtures for the policy tests: a small, realistic VPC in eu-west-1.
import type {
  ClusterFacts,
  ClusterPolicySettings,
  Ec2Instance,
  Ec2NetworkInterface,
  NodeObject,
} from "../../functions/core/types.js";

export const REGION = "eu-west-1";
export const CLUSTER_VPC = "vpc-0c1a5e7e0000000001";
export const OTHER_VPC = "vpc-0f0e1a2b0000000009";

export const CREATED = "2026-01-01T00:10:00Z"; // the CSR's creationTimestamp
export const LAUNCHED = "2026-01-01T00:05:00Z"; // the instances' LaunchTime
export const NOW_FRESH = new Date("2026-01-01T00:12:00Z"); // 120 s after CREATED
export const NOW_STALE = new Date("2026-01-01T00:25:01Z"); // 901 s after CREATED

export function settings(overrides: Partial<ClusterPolicySettings> = {}): ClusterPolicySettings {
  return {
    mode: "enforce",
    deny: true,
    pendingGraceSeconds: 900,
    maxExpirationSeconds: 31_708_800,
    extraDnsNames: [],
    nodeNameTemplates: [],
    trustNodeProviderId: false,
    maxApprovalsPerSweep: 50,
    maxPendingPerNode: 20,
    maxAlertsPerSweep: 20,
    alertRepeatWindowSeconds: 3600,
    notIssuedAfterSeconds: 600,
    ...overrides,
  };
}

export function cluster(overrides: Partial<ClusterFacts> = {}): ClusterFacts {
  return { name: "prod", kind: "self-managed", region: REGION, vpcIds: [CLUSTER_VPC], ...overrides };
}

export interface InstanceSpec {
  id: string;
  ip: string;
  state?: string;
  vpc?: string;
  region?: string;
  publicIp?: string;
  launch?: string;
  tags?: Record<string, string>;
  ipv6?: string[];
  extraEnis?: Ec2NetworkInterface[];
  privateDnsName?: string;
  noInterfaces?: boolean;
}

export function ipName(ip: string, region = REGION): string {
  const label = `ip-${ip.replaceAll(".", "-")}`;
  return region === "us-east-1" ? `${label}.ec2.internal` : `${label}.${region}.compute.internal`;
}

export function publicName(ip: string, region = REGION): string {
  const label = `ec2-${ip.replaceAll(".", "-")}`;
  return region === "us-east-1"
    ? `${label}.compute-1.amazonaws.com`
    : `${label}.${region}.compute.amazonaws.com`;
}

/** An instance shaped like `aws ec2 describe-instances` prints it. */
export function instance(spec: InstanceSpec): Ec2Instance {
  const region = spec.region ?? REGION;
  const vpc = spec.vpc ?? CLUSTER_VPC;
  const privateDnsName = spec.privateDnsName ?? ipName(spec.ip, region);
  const association = spec.publicIp
    ? { PublicIp: spec.publicIp, PublicDnsName: publicName(spec.publicIp, region) }
    : undefined;
  const primary: Ec2NetworkInterface = {
    NetworkInterfaceId: `eni-${spec.id.slice(2, 12)}01`,
    Status: "in-use",
    VpcId: vpc,
    PrivateDnsName: privateDnsName,
    PrivateIpAddress: spec.ip,
    ...(association ? { Association: association } : {}),
    PrivateIpAddresses: [
      {
        PrivateIpAddress: spec.ip,
        PrivateDnsName: privateDnsName,
        Primary: true,
        ...(association ? { Association: association } : {}),
      },
    ],
    Ipv6Addresses: (spec.ipv6 ?? []).map((address) => ({ Ipv6Address: address })),
  };
  const result: Ec2Instance = {
    InstanceId: spec.id,
    State: { Name: spec.state ?? "running" },
    VpcId: vpc,
    LaunchTime: spec.launch ?? LAUNCHED,
    PrivateDnsName: privateDnsName,
    PrivateIpAddress: spec.ip,
    PublicDnsName: spec.publicIp ? publicName(spec.publicIp, region) : "",
    Placement: { AvailabilityZone: `${region}a` },
    Tags: Object.entries(spec.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
  };
  if (spec.publicIp) result.PublicIpAddress = spec.publicIp;
  if (!spec.noInterfaces) result.NetworkInterfaces = [primary, ...(spec.extraEnis ?? [])];
  return result;
}

// The cast of instances. IDs are 17 hex digits, as EC2 issues them today.
export const A_ID = "i-0a1b2c3d4e5f60718";
export const B_ID = "i-0b2c3d4e5f6071829";
export const C_ID = "i-0c3d4e5f607182930"; // a new instance reusing a terminated one's IP
export const DEAD_ID = "i-0dead000000000001"; // well-formed; terminated, so no live instance
export const FOREIGN_ID = "i-0f0f0f0f0f0f0f0f0";
export const TWIN_ID = "i-0e1e2e3e4e5e6e7e8"; // same private IP as A, other VPC

export const A_IP = "10.0.1.70";
export const A_NAME = ipName(A_IP); // ip-10-0-1-70.eu-west-1.compute.internal
export const A_SHORT = "ip-10-0-1-70";
export const A_PUBLIC = "54.1.2.3";
export const A_SECONDARY_ENI_IP = "10.0.3.15";
export const A_SECONDARY_PUBLIC = "34.240.1.9";
export const A_IPV6 = "2a05:d018:1:2::70";
export const A_DETACHING_IP = "10.0.9.9";
export const A_PREFIX_IP = "10.0.64.5"; // inside its delegated /28 prefix: a pod address

export const A = instance({
  id: A_ID,
  ip: A_IP,
  publicIp: A_PUBLIC,
  ipv6: [A_IPV6],
  tags: { "kubernetes.io/cluster/prod": "owned" },
  extraEnis: [
    {
      NetworkInterfaceId: "eni-0a00000000000002",
      Status: "in-use",
      VpcId: CLUSTER_VPC,
      PrivateDnsName: ipName(A_SECONDARY_ENI_IP),
      PrivateIpAddress: A_SECONDARY_ENI_IP,
      PrivateIpAddresses: [
        {
          PrivateIpAddress: A_SECONDARY_ENI_IP,
          PrivateDnsName: ipName(A_SECONDARY_ENI_IP),
          Primary: true,
          Association: { PublicIp: A_SECONDARY_PUBLIC, PublicDnsName: publicName(A_SECONDARY_PUBLIC) },
        },
      ],
      Ipv4Prefixes: [{ Ipv4Prefix: "10.0.64.0/28" }],
      Ipv6Prefixes: [{ Ipv6Prefix: "2a05:d018:1:2:abcd::/80" }],
    },
    {
      NetworkInterfaceId: "eni-0a00000000000003",
      Status: "detaching",
      VpcId: CLUSTER_VPC,
      PrivateIpAddress: A_DETACHING_IP,
      PrivateIpAddresses: [{ PrivateIpAddress: A_DETACHING_IP, Primary: true }],
    },
  ],
});

export const B_IP = "10.0.2.9";
export const B_NAME = ipName(B_IP);
export const B = instance({ id: B_ID, ip: B_IP, tags: { "kubernetes.io/cluster/prod": "owned" } });

export const REUSED_IP = "10.0.1.80";
export const DEAD = instance({
  id: DEAD_ID,
  ip: REUSED_IP,
  state: "terminated",
  launch: "2025-06-01T00:00:00Z",
});
export const C = instance({ id: C_ID, ip: REUSED_IP });

export const FOREIGN_IP = "10.0.5.5";
export const FOREIGN = instance({ id: FOREIGN_ID, ip: FOREIGN_IP, vpc: OTHER_VPC });
export const TWIN = instance({ id: TWIN_ID, ip: A_IP, vpc: OTHER_VPC });

export const ALL = [A, B, DEAD, C, FOREIGN];

export function node(name: string, providerID?: string): NodeObject {
  return providerID === undefined ? { metadata: { name } } : { metadata: { name }, spec: { providerID } };
}

export function providerId(id: string, az = `${REGION}a`): string {
  return `aws:///${az}/${id}`;
}
