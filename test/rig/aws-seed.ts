// Seeds moto with the AWS world the approver looks at, through the real SDK v3 clients.
// What moto returns for each of these is written down in README.md ("What moto returns").
import {
  AllocateAddressCommand,
  AssignIpv6AddressesCommand,
  AssignPrivateIpAddressesCommand,
  AssociateAddressCommand,
  AssociateVpcCidrBlockCommand,
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
  type _InstanceType,
  type Tag,
} from "@aws-sdk/client-ec2";
import { CreateClusterCommand, DescribeClusterCommand, EKSClient, type Cluster } from "@aws-sdk/client-eks";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  CreateTopicCommand,
  SNSClient,
  SetSubscriptionAttributesCommand,
  SubscribeCommand,
} from "@aws-sdk/client-sns";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { MiniSqs, type AwsEndpointConfig, type SqsMessage } from "./sqs.js";

export type { AwsEndpointConfig } from "./sqs.js";

// An Amazon Linux AMI from moto's bundled catalogue (ami-12c6146b would make Platform "windows").
export const MOTO_AMI = "ami-760aaa0f";

export interface AwsClients {
  config: AwsEndpointConfig;
  ec2: EC2Client;
  eks: EKSClient;
  sns: SNSClient;
  secretsManager: SecretsManagerClient;
  ssm: SSMClient;
  sqs: MiniSqs;
}

export function awsClients(config: AwsEndpointConfig): AwsClients {
  const common = { endpoint: config.endpoint, region: config.region, credentials: config.credentials };
  return {
    config,
    ec2: new EC2Client(common),
    eks: new EKSClient(common),
    sns: new SNSClient(common),
    secretsManager: new SecretsManagerClient(common),
    ssm: new SSMClient(common),
    sqs: new MiniSqs(config),
  };
}

function required<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`moto returned no ${what}`);
  return value;
}

function tags(name: string, extra: Record<string, string> = {}): Tag[] {
  return Object.entries({ Name: name, ...extra }).map(([Key, Value]) => ({ Key, Value }));
}

export interface SeededVpc {
  vpcId: string;
  cidr: string;
  ipv6Cidr: string | undefined;
  subnets: { subnetId: string; cidr: string; az: string; ipv6Cidr: string | undefined }[];
}

// A VPC with an Amazon-provided IPv6 block and one subnet per given CIDR (each gets a /64).
export async function createVpc(
  clients: AwsClients,
  options: { name: string; cidr: string; subnets: { cidr: string; az: string }[]; ipv6?: boolean },
): Promise<SeededVpc> {
  const { Vpc } = await clients.ec2.send(
    new CreateVpcCommand({
      CidrBlock: options.cidr,
      TagSpecifications: [{ ResourceType: "vpc", Tags: tags(options.name) }],
    }),
  );
  const vpcId = required(Vpc?.VpcId, "VpcId");
  let ipv6Cidr: string | undefined;
  if (options.ipv6 !== false) {
    await clients.ec2.send(
      new AssociateVpcCidrBlockCommand({ VpcId: vpcId, AmazonProvidedIpv6CidrBlock: true }),
    );
    const { Vpcs } = await clients.ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }));
    ipv6Cidr = Vpcs?.[0]?.Ipv6CidrBlockAssociationSet?.[0]?.Ipv6CidrBlock;
  }
  const subnets: SeededVpc["subnets"] = [];
  for (const [index, subnet] of options.subnets.entries()) {
    // /56 from the VPC -> the index-th /64 for the subnet.
    const subnetIpv6 = ipv6Cidr
      ? ipv6Cidr.replace(/::\/56$/, "").replace(/:([0-9a-f]{1,4})$/, (_m, last: string) => {
          const base = parseInt(last.padEnd(4, "0"), 16);
          return `:${(base + index).toString(16).padStart(4, "0")}`;
        }) + "::/64"
      : undefined;
    const { Subnet } = await clients.ec2.send(
      new CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: subnet.cidr,
        AvailabilityZone: subnet.az,
        Ipv6CidrBlock: subnetIpv6,
        TagSpecifications: [{ ResourceType: "subnet", Tags: tags(`${options.name}-${subnet.az}`) }],
      }),
    );
    subnets.push({
      subnetId: required(Subnet?.SubnetId, "SubnetId"),
      cidr: subnet.cidr,
      az: subnet.az,
      ipv6Cidr: Subnet?.Ipv6CidrBlockAssociationSet?.[0]?.Ipv6CidrBlock ?? subnetIpv6,
    });
  }
  return { vpcId, cidr: options.cidr, ipv6Cidr, subnets };
}

