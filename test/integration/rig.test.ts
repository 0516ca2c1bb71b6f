// The rig itself, against the real kube-apiserver and moto it starts: node identities,
// the approver's RBAC (infra/rbac.yaml), NodeRestriction on CSRs, and moto's EC2 answers.
import { randomBytes } from "node:crypto";
import {
  DescribeInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
  type Reservation,
} from "@aws-sdk/client-ec2";
import { DescribeClusterCommand } from "@aws-sdk/client-eks";
import { PublishCommand } from "@aws-sdk/client-sns";
import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import {
  CertificatesV1Api,
  CoreV1Api,
  type V1CertificateSigningRequest,
  type V1CertificateSigningRequestCondition,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsClients, seedStandardWorld, type StandardWorld } from "../rig/aws-seed.js";
import { rig } from "../rig/context.js";
import { startCluster } from "../rig/index.js";
import {
  KUBELET_SERVING,
  certificatesApi,
  createArbitraryCsr,
  forgeNodeCsr,
  kubeletCsr,
  type NodeAddress,
} from "../rig/kubelet.js";

const { clusters, moto, context } = rig();
const cluster = clusters[0]!;
const suffix = randomBytes(3).toString("hex");

// The clusters are shared with the other integration files: leave nothing pending behind.
afterAll(async () => {
  await cluster.deleteCsrs(createdCsrs);
  await cluster.deleteNodes(createdNodes);
});
const createdCsrs: string[] = [];
const createdNodes: string[] = [];
// The kubelet's own certificate manager (`rig kubelet`) makes these.
async function realKubeletCsr(...args: Parameters<typeof kubeletCsr>) {
  const created = await kubeletCsr(...args);
  createdCsrs.push(created.name);
  return created;
}
// SANs no kubelet would ask for: made by TypeScript.
async function forgedCsr(...args: Parameters<typeof forgeNodeCsr>) {
  const created = await forgeNodeCsr(...args);
  createdCsrs.push(created.name);
  return created;
}
// A node outside any cloud: its hostname and --node-ip (the kubelet asks for nothing without an IP).
const plainNode = (node: string, ip: string): NodeAddress[] => [
  { type: "InternalIP", address: ip },
  { type: "Hostname", address: node },
];
async function arbitraryCsr(...args: Parameters<typeof createArbitraryCsr>) {
  const created = await createArbitraryCsr(...args);
  createdCsrs.push(created.name);
  return created;
}

// Resolves with the HTTP status of a rejected Kubernetes API call (fails if it succeeded).
async function statusOf(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call;
  } catch (error) {
    const apiError = error as { code?: number; body?: unknown };
    if (typeof apiError.code !== "number") throw error;
    const body = typeof apiError.body === "string" ? apiError.body : JSON.stringify(apiError.body);
    return { code: apiError.code, message: body };
  }
  throw new Error("the call succeeded, but it should have been refused");
}

function withCondition(
  csr: V1CertificateSigningRequest,
  type: "Approved" | "Denied",
  reason: string,
): V1CertificateSigningRequest {
  const condition: V1CertificateSigningRequestCondition = {
    type,
    status: "True",
    reason,
    message: `${type} by the rig test`,
  };
  return { ...csr, status: { ...csr.status, conditions: [...(csr.status?.conditions ?? []), condition] } };
}

describe("rig start-up", () => {
  it("reports its start time and the kube-apiserver first (cold) build time, when one ran here", () => {
    const first = context.firstBuildSeconds;
    console.log(
      `[rig] start time ${context.startSeconds.toFixed(1)}s; ${
        first !== undefined
          ? `first (cold) build of kube-apiserver took ${first.toFixed(0)}s`
          : "no cold build ran in this checkout (relinked from the warm Go build cache)"
      }`,
    );
    expect(context.startSeconds).toBeGreaterThan(0);
    if (first !== undefined) expect(first).toBeGreaterThan(0);
  });

  it("runs independent clusters: each its own endpoint and client CA", async () => {
    expect(clusters.length).toBeGreaterThanOrEqual(2);
    const other = clusters[1]!;
    expect(other.server).not.toBe(cluster.server);
    expect(other.caPem).not.toBe(cluster.caPem);
    // A node certificate from cluster 1's client CA means nothing to cluster 2.
    const kc = cluster.kubeConfig(cluster.nodeCredentials(`indep-${suffix}`));
    kc.clusters[0] = {
      ...kc.clusters[0]!,
      server: other.server,
      caData: Buffer.from(other.caPem).toString("base64"),
    };
    const refused = await statusOf(kc.makeApiClient(CoreV1Api).listNode());
    expect(refused.code).toBe(401);
  });
});

