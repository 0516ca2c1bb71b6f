// The whole path with real parts: the kubelet's own serving-certificate manager
// (k8s.io/kubernetes/pkg/kubelet/certificate, run by `rig kubelet`) makes the CSR from the
// node addresses the AWS cloud provider publishes, the sweep approves it, and
// kube-controller-manager's kubelet-serving signing controller (run by `rig cluster`)
// issues the certificate, which the kubelet's manager stores. Then the follow-up alerts
// with the signer stopped (not issued, after a short notIssuedAfterSeconds waited for in
// real time) or refusing (Failed).
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { CertificatesV1Api, type V1CertificateSigningRequest } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NOT_ISSUED_MIN_SECONDS } from "../../functions/core/config.js";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { snsAlertPublisher, type AlertPublisher } from "../../functions/sweep/publish.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import {
  awsClients,
  describeInstance,
  seedStandardWorld,
  type AwsClients,
  type StandardWorld,
} from "../rig/aws-seed.js";
import type { ClusterHandle, RigCluster } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { startCluster } from "../rig/index.js";
import { KUBELET_SERVING, awsNodeAddresses, startKubelet, type NodeAddress } from "../rig/kubelet.js";
import {
  alertContext,
  conditionsOf,
  decisionConditionOf,
  drainAlerts,
  memoryLog,
  selfManagedConfig,
  storeApproverToken,
} from "../support/sweep-world.js";