export interface InstanceSpec {
  name: string;
  subnetId: string;
  privateIp?: string;
  secondaryPrivateIps?: string[]; // on the primary ENI
  ipv6Addresses?: string[]; // on the primary ENI (needs a subnet with an IPv6 block)
  elasticIp?: boolean; // an EIP associated with the instance's primary private IP
  extraEnis?: {
    subnetId: string;
    privateIp?: string;
    secondaryPrivateIps?: string[];
    ipv6Addresses?: string[];
    // An EIP associated with this ENI's given private IP (default: its primary).
    elasticIpFor?: string | true;
  }[];
  tags?: Record<string, string>;
  instanceType?: _InstanceType;
}

export interface SeededInstance {
  instanceId: string;
  name: string;
  publicIps: string[];
}

export async function allocateAndAssociateEip(
  clients: AwsClients,
  target: { instanceId?: string; networkInterfaceId?: string; privateIp?: string },
): Promise<string> {
  const { AllocationId, PublicIp } = await clients.ec2.send(new AllocateAddressCommand({ Domain: "vpc" }));
  await clients.ec2.send(
    new AssociateAddressCommand({
      AllocationId: required(AllocationId, "AllocationId"),
      InstanceId: target.networkInterfaceId ? undefined : target.instanceId,
      NetworkInterfaceId: target.networkInterfaceId,
      PrivateIpAddress: target.privateIp,
    }),
  );
  return required(PublicIp, "PublicIp");
}

export async function launchInstance(clients: AwsClients, spec: InstanceSpec): Promise<SeededInstance> {
  const { Instances } = await clients.ec2.send(
    new RunInstancesCommand({
      ImageId: MOTO_AMI,
      InstanceType: spec.instanceType ?? "m5.large",
      MinCount: 1,
      MaxCount: 1,
      // The primary ENI spelled out, deleted on termination as AWS's default is. (moto only
      // frees a top-level PrivateIpAddress when the instance is garbage-collected, so a
      // terminated twin could never hand its IP to a new instance that way.)
      NetworkInterfaces: [
        {
          DeviceIndex: 0,
          SubnetId: spec.subnetId,
          PrivateIpAddress: spec.privateIp,
          DeleteOnTermination: true,
        },
      ],
      TagSpecifications: [{ ResourceType: "instance", Tags: tags(spec.name, spec.tags) }],
    }),
  );
  const instance = required(Instances?.[0], "instance");
  const instanceId = required(instance.InstanceId, "InstanceId");
  const primaryEni = required(
    instance.NetworkInterfaces?.[0]?.NetworkInterfaceId,
    "primary NetworkInterfaceId",
  );
  const publicIps: string[] = [];
  if (spec.secondaryPrivateIps?.length) {
    await clients.ec2.send(
      new AssignPrivateIpAddressesCommand({
        NetworkInterfaceId: primaryEni,
        PrivateIpAddresses: spec.secondaryPrivateIps,
      }),
    );
  }
  if (spec.ipv6Addresses?.length) {
    await clients.ec2.send(
      new AssignIpv6AddressesCommand({ NetworkInterfaceId: primaryEni, Ipv6Addresses: spec.ipv6Addresses }),
    );
  }
  if (spec.elasticIp) publicIps.push(await allocateAndAssociateEip(clients, { instanceId }));
  for (const [index, eni] of (spec.extraEnis ?? []).entries()) {
    const { NetworkInterface } = await clients.ec2.send(
      new CreateNetworkInterfaceCommand({
        SubnetId: eni.subnetId,
        PrivateIpAddress: eni.privateIp,
        Ipv6Addresses: eni.ipv6Addresses?.map((Ipv6Address) => ({ Ipv6Address })),
        TagSpecifications: [
          { ResourceType: "network-interface", Tags: tags(`${spec.name}-eni-${index + 1}`) },
        ],
      }),
    );
    const eniId = required(NetworkInterface?.NetworkInterfaceId, "NetworkInterfaceId");
    if (eni.secondaryPrivateIps?.length) {
      await clients.ec2.send(
        new AssignPrivateIpAddressesCommand({
          NetworkInterfaceId: eniId,
          PrivateIpAddresses: eni.secondaryPrivateIps,
        }),
      );
    }
    await clients.ec2.send(
      new AttachNetworkInterfaceCommand({
        NetworkInterfaceId: eniId,
        InstanceId: instanceId,
        DeviceIndex: index + 1,
      }),
    );
    if (eni.elasticIpFor) {
      const privateIp = eni.elasticIpFor === true ? NetworkInterface?.PrivateIpAddress : eni.elasticIpFor;
      publicIps.push(await allocateAndAssociateEip(clients, { networkInterfaceId: eniId, privateIp }));
    }
  }
  return { instanceId, name: spec.name, publicIps };
}

