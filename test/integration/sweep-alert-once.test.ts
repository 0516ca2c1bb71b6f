// "Alert once" without a database: the alerts that are not denials (dry-run would-deny,
// deny:false left-pending; approved-but-not-issued and failed: signer.test.ts, against a
// cluster whose signer is stopped or refusing) are recorded on the CSR itself with a
// CsrApproverAlerted condition written through the approval subresource. Against the real
// apiserver: the condition passes validation and admission, the CSR stays undecided, and the
// next sweep sends nothing again.
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ALERTED_CONDITION, markerEntries, targetsDigest } from "../../functions/core/plan.js";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { snsAlertPublisher, type AlertPublisher } from "../../functions/sweep/publish.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { awsClients, seedStandardWorld, type StandardWorld } from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { forgeNodeCsr, kubeletCsr } from "../rig/kubelet.js";
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
    // plain asking for multi's IP: forged, no kubelet makes that request.
    const { name } = await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] });
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
  // Alerts are de-duplicated per node and reasons over the CSRs the cluster holds: each test
  // starts from a cluster without earlier tests' CSRs (files run one at a time).
  beforeEach(() => cluster.deleteCsrs());

  it("dry-run: one would-deny alert, a marker condition, no decision; the next sweep is silent", async () => {
    const bad = await hostile();
    const first = await sweep("once-dry", { mode: "dry-run" });
    expect(first.clusters[0]!.csrs.find((o) => o.name === bad)?.action).toBe("would-deny");
    expect((await myAlerts()).map((c) => [c.csr, c.alertKind ?? c.decision])).toEqual([[bad, "would-deny"]]);
    const conditions = await conditionsOf(cluster, bad);
    expect(decisionConditionOf(conditions)).toBe("Pending");
    expect(
      markerEntries({
        metadata: { name: bad },
        spec: { signerName: "", request: "" },
        status: { conditions },
      }),
    ).toEqual([
      {
        kind: "would-deny",
        via: "alert",
        codes: ["IP_NOT_OWNED"],
        // What the request named, as a digest: part of the repeat key (issue #21, finding 3).
        targets: targetsDigest({ dnsNames: [], ips: [multi.privateIps[0]!], other: [] }),
      },
    ]);

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

  it("flood guard: one approval per instance per sweep, the cluster-wide backstop holds the rest with one alert; the next sweep continues", async () => {
    const fromPlain: string[] = [];
    // plain's kubelet filed three times (restarted twice before an answer), multi's once.
    for (let i = 0; i < 3; i++) {
      fromPlain.push((await kubeletCsr(cluster, { node: plain.node, addresses: plain.addresses })).name);
    }
    const fromMulti = (await kubeletCsr(cluster, { node: multi.node, addresses: multi.addresses })).name;
    const first = await sweep("once-flood", { maxApprovalsPerSweep: 1 });
    const outcome = first.clusters[0]!;
    const action = (name: string) => outcome.csrs.find((o) => o.name === name)?.action;
    // plain's newest is its one candidate; its two older CSRs are held, not approved.
    expect(fromPlain.map(action).filter((a) => a === "held")).toHaveLength(2);
    // Two instances, backstop 1: one approved, the other held by the cluster guard.
    const candidates = [fromPlain.find((n) => action(n) !== "held")!, fromMulti];
    expect(candidates.map(action).sort()).toEqual(["approved", "flood-guarded"]);
    expect(outcome.floodGuardTripped).toBe(true);
    const flood = (await drainAlerts(world.alerts))
      .map(alertContext)
      .filter((c) => c.cluster === "once-flood");
    expect(flood.map((c) => c.alertKind)).toEqual(["flood-guard"]);

    await sweep("once-flood", { maxApprovalsPerSweep: 1 });
    for (const name of candidates)
      expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Approved");
  });
});
