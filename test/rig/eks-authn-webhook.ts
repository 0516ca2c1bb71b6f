// An "EKS-style" token authenticator for rig clusters: a Kubernetes TokenReview webhook
// (authentication.k8s.io/v1) that accepts `k8s-aws-v1.` bearer tokens the way
// aws-iam-authenticator's server does, so a rig kube-apiserver started with
// `--authentication-token-webhook-config-file` behaves like an EKS cluster for end-to-end
// tests of the approver's EKS path.
//
// API
//   startEksAuthnWebhook(options) -> Promise<{ url, kubeconfig(): string, close() }>
//   reviewToken(token, options) -> Promise<TokenReviewStatus>
//   canonicalArn(arn) -> IAM role ARN for an STS assumed-role ARN
//
// Checks, in aws-iam-authenticator's order: size ≤ 4096, prefix, unpadded base64url, URL on an
// allowed STS origin with path "/", only whitelisted query parameters each once,
// Action=GetCallerIdentity, x-k8s-aws-id among the signed headers, 0 ≤ X-Amz-Expires ≤ 900,
// X-Amz-Date no older than 15 minutes; then the presigned URL is called with
// `x-k8s-aws-id: <this cluster>` and the caller's ARN mapped to a user. moto does not verify
// SigV4, so with `credentials` given the webhook recomputes the signature itself (host and
// x-k8s-aws-id signed, empty payload) — a token minted for another cluster fails here, as it
// fails at real STS.
//
// Tokens name the canonical STS host (`https://sts.<region>.amazonaws.com`), as the product
// always signs them; the rig has no such host. `stsRoutes` maps an allowed origin to where
// the webhook really sends the presigned request (moto), the way a resolver or proxy in front
// of the real authenticator would: the token, its host and its signature stay untouched.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

const PREFIX = "k8s-aws-v1.";
const MAX_TOKEN = 4096;
const VALID_FOR_MS = 15 * 60_000;
const ALLOWED_PARAMS = new Set([
  "action",
  "version",
  "x-amz-algorithm",
  "x-amz-credential",
  "x-amz-date",
  "x-amz-expires",
  "x-amz-security-token",
  "x-amz-signature",
  "x-amz-signedheaders",
]);

export interface IdentityMapping {
  /** Canonical ARN (assumed roles as `arn:aws:iam::<acct>:role/<name>`) or the caller's ARN. */
  arn: string;
  /** May use {{AccountID}} and {{SessionName}}. */
  username: string;
  groups: string[];
}

export interface EksAuthnOptions {
  /** The cluster name the token must be signed for (x-k8s-aws-id). */
  clusterId: string;
  /** Origins a presigned URL may point at, e.g. ["https://sts.eu-west-1.amazonaws.com"]. */
  stsOrigins: string[];
  /**
   * Allowed origin -> origin actually called, e.g. {"https://sts.us-east-1.amazonaws.com": moto}.
   * The host checked and signed is the token's; only the connection goes elsewhere.
   */
  stsRoutes?: Record<string, string>;
  mappings: IdentityMapping[];
  /** accessKeyId -> secretAccessKey: verify SigV4 here (moto does not). */
  credentials?: Record<string, string>;
  /**
   * moto in server mode routes a request by its Authorization header's credential scope and
   * sends unsigned GETs (a presigned URL) to S3. With this set, the call also carries the
   * token's own credential scope and signature as an Authorization header, so moto's STS
   * answers. Real STS needs no such help.
   */
  motoRouting?: boolean;
  now?: () => Date;
}

export interface TokenReviewStatus {
  authenticated: boolean;
  user?: { username: string; uid: string; groups: string[]; extra?: Record<string, string[]> };
  error?: string;
}

class Rejected extends Error {}

export async function reviewToken(token: string, options: EksAuthnOptions): Promise<TokenReviewStatus> {
  try {
    return { authenticated: true, user: await authenticate(token, options) };
  } catch (err) {
    return { authenticated: false, error: err instanceof Error ? err.message : String(err) };
  }
}

