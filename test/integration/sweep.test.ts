// The product's main job against real servers: two rig kube-apiservers (RBAC + Node
// authorizer + NodeRestriction), moto for EC2/SNS/SQS/Secrets Manager, and one endpoint
// nobody answers. CSRs are created by real node identities, as the kubelet does.
import { beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../functions/core/config.js";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { snsAlertPublisher } from "../../functions/sweep/publish.js";
import type { SweepReport } from "../../functions/sweep/report.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import {
  awsClients,
  describeInstance,
  launchInstance,
  seedStandardWorld,
  terminateInstance,
  type AwsClients,
  type StandardWorld,
} from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { awsNodeAddresses, createArbitraryCsr, forgeNodeCsr, kubeletCsr } from "../rig/kubelet.js";
import {
  conditionsOf,
  decisionConditionOf,
  memoryLog,
  nodeInstance,
  selfManagedConfig,
  storeApproverToken,
  type NodeInstance,
  alertContext,
  drainAlerts,
} from "../support/sweep-world.js";

const ACCOUNT = "123456789012";

describe("sweep over two rig clusters and an unreachable one", () => {
  let clients: AwsClients;
  let world: StandardWorld;
  let a: ClusterHandle;
  let b: ClusterHandle;
  let config: Config;
  let aws: AwsClientCache;
  let multi: NodeInstance;
  let plain: NodeInstance;
  let foreign: NodeInstance;
  let dead: NodeInstance;
  const csr: Record<string, string> = {};

  beforeAll(async () => {
    const handles = rig();
    [a, b] = handles.clusters as [ClusterHandle, ClusterHandle];
    expect(a, "the rig must provide two clusters").toBeDefined();
    expect(b, "the rig must provide two clusters").toBeDefined();
    clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "sweep", fillerCount: 2 });

    multi = await nodeInstance(clients, world.multiEni.instanceId);
    plain = await nodeInstance(clients, world.plain.instanceId);
    foreign = await nodeInstance(clients, world.foreign.instanceId);
    const deadSeed = await launchInstance(clients, {
      name: "sweep-dead",
      subnetId: world.clusterVpc.subnets[0]!.subnetId,
      privateIp: "10.0.1.99",
    });
    dead = await nodeInstance(clients, deadSeed.instanceId);
    await terminateInstance(clients, deadSeed.instanceId);

    const secretA = await storeApproverToken(clients, a, "sweep/cluster-a-token");
    const secretB = await storeApproverToken(clients, b, "sweep/cluster-b-token");
    config = selfManagedConfig([
      // Grace of 1 s so the terminated instance's CSR is denied in this test, not in 15 min.
      {
        cluster: a,
        name: "cluster-a",
        vpcIds: [world.clusterVpc.vpcId],
        secretArn: secretA,
        overrides: { pendingGraceSeconds: 1 },
      },
      // Cluster B lives in the other VPC: the "foreign" instance is its own node.
      { cluster: b, name: "cluster-b", vpcIds: [world.otherVpc.vpcId], secretArn: secretB },
      {
        cluster: a,
        name: "unreachable",
        endpoint: "https://127.0.0.1:9",
        vpcIds: [world.clusterVpc.vpcId],
        secretArn: secretA,
      },
    ]);
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
    await drainAlerts(world.alerts);
    // Alerts are de-duplicated per requester and reasons over the CSRs a cluster holds:
    // start without other files' CSRs (files run one at a time).
    await Promise.all([a.deleteCsrs(), b.deleteCsrs()]);

    // Legitimate kubelets: their own code, with the Node addresses AWS publishes (multi is
    // dual-stack: its IPv6 addresses too). The cloud provider publishes the instance's public
    // IP only, not the Elastic IP on a secondary address, so no kubelet asks for that one.
    const described = await describeInstance(clients, multi.instanceId);
    const multiAddresses = awsNodeAddresses(described, { ipv6: true });
    expect(multiAddresses.map((address) => address.address)).toEqual(
      expect.arrayContaining([...multi.privateIps, described.PublicIpAddress!, ...multi.ipv6]),
    );
    csr.multi = (await kubeletCsr(a, { node: multi.node, addresses: multiAddresses })).name;
    csr.plain = (await kubeletCsr(a, { node: plain.node, addresses: plain.addresses })).name;
    csr.foreignInB = (await kubeletCsr(b, { node: foreign.node, addresses: foreign.addresses })).name;
    // Hostile: another node's IP, another node's name (forged: no kubelet asks for them), a
    // non-node requester, a dead instance.
    csr.otherIp = (await forgeNodeCsr(a, { node: plain.node, ips: [multi.privateIps[0]!] })).name;
    csr.otherName = (await forgeNodeCsr(a, { node: plain.node, dnsNames: [multi.node] })).name;
    csr.notANode = (
      await createArbitraryCsr(a, {
        as: a.admin,
        request: {
          commonName: `system:node:${plain.node}`,
          organizations: ["system:nodes"],
          ips: plain.privateIps,
        },
      })
    ).name;
    // The kubelet's own request, sent with the credentials of an instance that is gone.
    csr.dead = (await kubeletCsr(a, { node: dead.node, addresses: dead.addresses })).name;
    // Past cluster A's 1 s grace period for the dead instance.
    await new Promise((r) => setTimeout(r, 1500));
  });

  it("approves the legitimate, denies each hostile CSR with its code and one alert, and isolates the unreachable cluster", async () => {
    const log = memoryLog();
    const alerts = snsAlertPublisher({
      topicArn: world.alerts.topicArn,
      sns: aws.forRegion("us-east-1").sns,
      account: ACCOUNT,
    });
    const report = await runSweep({ config, aws, alerts, log });

    const byCluster = Object.fromEntries(report.clusters.map((c) => [c.cluster, c]));
    expect(byCluster["unreachable"]?.status).toBe("failed");
    expect(byCluster["unreachable"]?.error).toMatch(/unreachable|ECONNREFUSED|timed out|fetch failed/);
    expect(byCluster["cluster-a"]?.status).toBe("ok");
    expect(byCluster["cluster-b"]?.status).toBe("ok");

    const outcome = (name: string) => report.clusters.flatMap((c) => c.csrs).find((o) => o.name === name);
    expect(outcome(csr.multi!)).toMatchObject({
      decision: "approve",
      action: "approved",
      instanceId: multi.instanceId,
    });
    expect(outcome(csr.plain!)).toMatchObject({ decision: "approve", action: "approved" });
    expect(outcome(csr.foreignInB!)).toMatchObject({ decision: "approve", action: "approved" });
    const codes = (name: string) => outcome(name)?.reasons.map((r) => r.code);
    expect(outcome(csr.otherIp!)?.action).toBe("denied");
    expect(codes(csr.otherIp!)).toEqual(["IP_NOT_OWNED"]);
    expect(outcome(csr.otherName!)?.action).toBe("denied");
    expect(codes(csr.otherName!)).toEqual(["DNS_NOT_OWNED"]);
    expect(outcome(csr.notANode!)?.action).toBe("denied");
    expect(codes(csr.notANode!)?.[0]).toBe("NOT_A_NODE");
    expect(outcome(csr.dead!)?.action).toBe("denied");
    expect(codes(csr.dead!)).toEqual(["INSTANCE_NOT_FOUND"]);

    // What the apiserver stored.
    for (const name of [csr.multi!, csr.plain!])
      expect(decisionConditionOf(await conditionsOf(a, name))).toBe("Approved");
    expect(decisionConditionOf(await conditionsOf(b, csr.foreignInB!))).toBe("Approved");
    for (const name of [csr.otherIp!, csr.otherName!, csr.notANode!, csr.dead!]) {
      const conditions = await conditionsOf(a, name);
      expect(decisionConditionOf(conditions)).toBe("Denied");
      expect(conditions.find((c) => c.type === "Denied")?.message).toContain("csr-approver: denied");
    }

    // Exactly one alert per denial, with the decision in additionalContext and attributes.
    // (Only this test's CSRs count: other test files share the rig clusters.)
    const ours = new Set(Object.values(csr));
    const messages = (await drainAlerts(world.alerts)).filter((m) => ours.has(alertContext(m).csr ?? ""));
    const denied = messages.map(alertContext).filter((c) => c.decision === "deny");
    expect(denied.map((c) => c.csr).sort()).toEqual(
      [csr.otherIp!, csr.otherName!, csr.notANode!, csr.dead!].sort(),
    );
    expect(messages).toHaveLength(4);
    const ipAlert = messages.map(alertContext).find((c) => c.csr === csr.otherIp);
    expect(ipAlert).toMatchObject({ cluster: "cluster-a", account: ACCOUNT, node: plain.node });
    expect(ipAlert?.reasonCodes).toContain("IP_NOT_OWNED");

    // A second sweep finds everything decided: no writes, no alerts.
    const again = await runSweep({ config, aws, alerts, log });
    const acted = again.clusters
      .flatMap((c) => c.csrs)
      .filter((o) => ours.has(o.name) && o.action !== "skipped");
    expect(acted).toEqual([]);
    expect((await drainAlerts(world.alerts)).filter((m) => ours.has(alertContext(m).csr ?? ""))).toHaveLength(
      0,
    );
    logReport(report);
  });
});

function logReport(report: SweepReport): void {
  const rows = report.clusters.map(
    (c) => `${c.cluster}: ${c.status} ${c.csrs.map((o) => o.action).join(",")}`,
  );
  console.log(`sweep in ${report.durationMs} ms\n  ${rows.join("\n  ")}`);
}
