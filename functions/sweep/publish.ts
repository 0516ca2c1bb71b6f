// Publishing alerts to SNS (SPEC §6 step 6, §7). The message itself is built by the pure
// core/alert.ts; this file only sends it. Errors propagate: the sweep turns a failed publish
// into `wait` for that CSR, because no denial may be written without its alert.
//
// API
//   publishAlert(sns, topicArn, alert) -> Promise<string | undefined>   (the SNS MessageId)
//   topicRegion(topicArn) -> string | undefined   (the region whose SNS endpoint takes it)
//   snsAlertPublisher({ topicArn, sns, account? }) -> AlertPublisher
//   type AlertPublisher
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { buildAlert, type Alert, type AlertContext } from "../core/alert.js";
import type { ClusterFacts } from "../core/types.js";

/**
 * The region of an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>). SNS takes a
 * Publish only at the topic's own regional endpoint: a central topic (docs/organizations.md)
 * may live in another region than the approver.
 */
export function topicRegion(topicArn: string): string | undefined {
  const parts = topicArn.split(":");
  if (parts.length !== 6 || parts[0] !== "arn" || parts[2] !== "sns") return undefined;
  return /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(parts[3]!) ? parts[3] : undefined;
}

export async function publishAlert(
  sns: SNSClient,
  topicArn: string,
  alert: Alert,
): Promise<string | undefined> {
  const out = await sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Message: alert.message,
      Subject: alert.subject,
      MessageAttributes: alert.attributes,
    }),
  );
  return out.MessageId;
}

export interface AlertPublisher {
  /** Builds and publishes one alert; rejects when SNS does. */
  publish(ctx: Omit<AlertContext, "account">): Promise<void>;
  /** The cluster-wide alert when maxApprovalsPerSweep held approvals back. */
  publishFloodGuard(args: {
    cluster: ClusterFacts;
    approved: number;
    held: number;
    limit: number;
    now: Date;
    dryRun?: boolean;
  }): Promise<void>;
}

export function snsAlertPublisher(options: {
  topicArn: string;
  sns: SNSClient;
  account?: string;
}): AlertPublisher {
  const send = async (ctx: Omit<AlertContext, "account">): Promise<void> => {
    const alert = buildAlert({
      ...ctx,
      ...(options.account !== undefined ? { account: options.account } : {}),
    });
    await publishAlert(options.sns, options.topicArn, alert);
  };
  return {
    publish: send,
    publishFloodGuard: ({ cluster, approved, held, limit, now, dryRun }) =>
      send({
        kind: "flood-guard",
        cluster,
        now,
        dryRun: dryRun ?? false,
        floodGuard: { approved, held, limit },
      }),
  };
}
