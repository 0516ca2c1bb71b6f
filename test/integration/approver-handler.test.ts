// The Lambda handler as Lambda runs it: env-configured, config read from SSM (moto), the
// sweep against a rig apiserver, alerts to SNS, Powertools JSON logs and EMF metrics on
// stdout, and the EC2 "running" event opening a watch window.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Context } from "aws-lambda";
import { stringify } from "yaml";
import {
  awsClients,
  putSecureParameter,
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
  nodeInstance,
  storeApproverToken,
  type NodeInstance,
} from "../support/sweep-world.js";

type Handler = (
  event: unknown,
  context: Context,
) => Promise<{
  clusters: number;
  failedClusters: string[];
  totals: Record<string, number>;
  watched: boolean;
}>;

const context = (remainingMs: number): Context =>
  ({
    functionName: "csr-approver-prod-approver",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:csr-approver-prod-approver",
    memoryLimitInMB: "512",
    awsRequestId: "req-1",
    logGroupName: "/aws/lambda/csr-approver-prod-approver",
    logStreamName: "stream",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => remainingMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }) as Context;

const scheduled = { "detail-type": "Scheduled Event", source: "aws.events", detail: {} };
const running = (time: Date) => ({
  "detail-type": "EC2 Instance State-change Notification",
  source: "aws.ec2",
  time: time.toISOString(),
  detail: { "instance-id": "i-0123456789abcdef0", state: "running" },
});

