// The IAM session name on a SELF-MANAGED cluster (SPEC §3): kops or kubespray clusters that
// authenticate nodes with aws-iam-authenticator get `extra.sessionName` from the authenticator,
// and the apiserver copies the authenticated user's extra into the CSR's spec.extra (the
// client cannot set it). On every cluster kind a session name that is an instance ID vetoes a
// node name that names another instance (IDENTITY_CONFLICT); only on EKS may it identify the
// instance by itself.
//
// The rig cluster here authenticates node tokens through a small TokenReview webhook that
// answers like aws-iam-authenticator's server for a fixed table of tokens (the STS round trip
// is tested in eks-e2e.test.ts); the sweep treats the cluster as self-managed.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CertificatesV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { snsAlertPublisher } from "../../functions/sweep/publish.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { awsClients, seedStandardWorld, type StandardWorld } from "../rig/aws-seed.js";
import type { RigCluster } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { startCluster } from "../rig/index.js";
import { KUBELET_SERVING, KUBELET_USAGES, kubeletCsr } from "../rig/kubelet.js";
import { createCsrPem, toRequestField } from "../support/csr-factory.js";
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

const ACCOUNT = "123456789012";
const NODE_ROLE = `arn:aws:iam::${ACCOUNT}:role/kops-nodes`;

interface WebhookUser {
  username: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** A TokenReview webhook for a fixed token table, with aws-iam-authenticator's extra keys. */
async function startStaticWebhook(users: Map<string, WebhookUser>): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      let review: { apiVersion?: string; spec?: { token?: string } } = {};
      try {
        review = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof review;
      } catch {
        // an unreadable review is simply not authenticated
      }
      const user = users.get(review.spec?.token ?? "");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          apiVersion: review.apiVersion ?? "authentication.k8s.io/v1",
          kind: "TokenReview",
          status: user ? { authenticated: true, user } : { authenticated: false, error: "unknown token" },
        }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  return { server, url: `http://${address.address}:${address.port}/authenticate` };
}