describe("an extra cluster with extra kube-apiserver flags", () => {
  it("starts, honours the flag, and stops", async () => {
    const extra = await startCluster({ extraApiserverArgs: ["--service-cluster-ip-range=10.97.0.0/16"] });
    try {
      const core = extra.kubeConfig("admin").makeApiClient(CoreV1Api);
      let clusterIp: string | undefined;
      for (let attempt = 0; attempt < 60 && !clusterIp; attempt++) {
        clusterIp = await core
          .readNamespacedService({ name: "kubernetes", namespace: "default" })
          .then((service) => service.spec?.clusterIP)
          .catch(() => undefined);
        if (!clusterIp) await new Promise((resolveSleep) => setTimeout(resolveSleep, 500));
      }
      expect(clusterIp).toBe("10.97.0.1");
    } finally {
      await extra.stop();
    }
    expect(extra.running).toBe(false);
  });
});

describe("a kubelet's CSR through the real apiserver", () => {
  const node = `ip-10-0-1-70.ec2.internal`;
  let created: Awaited<ReturnType<typeof kubeletCsr>>;

  beforeAll(async () => {
    created = await realKubeletCsr(cluster, {
      node,
      addresses: plainNode(node, "10.0.1.70"),
    });
  });

  it("is listed by the approver with the kubelet-serving field selector, username and groups set by the apiserver", async () => {
    const api = certificatesApi(cluster, cluster.approver);
    const list = await api.listCertificateSigningRequest({
      fieldSelector: `spec.signerName=${KUBELET_SERVING}`,
    });
    const found = list.items.find((item) => item.metadata?.name === created.name);
    expect(created.name).toMatch(/^csr-/);
    expect(found?.spec.username).toBe(`system:node:${node}`);
    expect(found?.spec.groups).toEqual(expect.arrayContaining(["system:nodes", "system:authenticated"]));
    expect(found?.spec.usages).toEqual(["digital signature", "server auth"]);
    expect(list.items.every((item) => item.spec.signerName === KUBELET_SERVING)).toBe(true);
  });

  it("is approved by the approver through the approval subresource, and the condition is stored", async () => {
    const api = certificatesApi(cluster, cluster.approver);
    const current = await api.readCertificateSigningRequest({ name: created.name });
    await api.replaceCertificateSigningRequestApproval({
      name: created.name,
      body: withCondition(current, "Approved", "RigTestApproved"),
    });
    const stored = await cluster
      .kubeConfig("admin")
      .makeApiClient(CertificatesV1Api)
      .readCertificateSigningRequest({ name: created.name });
    const approved = stored.status?.conditions?.find((condition) => condition.type === "Approved");
    expect(approved?.status).toBe("True");
    expect(approved?.reason).toBe("RigTestApproved");
  });

  it("works the same with the approver's static bearer token", async () => {
    const second = await realKubeletCsr(cluster, { node, addresses: plainNode(node, "10.0.1.70") });
    const api = certificatesApi(cluster, cluster.approver, true);
    const current = await api.readCertificateSigningRequest({ name: second.name });
    const result = await api.replaceCertificateSigningRequestApproval({
      name: second.name,
      body: withCondition(current, "Denied", "RigTestDenied"),
    });
    expect(result.status?.conditions?.map((condition) => condition.type)).toEqual(["Denied"]);
  });

  it("a node with a static token is a node too", async () => {
    const tokenNode = cluster.identity("node-token-node-a");
    const created2 = await arbitraryCsr(cluster, {
      as: tokenNode,
      useToken: true,
      request: {
        commonName: "system:node:token-node-a",
        organizations: ["system:nodes"],
        dnsNames: ["token-node-a"],
      },
    });
    expect(created2.csr.spec.username).toBe("system:node:token-node-a");
    expect(created2.csr.spec.groups).toContain("system:nodes");
  });
});