export async function terminateInstance(clients: AwsClients, instanceId: string): Promise<void> {
  await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
}

export async function describeInstance(clients: AwsClients, instanceId: string): Promise<Instance> {
  const { Reservations } = await clients.ec2.send(
    new DescribeInstancesCommand({ InstanceIds: [instanceId] }),
  );
  return required(Reservations?.[0]?.Instances?.[0], `instance ${instanceId}`);
}

// moto's EKS model, as patched by moto_server.py: resourcesVpcConfig.vpcId is derived
// from the subnets like real EKS, and endpoint/CA come from the rig.test/* tags when given
// (to point the "EKS cluster" at a rig kube-apiserver).
export const EKS_ENDPOINT_TAG = "rig.test/endpoint";
export const EKS_CA_TAG = "rig.test/certificate-authority-data";

export async function createEksCluster(
  clients: AwsClients,
  options: {
    name: string;
    subnetIds: string[];
    roleArn?: string;
    tags?: Record<string, string>;
    // A rig cluster's server URL and CA PEM, so DescribeCluster leads to a real apiserver.
    endpoint?: string;
    caPem?: string;
  },
): Promise<Cluster> {
  const tagMap: Record<string, string> = { ...options.tags };
  if (options.endpoint) tagMap[EKS_ENDPOINT_TAG] = options.endpoint;
  if (options.caPem) tagMap[EKS_CA_TAG] = Buffer.from(options.caPem, "utf8").toString("base64");
  await clients.eks.send(
    new CreateClusterCommand({
      name: options.name,
      roleArn: options.roleArn ?? "arn:aws:iam::123456789012:role/eks-cluster",
      resourcesVpcConfig: { subnetIds: options.subnetIds },
      tags: tagMap,
    }),
  );
  const { cluster } = await clients.eks.send(new DescribeClusterCommand({ name: options.name }));
  return required(cluster, "EKS cluster");
}

export interface AlertSink {
  topicArn: string;
  queueUrl: string;
  // Each SNS message's body as published (raw delivery), with its message attributes.
  receive(waitSeconds?: number): Promise<SqsMessage[]>;
}

// An SNS topic with an SQS queue subscribed with raw message delivery, to read alerts back.
export async function createAlertSink(clients: AwsClients, name = "csr-approver-alerts"): Promise<AlertSink> {
  const { TopicArn } = await clients.sns.send(new CreateTopicCommand({ Name: name }));
  const topicArn = required(TopicArn, "TopicArn");
  const { queueUrl, queueArn } = await clients.sqs.createQueue(`${name}-inbox`);
  const { SubscriptionArn } = await clients.sns.send(
    new SubscribeCommand({ TopicArn: topicArn, Protocol: "sqs", Endpoint: queueArn }),
  );
  await clients.sns.send(
    new SetSubscriptionAttributesCommand({
      SubscriptionArn: required(SubscriptionArn, "SubscriptionArn"),
      AttributeName: "RawMessageDelivery",
      AttributeValue: "true",
    }),
  );
  return { topicArn, queueUrl, receive: (waitSeconds = 0) => clients.sqs.receive(queueUrl, 10, waitSeconds) };
}

export async function putSecret(clients: AwsClients, name: string, value: string): Promise<string> {
  const { ARN } = await clients.secretsManager.send(
    new CreateSecretCommand({ Name: name, SecretString: value }),
  );
  return required(ARN, "secret ARN");
}

export async function putSecureParameter(clients: AwsClients, name: string, value: string): Promise<void> {
  await clients.ssm.send(
    new PutParameterCommand({ Name: name, Value: value, Type: "SecureString", Overwrite: true }),
  );
}

// ---------------------------------------------------------------------------------------
// The standard world: what most integration tests start from.
// ---------------------------------------------------------------------------------------

export interface StandardWorld {
  net: string; // "10.<octet>": every cluster-VPC address below starts with it
  clusterVpc: SeededVpc;
  otherVpc: SeededVpc;
  // Node name (PrivateDnsName) -> instance, for the cluster VPC's running instances.
  multiEni: SeededInstance; // 2 ENIs, secondary IPs, IPv6, 2 EIPs
  plain: SeededInstance; // one ENI, no public IP
  twinTerminated: SeededInstance; // terminated, had twinIp
  twinRunning: SeededInstance; // running, reuses twinIp
  twinIp: string;
  foreign: SeededInstance; // same shape, other VPC
  filler: SeededInstance[]; // for pagination
  eksCluster: Cluster;
  alerts: AlertSink;
  secretArn: string;
  ssmParameter: string;
}

