// Shared set-up for tests that run the real sweep against the rig: what an instance looks
// like to a kubelet (its node name and addresses), a self-managed config entry pointing at a
// rig apiserver, and reading CSR state back as the cluster admin.
import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { CertificatesV1Api } from "@kubernetes/client-node";
import { parseConfig, type Config } from "../../functions/core/config.js";
import type { CsrCondition } from "../../functions/core/types.js";
import { describeInstance, MOTO_AMI, putSecret, type AlertSink, type AwsClients } from "../rig/aws-seed.js";
import type { SqsMessage } from "../rig/sqs.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsNodeAddresses, type NodeAddress } from "../rig/kubelet.js";

export interface NodeInstance {
  instanceId: string;
  node: string; // PrivateDnsName: the kubelet's default node name on EC2
  privateIps: string[];
  publicIps: string[];
  ipv6: string[];
  /** The Node addresses the AWS cloud provider publishes for it: what its kubelet requests. */
  addresses: NodeAddress[];
}

/** The names and addresses an instance really has, as EC2 reports them. */
export async function nodeInstance(clients: AwsClients, instanceId: string): Promise<NodeInstance> {
  const instance = await describeInstance(clients, instanceId);
  const enis = instance.NetworkInterfaces ?? [];
  const privateIps = enis.flatMap((e) => (e.PrivateIpAddresses ?? []).map((a) => a.PrivateIpAddress ?? ""));
  const publicIps = [
    instance.PublicIpAddress,
    ...enis.flatMap((e) => (e.PrivateIpAddresses ?? []).map((a) => a.Association?.PublicIp)),
  ].filter((ip): ip is string => !!ip);
  const ipv6 = enis.flatMap((e) => (e.Ipv6Addresses ?? []).map((a) => a.Ipv6Address ?? ""));
  const node = instance.PrivateDnsName;
  if (!node) throw new Error(`moto gave ${instanceId} no PrivateDnsName`);
  return {
    instanceId,
    node,
    privateIps: privateIps.filter(Boolean),
    publicIps: [...new Set(publicIps)],
    ipv6: ipv6.filter(Boolean),
    addresses: awsNodeAddresses(instance),
  };
}

export interface SelfManagedEntry {
  cluster: ClusterHandle;
  name?: string;
  vpcIds: string[];
  secretArn: string;
  endpoint?: string; // default: the rig cluster's own
  overrides?: Record<string, unknown>;
}

/** Stores the rig approver's bearer token in Secrets Manager, as an operator would. */
export async function storeApproverToken(clients: AwsClients, cluster: ClusterHandle, name: string) {
  const token = cluster.approver.token;
  if (!token) throw new Error(`rig cluster ${cluster.name} has no approver token`);
  return putSecret(clients, name, token);
}

export function selfManagedConfig(entries: SelfManagedEntry[], extra: Record<string, unknown> = {}): Config {
  return parseConfig({
    regions: ["us-east-1"],
    eks: { discovery: false },
    selfManaged: entries.map((e) => ({
      name: e.name ?? e.cluster.name,
      region: "us-east-1",
      endpoint: e.endpoint ?? e.cluster.server,
      caData: Buffer.from(e.cluster.caPem).toString("base64"),
      credential: { secretsManager: e.secretArn },
      vpcIds: e.vpcIds,
      ...e.overrides,
    })),
    ...extra,
  });
}

/** The CSR's conditions as the apiserver stores them, read as the cluster admin. */
export async function conditionsOf(cluster: ClusterHandle, name: string): Promise<CsrCondition[]> {
  const api = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
  const csr = await api.readCertificateSigningRequest({ name });
  return (csr.status?.conditions ?? []).map((c) => ({
    type: c.type,
    status: c.status,
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.message ? { message: c.message } : {}),
  }));
}

export function decisionConditionOf(conditions: CsrCondition[]): string {
  const decided = conditions.find((c) => ["Approved", "Denied", "Failed"].includes(c.type));
  return decided?.type ?? "Pending";
}

/** A logger that keeps lines for assertions and prints nothing. */
export function memoryLog() {
  const lines: { level: string; message: string; extra?: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (message: string, extra?: Record<string, unknown>): void => {
      lines.push({ level, message, ...(extra ? { extra } : {}) });
    };
  return { lines, info: at("info"), warn: at("warn"), error: at("error") };
}

/** Every alert waiting in the SQS queue subscribed to the topic (read and deleted). */
export async function drainAlerts(sink: AlertSink): Promise<SqsMessage[]> {
  const all: SqsMessage[] = [];
  for (let batch = await sink.receive(1); batch.length > 0; batch = await sink.receive(1)) all.push(...batch);
  return all;
}

/** The machine-readable part of an alert (Chatbot custom notification metadata). */
export function alertContext(message: SqsMessage): Record<string, string> {
  const body = JSON.parse(message.Body) as { metadata: { additionalContext: Record<string, string> } };
  return body.metadata.additionalContext;
}

/** `count` instances in one RunInstances call, with the Node addresses AWS publishes for each. */
export async function launchMany(clients: AwsClients, subnetId: string, count: number) {
  const { Instances } = await clients.ec2.send(
    new RunInstancesCommand({
      ImageId: MOTO_AMI,
      InstanceType: "t3.micro",
      MinCount: count,
      MaxCount: count,
      SubnetId: subnetId,
    }),
  );
  // RunInstances answers with the instance as DescribeInstances would: its Node addresses.
  return (Instances ?? []).map((i) => ({
    node: i.PrivateDnsName!,
    ip: i.PrivateIpAddress!,
    id: i.InstanceId!,
    addresses: awsNodeAddresses(i),
  }));
}
