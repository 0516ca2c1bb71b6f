// nodeNameTemplates against the real servers (SPEC §3): a kubespray-style cluster whose nodes
// are named after the instances' Name tags, and a custom DHCP domain, through the scheduled
// sweep and the event-mode watch. Every CSR comes from the kubelet's own certificate manager
// with the addresses such a kubelet publishes (its IP, its hostname); the tag lookups go to
// moto's real `tag:Name` filter.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { resolveClusters } from "../../functions/sweep/clusters.js";
import { snsAlertPublisher } from "../../functions/sweep/publish.js";
import type { SweepReport } from "../../functions/sweep/report.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { watchClusters } from "../../functions/sweep/watch.js";
import {
  awsClients,
  createAlertSink,
  createVpc,
  launchInstance,
  terminateInstance,
  type AlertSink,
  type AwsClients,
} from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { kubeletCsr, type NodeAddress } from "../rig/kubelet.js";
import {
  alertContext,
  conditionsOf,
  decisionConditionOf,
  drainAlerts,
  memoryLog,
  nodeInstance,
  selfManagedConfig,
  storeApproverToken,
  type NodeInstance,
} from "../support/sweep-world.js";

const TEMPLATES = ["{{tag:Name}}", "{{shortName}}.corp.example.com"];

