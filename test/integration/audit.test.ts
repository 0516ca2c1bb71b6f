// The audit of approvals made elsewhere, against the real apiserver and moto. The rig cannot
// run EKS's controller, so "another approver" is a second client: the rig admin approving
// through the approval subresource with the resourceVersion it read, as a regex/prefix
// approver or a person running `kubectl certificate approve` would. What must hold:
// - a hostile CSR (a node asking for its neighbour's IP) approved elsewhere raises exactly
//   one `approved-elsewhere` alert naming the approver and the failing check; nothing is
//   written to the CSR; later sweeps of the same container are silent;
// - a legitimate CSR approved elsewhere raises nothing;
// - racing another approver on the same CSR ends with one Approved condition and no error,
//   whoever writes first;
// - a certificate whose SANs differ from its request (written by a stand-in signer on a
//   cluster whose own signer is off) raises one `certificate-mismatch` alert;
// - event mode: the watch audits an approval made elsewhere within its window, once.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AuditLedger } from "../../functions/core/audit.js";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { resolveClusters } from "../../functions/sweep/clusters.js";
import { kubeClient, type KubeApi } from "../../functions/sweep/csrs.js";
import { snsAlertPublisher, type AlertPublisher } from "../../functions/sweep/publish.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { watchClusters } from "../../functions/sweep/watch.js";
import { adminJson, CSR_API } from "../../bench/lib/admin-http.js";
import { awsClients, seedStandardWorld, type AwsClients, type StandardWorld } from "../rig/aws-seed.js";
import type { RigCluster } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { startCluster } from "../rig/index.js";
import { forgeNodeCsr, kubeletCsr } from "../rig/kubelet.js";
import {
  alertContext,
  drainAlerts,
  memoryLog,
  nodeInstance,
  selfManagedConfig,
  storeApproverToken,
  type NodeInstance,
} from "../support/sweep-world.js";
import { standInCertificate } from "../support/certificate-factory.js";

interface RawCsr {
  metadata: { name: string; resourceVersion: string };
  spec: { request: string };
  status?: { conditions?: { type: string; reason?: string; message?: string }[]; certificate?: string };
}

const readRaw = (cluster: RigCluster, name: string) =>
  adminJson(cluster, "GET", `${CSR_API}/${name}`) as Promise<RawCsr>;

/** Another approver: approves as the rig admin through the approval subresource, with the version it read. */
async function approveElsewhere(
  cluster: RigCluster,
  read: RawCsr,
  who = { reason: "PrefixApprover", message: "node name matches ip-*" },
): Promise<RawCsr> {
  return (await adminJson(cluster, "PUT", `${CSR_API}/${read.metadata.name}/approval`, {
    ...read,
    status: {
      ...read.status,
      conditions: [...(read.status?.conditions ?? []), { type: "Approved", status: "True", ...who }],
    },
  })) as RawCsr;
}

async function awaitIssued(cluster: RigCluster, name: string): Promise<RawCsr> {
  for (let i = 0; i < 200; i++) {
    const csr = await readRaw(cluster, name);
    if (csr.status?.certificate) return csr;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name}: the rig's signer issued no certificate in 10 s`);
}