describe("the approver's RBAC is exactly SPEC §9", () => {
  const approverApi = () => certificatesApi(cluster, cluster.approver);

  it("cannot approve a CSR of another signer: 403 from the CertificateApproval admission plugin", async () => {
    const clientCsr = await arbitraryCsr(cluster, {
      as: cluster.admin,
      request: { commonName: `someone-${suffix}`, organizations: ["team"] },
      signerName: "kubernetes.io/kube-apiserver-client",
      usages: ["digital signature", "client auth"],
    });
    const current = await approverApi().readCertificateSigningRequest({ name: clientCsr.name });
    const refused = await statusOf(
      approverApi().replaceCertificateSigningRequestApproval({
        name: clientCsr.name,
        body: withCondition(current, "Approved", "ShouldNotHappen"),
      }),
    );
    expect(refused.code).toBe(403);
    expect(refused.message).toContain("kubernetes.io/kube-apiserver-client");
  });

  it("cannot patch a node, create a secret or delete a CSR; can read nodes", async () => {
    const nodeName = `rbac-node-${suffix}`;
    createdNodes.push(nodeName);
    await cluster
      .kubeConfig("admin")
      .makeApiClient(CoreV1Api)
      .createNode({ body: { metadata: { name: nodeName } } });
    const core = cluster.kubeConfig(cluster.approver).makeApiClient(CoreV1Api);
    const read = await core.readNode({ name: nodeName });
    expect(read.metadata?.name).toBe(nodeName);
    expect((await core.listNode()).items.some((item) => item.metadata?.name === nodeName)).toBe(true);

    const patch = await statusOf(
      core.patchNode({
        name: nodeName,
        body: [{ op: "add", path: "/metadata/labels", value: { owned: "yes" } }],
      }),
    );
    expect(patch.code).toBe(403);
    const secret = await statusOf(
      core.createNamespacedSecret({ namespace: "default", body: { metadata: { name: `s-${suffix}` } } }),
    );
    expect(secret.code).toBe(403);
    const csr = await realKubeletCsr(cluster, {
      node: `victim-${suffix}`,
      addresses: plainNode(`victim-${suffix}`, "10.0.9.1"),
    });
    const deletion = await statusOf(approverApi().deleteCertificateSigningRequest({ name: csr.name }));
    expect(deletion.code).toBe(403);
    const update = await statusOf(
      approverApi().replaceCertificateSigningRequest({
        name: csr.name,
        body: { ...csr.csr, metadata: { ...csr.csr.metadata, labels: { touched: "yes" } } },
      }),
    );
    expect(update.code).toBe(403);
  });
});

describe("NodeRestriction on CSRs", () => {
  it("refuses a node creating a kubelet-serving CSR with another node's CN", async () => {
    const me = `node-a-${suffix}`;
    const refused = await statusOf(
      arbitraryCsr(cluster, {
        as: cluster.nodeCredentials(me),
        request: {
          commonName: `system:node:node-b-${suffix}`,
          organizations: ["system:nodes"],
          dnsNames: ["node-b"],
        },
      }),
    );
    expect(refused.code).toBe(403);
    expect(refused.message).toContain(`can only create a node CSR with CN=system:node:${me}`);
  });

  it("lets a node request SANs it does not own (that is the approver's job)", async () => {
    const me = `node-c-${suffix}`;
    const created = await forgedCsr(cluster, {
      node: me,
      dnsNames: ["kubernetes.default.svc"],
      ips: ["10.9.9.9"],
    });
    expect(created.csr.spec.username).toBe(`system:node:${me}`);
  });
});

