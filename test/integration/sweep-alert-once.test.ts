// "Alert once" without a database: the alerts that are not denials (dry-run would-deny,
// deny:false left-pending; approved-but-not-issued and failed: signer.test.ts, against a
// cluster whose signer is stopped or refusing) are recorded on the CSR itself with a
// CsrApproverAlerted condition written through the approval subresource. Against the real
// apiserver: the condition passes validation and admission, the CSR stays undecided, and the
// next sweep sends nothing again.
import { beforeAll, describe, expect, it } from "vitest";
import { ALERTED_CONDITION } from "../../functions/core/plan.js";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { snsAlertPublisher, type AlertPublisher } from "../../functions/sweep/publish.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { awsClients, seedStandardWorld, type StandardWorld } from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { createKubeletCsr } from "../rig/kubelet.js";
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

describe("alert once, recorded on the CSR", () => {
  let world: StandardWorld;
  let cluster: ClusterHandle;
  let aws: AwsClientCache;
  let alerts: AlertPublisher;
  let plain: NodeInstance;
  let multi: NodeInstance;
  let secret: string;
  const mine = new Set<string>();

  const sweep = async (name: string, overrides: Record<string, unknown>, now?: Date) =>
    runSweep({
      config: selfManagedConfig([
        { cluster, name, vpcIds: [world.clusterVpc.vpcId], secretArn: secret, overrides },
      ]),
      aws,
      alerts,
      log: memoryLog(),
      ...(now ? { now: () => now } : {}),
    });
  const myAlerts = async () =>
    (await drainAlerts(world.alerts)).map(alertContext).filter((c) => mine.has(c.csr ?? ""));
  const hostile = async () => {
    const { name } = await createKubeletCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] });
    mine.add(name);
    return name;
  };

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[1] ?? handles.clusters[0]!;
    const clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "once", fillerCount: 0 });
    plain = await nodeInstance(clients, world.plain.instanceId);
    multi = await nodeInstance(clients, world.multiEni.instanceId);
    secret = await storeApproverToken(clients, cluster, "once/token");
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
    alerts = snsAlertPublisher({ topicArn: world.alerts.topicArn, sns: aws.forRegion("us-east-1").sns });
    await drainAlerts(world.alerts);
  });

  it("dry-run: one would-deny alert, a marker condition, no decision; the next sweep is silent", async () => {
    const bad = await hostile();
    const first = await sweep("once-dry", { mode: "dry-run" });
    expect(first.clusters[0]!.csrs.find((o) => o.name === bad)?.action).toBe("would-deny");
    expect((await myAlerts()).map((c) => [c.csr, c.alertKind ?? c.decision])).toEqual([[bad, "would-deny"]]);
    const conditions = await conditionsOf(cluster, bad);
    expect(decisionConditionOf(conditions)).toBe("Pending");
    expect(conditions.find((c) => c.type === ALERTED_CONDITION)?.message).toBe("would-deny");

    await sweep("once-dry", { mode: "dry-run" });
    expect(await myAlerts()).toEqual([]);
    expect(decisionConditionOf(await conditionsOf(cluster, bad))).toBe("Pending");
  });

  it("deny: false leaves the CSR pending with one left-pending alert; enforce later still denies it", async () => {
    const bad = await hostile();
    await sweep("once-lenient", { deny: false });
    await sweep("once-lenient", { deny: false });
    expect((await myAlerts()).filter((c) => c.csr === bad)).toHaveLength(1);
    expect(decisionConditionOf(await conditionsOf(cluster, bad))).toBe("Pending");

    await sweep("once-strict", {});
    expect(decisionConditionOf(await conditionsOf(cluster, bad))).toBe("Denied");
    const denied = (await myAlerts()).filter((c) => c.csr === bad);
    expect(denied.map((c) => c.decision)).toEqual(["deny"]);
    // The marker stays next to the decision: existing conditions are never dropped.
    expect((await conditionsOf(cluster, bad)).map((c) => c.type)).toEqual([ALERTED_CONDITION, "Denied"]);
  });

  it("flood guard: beyond maxApprovalsPerSweep nothing more is approved, one cluster alert; the next sweep continues", async () => {
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      names.push((await createKubeletCsr(cluster, { node: plain.node, ips: plain.privateIps })).name);
    }
    const first = await sweep("once-flood", { maxApprovalsPerSweep: 2 });
    const outcome = first.clusters[0]!;
    const mineNow = outcome.csrs.filter((o) => names.includes(o.name));
    expect(mineNow.filter((o) => o.action === "approved")).toHaveLength(2);
    expect(mineNow.filter((o) => o.action === "flood-guarded")).toHaveLength(1);
    expect(outcome.floodGuardTripped).toBe(true);
    const flood = (await drainAlerts(world.alerts))
      .map(alertContext)
      .filter((c) => c.cluster === "once-flood");
    expect(flood.map((c) => c.alertKind)).toEqual(["flood-guard"]);

    await sweep("once-flood", { maxApprovalsPerSweep: 2 });
    for (const name of names) expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Approved");
  });
});
