// Nodes outside EC2 through the whole sweep, on the rig: real CSRs from node identities that no
// EC2 instance has, the real EC2 lookup in moto (by name AND by every requested address, on
// every interface: a secondary private IP, an Elastic IP, an IPv6 address), the static
// nonEc2Nodes rules from the configuration, and on EKS the cluster's remote node networks from
// moto's DescribeCluster (remoteNetworkConfig). An address EC2 holds is never approved by a
// static rule, even when the configured ranges contain it.
import { randomBytes } from "node:crypto";
import { CreateClusterCommand } from "@aws-sdk/client-eks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { resolveClusters } from "../../functions/sweep/clusters.js";
import { snsAlertPublisher, type AlertPublisher } from "../../functions/sweep/publish.js";
import type { SweepReport } from "../../functions/sweep/report.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import {
  EKS_CA_TAG,
  EKS_ENDPOINT_TAG,
  awsClients,
  seedStandardWorld,
  type StandardWorld,
} from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { createArbitraryCsr, forgeNodeCsr, kubeletCsr, type NodeAddress } from "../rig/kubelet.js";
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

const suffix = randomBytes(3).toString("hex");
const node = (name: string) => `dc1-node-${suffix}-${name}`;
const RULE_RANGE = "192.168.77.0/24";

