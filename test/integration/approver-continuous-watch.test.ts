// The approver handler with `sweep.continuousWatch`: a scheduled invocation keeps watching
// until 5 s before the next one is due (SWEEP_SCHEDULE_SECONDS), deciding CSRs as they
// arrive; with the key off, a scheduled invocation sweeps and returns. The handler module is
// loaded as Lambda loads it (env, config from SSM in moto), once per configuration: the config
// is cached per container.
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
import { kubeletCsr } from "../rig/kubelet.js";
import {
  conditionsOf,
  decisionConditionOf,
  nodeInstance,
  storeApproverToken,
  type NodeInstance,
} from "../support/sweep-world.js";

type Handler = (event: unknown, context: Context) => Promise<{ watched: boolean; failedClusters: string[] }>;

const context = (remainingMs: number): Context =>
  ({
    functionName: "csr-approver-prod-approver",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:csr-approver-prod-approver",
    memoryLimitInMB: "512",
    awsRequestId: "req-continuous",
    logGroupName: "/aws/lambda/csr-approver-prod-approver",
    logStreamName: "stream",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => remainingMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }) as Context;

const scheduled = { "detail-type": "Scheduled Event", source: "aws.events", detail: {} };
const SCHEDULE_SECONDS = 10;

describe("approver handler: continuous watch", () => {
  let clients: AwsClients;
  let world: StandardWorld;
  let cluster: ClusterHandle;
  let plain: NodeInstance;
  let secret: string;
  const saved = { ...process.env };

  async function loadHandler(continuousWatch: boolean): Promise<Handler> {
    const parameter = `/csr-approver/test/continuous-${continuousWatch}`;
    const config = {
      regions: ["us-east-1"],
      eks: { discovery: false },
      sweep: { continuousWatch, minRemainingMillis: 1000 },
      selfManaged: [
        {
          name: "continuous-cluster",
          region: "us-east-1",
          endpoint: cluster.server,
          caData: Buffer.from(cluster.caPem).toString("base64"),
          credential: { secretsManager: secret },
          vpcIds: [world.clusterVpc.vpcId],
        },
      ],
    };
    await putSecureParameter(clients, parameter, stringify(config));
    process.env.CONFIG_PARAMETER = parameter;
    vi.resetModules();
    return ((await import("../../functions/approver.js")) as unknown as { handler: Handler }).handler;
  }

  beforeAll(async () => {
    const handles = rig();
    cluster = handles.clusters[0]!;
    clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: "continuous", fillerCount: 0 });
    plain = await nodeInstance(clients, world.plain.instanceId);
    secret = await storeApproverToken(clients, cluster, "continuous/token");
    await cluster.deleteCsrs();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: handles.moto.endpoint,
      AWS_ACCESS_KEY_ID: handles.moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: handles.moto.credentials.secretAccessKey,
      AWS_REGION: "us-east-1",
      CONFIG_FILE: "",
      ALERT_TOPIC_ARN: world.alerts.topicArn,
      POWERTOOLS_SERVICE_NAME: "csr-approver",
      POWERTOOLS_METRICS_NAMESPACE: "CsrApprover",
      SWEEP_SCHEDULE_SECONDS: String(SCHEDULE_SECONDS),
    });
    // Keep the Powertools JSON lines out of the test output.
    for (const stream of [process.stdout, process.stderr])
      vi.spyOn(stream, "write").mockImplementation(() => true);
  });

  afterAll(() => {
    vi.restoreAllMocks();
    process.env = saved;
  });

  it("a scheduled run keeps watching until 5 s before the next one and approves a CSR created meanwhile", async () => {
    const handler = await loadHandler(true);
    const started = performance.now();
    const invocation = handler(scheduled, context(60_000));
    // Well after the sweep, in the middle of the watch: only the watch can decide this CSR.
    await new Promise((r) => setTimeout(r, 2500));
    // From before the kubelet's certificate manager starts: its start-up counts against the watch.
    const created = performance.now();
    const csr = (await kubeletCsr(cluster, { node: plain.node, addresses: plain.addresses })).name;
    let approvedAfterMs: number | undefined;
    while (performance.now() - created < 4000) {
      if (decisionConditionOf(await conditionsOf(cluster, csr)) === "Approved") {
        approvedAfterMs = performance.now() - created;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const result = await invocation;
    const tookMs = performance.now() - started;
    expect(result).toMatchObject({ watched: true, failedClusters: [] });
    // Decided while the invocation was still running, within about a second.
    expect(approvedAfterMs).toBeDefined();
    expect(approvedAfterMs!).toBeLessThan(2500);
    expect(approvedAfterMs! + (created - started)).toBeLessThan(tookMs);
    // Ends 5 s before the next scheduled run (10 s): about 5 s after it started.
    expect(tookMs).toBeGreaterThan((SCHEDULE_SECONDS - 5) * 1000 - 300);
    expect(tookMs).toBeLessThan((SCHEDULE_SECONDS - 5) * 1000 + 1500);
  }, 30_000);

  it("with continuousWatch off a scheduled run sweeps and returns without watching", async () => {
    const handler = await loadHandler(false);
    const pending = (await kubeletCsr(cluster, { node: plain.node, addresses: plain.addresses })).name;
    const started = performance.now();
    const result = await handler(scheduled, context(60_000));
    const tookMs = performance.now() - started;
    expect(result).toMatchObject({ watched: false, failedClusters: [] });
    expect(decisionConditionOf(await conditionsOf(cluster, pending))).toBe("Approved");
    expect(tookMs).toBeLessThan(3000);
    // Created after the run returned: no watch is left to decide it.
    const later = (await kubeletCsr(cluster, { node: plain.node, addresses: plain.addresses })).name;
    await new Promise((r) => setTimeout(r, 1500));
    expect(decisionConditionOf(await conditionsOf(cluster, later))).toBe("Pending");
  }, 30_000);
});
