// EKS bearer tokens (SPEC §6 step 1), generated locally: no network call.
//
// API
//   eksBearerToken({ clusterName, region, credentials, now? }) -> Promise<string>
//   stsRegionalEndpoint(region) -> "https://sts.<region>.<partition's DNS suffix>/"
//   decodeEksToken(token) -> URL of the presigned request (throws on a malformed token)
//   EKS_TOKEN_PREFIX, EKS_CLUSTER_ID_HEADER, EKS_TOKEN_PRESIGN_SECONDS, EKS_TOKEN_MAX_LENGTH
//
// Token = "k8s-aws-v1." + base64url-without-padding(presigned STS GetCallerIdentity URL).
// The cluster name travels in the SIGNED header `x-k8s-aws-id` (X-Amz-SignedHeaders =
// host;x-k8s-aws-id), not in the query: the EKS authenticator replays the URL with its own
// cluster name in that header, so a token minted for another cluster fails STS's signature
// check. Same shape as aws-iam-authenticator's `token` command (kubernetes-sigs/
// aws-iam-authenticator pkg/token): the query holds exactly Action, Version and the X-Amz-*
// parameters its verifier whitelists, X-Amz-Expires=60 (STS ignores it; the URL is valid for
// 15 minutes from X-Amz-Date, and the verifier only requires 0..900).
//
// The host. The verifier (aws-iam-authenticator v0.7, pkg/regions) accepts
// `sts.<region>.<DNS suffix>` for the regions of its partition (plus a few FIPS/dual-stack
// variants): amazonaws.com, amazonaws.com.cn, c2s.ic.gov, sc2s.sgov.gov, amazonaws.eu, …
// The presigned URL is fetched by the cluster's authenticator, never by us, so it always
// names that canonical regional host of the CLUSTER's region, taken from the SDK's own STS
// endpoint rules and partition data with no endpoint override: `AWS_ENDPOINT_URL_STS`,
// `AWS_ENDPOINT_URL`, a VPC endpoint's DNS name or a test rig's fake STS never reach a token.
// (The authenticator's own client signs for the global host unless given a region; we always
// sign regionally, which every partition's verifier accepts.)
//
// Reuse. A token is valid 15 minutes; functions/sweep/clusters.ts keeps one per cluster for
// at most 5 minutes (across invocations of a warm Lambda) and drops it when the API server
// answers 401, so a kept token is always well inside its validity.
import { STSClient } from "@aws-sdk/client-sts";
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, QueryParameterBag } from "@smithy/types";

export const EKS_TOKEN_PREFIX = "k8s-aws-v1.";
export const EKS_CLUSTER_ID_HEADER = "x-k8s-aws-id";
export const EKS_TOKEN_PRESIGN_SECONDS = 60;
/** aws-iam-authenticator refuses longer tokens ("token is too large"). */
export const EKS_TOKEN_MAX_LENGTH = 4096;

export interface EksTokenOptions {
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Signing time; default the current time. */
  now?: Date;
}

// A region is one DNS label made of the characters AWS uses; anything else could steer the host.
const REGION = /^[a-z]{2,4}(-[a-z0-9]+){1,4}$/;

type StsEndpointProvider = STSClient["config"]["endpointProvider"];
let stsEndpointProvider: StsEndpointProvider | undefined;

/**
 * The canonical regional STS endpoint of `region`'s partition, from the SDK's STS endpoint
 * rules (partition table included) evaluated WITHOUT the `Endpoint` parameter: no endpoint
 * override, env var or config file can change it. A client is built once for its resolver
 * only; it never sends anything.
 */
export function stsRegionalEndpoint(region: string): string {
  if (!REGION.test(region)) throw new Error(`EKS token: "${region}" is not an AWS region name`);
  stsEndpointProvider ??= new STSClient({ region: "us-east-1" }).config.endpointProvider;
  const { url } = stsEndpointProvider({
    Region: region,
    UseFIPS: false,
    UseDualStack: false,
    UseGlobalEndpoint: false,
  });
  const host = url.hostname;
  if (url.protocol !== "https:" || url.port !== "" || !host.startsWith(`sts.${region}.`)) {
    throw new Error(
      `EKS token: the SDK's STS endpoint for ${region} is ${url.href}, not a regional STS host`,
    );
  }
  return `https://${host}/`;
}

export async function eksBearerToken(options: EksTokenOptions): Promise<string> {
  if (options.clusterName === "") throw new Error("eksBearerToken: clusterName is empty");
  const base = new URL(stsRegionalEndpoint(options.region));
  const request = new HttpRequest({
    method: "GET",
    protocol: base.protocol,
    hostname: base.hostname,
    path: "/",
    query: { Action: "GetCallerIdentity", Version: "2011-06-15" },
    // `host` must be present to be signed; x-k8s-aws-id is not x-amz-*, so presign keeps it a header.
    headers: { host: base.host, [EKS_CLUSTER_ID_HEADER]: options.clusterName },
  });
  const signer = new SignatureV4({
    credentials: options.credentials,
    region: options.region,
    service: "sts",
    sha256: Sha256,
  });
  const signed = await signer.presign(request, {
    expiresIn: EKS_TOKEN_PRESIGN_SECONDS,
    ...(options.now !== undefined ? { signingDate: options.now } : {}),
    unhoistableHeaders: new Set([EKS_CLUSTER_ID_HEADER]),
    signableHeaders: new Set(["host", EKS_CLUSTER_ID_HEADER]),
  });
  const url = `${base.protocol}//${base.host}/?${formatQuery(signed.query ?? {})}`;
  const token = EKS_TOKEN_PREFIX + Buffer.from(url, "utf8").toString("base64url");
  if (token.length > EKS_TOKEN_MAX_LENGTH) {
    throw new Error(
      `EKS token for cluster ${options.clusterName} is ${token.length} characters; the ` +
        `authenticator accepts at most ${EKS_TOKEN_MAX_LENGTH} (the credentials' session token is too long)`,
    );
  }
  return token;
}

export function decodeEksToken(token: string): URL {
  if (!token.startsWith(EKS_TOKEN_PREFIX)) throw new Error(`token lacks the ${EKS_TOKEN_PREFIX} prefix`);
  const body = token.slice(EKS_TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]*$/.test(body)) throw new Error("token body is not unpadded base64url");
  return new URL(Buffer.from(body, "base64url").toString("utf8"));
}

// RFC 3986 encoding, as SigV4 canonicalises it, so the URL carries exactly what was signed.
function encode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function formatQuery(query: QueryParameterBag): string {
  const parts: string[] = [];
  for (const key of Object.keys(query).sort()) {
    const value = query[key];
    if (value === null || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) parts.push(`${encode(key)}=${encode(v)}`);
  }
  return parts.join("&");
}
