// Lambda entry: the Slack notifier. Subscribed to the alert topic, it reads each SNS message
// at the edge (the approver's Chatbot notifications checked against the alert contract,
// CloudWatch alarms, anything else), renders it as Block Kit and posts it to an incoming
// webhook. When any record could not be delivered the invocation fails at the end, so
// Lambda's async retries (and then the DLQ) take over.
//
// Pacing: Slack takes about one message per second per webhook. The function runs with
// reserved concurrency 1 (serverless.yml), so SNS deliveries beyond it wait in Lambda's
// async queue (retried on throttle up to maximumEventAge) instead of racing each other, and
// one pacer per container spaces every post and retry by SLACK_WEBHOOK_INTERVAL_MS and
// honours a 429's Retry-After, across warm invocations. A message is never dropped: one that
// cannot be posted in time fails the invocation.
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { Context, SNSEvent } from "aws-lambda";
import { readInbound, renderInbound } from "./notify/blocks.js";
import { createPacer, SLACK_WEBHOOK_INTERVAL_MS, type Pacer } from "./notify/pacer.js";
import { postToWebhook, scrub, type PostOptions } from "./notify/webhook.js";
import {
  awsWebhookUrlGetter,
  cachedGetter,
  sourceFromEnv,
  type WebhookUrlGetter,
} from "./notify/webhook-url.js";

export interface NotifierLog {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export interface NotifierDeps {
  getWebhookUrl: WebhookUrlGetter & { invalidate?: () => void };
  log: NotifierLog;
  post?: Partial<PostOptions>;
  /** Spaces the posts; the container-wide SLACK_PACER unless given. */
  pacer?: Pacer;
}

export interface NotifierResult {
  delivered: number;
  failed: number;
}

export class DeliveryError extends Error {
  override name = "DeliveryError";
}

/** One per container: with reserved concurrency 1, every post of the function goes through it. */
export const SLACK_PACER: Pacer = createPacer(SLACK_WEBHOOK_INTERVAL_MS);

/** Slack answers these when the webhook itself is gone: the URL may have been rotated. */
const WEBHOOK_GONE = new Set([403, 404, 410]);

export function createNotifier(deps: NotifierDeps) {
  return async (
    event: SNSEvent,
    context?: Pick<Context, "getRemainingTimeInMillis">,
  ): Promise<NotifierResult> => {
    const records = event.Records ?? [];
    let url: string;
    try {
      url = await deps.getWebhookUrl();
    } catch (error) {
      // Config and AWS errors name the secret or parameter, never its value.
      deps.log.error("cannot read the Slack webhook URL", {
        error: errorText(error),
        records: records.length,
      });
      throw new DeliveryError(`no Slack webhook URL: ${errorText(error)}`);
    }

    let delivered = 0;
    const failures: string[] = [];
    for (const record of records) {
      const messageId = record.Sns?.MessageId;
      const inbound = readInbound(record.Sns?.Message ?? "");
      if (inbound.kind === "notification") {
        // Rendered all the same, from what it holds: an approver of another version, or a
        // producer of its own, should not cost the channel its alert.
        deps.log.warn("alert message does not match the alert contract", {
          messageId,
          problem: inbound.problem,
        });
      }
      const message = renderInbound(inbound, record.Sns?.Subject ?? undefined);
      const result = await postToWebhook(url, message, {
        pacer: deps.pacer ?? SLACK_PACER,
        ...deps.post,
        ...(context ? { remainingMillis: () => context.getRemainingTimeInMillis() } : {}),
      });
      if (result.ok) {
        delivered++;
        deps.log.info("alert delivered to Slack", { messageId, attempts: result.attempts.length });
        continue;
      }
      failures.push(messageId ?? "?");
      const last = result.attempts[result.attempts.length - 1];
      if (last && WEBHOOK_GONE.has(last.status)) deps.getWebhookUrl.invalidate?.();
      deps.log.error("alert NOT delivered to Slack", {
        messageId,
        reason: scrub(result.reason, url),
        retryable: result.retryable,
        attempts: result.attempts,
        blocks: message.blocks.length,
      });
    }
    if (failures.length > 0) {
      throw new DeliveryError(
        `${failures.length} of ${records.length} alert(s) not delivered: ${failures.join(", ")}`,
      );
    }
    return { delivered, failed: 0 };
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "csr-approver" });

export const handler = middy(
  createNotifier({
    getWebhookUrl: cachedGetter(awsWebhookUrlGetter(sourceFromEnv())),
    log: {
      info: (message, extra = {}) => logger.info(message, extra),
      warn: (message, extra = {}) => logger.warn(message, extra),
      error: (message, extra = {}) => logger.error(message, extra),
    },
  }),
).use(injectLambdaContext(logger));
