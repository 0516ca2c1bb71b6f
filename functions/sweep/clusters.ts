// Which clusters a sweep visits and how to connect to each (SPEC §6 step 1).
//
// API
//   resolveClusters(config, deps, log) -> Promise<ResolvedClusters { targets, failures }>
//   type ClusterTarget, ClusterFailure, ClusterDeps, ClusterLog
//   tokenFromSecretString(value) -> string (raw token or JSON {"token": …})
//   DISCOVERY_FAILURE = "*": the `cluster` of a failure where a whole region's listing failed
//
// EKS: per region of `config.regions` (default: the approver's own region) ListClusters
// (paginated) → include/exclude globs → DescribeCluster (endpoint, CA, VPC, status, tags) →
// `eks.tags` filter; clusters neither ACTIVE nor UPDATING are skipped with a log line. With
// `eks.discovery: false` only the clusters named under `eks.clusters` are described.
// Self-managed: straight from the config; the token is read from Secrets Manager or SSM, or
// (aws-iam-authenticator clusters) minted like an EKS token for the configured cluster ID,
// when `token()` is called. One cluster's failure never stops the others: it is returned
// in `failures`. Tokens are produced lazily and kept at most TOKEN_REUSE_MS (5 minutes; EKS
// tokens are valid 15), and dropped by `forgetToken()` when the API server answers 401, so
// a target resolved for one invocation never carries a stale credential into the next.
//
// Every cluster-level failure — ListClusters, DescribeCluster, a credential read, a token —
// is logged at ERROR with `cluster`, `region`, `call` (the failing AWS call) and `error`,
// so the Lambda's log says which call failed and why, not just which cluster.
import { DescribeClusterCommand, ListClustersCommand, type Cluster } from "@aws-sdk/client-eks";
import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import {
  globMatch,
  settingsForCluster,
  type Config,
  type CredentialSource,
  type SelfManagedCluster,
} from "../core/config.js";
import type { ClusterFacts, ClusterPolicySettings } from "../core/types.js";
import type { AwsClients } from "./aws.js";
import type { KubeEndpoint } from "./csrs.js";
import { eksBearerToken } from "./eks-token.js";

export interface ClusterTarget {
  facts: ClusterFacts;
  settings: ClusterPolicySettings;
  /** API server URL. */
  endpoint: string;
  /** base64 of the PEM CA bundle (kubeconfig `certificate-authority-data`). */
  caData?: string;
  /** Bearer token for the API server, produced on first use and reused briefly. */
  token: () => Promise<string>;
  /** Drops the reused token (the API server said 401: rotated secret, expired token). */
  forgetToken: () => void;
  source: "eks" | "self-managed";
  /**
   * How to reach the API server when the target came from a kubeconfig (CLI `--kubeconfig`):
   * its client certificate, token or exec plugin, resolved on each connect. Absent: endpoint,
   * caData and token above.
   */
  kubeEndpoint?: () => Promise<KubeEndpoint>;
}

/** The connection facts for a target's API server. */
export async function kubeEndpointOf(target: ClusterTarget): Promise<KubeEndpoint> {
  if (target.kubeEndpoint) return target.kubeEndpoint();
  return {
    name: target.facts.name,
    endpoint: target.endpoint,
    token: await target.token(),
    ...(target.caData ? { caData: target.caData } : {}),
  };
}

export interface ClusterFailure {
  cluster: string;
  region: string;
  error: string;
}

export interface ResolvedClusters {
  targets: ClusterTarget[];
  failures: ClusterFailure[];
}

export interface ClusterDeps {
  /** An AwsClientCache satisfies this. */
  forRegion(region: string): Pick<AwsClients, "eks" | "sts" | "ssm" | "secretsManager">;
  /** Region used when `config.regions` is empty; default AWS_REGION / AWS_DEFAULT_REGION. */
  defaultRegion?: string;
  /** Clock for token reuse (tests). */
  now?: () => number;
  /**
   * Keeps tokens across resolves (the Lambda passes one per container, so a warm container
   * does not re-read Secrets Manager every minute). Absent: tokens live as long as the target.
   */
  tokenCache?: TokenCache;
}