async function authenticate(
  token: string,
  options: EksAuthnOptions,
): Promise<NonNullable<TokenReviewStatus["user"]>> {
  if (token.length > MAX_TOKEN) throw new Rejected("token is too large");
  if (!token.startsWith(PREFIX)) throw new Rejected(`token is missing expected "${PREFIX}" prefix`);
  const body = token.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) throw new Rejected("token is not unpadded base64url");
  let url: URL;
  try {
    url = new URL(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    throw new Rejected("token does not decode to a URL");
  }
  if (!options.stsOrigins.includes(url.origin)) throw new Rejected(`unexpected STS origin ${url.origin}`);
  if (url.pathname !== "/") throw new Rejected("unexpected path in pre-signed URL");

  const params = new Map<string, string>();
  const seen = new Set<string>();
  for (const [key, value] of url.searchParams) {
    const lower = key.toLowerCase();
    if (!ALLOWED_PARAMS.has(lower)) throw new Rejected(`non-whitelisted query parameter ${key}`);
    if (seen.has(lower)) throw new Rejected("query parameter with multiple values not supported");
    seen.add(lower);
    params.set(lower, value);
  }
  if (params.get("action") !== "GetCallerIdentity") throw new Rejected("unexpected action parameter");
  const signed = (params.get("x-amz-signedheaders") ?? "").split(";").map((h) => h.toLowerCase());
  if (!signed.includes("x-k8s-aws-id")) throw new Rejected("client did not sign the x-k8s-aws-id header");
  const expires = Number(params.get("x-amz-expires"));
  if (!Number.isInteger(expires) || expires < 0 || expires > 900) throw new Rejected("invalid X-Amz-Expires");
  const date = parseAmzDate(params.get("x-amz-date") ?? "");
  const now = (options.now ?? (() => new Date()))();
  if (now.getTime() > date.getTime() + VALID_FOR_MS) throw new Rejected("X-Amz-Date parameter is expired");
  if (date.getTime() > now.getTime() + 5 * 60_000)
    throw new Rejected("X-Amz-Date parameter is in the future");

  if (options.credentials) verifySignature(url, signed, options);

  const headers: Record<string, string> = { "x-k8s-aws-id": options.clusterId, accept: "application/json" };
  if (options.motoRouting) {
    headers.authorization =
      `AWS4-HMAC-SHA256 Credential=${params.get("x-amz-credential") ?? ""}, ` +
      `SignedHeaders=${params.get("x-amz-signedheaders") ?? ""}, Signature=${params.get("x-amz-signature") ?? ""}`;
  }
  const route = options.stsRoutes?.[url.origin];
  const target = route ? new URL(`${url.pathname}${url.search}`, route) : url;
  const response = await fetch(target, { headers, redirect: "manual" });
  const text = await response.text();
  if (response.status !== 200) throw new Rejected(`STS answered ${response.status}`);
  const identity = parseCallerIdentity(text);
  const canonical = canonicalArn(identity.arn);
  const mapping = options.mappings.find((m) => m.arn === canonical || m.arn === identity.arn);
  if (!mapping) throw new Rejected(`ARN is not mapped: ${canonical}`);
  const sessionName = identity.userId.includes(":") ? identity.userId.split(":")[1]! : "";
  const username = mapping.username
    .replaceAll("{{AccountID}}", identity.account)
    .replaceAll("{{SessionName}}", sessionName);
  return {
    username,
    uid: `aws-iam-authenticator:${identity.account}:${identity.userId}`,
    groups: [...mapping.groups],
    extra: {
      arn: [identity.arn],
      canonicalArn: [canonical],
      sessionName: [sessionName],
      accessKeyId: [(params.get("x-amz-credential") ?? "").split("/")[0] ?? ""],
    },
  };
}

