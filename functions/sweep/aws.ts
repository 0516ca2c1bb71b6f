// AWS SDK v3 clients for the sweep, one set per region, created lazily and cached.
//
// API
//   createAwsClients(options?) -> AwsClientCache
//     .forRegion(region)   -> AwsClients { eks, ec2, sns, sts, ssm, secretsManager }
//     .calls               -> CallCounter: logical calls and HTTP attempts per service/command
//     .destroy()           -> closes every client's sockets (CLI exit, tests)
//   AWS_SERVICES, type AwsServiceName, type AwsClients, type AwsClientOptions
//
// Every client uses adaptive retries (client-side rate limiting on throttling, which matters
// when one sweep fans out over many clusters), bounded attempts and socket timeouts, so a
// hung endpoint costs one sweep seconds, not the whole Lambda budget. The endpoint comes
// from `options.endpoint`, else from the SDK's own `AWS_ENDPOINT_URL[_<SERVICE>]` handling
// (used by the test rig to point everything at moto).
import { EC2Client } from "@aws-sdk/client-ec2";
import { EKSClient } from "@aws-sdk/client-eks";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { SSMClient } from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  HandlerExecutionContext,
  MiddlewareStack,
} from "@smithy/types";

export const AWS_SERVICES = ["eks", "ec2", "sns", "sts", "ssm", "secretsManager"] as const;
export type AwsServiceName = (typeof AWS_SERVICES)[number];

export interface AwsClients {
  region: string;
  eks: EKSClient;
  ec2: EC2Client;
  sns: SNSClient;
  sts: STSClient;
  ssm: SSMClient;
  secretsManager: SecretsManagerClient;
}

/** Any of the six clients: they share the middleware stack and `config` shapes we use. */
export type AnyAwsClient = AwsClients[AwsServiceName];

export interface AwsClientOptions {
  /** Total attempts per call, first one included. Default 4. */
  maxAttempts?: number;
  /** Time limit per HTTP attempt, ms (an error, then retried like any failure). Default 10 000. */
  requestTimeoutMs?: number;
  /** TCP/TLS connect timeout, ms. Default 3 000. */
  connectionTimeoutMs?: number;
  /** Endpoint for every service (tests). Default: the SDK's resolution, env vars included. */
  endpoint?: string;
  /** Static credentials or a provider (tests, CLI). Default: the SDK's provider chain. */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /**
   * Called once for each client created, after the call counter is installed. Tests use it
   * to add fault-injecting middleware or to swap `send`.
   */
  configure?: (service: AwsServiceName, client: AnyAwsClient, region: string) => void;
}

export interface CallCount {
  /** Logical calls (one per `send`, retries not counted). */
  calls: number;
  /** HTTP attempts (retries counted). */
  attempts: number;
}

export interface CallCounter {
  /** Logical calls per service, summed over commands and regions. */
  byService(): Record<AwsServiceName, number>;
  /** Per `service:Command` (e.g. `ec2:DescribeInstances`). */
  byCommand(): Record<string, CallCount>;
  /** Calls of one command, e.g. count("ec2", "DescribeInstances"). */
  count(service: AwsServiceName, command?: string): number;
  reset(): void;
}

export interface AwsClientCache {
  forRegion(region: string): AwsClients;
  calls: CallCounter;
  destroy(): void;
}

const DEFAULTS = { maxAttempts: 4, requestTimeoutMs: 10_000, connectionTimeoutMs: 3_000 };

export function createAwsClients(options: AwsClientOptions = {}): AwsClientCache {
  const counts = new Map<string, CallCount>();
  const bump = (key: string, field: keyof CallCount): void => {
    const entry = counts.get(key) ?? { calls: 0, attempts: 0 };
    entry[field] += 1;
    counts.set(key, entry);
  };

  const calls: CallCounter = {
    byService() {
      const out = Object.fromEntries(AWS_SERVICES.map((s) => [s, 0])) as Record<AwsServiceName, number>;
      for (const [key, value] of counts) out[key.split(":")[0] as AwsServiceName] += value.calls;
      return out;
    },
    byCommand() {
      return Object.fromEntries([...counts].map(([k, v]) => [k, { ...v }]));
    },
    count(service, command) {
      let total = 0;
      for (const [key, value] of counts) {
        const [s, c] = key.split(":");
        if (s === service && (command === undefined || c === command)) total += value.calls;
      }
      return total;
    },
    reset() {
      counts.clear();
    },
  };

  const common = (region: string) => ({
    region,
    maxAttempts: options.maxAttempts ?? DEFAULTS.maxAttempts,
    retryMode: "adaptive" as const,
    requestHandler: {
      requestTimeout: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      // Without this the handler only logs a warning when requestTimeout passes.
      throwOnRequestTimeout: true,
      connectionTimeout: options.connectionTimeoutMs ?? DEFAULTS.connectionTimeoutMs,
    },
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
  });

  const instrument = <C extends AnyAwsClient>(service: AwsServiceName, client: C, region: string): C => {
    // initialize runs once per send(); deserialize runs inside the retry loop, once per attempt.
    // The six stacks differ only in their input/output unions; the counters read neither.
    const stack = client.middlewareStack as unknown as MiddlewareStack<object, object>;
    const key = (context: HandlerExecutionContext): string =>
      `${service}:${String(context.commandName ?? "unknown").replace(/Command$/, "")}`;
    stack.add(
      (next, context) => (args) => {
        bump(key(context), "calls");
        return next(args);
      },
      { step: "initialize", name: "csrApproverCallCounter", priority: "high" },
    );
    stack.add(
      (next, context) => (args) => {
        bump(key(context), "attempts");
        return next(args);
      },
      { step: "deserialize", name: "csrApproverAttemptCounter" },
    );
    options.configure?.(service, client, region);
    return client;
  };

  const cache = new Map<string, AwsClients>();
  return {
    calls,
    forRegion(region) {
      let clients = cache.get(region);
      if (!clients) {
        const config = common(region);
        clients = {
          region,
          eks: instrument("eks", new EKSClient(config), region),
          ec2: instrument("ec2", new EC2Client(config), region),
          sns: instrument("sns", new SNSClient(config), region),
          sts: instrument("sts", new STSClient(config), region),
          ssm: instrument("ssm", new SSMClient(config), region),
          secretsManager: instrument("secretsManager", new SecretsManagerClient(config), region),
        };
        cache.set(region, clients);
      }
      return clients;
    },
    destroy() {
      for (const clients of cache.values()) for (const s of AWS_SERVICES) clients[s].destroy();
      cache.clear();
    },
  };
}