export interface ClusterLog {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export type TokenCache = Map<string, { value: Promise<string>; at: number }>;

export const DISCOVERY_FAILURE = "*";
const TOKEN_REUSE_MS = 5 * 60_000; // EKS tokens are valid 15 minutes; secrets may rotate
const DESCRIBE_CONCURRENCY = 8;
// UPDATING (version upgrade, config change) keeps the API server serving, and upgrades are
// when nodes roll and ask for certificates; CREATING/DELETING/FAILED/PENDING are skipped.
const SWEEPABLE_STATUSES = new Set(["ACTIVE", "UPDATING"]);

export async function resolveClusters(
  config: Config,
  deps: ClusterDeps,
  log: ClusterLog,
): Promise<ResolvedClusters> {
  const targets: ClusterTarget[] = [];
  const failures: ClusterFailure[] = [];

  const regions = config.regions.length > 0 ? config.regions : defaultRegion(deps);
  const eksNamed = Object.keys(config.eks.clusters);
  if ((config.eks.discovery || eksNamed.length > 0) && regions.length === 0) {
    failures.push({
      cluster: DISCOVERY_FAILURE,
      region: "",
      error: "no region: set config.regions or AWS_REGION",
    });
    logFailure(log, "config", failures[failures.length - 1]!);
  } else if (config.eks.discovery || eksNamed.length > 0) {
    const perRegion = await Promise.all(regions.map((region) => resolveEksRegion(config, deps, log, region)));
    for (const r of perRegion) {
      targets.push(...r.targets);
      failures.push(...r.failures);
    }
    if (!config.eks.discovery) {
      // Named clusters found in no region are worth a failure line, not silence.
      for (const name of eksNamed) {
        const seen = targets.some((t) => t.source === "eks" && t.facts.name === name);
        const failed = failures.some((f) => f.cluster === name);
        if (!seen && !failed) {
          failures.push({
            cluster: name,
            region: regions.join(","),
            error: "EKS cluster not found in any region",
          });
          logFailure(log, "eks:DescribeCluster", failures[failures.length - 1]!);
        }
      }
    }
  }

  for (const cluster of config.selfManaged) targets.push(selfManagedTarget(config, deps, log, cluster));
  return { targets, failures };
}

function defaultRegion(deps: ClusterDeps): string[] {
  const region = deps.defaultRegion ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  return region ? [region] : [];
}

async function resolveEksRegion(
  config: Config,
  deps: ClusterDeps,
  log: ClusterLog,
  region: string,
): Promise<ResolvedClusters> {
  const targets: ClusterTarget[] = [];
  const failures: ClusterFailure[] = [];
  const fail = (failure: ClusterFailure): void => {
    failures.push(failure);
    logFailure(log, "eks:DescribeCluster", failure);
  };
  let clients: ReturnType<ClusterDeps["forRegion"]>;
  let names: string[];
  try {
    clients = deps.forRegion(region);
    names = config.eks.discovery ? await listClusterNames(clients, region) : Object.keys(config.eks.clusters);
  } catch (err) {
    const failure = { cluster: DISCOVERY_FAILURE, region, error: `ListClusters: ${message(err)}` };
    logFailure(log, "eks:ListClusters", failure);
    return { targets, failures: [failure] };
  }
  const wanted = names.filter(
    (name) =>
      !config.eks.discovery ||
      (config.eks.include.some((g) => globMatch(g, name)) &&
        !config.eks.exclude.some((g) => globMatch(g, name))),
  );

  await forEachBounded(wanted, DESCRIBE_CONCURRENCY, async (name) => {
    let cluster: Cluster | undefined;
    try {
      cluster = (await clients.eks.send(new DescribeClusterCommand({ name }))).cluster;
    } catch (err) {
      // Without discovery a named cluster simply lives in another region.
      if (!config.eks.discovery && errorName(err) === "ResourceNotFoundException") return;
      fail({ cluster: name, region, error: `DescribeCluster: ${message(err)}` });
      return;
    }
    if (!cluster) {
      fail({ cluster: name, region, error: "DescribeCluster returned no cluster" });
      return;
    }
    if (!hasTags(cluster.tags ?? {}, config.eks.tags)) {
      log.info("EKS cluster skipped: tag filter does not match", { cluster: name, region });
      return;
    }
    if (!SWEEPABLE_STATUSES.has(cluster.status ?? "")) {
      log.info("EKS cluster skipped: not ACTIVE or UPDATING", {
        cluster: name,
        region,
        status: cluster.status,
      });
      return;
    }
    const endpoint = cluster.endpoint;
    const vpcId = cluster.resourcesVpcConfig?.vpcId;
    if (!endpoint || !vpcId) {
      fail({ cluster: name, region, error: "DescribeCluster lacks endpoint or VPC" });
      return;
    }
    const caData = cluster.certificateAuthority?.data;
    // EKS Hybrid Nodes: their networks bound the addresses of nodes outside EC2 (nonEc2Nodes).
    const remoteNodeNetworks = (cluster.remoteNetworkConfig?.remoteNodeNetworks ?? []).flatMap(
      (network) => network.cidrs ?? [],
    );
    targets.push({
      facts: {
        name,
        kind: "eks",
        region,
        vpcIds: [vpcId],
        ...(remoteNodeNetworks.length > 0 ? { remoteNodeNetworks } : {}),
      },
      settings: settingsForCluster(config, name, "eks"),
      endpoint,
      ...(caData ? { caData } : {}),
      source: "eks",
      ...reuse(deps, log, `eks:${region}:${name}`, { cluster: name, region, call: EKS_TOKEN_CALL }, () =>
        eksBearerToken({ clusterName: name, region, credentials: clients.sts.config.credentials }),
      ),
    });
  });
  // Stable order for reports and tests, whatever order the describes finished in.
  targets.sort((a, b) => a.facts.name.localeCompare(b.facts.name));
  return { targets, failures };
}

async function listClusterNames(clients: Pick<AwsClients, "eks">, _region: string): Promise<string[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await clients.eks.send(
      new ListClustersCommand({ maxResults: 100, ...(nextToken ? { nextToken } : {}) }),
    );
    names.push(...(page.clusters ?? []));
    nextToken = page.nextToken || undefined;
  } while (nextToken);
  return names;
}

