// The EKS path end to end, against real servers: one extra rig kube-apiserver that
// authenticates bearer tokens through the EKS-style TokenReview webhook
// (test/rig/eks-authn-webhook.ts), moto for STS/EKS/EC2/SNS, and the real sweep.
//
// How identity flows (as on EKS, with moto's STS standing in for AWS STS):
// - Every principal gets its credentials from moto's STS AssumeRole: the approver assumes
//   role eks-e2e-approver (session "csr-approver"), each node assumes role eks-e2e-node with
//   its instance ID as the session name, as an EC2 instance profile's session is named.
//   moto remembers each temporary access key's role and session, and its GetCallerIdentity
//   answers `arn:aws:sts::<acct>:assumed-role/<role>/<session>` with UserId
//   `<role id>:<session>` for calls signed with that key (checked below through extra.arn).
// - A token is "k8s-aws-v1." + a presigned GetCallerIdentity URL for the canonical host
//   https://sts.us-east-1.amazonaws.com, signed with the principal's temporary key and the
//   cluster name in the signed header x-k8s-aws-id (the approver's by the product,
//   functions/sweep/eks-token.ts — AWS_ENDPOINT_URL_STS points the SDK at moto and must NOT
//   leak into the token; the nodes' by the same function, as aws-iam-authenticator's client).
// - The apiserver sends each token to the webhook. The webhook checks the URL like
//   aws-iam-authenticator (only the canonical STS origin is allowed), recomputes the SigV4
//   signature with the secret of that access key and ITS OWN cluster name (moto verifies no
//   signatures; real STS would), sends the presigned request to moto in place of that host
//   (stsRoutes, motoRouting) and maps the returned ARN: the approver's role to a user in
//   csr-approver:approvers (bound by infra/rbac.yaml), each node's session ARN to
//   system:node:<PrivateDnsName> in system:nodes. Real EKS maps the node role once with
//   username system:node:{{EC2PrivateDNSName}}; this webhook has no EC2 lookup, so the test
//   writes that mapping per session. It returns extra.sessionName (the session part of the
//   UserId), which the apiserver copies into the CSR's spec.extra: the node never sends it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateRoleCommand, IAMClient } from "@aws-sdk/client-iam";
import { ListClustersCommand } from "@aws-sdk/client-eks";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import type { AwsCredentialIdentity } from "@smithy/types";
import {
  AuthenticationV1Api,
  CertificatesV1Api,
  KubeConfig,
  type V1CertificateSigningRequest,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig, type Config } from "../../functions/core/config.js";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { eksBearerToken } from "../../functions/sweep/eks-token.js";
import { snsAlertPublisher, type AlertPublisher } from "../../functions/sweep/publish.js";
import { resolveClusters } from "../../functions/sweep/clusters.js";
import type { CsrOutcome, SweepReport } from "../../functions/sweep/report.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import {
  awsClients,
  createEksCluster,
  describeInstance,
  seedStandardWorld,
  type AwsClients,
  type StandardWorld,
} from "../rig/aws-seed.js";
import type { RigCluster } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import {
  reviewToken,
  startEksAuthnWebhook,
  type EksAuthnOptions,
  type EksAuthnWebhook,
} from "../rig/eks-authn-webhook.js";
import { startCluster } from "../rig/index.js";
import { KUBELET_SERVING, KUBELET_USAGES, awsNodeAddresses, kubeletCsr } from "../rig/kubelet.js";
import type { SqsMessage } from "../rig/sqs.js";
import { createCsrPem, toRequestField } from "../support/csr-factory.js";
import {
  conditionsOf,
  decisionConditionOf,
  memoryLog,
  nodeInstance,
  type NodeInstance,
} from "../support/sweep-world.js";