describe("moto", () => {
  let world: StandardWorld;
  const clients = awsClients({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });

  beforeAll(async () => {
    world = await seedStandardWorld(clients, {
      prefix: `rig-${suffix}`,
      octet: 50 + (randomBytes(1)[0]! % 50),
      clusterToken: "the-token",
    });
  });

  // moto is shared too: terminated instances are ignored by the approver.
  afterAll(async () => {
    const seeded = [world.multiEni, world.plain, world.twinRunning, world.foreign, ...world.filler];
    await clients.ec2.send(
      new TerminateInstancesCommand({ InstanceIds: seeded.map((instance) => instance.instanceId) }),
    );
  });

  async function allInstances(filters: { Name: string; Values: string[] }[], maxResults?: number) {
    const pages: Reservation[][] = [];
    let token: string | undefined;
    do {
      const page = await clients.ec2.send(
        new DescribeInstancesCommand({ Filters: filters, MaxResults: maxResults, NextToken: token }),
      );
      pages.push(page.Reservations ?? []);
      token = page.NextToken;
    } while (token && pages.length < 50);
    return { pages, instances: pages.flat().flatMap((reservation) => reservation.Instances ?? []) };
  }

  it("answers DescribeInstances with the seeded ENIs, secondary IPs, Elastic IPs and IPv6 addresses", async () => {
    const { instances } = await allInstances([{ Name: "instance-id", Values: [world.multiEni.instanceId] }]);
    expect(instances).toHaveLength(1);
    const instance: Instance = instances[0]!;
    expect(instance.PrivateDnsName).toBe(`ip-${world.net.replace(".", "-")}-1-70.ec2.internal`);
    expect(instance.VpcId).toBe(world.clusterVpc.vpcId);
    const enis = instance.NetworkInterfaces ?? [];
    expect(enis).toHaveLength(2);
    expect(enis.every((eni) => eni.Status === "in-use")).toBe(true);
    const privateIps = enis.flatMap((eni) =>
      eni.PrivateIpAddresses?.map((address) => address.PrivateIpAddress),
    );
    const n = world.net;
    expect(privateIps.sort()).toEqual([`${n}.1.70`, `${n}.1.71`, `${n}.2.70`, `${n}.2.71`, `${n}.2.72`]);
    const publicIps = enis.flatMap((eni) =>
      (eni.PrivateIpAddresses ?? []).flatMap((address) =>
        address.Association?.PublicIp ? [address.Association.PublicIp] : [],
      ),
    );
    expect(publicIps.sort()).toEqual([...world.multiEni.publicIps].sort());
    expect(instance.PublicIpAddress).toBe(world.multiEni.publicIps[0]);
    const ipv6 = enis.flatMap((eni) => eni.Ipv6Addresses?.map((address) => address.Ipv6Address));
    expect(ipv6).toHaveLength(2);
    expect(ipv6.every((address) => address?.endsWith("::70"))).toBe(true);
  });

  it("shows the terminated twin and the running instance that reuses its private IP", async () => {
    const { instances } = await allInstances([
      { Name: "private-ip-address", Values: [world.twinIp] },
      { Name: "vpc-id", Values: [world.clusterVpc.vpcId] },
    ]);
    const states = Object.fromEntries(
      instances.map((instance) => [instance.InstanceId, instance.State?.Name]),
    );
    expect(states).toEqual({
      [world.twinTerminated.instanceId]: "terminated",
      [world.twinRunning.instanceId]: "running",
    });
  });

  it("paginates DescribeInstances with MaxResults and NextToken", async () => {
    const vpcFilter = [{ Name: "vpc-id", Values: [world.clusterVpc.vpcId] }];
    const whole = await allInstances(vpcFilter);
    const paged = await allInstances(vpcFilter, 5);
    expect(whole.instances.length).toBe(4 + world.filler.length);
    expect(paged.pages.length).toBe(Math.ceil(whole.instances.length / 5));
    expect(paged.pages[0]!.length).toBe(5);
    expect(paged.instances.map((instance) => instance.InstanceId).sort()).toEqual(
      whole.instances.map((instance) => instance.InstanceId).sort(),
    );
    expect(whole.instances.some((instance) => instance.InstanceId === world.foreign.instanceId)).toBe(false);
  });

  it("has the EKS cluster with its VPC, the alert topic feeding a queue, and the stored credentials", async () => {
    const { cluster: eks } = await clients.eks.send(
      new DescribeClusterCommand({ name: world.eksCluster.name }),
    );
    expect(eks?.resourcesVpcConfig?.vpcId).toBe(world.clusterVpc.vpcId);
    await clients.sns.send(
      new PublishCommand({
        TopicArn: world.alerts.topicArn,
        Message: '{"hello":"alerts"}',
        MessageAttributes: { cluster: { DataType: "String", StringValue: "rig-1" } },
      }),
    );
    const messages = await world.alerts.receive(1);
    expect(messages.map((message) => message.Body)).toEqual(['{"hello":"alerts"}']);
    const secret = await clients.secretsManager.send(
      new GetSecretValueCommand({ SecretId: world.secretArn }),
    );
    expect(secret.SecretString).toBe("the-token");
    const parameter = await clients.ssm.send(
      new GetParameterCommand({ Name: world.ssmParameter, WithDecryption: true }),
    );
    expect(parameter.Parameter?.Type).toBe("SecureString");
    expect(parameter.Parameter?.Value).toBe("the-token");
  });
});
