// The sandbox scenario: a realistic small AWS account in moto and one real kube-apiserver,
// kubelet-like CSRs from the nodes plus hostile ones, the REAL sweep (runSweep) with alerts
// to SNS, and everything read back (CSR conditions from the apiserver, alerts through SQS).
// It takes an already-running rig, so `npm start` and the integration test share it.
import { TerminateInstancesCommand } from "@aws-sdk/client-ec2";
import { CertificatesV1Api, CoreV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import type { Config } from "../functions/core/config.js";
import type { CsrCondition } from "../functions/core/types.js";
import { createAwsClients } from "../functions/sweep/aws.js";
import { kubeClient, type KubeApi, type KubeEndpoint } from "../functions/sweep/csrs.js";
import { snsAlertPublisher } from "../functions/sweep/publish.js";
import type { CsrOutcome, SweepLogger, SweepReport } from "../functions/sweep/report.js";
import { runSweep } from "../functions/sweep/sweep.js";
import type { AuditLedger } from "../functions/core/audit.js";
import {
  awsClients,
  createAlertSink,
  describeInstance,
  createVpc,
  launchInstance,
  terminateInstance,
  type AlertSink,
  type AwsClients,
  type InstanceSpec,
} from "../test/rig/aws-seed.js";
import type { ClusterHandle, RigIdentity } from "../test/rig/cluster.js";
import {
  awsNodeAddresses,
  createArbitraryCsr,
  forgeNodeCsr,
  startKubelet,
  type KubeletRun,
  type NodeAddress,
} from "../test/rig/kubelet.js";
import type { SqsMessage } from "../test/rig/sqs.js";
import { verifyServing, type ServingCheck } from "./tls.js";
import {
  conditionsOf,
  decisionConditionOf,
  nodeInstance,
  selfManagedConfig,
  storeApproverToken,
  type NodeInstance,
} from "../test/support/sweep-world.js";

/** What the scenario needs from a rig: one cluster and moto (`startRig` or the test rig). */
export interface ScenarioRig {
  cluster: ClusterHandle;
  moto: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
}

export interface ScenarioOptions {
  /** Names of everything seeded (VPCs, secret, topic): unique per moto. Default "sandbox". */
  prefix?: string;
  /** Progress lines for people. */
  progress?: (message: string) => void;
  /** Engine log of the sweep (default: silent). */
  log?: SweepLogger;
  /**
   * Decide only the scenario's own CSRs. For a shared cluster that may hold other CSRs (the
   * integration rig); `npm start` has a fresh cluster and sweeps everything in it.
   */
  onlyOwnCsrs?: boolean;
  /** Seed and create the CSRs but run no sweep: they stay pending for another approver (--no-sweep). */
  noSweep?: boolean;
}

export type CaseKind = "legitimate" | "hostile";

export interface SandboxCase {
  id: string;
  kind: CaseKind;
  /** One line for people: who asks for what. */
  story: string;
  csr: string;
  /** spec.username as the apiserver recorded it. */
  requester: string;
  expected: { decision: "approve" | "deny"; code?: string };
  /** Legitimate cases: the Node addresses the kubelet's manager was given (AWS cloud provider's). */
  addresses?: NodeAddress[];
}

export interface AlertSummary {
  csr: string;
  title: string;
  decision: string;
  reasonCodes: string[];
  cluster: string;
  /** SNS message attributes, for subscription filter policies. */
  attributes: Record<string, string>;
}

export interface CaseVerdict {
  case: SandboxCase;
  outcome: CsrOutcome | undefined;
  /** Approved / Denied / Failed / Pending, as stored by the apiserver. */
  stored: string;
  storedCondition: CsrCondition | undefined;
  alerts: AlertSummary[];
  /** Whether status.certificate is set once the signer had its chance. */
  issued: boolean;
  /** Legitimate cases: the metrics-server-style TLS checks against the issued certificate. */
  tls: ServingCheck[];
  /** Legitimate cases: the kubelet's stored certificate and key (kubelet-server-current.pem). */
  certFile?: string;
  /** Empty when the case went as it must. */
  problems: string[];
}

export interface SandboxInstance extends NodeInstance {
  label: string;
  state: "running" | "terminated";
  /** The node name the kubelet uses (PrivateDnsName, the resource-name hostname, or its Name tag). */
  nodeName: string;
  /**
   * A kubespray-style node: no cloud provider, so its Node has no providerID and its kubelet
   * publishes only its IP and hostname; it is named after the instance's `Name` tag.
   */
  withoutCloudProvider?: boolean;
}

/**
 * The audit, shown once: after the sweep, "another approver" (the cluster admin, as a person
 * running `kubectl certificate approve` or a rubber-stamp controller would) approves a node's
 * request for its neighbour's IP; the next sweep writes nothing to it and raises one
 * `approved-elsewhere` alert; the sweep after that is silent.
 */
export interface ElsewhereDemo {
  csr: string;
  story: string;
  /** The Approved condition the other approver wrote: reason and message. */
  approvedBy: string;
  outcome: CsrOutcome | undefined;
  /** The alerts about it, from the sweep after the approval and the one after that. */
  alerts: AlertSummary[];
  laterAlerts: number;
  /** Condition types on the CSR after both sweeps (only the other approver's Approved). */
  conditions: string[];
  problems: string[];
}

export interface ScenarioResult {
  prefix: string;
  clusterName: string;
  vpcId: string;
  otherVpcId: string;
  topicArn: string;
  /** Secrets Manager secret holding the approver's bearer token (the config points at it). */
  secretArn: string;
  config: Config;
  instances: SandboxInstance[];
  cases: CaseVerdict[];
  report: SweepReport;
  /** Every alert that reached the topic during the sweep (also ones about CSRs not ours). */
  alerts: AlertSummary[];
  problems: string[];
  /** Why the scenario uses pendingGraceSeconds 1, for the printed summary. */
  notes: string[];
  /** The audit of an approval made elsewhere (absent with --no-sweep). */
  elsewhere?: ElsewhereDemo;
}

export const SANDBOX_CLUSTER = "sandbox";
const ACCOUNT = "123456789012";
const METADATA_IP = "169.254.169.254";
const CLUSTER_TAG_KEY = `kubernetes.io/cluster/${SANDBOX_CLUSTER}`;
/** The sandbox cluster's nodeNameTemplates: the kubespray node is named by its instance's Name tag. */
export const SANDBOX_NODE_NAME_TEMPLATES = ["{{tag:Name}}"];

export async function runSandboxScenario(
  rig: ScenarioRig,
  options: ScenarioOptions = {},
): Promise<ScenarioResult> {
  const prefix = options.prefix ?? "sandbox";
  const progress = options.progress ?? (() => undefined);
  const cluster = rig.cluster;
  const clients = awsClients({
    endpoint: rig.moto.endpoint,
    region: rig.moto.region,
    credentials: rig.moto.credentials,
  });

  progress("seeding moto: VPC with IPv6, instances, Elastic IPs, a terminated twin, alert topic + SQS inbox");
  const world = await seedAccount(clients, prefix);
  const alertSink = await createAlertSink(clients, `${prefix}-alerts`);
  const secretArn = await storeApproverToken(clients, cluster, `${prefix}/approver-token`);

  progress(`registering ${world.live.length + 2} Node objects as the kubelets would (system:node:<name>)`);
  for (const instance of [...world.live, world.gone, world.elsewhere]) await registerNode(cluster, instance);
  // Terminated after its kubelet registered: the node's credentials outlive the instance.
  await terminateGone(clients, world.gone);

  progress("creating CSRs: kubelet-serving requests from each node, then the hostile ones");
  const { cases, kubelets } = await createCases(cluster, world, prefix, clients);
  // The terminated instance's CSR is denied once it is older than pendingGraceSeconds.
  await sleep(1500);

  const config = selfManagedConfig([
    {
      cluster,
      name: SANDBOX_CLUSTER,
      vpcIds: [world.vpcId],
      secretArn,
      overrides: {
        pendingGraceSeconds: 1,
        clusterTag: { key: "kubernetes.io/cluster/{{cluster}}", values: ["owned", "shared"] },
        nodeNameTemplates: SANDBOX_NODE_NAME_TEMPLATES,
      },
    },
  ]);
  const aws = createAwsClients({ endpoint: rig.moto.endpoint, credentials: rig.moto.credentials });
  const ownNames = new Set(cases.map((c) => c.csr));
  const kube = options.onlyOwnCsrs
    ? (endpoint: KubeEndpoint) => onlyCsrs(kubeClient(endpoint), ownNames)
    : undefined;

  progress(
    options.noSweep
      ? "no sweep (--no-sweep): every CSR stays pending for another approver"
      : "running the sweep (runSweep, as the Lambda does) with alerts to the SNS topic",
  );
  let report: SweepReport;
  let alerts: AlertSummary[];
  let elsewhere: ElsewhereDemo | undefined;
  // One Lambda container's memory of what the audit already looked at, across the sweeps below.
  const auditLedgers = new Map<string, AuditLedger>();
  const sweepOnce = () =>
    runSweep({
      config,
      aws,
      alerts: snsAlertPublisher({
        topicArn: alertSink.topicArn,
        sns: aws.forRegion(rig.moto.region).sns,
        account: ACCOUNT,
      }),
      log: options.log ?? silentLog,
      auditLedgers,
      ...(kube ? { kube } : {}),
    });
  try {
    report = options.noSweep ? noSweepReport() : await sweepOnce();
    progress(
      "reading back: CSR conditions from the apiserver, alerts from the SQS queue subscribed to the topic",
    );
    alerts = (await drain(alertSink)).map(summarizeAlert);
    if (!options.noSweep) {
      progress("another approver approves a node's request for its neighbour's IP; two more sweeps audit it");
      elsewhere = await approvedElsewhereDemo(cluster, world, ownNames, sweepOnce, () => drain(alertSink));
    }
  } finally {
    aws.destroy();
  }

  const served = new Map<string, { certFile?: string; error?: string }>();
  if (options.noSweep) {
    // Nothing approves them: no certificate can come, so the kubelets' managers stop now
    // rather than wait out their timeout. The CSRs stay pending for another approver.
    progress("not waiting for certificates: nothing approved (--no-sweep); stopping the kubelets' managers");
    for (const run of kubelets.values()) run.stop();
  } else {
    progress(
      "waiting for the signer (kube-controller-manager's kubelet-serving controller) and the kubelets' certificate managers",
    );
    for (const [csr, run] of kubelets) {
      try {
        const outcome = await run.outcome;
        served.set(
          csr,
          outcome.event === "issued" ? { certFile: outcome.certFile } : { error: outcome.event },
        );
      } catch (error) {
        served.set(csr, { error: (error as Error).message.split("\n")[0] ?? "" });
      } finally {
        run.stop();
      }
    }
    progress(
      "checking each approved node's certificate as metrics-server does (trusting only the cluster CA)",
    );
  }
  const certificates = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
  const outcomes = report.clusters.flatMap((c) => c.csrs);
  const verdicts: CaseVerdict[] = [];
  for (const sandboxCase of cases) {
    const conditions = await conditionsOf(cluster, sandboxCase.csr);
    const stored = decisionConditionOf(conditions);
    const outcome = outcomes.find((o) => o.name === sandboxCase.csr);
    const caseAlerts = alerts.filter((a) => a.csr === sandboxCase.csr);
    const read = await certificates.readCertificateSigningRequest({ name: sandboxCase.csr });
    const issued = !!read.status?.certificate;
    const kubelet = served.get(sandboxCase.csr);
    const tls: ServingCheck[] = [];
    if (kubelet?.certFile && sandboxCase.addresses) {
      const pick = (type: string) => sandboxCase.addresses?.find((a) => a.type === type)?.address;
      // Its DNS name: InternalDNS from the AWS cloud provider, the Hostname without one (kubespray).
      const dnsName = pick("InternalDNS") ?? pick("Hostname");
      for (const dialled of [pick("InternalIP"), dnsName].filter((a): a is string => !!a))
        tls.push(await verifyServing({ certFile: kubelet.certFile, caPem: cluster.signingCaPem, dialled }));
    }
    // --no-sweep: the only promise is that every CSR is still pending.
    const problems = options.noSweep
      ? stored === "Pending"
        ? []
        : [`${stored}, not pending`]
      : [
          ...judge(sandboxCase, outcome, stored, caseAlerts),
          ...servingProblems(sandboxCase, issued, kubelet?.error, tls),
        ];
    verdicts.push({
      case: sandboxCase,
      outcome,
      stored,
      storedCondition: conditions.find((c) => c.type === stored),
      alerts: caseAlerts,
      issued,
      tls,
      ...(kubelet?.certFile ? { certFile: kubelet.certFile } : {}),
      problems,
    });
  }

  const problems = report.clusters
    .filter((c) => c.status !== "ok")
    .map((c) => `cluster ${c.cluster}: ${c.status}${c.error ? `: ${c.error}` : ""}`);
  for (const verdict of verdicts)
    problems.push(...verdict.problems.map((p) => `${verdict.case.id} (${verdict.case.csr}): ${p}`));
  if (elsewhere)
    problems.push(...elsewhere.problems.map((p) => `approved-elsewhere (${elsewhere.csr}): ${p}`));

  return {
    prefix,
    clusterName: SANDBOX_CLUSTER,
    vpcId: world.vpcId,
    otherVpcId: world.otherVpcId,
    topicArn: alertSink.topicArn,
    secretArn,
    config,
    instances: [...world.live, world.twinOld, world.gone, world.elsewhere],
    cases: verdicts,
    report,
    alerts,
    problems,
    ...(elsewhere ? { elsewhere } : {}),
    notes: [
      "pendingGraceSeconds is 1 here (default 900) so the terminated instance's CSR is denied now rather than in 15 minutes.",
      "The legitimate CSRs come from the kubelet's own certificate manager, given the addresses the AWS cloud provider publishes; the certificates from kube-controller-manager's kubelet-serving signer.",
      `The kubespray node ${world.kubespray.nodeName} runs without a cloud provider (its IP and hostname only) and is named after its instance's Name tag: the cluster has nodeNameTemplates ["{{tag:Name}}"].`,
    ],
  };
}

/**
 * Removes what the scenario put into a shared rig: its CSRs, Node objects and RBAC, and
 * terminates its instances (the approver ignores terminated ones). `npm start` needs none of
 * this: its rig goes away whole.
 */
export async function removeSandboxScenario(rig: ScenarioRig, result: ScenarioResult): Promise<void> {
  const { cluster } = rig;
  await cluster.deleteCsrs(result.cases.map((v) => v.case.csr));
  await cluster.deleteNodes(result.instances.map((i) => i.nodeName));
  const rbac = cluster.kubeConfig(cluster.admin).makeApiClient(RbacAuthorizationV1Api);
  const name = `${result.prefix}-ci-bot-csr-create`;
  await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
  await rbac.deleteClusterRole({ name }).catch(() => undefined);
  const running = result.instances.filter((i) => i.state === "running").map((i) => i.instanceId);
  const ec2 = awsClients({
    endpoint: rig.moto.endpoint,
    region: rig.moto.region,
    credentials: rig.moto.credentials,
  }).ec2;
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: running }));
}

