// Where the Slack webhook URL comes from: a Secrets Manager secret or an SSM SecureString,
// read once per container and cached. The URL is a credential: it is returned to the
// caller and nowhere else (no log line, no error message contains it).
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";

export type WebhookUrlGetter = () => Promise<string>;

export class WebhookConfigError extends Error {
  override name = "WebhookConfigError";
}

export interface WebhookSource {
  secretArn?: string | undefined;
  parameterName?: string | undefined;
}

/** The source named by the notifier's environment (SLACK_WEBHOOK_SECRET_ARN / _PARAMETER). */
export function sourceFromEnv(env: NodeJS.ProcessEnv = process.env): WebhookSource {
  const secretArn = env.SLACK_WEBHOOK_SECRET_ARN?.trim() || undefined;
  const parameterName = env.SLACK_WEBHOOK_PARAMETER?.trim() || undefined;
  return { secretArn, parameterName };
}

/** Reads the URL from AWS; one SDK call per container (see cachedGetter). */
export function awsWebhookUrlGetter(source: WebhookSource): WebhookUrlGetter {
  if (source.secretArn && source.parameterName) {
    throw new WebhookConfigError("set one of SLACK_WEBHOOK_SECRET_ARN and SLACK_WEBHOOK_PARAMETER, not both");
  }
  if (source.secretArn) {
    const secretArn = source.secretArn;
    // The secret may live in another region than the function: its ARN says which.
    const region = /^arn:[^:]+:secretsmanager:([^:]+):/.exec(secretArn)?.[1];
    const client = new SecretsManagerClient(region ? { region } : {});
    return async () => {
      const result = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
      return parseWebhookUrl(result.SecretString, `secret ${secretArn}`);
    };
  }
  if (source.parameterName) {
    const name = source.parameterName;
    const region = /^arn:[^:]+:ssm:([^:]+):/.exec(name)?.[1];
    const client = new SSMClient(region ? { region } : {});
    return async () => {
      const result = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      return parseWebhookUrl(result.Parameter?.Value, `parameter ${name}`);
    };
  }
  return async () => {
    throw new WebhookConfigError(
      "no webhook configured: set SLACK_WEBHOOK_SECRET_ARN or SLACK_WEBHOOK_PARAMETER",
    );
  };
}

/**
 * The secret holds the URL itself, or JSON with a `url` / `webhookUrl` key. Only https is
 * accepted (http only on loopback, for local tests): a webhook URL sent in clear text would
 * leak it. The error names the source, never the value.
 */
export function parseWebhookUrl(value: string | undefined, source: string): string {
  let text = value?.trim() ?? "";
  if (text.startsWith("{")) {
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const candidate = parsed.url ?? parsed.webhookUrl ?? parsed.webhook_url;
      text = typeof candidate === "string" ? candidate.trim() : "";
    } catch {
      throw new WebhookConfigError(`${source}: JSON value does not parse`);
    }
  }
  if (text === "") throw new WebhookConfigError(`${source}: no webhook URL in the value`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new WebhookConfigError(`${source}: value is not a URL`);
  }
  const loopback = ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new WebhookConfigError(`${source}: webhook URL must be https`);
  }
  return url.href;
}

/**
 * Caches the getter's result for the container's lifetime; a failed read is not cached,
 * and `invalidate()` forgets the URL (after Slack says it is no longer valid: rotated).
 */
export function cachedGetter(getter: WebhookUrlGetter): WebhookUrlGetter & { invalidate(): void } {
  let cached: Promise<string> | undefined;
  const get = () => {
    cached ??= getter().catch((error: unknown) => {
      cached = undefined;
      throw error;
    });
    return cached;
  };
  return Object.assign(get, {
    invalidate: () => {
      cached = undefined;
    },
  });
}