export async function seedStandardWorld(
  clients: AwsClients,
  options: {
    prefix?: string;
    octet?: number;
    clusterToken?: string;
    fillerCount?: number;
    eksEndpoint?: string;
    eksCaPem?: string;
  } = {},
): Promise<StandardWorld> {
  const p = options.prefix ?? "rig";
  // 10.<octet>.0.0/16 for the cluster VPC, 10.<octet+1> for the other one: give each test
  // file its own octet, so node names (ip-10-<octet>-1-70...) never meet another file's.
  const octet = options.octet ?? 0;
  const net = `10.${octet}`;
  const otherNet = `10.${(octet + 1) % 256}`;
  const clusterVpc = await createVpc(clients, {
    name: `${p}-cluster`,
    cidr: `${net}.0.0/16`,
    subnets: [
      { cidr: `${net}.1.0/24`, az: "us-east-1a" },
      { cidr: `${net}.2.0/24`, az: "us-east-1b" },
    ],
  });
  const otherVpc = await createVpc(clients, {
    name: `${p}-other`,
    cidr: `${otherNet}.0.0/16`,
    subnets: [{ cidr: `${otherNet}.1.0/24`, az: "us-east-1a" }],
  });
  const [subnetA, subnetB] = clusterVpc.subnets;
  if (!subnetA || !subnetB || !otherVpc.subnets[0]) throw new Error("subnets missing");
  const v6a = subnetA.ipv6Cidr?.replace(/::\/64$/, "");
  const v6b = subnetB.ipv6Cidr?.replace(/::\/64$/, "");
  const multiEni = await launchInstance(clients, {
    name: `${p}-multi-eni`,
    subnetId: subnetA.subnetId,
    privateIp: `${net}.1.70`,
    secondaryPrivateIps: [`${net}.1.71`],
    ipv6Addresses: v6a ? [`${v6a}::70`] : undefined,
    elasticIp: true,
    extraEnis: [
      {
        subnetId: subnetB.subnetId,
        privateIp: `${net}.2.70`,
        secondaryPrivateIps: [`${net}.2.71`, `${net}.2.72`],
        ipv6Addresses: v6b ? [`${v6b}::70`] : undefined,
        elasticIpFor: `${net}.2.71`,
      },
    ],
  });
  const plain = await launchInstance(clients, {
    name: `${p}-plain`,
    subnetId: subnetA.subnetId,
    privateIp: `${net}.1.80`,
  });
  const twinIp = `${net}.1.90`;
  const twinTerminated = await launchInstance(clients, {
    name: `${p}-twin-old`,
    subnetId: subnetA.subnetId,
    privateIp: twinIp,
  });
  await terminateInstance(clients, twinTerminated.instanceId);
  const twinRunning = await launchInstance(clients, {
    name: `${p}-twin-new`,
    subnetId: subnetA.subnetId,
    privateIp: twinIp,
  });
  const foreign = await launchInstance(clients, {
    name: `${p}-foreign`,
    subnetId: otherVpc.subnets[0].subnetId,
    privateIp: `${otherNet}.1.70`,
  });
  const filler: SeededInstance[] = [];
  for (let index = 0; index < (options.fillerCount ?? 6); index++) {
    filler.push(
      await launchInstance(clients, {
        name: `${p}-filler-${index}`,
        subnetId: subnetB.subnetId,
        privateIp: `${net}.2.${100 + index}`,
      }),
    );
  }
  const eksCluster = await createEksCluster(clients, {
    name: `${p}-eks`,
    subnetIds: [subnetA.subnetId, subnetB.subnetId],
    endpoint: options.eksEndpoint,
    caPem: options.eksCaPem,
  });
  const alerts = await createAlertSink(clients, `${p}-alerts`);
  const token = options.clusterToken ?? "rig-placeholder-token";
  const secretArn = await putSecret(clients, `${p}/cluster-token`, token);
  const ssmParameter = `/${p}/cluster-token`;
  await putSecureParameter(clients, ssmParameter, token);
  return {
    net,
    clusterVpc,
    otherVpc,
    multiEni,
    plain,
    twinTerminated,
    twinRunning,
    twinIp,
    foreign,
    filler,
    eksCluster,
    alerts,
    secretArn,
    ssmParameter,
  };
}