/** Every reason a case did not go as it must; empty when it did. */
function judge(
  c: SandboxCase,
  outcome: CsrOutcome | undefined,
  stored: string,
  alerts: AlertSummary[],
): string[] {
  const problems: string[] = [];
  if (!outcome) return [`the sweep did not report this CSR (stored: ${stored})`];
  if (outcome.decision !== c.expected.decision) {
    const codes = outcome.reasons.map((r) => r.code).join(",") || "no reasons";
    problems.push(`expected ${c.expected.decision}, the sweep decided ${outcome.decision} (${codes})`);
  } else if (c.expected.code && outcome.reasons[0]?.code !== c.expected.code) {
    problems.push(
      `expected reason ${c.expected.code} first, got ${outcome.reasons.map((r) => r.code).join(",")}`,
    );
  }
  const wantStored = c.expected.decision === "approve" ? "Approved" : "Denied";
  if (stored !== wantStored)
    problems.push(`the apiserver holds ${stored}, expected ${wantStored} (action: ${outcome.action})`);
  if (c.expected.decision === "deny" && !alerts.some((a) => a.decision === "deny"))
    problems.push("denied without an alert reaching the SNS topic");
  if (c.expected.decision === "approve" && alerts.length > 0)
    problems.push(`approved, yet alerted: ${alerts.map((a) => a.title).join("; ")}`);
  return problems;
}

