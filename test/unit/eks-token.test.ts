import { createHash, createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  decodeEksToken,
  eksBearerToken,
  EKS_TOKEN_MAX_LENGTH,
  EKS_TOKEN_PREFIX,
  stsRegionalEndpoint,
} from "../../functions/sweep/eks-token.js";

// An independent SigV4 query-string signer (AWS docs: "Create a signed AWS API request"),
// written from the specification with node:crypto only, to check the production signer.
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
const sha256Hex = (data: string): string => createHash("sha256").update(data, "utf8").digest("hex");
const hmac = (key: Buffer | string, data: string): Buffer =>
  createHmac("sha256", key).update(data, "utf8").digest();

function referenceSignature(args: {
  method: string;
  path: string;
  query: [string, string][]; // without X-Amz-Signature
  headers: Record<string, string>; // lower-case names
  payloadHash: string;
  secretAccessKey: string;
  amzDate: string; // YYYYMMDDTHHMMSSZ
  region: string;
  service: string;
}): { canonicalRequest: string; stringToSign: string; signature: string } {
  const canonicalQuery = args.query
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const names = Object.keys(args.headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${args.headers[n]!.trim()}\n`).join("");
  const canonicalRequest = [
    args.method,
    args.path,
    canonicalQuery,
    canonicalHeaders,
    names.join(";"),
    args.payloadHash,
  ].join("\n");
  const day = args.amzDate.slice(0, 8);
  const scope = `${day}/${args.region}/${args.service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", args.amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  const kDate = hmac(`AWS4${args.secretAccessKey}`, day);
  const kRegion = hmac(kDate, args.region);
  const kService = hmac(kRegion, args.service);
  const kSigning = hmac(kService, "aws4_request");
  return {
    canonicalRequest,
    stringToSign,
    signature: createHmac("sha256", kSigning).update(stringToSign).digest("hex"),
  };
}

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const creds = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE/session+token=",
};
const NOW = new Date("2024-03-05T07:08:09Z");

describe("reference SigV4 implementation", () => {
  it("reproduces the AWS documentation's presigned-URL example (S3 GET /test.txt)", () => {
    // From the AWS docs' "Authenticating Requests: Using Query Parameters" example.
    const { signature } = referenceSignature({
      method: "GET",
      path: "/test.txt",
      query: [
        ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
        ["X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"],
        ["X-Amz-Date", "20130524T000000Z"],
        ["X-Amz-Expires", "86400"],
        ["X-Amz-SignedHeaders", "host"],
      ],
      headers: { host: "examplebucket.s3.amazonaws.com" },
      payloadHash: "UNSIGNED-PAYLOAD",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      amzDate: "20130524T000000Z",
      region: "us-east-1",
      service: "s3",
    });
    expect(signature).toBe("aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  });
});

describe("eksBearerToken", () => {
  it("is k8s-aws-v1. + unpadded base64url of a regional presigned GetCallerIdentity URL", async () => {
    const token = await eksBearerToken({
      clusterName: "prod-1",
      region: "eu-west-1",
      credentials: creds,
      now: NOW,
    });
    expect(token.startsWith(EKS_TOKEN_PREFIX)).toBe(true);
    const body = token.slice(EKS_TOKEN_PREFIX.length);
    expect(body).toMatch(/^[A-Za-z0-9_-]+$/); // no '+', '/', '='
    const url = new URL(Buffer.from(body, "base64url").toString("utf8"));
    expect(url.protocol).toBe("https:");
    expect(url.host).toBe("sts.eu-west-1.amazonaws.com");
    expect(url.pathname).toBe("/");
    const q = url.searchParams;
    expect(q.get("Action")).toBe("GetCallerIdentity");
    expect(q.get("Version")).toBe("2011-06-15");
    expect(q.get("X-Amz-Algorithm")).toBe("AWS4-HMAC-SHA256");
    expect(q.get("X-Amz-Credential")).toBe("AKIAIOSFODNN7EXAMPLE/20240305/eu-west-1/sts/aws4_request");
    expect(q.get("X-Amz-Date")).toBe("20240305T070809Z");
    expect(q.get("X-Amz-Expires")).toBe("60");
    expect(q.get("X-Amz-SignedHeaders")).toBe("host;x-k8s-aws-id");
    expect(q.get("X-Amz-Security-Token")).toBe(creds.sessionToken);
    expect(q.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    // The cluster name is a signed header, never hoisted into the query.
    expect(token).not.toContain("prod-1");
    expect(url.search).not.toContain("prod-1");
    // Only the parameters aws-iam-authenticator's verifier whitelists, each once.
    const allowed = new Set([
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
    const keys = [...q.keys()];
    expect(keys.every((k) => allowed.has(k.toLowerCase()))).toBe(true);
    expect(new Set(keys).size).toBe(keys.length);
    expect(token.length).toBeLessThan(4096); // the authenticator's maximum
  });

  it("carries a signature an independent SigV4 implementation reproduces", async () => {
    const token = await eksBearerToken({
      clusterName: "prod-1",
      region: "eu-west-1",
      credentials: creds,
      now: NOW,
    });
    const url = decodeEksToken(token);
    const query = [...url.searchParams].filter(([k]) => k !== "X-Amz-Signature");
    const expected = referenceSignature({
      method: "GET",
      path: "/",
      query,
      headers: { host: "sts.eu-west-1.amazonaws.com", "x-k8s-aws-id": "prod-1" },
      payloadHash: EMPTY_SHA256,
      secretAccessKey: creds.secretAccessKey,
      amzDate: "20240305T070809Z",
      region: "eu-west-1",
      service: "sts",
    });
    expect(url.searchParams.get("X-Amz-Signature")).toBe(expected.signature);

    // The signature binds the cluster name: replaying for another cluster would not verify.
    const other = referenceSignature({
      method: "GET",
      path: "/",
      query,
      headers: { host: "sts.eu-west-1.amazonaws.com", "x-k8s-aws-id": "prod-2" },
      payloadHash: EMPTY_SHA256,
      secretAccessKey: creds.secretAccessKey,
      amzDate: "20240305T070809Z",
      region: "eu-west-1",
      service: "sts",
    });
    expect(other.signature).not.toBe(expected.signature);
  });

  it("signs without a session token for long-term credentials", async () => {
    const { sessionToken: _omit, ...longTerm } = creds;
    const token = await eksBearerToken({
      clusterName: "c",
      region: "us-east-1",
      credentials: longTerm,
      now: NOW,
    });
    const url = decodeEksToken(token);
    expect(url.searchParams.has("X-Amz-Security-Token")).toBe(false);
    const expected = referenceSignature({
      method: "GET",
      path: "/",
      query: [...url.searchParams].filter(([k]) => k !== "X-Amz-Signature"),
      headers: { host: "sts.us-east-1.amazonaws.com", "x-k8s-aws-id": "c" },
      payloadHash: EMPTY_SHA256,
      secretAccessKey: creds.secretAccessKey,
      amzDate: "20240305T070809Z",
      region: "us-east-1",
      service: "sts",
    });
    expect(url.searchParams.get("X-Amz-Signature")).toBe(expected.signature);
  });

  it("accepts a credential provider and is fresh per call (time changes the token)", async () => {
    const provider = async () => creds;
    const a = await eksBearerToken({
      clusterName: "c",
      region: "us-east-1",
      credentials: provider,
      now: NOW,
    });
    const b = await eksBearerToken({
      clusterName: "c",
      region: "us-east-1",
      credentials: provider,
      now: new Date(NOW.getTime() + 1000),
    });
    expect(a).not.toBe(b);
    expect(decodeEksToken(b).searchParams.get("X-Amz-Date")).toBe("20240305T070810Z");
  });

  it("names the partition's canonical regional STS host (aws-iam-authenticator v0.7 accepts exactly these)", () => {
    const cases: [string, string][] = [
      ["us-west-2", "sts.us-west-2.amazonaws.com"], // aws
      ["us-east-1", "sts.us-east-1.amazonaws.com"], // aws: regional, never the global host
      ["cn-north-1", "sts.cn-north-1.amazonaws.com.cn"], // aws-cn
      ["cn-northwest-1", "sts.cn-northwest-1.amazonaws.com.cn"],
      ["us-gov-west-1", "sts.us-gov-west-1.amazonaws.com"], // aws-us-gov
      ["us-iso-east-1", "sts.us-iso-east-1.c2s.ic.gov"], // aws-iso
      ["us-isob-east-1", "sts.us-isob-east-1.sc2s.sgov.gov"], // aws-iso-b
      ["eusc-de-east-1", "sts.eusc-de-east-1.amazonaws.eu"], // aws-eusc
    ];
    for (const [region, host] of cases) expect(stsRegionalEndpoint(region), region).toBe(`https://${host}/`);
  });

  it("signs each partition's token for that host, with the region in the credential scope", async () => {
    for (const [region, host] of [
      ["eusc-de-east-1", "sts.eusc-de-east-1.amazonaws.eu"],
      ["us-iso-east-1", "sts.us-iso-east-1.c2s.ic.gov"],
      ["us-isob-east-1", "sts.us-isob-east-1.sc2s.sgov.gov"],
      ["cn-north-1", "sts.cn-north-1.amazonaws.com.cn"],
    ] as const) {
      const url = decodeEksToken(
        await eksBearerToken({ clusterName: "c", region, credentials: creds, now: NOW }),
      );
      expect(url.origin).toBe(`https://${host}`);
      expect(url.searchParams.get("X-Amz-Credential")).toBe(
        `${creds.accessKeyId}/20240305/${region}/sts/aws4_request`,
      );
      const expected = referenceSignature({
        method: "GET",
        path: "/",
        query: [...url.searchParams].filter(([k]) => k !== "X-Amz-Signature"),
        headers: { host, "x-k8s-aws-id": "c" },
        payloadHash: EMPTY_SHA256,
        secretAccessKey: creds.secretAccessKey,
        amzDate: "20240305T070809Z",
        region,
        service: "sts",
      });
      expect(url.searchParams.get("X-Amz-Signature")).toBe(expected.signature);
    }
  });

  it("refuses a region that is not a region name (it would steer the host)", async () => {
    for (const region of ["", "eu-west-1.evil.example", "eu-west-1/x", "EU-WEST-1", "eu-west-1:443"]) {
      expect(() => stsRegionalEndpoint(region), region).toThrow(/not an AWS region name/);
      await expect(eksBearerToken({ clusterName: "c", region, credentials: creds })).rejects.toThrow(
        /not an AWS region name/,
      );
    }
  });

  describe("endpoint overrides never reach the token", () => {
    const VARS = [
      "AWS_ENDPOINT_URL_STS",
      "AWS_ENDPOINT_URL",
      "AWS_USE_FIPS_ENDPOINT",
      "AWS_USE_DUALSTACK_ENDPOINT",
    ];
    let saved: Record<string, string | undefined>;
    beforeEach(() => {
      saved = Object.fromEntries(VARS.map((v) => [v, process.env[v]]));
    });
    afterEach(() => {
      for (const v of VARS) {
        if (saved[v] === undefined) delete process.env[v];
        else process.env[v] = saved[v];
      }
      vi.resetModules();
    });

    it("AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL and FIPS/dual-stack settings are ignored, per cluster region", async () => {
      process.env.AWS_ENDPOINT_URL_STS = "https://vpce-0abc-12345678.sts.us-east-1.vpce.amazonaws.com";
      process.env.AWS_ENDPOINT_URL = "http://127.0.0.1:5000";
      process.env.AWS_USE_FIPS_ENDPOINT = "true";
      process.env.AWS_USE_DUALSTACK_ENDPOINT = "true";
      // A fresh module, so the SDK client behind the resolver is built with the overrides set.
      vi.resetModules();
      const fresh = await import("../../functions/sweep/eks-token.js");
      for (const [region, host] of [
        ["us-east-1", "sts.us-east-1.amazonaws.com"],
        ["eu-west-1", "sts.eu-west-1.amazonaws.com"],
        ["cn-north-1", "sts.cn-north-1.amazonaws.com.cn"],
      ] as const) {
        expect(fresh.stsRegionalEndpoint(region)).toBe(`https://${host}/`);
        const token = await fresh.eksBearerToken({ clusterName: "c", region, credentials: creds, now: NOW });
        expect(fresh.decodeEksToken(token).origin).toBe(`https://${host}`);
      }
    });

    it("only AWS_ENDPOINT_URL set: still the regional host", async () => {
      delete process.env.AWS_ENDPOINT_URL_STS;
      process.env.AWS_ENDPOINT_URL = "https://sts.us-east-1.amazonaws.com";
      vi.resetModules();
      const fresh = await import("../../functions/sweep/eks-token.js");
      const token = await fresh.eksBearerToken({
        clusterName: "c",
        region: "ap-south-1",
        credentials: creds,
      });
      expect(fresh.decodeEksToken(token).host).toBe("sts.ap-south-1.amazonaws.com");
    });
  });

  it("fails with a clear error when the token would exceed the authenticator's 4096 characters", async () => {
    const longSession = { ...creds, sessionToken: "A".repeat(3000) };
    await expect(
      eksBearerToken({ clusterName: "prod-1", region: "eu-west-1", credentials: longSession, now: NOW }),
    ).rejects.toThrow(
      /^EKS token for cluster prod-1 is \d+ characters; the authenticator accepts at most 4096/,
    );
    // Just under the limit still works.
    const fits = { ...creds, sessionToken: "A".repeat(2200) };
    const token = await eksBearerToken({
      clusterName: "prod-1",
      region: "eu-west-1",
      credentials: fits,
      now: NOW,
    });
    expect(token.length).toBeLessThanOrEqual(EKS_TOKEN_MAX_LENGTH);
  });

  it("rejects malformed tokens and an empty cluster name", async () => {
    expect(() => decodeEksToken("k8s-aws-v2.abc")).toThrow(/prefix/);
    expect(() => decodeEksToken("k8s-aws-v1.abc+/=")).toThrow(/base64url/);
    await expect(
      eksBearerToken({ clusterName: "", region: "us-east-1", credentials: creds }),
    ).rejects.toThrow();
  });
});