describe("approver Lambda handler", () => {
  let clients: AwsClients;
  let world: StandardWorld;
  let cluster: ClusterHandle;
  let plain: NodeInstance;
  let multi: NodeInstance;
  let handler: Handler;
  const saved = { ...process.env };
  let stdout: string[] = [];

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[0]!;
    clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "handler", fillerCount: 0 });
    plain = await nodeInstance(clients, world.plain.instanceId);
    multi = await nodeInstance(clients, world.multiEni.instanceId);
    const secret = await storeApproverToken(clients, cluster, "handler/token");
    // Alerts are de-duplicated per node and reasons over the cluster's CSRs: start without
    // other files' CSRs (files run one at a time).
    await cluster.deleteCsrs();
    const config = {
      regions: ["us-east-1"],
      eks: { discovery: false },
      sweep: { watchWindowSeconds: 3, minRemainingMillis: 1000 },
      selfManaged: [
        {
          name: "handler-cluster",
          region: "us-east-1",
          endpoint: cluster.server,
          caData: Buffer.from(cluster.caPem).toString("base64"),
          credential: { secretsManager: secret },
          vpcIds: [world.clusterVpc.vpcId],
        },
      ],
    };
    await putSecureParameter(clients, "/csr-approver/test/config", stringify(config));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: handles.moto.endpoint,
      AWS_ACCESS_KEY_ID: handles.moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: handles.moto.credentials.secretAccessKey,
      AWS_REGION: "us-east-1",
      CONFIG_PARAMETER: "/csr-approver/test/config",
      CONFIG_FILE: "",
      ALERT_TOPIC_ARN: world.alerts.topicArn,
      POWERTOOLS_SERVICE_NAME: "csr-approver",
      POWERTOOLS_METRICS_NAMESPACE: "CsrApprover",
      // Lambda sets this in every on-demand container; Powertools reads it to report cold starts.
      AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
    });
    vi.resetModules();
    ({ handler } = (await import("../../functions/approver.js")) as unknown as { handler: Handler });
    // Powertools writes WARN and ERROR lines to stderr, the others (and EMF) to stdout; Lambda
    // sends both to the log group.
    for (const stream of [process.stdout, process.stderr]) {
      vi.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
        stdout.push(String(chunk));
        return true;
      });
    }
  });

  afterAll(() => {
    vi.restoreAllMocks();
    process.env = saved;
  });

  const jsonLines = () =>
    stdout
      .join("")
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it("a scheduled sweep approves, denies with an alert, logs each decision and emits EMF metrics", async () => {
    stdout = [];
    const ok = (await kubeletCsr(cluster, { node: plain.node, addresses: plain.addresses })).name;
    // plain asking for multi's IP: forged, no kubelet makes that request.
    const bad = (await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] })).name;

    const result = await handler(scheduled, context(60_000));
    expect(result).toMatchObject({ clusters: 1, failedClusters: [], watched: false });
    expect(decisionConditionOf(await conditionsOf(cluster, ok))).toBe("Approved");
    expect(decisionConditionOf(await conditionsOf(cluster, bad))).toBe("Denied");

    const lines = jsonLines();
    const decisionLog = lines.find((l) => l.message === "csr decision" && l.csr === bad);
    expect(decisionLog).toMatchObject({
      level: "INFO",
      service: "csr-approver",
      cluster: "handler-cluster",
      node: plain.node,
      decision: "deny",
      action: "denied",
      reasons: ["IP_NOT_OWNED"],
      function_request_id: "req-1",
    });
    const emf = lines.filter((l) => "_aws" in l && l.cluster === "handler-cluster");
    expect(emf.length).toBeGreaterThan(0);
    expect(emf[0]).toMatchObject({ service: "csr-approver" });
    expect(Number(emf[0]!.CsrApproved)).toBeGreaterThanOrEqual(1);
    expect(Number(emf[0]!.CsrDenied)).toBeGreaterThanOrEqual(1);
    expect(Number(emf[0]!.ClusterSweepFailed)).toBe(0);
    // The container's first invocation: a cold start in every log line and one ColdStart metric.
    expect(lines.filter((l) => "level" in l).every((l) => l.cold_start === true)).toBe(true);
    const coldStart = lines.filter((l) => "ColdStart" in l);
    expect(coldStart).toHaveLength(1);
    expect(coldStart[0]).toMatchObject({
      ColdStart: 1,
      service: "csr-approver",
      function_name: "csr-approver-prod-approver",
      _aws: {
        CloudWatchMetrics: [{ Namespace: "CsrApprover", Metrics: [{ Name: "ColdStart", Unit: "Count" }] }],
      },
    });
    expect(lines.some((l) => "SweepDuration" in l)).toBe(true);
    // The EC2 budget in the metrics: the calls made, no throttling, the share at its configured rate.
    const ec2 = lines.find((l) => "Ec2DescribeShare" in l);
    expect(ec2).toMatchObject({ Ec2Throttled: 0, Ec2DescribeShare: 5 });
    expect(Number(ec2!.Ec2DescribeInstancesCalls)).toBeGreaterThanOrEqual(1);
    expect(lines.find((l) => l.message === "sweep finished")).toMatchObject({ level: "INFO", failures: [] });
    const deny = (await world.alerts.receive(1)).map(
      (m) => JSON.parse(m.Body) as { metadata: { additionalContext: Record<string, string> } },
    );
    expect(deny.map((m) => m.metadata.additionalContext.csr)).toContain(bad);
  });

  it("an EC2 running event keeps watching: a CSR created in the window is approved in that invocation", async () => {
    stdout = [];
    const invocation = handler(running(new Date()), context(60_000));
    await new Promise((r) => setTimeout(r, 1000));
    const ok = (await kubeletCsr(cluster, { node: plain.node, addresses: plain.addresses })).name;
    const result = await invocation;
    expect(result.watched).toBe(true);
    expect(decisionConditionOf(await conditionsOf(cluster, ok))).toBe("Approved");
    // A warm invocation: no cold start, no ColdStart metric.
    const lines = jsonLines();
    expect(lines.filter((l) => "level" in l).length).toBeGreaterThan(0);
    expect(lines.filter((l) => "level" in l).every((l) => l.cold_start === false)).toBe(true);
    expect(lines.some((l) => "ColdStart" in l)).toBe(false);
  });

  it("logs every cluster that cannot be swept at ERROR with cluster, region, failing call and error", async () => {
    const secret = await storeApproverToken(clients, cluster, "handler/token-2");
    const config = {
      regions: ["us-east-1"],
      eks: { discovery: false, clusters: { "handler-ghost": {} } },
      selfManaged: [
        {
          name: "handler-cluster",
          region: "us-east-1",
          endpoint: cluster.server,
          caData: Buffer.from(cluster.caPem).toString("base64"),
          credential: { secretsManager: secret },
          vpcIds: [world.clusterVpc.vpcId],
        },
        {
          name: "handler-broken",
          region: "us-east-1",
          endpoint: cluster.server,
          caData: Buffer.from(cluster.caPem).toString("base64"),
          credential: { ssmParameter: "/csr-approver/test/no-such-token" },
          vpcIds: [world.clusterVpc.vpcId],
        },
      ],
    };
    await putSecureParameter(clients, "/csr-approver/test/config-failures", stringify(config));
    process.env.CONFIG_PARAMETER = "/csr-approver/test/config-failures";
    vi.resetModules();
    const fresh = (await import("../../functions/approver.js")) as unknown as { handler: Handler };
    stdout = [];
    const result = await fresh.handler(scheduled, context(60_000));
    expect(result.failedClusters.sort()).toEqual(["handler-broken", "handler-ghost"]);

    const lines = jsonLines();
    const errors = lines.filter((l) => l.level === "ERROR");
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          cluster: "handler-broken",
          region: "us-east-1",
          call: "ssm:GetParameter",
          error: expect.stringMatching(
            /^GetParameter \/csr-approver\/test\/no-such-token: ParameterNotFound/,
          ),
          function_request_id: "req-1",
        }),
        expect.objectContaining({
          cluster: "handler-ghost",
          region: "us-east-1",
          call: "eks:DescribeCluster",
          error: "EKS cluster not found in any region",
        }),
      ]),
    );
    // The summary says which clusters failed and why, at WARN.
    const summary = lines.find((l) => l.message === "sweep finished");
    expect(summary).toMatchObject({ level: "WARN", failedClusters: expect.any(Array) });
    expect((summary!.failures as { cluster: string }[]).map((f) => f.cluster).sort()).toEqual([
      "handler-broken",
      "handler-ghost",
    ]);
    // The healthy cluster was swept all the same.
    expect(lines.some((l) => l.message === "sweep finished" && l.clusters === 3)).toBe(true);
  });

  it("an event that queued past its window (a scale-up burst) sweeps once and does not hold the function", async () => {
    const started = Date.now();
    const result = await handler(running(new Date(Date.now() - 10 * 60_000)), context(60_000));
    expect(result.watched).toBe(false);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("a configuration with an unknown key fails the invocation with one line naming the key", async () => {
    await putSecureParameter(clients, "/csr-approver/test/bad-config", "eks:\n  discovry: true\n");
    process.env.CONFIG_PARAMETER = "/csr-approver/test/bad-config";
    vi.resetModules();
    const fresh = (await import("../../functions/approver.js")) as unknown as { handler: Handler };
    await expect(fresh.handler(scheduled, context(60_000))).rejects.toThrow(
      /^config: eks\.discovry: unknown key$/,
    );
  });
});