/** After a sweep: legitimate cases issued and verified over TLS, hostile ones without a certificate. */
function servingProblems(
  c: SandboxCase,
  issued: boolean,
  kubeletError: string | undefined,
  tls: ServingCheck[],
): string[] {
  if (c.kind === "hostile") return issued ? ["a certificate was issued for a hostile request"] : [];
  const problems: string[] = [];
  if (!issued) problems.push("approved, but no certificate was issued");
  if (kubeletError) problems.push(`the kubelet's certificate manager: ${kubeletError}`);
  if (tls.length < 2) problems.push(`only ${tls.length} of 2 TLS checks ran (IP, DNS name)`);
  for (const check of tls.filter((t) => !t.ok))
    problems.push(`TLS as ${check.dialled}: ${check.error ?? "not verified"}`);
  return problems;
}

// ---------------------------------------------------------------------------------------
// The account
// ---------------------------------------------------------------------------------------

interface SeededAccount {
  vpcId: string;
  otherVpcId: string;
  multiEni: SandboxInstance;
  publicIp: SandboxInstance;
  dualStack: SandboxInstance;
  resourceName: SandboxInstance;
  twinNew: SandboxInstance;
  twinOld: SandboxInstance;
  kubespray: SandboxInstance;
  gone: SandboxInstance;
  elsewhere: SandboxInstance;
  live: SandboxInstance[];
}