describe("self-managed cluster: the IAM session name vetoes, never identifies", () => {
  let world: StandardWorld;
  let cluster: RigCluster;
  let webhook: { server: Server; url: string };
  let workDir: string;
  let aws: AwsClientCache;
  let secret: string;
  let plain: NodeInstance;
  let multi: NodeInstance;
  const users = new Map<string, WebhookUser>();

  /** A node token as aws-iam-authenticator would map it: user from the node name, session = instance. */
  function nodeToken(nodeName: string, sessionName: string): string {
    const token = `k8s-aws-v1.${randomBytes(24).toString("hex")}`;
    users.set(token, {
      username: `system:node:${nodeName}`,
      uid: `aws-iam-authenticator:${ACCOUNT}:AROAEXAMPLE:${sessionName}`,
      groups: ["system:nodes", "system:bootstrappers"],
      extra: {
        arn: [`arn:aws:sts::${ACCOUNT}:assumed-role/kops-nodes/${sessionName}`],
        canonicalArn: [NODE_ROLE],
        sessionName: [sessionName],
        accessKeyId: ["ASIAEXAMPLE"],
      },
    });
    return token;
  }

  /** A kubelet-serving CSR forged in TypeScript, sent with that token: the apiserver fills spec.extra. */
  async function forgedCsr(
    token: string,
    request: { node: string; dnsNames?: string[]; ips?: string[] },
  ): Promise<string> {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: "kops", server: cluster.server, caData: Buffer.from(cluster.caPem).toString("base64") },
      ],
      users: [{ name: "node", token }],
      contexts: [{ name: "kops", cluster: "kops", user: "node" }],
      currentContext: "kops",
    });
    const pem = createCsrPem({
      commonName: `system:node:${request.node}`,
      organizations: ["system:nodes"],
      dnsNames: request.dnsNames,
      ips: request.ips,
      key: { type: "ecdsa", curve: "P-256" },
    });
    const created = await kc.makeApiClient(CertificatesV1Api).createCertificateSigningRequest({
      body: {
        apiVersion: "certificates.k8s.io/v1",
        kind: "CertificateSigningRequest",
        metadata: { generateName: "csr-" },
        spec: { signerName: KUBELET_SERVING, usages: KUBELET_USAGES, request: toRequestField(pem) },
      },
    });
    return created.metadata!.name!;
  }

  beforeAll(async () => {
    const handles = rig();
    webhook = await startStaticWebhook(users);
    workDir = mkdtempSync(join(tmpdir(), "session-veto-"));
    const webhookConfig = join(workDir, "authn-webhook.kubeconfig");
    writeFileSync(
      webhookConfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "authn", cluster: { server: webhook.url } }],
        users: [{ name: "apiserver", user: {} }],
        contexts: [{ name: "webhook", context: { cluster: "authn", user: "apiserver" } }],
        "current-context": "webhook",
      }),
    );
    cluster = await startCluster({
      extraApiserverArgs: [
        `--authentication-token-webhook-config-file=${webhookConfig}`,
        "--authentication-token-webhook-version=v1",
      ],
    });
    const clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "session", octet: 70, fillerCount: 0 });
    plain = await nodeInstance(clients, world.plain.instanceId);
    multi = await nodeInstance(clients, world.multiEni.instanceId);
    secret = await storeApproverToken(clients, cluster, "session/token");
    aws = createAwsClients({ endpoint: handles.moto.endpoint, credentials: handles.moto.credentials });
    await drainAlerts(world.alerts);
  });

  afterAll(async () => {
    aws?.destroy();
    await cluster?.stop();
    await new Promise<void>((resolve) => (webhook ? webhook.server.close(() => resolve()) : resolve()));
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("denies a node name that another instance's session asks for, approves the agreeing one, waits on the session alone", async () => {
    const csr = {
      // Forged: the name and addresses are plain's; the authenticator says the caller is multi.
      vetoed: await forgedCsr(nodeToken(plain.node, multi.instanceId), {
        node: plain.node,
        dnsNames: [plain.node],
        ips: plain.privateIps,
      }),
      // Forged: a session instance ID that EC2 does not know, never an approval.
      // The same names and addresses as `vetoed`: a repeat of its alert (the repeat key
      // includes what is requested, so another target would be alerted on its own).
      unknown: await forgedCsr(nodeToken(plain.node, "i-0123456789abcdef0"), {
        node: plain.node,
        dnsNames: [plain.node],
        ips: plain.privateIps,
      }),
      // Name and session agree: multi's kubelet (its own code, AWS's Node addresses).
      agreeing: (
        await kubeletCsr(cluster, {
          node: multi.node,
          addresses: multi.addresses,
          token: nodeToken(multi.node, multi.instanceId),
        })
      ).name,
      // plain's kubelet under a custom hostname, with a session naming plain: on EKS this
      // would identify plain; outside EKS the session name alone identifies nothing.
      alone: (
        await kubeletCsr(cluster, {
          node: "worker-custom.corp.example",
          addresses: plain.addresses,
          token: nodeToken("worker-custom.corp.example", plain.instanceId),
        })
      ).name,
    };

    // The apiserver stored the authenticator's extra, not anything the client sent.
    const api = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    const stored = await api.readCertificateSigningRequest({ name: csr.vetoed });
    expect(stored.spec.username).toBe(`system:node:${plain.node}`);
    expect(stored.spec.extra?.sessionName).toEqual([multi.instanceId]);

    const report = await runSweep({
      config: selfManagedConfig([
        { cluster, name: "session-self-managed", vpcIds: [world.clusterVpc.vpcId], secretArn: secret },
      ]),
      aws,
      // A denial is written only after its alert is published.
      alerts: snsAlertPublisher({
        topicArn: world.alerts.topicArn,
        sns: aws.forRegion("us-east-1").sns,
        account: ACCOUNT,
      }),
      log: memoryLog(),
    });
    const result = report.clusters[0]!;
    expect(result).toMatchObject({ source: "self-managed", status: "ok" });
    const outcome = (name: string) => result.csrs.find((o) => o.name === name);
    const codes = (name: string) => outcome(name)?.reasons.map((r) => r.code);

    expect(outcome(csr.vetoed)).toMatchObject({ decision: "deny", action: "denied" });
    expect(codes(csr.vetoed)).toEqual(["IDENTITY_CONFLICT"]);
    expect(outcome(csr.vetoed)?.reasons[0]?.message).toContain(multi.instanceId);
    expect(outcome(csr.unknown)).toMatchObject({ decision: "deny", action: "denied" });
    expect(codes(csr.unknown)).toEqual(["IDENTITY_CONFLICT"]);
    expect(outcome(csr.agreeing)).toMatchObject({
      decision: "approve",
      action: "approved",
      instanceId: multi.instanceId,
    });
    expect(outcome(csr.alone)).toMatchObject({ decision: "wait", action: "waiting" });
    expect(codes(csr.alone)).toEqual(["INSTANCE_NOT_VISIBLE"]);

    expect(decisionConditionOf(await conditionsOf(cluster, csr.vetoed))).toBe("Denied");
    expect(decisionConditionOf(await conditionsOf(cluster, csr.unknown))).toBe("Denied");
    expect(decisionConditionOf(await conditionsOf(cluster, csr.agreeing))).toBe("Approved");
    expect(decisionConditionOf(await conditionsOf(cluster, csr.alone))).toBe("Pending");

    // Both denials come from the same node for the same reason: one alert, the other is its
    // repeat within the window (SPEC §6), recorded on the CSR.
    const alerted = (await drainAlerts(world.alerts)).map((message) => alertContext(message));
    expect(alerted).toHaveLength(1);
    expect([csr.vetoed, csr.unknown]).toContain(alerted[0]!.csr);
    expect([outcome(csr.vetoed)?.delivery, outcome(csr.unknown)?.delivery].sort()).toEqual([
      "alert",
      "repeat",
    ]);
  });
});
