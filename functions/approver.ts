// Lambda entry: the scheduled sweep, and the EC2 "instance running" event that also opens a
// short watch window. middy wires Powertools' logger (structured JSON, one line per
// decision) and metrics (EMF); everything else lives in sweep/.
//
// Failures in the log: every cluster that could not be swept is logged at ERROR where it
// failed (clusters.ts: ListClusters, DescribeCluster, credential reads and tokens, with
// cluster, region, call and error; sweep.ts: the cluster's API calls), and the "sweep
// finished" line (WARN when a cluster failed) lists each failed cluster with its region and
// error: the result an asynchronous invocation returns is thrown away by Lambda.
//
// Cold starts: Powertools reports `cold_start: true` in the logs and the `ColdStart` metric
// (dimensions service, function_name) on the first invocation of an on-demand container
// only; it reads Lambda's AWS_LAMBDA_INITIALIZATION_TYPE, so provisioned-concurrency
// containers, and any runner that does not set it, never report a cold start.
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context, EventBridgeEvent } from "aws-lambda";
import type { AuditLedger } from "./core/audit.js";
import type { Config } from "./core/config.js";
import { snsAlertPublisher, topicRegion } from "./sweep/publish.js";
import { createAwsClients } from "./sweep/aws.js";
import { resolveClusters, type TokenCache } from "./sweep/clusters.js";
import { loadConfig } from "./sweep/config-source.js";
import { Ec2Budgets } from "./sweep/ec2-budget.js";
import { DEFAULT_SWEEP } from "./core/config.js";
import type { ClusterOutcome, SweepReport } from "./sweep/report.js";
import type { ClusterSession } from "./sweep/session.js";
import { runSweep } from "./sweep/sweep.js";
import { watchClusters } from "./sweep/watch.js";

const logger = new Logger({ serviceName: "csr-approver" });
const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "CsrApprover" });
const aws = createAwsClients();
// The sweep logs through a two-argument interface; Powertools adds the Lambda context keys.
const log = {
  info: (message: string, extra: Record<string, unknown> = {}) => logger.info(message, extra),
  warn: (message: string, extra: Record<string, unknown> = {}) => logger.warn(message, extra),
  error: (message: string, extra: Record<string, unknown> = {}) => logger.error(message, extra),
};
const region = process.env.AWS_REGION ?? "us-east-1";
// Cluster tokens outlive one invocation (5 minutes at most; a 401 drops them), so a warm
// container reads each credential from Secrets Manager/SSM a few times an hour, not every minute.
const tokenCache: TokenCache = new Map();
// The audit of approvals made elsewhere writes nothing to those CSRs, so what it already
// examined is remembered here, per cluster, for the container's life (core/audit.ts).
const auditLedgers = new Map<string, AuditLedger>();
// The approver's share of EC2's DescribeInstances bucket, one per region, for the container's
// life: a throttled share stays lowered across invocations (each run configures it from config).
const ec2Budgets = new Ec2Budgets(
  DEFAULT_SWEEP.describeInstancesPerSecond,
  DEFAULT_SWEEP.describeInstancesBurst,
);

// Loaded and validated once per container; a bad document fails every invocation loudly
// (and the Errors alarm fires) instead of sweeping with a half-understood config.
let config: Promise<Config> | undefined;
function getConfig(): Promise<Config> {
  config ??= loadConfig({
    file: process.env.CONFIG_FILE,
    ssmParameter: process.env.CONFIG_PARAMETER,
    ssm: () => aws.forRegion(region).ssm,
  }).catch((err: unknown) => {
    config = undefined; // retry the load on the next invocation
    throw err;
  });
  return config;
}

type ApproverEvent =
  | EventBridgeEvent<"Scheduled Event", unknown>
  | EventBridgeEvent<"EC2 Instance State-change Notification", { "instance-id"?: string; state?: string }>
  | Record<string, unknown>;

export function isInstanceRunningEvent(event: ApproverEvent): boolean {
  const e = event as { "detail-type"?: string; detail?: { state?: string } };
  return e["detail-type"] === "EC2 Instance State-change Notification" && e.detail?.state === "running";
}

/**
 * The window closes `watchWindowSeconds` after the instance started, not after this
 * invocation started. With reserved concurrency 1, a scale-up's burst of events queues up;
 * a late event then gets what is left of its window (often nothing: an earlier watch was
 * already open when its node asked), instead of each holding the function for the full window.
 */
