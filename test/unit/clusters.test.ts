// resolveClusters with fake AWS clients: statuses, filters, isolation, token reuse.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import { resolveClusters, tokenFromSecretString, type ClusterDeps } from "../../functions/sweep/clusters.js";
import { decodeEksToken, eksBearerToken } from "../../functions/sweep/eks-token.js";

/** 20240305T070809Z → Date */
const amzDate = (value: string): Date =>
  new Date(value.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));

type Send = (command: { constructor: { name: string }; input: Record<string, unknown> }) => Promise<unknown>;

function fakeDeps(
  clusters: Record<string, { status: string; tags?: Record<string, string> } | Error>,
  now = () => 0,
) {
  const calls: string[] = [];
  const eksSend: Send = async (command) => {
    calls.push(`${command.constructor.name}:${String(command.input.name ?? "")}`);
    if (command.constructor.name === "ListClustersCommand") return { clusters: Object.keys(clusters) };
    const c = clusters[command.input.name as string]!;
    if (c instanceof Error) throw c;
    return {
      cluster: {
        name: command.input.name,
        status: c.status,
        tags: c.tags ?? {},
        endpoint: "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
        certificateAuthority: { data: "Q0E=" },
        resourcesVpcConfig: { vpcId: "vpc-0123" },
      },
    };
  };
  let secretReads = 0;
  let credentialReads = 0;
  const deps: ClusterDeps = {
    defaultRegion: "eu-west-1",
    now,
    forRegion: () =>
      ({
        eks: { send: eksSend },
        sts: {
          config: {
            credentials: async () => {
              credentialReads += 1;
              return { accessKeyId: "AKID", secretAccessKey: "s" };
            },
          },
        },
        ssm: { send: async () => ({ Parameter: { Value: `tok-${++secretReads}` } }) },
        secretsManager: { send: async () => ({ SecretString: '{"token":"sm-token"}' }) },
      }) as unknown as ReturnType<ClusterDeps["forRegion"]>,
  };
  return { deps, calls, secretReads: () => secretReads, credentialReads: () => credentialReads };
}

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** A log that keeps every line, with its level. */
function recordingLog() {
  const lines: { level: string; message: string; extra: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (message: string, extra: Record<string, unknown> = {}) =>
      void lines.push({ level, message, extra });
  return { log: { info: at("info"), warn: at("warn"), error: at("error") }, lines };
}

/** One self-managed cluster whose token lives in SSM. */
const labConfig = () =>
  parseConfig({
    eks: { discovery: false },
    selfManaged: [
      {
        name: "lab",
        region: "eu-west-1",
        endpoint: "https://10.0.0.10:6443",
        caData: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        credential: { ssmParameter: "/lab/token" },
        vpcIds: ["vpc-0abc1234def567890"],
      },
    ],
  });

describe("resolveClusters (fake clients)", () => {
  it("sweeps ACTIVE and UPDATING clusters, skips the others, isolates a failing describe", async () => {
    const { deps } = fakeDeps({
      a: { status: "ACTIVE" },
      b: { status: "UPDATING" },
      c: { status: "CREATING" },
      d: { status: "FAILED" },
      e: Object.assign(new Error("throttled"), { name: "ThrottlingException" }),
    });
    const { targets, failures } = await resolveClusters(parseConfig({}), deps, quiet);
    expect(targets.map((t) => t.facts.name)).toEqual(["a", "b"]);
    expect(targets[0]!.facts).toEqual({ name: "a", kind: "eks", region: "eu-west-1", vpcIds: ["vpc-0123"] });
    expect(targets[0]!.caData).toBe("Q0E=");
    expect(failures).toEqual([
      { cluster: "e", region: "eu-west-1", error: "DescribeCluster: ThrottlingException: throttled" },
    ]);
  });

  it("applies include/exclude globs before describing and the tag filter after", async () => {
    const { deps, calls } = fakeDeps({
      "prod-a": { status: "ACTIVE", tags: { env: "prod" } },
      "prod-b": { status: "ACTIVE", tags: { env: "staging" } },
      "prod-tmp": { status: "ACTIVE", tags: { env: "prod" } },
      dev: { status: "ACTIVE", tags: { env: "prod" } },
    });
    const config = parseConfig({ eks: { include: ["prod-*"], exclude: ["*-tmp"], tags: { env: "prod" } } });
    const { targets } = await resolveClusters(config, deps, quiet);
    expect(targets.map((t) => t.facts.name)).toEqual(["prod-a"]);
    expect(calls.filter((c) => c.startsWith("DescribeCluster")).sort()).toEqual([
      "DescribeClusterCommand:prod-a",
      "DescribeClusterCommand:prod-b",
    ]);
  });

  it("mints EKS tokens for the cluster's own name and reuses them briefly", async () => {
    let clock = 0;
    const { deps, credentialReads } = fakeDeps({ a: { status: "ACTIVE" } }, () => clock);
    const { targets } = await resolveClusters(parseConfig({}), deps, quiet);
    const first = await targets[0]!.token();
    expect(decodeEksToken(first).host).toBe("sts.eu-west-1.amazonaws.com");
    expect(await targets[0]!.token()).toBe(first);
    expect(credentialReads()).toBe(1);
    clock += 6 * 60_000;
    await targets[0]!.token();
    expect(credentialReads()).toBe(2); // minted afresh after the reuse window
  });

  it("signs for the cluster region's canonical STS host whatever endpoint override is set", async () => {
    const saved = [process.env.AWS_ENDPOINT_URL, process.env.AWS_ENDPOINT_URL_STS];
    process.env.AWS_ENDPOINT_URL = "http://127.0.0.1:5000";
    process.env.AWS_ENDPOINT_URL_STS = "https://vpce-0abc-12345678.sts.us-east-1.vpce.amazonaws.com";
    try {
      const { deps } = fakeDeps({ a: { status: "ACTIVE" } });
      const config = parseConfig({ regions: ["cn-north-1", "eu-west-1"] });
      const { targets } = await resolveClusters(config, deps, quiet);
      const hosts = await Promise.all(targets.map(async (t) => decodeEksToken(await t.token()).host));
      expect(hosts.sort()).toEqual(["sts.cn-north-1.amazonaws.com.cn", "sts.eu-west-1.amazonaws.com"]);
    } finally {
      for (const [i, name] of ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS"].entries()) {
        if (saved[i] === undefined) delete process.env[name];
        else process.env[name] = saved[i];
      }
    }
  });

  it("aws-iam-authenticator clusters get an EKS-style token for their cluster ID, nothing is read", async () => {
    const { deps, secretReads, credentialReads } = fakeDeps({});
    const config = parseConfig({
      eks: { discovery: false },
      selfManaged: [
        {
          name: "kops-lab",
          region: "eu-central-1",
          endpoint: "https://api.kops-lab.example.com",
          caData: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
          credential: { awsIamAuthenticator: { clusterId: "kops-lab.k8s.example.com" } },
          vpcIds: ["vpc-0abc1234def567890"],
        },
      ],
    });
    const { targets } = await resolveClusters(config, deps, quiet);
    const token = await targets[0]!.token();
    const url = decodeEksToken(token);
    expect(url.host).toBe("sts.eu-central-1.amazonaws.com");
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("host;x-k8s-aws-id");
    expect(url.searchParams.get("X-Amz-Credential")).toMatch(
      /^AKID\/\d{8}\/eu-central-1\/sts\/aws4_request$/,
    );
    expect(secretReads()).toBe(0);
    expect(credentialReads()).toBe(1);
    // The signature binds the cluster ID (x-k8s-aws-id), not the cluster's name here.
    const expected = await eksBearerToken({
      clusterName: "kops-lab.k8s.example.com",
      region: "eu-central-1",
      credentials: { accessKeyId: "AKID", secretAccessKey: "s" },
      now: amzDate(url.searchParams.get("X-Amz-Date")!),
    });
    expect(token).toBe(expected);
  });

  it("logs every cluster-level failure at ERROR with cluster, region, call and error", async () => {
    const { deps } = fakeDeps({
      a: { status: "ACTIVE" },
      e: Object.assign(new Error("throttled"), { name: "ThrottlingException" }),
    });
    const listFails = {
      ...deps,
      forRegion: (region: string) =>
        region === "us-west-2"
          ? ({
              eks: {
                send: async () => {
                  throw Object.assign(new Error("not authorized"), { name: "AccessDeniedException" });
                },
              },
            } as unknown as ReturnType<ClusterDeps["forRegion"]>)
          : deps.forRegion(region),
    };
    const { log, lines } = recordingLog();
    const { failures } = await resolveClusters(
      parseConfig({ regions: ["eu-west-1", "us-west-2"] }),
      listFails,
      log,
    );
    expect(failures).toHaveLength(2);
    const errors = lines.filter((l) => l.level === "error");
    expect(errors.map((l) => l.extra)).toEqual(
      expect.arrayContaining([
        {
          cluster: "e",
          region: "eu-west-1",
          call: "eks:DescribeCluster",
          error: "DescribeCluster: ThrottlingException: throttled",
        },
        {
          cluster: "*",
          region: "us-west-2",
          call: "eks:ListClusters",
          error: "ListClusters: AccessDeniedException: not authorized",
        },
      ]),
    );
    expect(errors).toHaveLength(2);
  });

  it("logs a failed credential read at ERROR with the call and the resource, and retries next time", async () => {
    const { deps } = fakeDeps({});
    let reads = 0;
    const failing = {
      ...deps,
      forRegion: () =>
        ({
          ssm: {
            send: async () => {
              reads += 1;
              if (reads === 1)
                throw Object.assign(new Error("no such parameter"), { name: "ParameterNotFound" });
              return { Parameter: { Value: "tok-ok" } };
            },
          },
        }) as unknown as ReturnType<ClusterDeps["forRegion"]>,
    };
    const { log, lines } = recordingLog();
    const { targets } = await resolveClusters(labConfig(), failing, log);
    await expect(targets[0]!.token()).rejects.toThrow(
      "GetParameter /lab/token: ParameterNotFound: no such parameter",
    );
    await Promise.resolve();
    expect(lines.filter((l) => l.level === "error").map((l) => l.extra)).toEqual([
      {
        cluster: "lab",
        region: "eu-west-1",
        call: "ssm:GetParameter",
        error: "GetParameter /lab/token: ParameterNotFound: no such parameter",
      },
    ]);
    expect(await targets[0]!.token()).toBe("tok-ok");
  });

  it("reads self-managed credentials lazily and again after the reuse window", async () => {
    let clock = 0;
    const { deps, secretReads } = fakeDeps({}, () => clock);
    const config = labConfig();
    const { targets } = await resolveClusters(config, deps, quiet);
    expect(secretReads()).toBe(0);
    expect(targets[0]!.caData).toBe(
      Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").toString("base64"),
    );
    expect(await targets[0]!.token()).toBe("tok-1");
    expect(await targets[0]!.token()).toBe("tok-1");
    clock += 5 * 60_000;
    expect(await targets[0]!.token()).toBe("tok-2");
  });

  it("with a token cache, keeps a credential across resolves until it expires or is forgotten", async () => {
    let clock = 0;
    const { deps, secretReads } = fakeDeps({}, () => clock);
    const config = labConfig();
    const tokenCache = new Map();
    const resolve = async () => (await resolveClusters(config, { ...deps, tokenCache }, quiet)).targets[0]!;
    expect(await (await resolve()).token()).toBe("tok-1");
    clock += 60_000; // the next scheduled invocation, same container
    expect(await (await resolve()).token()).toBe("tok-1");
    expect(secretReads()).toBe(1);
    const target = await resolve();
    target.forgetToken(); // the apiserver said 401
    expect(await target.token()).toBe("tok-2");
    clock += 5 * 60_000;
    expect(await (await resolve()).token()).toBe("tok-3");
    // Without a cache every resolve reads again.
    expect(await (await resolveClusters(config, deps, quiet)).targets[0]!.token()).toBe("tok-4");
  });

  it("reports a missing region instead of throwing", async () => {
    const { deps } = fakeDeps({});
    const { defaultRegion: _drop, ...noRegion } = deps;
    const saved = [process.env.AWS_REGION, process.env.AWS_DEFAULT_REGION];
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      const { targets, failures } = await resolveClusters(parseConfig({}), noRegion, quiet);
      expect(targets).toEqual([]);
      expect(failures).toEqual([{ cluster: "*", region: "", error: expect.stringMatching(/region/) }]);
      const { log, lines } = recordingLog();
      await resolveClusters(parseConfig({}), noRegion, log);
      expect(lines).toEqual([
        { level: "error", message: expect.any(String), extra: { ...failures[0], call: "config" } },
      ]);
    } finally {
      if (saved[0] !== undefined) process.env.AWS_REGION = saved[0];
      if (saved[1] !== undefined) process.env.AWS_DEFAULT_REGION = saved[1];
    }
  });
});

describe("tokenFromSecretString", () => {
  it("accepts a raw token or JSON {token}, trimmed", () => {
    expect(tokenFromSecretString("abc.def-ghi\n")).toBe("abc.def-ghi");
    expect(tokenFromSecretString(' {"token": "eyJhbGciOi.x.y"} ')).toBe("eyJhbGciOi.x.y");
  });
  it("refuses what cannot be a bearer token", () => {
    expect(() => tokenFromSecretString("")).toThrow();
    expect(() => tokenFromSecretString("two words")).toThrow();
    expect(() => tokenFromSecretString("tok\r\nX-Injected: 1")).toThrow();
    expect(() => tokenFromSecretString('{"token": 5}')).toThrow(/token/);
    expect(() => tokenFromSecretString("{not json")).toThrow(/JSON/);
  });
});