async function seedAccount(clients: AwsClients, prefix: string): Promise<SeededAccount> {
  // 10.42/16 and 10.43/16: apart from what other users of a shared moto seed (10.0, 10.1).
  const vpc = await createVpc(clients, {
    name: `${prefix}-cluster`,
    cidr: "10.42.0.0/16",
    subnets: [
      { cidr: "10.42.1.0/24", az: "us-east-1a" },
      { cidr: "10.42.2.0/24", az: "us-east-1b" },
    ],
  });
  const other = await createVpc(clients, {
    name: `${prefix}-elsewhere`,
    cidr: "10.43.0.0/16",
    subnets: [{ cidr: "10.43.1.0/24", az: "us-east-1a" }],
    ipv6: false,
  });
  const [a, b] = vpc.subnets;
  const [elsewhereSubnet] = other.subnets;
  if (!a || !b || !elsewhereSubnet) throw new Error("moto created fewer subnets than asked");
  const v6a = a.ipv6Cidr?.replace(/::\/64$/, "");
  const v6b = b.ipv6Cidr?.replace(/::\/64$/, "");
  if (!v6a || !v6b) throw new Error("moto gave the subnets no IPv6 block");

  const owned = { [CLUSTER_TAG_KEY]: "owned" };
  const launch = async (
    label: string,
    spec: Omit<InstanceSpec, "name">,
    how: { nodeName?: "resource-name" | "name-tag" } = {},
  ): Promise<SandboxInstance> => {
    const seeded = await launchInstance(clients, { name: `${prefix}-${label}`, ...spec });
    const facts = await nodeInstance(clients, seeded.instanceId);
    if (how.nodeName === "name-tag")
      return { ...facts, label, state: "running", nodeName: seeded.name, withoutCloudProvider: true };
    const nodeName = how.nodeName === "resource-name" ? `${seeded.instanceId}.ec2.internal` : facts.node;
    return { ...facts, label, state: "running", nodeName };
  };

  const multiEni = await launch("multi-eni", {
    subnetId: a.subnetId,
    privateIp: "10.42.1.10",
    secondaryPrivateIps: ["10.42.1.11"],
    ipv6Addresses: [`${v6a}::10`],
    extraEnis: [
      {
        subnetId: b.subnetId,
        privateIp: "10.42.2.10",
        secondaryPrivateIps: ["10.42.2.11"],
        ipv6Addresses: [`${v6b}::10`],
        elasticIpFor: "10.42.2.11",
      },
    ],
    tags: owned,
  });
  const publicIp = await launch("public-eip", {
    subnetId: a.subnetId,
    privateIp: "10.42.1.20",
    elasticIp: true,
    tags: owned,
  });
  const dualStack = await launch("dual-stack", {
    subnetId: b.subnetId,
    privateIp: "10.42.2.30",
    ipv6Addresses: [`${v6b}::30`],
    tags: owned,
  });
  // EC2 can name instances after their ID (PrivateDnsNameOptions.HostnameType resource-name);
  // moto 5.2.5 ignores that option and always reports the IP name, so this kubelet uses the
  // resource-name hostname as its node name, as it would on such an instance.
  const resourceName = await launch(
    "resource-name",
    { subnetId: b.subnetId, privateIp: "10.42.2.40", tags: owned },
    { nodeName: "resource-name" },
  );

  const twinIp = "10.42.1.50";
  const twinOld = await launch("twin-old", { subnetId: a.subnetId, privateIp: twinIp, tags: owned });
  await terminateInstance(clients, twinOld.instanceId);
  twinOld.state = "terminated";
  const twinNew = await launch("twin-new", { subnetId: a.subnetId, privateIp: twinIp, tags: owned });
  // kubespray: the node is named after its inventory hostname, which the provisioner also
  // wrote into the instance's Name tag (`<prefix>-node1`, unique per sandbox).
  const kubespray = await launch(
    "node1",
    { subnetId: a.subnetId, privateIp: "10.42.1.80", tags: owned },
    { nodeName: "name-tag" },
  );

  const gone = await launch("terminated", { subnetId: a.subnetId, privateIp: "10.42.1.60", tags: owned });
  const elsewhere = await launch("other-vpc", {
    subnetId: elsewhereSubnet.subnetId,
    privateIp: "10.43.1.70",
    tags: { "kubernetes.io/cluster/another-cluster": "owned" },
  });

  return {
    vpcId: vpc.vpcId,
    otherVpcId: other.vpcId,
    multiEni,
    publicIp,
    dualStack,
    resourceName,
    twinNew,
    twinOld,
    kubespray,
    gone,
    elsewhere,
    live: [multiEni, publicIp, dualStack, resourceName, twinNew, kubespray],
  };
}