const ACCOUNT = "123456789012";
const REGION = "us-east-1";
const PREFIX = "ekse2e";
const MAIN = `${PREFIX}-eks`; // seedStandardWorld's EKS cluster: the one the webhook serves
const WRONG = `${PREFIX}-wrong-id`; // same apiserver, but tokens for it name another cluster
const OUTSIDE = `outside-${PREFIX}`; // same apiserver, not matched by eks.include
const APPROVER_ROLE = `arn:aws:iam::${ACCOUNT}:role/eks-e2e-approver`;
const NODE_ROLE_NAME = "eks-e2e-node";
const NODE_ROLE = `arn:aws:iam::${ACCOUNT}:role/${NODE_ROLE_NAME}`;
const APPROVERS_GROUP = "csr-approver:approvers";
const STS_ORIGIN = `https://sts.${REGION}.amazonaws.com`;

type TempCredentials = Required<Pick<AwsCredentialIdentity, "accessKeyId" | "secretAccessKey">> & {
  sessionToken: string;
};

describe("EKS end to end: discovery, EKS tokens through the authenticator webhook, the sweep", () => {
  let clients: AwsClients;
  let moto: { endpoint: string; credentials: AwsCredentialIdentity };
  let world: StandardWorld;
  let webhook: EksAuthnWebhook;
  let cluster: RigCluster;
  let workDir: string;
  let aws: AwsClientCache;
  let approverCredentials: TempCredentials;
  let alerts: AlertPublisher;
  let plain: NodeInstance;
  let multi: NodeInstance;
  let twin: NodeInstance;
  let filler: NodeInstance;
  const credentialsBySession = new Map<string, TempCredentials>();
  const csr: Record<string, string> = {};
  const savedStsEndpoint = process.env.AWS_ENDPOINT_URL_STS;
  const webhookOptions: EksAuthnOptions = {
    clusterId: MAIN,
    stsOrigins: [],
    mappings: [],
    credentials: {},
    motoRouting: true,
  };

  async function assumeRole(roleArn: string, sessionName: string): Promise<TempCredentials> {
    const sts = new STSClient({ endpoint: moto.endpoint, region: REGION, credentials: moto.credentials });
    const { Credentials } = await sts.send(
      new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName }),
    );
    sts.destroy();
    const { AccessKeyId, SecretAccessKey, SessionToken } = Credentials ?? {};
    if (!AccessKeyId || !SecretAccessKey || !SessionToken)
      throw new Error("moto AssumeRole gave no credentials");
    // The webhook verifies SigV4 with this secret (moto does not check signatures).
    webhookOptions.credentials![AccessKeyId] = SecretAccessKey;
    return { accessKeyId: AccessKeyId, secretAccessKey: SecretAccessKey, sessionToken: SessionToken };
  }

  /** A node's credentials: the node role assumed with the instance ID as session name. */
  async function nodeSession(instance: NodeInstance, mappedNodeName: string): Promise<void> {
    const credentials = await assumeRole(NODE_ROLE, instance.instanceId);
    credentialsBySession.set(instance.instanceId, credentials);
    webhookOptions.mappings.push({
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${NODE_ROLE_NAME}/${instance.instanceId}`,
      username: `system:node:${mappedNodeName}`,
      groups: ["system:nodes"],
    });
  }

  async function nodeToken(session: string, clusterName = MAIN): Promise<string> {
    const credentials = credentialsBySession.get(session);
    if (!credentials) throw new Error(`no session ${session}`);
    return eksBearerToken({ clusterName, region: REGION, credentials });
  }

  function kubeConfigWithToken(token: string): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: "eks", server: cluster.server, caData: Buffer.from(cluster.caPem).toString("base64") },
      ],
      users: [{ name: "node", token }],
      contexts: [{ name: "eks", cluster: "eks", user: "node" }],
      currentContext: "eks",
    });
    return kc;
  }

  /** A kubelet-serving CSR forged in TypeScript, sent with a node's EKS token (session = instance ID). */
  async function kubeletCsrWithToken(
    session: string,
    request: { node: string; dnsNames?: string[]; ips?: string[] },
    clusterName = MAIN,
  ): Promise<V1CertificateSigningRequest> {
    const pem = createCsrPem({
      commonName: `system:node:${request.node}`,
      organizations: ["system:nodes"],
      dnsNames: request.dnsNames,
      ips: request.ips,
      key: { type: "ecdsa", curve: "P-256" },
    });
    const api = kubeConfigWithToken(await nodeToken(session, clusterName)).makeApiClient(CertificatesV1Api);
    return api.createCertificateSigningRequest({
      body: {
        apiVersion: "certificates.k8s.io/v1",
        kind: "CertificateSigningRequest",
        metadata: { generateName: "csr-" },
        spec: { signerName: KUBELET_SERVING, usages: KUBELET_USAGES, request: toRequestField(pem) },
      },
    });
  }

  function eksConfig(include: string[]): Config {
    return parseConfig({ regions: [REGION], eks: { discovery: true, include }, selfManaged: [] });
  }

  async function drainAlerts(): Promise<SqsMessage[]> {
    const all: SqsMessage[] = [];
    for (;;) {
      const batch = await world.alerts.receive(1);
      if (batch.length === 0) return all;
      all.push(...batch);
    }
  }

  beforeAll(async () => {
    const handles = rig();
    moto = { endpoint: handles.moto.endpoint, credentials: handles.moto.credentials };
    clients = awsClients(awsClientConfig());
    // Tokens name the real STS host; the webhook sends their requests to moto instead.
    webhookOptions.stsOrigins = [STS_ORIGIN];
    webhookOptions.stsRoutes = { [STS_ORIGIN]: moto.endpoint };

    // Real roles, so moto's UserId (<role id>:<session>) is stable across calls.
    const iam = new IAMClient({ endpoint: moto.endpoint, region: REGION, credentials: moto.credentials });
    const trust = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
    });
    for (const name of ["eks-e2e-approver", NODE_ROLE_NAME])
      await iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust }));
    iam.destroy();

    webhook = await startEksAuthnWebhook(webhookOptions);
    workDir = mkdtempSync(join(tmpdir(), "eks-e2e-"));
    const webhookConfig = join(workDir, "authn-webhook.kubeconfig");
    writeFileSync(webhookConfig, webhook.kubeconfig());
    cluster = await startCluster({
      extraApiserverArgs: [
        `--authentication-token-webhook-config-file=${webhookConfig}`,
        "--authentication-token-webhook-version=v1",
      ],
    });

    world = await seedStandardWorld(clients, {
      prefix: PREFIX,
      octet: 30,
      fillerCount: 1,
      eksEndpoint: cluster.server,
      eksCaPem: cluster.caPem,
    });
    expect(world.eksCluster.name).toBe(MAIN);
    const subnetIds = world.clusterVpc.subnets.map((s) => s.subnetId);
    for (const name of [WRONG, OUTSIDE])
      await createEksCluster(clients, { name, subnetIds, endpoint: cluster.server, caPem: cluster.caPem });

    plain = await nodeInstance(clients, world.plain.instanceId);
    multi = await nodeInstance(clients, world.multiEni.instanceId);
    twin = await nodeInstance(clients, world.twinRunning.instanceId);
    filler = await nodeInstance(clients, world.filler[0]!.instanceId);

    // The approver: its role maps to a user in the group infra/rbac.yaml binds.
    approverCredentials = await assumeRole(APPROVER_ROLE, "csr-approver");
    webhookOptions.mappings.push({
      arn: APPROVER_ROLE,
      username: "csr-approver:{{SessionName}}",
      groups: [APPROVERS_GROUP],
    });
    // Nodes, mapped to their own PrivateDnsName as EKS maps them ...
    await nodeSession(plain, plain.node);
    await nodeSession(multi, multi.node);
    await nodeSession(filler, filler.node);
    // ... except instance `twin`, whose session is mapped to instance `plain`'s node name: a
    // node name the approver must not take from the authenticator alone.
    await nodeSession(twin, plain.node);

    process.env.AWS_ENDPOINT_URL_STS = moto.endpoint;
    aws = createAwsClients({ endpoint: moto.endpoint, credentials: approverCredentials });
    alerts = snsAlertPublisher({
      topicArn: world.alerts.topicArn,
      sns: aws.forRegion(REGION).sns,
      account: ACCOUNT,
    });
    await drainAlerts();

    // Legitimate: each node's kubelet (its own certificate manager, `rig kubelet`) with the
    // Node addresses AWS publishes, authenticated with its EKS token (session = instance ID).
    csr.plain = (
      await kubeletCsr(cluster, {
        node: plain.node,
        addresses: plain.addresses,
        token: await nodeToken(plain.instanceId),
      })
    ).name;
    csr.multi = (
      await kubeletCsr(cluster, {
        node: multi.node,
        addresses: awsNodeAddresses(await describeInstance(clients, multi.instanceId), { ipv6: true }),
        token: await nodeToken(multi.instanceId),
      })
    ).name;
    // Hostile, forged in TypeScript: session says instance `twin`, the name is instance `plain`'s.
    csr.otherName = (
      await kubeletCsrWithToken(twin.instanceId, { node: plain.node, ips: plain.privateIps })
    ).metadata!.name!;
    // Session and name are instance `filler`'s, the IP is instance `plain`'s.
    csr.otherIp = (
      await kubeletCsrWithToken(filler.instanceId, { node: filler.node, ips: [plain.privateIps[0]!] })
    ).metadata!.name!;
  });

  afterAll(async () => {
    if (savedStsEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_STS;
    else process.env.AWS_ENDPOINT_URL_STS = savedStsEndpoint;
    aws?.destroy();
    await cluster?.stop();
    await webhook?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("the apiserver authenticates each node through the webhook and itself fills spec.extra.sessionName", async () => {
    const api = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    const expected: [string, string, string][] = [
      [csr.plain!, plain.node, plain.instanceId],
      [csr.multi!, multi.node, multi.instanceId],
      [csr.otherName!, plain.node, twin.instanceId],
      [csr.otherIp!, filler.node, filler.instanceId],
    ];
    for (const [name, node, session] of expected) {
      const stored = await api.readCertificateSigningRequest({ name });
      expect(stored.spec.username).toBe(`system:node:${node}`);
      expect(stored.spec.groups).toContain("system:nodes");
      expect(stored.spec.extra?.sessionName).toEqual([session]);
      // moto's STS answered with the assumed-role ARN of that session.
      expect(stored.spec.extra?.arn).toEqual([
        `arn:aws:sts::${ACCOUNT}:assumed-role/${NODE_ROLE_NAME}/${session}`,
      ]);
      expect(stored.spec.extra?.canonicalArn).toEqual([NODE_ROLE]);
    }
  });

  it("the product's EKS token for the discovered cluster names the canonical STS host despite AWS_ENDPOINT_URL_STS and authenticates as the approver", async () => {
    const { targets, failures } = await resolveClusters(eksConfig([MAIN]), aws, memoryLog());
    expect(failures).toEqual([]);
    const target = targets.find((t) => t.facts.name === MAIN);
    expect(target).toMatchObject({ source: "eks", endpoint: cluster.server });
    expect(target?.facts.vpcIds).toEqual([world.clusterVpc.vpcId]);
    const token = await target!.token();
    expect(token.startsWith("k8s-aws-v1.")).toBe(true);
    const url = new URL(Buffer.from(token.slice("k8s-aws-v1.".length), "base64url").toString("utf8"));
    expect(process.env.AWS_ENDPOINT_URL_STS).toBe(moto.endpoint); // the SDK's override is set…
    expect(url.origin).toBe(STS_ORIGIN); // …and does not reach the token
    expect(url.searchParams.get("X-Amz-Credential")?.split("/")[0]).toBe(approverCredentials.accessKeyId);

    // Who the apiserver says the bearer of that token is.
    const review = await kubeConfigWithToken(token)
      .makeApiClient(AuthenticationV1Api)
      .createSelfSubjectReview({
        body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      });
    expect(review.status?.userInfo?.username).toBe("csr-approver:csr-approver");
    expect(review.status?.userInfo?.groups).toContain(APPROVERS_GROUP);
    expect(review.status?.userInfo?.extra?.arn).toEqual([
      `arn:aws:sts::${ACCOUNT}:assumed-role/eks-e2e-approver/csr-approver`,
    ]);
  });

  it("a token minted for another cluster name fails the signature check and is refused with 401", async () => {
    const forWrong = await eksBearerToken({
      clusterName: WRONG,
      region: REGION,
      credentials: approverCredentials,
    });
    expect(await reviewToken(forWrong, webhookOptions)).toMatchObject({
      authenticated: false,
      error: expect.stringMatching(/signature does not match/),
    });

    const refused = await kubeletCsrWithToken(
      plain.instanceId,
      { node: plain.node, dnsNames: [plain.node], ips: plain.privateIps },
      WRONG,
    ).then(
      () => undefined,
      (err: unknown) => err as { code?: number },
    );
    expect(refused?.code).toBe(401);
  });

  it("the approver's sweep of a cluster its token does not name fails with 401 and writes nothing", async () => {
    const log = memoryLog();
    const report = await runSweep({ config: eksConfig([WRONG]), aws, alerts, log });
    expect(report.clusters.map((c) => c.cluster)).toEqual([WRONG]);
    const wrong = report.clusters[0]!;
    expect(wrong).toMatchObject({ source: "eks", status: "failed", csrs: [] });
    expect(wrong.error).toMatch(/Unauthorized|401/);
    for (const name of Object.values(csr))
      expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Pending");
    for (const name of Object.values(csr)) expect(await conditionsOf(cluster, name)).toEqual([]);
    expect(await drainAlerts()).toEqual([]);
  });

  it("discovery sweeps the included clusters only: approves the kubelets, denies the impostors", async () => {
    // OUTSIDE exists, leads to the same apiserver, and is not in eks.include.
    const listed = await clients.eks.send(new ListClustersCommand({}));
    expect(listed.clusters).toEqual(expect.arrayContaining([MAIN, WRONG, OUTSIDE]));

    const log = memoryLog();
    const report = await runSweep({ config: eksConfig([`${PREFIX}-*`]), aws, alerts, log });
    logReport(report);
    expect(report.clusters.map((c) => c.cluster).sort()).toEqual([MAIN, WRONG].sort());
    const byCluster = Object.fromEntries(report.clusters.map((c) => [c.cluster, c]));
    expect(byCluster[WRONG]).toMatchObject({ status: "failed", csrs: [] });
    const main = byCluster[MAIN]!;
    expect(main).toMatchObject({ source: "eks", status: "ok", mode: "enforce" });
    expect(main.csrs.map((o) => o.name).sort()).toEqual(Object.values(csr).sort());

    const outcome = (name: string): CsrOutcome | undefined => main.csrs.find((o) => o.name === name);
    const codes = (name: string) => outcome(name)?.reasons.map((r) => r.code);
    expect(outcome(csr.plain!)).toMatchObject({
      decision: "approve",
      action: "approved",
      instanceId: plain.instanceId,
    });
    expect(outcome(csr.multi!)).toMatchObject({
      decision: "approve",
      action: "approved",
      instanceId: multi.instanceId,
    });
    expect(outcome(csr.otherName!)).toMatchObject({ decision: "deny", action: "denied" });
    expect(codes(csr.otherName!)).toEqual(["IDENTITY_CONFLICT"]);
    expect(outcome(csr.otherIp!)).toMatchObject({
      decision: "deny",
      action: "denied",
      instanceId: filler.instanceId,
    });
    expect(codes(csr.otherIp!)).toEqual(["IP_NOT_OWNED"]);

    // What the apiserver stored, written with the approver's EKS token.
    for (const name of [csr.plain!, csr.multi!])
      expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Approved");
    for (const name of [csr.otherName!, csr.otherIp!]) {
      const conditions = await conditionsOf(cluster, name);
      expect(decisionConditionOf(conditions)).toBe("Denied");
      expect(conditions.find((c) => c.type === "Denied")?.message).toContain("csr-approver: denied");
    }

    // One alert per denial, naming the EKS cluster.
    const sent = (await drainAlerts()).map(
      (m) =>
        (JSON.parse(m.Body) as { metadata: { additionalContext: Record<string, string> } }).metadata
          .additionalContext,
    );
    expect(sent.map((c) => c.csr).sort()).toEqual([csr.otherName!, csr.otherIp!].sort());
    for (const context of sent) expect(context).toMatchObject({ cluster: MAIN, decision: "deny" });
  });

  describe("a self-managed cluster behind aws-iam-authenticator (kops, kubespray): credential awsIamAuthenticator", () => {
    // The same apiserver and webhook, now configured as a self-managed cluster: nothing is
    // stored in Secrets Manager or SSM; the approver signs a token for the authenticator's
    // cluster ID with its own (moto STS) role credentials.
    const selfManagedConfig = (clusterId: string): Config =>
      parseConfig({
        eks: { discovery: false },
        selfManaged: [
          {
            name: "kops-lab",
            region: REGION,
            endpoint: cluster.server,
            caData: Buffer.from(cluster.caPem).toString("base64"),
            credential: { awsIamAuthenticator: { clusterId } },
            vpcIds: [world.clusterVpc.vpcId],
          },
        ],
      });

    it("authenticates as the approver and approves a kubelet's CSR, reading no secret", async () => {
      const name = (
        await kubeletCsrWithToken(plain.instanceId, {
          node: plain.node,
          dnsNames: [plain.node],
          ips: plain.privateIps,
        })
      ).metadata!.name!;
      aws.calls.reset();
      const log = memoryLog();
      const report = await runSweep({ config: selfManagedConfig(MAIN), aws, alerts, log });
      logReport(report);
      expect(report.clusters).toHaveLength(1);
      const lab = report.clusters[0]!;
      expect(lab).toMatchObject({ cluster: "kops-lab", source: "self-managed", status: "ok" });
      expect(lab.csrs.find((o) => o.name === name)).toMatchObject({
        decision: "approve",
        action: "approved",
        instanceId: plain.instanceId,
      });
      expect(decisionConditionOf(await conditionsOf(cluster, name))).toBe("Approved");
      expect(aws.calls.count("secretsManager") + aws.calls.count("ssm")).toBe(0);
      expect(log.lines.filter((l) => l.level === "error")).toEqual([]);
    });

    it("a cluster ID other than the authenticator's fails that cluster with 401, logged at ERROR", async () => {
      const log = memoryLog();
      const report = await runSweep({ config: selfManagedConfig(WRONG), aws, alerts, log });
      expect(report.clusters[0]).toMatchObject({ cluster: "kops-lab", status: "failed", csrs: [] });
      expect(report.clusters[0]!.error).toMatch(/Unauthorized|401/);
      expect(log.lines.filter((l) => l.level === "error").map((l) => l.extra?.cluster)).toContain("kops-lab");
    });
  });
});

function logReport(report: SweepReport): void {
  const rows = report.clusters.map(
    (c) =>
      `${c.cluster}: ${c.status}${c.error ? ` (${c.error})` : ""} ${c.csrs.map((o) => o.action).join(",")}`,
  );
  console.log(`EKS sweep in ${report.durationMs} ms\n  ${rows.join("\n  ")}`);
}
