// EKS bearer tokens (SPEC §6 step 1), generated locally: no network call.
//
// API
//   eksBearerToken({ clusterName, region, credentials, now?, stsEndpoint? }) -> Promise<string>
//   stsRegionalEndpoint(region) -> "https://sts.<region>.amazonaws.com/" (".com.cn" in China)
//   decodeEksToken(token) -> URL of the presigned request (throws on a malformed token)
//   EKS_TOKEN_PREFIX, EKS_CLUSTER_ID_HEADER, EKS_TOKEN_PRESIGN_SECONDS
//
// Token = "k8s-aws-v1." + base64url-without-padding(presigned STS GetCallerIdentity URL).
// The cluster name travels in the SIGNED header `x-k8s-aws-id` (X-Amz-SignedHeaders =
// host;x-k8s-aws-id), not in the query: the EKS authenticator replays the URL with its own
// cluster name in that header, so a token minted for another cluster fails STS's signature
// check. Same shape as aws-iam-authenticator's `token` command (kubernetes-sigs/
// aws-iam-authenticator pkg/token): the query holds exactly Action, Version and the X-Amz-*
// parameters its verifier whitelists, X-Amz-Expires=60 (STS ignores it; the URL is valid for
// 15 minutes from X-Amz-Date, and the verifier only requires 0..900). Differences: we always
// sign for the regional STS endpoint (the authenticator only does when a region is given;
// EKS accepts regional hosts of its partition), and we never cache a token across sweeps.
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, QueryParameterBag } from "@smithy/types";

export const EKS_TOKEN_PREFIX = "k8s-aws-v1.";
export const EKS_CLUSTER_ID_HEADER = "x-k8s-aws-id";
export const EKS_TOKEN_PRESIGN_SECONDS = 60;

export interface EksTokenOptions {
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Signing time; default the current time. */
  now?: Date;
  /** STS base URL (tests point it at moto); default the regional endpoint. */
  stsEndpoint?: string;
}

export function stsRegionalEndpoint(region: string): string {
  const suffix = region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return `https://sts.${region}.${suffix}/`;
}

export async function eksBearerToken(options: EksTokenOptions): Promise<string> {
  if (options.clusterName === "") throw new Error("eksBearerToken: clusterName is empty");
  const base = new URL(options.stsEndpoint ?? stsRegionalEndpoint(options.region));
  const request = new HttpRequest({
    method: "GET",
    protocol: base.protocol,
    hostname: base.hostname,
    ...(base.port !== "" ? { port: Number(base.port) } : {}),
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
  return EKS_TOKEN_PREFIX + Buffer.from(url, "utf8").toString("base64url");
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
