// Event mode and API-call economy against the rig: a CSR created while the watch window is
// open is approved within 2 s, CSRs arriving 250 ms apart are each decided within 300 ms
// (adaptive batching), a burst of 50 costs at most 10 EC2 calls, and 200 pending CSRs cost at
// most 2.
import { generateKeyPairSync } from "node:crypto";
import { loadavg } from "node:os";
import { CertificatesV1Api, Watch, type V1CertificateSigningRequest } from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { resolveClusters } from "../../functions/sweep/clusters.js";
import { kubeClient, type KubeApi } from "../../functions/sweep/csrs.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { watchClusters, type WatchStats } from "../../functions/sweep/watch.js";
import { awsClients, createVpc, type AwsClients } from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { forgeNodeCsr, kubeletCsr } from "../rig/kubelet.js";
import {
  conditionsOf,
  decisionConditionOf,
  memoryLog,
  selfManagedConfig,
  storeApproverToken,
  launchMany,
} from "../support/sweep-world.js";

const KUBELETS_AT_ONCE = 8;

describe("event mode and call economy", () => {
  let clients: AwsClients;
  let aws: AwsClientCache;
  let cluster: ClusterHandle;
  let vpcId: string;
  let subnetId: string;
  let secret: string;

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[1] ?? handles.clusters[0]!;
    clients = awsClients(awsClientConfig());
    const vpc = await createVpc(clients, {
      name: "event-vpc",
      cidr: "10.60.0.0/16",
      subnets: [{ cidr: "10.60.0.0/20", az: "us-east-1a" }],
      ipv6: false,
    });
    vpcId = vpc.vpcId;
    subnetId = vpc.subnets[0]!.subnetId;
    secret = await storeApproverToken(clients, cluster, "event/token");
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
  });

  it("approves a CSR created during the watch window within 2 s", async () => {
    const [instance] = await launchMany(clients, subnetId, 1);
    const config = selfManagedConfig([{ cluster, name: "event", vpcIds: [vpcId], secretArn: secret }]);
    const log = memoryLog();
    const targets = await resolveClusters(config, aws, log);
    const watching = watchClusters(
      targets.targets,
      { config, aws, log },
      { windowMs: 8000, reconnectDelayMs: 200 },
    );
    await new Promise((r) => setTimeout(r, 1000)); // the watch is open and has swept once

    // The kubelet's own CSR; the time counts from its creation, not from the helper's start.
    const { name, createdAt: created } = await kubeletCsr(cluster, {
      node: instance!.node,
      addresses: instance!.addresses,
    });
    const admin = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    let approvedAfter = -1;
    while (Date.now() - created < 5000) {
      const csr = await admin.readCertificateSigningRequest({ name });
      if (csr.status?.conditions?.some((c) => c.type === "Approved")) {
        approvedAfter = Date.now() - created;
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    console.log(`event mode: CSR ${name} approved ${approvedAfter} ms after creation`);
    expect(approvedAfter).toBeGreaterThanOrEqual(0);
    expect(approvedAfter).toBeLessThanOrEqual(2000);
    const outcomes = await watching;
    expect(outcomes.some((c) => c.csrs.some((o) => o.name === name && o.action === "approved"))).toBe(true);
  });

  it("200 pending CSRs in one cluster: one CSR list, one node list, at most 2 EC2 calls, all approved", async () => {
    const instances = await launchMany(clients, subnetId, 200);
    expect(new Set(instances.map((i) => i.node)).size).toBe(200);
    // Each node's kubelet, a few at a time (a process each).
    const names: string[] = [];
    for (let i = 0; i < instances.length; i += KUBELETS_AT_ONCE) {
      const batch = instances.slice(i, i + KUBELETS_AT_ONCE);
      const made = await Promise.all(
        batch.map((instance) => kubeletCsr(cluster, { node: instance.node, addresses: instance.addresses })),
      );
      names.push(...made.map((m) => m.name));
    }
    const config = selfManagedConfig([
      {
        cluster,
        name: "scale",
        vpcIds: [vpcId],
        secretArn: secret,
        overrides: { maxApprovalsPerSweep: 500 },
      },
    ]);
    const kubeCalls: Record<string, number> = {};
    const counting = (e: Parameters<typeof kubeClient>[0]): KubeApi => {
      const real = kubeClient(e);
      const count =
        <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
        (...args: A) => {
          kubeCalls[name] = (kubeCalls[name] ?? 0) + 1;
          return fn(...args);
        };
      return {
        listKubeletServingCsrs: count("list", real.listKubeletServingCsrs),
        listNodes: count("nodes", real.listNodes),
        readCsr: count("read", real.readCsr),
        replaceConditions: count("write", real.replaceConditions),
        watchKubeletServingCsrs: real.watchKubeletServingCsrs,
        readNode: count("node", real.readNode),
      };
    };
    aws.calls.reset();
    const started = Date.now();
    const report = await runSweep({ config, aws, log: memoryLog(), kube: counting });
    const elapsed = Date.now() - started;
    const approved = report.clusters[0]!.csrs.filter(
      (o) => names.includes(o.name) && o.action === "approved",
    );
    const ec2 = aws.calls.count("ec2");
    console.log(`200 CSRs: ${elapsed} ms, EC2 calls ${ec2}, Kubernetes calls ${JSON.stringify(kubeCalls)}`);
    expect(approved).toHaveLength(200);
    expect(ec2).toBeLessThanOrEqual(2);
    expect(kubeCalls).toMatchObject({ list: 1, nodes: 1 });
    expect(kubeCalls.write).toBeGreaterThanOrEqual(200);
    expect(kubeCalls.read ?? 0).toBe(0);
    for (const name of names.slice(0, 5)) {
      expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Approved");
    }
  });

  it("incremental: one LIST for the window, one batch per arrival, own writes start no work", async () => {
    const instances = await launchMany(clients, subnetId, 4);
    const config = selfManagedConfig([{ cluster, name: "incremental", vpcIds: [vpcId], secretArn: secret }]);
    const log = memoryLog();
    const targets = await resolveClusters(config, aws, log);
    const stats = new Map<string, WatchStats>();
    aws.calls.reset();
    const watching = watchClusters(
      targets.targets,
      { config, aws, log },
      { windowMs: 9000, reconnectDelayMs: 200 },
      stats,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const names: string[] = [];
    const latencies: number[] = [];
    const admin = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    for (const instance of instances) {
      const { name, createdAt: created } = await kubeletCsr(cluster, {
        node: instance.node,
        addresses: instance.addresses,
      });
      names.push(name);
      for (;;) {
        const csr = await admin.readCertificateSigningRequest({ name });
        if (csr.status?.conditions?.some((c) => c.type === "Approved")) break;
        if (Date.now() - created > 4000) throw new Error(`${name} not approved within 4 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
      latencies.push(Date.now() - created);
      await new Promise((r) => setTimeout(r, 1200)); // each arrives alone: one batch each
    }
    await watching;
    const s = stats.get("incremental")!;
    console.log(`incremental event mode: ${JSON.stringify(s)}, approval after ${latencies.join(", ")} ms`);
    expect(s.lists).toBe(1);
    // One batch per CSR that arrived; the MODIFIED events of our own approvals started none.
    expect(s.batches).toBe(instances.length);
    expect(s.ignoredEvents).toBeGreaterThanOrEqual(instances.length);
    // One DescribeInstances per batch, none for the events of our own writes.
    expect(aws.calls.count("ec2")).toBeLessThanOrEqual(instances.length);
    for (const latency of latencies) expect(latency).toBeLessThan(2000);
  });

  it("adaptive batching: 20 CSRs 250 ms apart each decided within 300 ms; a burst of 50 costs ≤ 10 DescribeInstances", async () => {
    const instances = await launchMany(clients, subnetId, 70);
    const config = selfManagedConfig([
      {
        cluster,
        name: "adaptive",
        vpcIds: [vpcId],
        secretArn: secret,
        overrides: { maxApprovalsPerSweep: 500 },
      },
    ]);
    const log = memoryLog();
    const targets = await resolveClusters(config, aws, log);
    const stats = new Map<string, WatchStats>();
    // When the Approved condition is first seen, by an admin watch of its own.
    const approvedAt = new Map<string, number>();
    const admin = await new Watch(cluster.kubeConfig(cluster.admin)).watch(
      "/apis/certificates.k8s.io/v1/certificatesigningrequests",
      {},
      (_type: string, csr: V1CertificateSigningRequest) => {
        const name = csr.metadata?.name ?? "";
        if (!approvedAt.has(name) && csr.status?.conditions?.some((c) => c.type === "Approved"))
          approvedAt.set(name, performance.now());
      },
      () => {},
    );
    // The node's own request (its private DNS name and IP), keys made beforehand: the create is
    // one POST, so the burst below arrives as one.
    const requests = instances.map((i) => ({
      node: i.node,
      dnsNames: [i.node],
      ips: [i.ip],
      key: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
    }));
    const allApproved = async (names: string[], withinMs: number) => {
      const until = performance.now() + withinMs;
      while (!names.every((n) => approvedAt.has(n)) && performance.now() < until)
        await new Promise((r) => setTimeout(r, 10));
    };
    const describes = () => aws.calls.count("ec2", "DescribeInstances");
    aws.calls.reset();
    const watching = watchClusters(
      targets.targets,
      { config, aws, log },
      { windowMs: 14_000, reconnectDelayMs: 200 },
      stats,
    );
    try {
      await new Promise((r) => setTimeout(r, 1500)); // swept once (nothing pending), watching

      const sentAt = new Map<string, number>();
      const started = performance.now();
      const spaced: Promise<void>[] = [];
      for (const [i, request] of requests.slice(0, 20).entries()) {
        const wait = started + i * 250 - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        // From the moment the CSR exists (the create answered): the client's own TLS set-up is
        // not the approver's time.
        spaced.push(
          forgeNodeCsr(cluster, request).then(({ name }) => void sentAt.set(name, performance.now())),
        );
      }
      await Promise.all(spaced);
      await allApproved([...sentAt.keys()], 3000);
      const latencies = [...sentAt].map(([name, sent]) => (approvedAt.get(name) ?? Infinity) - sent);
      const spacedCalls = describes();

      await new Promise((r) => setTimeout(r, 500));
      const before = describes();
      const burst = await Promise.all(requests.slice(20).map((request) => forgeNodeCsr(cluster, request)));
      await allApproved(
        burst.map((b) => b.name),
        5000,
      );
      const burstCalls = describes() - before;
      await watching;
      const s = stats.get("adaptive")!;
      console.log(
        `adaptive batching (load ${loadavg()[0]?.toFixed(1)}): 250 ms apart ${latencies.map(Math.round).join(", ")} ms with ${spacedCalls} DescribeInstances; ` +
          `burst of ${burst.length}: ${burstCalls} DescribeInstances; ${JSON.stringify(s)}`,
      );
      expect(latencies).toHaveLength(20);
      for (const latency of latencies) expect(latency).toBeLessThanOrEqual(300);
      expect(burst.every((b) => approvedAt.has(b.name))).toBe(true);
      expect(burstCalls).toBeLessThanOrEqual(10);
      // Still one LIST for the window, one call per batch at most, never more than one per CSR.
      expect(s.lists).toBe(1);
      expect(describes()).toBeLessThanOrEqual(s.batches);
      expect(describes()).toBeLessThanOrEqual(70);
    } finally {
      admin.abort();
      await watching;
    }
  });

  it("a dropped watch resumes from its resourceVersion: a CSR created while it was down is still decided, without a new LIST", async () => {
    const [instance] = await launchMany(clients, subnetId, 1);
    const config = selfManagedConfig([{ cluster, name: "resume", vpcIds: [vpcId], secretArn: secret }]);
    const log = memoryLog();
    const targets = await resolveClusters(config, aws, log);
    const stats = new Map<string, WatchStats>();
    let watches = 0;
    // The first watch is cut after 500 ms (as a load balancer idle timeout would).
    const cutting = (e: Parameters<typeof kubeClient>[0]): KubeApi => {
      const real = kubeClient(e);
      return {
        ...real,
        watchKubeletServingCsrs: (onEvent, signal, version) => {
          watches += 1;
          if (watches > 1) return real.watchKubeletServingCsrs(onEvent, signal, version);
          return real.watchKubeletServingCsrs(
            onEvent,
            AbortSignal.any([signal, AbortSignal.timeout(500)]),
            version,
          );
        },
      };
    };
    const watching = watchClusters(
      targets.targets,
      { config, aws, log, kube: cutting },
      { windowMs: 6000, reconnectDelayMs: 2000 },
      stats,
    );
    await new Promise((r) => setTimeout(r, 1200)); // the first watch is down, the next not yet open
    const { name } = await kubeletCsr(cluster, { node: instance!.node, addresses: instance!.addresses });
    const outcomes = await watching;
    expect(watches).toBeGreaterThanOrEqual(2);
    expect(stats.get("resume")).toMatchObject({ lists: 1 });
    expect(stats.get("resume")!.reconnects).toBeGreaterThanOrEqual(1);
    expect(outcomes.some((c) => c.csrs.some((o) => o.name === name && o.action === "approved"))).toBe(true);
    expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Approved");
  });
});