function hasTags(actual: Record<string, string>, required: Record<string, string>): boolean {
  return Object.entries(required).every(
    ([key, value]) => Object.hasOwn(actual, key) && actual[key] === value,
  );
}

function selfManagedTarget(
  config: Config,
  deps: ClusterDeps,
  log: ClusterLog,
  cluster: SelfManagedCluster,
): ClusterTarget {
  const where = { cluster: cluster.name, region: cluster.region, call: credentialCall(cluster.credential) };
  return {
    facts: { name: cluster.name, kind: "self-managed", region: cluster.region, vpcIds: [...cluster.vpcIds] },
    settings: settingsForCluster(config, cluster.name, "self-managed"),
    endpoint: cluster.endpoint,
    caData: normaliseCaData(cluster.caData),
    source: "self-managed",
    ...reuse(deps, log, `self-managed:${cluster.name}:${JSON.stringify(cluster.credential)}`, where, () =>
      readCredential(deps, cluster),
    ),
  };
}

/** The config accepts the PEM itself or its base64; targets always carry base64. */
function normaliseCaData(caData: string): string {
  return caData.includes("-----BEGIN") ? Buffer.from(caData, "utf8").toString("base64") : caData.trim();
}

const EKS_TOKEN_CALL = "sts:GetCallerIdentity presign (EKS token)";

