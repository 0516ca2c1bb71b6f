// Fair, bounded sweeps against the real apiserver (SPEC §6 "Fairness and budgets"): what one
// node creates never holds back another node, alerts stay within budget, and a kubelet that
// retries after every denial alerts once per window.
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { snsAlertPublisher, type AlertPublisher } from "../../functions/sweep/publish.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { awsClients, seedStandardWorld, type StandardWorld } from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { createArbitraryCsr, forgeNodeCsr, kubeletCsr } from "../rig/kubelet.js";
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

describe("fair, bounded sweeps", () => {
  let world: StandardWorld;
  let cluster: ClusterHandle;
  let aws: AwsClientCache;
  let alerts: AlertPublisher;
  let secret: string;
  let attacker: NodeInstance;
  let others: NodeInstance[];

  const sweep = (overrides: Record<string, unknown> = {}, now?: Date) =>
    runSweep({
      config: selfManagedConfig([
        { cluster, name: "fair", vpcIds: [world.clusterVpc.vpcId], secretArn: secret, overrides },
      ]),
      aws,
      alerts,
      log: memoryLog(),
      ...(now ? { now: () => now } : {}),
    });
  const alertsOfFair = async () =>
    (await drainAlerts(world.alerts)).map(alertContext).filter((c) => c.cluster === "fair");

  /** A CSR valid for the attacker's own name and IP, with a name that sorts before everyone's. */
  const selfValid = (i: number) =>
    createArbitraryCsr(cluster, {
      as: cluster.nodeCredentials(attacker.node),
      name: `0000-${String(i).padStart(4, "0")}`,
      request: {
        commonName: `system:node:${attacker.node}`,
        organizations: ["system:nodes"],
        dnsNames: [attacker.node],
        ips: attacker.privateIps,
      },
    });
  /** The attacker asking for a neighbour's IP (forged: no kubelet makes that request). */
  const hostile = () => forgeNodeCsr(cluster, { node: attacker.node, ips: [others[0]!.privateIps[0]!] });
  /** Nodes EC2 does not know, by the dozen: made in TypeScript (a kubelet process each would only cost time). */
  const ghost = (node: string) => forgeNodeCsr(cluster, { node, dnsNames: [node] });
  /** Each legitimate node's kubelet, with the addresses AWS publishes for it. */
  const theirKubelets = () =>
    Promise.all(others.map((o) => kubeletCsr(cluster, { node: o.node, addresses: o.addresses })));

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[0]!;
    const clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "fair", octet: 20, fillerCount: 3 });
    attacker = await nodeInstance(clients, world.plain.instanceId);
    others = await Promise.all(
      [world.multiEni, world.twinRunning, ...world.filler].map((i) => nodeInstance(clients, i.instanceId)),
    );
    secret = await storeApproverToken(clients, cluster, "fair/token");
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
    alerts = snsAlertPublisher({ topicArn: world.alerts.topicArn, sns: aws.forRegion("us-east-1").sns });
  });
  // The alert history lives in the cluster's CSRs: each test starts without earlier ones.
  beforeEach(async () => {
    await cluster.deleteCsrs();
    await drainAlerts(world.alerts);
  });

  it("(a) one node with 150 self-valid CSRs named to sort first: one sweep approves every other node", async () => {
    const flood: string[] = [];
    for (let i = 0; i < 150; i++) flood.push((await selfValid(i)).name);
    const theirs = await theirKubelets();
    expect(others).toHaveLength(5);

    const report = await sweep();
    const outcome = report.clusters[0]!;
    expect(outcome.status).toBe("ok");
    for (const csr of theirs)
      expect(decisionConditionOf(await conditionsOf(cluster, csr.name))).toBe("Approved");
    // The attacker gets one certificate for its own name (its newest CSR), nothing more.
    const approvedFlood = outcome.csrs.filter((o) => flood.includes(o.name) && o.action === "approved");
    expect(approvedFlood).toHaveLength(1);
    const states = await Promise.all(
      flood.map(async (n) => decisionConditionOf(await conditionsOf(cluster, n))),
    );
    expect(states.filter((s) => s === "Approved")).toHaveLength(1);
    // Its guard, not anyone else's: only its newest 20 were examined, one alert names it.
    expect(outcome.pending).toBe(155);
    expect(outcome.notExamined).toBe(130);
    expect(outcome.nodeFloods).toEqual([{ node: attacker.node, pending: 150, examined: 20 }]);
    expect(outcome.floodGuardTripped).toBe(false);
    const sent = await alertsOfFair();
    expect(sent.map((c) => [c.alertKind, c.node])).toEqual([["node-flood", attacker.node]]);

    // The next sweep: the others hold certificates now; the attacker gets at most one more.
    const next = (await sweep()).clusters[0]!;
    expect(next.csrs.filter((o) => o.action === "approved").length).toBeLessThanOrEqual(1);
    expect(await alertsOfFair()).toEqual([]); // its flood alert is once per window
  }, 300_000);

  it("(b) 300 hostile CSRs from one node: one sweep sends at most 25 messages and approves none", async () => {
    const names: string[] = [];
    for (let i = 0; i < 300; i++) names.push((await hostile()).name);
    const report = await sweep();
    const outcome = report.clusters[0]!;
    expect(outcome.csrs.filter((o) => o.action === "approved")).toEqual([]);
    const sent = await alertsOfFair();
    expect(sent.length).toBeLessThanOrEqual(25);
    // One denial alert (the rest repeat it) and one flood alert naming the node.
    expect(sent.map((c) => c.alertKind).sort()).toEqual(["denied", "node-flood"]);
    const states = await Promise.all(
      names.map(async (n) => decisionConditionOf(await conditionsOf(cluster, n))),
    );
    expect(states.filter((s) => s === "Approved")).toEqual([]);
    expect(states.filter((s) => s === "Denied")).toHaveLength(20); // the newest 20, examined this sweep
    expect(outcome.alertsSent).toBe(sent.length);
  }, 300_000);

  it("(b') 60 nodes, each denied for its own reason: maxAlertsPerSweep alerts, then one summary before the rest are written", async () => {
    const fakes = Array.from({ length: 60 }, (_, i) => `ghost-${i}.fair.internal`);
    const names: string[] = [];
    for (const node of fakes) names.push((await ghost(node)).name);
    await new Promise((r) => setTimeout(r, 1500)); // past a 1 s grace: INSTANCE_NOT_FOUND
    const report = await sweep({ pendingGraceSeconds: 1 });
    const sent = await alertsOfFair();
    expect(sent.filter((c) => c.alertKind === "denied")).toHaveLength(20);
    const summary = sent.filter((c) => c.alertKind === "summary");
    expect(summary).toHaveLength(1);
    expect(summary[0]).toMatchObject({ summarizedAlerts: "40", summarizedNodes: "40", alertBudget: "20" });
    expect(JSON.parse(summary[0]!.byReason!)).toEqual({ INSTANCE_NOT_FOUND: 40 });
    expect(sent.length).toBeLessThanOrEqual(25);
    // Every one of them is denied, those in the summary too.
    const states = await Promise.all(
      names.map(async (n) => decisionConditionOf(await conditionsOf(cluster, n))),
    );
    expect(states.every((s) => s === "Denied")).toBe(true);
    const deliveries = report.clusters[0]!.csrs.map((o) => o.delivery);
    expect(deliveries.filter((d) => d === "summary")).toHaveLength(40);
  }, 300_000);

  it("(c) a misconfigured kubelet retrying after every denial: one alert over 5 sweeps, then one with the count after the window", async () => {
    const names: string[] = [];
    for (let round = 0; round < 5; round++) {
      names.push((await hostile()).name); // the kubelet files a new CSR after each denial
      await sweep();
    }
    for (const n of names) expect(decisionConditionOf(await conditionsOf(cluster, n))).toBe("Denied");
    const sent = await alertsOfFair();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ alertKind: "denied", csr: names[0], node: attacker.node });

    // An hour later (the apiserver's timestamps are real; the sweep's clock is moved on).
    names.push((await hostile()).name);
    await sweep({}, new Date(Date.now() + 61 * 60_000));
    const later = await alertsOfFair();
    expect(later).toHaveLength(1);
    expect(later[0]).toMatchObject({ alertKind: "denied", csr: names[5], repeats: "4" });
  }, 300_000);

  it("when the Lambda's time runs short, approvals go first and the rest is left for the next sweep", async () => {
    const fakes = Array.from({ length: 15 }, (_, i) => `late-${i}.fair.internal`);
    const hostileNames: string[] = [];
    for (const node of fakes) hostileNames.push((await ghost(node)).name);
    await new Promise((r) => setTimeout(r, 1500)); // past a 1 s grace: INSTANCE_NOT_FOUND
    const legit = await theirKubelets();
    // Every alert takes 600 ms, and from the first one on the Lambda has 1.5 s left (1 s of it
    // the reserve): the first writes in flight finish, nothing new starts after them.
    // The deadline signal aborts when 1 s (the reserve) of those 1.5 s is left.
    const deadline = new AbortController();
    let started = false;
    const slow: AlertPublisher = {
      publish: async (ctx) => {
        if (!started) {
          started = true;
          setTimeout(() => deadline.abort(), 500);
        }
        await new Promise((r) => setTimeout(r, 600));
        return alerts.publish(ctx);
      },
      publishFloodGuard: (args) => alerts.publishFloodGuard(args),
    };
    const config = selfManagedConfig(
      [
        {
          cluster,
          name: "fair",
          vpcIds: [world.clusterVpc.vpcId],
          secretArn: secret,
          overrides: { pendingGraceSeconds: 1 },
        },
      ],
      { sweep: { minRemainingMillis: 1000 } },
    );
    const report = await runSweep({
      config,
      aws,
      alerts: slow,
      log: memoryLog(),
      deadline: deadline.signal,
    });
    const outcome = report.clusters[0]!;
    for (const csr of legit)
      expect(decisionConditionOf(await conditionsOf(cluster, csr.name))).toBe("Approved");
    const actions = outcome.csrs.filter((o) => hostileNames.includes(o.name)).map((o) => o.action);
    expect(actions.filter((a) => a === "deferred").length).toBeGreaterThan(0);
    expect(actions.filter((a) => a === "denied").length).toBeGreaterThan(0);
    // Nothing deferred was written; the next sweep (time enough) finishes the job.
    const deferred = outcome.csrs.filter((o) => o.action === "deferred").map((o) => o.name);
    for (const name of deferred)
      expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Pending");
    await sweep({ pendingGraceSeconds: 1 });
    for (const name of hostileNames)
      expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Denied");
  }, 300_000);
});
