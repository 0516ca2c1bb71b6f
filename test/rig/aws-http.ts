// Signed calls to moto for services without an installed SDK client (CloudFormation StackSets,
// Organizations, S3, IAM, Lambda): the query, JSON and REST protocols, SigV4-signed like
// test/rig/sqs.ts. Enough for the organization rollout of docs/organizations.md; not an SDK.
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";

export interface SignedAwsConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export class AwsCallError extends Error {
  override name = "AwsCallError";
  constructor(
    message: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(message);
  }
}

export class SignedAws {
  constructor(private readonly config: SignedAwsConfig) {}

  /** One signed HTTP request; rejects on a non-2xx answer, with its body. */
  async request(
    service: string,
    options: {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Uint8Array;
      region?: string;
    },
  ): Promise<string> {
    const url = new URL(this.config.endpoint);
    const method = options.method ?? "POST";
    const path = options.path ?? "/";
    const [pathname, search = ""] = path.split("?");
    const request = new HttpRequest({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: pathname,
      query: Object.fromEntries(new URLSearchParams(search)),
      headers: { host: url.host, ...options.headers },
      ...(options.body !== undefined ? { body: options.body } : {}),
    });
    const signer = new SignatureV4({
      service,
      region: options.region ?? this.config.region,
      credentials: this.config.credentials,
      sha256: Sha256,
    });
    const signed = await signer.sign(request);
    const response = await fetch(`${this.config.endpoint}${path}`, {
      method,
      headers: signed.headers,
      ...(options.body !== undefined ? { body: options.body } : {}),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new AwsCallError(
        `${service} ${method} ${pathname}: HTTP ${response.status} ${text}`,
        response.status,
        text,
      );
    }
    return text;
  }

  /** The query protocol (CloudFormation, IAM): `params` already flattened (`X.member.1`). */
  query(
    service: string,
    version: string,
    action: string,
    params: Record<string, string> = {},
  ): Promise<string> {
    const body = new URLSearchParams({ Action: action, Version: version, ...params }).toString();
    return this.request(service, {
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body,
    });
  }

  /** The JSON 1.1 protocol (Organizations). */
  async json<T>(service: string, target: string, input: unknown): Promise<T> {
    const text = await this.request(service, {
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": target },
      body: JSON.stringify(input),
    });
    return (text ? JSON.parse(text) : {}) as T;
  }
}

/** The text of every `<tag>…</tag>` in an XML answer (flat: enough for ids and statuses). */
export function xmlValues(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))].map((m) => m[1]!);
}

/** `{ A: [x, y] }` → `A.member.1=x&A.member.2=y`, the query protocol's list encoding. */
export function members(name: string, values: readonly string[]): Record<string, string> {
  return Object.fromEntries(values.map((v, i) => [`${name}.member.${i + 1}`, v]));
}

/** CloudFormation `Parameters` (or `ParameterOverrides`) in the query protocol. */
export function cfnParameters(values: Record<string, string>, name = "Parameters"): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).flatMap(([key, value], i) => [
      [`${name}.member.${i + 1}.ParameterKey`, key],
      [`${name}.member.${i + 1}.ParameterValue`, value],
    ]),
  );
}