function credentialCall(credential: CredentialSource): string {
  if ("secretsManager" in credential) return "secretsmanager:GetSecretValue";
  if ("ssmParameter" in credential) return "ssm:GetParameter";
  return "sts:GetCallerIdentity presign (aws-iam-authenticator token)";
}

/** The cluster's bearer token; errors name the call and the resource. */
async function readCredential(deps: ClusterDeps, cluster: SelfManagedCluster): Promise<string> {
  const credential = cluster.credential;
  if ("awsIamAuthenticator" in credential) {
    // The EKS token format, signed with the approver's own credentials for the cluster ID the
    // authenticator was started with; the presigned URL names the cluster region's STS host.
    return eksBearerToken({
      clusterName: credential.awsIamAuthenticator.clusterId,
      region: cluster.region,
      credentials: deps.forRegion(cluster.region).sts.config.credentials,
    }).catch((err: unknown) => {
      throw new Error(`aws-iam-authenticator token: ${message(err)}`);
    });
  }
  if ("secretsManager" in credential) {
    const arn = credential.secretsManager;
    const region = regionOfArn(arn) ?? cluster.region;
    const out = await deps
      .forRegion(region)
      .secretsManager.send(new GetSecretValueCommand({ SecretId: arn }))
      .catch((err: unknown) => {
        throw new Error(`GetSecretValue ${arn}: ${message(err)}`);
      });
    if (out.SecretString === undefined) throw new Error(`secret ${arn} has no SecretString`);
    return tokenFromSecretString(out.SecretString);
  }
  const name = credential.ssmParameter;
  const region = regionOfArn(name) ?? cluster.region;
  const out = await deps
    .forRegion(region)
    .ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))
    .catch((err: unknown) => {
      throw new Error(`GetParameter ${name}: ${message(err)}`);
    });
  const value = out.Parameter?.Value;
  if (value === undefined) throw new Error(`parameter ${name} has no value`);
  return tokenFromSecretString(value);
}

/** A secret holds the bearer token itself, or a JSON object `{"token": "…"}`. */
export function tokenFromSecretString(value: string): string {
  const trimmed = value.trim();
  let token = trimmed;
  if (trimmed.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error("credential looks like JSON but does not parse");
    }
    const field = (parsed as { token?: unknown }).token;
    if (typeof field !== "string") throw new Error('credential JSON has no string "token" field');
    token = field.trim();
  }
  // A token goes into an HTTP header: printable ASCII without spaces, nothing else.
  if (!/^[!-~]+$/.test(token)) throw new Error("credential is not a bearer token");
  return token;
}

function regionOfArn(value: string): string | undefined {
  const parts = value.split(":");
  return parts[0] === "arn" && parts.length >= 6 && parts[3] ? parts[3] : undefined;
}

function logFailure(log: ClusterLog, call: string, failure: ClusterFailure): void {
  log.error("cluster failed: not swept", { ...failure, call });
}

function reuse(
  deps: ClusterDeps,
  log: ClusterLog,
  key: string,
  where: { cluster: string; region: string; call: string },
  produce: () => Promise<string>,
): Pick<ClusterTarget, "token" | "forgetToken"> {
  const clock = deps.now ?? Date.now;
  const cache: TokenCache = deps.tokenCache ?? new Map();
  return {
    token: () => {
      const at = clock();
      let cached = cache.get(key);
      if (!cached || at - cached.at >= TOKEN_REUSE_MS) {
        const value = produce();
        cached = { value, at };
        cache.set(key, cached);
        // A failed read is not kept: the next call tries again.
        value.catch((err: unknown) => {
          if (cache.get(key)?.value === value) cache.delete(key);
          log.error("cluster credential failed: not swept", { ...where, error: message(err) });
        });
      }
      return cached.value;
    },
    forgetToken: () => void cache.delete(key),
  };
}

async function forEachBounded<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function message(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.name === "Error" ? err.message : `${err.name}: ${err.message}`;
}