function parseAmzDate(value: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) throw new Rejected("X-Amz-Date parameter must be present and well-formed");
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function verifySignature(url: URL, signedHeaders: string[], options: EksAuthnOptions): void {
  const [accessKeyId, day, region, service, terminal] = (
    url.searchParams.get("X-Amz-Credential") ?? ""
  ).split("/");
  const secret = accessKeyId !== undefined ? options.credentials?.[accessKeyId] : undefined;
  if (!secret || !day || !region || service !== "sts" || terminal !== "aws4_request") {
    throw new Rejected("unknown access key or malformed credential scope");
  }
  const headerValues: Record<string, string> = { host: url.host, "x-k8s-aws-id": options.clusterId };
  const names = [...signedHeaders].sort();
  if (names.some((n) => !(n in headerValues))) throw new Rejected("unexpected signed header");
  const query = [...url.searchParams]
    .filter(([k]) => k !== "X-Amz-Signature")
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonical = [
    "GET",
    "/",
    query,
    names.map((n) => `${n}:${headerValues[n]}\n`).join(""),
    names.join(";"),
    createHash("sha256").update("").digest("hex"),
  ].join("\n");
  const amzDate = url.searchParams.get("X-Amz-Date") ?? "";
  const scope = `${day}/${region}/sts/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  let key: Buffer = createHmac("sha256", `AWS4${secret}`).update(day).digest();
  for (const part of [region, "sts", "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
  const expected = createHmac("sha256", key).update(stringToSign).digest();
  const given = Buffer.from(url.searchParams.get("X-Amz-Signature") ?? "", "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new Rejected("signature does not match (token signed for another cluster or tampered)");
  }
}

function parseCallerIdentity(text: string): { arn: string; account: string; userId: string } {
  try {
    const json = JSON.parse(text) as {
      GetCallerIdentityResponse?: {
        GetCallerIdentityResult?: { Arn?: string; Account?: string; UserId?: string };
      };
    };
    const r = json.GetCallerIdentityResponse?.GetCallerIdentityResult;
    if (r?.Arn && r.Account && r.UserId) return { arn: r.Arn, account: r.Account, userId: r.UserId };
  } catch {
    // moto answers XML whatever the Accept header says
  }
  const tag = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1];
  const arn = tag("Arn");
  const account = tag("Account");
  const userId = tag("UserId");
  if (!arn || !account || !userId) throw new Rejected("STS response lacks Arn/Account/UserId");
  return { arn, account, userId };
}

/** arn:aws:sts::<acct>:assumed-role/<role>/<session> -> arn:aws:iam::<acct>:role/<role>. */
export function canonicalArn(arn: string): string {
  const m = /^arn:([^:]+):sts::(\d+):assumed-role\/([^/]+)\/.+$/.exec(arn);
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : arn;
}

export interface EksAuthnWebhook {
  /** http://127.0.0.1:<port>/authenticate */
  url: string;
  /** Content for kube-apiserver's --authentication-token-webhook-config-file. */
  kubeconfig(): string;
  close(): Promise<void>;
}

export async function startEksAuthnWebhook(
  options: EksAuthnOptions & { host?: string; port?: number },
): Promise<EksAuthnWebhook> {
  const server = createServer((req, res) => void handle(req, res, options));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.address}:${address.port}/authenticate`;
  return {
    url,
    kubeconfig: () =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "eks-authn", cluster: { server: url } }],
        users: [{ name: "apiserver", user: {} }],
        contexts: [{ name: "webhook", context: { cluster: "eks-authn", user: "apiserver" } }],
        "current-context": "webhook",
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: EksAuthnOptions): Promise<void> {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.method !== "POST") return reply(405, { error: "POST a TokenReview" });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) return reply(413, { error: "too large" });
    chunks.push(chunk as Buffer);
  }
  let review: { apiVersion?: string; kind?: string; spec?: { token?: string } };
  try {
    review = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof review;
  } catch {
    return reply(400, { error: "not JSON" });
  }
  const apiVersion = review.apiVersion ?? "authentication.k8s.io/v1";
  const status = await reviewToken(review.spec?.token ?? "", options);
  reply(200, { apiVersion, kind: "TokenReview", status });
}
