// Faults on every edge of the sweep, injected in front of the real servers (SDK middleware
// for AWS, a wrapper around the real Kubernetes client, a real 409 made by the admin racing
// the approver, a TCP server that never answers). Invariant under test: an error never
// approves or denies, the next sweep finishes the job, and no alert is lost or duplicated.
import { createServer, type Server, type Socket } from "node:net";
import { CertificatesV1Api } from "@kubernetes/client-node";
import type { MiddlewareStack } from "@smithy/types";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Config } from "../../functions/core/config.js";
import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { createAwsClients, type AnyAwsClient, type AwsClientCache } from "../../functions/sweep/aws.js";
import { resolveClusters, type TokenCache } from "../../functions/sweep/clusters.js";
import { kubeClient, KubeError, type KubeApi } from "../../functions/sweep/csrs.js";
import { snsAlertPublisher, type AlertPublisher } from "../../functions/sweep/publish.js";
import { runSweep, type SweepDeps } from "../../functions/sweep/sweep.js";
import {
  awsClients,
  putSecret,
  seedStandardWorld,
  type AwsClients,
  type StandardWorld,
} from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { forgeNodeCsr, kubeletCsr } from "../rig/kubelet.js";
import {
  conditionsOf,
  decisionConditionOf,
  memoryLog,
  nodeInstance,
  selfManagedConfig,
  storeApproverToken,
  type NodeInstance,
  drainAlerts,
} from "../support/sweep-world.js";

type Fault = { service: string; command: string; status: number; name: string; times: number };

/** AWS clients whose calls can be made to fail, inside the SDK's retry loop like a real error. */
function faultyAws(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }) {
  const faults: Fault[] = [];
  const aws = createAwsClients({
    endpoint,
    credentials,
    maxAttempts: 3,
    configure: (service, client: AnyAwsClient) => {
      (client.middlewareStack as MiddlewareStack<object, object>).add(
        (next, context) => async (args) => {
          const fault = faults.find(
            (f) => f.service === service && f.command === context.commandName && f.times > 0,
          );
          if (fault) {
            fault.times -= 1;
            const err = Object.assign(new Error(`injected ${fault.name}`), {
              name: fault.name,
              $fault: fault.status >= 500 ? "server" : "client",
              $metadata: { httpStatusCode: fault.status, attempts: 1 },
            });
            throw err;
          }
          return next(args);
        },
        // Inside the retry middleware, like an error coming back from the service.
        { step: "finalizeRequest", priority: "low", name: "injectFault" },
      );
    },
  });
  return { aws, faults };
}

