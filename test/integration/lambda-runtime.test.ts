// The packaged zips (`npm run package`) run as Lambda runs them: the AWS Lambda Runtime
// Interface Emulator (Go module) with the Node.js runtime interface client (aws-lambda-ric)
// on Node 22, in a directory holding only the zip's files, with serverless.yml's handler
// strings; against the rig's cluster (with its real signer) and moto.
import { createServer, type Server } from "node:http";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CertificatesV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  awsClients,
  describeInstance,
  putSecureParameter,
  seedStandardWorld,
  type AwsClients,
  type StandardWorld,
} from "../rig/aws-seed.js";
import { RIG_STATE_DIR } from "../rig/build.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { awsNodeAddresses, forgeNodeCsr, startKubelet } from "../rig/kubelet.js";
import {
  EmulatedFunction,
  ensureRie,
  jsonLines,
  packageFunctions,
  serverlessHandlers,
  unzipTo,
} from "../rig/lambda.js";
import {
  alertContext,
  conditionsOf,
  decisionConditionOf,
  drainAlerts,
  storeApproverToken,
} from "../support/sweep-world.js";

const WATCH_WINDOW_SECONDS = 25;

describe("the packaged functions in the Lambda runtime emulator", () => {
  const work = join(RIG_STATE_DIR, `lambda-${process.pid}`);
  let clients: AwsClients;
  let world: StandardWorld;
  let cluster: ClusterHandle;
  let approver: EmulatedFunction;
  let notifier: EmulatedFunction;
  let zipFiles: Record<string, string[]>;
  const csrs: string[] = [];
  const posted: { headers: Record<string, unknown>; body: string }[] = [];
  let webhook: Server;
  // The denial alert the approver published (read through the topic's SQS subscription).
  let realAlert: { csr: string; body: string } | undefined;

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[0]!;
    clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "lambda", octet: 140, fillerCount: 0 });
    const secret = await storeApproverToken(clients, cluster, "lambda/approver-token");
    const configParameter = "/lambda/csr-approver/config";
    await putSecureParameter(
      clients,
      configParameter,
      JSON.stringify({
        regions: ["us-east-1"],
        eks: { discovery: false },
        sweep: { watchWindowSeconds: WATCH_WINDOW_SECONDS },
        selfManaged: [
          {
            name: "lambda-rig",
            region: "us-east-1",
            endpoint: cluster.server,
            caData: Buffer.from(cluster.caPem).toString("base64"),
            credential: { secretsManager: secret },
            vpcIds: [world.clusterVpc.vpcId],
          },
          {
            // Nothing listens there: this cluster fails, the other is still swept.
            name: "lambda-unreachable",
            region: "us-east-1",
            endpoint: "https://127.0.0.1:9",
            caData: Buffer.from(cluster.caPem).toString("base64"),
            credential: { secretsManager: secret },
            vpcIds: [world.clusterVpc.vpcId],
          },
        ],
      }),
    );

    webhook = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        posted.push({ headers: req.headers, body });
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
    const port = (webhook.address() as { port: number }).port;
    await putSecureParameter(clients, "/lambda/slack-webhook", `http://127.0.0.1:${port}/services/T0/B0/x`);

    ensureRie();
    rmSync(work, { recursive: true, force: true });
    const zips = packageFunctions(join(work, "package"));
    const handlers = serverlessHandlers();
    zipFiles = {};
    const aws = {
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: handles.moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: handles.moto.credentials.secretAccessKey,
      AWS_ENDPOINT_URL: handles.moto.endpoint,
      NODE_OPTIONS: "--enable-source-maps",
      POWERTOOLS_SERVICE_NAME: "csr-approver",
      POWERTOOLS_LOG_LEVEL: "INFO",
    };
    for (const name of ["approver", "notifier"] as const) {
      const root = join(work, name);
      mkdirSync(root, { recursive: true });
      zipFiles[name] = unzipTo(zips[name], root);
    }
    approver = await EmulatedFunction.start({
      taskRoot: join(work, "approver"),
      handler: handlers.approver!,
      functionName: "csr-approver-approver",
      env: {
        ...aws,
        ALERT_TOPIC_ARN: world.alerts.topicArn,
        CONFIG_PARAMETER: configParameter,
        POWERTOOLS_METRICS_NAMESPACE: "CsrApprover",
      },
    });
    notifier = await EmulatedFunction.start({
      taskRoot: join(work, "notifier"),
      handler: handlers.notifier!,
      functionName: "csr-approver-notifier",
      env: { ...aws, SLACK_WEBHOOK_PARAMETER: "/lambda/slack-webhook" },
    });
    await drainAlerts(world.alerts);
  }, 240_000);

  afterAll(async () => {
    await approver?.stop();
    await notifier?.stop();
    await new Promise((resolve) => webhook?.close(resolve));
    await cluster?.deleteCsrs(csrs);
    rmSync(work, { recursive: true, force: true });
  });

  it("runs only the zip's files, with serverless.yml's handlers", () => {
    expect(serverlessHandlers()).toMatchObject({
      approver: "functions/approver.handler",
      notifier: "functions/notifier.handler",
    });
    expect(zipFiles.approver).toEqual(expect.arrayContaining(["functions/approver.mjs"]));
    expect(zipFiles.approver!.every((f) => f.startsWith("functions/approver.mjs"))).toBe(true);
    expect(zipFiles.notifier!.every((f) => f.startsWith("functions/notifier.mjs"))).toBe(true);
  });

  it("a Scheduled Event sweeps: the kubelet's CSR approved (and issued), a hostile one denied; cold start, EMF and the failed cluster logged", async () => {
    const instance = await describeInstance(clients, world.plain.instanceId);
    const node = instance.PrivateDnsName!;
    const kubelet = await startKubelet(cluster, { node, addresses: awsNodeAddresses(instance) });
    csrs.push(kubelet.name);
    // Another instance's IP: forged, no kubelet makes that request.
    const hostile = await forgeNodeCsr(cluster, { node, ips: [`${world.net}.1.70`] });
    csrs.push(hostile.name);

    const first = await approver.invoke(scheduledEvent());
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ clusters: 2, failedClusters: ["lambda-unreachable"] });
    expect(decisionConditionOf(await conditionsOf(cluster, kubelet.name))).toBe("Approved");
    expect(decisionConditionOf(await conditionsOf(cluster, hostile.name))).toBe("Denied");
    expect((await kubelet.outcome).event).toBe("issued");
    const messages = await drainAlerts(world.alerts);
    const alerts = messages.map(alertContext);
    expect(alerts.filter((a) => a.csr === hostile.name).map((a) => a.decision)).toEqual(["deny"]);
    realAlert = { csr: hostile.name, body: messages[alerts.findIndex((a) => a.csr === hostile.name)]!.Body };

    // The emulator's INIT phase, then the function's own lines.
    const init = first.lines.find((l) => l.includes("INIT REPORT"));
    const initMs = Number(/durationMs: ([\d.]+)/.exec(init ?? "")?.[1]);
    expect(initMs).toBeGreaterThan(0);
    expect(initMs).toBeLessThan(10_000);
    expect(first.lines.some((l) => /^REPORT RequestId: \S+\tInit Duration: /.test(l))).toBe(true);
    const json = jsonLines(first.lines);
    const logs = json.filter((j) => typeof j.level === "string");
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.every((l) => l.cold_start === true && l.function_name === "csr-approver-approver")).toBe(
      true,
    );
    const failed = logs.find((l) => l.message === "cluster sweep failed");
    expect(failed).toMatchObject({ level: "ERROR", cluster: "lambda-unreachable" });
    expect(String(failed?.error)).toMatch(/ECONNREFUSED|connect|refused/i);
    const emf = json.filter((j) => j._aws !== undefined);
    const metricNames = emf.flatMap((d) =>
      ((d._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }).CloudWatchMetrics ?? []).flatMap(
        (m) => m.Metrics.map((x) => x.Name),
      ),
    );
    expect(metricNames).toEqual(
      expect.arrayContaining(["ColdStart", "CsrApproved", "CsrDenied", "ClusterSweepFailed"]),
    );
    const rigDoc = emf.find((d) => d.cluster === "lambda-rig");
    expect(rigDoc).toMatchObject({ CsrApproved: 1, CsrDenied: 1, ClusterSweepFailed: 0 });
    expect(emf.find((d) => d.cluster === "lambda-unreachable")).toMatchObject({ ClusterSweepFailed: 1 });

    // Warm: no INIT phase, no cold start, no ColdStart metric.
    const second = await approver.invoke(scheduledEvent());
    expect(second.status).toBe(200);
    expect(second.lines.some((l) => l.includes("INIT REPORT"))).toBe(false);
    const warm = jsonLines(second.lines);
    expect(warm.filter((j) => typeof j.level === "string").every((l) => l.cold_start === false)).toBe(true);
    expect(JSON.stringify(warm.filter((j) => j._aws !== undefined))).not.toContain('"ColdStart"');
  });

  it("an EC2 running event watches: a CSR made during the window is approved, and the time is measured", async () => {
    const instance = await describeInstance(clients, world.twinRunning.instanceId);
    const node = instance.PrivateDnsName!;
    const eventTime = new Date();
    const invocation = approver.invoke({
      version: "0",
      id: "7bf73129-1428-4cd3-a780-95db273d1602",
      "detail-type": "EC2 Instance State-change Notification",
      source: "aws.ec2",
      account: "123456789012",
      time: eventTime.toISOString(),
      region: "us-east-1",
      resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${world.twinRunning.instanceId}`],
      detail: { "instance-id": world.twinRunning.instanceId, state: "running" },
    });
    await sleep(4000); // the sweep has run; the watch is open
    const created = Date.now();
    const kubelet = await startKubelet(cluster, { node, addresses: awsNodeAddresses(instance) });
    csrs.push(kubelet.name);
    const api = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    let approvedAfter = -1;
    while (Date.now() - created < WATCH_WINDOW_SECONDS * 1000) {
      const csr = await api.readCertificateSigningRequest({ name: kubelet.name });
      if (csr.status?.conditions?.some((c) => c.type === "Approved")) {
        approvedAfter = Date.now() - created;
        break;
      }
      await sleep(100);
    }
    const outcome = await kubelet.outcome;
    const issuedAfter = Date.now() - created;
    const done = await invocation;
    console.log(
      `[lambda] watch: CSR approved ${approvedAfter} ms after the kubelet started, certificate stored after ${issuedAfter} ms; invocation ${done.millis} ms (window ${WATCH_WINDOW_SECONDS} s)`,
    );
    expect(approvedAfter).toBeGreaterThanOrEqual(0);
    expect(approvedAfter).toBeLessThan(5000);
    expect(outcome.event).toBe("issued");
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ watched: true });
    expect(
      jsonLines(done.lines).some(
        (l) => l.message === "watching clusters for new CSRs" && l.continuous === false,
      ),
    ).toBe(true);
  }, 90_000);

  it("an SNS event runs the notifier: Block Kit posted to the webhook whose URL it read from SSM", async () => {
    if (!realAlert) throw new Error("the scheduled-event test published no alert to forward");
    const first = await notifier.invoke(snsEvent(world.alerts.topicArn, realAlert.body));
    expect(first.status).toBe(200);
    expect(first.lines.some((l) => l.includes("INIT REPORT"))).toBe(true);
    expect(posted).toHaveLength(1);
    const body = JSON.parse(posted[0]!.body) as { blocks?: { type: string }[]; text?: string };
    expect(Array.isArray(body.blocks)).toBe(true);
    expect(body.blocks!.length).toBeGreaterThan(0);
    expect(body.blocks!.every((b) => typeof b.type === "string")).toBe(true);
    expect(posted[0]!.body).toContain(realAlert.csr);
    expect(posted[0]!.body).toContain("IP_NOT_OWNED");
    // The URL is a credential: no line the function printed holds it.
    expect(first.lines.join("\n")).not.toContain("/services/T0/B0/x");
  });
});

function scheduledEvent() {
  return {
    version: "0",
    id: "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: "123456789012",
    time: new Date().toISOString(),
    region: "us-east-1",
    resources: ["arn:aws:events:us-east-1:123456789012:rule/csr-approver-sweep"],
    detail: {},
  };
}

function snsEvent(topicArn: string, message: string) {
  return {
    Records: [
      {
        EventSource: "aws:sns",
        EventVersion: "1.0",
        EventSubscriptionArn: `${topicArn}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55`,
        Sns: {
          Type: "Notification",
          MessageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
          TopicArn: topicArn,
          Subject: null,
          Message: message,
          Timestamp: new Date().toISOString(),
          SignatureVersion: "1",
          Signature: "EXAMPLE",
          SigningCertUrl: "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000.pem",
          UnsubscribeUrl: "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
          MessageAttributes: {},
        },
      },
    ],
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
