// What both bench workers build from their job file, as functions/approver.ts does per
// container: the validated config, AWS clients against moto, the SNS publisher, a counting
// Kubernetes client, and a logger that keeps warnings for the report.
import { readFileSync } from "node:fs";
import { parseConfig } from "../../functions/core/config.js";
import { createAwsClients } from "../../functions/sweep/aws.js";
import { snsAlertPublisher } from "../../functions/sweep/publish.js";
import { MOTO_CREDENTIALS } from "../../test/rig/moto.js";
import { countingKube } from "./instrument.js";
import type { WorkerJob } from "./job.js";

export function workerContext(jobFile: string) {
  const job = JSON.parse(readFileSync(jobFile, "utf8")) as WorkerJob;
  const config = parseConfig(job.config);
  const aws = createAwsClients({
    endpoint: job.moto.endpoint,
    credentials: MOTO_CREDENTIALS,
    ...(job.awsRequestTimeoutMs !== undefined ? { requestTimeoutMs: job.awsRequestTimeoutMs } : {}),
  });
  const alerts = snsAlertPublisher({
    topicArn: job.topicArn,
    sns: aws.forRegion(job.moto.region).sns,
    account: job.account,
  });
  const warnings: string[] = [];
  const keep = (message: string, extra?: Record<string, unknown>) =>
    warnings.push(`${message} ${JSON.stringify(extra ?? {})}`);
  const log = { info: () => {}, warn: keep, error: keep };
  return { job, config, aws, alerts, kube: countingKube(), warnings, log };
}
