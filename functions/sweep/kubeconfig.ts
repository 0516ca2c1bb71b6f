// A cluster reached through a kubeconfig (CLI `sweep --kubeconfig`): the current context's API
// server and credentials as @kubernetes/client-node's KubeConfig resolves them (CA from file or
// data, client certificate and key, static token, exec plugins such as `aws eks get-token` or
// `aws-iam-authenticator`, whose credentials it caches until they expire), turned into the
// plain KubeEndpoint the sweep's HTTPS client takes. Resolved on every connect, so a short-lived
// exec token is renewed. What the sweep client cannot honour is refused with one line rather
// than silently weakened: insecure-skip-tls-verify, basic auth, impersonation, proxies.
import type { RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import type { KubeEndpoint } from "./csrs.js";

function pem(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  if (typeof value === "string") return value;
  throw new Error("a certificate or key in the kubeconfig is not PEM text");
}

export async function kubeconfigEndpoint(kc: KubeConfig, name: string): Promise<KubeEndpoint> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const where = `kubeconfig cluster ${cluster.name}`;
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new Error(`${where}: server ${JSON.stringify(cluster.server)} is not a URL`);
  }
  if (url.protocol !== "https:") throw new Error(`${where}: server must be https://`);
  if (cluster.skipTLSVerify) {
    throw new Error(`${where}: insecure-skip-tls-verify is not supported; give the API server's CA`);
  }
  if (cluster.proxyUrl) throw new Error(`${where}: proxy-url is not supported`);

  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  if (opts.auth) throw new Error(`${where}: basic auth (username/password) is not supported`);
  const headers = (opts.headers ?? {}) as Record<string, unknown>;
  if (Object.keys(headers).some((header) => /^impersonate-/i.test(header))) {
    throw new Error(`${where}: impersonation (as/as-groups) is not supported`);
  }
  const authorization = headers.Authorization ?? headers.authorization;
  let token = "";
  if (authorization !== undefined) {
    const match = typeof authorization === "string" ? /^Bearer ([!-~]+)$/.exec(authorization) : null;
    if (!match?.[1]) throw new Error(`${where}: the user's credential is not a bearer token`);
    token = match[1];
  }
  const clientCert = pem(opts.cert);
  const clientKey = pem(opts.key);
  if (!token && !(clientCert && clientKey)) {
    throw new Error(`${where}: the user has no token, client certificate or exec plugin`);
  }
  const ca = pem(opts.ca);
  return {
    name,
    endpoint: cluster.server.replace(/\/+$/, ""),
    token,
    ...(ca ? { caData: Buffer.from(ca, "utf8").toString("base64") } : {}),
    ...(clientCert && clientKey ? { clientCert, clientKey } : {}),
    ...(cluster.tlsServerName ? { serverName: cluster.tlsServerName } : {}),
  };
}