describe("the kubelet's CSR, approved, then issued by the real signer", () => {
  let clients: AwsClients;
  let world: StandardWorld;
  let aws: AwsClientCache;
  let alerts: AlertPublisher;
  const own: RigCluster[] = [];
  const made: { cluster: ClusterHandle; name: string }[] = [];

  const sweeper = async (cluster: ClusterHandle, name: string, overrides?: Record<string, unknown>) => {
    const secret = await storeApproverToken(clients, cluster, `signer/${name}/token`);
    return (now?: Date) =>
      runSweep({
        config: selfManagedConfig([
          {
            cluster,
            name,
            vpcIds: [world.clusterVpc.vpcId],
            secretArn: secret,
            ...(overrides ? { overrides } : {}),
          },
        ]),
        aws,
        alerts,
        log: memoryLog(),
        ...(now ? { now: () => now } : {}),
      });
  };
  const alertsFor = async (csr: string) =>
    (await drainAlerts(world.alerts)).map(alertContext).filter((c) => c.csr === csr);
  const kubeletOf = async (cluster: ClusterHandle, instanceId: string) => {
    const instance = await describeInstance(clients, instanceId);
    const node = instance.PrivateDnsName ?? "";
    const addresses = awsNodeAddresses(instance);
    const run = await startKubelet(cluster, { node, addresses });
    made.push({ cluster, name: run.name });
    return { node, addresses, run };
  };

  beforeAll(async () => {
    const handles = rig();
    clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "signer", octet: 120, fillerCount: 0 });
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
    alerts = snsAlertPublisher({ topicArn: world.alerts.topicArn, sns: aws.forRegion("us-east-1").sns });
  });

  afterAll(async () => {
    for (const { cluster, name } of made) await cluster.deleteCsrs([name]).catch(() => undefined);
    await Promise.all(own.map((cluster) => cluster.stop()));
    aws?.destroy();
  });

  it("the kubelet's request carries the cloud provider's addresses; approved, issued, chained to the cluster CA", async () => {
    const cluster = rig().clusters[0]!;
    expect(cluster.info.signer).toBe("sign");
    const sweep = await sweeper(cluster, "signer-issue", { notIssuedAfterSeconds: NOT_ISSUED_MIN_SECONDS });
    const { node, addresses, run } = await kubeletOf(cluster, world.multiEni.instanceId);
    // What AWS publishes for the 2-ENI instance with an Elastic IP.
    const ips = addresses.filter((a) => a.type.endsWith("IP")).map((a) => a.address);
    const names = [...new Set(addresses.filter((a) => !a.type.endsWith("IP")).map((a) => a.address))];
    expect(ips).toEqual(expect.arrayContaining(["10.120.1.70", "10.120.1.71", "10.120.2.70", "10.120.2.72"]));
    expect(names).toContain(node);
    expect(names.some((n) => n.endsWith(".amazonaws.com"))).toBe(true); // the public DNS name

    const api = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    const request = await api.readCertificateSigningRequest({ name: run.name });
    expect(request.spec.username).toBe(`system:node:${node}`);
    expect(request.spec.signerName).toBe(KUBELET_SERVING);
    expect([...request.spec.usages!].sort()).toEqual(["digital signature", "server auth"]);

    const report = await sweep();
    expect(report.clusters[0]!.csrs.find((o) => o.name === run.name)?.action).toBe("approved");
    const outcome = await run.outcome;
    expect(outcome.event).toBe("issued");

    const issued = await api.readCertificateSigningRequest({ name: run.name });
    const pem = Buffer.from(issued.status!.certificate!, "base64").toString("utf8");
    const cert = new X509Certificate(pem);
    const ca = new X509Certificate(cluster.caPem);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.subject).toContain(`CN=system:node:${node}`);
    expect(sanList(cert)).toEqual(expectedSans(addresses));
    expect(cert.keyUsage ?? []).toContain("1.3.6.1.5.5.7.3.1"); // serverAuth
    // The kubelet's manager stored the same certificate with its own key.
    const stored = readFileSync((outcome as { certFile: string }).certFile, "utf8");
    expect(new X509Certificate(stored).fingerprint256).toBe(cert.fingerprint256);
    expect(stored).toMatch(/PRIVATE KEY/);

    // Issued: nothing to follow up, even past the not-issued threshold (real time).
    const approvedAt = approvedAtOf(issued);

    await sleep(Math.max(0, approvedAt + (NOT_ISSUED_MIN_SECONDS + 1) * 1000 - Date.now()));
    await sweep();
    expect(await alertsFor(run.name)).toEqual([]);
  }, 60_000);

  it("signer stopped: the approved CSR gets no certificate, and one not-issued alert once it is overdue", async () => {
    const cluster = await startCluster({ name: `signer-off-${process.pid}`, signer: "off" });
    own.push(cluster);
    expect(cluster.info.signer).toBe("off");
    // The smallest threshold the configuration allows, waited for in real time.
    const sweep = await sweeper(cluster, "signer-off", { notIssuedAfterSeconds: NOT_ISSUED_MIN_SECONDS });
    const { run } = await kubeletOf(cluster, world.plain.instanceId);
    await sweep();
    expect(decisionConditionOf(await conditionsOf(cluster, run.name))).toBe("Approved");
    const api = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    const approvedAt = approvedAtOf(await api.readCertificateSigningRequest({ name: run.name }));
    await sleep(3000); // a running signer issues within a second
    expect((await api.readCertificateSigningRequest({ name: run.name })).status?.certificate).toBeUndefined();
    await sweep();
    expect(await alertsFor(run.name)).toEqual([]); // not overdue yet

    // Past the threshold on the real clock (the condition's time has whole seconds).
    await sleep(Math.max(0, approvedAt + (NOT_ISSUED_MIN_SECONDS + 1) * 1000 - Date.now()));
    await sweep();
    await sweep();
    expect((await alertsFor(run.name)).map((c) => c.alertKind)).toEqual(["not-issued"]);
    expect((await api.readCertificateSigningRequest({ name: run.name })).status?.certificate).toBeUndefined();
    run.stop();
  }, 60_000);

  it("signer refusing: the CSR is marked Failed by the signer, one failed alert, then silence", async () => {
    const cluster = await startCluster({ name: `signer-refuse-${process.pid}`, signer: "refuse" });
    own.push(cluster);
    const sweep = await sweeper(cluster, "signer-refuse");
    const { run } = await kubeletOf(cluster, world.twinRunning.instanceId);
    await sweep();
    const outcome = await run.outcome;
    expect(outcome).toMatchObject({ event: "failed", reason: "RigSignerRefused" });
    expect((await conditionsOf(cluster, run.name)).map((c) => c.type)).toEqual(["Approved", "Failed"]);
    await sweep();
    await sweep();
    expect((await alertsFor(run.name)).map((c) => c.alertKind)).toEqual(["failed"]);
  });
});

function sanList(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? "")
    .split(", ")
    .filter(Boolean)
    .map((entry) => entry.replace(/^IP Address:/, "IP:"))
    .sort();
}

// The kubelet's template (addressesToHostnamesAndIPs): DNS names from Hostname/InternalDNS/
// ExternalDNS, IPs from InternalIP/ExternalIP, deduplicated.
function expectedSans(addresses: NodeAddress[]): string[] {
  const entries = addresses.map((a) => (a.type.endsWith("IP") ? `IP:${a.address}` : `DNS:${a.address}`));
  return [...new Set(entries)].sort();
}

/** When the API server recorded the approval (whole seconds, its own clock). */
function approvedAtOf(csr: V1CertificateSigningRequest): number {
  const at = csr.status?.conditions?.find((c) => c.type === "Approved")?.lastUpdateTime;
  const ms = at === undefined ? Number.NaN : new Date(at).getTime();
  if (!Number.isFinite(ms)) throw new Error(`${csr.metadata?.name}: no Approved condition with a time`);
  return ms;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
