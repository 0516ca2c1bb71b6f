// The AWS adapters against moto: batched DescribeInstances, cluster resolution, SNS publish.
import { randomBytes } from "node:crypto";
import {
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from "@aws-sdk/client-ec2";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { PutParameterCommand } from "@aws-sdk/client-ssm";
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { resolveClusters } from "../../functions/sweep/clusters.js";
import { decodeEksToken } from "../../functions/sweep/eks-token.js";
import { describeInstancesForNodes, type NodeLookupRequest } from "../../functions/sweep/facts.js";
import { CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { buildAlert, type ChatbotNotification } from "../../functions/core/alert.js";
import { publishAlert, snsAlertPublisher } from "../../functions/sweep/publish.js";
import { rig } from "../rig/context.js";
import {
  canonicalArn,
  reviewToken,
  startEksAuthnWebhook,
  type EksAuthnOptions,
} from "../rig/eks-authn-webhook.js";
import { eksBearerToken } from "../../functions/sweep/eks-token.js";

const MOTO = rig().moto.endpoint;
const CREDS = { accessKeyId: "testing", secretAccessKey: "testing" };
const AMI = "ami-12c6146b"; // an image moto ships in every region
const suffix = randomBytes(4).toString("hex");
// A fresh /16 per run, so instances left in a shared moto by an earlier run never share names.
const octet = 100 + (randomBytes(1)[0]! % 150);

/**
 * A signed request straight to moto, for what the installed SDK clients cannot say: SQS (no
 * client installed) and an EKS cluster whose VPC moto must report (CreateCluster's input has
 * no vpcId; real EKS derives it from the subnets, moto echoes what it was given).
 */
async function motoRaw(
  service: string,
  region: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<unknown> {
  const url = new URL(MOTO);
  const request = new HttpRequest({
    method: "POST",
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path,
    headers: { host: url.host, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const signer = new SignatureV4({ credentials: CREDS, region, service, sha256: Sha256 });
  const signed = await signer.sign(request);
  const response = await fetch(`${MOTO}${path}`, {
    method: "POST",
    headers: signed.headers,
    body: signed.body as string,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${service} ${path}: ${response.status} ${text}`);
  return text === "" ? {} : JSON.parse(text);
}

const CA = Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").toString("base64");
const silentLog = { info: () => {}, warn: () => {}, error: () => {} };

let aws: AwsClientCache;
beforeAll(() => {
  aws = createAwsClients({ endpoint: MOTO, credentials: CREDS, maxAttempts: 2 });
});
afterAll(() => aws.destroy());

async function seedVpc(region: string, cidr: string): Promise<{ vpcId: string; subnetId: string }> {
  const ec2 = aws.forRegion(region).ec2;
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
  const vpcId = vpc.Vpc!.VpcId!;
  const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr }));
  return { vpcId, subnetId: subnet.Subnet!.SubnetId! };
}

/** One reservation per instance: moto pages DescribeInstances by reservation. */
async function seedInstances(region: string, subnetId: string, count: number): Promise<Instance[]> {
  const ec2 = aws.forRegion(region).ec2;
  const out: Instance[] = [];
  for (let i = 0; i < count; i += 25) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(25, count - i) }, () =>
        ec2.send(new RunInstancesCommand({ ImageId: AMI, MinCount: 1, MaxCount: 1, SubnetId: subnetId })),
      ),
    );
    for (const r of batch) out.push(...(r.Instances ?? []));
  }
  return out;
}

describe("describeInstancesForNodes (moto)", () => {
  const region = "ap-south-1";
  let seeded: Instance[];
  let vpcId: string;

  beforeAll(async () => {
    const net = await seedVpc(region, `10.${octet}.0.0/16`);
    vpcId = net.vpcId;
    seeded = await seedInstances(region, net.subnetId, 200);
  }, 300_000);

  const ours = (instances: { InstanceId?: string }[]): Set<string> => {
    const wanted = new Set(seeded.map((i) => i.InstanceId!));
    return new Set(instances.map((i) => i.InstanceId!).filter((id) => wanted.has(id)));
  };

  it("finds 200 nodes named every supported way in at most 2 DescribeInstances calls", async () => {
    expect(seeded).toHaveLength(200);
    const requests: NodeLookupRequest[] = seeded.map((instance, i) => {
      const dns = instance.PrivateDnsName!;
      expect(dns).toMatch(new RegExp(`^ip-10-${octet}-\\d+-\\d+\\.ap-south-1\\.compute\\.internal$`));
      switch (i % 4) {
        case 0:
          return { node: dns }; // full private DNS name
        case 1:
          return { node: dns.split(".")[0]! }; // Ubuntu-style short hostname
        case 2:
          return { node: instance.InstanceId! }; // node named after its instance ID
        default:
          // EKS: node named by DNS, the session names the instance
          return { node: dns.toUpperCase() + ".", sessionInstanceId: instance.InstanceId! };
      }
    });
    aws.calls.reset();
    const found = await describeInstancesForNodes(aws.forRegion(region).ec2, requests, region);
    expect(aws.calls.count("ec2", "DescribeInstances")).toBeLessThanOrEqual(2);
    expect(aws.calls.count("ec2", "DescribeInstances")).toBe(2); // one per filter kind
    expect(ours(found)).toEqual(new Set(seeded.map((i) => i.InstanceId!)));
    // Deduplicated: the session-named instances are also found by their DNS name.
    expect(new Set(found.map((i) => i.InstanceId)).size).toBe(found.length);
    // Every returned instance is one that some request could name (a superset, never random).
    const names = new Set(requests.map((r) => r.node.toLowerCase().replace(/\.$/, "")));
    for (const instance of found) {
      const dns = instance.PrivateDnsName!;
      const matches = names.has(dns) || names.has(dns.split(".")[0]!) || names.has(instance.InstanceId!);
      expect(matches, `${instance.InstanceId} ${dns}`).toBe(true);
    }
    // The SDK shapes satisfy what the policy reads.
    const sample = found.find((i) => i.InstanceId === seeded[0]!.InstanceId)!;
    expect(sample.VpcId).toBe(vpcId);
    expect(sample.State?.Name).toBe("running");
    expect(sample.NetworkInterfaces?.[0]?.PrivateIpAddresses?.[0]?.PrivateIpAddress).toBe(
      seeded[0]!.PrivateIpAddress,
    );
  });

  it("resolves a short hostname to the instance with that private DNS name", async () => {
    const target = seeded[17]!;
    const short = target.PrivateDnsName!.split(".")[0]!;
    aws.calls.reset();
    const found = await describeInstancesForNodes(aws.forRegion(region).ec2, [{ node: short }], region);
    expect(found.map((i) => i.InstanceId)).toContain(target.InstanceId);
    expect(found.every((i) => i.PrivateDnsName!.startsWith(`${short}.`))).toBe(true);
    expect(aws.calls.byCommand()["ec2:DescribeInstances"]).toEqual({ calls: 1, attempts: 1 });
  });

  it("pages through NextToken and chunks filter values", async () => {
    const requests = seeded.map((i) => ({ node: i.PrivateDnsName! }));
    aws.calls.reset();
    const found = await describeInstancesForNodes(aws.forRegion(region).ec2, requests, region, {
      chunkSize: 50,
      pageSize: 10,
    });
    expect(ours(found).size).toBe(200);
    // 4 chunks of 50 names, 5 pages of 10 each (moto pages by reservation): 20 calls.
    expect(aws.calls.count("ec2", "DescribeInstances")).toBe(20);
  });

  it("keeps terminated twins and foreign-VPC instances (no state or VPC filter)", async () => {
    const foreign = await seedVpc(region, `10.${octet + 1}.0.0/16`);
    const [other] = await seedInstances(region, foreign.subnetId, 1);
    const victim = seeded[5]!;
    await aws
      .forRegion(region)
      .ec2.send(new TerminateInstancesCommand({ InstanceIds: [victim.InstanceId!] }));
    const found = await describeInstancesForNodes(
      aws.forRegion(region).ec2,
      [{ node: victim.PrivateDnsName! }, { node: other!.InstanceId! }],
      region,
    );
    const byId = new Map(found.map((i) => [i.InstanceId!, i]));
    expect(byId.get(victim.InstanceId!)?.State?.Name).toMatch(/shutting-down|terminated/);
    expect(byId.get(other!.InstanceId!)?.VpcId).toBe(foreign.vpcId);
  });

  it("never sends a wildcard or malformed name to EC2, and makes no call for nothing", async () => {
    aws.calls.reset();
    const found = await describeInstancesForNodes(
      aws.forRegion(region).ec2,
      [{ node: "*" }, { node: "ip-10-1-*" }, { node: "a b" }, { node: "", sessionInstanceId: "not-an-id" }],
      region,
    );
    expect(found).toEqual([]);
    expect(aws.calls.count("ec2")).toBe(0);
  });

  it("propagates EC2 errors to the caller", async () => {
    const failing = createAwsClients({
      endpoint: MOTO,
      credentials: CREDS,
      maxAttempts: 1,
      configure: (service, client) => {
        if (service !== "ec2") return;
        (client.middlewareStack as unknown as { add: (m: unknown, o: unknown) => void }).add(
          () => async () => {
            throw Object.assign(new Error("Rate exceeded"), { name: "RequestLimitExceeded" });
          },
          { step: "initialize", name: "fault" },
        );
      },
    });
    await expect(
      describeInstancesForNodes(failing.forRegion(region).ec2, [{ node: "i-0123456789abcdef0" }], region),
    ).rejects.toThrow(/Rate exceeded/);
    failing.destroy();
  });

  it("honours AWS_ENDPOINT_URL without an explicit endpoint", async () => {
    const saved = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = MOTO;
    try {
      const viaEnv = createAwsClients({ credentials: CREDS, maxAttempts: 1 });
      const out = await viaEnv.forRegion(region).ec2.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: "instance-id", Values: [seeded[0]!.InstanceId!] }],
        }),
      );
      expect(out.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(seeded[0]!.InstanceId);
      viaEnv.destroy();
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
      else process.env.AWS_ENDPOINT_URL = saved;
    }
  });
});

describe("resolveClusters (moto)", () => {
  const region = "eu-north-1";
  const name = (n: string) => `h5-${suffix}-${n}`;
  const vpcs: Record<string, string> = {};

  beforeAll(async () => {
    for (const [n, tags] of [
      ["alpha", { team: "platform" }],
      ["beta", { team: "platform" }],
      ["gamma", { team: "data" }],
      ["skipme", { team: "platform" }],
      ["broken", { team: "platform" }],
    ] as const) {
      const net = await seedVpc(region, "10.90.0.0/16");
      vpcs[n] = net.vpcId;
      await motoRaw("eks", region, "/clusters", {
        name: name(n),
        roleArn: "arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig: { subnetIds: [net.subnetId], vpcId: net.vpcId },
        tags,
      });
    }
    const sm = aws.forRegion(region).secretsManager;
    await sm.send(new CreateSecretCommand({ Name: name("raw"), SecretString: "raw-token-abc\n" }));
    await sm.send(
      new CreateSecretCommand({ Name: name("json"), SecretString: '{"token":"json-token-def"}' }),
    );
    await aws.forRegion(region).ssm.send(
      new PutParameterCommand({
        Name: `/${name("ssm")}/token`,
        Value: "ssm-token-ghi",
        Type: "SecureString",
      }),
    );
  }, 120_000);

  async function secretArn(n: string): Promise<string> {
    const { DescribeSecretCommand } = await import("@aws-sdk/client-secrets-manager");
    const out = await aws
      .forRegion(region)
      .secretsManager.send(new DescribeSecretCommand({ SecretId: name(n) }));
    return out.ARN!;
  }

  it("discovers EKS clusters with globs and tags, isolates a failing DescribeCluster, adds self-managed", async () => {
    const ca = CA;
    const config = parseConfig({
      regions: [region],
      eks: {
        include: [`h5-${suffix}-*`],
        exclude: ["*-skipme"],
        tags: { team: "platform" },
        clusters: { [name("beta")]: { mode: "dry-run" } },
      },
      selfManaged: [
        {
          name: name("sm-raw"),
          region,
          endpoint: "https://10.0.0.10:6443",
          caData: ca,
          credential: { secretsManager: await secretArn("raw") },
          vpcIds: ["vpc-0abc1234def567890"],
          deny: false,
        },
        {
          name: name("sm-json"),
          region,
          endpoint: "https://10.0.0.11:6443",
          caData: ca,
          credential: { secretsManager: await secretArn("json") },
          vpcIds: ["vpc-0abc1234def567890"],
        },
        {
          name: name("sm-ssm"),
          region,
          endpoint: "https://10.0.0.12:6443",
          caData: ca,
          credential: { ssmParameter: `/${name("ssm")}/token` },
          vpcIds: ["vpc-0abc1234def567890"],
        },
      ],
    });
    // Fault injection: DescribeCluster of "broken" fails; the others must still resolve.
    const faulty = createAwsClients({
      endpoint: MOTO,
      credentials: CREDS,
      maxAttempts: 1,
      configure: (service, client) => {
        if (service !== "eks") return;
        (client.middlewareStack as unknown as { add: (m: unknown, o: unknown) => void }).add(
          (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) =>
            async (args: { input: { name?: string } }) => {
              if (context.commandName === "DescribeClusterCommand" && args.input.name === name("broken")) {
                throw Object.assign(new Error("boom"), { name: "ServerException" });
              }
              return next(args);
            },
          { step: "initialize", name: "fault" },
        );
      },
    });
    const infos: string[] = [];
    const errors: Record<string, unknown>[] = [];
    const log = {
      info: (m: string) => infos.push(m),
      warn: (m: string) => infos.push(m),
      error: (_m: string, extra: Record<string, unknown> = {}) => errors.push(extra),
    };
    const { targets, failures } = await resolveClusters(config, faulty, log);

    const eks = targets.filter((t) => t.source === "eks").map((t) => t.facts.name);
    expect(eks).toEqual([name("alpha"), name("beta")]); // gamma: tag; skipme: exclude; broken: failed
    expect(failures).toEqual([{ cluster: name("broken"), region, error: expect.stringMatching(/boom/) }]);
    expect(errors).toEqual([
      { cluster: name("broken"), region, call: "eks:DescribeCluster", error: expect.stringMatching(/boom/) },
    ]);
    expect(faulty.calls.count("eks", "ListClusters")).toBeGreaterThanOrEqual(1);
    expect(faulty.calls.count("eks", "DescribeCluster")).toBe(4); // not the excluded one

    const alpha = targets.find((t) => t.facts.name === name("alpha"))!;
    expect(alpha.facts).toEqual({ name: name("alpha"), kind: "eks", region, vpcIds: [vpcs.alpha] });
    expect(alpha.endpoint).toMatch(/^https:\/\//);
    expect(alpha.caData).toBeTruthy();
    expect(alpha.settings.mode).toBe("enforce");
    expect(targets.find((t) => t.facts.name === name("beta"))!.settings.mode).toBe("dry-run");

    const token = await alpha.token();
    const url = decodeEksToken(token);
    // The clients talk to moto; the token still names the region's real STS host.
    expect(url.origin).toBe(`https://sts.${region}.amazonaws.com`);
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("host;x-k8s-aws-id");
    expect(url.searchParams.get("X-Amz-Credential")).toMatch(
      /^testing\/\d{8}\/eu-north-1\/sts\/aws4_request$/,
    );
    // An aws-iam-authenticator-style review accepts it for this cluster only.
    const review = (clusterId: string) =>
      reviewToken(token, {
        clusterId,
        stsOrigins: [`https://sts.${region}.amazonaws.com`],
        stsRoutes: { [`https://sts.${region}.amazonaws.com`]: MOTO },
        mappings: [{ arn: "arn:aws:sts::123456789012:user/moto", username: "approver", groups: [] }],
        credentials: { [CREDS.accessKeyId]: CREDS.secretAccessKey },
        motoRouting: true,
      });
    expect(await review(name("alpha"))).toMatchObject({
      authenticated: true,
      user: { username: "approver" },
    });
    expect((await review(name("beta"))).authenticated).toBe(false);

    const selfManaged = Object.fromEntries(
      targets.filter((t) => t.source === "self-managed").map((t) => [t.facts.name, t]),
    );
    expect(Object.keys(selfManaged).sort()).toEqual([name("sm-json"), name("sm-raw"), name("sm-ssm")].sort());
    expect(await selfManaged[name("sm-raw")]!.token()).toBe("raw-token-abc");
    expect(await selfManaged[name("sm-json")]!.token()).toBe("json-token-def");
    expect(await selfManaged[name("sm-ssm")]!.token()).toBe("ssm-token-ghi");
    expect(selfManaged[name("sm-raw")]!.settings.deny).toBe(false);
    expect(selfManaged[name("sm-raw")]!.caData).toBe(ca);
    expect(selfManaged[name("sm-raw")]!.facts.vpcIds).toEqual(["vpc-0abc1234def567890"]);
    // Reused within one invocation: a second call reads nothing new.
    const before = faulty.calls.count("secretsManager", "GetSecretValue");
    await selfManaged[name("sm-raw")]!.token();
    expect(faulty.calls.count("secretsManager", "GetSecretValue")).toBe(before);
    faulty.destroy();
  });

  it("a missing self-managed secret fails only that cluster's token", async () => {
    const config = parseConfig({
      regions: [region],
      eks: { discovery: false },
      selfManaged: [
        {
          name: name("sm-missing"),
          region,
          endpoint: "https://10.0.0.13:6443",
          caData: CA,
          credential: { ssmParameter: `/${name("nope")}/token` },
          vpcIds: ["vpc-0abc1234def567890"],
        },
      ],
    });
    const { targets, failures } = await resolveClusters(config, aws, silentLog);
    expect(failures).toEqual([]);
    expect(targets).toHaveLength(1);
    await expect(targets[0]!.token()).rejects.toThrow(/ParameterNotFound|not found/i);
  });

  it("without discovery describes only the named EKS clusters and reports unknown ones", async () => {
    const config = parseConfig({
      regions: [region, "eu-west-3"],
      eks: { discovery: false, clusters: { [name("gamma")]: {}, [name("ghost")]: {} } },
    });
    aws.calls.reset();
    const { targets, failures } = await resolveClusters(config, aws, silentLog);
    expect(targets.map((t) => `${t.facts.name}@${t.facts.region}`)).toEqual([`${name("gamma")}@${region}`]);
    expect(failures).toEqual([
      { cluster: name("ghost"), region: `${region},eu-west-3`, error: expect.any(String) },
    ]);
    expect(aws.calls.count("eks", "ListClusters")).toBe(0);
  });
});

describe("publishAlert (moto SNS -> SQS)", () => {
  const region = "eu-west-2";
  let topicArn: string;
  let queueUrl: string;

  const sqs = (action: string, body: Record<string, unknown>) =>
    motoRaw("sqs", region, "/", body, {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": `AmazonSQS.${action}`,
    }) as Promise<Record<string, unknown>>;

  async function receiveAll(expected: number): Promise<{ Body: string }[]> {
    const got: { Body: string }[] = [];
    for (let i = 0; i < 20 && got.length < expected; i++) {
      const out = await sqs("ReceiveMessage", {
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      });
      got.push(...((out.Messages as { Body: string }[] | undefined) ?? []));
    }
    return got;
  }

  beforeAll(async () => {
    const sns = aws.forRegion(region).sns;
    topicArn = (await sns.send(new CreateTopicCommand({ Name: `h5-alerts-${suffix}` }))).TopicArn!;
    queueUrl = (await sqs("CreateQueue", { QueueName: `h5-alerts-${suffix}` })).QueueUrl as string;
    const attrs = await sqs("GetQueueAttributes", { QueueUrl: queueUrl, AttributeNames: ["QueueArn"] });
    const queueArn = (attrs.Attributes as Record<string, string>).QueueArn!;
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: "sqs", Endpoint: queueArn }));
  });

  it("delivers the Chatbot notification and the filterable attributes", async () => {
    const decision = {
      name: "csr-abc12",
      decision: "deny" as const,
      node: "ip-10-0-1-70.eu-west-2.compute.internal",
      requester: "system:node:ip-10-0-1-70.eu-west-2.compute.internal",
      reasons: [{ code: "INSTANCE_NOT_FOUND" as const, message: "no instance is named ip-10-0-1-70" }],
      requestedSans: { dnsNames: ["ip-10-0-1-70.eu-west-2.compute.internal"], ips: ["10.0.1.70"], other: [] },
    };
    const cluster = { name: "prod-2", kind: "eks" as const, region, vpcIds: ["vpc-1"] };
    const alert = buildAlert({
      kind: "denied",
      cluster,
      decision,
      dryRun: false,
      now: new Date(),
      account: "123456789012",
    });
    aws.calls.reset();
    const id = await publishAlert(aws.forRegion(region).sns, topicArn, alert);
    expect(id).toBeTruthy();
    expect(aws.calls.count("sns", "Publish")).toBe(1);

    const [received] = await receiveAll(1);
    expect(received).toBeDefined();
    const envelope = JSON.parse(received!.Body) as {
      Type: string;
      Message: string;
      Subject?: string;
      MessageAttributes: Record<string, { Type: string; Value: string }>;
    };
    expect(envelope.Type).toBe("Notification");
    expect(envelope.Message).toBe(alert.message);
    expect(envelope.Subject).toBe(alert.subject);
    expect(envelope.MessageAttributes.cluster).toEqual({ Type: "String", Value: "prod-2" });
    expect(envelope.MessageAttributes.decision).toEqual({ Type: "String", Value: "deny" });
    expect(envelope.MessageAttributes.reason).toEqual({ Type: "String", Value: "INSTANCE_NOT_FOUND" });
    const n = JSON.parse(envelope.Message) as ChatbotNotification;
    expect(n.source).toBe("custom");
    expect(n.metadata.additionalContext).toMatchObject({
      account: "123456789012",
      csr: "csr-abc12",
      decision: "deny",
    });
  });

  it("the publisher sends decision and flood-guard alerts", async () => {
    const publisher = snsAlertPublisher({
      topicArn,
      sns: aws.forRegion(region).sns,
      account: "123456789012",
    });
    const cluster = { name: "prod-3", kind: "self-managed" as const, region, vpcIds: ["vpc-1"] };
    await publisher.publish({
      kind: "would-deny",
      decision: { name: "csr-x", decision: "deny", reasons: [{ code: "NOT_A_NODE", message: "not a node" }] },
      cluster,
      dryRun: true,
      now: new Date(),
    });
    await publisher.publishFloodGuard({ cluster, approved: 5, held: 2, limit: 5, now: new Date() });
    const received = await receiveAll(2);
    const kinds = received.map(
      (m) =>
        (JSON.parse(m.Body) as { MessageAttributes: Record<string, { Value: string }> }).MessageAttributes,
    );
    expect(kinds.map((k) => k.alertKind!.Value).sort()).toEqual(["flood-guard", "would-deny"]);
    expect(kinds.find((k) => k.alertKind!.Value === "flood-guard")!.reason!.Value).toBe("FLOOD_GUARD");
  });

  it("propagates a publish failure (unknown topic)", async () => {
    const alert = buildAlert({
      kind: "flood-guard",
      cluster: { name: "c", kind: "eks", region, vpcIds: [] },
      dryRun: false,
      now: new Date(),
      floodGuard: { approved: 1, held: 1, limit: 1 },
    });
    await expect(
      publishAlert(
        aws.forRegion(region).sns,
        `arn:aws:sns:${region}:123456789012:does-not-exist-${suffix}`,
        alert,
      ),
    ).rejects.toThrow();
  });
});

describe("EKS token authenticator webhook (rig) with tokens from eksBearerToken", () => {
  const region = "eu-central-1";
  const STS = `https://sts.${region}.amazonaws.com`;
  const options = (): EksAuthnOptions => ({
    clusterId: "rig-eks",
    stsOrigins: [STS],
    stsRoutes: { [STS]: MOTO },
    // moto's GetCallerIdentity for any key: the user "moto" of account 123456789012
    mappings: [
      { arn: "arn:aws:sts::123456789012:user/moto", username: "csr-approver", groups: ["csr-approvers"] },
    ],
    credentials: { [CREDS.accessKeyId]: CREDS.secretAccessKey },
    motoRouting: true,
  });
  const mint = (clusterName: string, now?: Date) =>
    eksBearerToken({ clusterName, region, credentials: CREDS, ...(now ? { now } : {}) });

  it("authenticates a token minted for this cluster and maps the caller", async () => {
    const status = await reviewToken(await mint("rig-eks"), options());
    expect(status.error).toBeUndefined();
    expect(status.authenticated).toBe(true);
    expect(status.user).toMatchObject({ username: "csr-approver", groups: ["csr-approvers"] });
  });

  it("rejects a token minted for another cluster, an old one, and tampered ones", async () => {
    expect(await reviewToken(await mint("other-cluster"), options())).toMatchObject({
      authenticated: false,
      error: expect.stringMatching(/signature/),
    });
    const old = await mint("rig-eks", new Date(Date.now() - 16 * 60_000));
    expect(await reviewToken(old, options())).toMatchObject({
      authenticated: false,
      error: expect.stringMatching(/expired/),
    });

    const url = new URL(
      Buffer.from((await mint("rig-eks")).slice("k8s-aws-v1.".length), "base64url").toString(),
    );
    const encode = (u: URL) => "k8s-aws-v1." + Buffer.from(u.toString()).toString("base64url");
    const extra = new URL(url);
    extra.searchParams.set("x-k8s-aws-id", "rig-eks");
    expect((await reviewToken(encode(extra), options())).error).toMatch(/non-whitelisted/);
    const action = new URL(url);
    action.searchParams.set("Action", "AssumeRole");
    expect((await reviewToken(encode(action), options())).error).toMatch(/action/);
    const foreign = new URL(url.toString().replace(STS, "https://sts.evil.example"));
    expect((await reviewToken(encode(foreign), options())).error).toMatch(/origin/);
    // A token naming the endpoint the SDK was pointed at (moto here, a VPC endpoint's DNS name
    // in a real VPC) is refused like aws-iam-authenticator's "unexpected hostname".
    const overridden = new URL(url.toString().replace(STS, new URL(MOTO).origin));
    expect((await reviewToken(encode(overridden), options())).error).toMatch(/origin/);
    expect((await reviewToken("k8s-aws-v1.!!", options())).authenticated).toBe(false);
    expect((await reviewToken("Bearer abc", options())).authenticated).toBe(false);
  });

  it("serves TokenReview over HTTP with a kubeconfig for kube-apiserver", async () => {
    const webhook = await startEksAuthnWebhook(options());
    try {
      const kubeconfig = JSON.parse(webhook.kubeconfig()) as { clusters: { cluster: { server: string } }[] };
      expect(kubeconfig.clusters[0]!.cluster.server).toBe(webhook.url);
      const review = async (token: string) =>
        (await (
          await fetch(webhook.url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              apiVersion: "authentication.k8s.io/v1",
              kind: "TokenReview",
              spec: { token },
            }),
          })
        ).json()) as { kind: string; status: { authenticated: boolean; user?: { username: string } } };
      const ok = await review(await mint("rig-eks"));
      expect(ok.kind).toBe("TokenReview");
      expect(ok.status).toMatchObject({ authenticated: true, user: { username: "csr-approver" } });
      expect((await review(await mint("nope"))).status.authenticated).toBe(false);
    } finally {
      await webhook.close();
    }
  });

  it("canonicalises assumed-role ARNs like aws-iam-authenticator", () => {
    expect(canonicalArn("arn:aws:sts::111122223333:assumed-role/approver/i-0abc")).toBe(
      "arn:aws:iam::111122223333:role/approver",
    );
    expect(canonicalArn("arn:aws:iam::111122223333:user/alice")).toBe("arn:aws:iam::111122223333:user/alice");
  });
});
