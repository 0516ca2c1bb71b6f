// Hostile sizes against the real apiserver (security review, finding 1): one node filing
// maximum-size CSRs (~1.46 MB of PEM each, the most etcd stores) must not stop another node's
// certificate. The listing asks for smaller pages instead of failing the cluster, the big
// requests are denied unread (REQUEST_TOO_LARGE), and the legitimate node is approved in the
// same, first sweep. The memory bound itself is a benchmark (bench/, docs/fairness.md).
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { kubeClient, type KubeApi, type ListStats } from "../../functions/sweep/csrs.js";
import { snsAlertPublisher, type AlertPublisher } from "../../functions/sweep/publish.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { awsClients, seedStandardWorld, type StandardWorld } from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { kubeletCsr, MAX_SIZE_PEM_CHARS, maxSizeNodeCsr } from "../rig/kubelet.js";
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

const BIG = 36; // 35+ put the first 500-item page over 64 MiB before (the review's 65.1 MiB)

describe("hostile sizes: maximum-size CSRs beside a legitimate node", () => {
  let world: StandardWorld;
  let cluster: ClusterHandle;
  let aws: AwsClientCache;
  let alerts: AlertPublisher;
  let secret: string;
  let attacker: NodeInstance;
  let legit: NodeInstance;
  const listings: ListStats[] = [];

  // The real client, its listings recorded (how many pages were asked for again, smaller).
  const recording = (endpoint: Parameters<typeof kubeClient>[0]): KubeApi => {
    const real = kubeClient(endpoint);
    return {
      ...real,
      listKubeletServingCsrs: async (visit, pageSize) => {
        const stats = await real.listKubeletServingCsrs(visit, pageSize);
        listings.push(stats);
        return stats;
      },
    };
  };
  const sweep = () =>
    runSweep({
      config: selfManagedConfig([
        { cluster, name: "sizes", vpcIds: [world.clusterVpc.vpcId], secretArn: secret },
      ]),
      aws,
      alerts,
      log: memoryLog(),
      kube: recording,
    });

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[0]!;
    const clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "sizes", octet: 160, fillerCount: 1 });
    attacker = await nodeInstance(clients, world.plain.instanceId);
    legit = await nodeInstance(clients, world.filler[0]!.instanceId);
    secret = await storeApproverToken(clients, cluster, "sizes/token");
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
    alerts = snsAlertPublisher({ topicArn: world.alerts.topicArn, sns: aws.forRegion("us-east-1").sns });
  });
  beforeEach(async () => {
    await cluster.deleteCsrs();
    await drainAlerts(world.alerts);
    listings.length = 0;
  });

  it(`${BIG} maximum-size CSRs from one node: the other node is approved in the first sweep, the big ones denied unread`, async () => {
    const big: string[] = [];
    for (let i = 0; i < BIG; i++) {
      // Valid for the attacker's own name and IP: only the size is wrong with them.
      const made = await maxSizeNodeCsr(cluster, { node: attacker.node, ips: attacker.privateIps });
      expect(made.pem.length).toBeGreaterThan(MAX_SIZE_PEM_CHARS - 1000);
      big.push(made.name);
    }
    const theirs = await kubeletCsr(cluster, { node: legit.node, addresses: legit.addresses });

    const first = (await sweep()).clusters[0]!;
    expect(first.status).toBe("ok");
    expect(decisionConditionOf(await conditionsOf(cluster, theirs.name))).toBe("Approved");
    // The 500-item page was over the byte bound: asked for again, smaller, not failed.
    expect(listings[0]!.items).toBe(BIG + 1);
    expect(listings[0]!.shrunk).toBeGreaterThan(0);
    // The attacker's newest 20 (its node guard) are denied for their size alone.
    const denied = first.csrs.filter((o) => big.includes(o.name));
    expect(denied).toHaveLength(20);
    for (const o of denied) {
      expect(o.action).toBe("denied");
      expect(o.reasons.map((r) => r.code)).toEqual(["REQUEST_TOO_LARGE"]);
    }
    expect(first.nodeFloods).toEqual([{ node: attacker.node, pending: BIG, examined: 20 }]);
    // Alerted under the budget: one denial (the others repeat it) and the node's flood alert.
    const sent = (await drainAlerts(world.alerts)).map(alertContext).filter((c) => c.cluster === "sizes");
    expect(sent.map((c) => c.alertKind).sort()).toEqual(["denied", "node-flood"]);
    expect(sent.find((c) => c.alertKind === "denied")).toMatchObject({
      node: attacker.node,
      reasonCodes: "REQUEST_TOO_LARGE",
    });

    // The next sweep denies the rest; every one carries the code in its Denied condition.
    expect((await sweep()).clusters[0]!.status).toBe("ok");
    for (const name of big) {
      const conditions = await conditionsOf(cluster, name);
      expect(decisionConditionOf(conditions), name).toBe("Denied");
      expect(conditions.find((c) => c.type === "Denied")?.message).toContain("REQUEST_TOO_LARGE");
    }
  }, 300_000);
});