describe("nodes outside EC2 in the sweep (nonEc2Nodes)", () => {
  let world: StandardWorld;
  let cluster: ClusterHandle;
  let aws: AwsClientCache;
  let alerts: AlertPublisher;
  let multi: NodeInstance;
  let secret: string;
  const mine: string[] = [];

  afterAll(async () => {
    await cluster.deleteCsrs(mine);
    aws?.destroy();
  });

  // What the rules must refuse (or EC2 must win over), forged in TypeScript.
  const csr = async (name: string, ips: string[], dnsNames: string[] = [name]) => {
    const created = await forgeNodeCsr(cluster, { node: name, ips, dnsNames });
    mine.push(created.name);
    return created.name;
  };
  // Legitimate nodes: the kubelet's own CSR from its Node addresses. Outside EC2 a kubelet
  // publishes its hostname and --node-ip; some on-prem cloud providers add InternalDNS.
  const kubelet = async (name: string, addresses: NodeAddress[]) => {
    const created = await kubeletCsr(cluster, { node: name, addresses });
    mine.push(created.name);
    return created.name;
  };
  const onPrem = (name: string, ip: string, ...dns: string[]): NodeAddress[] => [
    { type: "InternalIP", address: ip },
    { type: "Hostname", address: name },
    ...dns.map((address): NodeAddress => ({ type: "InternalDNS", address })),
  ];
  const outcome = (report: SweepReport, name: string) =>
    report.clusters.flatMap((c) => c.csrs).find((o) => o.name === name);

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[0]!;
    const clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: `nonec2-${suffix}`, fillerCount: 0 });
    multi = await nodeInstance(clients, world.multiEni.instanceId);
    secret = await storeApproverToken(clients, cluster, `nonec2-${suffix}/token`);
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
    alerts = snsAlertPublisher({ topicArn: world.alerts.topicArn, sns: aws.forRegion("us-east-1").sns });
    await drainAlerts(world.alerts);
  });

  it("approves an on-prem node by the rules, denies what they do not allow and every EC2 address", async () => {
    expect(multi.privateIps.length).toBeGreaterThan(1);
    expect(multi.publicIps.length).toBeGreaterThan(0);
    expect(multi.ipv6.length).toBeGreaterThan(0);
    const secondaryIp = multi.privateIps.at(-1)!; // not the instance's primary address
    const publicIp = multi.publicIps.at(-1)!;
    const ipv6 = multi.ipv6[0]!;
    const legit = await kubelet(
      node("a"),
      onPrem(node("a"), "192.168.77.10", `${node("a")}.dc1.example.com`),
    );
    const outOfRange = await csr(node("b"), ["192.168.78.10"]);
    const badName = await csr(node("c"), ["192.168.77.12"], ["api.dc1.example.com"]);
    const ec2Private = await csr(node("d"), [secondaryIp]);
    const ec2Public = await csr(node("e"), [publicIp]);
    const ec2Ipv6 = await csr(node("f"), [ipv6]);
    const ec2Node = await kubelet(multi.node, multi.addresses);

    const report = await runSweep({
      config: selfManagedConfig([
        {
          cluster,
          name: `dc1-${suffix}`,
          vpcIds: [world.clusterVpc.vpcId],
          secretArn: secret,
          overrides: {
            nonEc2Nodes: {
              nodeNames: ["dc1-node-*"],
              // Deliberately containing EC2 addresses: the EC2 lookup must still win.
              ipRanges: [RULE_RANGE, `${secondaryIp}/32`, `${publicIp}/32`, `${ipv6}/128`],
              dnsNames: ["{{nodeName}}", "{{shortName}}.dc1.example.com"],
            },
          },
        },
      ]),
      aws,
      alerts,
      log: memoryLog(),
    });

    const codes = (name: string) => [
      outcome(report, name)?.action,
      outcome(report, name)?.reasons.map((r) => r.code),
    ];
    expect(codes(legit)).toEqual(["approved", ["NON_EC2_RULES_PASSED"]]);
    expect(outcome(report, legit)?.instanceId).toBeUndefined();
    expect(codes(outOfRange)).toEqual(["denied", ["NON_EC2_IP_NOT_ALLOWED"]]);
    expect(codes(badName)).toEqual(["denied", ["NON_EC2_DNS_NOT_ALLOWED"]]);
    for (const name of [ec2Private, ec2Public, ec2Ipv6]) {
      expect(codes(name)).toEqual(["denied", ["NON_EC2_ADDRESS_IN_EC2"]]);
      expect(outcome(report, name)?.reasons[0]?.message).toContain(world.multiEni.instanceId);
    }
    expect(codes(ec2Node)).toEqual(["approved", ["ALL_CHECKS_PASSED"]]);

    // Read back from the apiserver and the topic.
    const legitConditions = await conditionsOf(cluster, legit);
    expect(decisionConditionOf(legitConditions)).toBe("Approved");
    expect(legitConditions.find((c) => c.type === "Approved")?.message).toContain("nonEc2Nodes rules");
    expect(decisionConditionOf(await conditionsOf(cluster, ec2Private))).toBe("Denied");
    const sent = (await drainAlerts(world.alerts))
      .map(alertContext)
      .filter((a) => mine.includes(a.csr ?? ""));
    expect(sent.map((a) => a.csr).sort()).toEqual(
      [outOfRange, badName, ec2Private, ec2Public, ec2Ipv6].sort(),
    );
  });

  it("on EKS, the cluster's remote node networks (DescribeCluster) bound the addresses", async () => {
    const clients = awsClients(awsClientConfig());
    const eksName = `hybrid-${suffix}`;
    await clients.eks.send(
      new CreateClusterCommand({
        name: eksName,
        roleArn: "arn:aws:iam::123456789012:role/eks-cluster",
        resourcesVpcConfig: { subnetIds: [world.clusterVpc.subnets[0]!.subnetId] },
        remoteNetworkConfig: { remoteNodeNetworks: [{ cidrs: ["192.168.77.0/25"] }] },
        tags: {
          [EKS_ENDPOINT_TAG]: cluster.server,
          [EKS_CA_TAG]: Buffer.from(cluster.caPem, "utf8").toString("base64"),
        },
      }),
    );
    const config = parseConfig({
      regions: ["us-east-1"],
      eks: {
        discovery: false,
        clusters: {
          // The kubelet requests its hostname too: hybrid nodes need the {{nodeName}} template.
          [eksName]: {
            nonEc2Nodes: { nodeNames: ["dc1-node-*"], ipRanges: [RULE_RANGE], dnsNames: ["{{nodeName}}"] },
          },
        },
      },
    });
    const resolved = await resolveClusters(config, aws, memoryLog());
    const target = resolved.targets.find((t) => t.facts.name === eksName);
    expect(target?.facts).toMatchObject({ kind: "eks", remoteNodeNetworks: ["192.168.77.0/25"] });

    const inside = await kubelet(node("g"), onPrem(node("g"), "192.168.77.20"));
    const outside = await csr(node("h"), ["192.168.77.200"]); // in the rules, not in the remote networks
    // The rig apiserver does not know EKS tokens: the approver's own token stands in for one.
    const token = cluster.approver.token!;
    const report = await runSweep({
      config,
      aws,
      log: memoryLog(),
      readOnly: true,
      targets: {
        targets: [{ ...target!, token: async () => token, forgetToken: () => undefined }],
        failures: [],
      },
    });
    expect(outcome(report, inside)).toMatchObject({
      action: "would-approve",
      reasons: [{ code: "NON_EC2_RULES_PASSED" }],
    });
    expect(outcome(report, outside)).toMatchObject({
      action: "would-deny",
      reasons: [{ code: "NON_EC2_IP_NOT_ALLOWED" }],
    });
    expect(outcome(report, outside)?.reasons[0]?.message).toContain("remote node networks (192.168.77.0/25)");
  });

  it("nonNodeRequests: ignore leaves a CSR from a requester that is not a node untouched; deny denies it", async () => {
    // Another tool's kubelet-serving CSR, sent by the cluster admin for a node's name.
    const other = await createArbitraryCsr(cluster, {
      as: cluster.admin,
      request: {
        commonName: `system:node:${multi.node}`,
        organizations: ["system:nodes"],
        ips: multi.privateIps,
      },
    });
    mine.push(other.name);
    const sweep = (name: string, nonNodeRequests: string) =>
      runSweep({
        config: selfManagedConfig([
          {
            cluster,
            name,
            vpcIds: [world.clusterVpc.vpcId],
            secretArn: secret,
            overrides: { nonNodeRequests },
          },
        ]),
        aws,
        alerts,
        log: memoryLog(),
      });

    const ignored = await sweep(`ignore-${suffix}`, "ignore");
    expect(outcome(ignored, other.name)).toMatchObject({
      decision: "skip",
      action: "skipped",
      reasons: [{ code: "NON_NODE_IGNORED" }],
    });
    expect(await conditionsOf(cluster, other.name)).toEqual([]);
    const noAlerts = (await drainAlerts(world.alerts)).map(alertContext).filter((a) => a.csr === other.name);
    expect(noAlerts).toEqual([]);

    const denied = await sweep(`deny-${suffix}`, "deny");
    expect(outcome(denied, other.name)?.action).toBe("denied");
    expect(outcome(denied, other.name)?.reasons[0]?.code).toBe("NOT_A_NODE");
    expect(decisionConditionOf(await conditionsOf(cluster, other.name))).toBe("Denied");
  });
});