describe("audit of approvals made elsewhere", () => {
  let world: StandardWorld;
  let clients: AwsClients;
  let cluster: RigCluster;
  let aws: AwsClientCache;
  let alerts: AlertPublisher;
  let plain: NodeInstance;
  let multi: NodeInstance;
  let secret: string;
  let ledgers: Map<string, AuditLedger>;
  const own: RigCluster[] = [];

  const config = (target: RigCluster, name: string, secretArn = secret) =>
    selfManagedConfig([{ cluster: target, name, vpcIds: [world.clusterVpc.vpcId], secretArn }]);
  const sweep = (name: string, extra: { kube?: (e: Parameters<typeof kubeClient>[0]) => KubeApi } = {}) =>
    runSweep({
      config: config(cluster, name),
      aws,
      alerts,
      log: memoryLog(),
      auditLedgers: ledgers,
      ...extra,
    });
  const alertsAbout = async (csr: string) =>
    (await drainAlerts(world.alerts)).map(alertContext).filter((c) => c.csr === csr);

  beforeAll(async () => {
    const handles = rig();
    cluster = (handles.clusters[1] ?? handles.clusters[0]!) as RigCluster;
    clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "audit", octet: 140, fillerCount: 0 });
    plain = await nodeInstance(clients, world.plain.instanceId);
    multi = await nodeInstance(clients, world.multiEni.instanceId);
    secret = await storeApproverToken(clients, cluster, "audit/token");
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
    alerts = snsAlertPublisher({ topicArn: world.alerts.topicArn, sns: aws.forRegion("us-east-1").sns });
  });
  afterAll(async () => {
    // The shared cluster goes to the next file without this file's approvals made elsewhere
    // (their issuance events would otherwise reach that file's watch as audit work).
    await cluster.deleteCsrs();
    await Promise.all(own.map((c) => c.stop()));
    aws?.destroy();
  });
  // One container's memory per test; each starts from a cluster without earlier tests' CSRs.
  beforeEach(async () => {
    ledgers = new Map();
    await cluster.deleteCsrs();
    await drainAlerts(world.alerts);
  });

  it("a neighbour-IP CSR approved elsewhere: one approved-elsewhere alert, nothing written, then silence", async () => {
    const { name } = await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] });
    await approveElsewhere(cluster, await readRaw(cluster, name));
    const issued = await awaitIssued(cluster, name); // the real signer signs what was approved

    const first = await sweep("audit-hostile");
    const outcome = first.clusters[0]!.csrs.find((o) => o.name === name);
    expect(outcome).toMatchObject({
      action: "approved-elsewhere",
      audit: "violation",
      alert: "approved-elsewhere",
    });
    expect(outcome?.reasons.map((r) => r.code)).toEqual(["IP_NOT_OWNED"]);
    expect(outcome?.approvedBy).toBe("PrefixApprover: node name matches ip-*");
    const [alert, ...more] = await alertsAbout(name);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({
      alertKind: "approved-elsewhere",
      reasonCodes: "IP_NOT_OWNED",
      requester: `system:node:${plain.node}`,
      approvedByReason: "PrefixApprover",
      approvedByMessage: "node name matches ip-*",
      certificateIssued: "true",
    });
    // Nothing written: the CSR is exactly as the other approver and the signer left it.
    const after = await readRaw(cluster, name);
    expect(after.metadata.resourceVersion).toBe(issued.metadata.resourceVersion);
    expect(after.status?.conditions?.map((c) => c.type)).toEqual(["Approved"]);

    await sweep("audit-hostile");
    await sweep("audit-hostile");
    expect(await alertsAbout(name)).toEqual([]);
    expect((await readRaw(cluster, name)).metadata.resourceVersion).toBe(issued.metadata.resourceVersion);

    // A read-only run (the CLI's sweep --dry-run, a fresh process) shows the same verdict, sends nothing.
    const dry = await runSweep({
      config: config(cluster, "audit-hostile"),
      aws,
      log: memoryLog(),
      readOnly: true,
    });
    expect(dry.clusters[0]!.csrs.find((o) => o.name === name)).toMatchObject({
      action: "approved-elsewhere",
      audit: "violation",
    });
    expect(await alertsAbout(name)).toEqual([]);
  });

  it("the same node approved elsewhere again for the same reasons: a repeat, silent within the window", async () => {
    const first = await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] });
    await approveElsewhere(cluster, await readRaw(cluster, first.name));
    await sweep("audit-repeat");
    expect((await alertsAbout(first.name)).map((c) => c.alertKind)).toEqual(["approved-elsewhere"]);
    // A later sweep of the same container: the next hostile approval for that node is a repeat.
    const second = await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] });
    await approveElsewhere(cluster, await readRaw(cluster, second.name));
    const report = await sweep("audit-repeat");
    expect(report.clusters[0]!.csrs.find((o) => o.name === second.name)).toMatchObject({
      action: "approved-elsewhere",
      delivery: "repeat",
    });
    expect(await alertsAbout(second.name)).toEqual([]);
  });

  it("a legitimate CSR approved elsewhere: audited, no alert", async () => {
    const { name } = await kubeletCsr(cluster, { node: plain.node, addresses: plain.addresses });
    await approveElsewhere(cluster, await readRaw(cluster, name), { reason: "ManualApproval", message: "" });
    const report = await sweep("audit-legit");
    expect(report.clusters[0]!.csrs.find((o) => o.name === name)).toMatchObject({
      action: "audited",
      audit: "pass",
      decision: "approve",
    });
    expect(report.clusters[0]!.audited).toBe(1);
    expect(await alertsAbout(name)).toEqual([]);
    // Remembered: the next sweep does not even look again.
    expect((await sweep("audit-legit")).clusters[0]!.audited).toBe(0);
  });

  it("audit: false looks at nothing decided elsewhere", async () => {
    const { name } = await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] });
    await approveElsewhere(cluster, await readRaw(cluster, name));
    const report = await runSweep({
      config: selfManagedConfig([
        {
          cluster,
          name: "audit-off",
          vpcIds: [world.clusterVpc.vpcId],
          secretArn: secret,
          overrides: { audit: false },
        },
      ]),
      aws,
      alerts,
      log: memoryLog(),
      auditLedgers: ledgers,
    });
    expect(report.clusters[0]!.audited).toBe(0);
    expect(await alertsAbout(name)).toEqual([]);
  });

  it("racing another approver: one Approved condition and no error, whoever writes first", async () => {
    // The other approver wins: it approves between our listing and our write (409 for us).
    const first = await kubeletCsr(cluster, { node: plain.node, addresses: plain.addresses });
    let otherWon = false;
    const otherFirst = (e: Parameters<typeof kubeClient>[0]): KubeApi => {
      const real = kubeClient(e);
      return {
        ...real,
        replaceConditions: async (read, conditions) => {
          if (read.csr.metadata.name === first.name) {
            await approveElsewhere(cluster, read.raw as unknown as RawCsr);
            otherWon = true;
          }
          return real.replaceConditions(read, conditions);
        },
      };
    };
    const lost = await sweep("audit-race", { kube: otherFirst });
    expect(otherWon).toBe(true);
    const ours = lost.clusters[0]!.csrs.filter((o) => o.name === first.name);
    expect(ours.map((o) => o.action)).toEqual(["skipped"]);
    expect(lost.totals.error).toBe(0);
    expect(approvals(await readRaw(cluster, first.name))).toEqual(["PrefixApprover"]);

    // We win: the other approver read the CSR before our write and gets 409, so it leaves it.
    const second = await kubeletCsr(cluster, { node: multi.node, addresses: multi.addresses });
    const staleRead = await readRaw(cluster, second.name);
    const won = await sweep("audit-race");
    expect(won.clusters[0]!.csrs.find((o) => o.name === second.name)?.action).toBe("approved");
    await expect(approveElsewhere(cluster, staleRead)).rejects.toThrow(/HTTP 409/);
    expect(approvals(await readRaw(cluster, second.name))).toEqual(["CsrApproverApproved"]);
    expect(won.totals.error).toBe(0);
  });

  it("a certificate whose SANs differ from its request (stand-in signer): one certificate-mismatch alert", async () => {
    const off = await startCluster({ name: `audit-signer-off-${process.pid}`, signer: "off" });
    own.push(off);
    const offSecret = await storeApproverToken(clients, off, "audit/off/token");
    const offSweep = () =>
      runSweep({
        config: config(off, "audit-off-signer", offSecret),
        aws,
        alerts,
        log: memoryLog(),
        auditLedgers: ledgers,
      });
    const wrong = await kubeletCsr(off, { node: plain.node, addresses: plain.addresses });
    const right = await kubeletCsr(off, { node: multi.node, addresses: multi.addresses });
    const approved = await offSweep();
    for (const name of [wrong.name, right.name])
      expect(approved.clusters[0]!.csrs.find((o) => o.name === name)?.action).toBe("approved");

    // The stand-in signer issues one certificate with a name the node did not ask for, one as asked.
    await issueAsStandIn(off, wrong.name, { extraIp: multi.privateIps[0]! });
    await issueAsStandIn(off, right.name, {});
    await offSweep();
    await offSweep();
    const all = (await drainAlerts(world.alerts)).map(alertContext);
    const mismatch = all.filter((c) => c.alertKind === "certificate-mismatch");
    expect(mismatch.map((c) => c.csr)).toEqual([wrong.name]);
    expect(JSON.parse(mismatch[0]!.certificateProblems!)).toEqual([
      "the certificate's SANs differ from the request's: 1 not requested, 0 requested but missing",
    ]);
    expect(all.filter((c) => c.csr === right.name)).toEqual([]);
  }, 60_000);

  it("event mode: the watch audits an approval made elsewhere once, from its events", async () => {
    const cfg = config(cluster, "audit-event");
    const log = memoryLog();
    const targets = await resolveClusters(cfg, aws, log);
    const sessions = new Map();
    await runSweep({ config: cfg, aws, alerts, log, targets, sessions, auditLedgers: ledgers });
    // After the sweep's listing, before the watch resumes from it: the CSR is created and
    // approved elsewhere, so the watch receives both events (ADDED pending, MODIFIED approved).
    const { name } = await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] });
    await approveElsewhere(cluster, await readRaw(cluster, name));
    const before = await readRaw(cluster, name);
    const outcomes = await watchClusters(
      targets.targets,
      { config: cfg, aws, alerts, log, sessions, auditLedgers: ledgers },
      { windowMs: 4000, reconnectDelayMs: 200 },
    );
    expect((await alertsAbout(name)).map((c) => c.alertKind)).toEqual(["approved-elsewhere"]);
    expect(
      outcomes.flatMap((c) => c.csrs).filter((o) => o.name === name && o.action === "approved-elsewhere"),
    ).toHaveLength(1);
    const after = await readRaw(cluster, name);
    expect(after.status?.conditions?.map((c) => c.type)).toEqual(["Approved"]);
    // The signer's issuance may follow; nothing of ours is written either way.
    expect(after.status?.conditions?.[0]?.reason).toBe(before.status?.conditions?.[0]?.reason);

    // The next scheduled sweep of the same container stays silent about it.
    await sweep("audit-event");
    expect(await alertsAbout(name)).toEqual([]);
  }, 30_000);
});

function approvals(csr: RawCsr): string[] {
  return (csr.status?.conditions ?? []).filter((c) => c.type === "Approved").map((c) => c.reason ?? "");
}

/** A stand-in signer (a wrong signer, or someone with status rights) writes the certificate. */
async function issueAsStandIn(
  cluster: RigCluster,
  name: string,
  options: { extraIp?: string },
): Promise<void> {
  const csr = await readRaw(cluster, name);
  const pem = standInCertificate(csr.spec.request, options);
  await adminJson(cluster, "PUT", `${CSR_API}/${name}/status`, {
    ...csr,
    status: { ...csr.status, certificate: Buffer.from(pem).toString("base64") },
  });
}