/** Terminates the instance whose node keeps its credentials (seeded running, so its Node exists). */
async function terminateGone(clients: AwsClients, gone: SandboxInstance): Promise<void> {
  await terminateInstance(clients, gone.instanceId);
  gone.state = "terminated";
}

// The kubelet registers its own Node object; providerID is what the cloud provider would set
// (none without one, as on kubespray).
async function registerNode(cluster: ClusterHandle, instance: SandboxInstance): Promise<void> {
  const api = cluster.kubeConfig(cluster.nodeCredentials(instance.nodeName)).makeApiClient(CoreV1Api);
  await api.createNode({
    body: {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: instance.nodeName, labels: { "kubernetes.io/hostname": instance.nodeName } },
      spec: instance.withoutCloudProvider ? {} : { providerID: `aws:///us-east-1a/${instance.instanceId}` },
    },
  });
}

// ---------------------------------------------------------------------------------------
// The requests
// ---------------------------------------------------------------------------------------

async function createCases(
  cluster: ClusterHandle,
  world: SeededAccount,
  prefix: string,
  clients: AwsClients,
): Promise<{ cases: SandboxCase[]; kubelets: Map<string, KubeletRun> }> {
  const cases: SandboxCase[] = [];
  const kubelets = new Map<string, KubeletRun>();
  // Legitimate: the kubelet's own certificate manager (rig kubelet), given the addresses the
  // AWS cloud provider publishes for the instance, as a real node with serverTLSBootstrap.
  const realKubelet = async (
    id: string,
    story: string,
    instance: SandboxInstance,
    options: { ipv6?: boolean } = {},
  ) => {
    const described = await describeInstance(clients, instance.instanceId);
    // Without a cloud provider (kubespray) the kubelet publishes its IP and its hostname only.
    const addresses: NodeAddress[] = instance.withoutCloudProvider
      ? [
          { type: "InternalIP", address: instance.privateIps[0] ?? "" },
          { type: "Hostname", address: instance.nodeName },
        ]
      : awsNodeAddresses(described, {
          ipv6: options.ipv6,
          ...(instance.nodeName !== described.PrivateDnsName ? { hostname: instance.nodeName } : {}),
        });
    const run = await startKubelet(cluster, { node: instance.nodeName, addresses });
    kubelets.set(run.name, run);
    cases.push({
      id,
      kind: "legitimate",
      story,
      csr: run.name,
      requester: `system:node:${instance.nodeName}`,
      expected: { decision: "approve" },
      addresses,
    });
  };
  // Hostile: shapes the kubelet never makes, forged by the TypeScript CSR generator, as the node.
  const kubelet = async (
    id: string,
    kind: CaseKind,
    story: string,
    instance: SandboxInstance,
    sans: { dnsNames?: string[]; ips?: string[] },
    expected: SandboxCase["expected"],
  ) => {
    const created = await forgeNodeCsr(cluster, { node: instance.nodeName, ...sans });
    cases.push({ id, kind, story, csr: created.name, requester: created.csr.spec.username ?? "", expected });
  };
  const { multiEni, publicIp, dualStack, resourceName, twinNew, kubespray, gone, elsewhere } = world;

  await realKubelet(
    "multi-eni",
    "2 ENIs, secondary IPs, IPv6 and an EIP: every address AWS publishes",
    multiEni,
    { ipv6: true },
  );
  await realKubelet("public-eip", "private IP, its Elastic IP and both DNS names", publicIp);
  await realKubelet("dual-stack", "IPv4 and IPv6 addresses", dualStack, { ipv6: true });
  await realKubelet("resource-name", "node named i-….ec2.internal (resource-name hostname)", resourceName);
  await realKubelet("twin-new", "reuses the IP (and IP name) of a terminated instance", twinNew);
  await realKubelet(
    "kubespray",
    "kubespray node, no cloud provider: named after its instance's Name tag",
    kubespray,
  );

  await kubelet(
    "other-ip",
    "hostile",
    `${publicIp.label} asks for ${multiEni.label}'s IP ${multiEni.privateIps[0]}`,
    publicIp,
    { dnsNames: [publicIp.nodeName], ips: [...publicIp.privateIps, multiEni.privateIps[0] ?? ""] },
    { decision: "deny", code: "IP_NOT_OWNED" },
  );
  await kubelet(
    "other-name",
    "hostile",
    `${dualStack.label} asks for ${multiEni.label}'s name`,
    dualStack,
    { dnsNames: [dualStack.nodeName, multiEni.nodeName], ips: dualStack.privateIps },
    { decision: "deny", code: "DNS_NOT_OWNED" },
  );
  await kubelet(
    "metadata-ip",
    "hostile",
    `${twinNew.label} asks for the EC2 metadata IP ${METADATA_IP}`,
    twinNew,
    { dnsNames: [twinNew.nodeName], ips: [...twinNew.privateIps, METADATA_IP] },
    { decision: "deny", code: "IP_NOT_OWNED" },
  );
  await kubelet(
    "kubespray-ip",
    "hostile",
    `${kubespray.label} (named by its Name tag) asks for ${publicIp.label}'s IP ${publicIp.privateIps[0]}`,
    kubespray,
    { dnsNames: [kubespray.nodeName], ips: [...kubespray.privateIps, publicIp.privateIps[0] ?? ""] },
    { decision: "deny", code: "IP_NOT_OWNED" },
  );
  const bot = await csrCreatingUser(cluster, `${prefix}-ci-bot`);
  const notANode = await createArbitraryCsr(cluster, {
    as: bot,
    request: {
      commonName: `system:node:${publicIp.nodeName}`,
      organizations: ["system:nodes"],
      dnsNames: [publicIp.nodeName],
      ips: publicIp.privateIps,
    },
  });
  cases.push({
    id: "not-a-node",
    kind: "hostile",
    story: `user ${bot.user} (may create CSRs) claims to be ${publicIp.label}`,
    csr: notANode.name,
    requester: notANode.csr.spec.username ?? "",
    expected: { decision: "deny", code: "NOT_A_NODE" },
  });
  await kubelet(
    "terminated",
    "hostile",
    "a node whose instance was terminated (its credentials live on)",
    gone,
    { dnsNames: [gone.nodeName], ips: gone.privateIps },
    { decision: "deny", code: "INSTANCE_NOT_FOUND" },
  );
  await kubelet(
    "other-vpc",
    "hostile",
    "an instance of another VPC joins with a node's credentials",
    elsewhere,
    { dnsNames: [elsewhere.nodeName], ips: elsewhere.privateIps },
    { decision: "deny", code: "FOREIGN_INSTANCE" },
  );
  return { cases, kubelets };
}