export function watchWindowEnd(event: ApproverEvent, watchWindowSeconds: number): number {
  const happened = Date.parse(String((event as { time?: unknown }).time ?? ""));
  const start = Number.isFinite(happened) ? Math.min(happened, Date.now()) : Date.now();
  return start + watchWindowSeconds * 1000;
}

export function isScheduledEvent(event: ApproverEvent): boolean {
  return (event as { "detail-type"?: string })["detail-type"] === "Scheduled Event";
}

/** The schedule's period (serverless.yml sets SWEEP_SCHEDULE_SECONDS from `sweepSchedule`). */
function scheduleMillis(): number {
  const seconds = Number(process.env.SWEEP_SCHEDULE_SECONDS ?? "60");
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : 60) * 1000;
}
/** A continuous watch ends this long before the next scheduled invocation is due. */
const CONTINUOUS_MARGIN_MS = 5_000;

/** A watch window's outcomes (one per batch) as one per cluster, for one EMF document each. */
function mergeByCluster(outcomes: ClusterOutcome[]): ClusterOutcome[] {
  const byCluster = new Map<string, ClusterOutcome>();
  for (const o of outcomes) {
    const seen = byCluster.get(o.cluster);
    if (!seen) {
      byCluster.set(o.cluster, { ...o, csrs: [...o.csrs], nodeFloods: [...o.nodeFloods] });
      continue;
    }
    seen.csrs.push(...o.csrs);
    seen.nodeFloods.push(...o.nodeFloods);
    seen.notExamined += o.notExamined;
    seen.alertsSent += o.alertsSent;
    seen.audited += o.audited;
    seen.auditDeferred += o.auditDeferred;
    seen.floodGuardTripped ||= o.floodGuardTripped;
    if (o.status === "failed") seen.status = "failed";
  }
  return [...byCluster.values()];
}

export interface ApproverResult {
  clusters: number;
  failedClusters: string[];
  totals: SweepReport["totals"];
  watched: boolean;
}

/**
 * When no new work may start: the Lambda's end less `minRemainingMillis` (what is left then
 * lets the writes in flight finish). middy's own signal aborts only just before the end, so
 * it is kept too, for the case the margin is configured tiny.
 */
export function deadlineOf(
  context: Pick<Context, "getRemainingTimeInMillis">,
  marginMs: number,
  handlerSignal?: AbortSignal,
): { at: number; signal: AbortSignal } {
  const left = context.getRemainingTimeInMillis() - marginMs;
  const own = AbortSignal.timeout(Math.max(0, left));
  return { at: Date.now() + left, signal: handlerSignal ? AbortSignal.any([own, handlerSignal]) : own };
}