describe("faults never approve or deny; the next sweep finishes the job", () => {
  let clients: AwsClients;
  let world: StandardWorld;
  let cluster: ClusterHandle;
  let config: Config;
  let aws: AwsClientCache;
  let faults: Fault[];
  let plain: NodeInstance;
  let multi: NodeInstance;
  let alerts: AlertPublisher;
  let secret: string;

  const drain = () => drainAlerts(world.alerts);
  const state = async (name: string) => decisionConditionOf(await conditionsOf(cluster, name));
  // plain's kubelet, from the addresses AWS publishes for it.
  const legit = async () =>
    (await kubeletCsr(cluster, { node: plain.node, addresses: plain.addresses })).name;
  // plain asking for multi's IP: no kubelet makes that, so TypeScript forges it.
  const hostile = async () =>
    (await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] })).name;
  const deps = (extra: Partial<SweepDeps> = {}): SweepDeps => ({
    config,
    aws,
    alerts,
    log: memoryLog(),
    onlyClusters: ["faults"],
    ...extra,
  });

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[0]!;
    clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "faults", fillerCount: 0 });
    plain = await nodeInstance(clients, world.plain.instanceId);
    multi = await nodeInstance(clients, world.multiEni.instanceId);
    secret = await storeApproverToken(clients, cluster, "faults/token");
    config = selfManagedConfig([
      { cluster, name: "faults", vpcIds: [world.clusterVpc.vpcId], secretArn: secret },
    ]);
    ({ aws, faults } = faultyAws(handles.moto.endpoint, handles.moto.credentials));
    alerts = snsAlertPublisher({
      topicArn: world.alerts.topicArn,
      sns: aws.forRegion("us-east-1").sns,
      account: "123456789012",
    });
    await drain();
  });
  // Alerts are de-duplicated per node and reasons over the CSRs the cluster holds: each test
  // starts from a cluster without earlier tests' CSRs (files run one at a time).
  beforeEach(() => cluster.deleteCsrs());

  it("EC2 5xx on every attempt: everything waits; then the next sweep decides, one alert per denial", async () => {
    const ok = await legit();
    const bad = await hostile();
    faults.push({
      service: "ec2",
      command: "DescribeInstancesCommand",
      status: 503,
      name: "Unavailable",
      times: 99,
    });
    const first = await runSweep(deps());
    faults.length = 0;
    const outcomes = [ok, bad].map((name) => first.clusters[0]!.csrs.find((o) => o.name === name));
    expect(outcomes.map((o) => o?.action)).toEqual(["waiting", "waiting"]);
    expect(outcomes.map((o) => o?.reasons[0]?.code)).toEqual(["FACTS_UNAVAILABLE", "FACTS_UNAVAILABLE"]);
    expect([await state(ok), await state(bad)]).toEqual(["Pending", "Pending"]);
    expect(await drain()).toHaveLength(0);

    await runSweep(deps());
    expect([await state(ok), await state(bad)]).toEqual(["Approved", "Denied"]);
    const messages = await drain();
    expect(
      messages.map(
        (m) =>
          (JSON.parse(m.Body) as { metadata: { additionalContext: { csr: string } } }).metadata
            .additionalContext.csr,
      ),
    ).toEqual([bad]);
  });

  it("EC2 throttling twice: adaptive retries carry the same sweep through", async () => {
    const ok = await legit();
    aws.calls.reset();
    const throttle: Fault = {
      service: "ec2",
      command: "DescribeInstancesCommand",
      status: 400,
      name: "ThrottlingException",
      times: 2,
    };
    faults.push(throttle);
    const report = await runSweep(deps());
    faults.length = 0;
    // Both throttles were consumed by one logical call, which then went through.
    expect(throttle.times).toBe(0);
    expect(aws.calls.count("ec2", "DescribeInstances")).toBe(1);
    expect(report.clusters[0]!.csrs.find((o) => o.name === ok)?.action).toBe("approved");
    expect(await state(ok)).toBe("Approved");
  });

  it("Secrets Manager failing: the cluster is reported failed and nothing is written", async () => {
    const ok = await legit();
    faults.push({
      service: "secretsManager",
      command: "GetSecretValueCommand",
      status: 500,
      name: "InternalServiceError",
      times: 99,
    });
    const report = await runSweep(deps());
    faults.length = 0;
    expect(report.clusters[0]).toMatchObject({ cluster: "faults", status: "failed" });
    expect(await state(ok)).toBe("Pending");
    await runSweep(deps());
    expect(await state(ok)).toBe("Approved");
  });

  it("EKS DescribeCluster failing: that cluster is reported failed, the self-managed one is swept", async () => {
    const ok = await legit();
    const withEks = selfManagedConfig(
      [{ cluster, name: "faults", vpcIds: [world.clusterVpc.vpcId], secretArn: secret }],
      { eks: { discovery: true, include: [world.eksCluster.name!] } },
    );
    faults.push({
      service: "eks",
      command: "DescribeClusterCommand",
      status: 500,
      name: "ServerException",
      times: 99,
    });
    const report = await runSweep({ ...deps({ onlyClusters: [] }), config: withEks });
    faults.length = 0;
    const byName = Object.fromEntries(report.clusters.map((c) => [c.cluster, c]));
    expect(byName[world.eksCluster.name!]).toMatchObject({ status: "failed" });
    expect(byName[world.eksCluster.name!]?.error).toMatch(/DescribeCluster/);
    expect(byName["faults"]?.status).toBe("ok");
    expect(await state(ok)).toBe("Approved");
  });

  it("a rotated credential: the kept token gets a 401, is dropped, and the fresh one is used in the same sweep", async () => {
    const ok = await legit();
    const secretName = "faults/rotating-token";
    const rotating = await putSecret(clients, secretName, "stale-token-that-the-apiserver-rejects");
    const rotatingConfig = selfManagedConfig([
      { cluster, name: "faults", vpcIds: [world.clusterVpc.vpcId], secretArn: rotating },
    ]);
    const tokenCache: TokenCache = new Map();
    const sweepWithCache = async () =>
      runSweep({
        ...deps(),
        config: rotatingConfig,
        targets: await resolveClusters(
          rotatingConfig,
          { forRegion: (r) => aws.forRegion(r), tokenCache },
          memoryLog(),
        ),
      });

    const stale = await sweepWithCache();
    expect(stale.clusters[0]).toMatchObject({ status: "failed" });
    expect(stale.clusters[0]?.error).toMatch(/401|Unauthorized/);
    expect(await state(ok)).toBe("Pending");

    await clients.secretsManager.send(
      new PutSecretValueCommand({ SecretId: secretName, SecretString: cluster.approver.token! }),
    );
    // The cache still holds the stale token: one 401, then the rotated secret is read.
    const fresh = await sweepWithCache();
    expect(fresh.clusters[0]?.status).toBe("ok");
    expect(await state(ok)).toBe("Approved");
  });

  it("SNS publish failing: the denial waits (no Denied without its alert); next sweep denies with exactly one alert", async () => {
    const bad = await hostile();
    const broken: AlertPublisher = {
      publish: async () => {
        throw new Error("injected SNS failure");
      },
      publishFloodGuard: async () => {
        throw new Error("injected SNS failure");
      },
    };
    const first = await runSweep(deps({ alerts: broken }));
    expect(first.clusters[0]!.csrs.find((o) => o.name === bad)).toMatchObject({
      action: "waiting",
      decision: "wait",
    });
    expect(await state(bad)).toBe("Pending");
    await runSweep(deps());
    expect(await state(bad)).toBe("Denied");
    expect(await drain()).toHaveLength(1);
    await runSweep(deps());
    expect(await drain()).toHaveLength(0);
  });

  it("Kubernetes 5xx on the write after the alert: retried in the same sweep, so no second alert", async () => {
    const bad = await hostile();
    let failures = 1;
    const kube = (endpoint: Parameters<typeof kubeClient>[0]): KubeApi => {
      const real = kubeClient(endpoint);
      return {
        ...real,
        replaceConditions: async (read, conditions) => {
          if (failures-- > 0) throw new KubeError(503, "injected: apiserver unavailable");
          return real.replaceConditions(read, conditions);
        },
      };
    };
    await runSweep(deps({ kube }));
    expect(await state(bad)).toBe("Denied");
    expect(await drain()).toHaveLength(1);
  });

  it("Kubernetes 5xx on every write: the CSR stays pending (reported as an error) and the next sweep approves it", async () => {
    const ok = await legit();
    const kube = (endpoint: Parameters<typeof kubeClient>[0]): KubeApi => {
      const real = kubeClient(endpoint);
      return {
        ...real,
        replaceConditions: async () => {
          throw new KubeError(500, "injected: internal error");
        },
      };
    };
    const report = await runSweep(deps({ kube }));
    expect(report.clusters[0]!.csrs.find((o) => o.name === ok)?.action).toBe("error");
    expect(await state(ok)).toBe("Pending");
    await runSweep(deps());
    expect(await state(ok)).toBe("Approved");
  });

  it("a real 409: the admin changes the CSR between list and write; the approver re-reads, re-decides, keeps the admin's condition", async () => {
    const ok = await legit();
    const admin = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    let raced = false;
    const kube = (endpoint: Parameters<typeof kubeClient>[0]): KubeApi => {
      const real = kubeClient(endpoint);
      return {
        ...real,
        replaceConditions: async (read, conditions) => {
          if (!raced && read.csr.metadata.name === ok) {
            raced = true;
            const current = await admin.readCertificateSigningRequest({ name: ok });
            current.status = {
              ...current.status,
              conditions: [
                ...(current.status?.conditions ?? []),
                { type: "ReviewedByHuman", status: "True", reason: "Test" },
              ],
            };
            await admin.replaceCertificateSigningRequestApproval({ name: ok, body: current });
          }
          return real.replaceConditions(read, conditions);
        },
      };
    };
    const report = await runSweep(deps({ kube }));
    expect(raced).toBe(true);
    expect(report.clusters[0]!.csrs.find((o) => o.name === ok)?.action).toBe("approved");
    const types = (await conditionsOf(cluster, ok)).map((c) => c.type);
    expect(types).toEqual(["ReviewedByHuman", "Approved"]);
  });

  it("a 409 because someone else decided meanwhile: the approver leaves it alone", async () => {
    const bad = await hostile();
    const admin = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    const kube = (endpoint: Parameters<typeof kubeClient>[0]): KubeApi => {
      const real = kubeClient(endpoint);
      return {
        ...real,
        replaceConditions: async (read, conditions) => {
          if (read.csr.metadata.name === bad && !(read.csr.status?.conditions ?? []).length) {
            const current = await admin.readCertificateSigningRequest({ name: bad });
            current.status = {
              ...current.status,
              conditions: [{ type: "Approved", status: "True", reason: "KubectlApprove" }],
            };
            await admin.replaceCertificateSigningRequestApproval({ name: bad, body: current });
          }
          return real.replaceConditions(read, conditions);
        },
      };
    };
    const report = await runSweep(deps({ kube }));
    expect(report.clusters[0]!.csrs.find((o) => o.name === bad)?.action).toBe("skipped");
    expect((await conditionsOf(cluster, bad)).map((c) => c.reason)).toEqual(["KubectlApprove"]);
    // The alert for the hostile CSR went out before the race was lost; it is the only one.
    expect((await drain()).length).toBeLessThanOrEqual(1);
  });

  describe("an apiserver that accepts connections and never answers", () => {
    let silent: Server;
    const sockets: Socket[] = [];
    let port: number;
    beforeAll(async () => {
      silent = createServer((socket) => sockets.push(socket));
      await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
      port = (silent.address() as { port: number }).port;
    });
    // close() waits for open connections: the approver's hung ones are cut here.
    afterAll(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((r) => silent.close(() => r()));
    });

    it("times out, reports the cluster failed, and does not hold up the others", async () => {
      const ok = await legit();
      const secret = await storeApproverToken(clients, cluster, "faults/silent-token");
      const twoClusters = selfManagedConfig([
        { cluster, name: "faults", vpcIds: [world.clusterVpc.vpcId], secretArn: secret },
        {
          cluster,
          name: "silent",
          endpoint: `https://127.0.0.1:${port}`,
          vpcIds: [world.clusterVpc.vpcId],
          secretArn: secret,
        },
      ]);
      const started = Date.now();
      const report = await runSweep({
        ...deps({ onlyClusters: [] }),
        config: twoClusters,
        kube: (e) => kubeClient(e, { timeoutMs: 1500 }),
      });
      expect(Date.now() - started).toBeLessThan(15_000);
      const byName = Object.fromEntries(report.clusters.map((c) => [c.cluster, c]));
      expect(byName["silent"]).toMatchObject({ status: "failed" });
      expect(byName["silent"]?.error).toMatch(/timed out/);
      expect(byName["faults"]?.status).toBe("ok");
      expect(await state(ok)).toBe("Approved");
    });
  });
});