/** A user outside system:nodes allowed to create CSRs, e.g. a CI job's identity. */
async function csrCreatingUser(cluster: ClusterHandle, user: string): Promise<RigIdentity> {
  const identity = cluster.clientCredentials(user, user, ["ci"]);
  const rbac = cluster.kubeConfig(cluster.admin).makeApiClient(RbacAuthorizationV1Api);
  await rbac.createClusterRole({
    body: {
      metadata: { name: `${user}-csr-create` },
      rules: [
        {
          apiGroups: ["certificates.k8s.io"],
          resources: ["certificatesigningrequests"],
          verbs: ["create", "get"],
        },
      ],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: `${user}-csr-create` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `${user}-csr-create` },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
    },
  });
  return identity;
}

// ---------------------------------------------------------------------------------------
// Reading back
// ---------------------------------------------------------------------------------------

async function drain(sink: AlertSink): Promise<SqsMessage[]> {
  const all: SqsMessage[] = [];
  for (;;) {
    const batch = await sink.receive(1);
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

interface ChatbotBody {
  content?: { title?: string };
  metadata?: { additionalContext?: Record<string, string> };
}

function summarizeAlert(message: SqsMessage): AlertSummary {
  const body = JSON.parse(message.Body) as ChatbotBody;
  const context = body.metadata?.additionalContext ?? {};
  const raw = (message as SqsMessage & { MessageAttributes?: Record<string, { StringValue?: string }> })
    .MessageAttributes;
  const attributes = Object.fromEntries(Object.entries(raw ?? {}).map(([k, v]) => [k, v.StringValue ?? ""]));
  return {
    csr: context.csr ?? "",
    title: body.content?.title ?? "",
    decision: context.decision ?? "",
    reasonCodes: (context.reasonCodes ?? "").split(",").filter(Boolean),
    cluster: context.cluster ?? "",
    attributes,
  };
}

/** The audit demo: the admin approves a hostile CSR; the next sweeps audit it (ElsewhereDemo). */
async function approvedElsewhereDemo(
  cluster: ClusterHandle,
  world: SeededAccount,
  ownNames: Set<string>,
  sweep: () => Promise<SweepReport>,
  drainAlerts: () => Promise<SqsMessage[]>,
): Promise<ElsewhereDemo> {
  const node = world.publicIp;
  const neighbour = world.multiEni;
  const created = await forgeNodeCsr(cluster, {
    node: node.nodeName,
    dnsNames: [node.nodeName],
    ips: [node.privateIps[0] ?? "", neighbour.privateIps[0] ?? ""],
  });
  ownNames.add(created.name);
  const certificates = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
  const read = await certificates.readCertificateSigningRequest({ name: created.name });
  const approvedBy = { reason: "RubberStamp", message: "approved every pending CSR" };
  await certificates.replaceCertificateSigningRequestApproval({
    name: created.name,
    body: {
      ...read,
      status: {
        ...read.status,
        conditions: [
          ...(read.status?.conditions ?? []),
          { type: "Approved", status: "True", ...approvedBy, lastUpdateTime: new Date() },
        ],
      },
    },
  });
  const audited = await sweep();
  const alerts = (await drainAlerts()).map(summarizeAlert).filter((a) => a.csr === created.name);
  await sweep();
  const laterAlerts = (await drainAlerts()).map(summarizeAlert).filter((a) => a.csr === created.name).length;
  const conditions = (await conditionsOf(cluster, created.name)).map((c) => c.type);
  const outcome = audited.clusters.flatMap((c) => c.csrs).find((o) => o.name === created.name);
  const problems: string[] = [];
  if (outcome?.action !== "approved-elsewhere")
    problems.push(`the audit reported ${outcome?.action ?? "nothing"}, not approved-elsewhere`);
  if (alerts.length !== 1 || !alerts[0]?.reasonCodes.includes("IP_NOT_OWNED"))
    problems.push(`${alerts.length} alerts (expected one approved-elsewhere alert with IP_NOT_OWNED)`);
  if (laterAlerts > 0) problems.push(`${laterAlerts} more alert(s) from the next sweep`);
  if (conditions.join() !== "Approved") problems.push(`conditions now ${conditions.join(", ")}`);
  return {
    csr: created.name,
    story: `${node.label} asks for its own IP and ${neighbour.label}'s; someone else approves it`,
    approvedBy: `${approvedBy.reason}: ${approvedBy.message}`,
    outcome,
    alerts,
    laterAlerts,
    conditions,
    problems,
  };
}

function onlyCsrs(api: KubeApi, names: Set<string>): KubeApi {
  return {
    listKubeletServingCsrs: (visit, pageSize) =>
      api.listKubeletServingCsrs((read) => {
        if (names.has(read.csr.metadata?.name ?? "")) visit(read);
      }, pageSize),
    listNodes: () => api.listNodes(),
    readCsr: (name) => api.readCsr(name),
    replaceConditions: (read, conditions) => api.replaceConditions(read, conditions),
    watchKubeletServingCsrs: (onEvent, signal, resourceVersion) =>
      api.watchKubeletServingCsrs(onEvent, signal, resourceVersion),
    readNode: (name) => api.readNode(name),
  };
}

const silentLog: SweepLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The report of a sweep that did not run (--no-sweep): no cluster, nothing counted. */
function noSweepReport(): SweepReport {
  const actions = ["approved", "denied", "would-approve", "would-deny", "left-pending", "flood-guarded"];
  const totals = Object.fromEntries(
    [...actions, "waiting", "skipped", "alerted", "approved-elsewhere", "audited", "error"].map((a) => [
      a,
      0,
    ]),
  );
  return {
    startedAt: new Date().toISOString(),
    durationMs: 0,
    clusters: [],
    totals: totals as SweepReport["totals"],
  };
}