async function approve(
  event: ApproverEvent,
  context: Context,
  opts?: { signal?: AbortSignal },
): Promise<ApproverResult> {
  const cfg = await getConfig();
  const deadline = deadlineOf(context, cfg.sweep.minRemainingMillis, opts?.signal);
  const topicArn = process.env.ALERT_TOPIC_ARN;
  const alerts = topicArn
    ? snsAlertPublisher({
        topicArn,
        // The topic's region: a central topic may be elsewhere (docs/organizations.md).
        sns: aws.forRegion(topicRegion(topicArn) ?? region).sns,
        account: accountOf(context),
      })
    : undefined;
  if (!alerts) logger.warn("ALERT_TOPIC_ARN is not set: denials will wait until alerts can be published");

  const deps = {
    config: cfg,
    aws,
    log,
    ...(alerts ? { alerts } : {}),
    deadline: deadline.signal,
    auditLedgers,
    ec2Budgets,
  };
  const targets = await resolveClusters(cfg, { forRegion: (r) => aws.forRegion(r), tokenCache }, log);
  const ec2Before = ec2Budgets.stats();
  // Event mode keeps each cluster's session, so the watch continues from this sweep's listing.
  const sessions = new Map<string, ClusterSession>();
  const report = await runSweep({ ...deps, targets, sessions });
  emitMetrics(report.clusters, report.durationMs);

  // How long to keep watching: an EC2 "running" event until watchWindowSeconds after the
  // instance started; with continuousWatch a scheduled run until shortly before the next one.
  const invokedAt = Date.now() - report.durationMs;
  const until = isInstanceRunningEvent(event)
    ? watchWindowEnd(event, cfg.sweep.watchWindowSeconds)
    : cfg.sweep.continuousWatch && isScheduledEvent(event)
      ? invokedAt + scheduleMillis() - CONTINUOUS_MARGIN_MS
      : 0;
  const windowMs = Math.min(until, deadline.at) - Date.now();
  let watched = false;
  if (windowMs > 0) {
    logger.info("watching clusters for new CSRs", { windowMs, continuous: !isInstanceRunningEvent(event) });
    const more = await watchClusters(targets.targets, { ...deps, sessions }, { windowMs });
    emitMetrics(mergeByCluster(more));
    watched = true;
  }
  const ec2After = ec2Budgets.stats();
  metrics.addMetric("Ec2DescribeInstancesCalls", MetricUnit.Count, ec2After.calls - ec2Before.calls);
  metrics.addMetric("Ec2BudgetWaitMs", MetricUnit.Milliseconds, ec2After.waitedMs - ec2Before.waitedMs);
  // AIMD made visible: throttling answers EC2 gave this invocation, and the share (calls a
  // second) the lowest region's bucket is at now (below describeInstancesPerSecond: backing off).
  metrics.addMetric("Ec2Throttled", MetricUnit.Count, ec2After.throttled - ec2Before.throttled);
  metrics.addMetric("Ec2DescribeShare", MetricUnit.CountPerSecond, ec2Budgets.currentRate());

  const failed = report.clusters.filter((c) => c.status === "failed");
  const failedClusters = failed.map((c) => c.cluster);
  (failed.length > 0 ? logger.warn : logger.info).call(logger, "sweep finished", {
    durationMs: report.durationMs,
    clusters: report.clusters.length,
    failedClusters,
    failures: failed.map((c) => ({ cluster: c.cluster, region: c.region, error: c.error ?? "" })),
    totals: report.totals,
  });
  return { clusters: report.clusters.length, failedClusters, totals: report.totals, watched };
}

/** `durationMs`: the sweep's, emitted even when there was nothing to sweep; absent for a watch. */
function emitMetrics(clusters: ClusterOutcome[], durationMs?: number): void {
  // One EMF document per cluster, with the cluster as its dimension.
  for (const c of clusters) {
    const count = (action: string) => c.csrs.filter((o) => o.action === action).length;
    metrics.addDimension("cluster", c.cluster);
    metrics.addMetric("CsrApproved", MetricUnit.Count, count("approved"));
    metrics.addMetric(
      "CsrDenied",
      MetricUnit.Count,
      count("denied") + count("would-deny") + count("left-pending"),
    );
    metrics.addMetric("CsrWaiting", MetricUnit.Count, count("waiting"));
    metrics.addMetric("CsrSkipped", MetricUnit.Count, count("skipped"));
    metrics.addMetric("CsrErrors", MetricUnit.Count, count("error"));
    metrics.addMetric("ClusterSweepFailed", MetricUnit.Count, c.status === "failed" ? 1 : 0);
    metrics.addMetric("FloodGuardTripped", MetricUnit.Count, c.floodGuardTripped ? 1 : 0);
    metrics.addMetric("CsrHeld", MetricUnit.Count, count("held") + count("flood-guarded"));
    metrics.addMetric("CsrDeferred", MetricUnit.Count, count("deferred"));
    metrics.addMetric("CsrNotExamined", MetricUnit.Count, c.notExamined);
    metrics.addMetric("NodeFloods", MetricUnit.Count, c.nodeFloods.length);
    metrics.addMetric("AlertsPublished", MetricUnit.Count, c.alertsSent);
    // The audit: approvals made elsewhere examined, and those the policy would not have made.
    metrics.addMetric("CsrApprovedElsewhere", MetricUnit.Count, c.audited);
    metrics.addMetric("CsrApprovedElsewhereViolations", MetricUnit.Count, count("approved-elsewhere"));
    metrics.publishStoredMetrics();
  }
  // Flushed by the logMetrics middleware at the end of the invocation (service dimension only).
  if (durationMs !== undefined) metrics.addMetric("SweepDuration", MetricUnit.Milliseconds, durationMs);
}

function accountOf(context: Context): string {
  // arn:aws:lambda:<region>:<account>:function:<name>
  return context.invokedFunctionArn?.split(":")[4] ?? "unknown";
}

export const handler = middy(approve)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
