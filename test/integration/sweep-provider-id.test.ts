// The Node object's providerID through the whole sweep: the kubelet registers its own Node
// (NodeRestriction lets it), so providerID is a cross-check, never proof on its own unless
// the cluster says `trustNodeProviderId: true`. The sweep must also fetch the instance the
// providerID names, since a custom node name matches no instance by itself.
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { awsClients, seedStandardWorld, type StandardWorld } from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { kubeletCsr } from "../rig/kubelet.js";
import {
  conditionsOf,
  decisionConditionOf,
  memoryLog,
  nodeInstance,
  selfManagedConfig,
  storeApproverToken,
  type NodeInstance,
} from "../support/sweep-world.js";

describe("providerID in the sweep", () => {
  let world: StandardWorld;
  let cluster: ClusterHandle;
  let aws: AwsClientCache;
  let secret: string;
  let plain: NodeInstance;
  let multi: NodeInstance;

  // Node objects and CSRs stay behind on the shared rig otherwise: a Node claiming another
  // instance would turn other files' legitimate CSRs for that name into conflicts.
  const nodes: string[] = [];
  const csrs: string[] = [];
  afterAll(async () => {
    await cluster.deleteNodes(nodes);
    await cluster.deleteCsrs(csrs);
  });

  const register = async (nodeName: string, instanceId: string) => {
    nodes.push(nodeName);
    const api = cluster.kubeConfig(cluster.nodeCredentials(nodeName)).makeApiClient(CoreV1Api);
    await api.createNode({
      body: {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: nodeName },
        spec: { providerID: `aws:///us-east-1a/${instanceId}` },
      },
    });
  };
  const sweep = (name: string, overrides: Record<string, unknown>) =>
    runSweep({
      config: selfManagedConfig([
        { cluster, name, vpcIds: [world.clusterVpc.vpcId], secretArn: secret, overrides },
      ]),
      aws,
      log: memoryLog(),
    });
  const outcomeOf = (report: Awaited<ReturnType<typeof runSweep>>, csr: string) =>
    report.clusters[0]!.csrs.find((o) => o.name === csr);

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[0]!;
    const clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "provider", fillerCount: 0 });
    plain = await nodeInstance(clients, world.plain.instanceId);
    multi = await nodeInstance(clients, world.multiEni.instanceId);
    secret = await storeApproverToken(clients, cluster, "provider/token");
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
  });

  it("a custom node name is identified by providerID only when the cluster trusts it", async () => {
    const node = `worker-${Date.now()}.corp.example`;
    await register(node, plain.instanceId);
    // plain's kubelet under a --hostname-override, with the addresses AWS publishes for plain.
    const { name } = await kubeletCsr(cluster, { node, addresses: plain.addresses });
    csrs.push(name);

    const untrusted = await sweep("provider-untrusted", {});
    expect(outcomeOf(untrusted, name)).toMatchObject({ decision: "wait", action: "waiting" });
    expect(outcomeOf(untrusted, name)?.reasons.map((r) => r.code)).toEqual(["INSTANCE_NOT_VISIBLE"]);
    expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Pending");

    const trusted = await sweep("provider-trusted", { trustNodeProviderId: true });
    expect(outcomeOf(trusted, name)).toMatchObject({
      decision: "approve",
      action: "approved",
      instanceId: plain.instanceId,
    });
    expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Approved");
  });

  it("trusted, a providerID may not claim a live neighbour that has its own Node object (SPEC §3)", async () => {
    // multi is a live node under its EC2 name; another node registers itself with multi's
    // providerID and asks for multi's addresses. A real kubelet does exactly that: the cloud
    // provider publishes multi's addresses on the Node that names multi's instance.
    await register(multi.node, multi.instanceId);
    const impostor = `impostor-${Date.now()}.corp.example`;
    await register(impostor, multi.instanceId);
    const { name } = await kubeletCsr(cluster, { node: impostor, addresses: multi.addresses });
    csrs.push(name);
    const report = await sweep("provider-neighbour", { trustNodeProviderId: true, deny: false });
    expect(outcomeOf(report, name)?.decision).toBe("deny");
    expect(outcomeOf(report, name)?.reasons.map((r) => r.code)).toEqual(["IDENTITY_CONFLICT"]);
    expect(outcomeOf(report, name)?.reasons[0]?.message).toContain(multi.node);
    expect(decisionConditionOf(await conditionsOf(cluster, name))).not.toBe("Approved");
  });

  it("a providerID naming another instance than the node name is a conflict, trusted or not", async () => {
    // The node is plain's by name, but registered itself as multi's instance.
    await register(plain.node, multi.instanceId);
    const { name } = await kubeletCsr(cluster, { node: plain.node, addresses: plain.addresses });
    csrs.push(name);
    const report = await sweep("provider-conflict", { trustNodeProviderId: true, deny: false });
    expect(outcomeOf(report, name)?.decision).toBe("deny");
    expect(outcomeOf(report, name)?.reasons.map((r) => r.code)).toContain("IDENTITY_CONFLICT");
  });
});