describe("nodeNameTemplates: kubespray inventory names and a custom DHCP domain", () => {
  let clients: AwsClients;
  let aws: AwsClientCache;
  let cluster: ClusterHandle;
  let secret: string;
  let sink: AlertSink;
  let vpcId: string;
  let subnetId: string;
  let otherSubnetId: string;
  // Inventory names unique to this run (the rig's moto is shared by every test file).
  const run = Date.now().toString(36);
  const inventory = (name: string) => `${name}-${run}`;
  const csrs: string[] = [];

  // A kubespray kubelet without a cloud provider publishes its IP and its hostname.
  const kubesprayAddresses = (node: string, ip: string): NodeAddress[] => [
    { type: "InternalIP", address: ip },
    { type: "Hostname", address: node },
  ];
  const launch = async (name: string, subnet = subnetId): Promise<NodeInstance> =>
    nodeInstance(clients, (await launchInstance(clients, { name, subnetId: subnet })).instanceId);
  const request = async (node: string, ip: string) => {
    const { name } = await kubeletCsr(cluster, { node, addresses: kubesprayAddresses(node, ip) });
    csrs.push(name);
    return name;
  };
  const config = (name: string, templates = TEMPLATES) =>
    selfManagedConfig([
      { cluster, name, vpcIds: [vpcId], secretArn: secret, overrides: { nodeNameTemplates: templates } },
    ]);
  const sweep = (name: string, templates = TEMPLATES) =>
    runSweep({
      config: config(name, templates),
      aws,
      alerts: snsAlertPublisher({
        topicArn: sink.topicArn,
        sns: aws.forRegion("us-east-1").sns,
        account: "123456789012",
      }),
      log: memoryLog(),
    });
  const outcome = (report: SweepReport, csr: string) => report.clusters[0]?.csrs.find((o) => o.name === csr);
  const codes = (report: SweepReport, csr: string) => outcome(report, csr)?.reasons.map((r) => r.code);

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[0]!;
    clients = awsClients(awsClientConfig());
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
    const vpc = await createVpc(clients, {
      name: "templates-vpc",
      cidr: "10.71.0.0/16",
      subnets: [{ cidr: "10.71.0.0/20", az: "us-east-1a" }],
      ipv6: false,
    });
    const other = await createVpc(clients, {
      name: "templates-other-vpc",
      cidr: "10.72.0.0/16",
      subnets: [{ cidr: "10.72.0.0/20", az: "us-east-1a" }],
      ipv6: false,
    });
    vpcId = vpc.vpcId;
    subnetId = vpc.subnets[0]!.subnetId;
    otherSubnetId = other.subnets[0]!.subnetId;
    secret = await storeApproverToken(clients, cluster, "templates/token");
    sink = await createAlertSink(clients, "templates-alerts");
  });

  afterAll(async () => {
    await cluster.deleteCsrs(csrs);
  });

  it("approves each node by its Name tag or its custom-domain name, denies neighbours, conflicts and strangers", async () => {
    const node1 = await launch(inventory("node1"));
    const node2 = await launch(inventory("node2"));
    // An Auto Scaling group copies one Name onto every instance: it identifies nobody.
    const twinA = await launch(inventory("twin"));
    const twinB = await launch(inventory("twin"));
    // Another kubespray cluster in another VPC with the same inventory name.
    const stranger = await launch(inventory("stranger"), otherSubnetId);
    // A terminated instance whose Name a new instance reuses.
    const dead = await launch(inventory("reborn"));
    await terminateInstance(clients, dead.instanceId);
    const reborn = await launch(inventory("reborn"));
    // A custom DHCP domain: the node's name is its EC2 short name in corp.example.com.
    const corp = await launch("corp-host");
    const corpNode = `${corp.node.split(".")[0]}.corp.example.com`;

    const csr = {
      node1: await request(inventory("node1"), node1.privateIps[0]!),
      node2: await request(inventory("node2"), node2.privateIps[0]!),
      neighbourIp: await request(inventory("node1"), node2.privateIps[0]!),
      twin: await request(inventory("twin"), twinA.privateIps[0]!),
      stranger: await request(inventory("stranger"), stranger.privateIps[0]!),
      reborn: await request(inventory("reborn"), reborn.privateIps[0]!),
      corp: await request(corpNode, corp.privateIps[0]!),
    };
    expect(twinB.instanceId).not.toBe(twinA.instanceId);

    // Without templates (today's behaviour): none of these names is an EC2 name.
    const plain = await sweep("templates-off", []);
    for (const name of [csr.node1, csr.node2, csr.corp]) {
      expect(outcome(plain, name)).toMatchObject({ decision: "wait" });
      expect(codes(plain, name)).toEqual(["INSTANCE_NOT_VISIBLE"]);
    }

    const report = await sweep("templates-on");
    expect(report.clusters[0]?.status).toBe("ok");
    expect(outcome(report, csr.node1)).toMatchObject({ action: "approved", instanceId: node1.instanceId });
    expect(outcome(report, csr.node2)).toMatchObject({ action: "approved", instanceId: node2.instanceId });
    expect(outcome(report, csr.reborn)).toMatchObject({ action: "approved", instanceId: reborn.instanceId });
    expect(outcome(report, csr.corp)).toMatchObject({ action: "approved", instanceId: corp.instanceId });
    expect(outcome(report, csr.neighbourIp)).toMatchObject({ action: "denied" });
    expect(codes(report, csr.neighbourIp)).toEqual(["IP_NOT_OWNED"]);
    expect(outcome(report, csr.twin)).toMatchObject({ action: "denied" });
    expect(codes(report, csr.twin)).toEqual(["IDENTITY_CONFLICT"]);
    expect(outcome(report, csr.stranger)).toMatchObject({ decision: "wait" });
    expect(codes(report, csr.stranger)).toEqual(["INSTANCE_NOT_VISIBLE"]);

    for (const name of [csr.node1, csr.node2, csr.reborn, csr.corp]) {
      expect(decisionConditionOf(await conditionsOf(cluster, name)), name).toBe("Approved");
    }
    for (const name of [csr.neighbourIp, csr.twin]) {
      expect(decisionConditionOf(await conditionsOf(cluster, name)), name).toBe("Denied");
    }
    expect(decisionConditionOf(await conditionsOf(cluster, csr.stranger))).toBe("Pending");
    // Each denial reached the topic first, naming the node and its reasons.
    const alerts = (await drainAlerts(sink)).map(alertContext);
    expect(alerts.find((a) => a.csr === csr.twin)?.reasons).toContain("IDENTITY_CONFLICT");
    expect(alerts.find((a) => a.csr === csr.neighbourIp)?.reasons).toContain("IP_NOT_OWNED");
  });

  it("event mode: a template-named node's CSR created during the window is approved by the watch", async () => {
    const node = inventory("node9");
    const instance = await launch(node);
    const cfg = config("templates-event");
    const log = memoryLog();
    const targets = await resolveClusters(cfg, aws, log);
    const watching = watchClusters(
      targets.targets,
      { config: cfg, aws, log },
      { windowMs: 6000, reconnectDelayMs: 200 },
    );
    await new Promise((r) => setTimeout(r, 1000)); // swept once, watching
    const name = await request(node, instance.privateIps[0]!);
    const hostile = await request(node, "10.71.15.250");
    const outcomes = await watching;
    const mine = outcomes.flatMap((c) => c.csrs).filter((o) => o.name === name);
    expect(mine.some((o) => o.action === "approved" && o.instanceId === instance.instanceId)).toBe(true);
    expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Approved");
    // No alert publisher in this window: the neighbour-IP request is found IP_NOT_OWNED and, its
    // alert unpublished, left pending (no denial without its alert); never approved.
    const theirs = outcomes.flatMap((c) => c.csrs).filter((o) => o.name === hostile);
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.some((o) => o.reasons.some((r) => r.code === "IP_NOT_OWNED"))).toBe(true);
    expect(theirs.every((o) => o.action !== "approved")).toBe(true);
    expect(decisionConditionOf(await conditionsOf(cluster, hostile))).not.toBe("Approved");
  });
});
