// Event mode keeps the sweep's budgets across the window (issue #21, findings 2 and 3), against
// the rig's real apiserver and moto:
// - nodes refiling a self-valid CSR every 0.5 s during a watch window get at most one approval
//   per instance per budget period (before: one per batch, 25 each in ~27 s), and a legitimate
//   node's CSR filed in the middle of it is approved in the window;
// - a CSR the cluster backstop held is approved within the window once the next budget period
//   starts, not left for the next scheduled sweep;
// - a node denied for a decoy address, then asking for a neighbour's, raises two alerts.
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { resolveClusters } from "../../functions/sweep/clusters.js";
import { snsAlertPublisher, type AlertPublisher } from "../../functions/sweep/publish.js";
import type { ClusterOutcome } from "../../functions/sweep/report.js";
import { watchClusters } from "../../functions/sweep/watch.js";
import { awsClients, createVpc, seedStandardWorld, type StandardWorld } from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { certificatesApi, forgeNodeCsr, kubeletCsr } from "../rig/kubelet.js";
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
  launchMany,
} from "../support/sweep-world.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("event mode: the sweep's budgets span the window", () => {
  let world: StandardWorld;
  let cluster: ClusterHandle;
  let aws: AwsClientCache;
  let alerts: AlertPublisher;
  let secret: string;
  let vpcId: string;
  let subnetId: string;
  let clients: ReturnType<typeof awsClients>;

  const launch = (count: number) => launchMany(clients, subnetId, count);

  /** Approved CSRs per requesting node, as the apiserver holds them. */
  async function approvedPerNode(nodes: string[]): Promise<Map<string, number>> {
    const list = await certificatesApi(cluster, cluster.admin).listCertificateSigningRequest();
    const out = new Map(nodes.map((n) => [n, 0]));
    for (const csr of list.items) {
      const node = (csr.spec.username ?? "").replace(/^system:node:/, "");
      if (!out.has(node)) continue;
      if (csr.status?.conditions?.some((c) => c.type === "Approved")) out.set(node, out.get(node)! + 1);
    }
    return out;
  }

  async function approvedWithin(name: string, since: number, ms: number): Promise<number | undefined> {
    while (Date.now() - since < ms) {
      if (decisionConditionOf(await conditionsOf(cluster, name)) === "Approved") return Date.now() - since;
      await sleep(50);
    }
    return undefined;
  }

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[1] ?? handles.clusters[0]!;
    clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "evbudget", fillerCount: 0 });
    const vpc = await createVpc(clients, {
      name: "evbudget-vpc",
      cidr: "10.61.0.0/16",
      subnets: [{ cidr: "10.61.0.0/20", az: "us-east-1a" }],
      ipv6: false,
    });
    vpcId = vpc.vpcId;
    subnetId = vpc.subnets[0]!.subnetId;
    secret = await storeApproverToken(clients, cluster, "evbudget/token");
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
    alerts = snsAlertPublisher({ topicArn: world.alerts.topicArn, sns: aws.forRegion("us-east-1").sns });
  });
  // The budgets and the alert history come from the cluster's own CSRs: each test starts clean.
  beforeEach(() => cluster.deleteCsrs());

  it("four nodes refiling a self-valid CSR every 0.5 s: one approval each per period; the legitimate node is approved in the window", async () => {
    const [legit, ...attackers] = await launch(5);
    const config = selfManagedConfig([
      { cluster, name: "evbudget-flood", vpcIds: [vpcId], secretArn: secret },
    ]);
    const log = memoryLog();
    const targets = await resolveClusters(config, aws, log);
    const watching = watchClusters(
      targets.targets,
      { config, aws, log },
      { windowMs: 16_000, reconnectDelayMs: 200 },
    );
    await sleep(1000); // the window has swept once and is watching

    // Each attacker files a CSR valid for its own name and address every 0.5 s for 12 s
    // (24 each: past its per-node guard of 20 too).
    const filed = new Map<string, string[]>(attackers.map((a) => [a.node, []]));
    const flood = (async () => {
      for (let round = 0; round < 24; round++) {
        const started = Date.now();
        await Promise.all(
          attackers.map(async (a) => {
            const { name } = await forgeNodeCsr(cluster, { node: a.node, dnsNames: [a.node], ips: [a.ip] });
            filed.get(a.node)!.push(name);
          }),
        );
        await sleep(Math.max(0, 500 - (Date.now() - started)));
      }
    })();
    await sleep(6000); // the attackers have used what they can
    const { name: legitCsr, createdAt } = await kubeletCsr(cluster, {
      node: legit!.node,
      addresses: legit!.addresses,
    });
    const legitAfter = await approvedWithin(legitCsr, createdAt, 4000);
    await flood;
    const outcomes: ClusterOutcome[] = await watching;

    const approved = await approvedPerNode(attackers.map((a) => a.node));
    console.log(
      `event budgets: attackers filed ${[...filed.values()].map((f) => f.length).join("/")}, approved ${[
        ...approved.values(),
      ].join("/")}; legitimate approved after ${legitAfter} ms`,
    );
    // The window (16 s) is within one budget period (60 s): at most one approval per instance.
    for (const a of attackers) {
      expect(filed.get(a.node)!.length).toBe(24);
      expect(approved.get(a.node)).toBeLessThanOrEqual(1);
    }
    expect([...approved.values()].reduce((s, n) => s + n, 0)).toBeGreaterThanOrEqual(1);
    // The rest were held for the next period, not approved and not lost.
    const csrs = outcomes.flatMap((o) => o.csrs);
    expect(csrs.some((o) => o.action === "held" && attackers.some((a) => a.node === o.node))).toBe(true);
    expect(
      csrs.filter((o) => o.action === "approved" && attackers.some((a) => a.node === o.node)).length,
    ).toBe([...approved.values()].reduce((s, n) => s + n, 0));
    // 24 CSRs in the period, past the per-node guard of 20 counted across batches: each
    // attacker tripped its own guard (one node-flood each), whatever batch its CSRs came in.
    const flooded = new Set(outcomes.flatMap((o) => o.nodeFloods.map((f) => f.node)));
    expect(attackers.every((a) => flooded.has(a.node))).toBe(true);
    expect(flooded.has(legit!.node)).toBe(false);
    // The legitimate node: approved within the window, promptly.
    expect(legitAfter).toBeDefined();
    expect(legitAfter!).toBeLessThan(3000);
    expect(csrs.some((o) => o.name === legitCsr && o.action === "approved")).toBe(true);
  }, 60_000);

  it("a CSR the cluster backstop held is approved in the window when the next budget period starts", async () => {
    const nodes = await launch(2);
    const config = selfManagedConfig([
      {
        cluster,
        name: "evbudget-backstop",
        vpcIds: [vpcId],
        secretArn: secret,
        overrides: { maxApprovalsPerSweep: 1 },
      },
    ]);
    const log = memoryLog();
    const targets = await resolveClusters(config, aws, log);
    const watching = watchClusters(
      targets.targets,
      { config, aws, log },
      { windowMs: 12_000, reconnectDelayMs: 200, budgetPeriodMs: 5000, retryWaitingMs: 500 },
    );
    await sleep(1000);
    // Both at once: one batch, a backstop of one.
    const made = await Promise.all(
      nodes.map((n) => forgeNodeCsr(cluster, { node: n.node, dnsNames: [n.node], ips: [n.ip] })),
    );
    const createdAt = Date.now();
    const after = await Promise.all(made.map((m) => approvedWithin(m.name, createdAt, 9000)));
    const outcomes = await watching;
    const csrs = outcomes.flatMap((o) => o.csrs);
    console.log(`backstop held, then approved after ${after.join(", ")} ms`);
    // One was held by the backstop first, and both were approved before the window closed.
    expect(csrs.some((o) => o.action === "flood-guarded")).toBe(true);
    expect(after.every((a) => a !== undefined)).toBe(true);
    const [first, second] = [...(after as number[])].sort((a, b) => a - b);
    expect(first!).toBeLessThan(2500);
    // The second waited for the next period (5 s after the window began), not for a next sweep.
    expect(second!).toBeGreaterThan(2500);
    for (const m of made) expect(decisionConditionOf(await conditionsOf(cluster, m.name))).toBe("Approved");
  }, 40_000);

  it("a decoy alerted first does not hide a neighbour's address asked for next: two alerts", async () => {
    const plain: NodeInstance = await nodeInstance(clients, world.plain.instanceId);
    const multi: NodeInstance = await nodeInstance(clients, world.multiEni.instanceId);
    const config = selfManagedConfig([
      { cluster, name: "evbudget-decoy", vpcIds: [world.clusterVpc.vpcId], secretArn: secret },
    ]);
    const log = memoryLog();
    const targets = await resolveClusters(config, aws, log);
    await drainAlerts(world.alerts);
    const watching = watchClusters(
      targets.targets,
      { config, aws, alerts, log },
      { windowMs: 9000, reconnectDelayMs: 200 },
    );
    await sleep(1000);
    const decoyIp = `${world.net}.250.250`; // in the cluster VPC's range, owned by nobody
    const decoy = await forgeNodeCsr(cluster, { node: plain.node, ips: [decoyIp] });
    for (
      let i = 0;
      i < 60 && decisionConditionOf(await conditionsOf(cluster, decoy.name)) !== "Denied";
      i++
    ) {
      await sleep(100);
    }
    const neighbour = await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] });
    for (
      let i = 0;
      i < 60 && decisionConditionOf(await conditionsOf(cluster, neighbour.name)) !== "Denied";
      i++
    ) {
      await sleep(100);
    }
    const outcomes = await watching;
    const csrs = outcomes.flatMap((o) => o.csrs);
    const sent = (await drainAlerts(world.alerts))
      .map(alertContext)
      .filter((c) => c.cluster === "evbudget-decoy" && c.alertKind === "denied");
    console.log(
      `decoy then neighbour: ${JSON.stringify(sent.map((c) => [c.csr, c.reasonCodes, c.requestedSans]))}`,
    );
    // Same node, same reason code: before, the second was recorded as a repeat and never sent.
    const decided = [decoy.name, neighbour.name].map((n) => csrs.find((o) => o.name === n));
    expect(decided.map((o) => [o?.action, o?.delivery])).toEqual([
      ["denied", "alert"],
      ["denied", "alert"],
    ]);
    expect(decided.map((o) => o?.reasons.map((r) => r.code))).toEqual([["IP_NOT_OWNED"], ["IP_NOT_OWNED"]]);
    expect(sent.map((c) => c.csr).sort()).toEqual([decoy.name, neighbour.name].sort());
    expect(sent.find((c) => c.csr === neighbour.name)!.requestedSans).toContain(multi.privateIps[0]!);

    // The same neighbour request again is a repeat of the one alerted: no third message.
    const again = await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] });
    const rerun = await watchClusters(
      targets.targets,
      { config, aws, alerts, log },
      { windowMs: 3000, reconnectDelayMs: 200 },
    );
    const third = rerun.flatMap((o) => o.csrs).find((o) => o.name === again.name);
    expect(third).toMatchObject({ action: "denied", delivery: "repeat" });
    expect(
      (await drainAlerts(world.alerts))
        .map(alertContext)
        .filter((c) => c.cluster === "evbudget-decoy" && c.alertKind === "denied"),
    ).toEqual([]);
  }, 40_000);
});
