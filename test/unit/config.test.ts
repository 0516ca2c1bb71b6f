import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  DEFAULT_SETTINGS,
  globMatch,
  parseConfig,
  settingsForCluster,
  type Config,
} from "../../functions/core/config.js";

const CA_PEM =
  "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrM3Mtc2Vy\n-----END CERTIFICATE-----\n";
const CA_DATA = Buffer.from(CA_PEM).toString("base64");

function selfManaged(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "kubeadm-lab",
    region: "eu-west-1",
    endpoint: "https://10.0.0.10:6443",
    caData: CA_DATA,
    credential: { ssmParameter: "/csr-approver/kubeadm-lab/token" },
    vpcIds: ["vpc-0abc1234def567890"],
    ...extra,
  };
}

function errorOf(doc: unknown): string {
  try {
    parseConfig(doc);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain("\n");
    return message;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig: defaults", () => {
  it("an empty document gives every default", () => {
    for (const empty of [undefined, null, {}]) {
      const config = parseConfig(empty);
      expect(config).toEqual({
        regions: [],
        defaults: {
          mode: "enforce",
          deny: true,
          pendingGraceSeconds: 900,
          maxExpirationSeconds: 31_708_800,
          extraDnsNames: [],
          nodeNameTemplates: [],
          trustNodeProviderId: false,
          maxApprovalsPerSweep: "auto",
          maxPendingPerNode: 20,
          maxAlertsPerSweep: 20,
          alertRepeatWindowSeconds: 3600,
          notIssuedAfterSeconds: 600,
          audit: true,
          auditWindowSeconds: 3600,
          nonNodeRequests: "deny",
        },
        eks: { discovery: true, include: ["*"], exclude: [], tags: {}, clusters: {} },
        selfManaged: [],
        sweep: {
          concurrency: 4,
          watchWindowSeconds: 180,
          minRemainingMillis: 10_000,
          continuousWatch: false,
          describeInstancesPerSecond: 5,
          describeInstancesBurst: 20,
        },
      } satisfies Config);
    }
  });

  it("DEFAULT_SETTINGS matches the SPEC defaults and cannot be mutated through a parsed config", () => {
    expect(DEFAULT_SETTINGS.pendingGraceSeconds).toBe(900);
    expect(DEFAULT_SETTINGS.maxExpirationSeconds).toBe(31_708_800);
    const config = parseConfig({});
    config.defaults.extraDnsNames.push("x.example.com");
    expect(DEFAULT_SETTINGS.extraDnsNames).toEqual([]);
  });

  it("parses a full document", () => {
    const config = parseConfig({
      regions: ["eu-west-1", "us-gov-west-1"],
      defaults: {
        mode: "dry-run",
        deny: false,
        pendingGraceSeconds: 600,
        maxExpirationSeconds: 86_400,
        extraDnsNames: ["{{shortName}}.corp.example.com", "{{ instanceId }}.{{region}}.example.com"],
        trustNodeProviderId: true,
        maxApprovalsPerSweep: 10,
        notIssuedAfterSeconds: 10,
        clusterTag: { key: "kubernetes.io/cluster/{{cluster}}", values: ["owned", "shared"] },
      },
      eks: {
        discovery: false,
        include: ["prod-*", "stage-?"],
        exclude: ["*-legacy"],
        tags: { team: "platform" },
        clusters: { "prod-eu": { mode: "enforce" } },
      },
      selfManaged: [selfManaged({ deny: true, clusterTag: null })],
      sweep: {
        concurrency: 2,
        watchWindowSeconds: 60,
        minRemainingMillis: 5000,
        continuousWatch: true,
        describeInstancesPerSecond: 2,
        describeInstancesBurst: 4,
      },
    });
    expect(config.regions).toEqual(["eu-west-1", "us-gov-west-1"]);
    expect(config.defaults.mode).toBe("dry-run");
    expect(config.defaults.notIssuedAfterSeconds).toBe(10);
    expect(config.defaults.clusterTag).toEqual({
      key: "kubernetes.io/cluster/{{cluster}}",
      values: ["owned", "shared"],
    });
    expect(config.eks).toEqual({
      discovery: false,
      include: ["prod-*", "stage-?"],
      exclude: ["*-legacy"],
      tags: { team: "platform" },
      clusters: { "prod-eu": { mode: "enforce" } },
    });
    expect(config.selfManaged[0]).toEqual({
      name: "kubeadm-lab",
      region: "eu-west-1",
      endpoint: "https://10.0.0.10:6443",
      caData: CA_DATA,
      credential: { ssmParameter: "/csr-approver/kubeadm-lab/token" },
      vpcIds: ["vpc-0abc1234def567890"],
      overrides: { deny: true, clusterTag: null },
    });
    expect(config.sweep).toEqual({
      concurrency: 2,
      watchWindowSeconds: 60,
      minRemainingMillis: 5000,
      continuousWatch: true,
      describeInstancesPerSecond: 2,
      describeInstancesBurst: 4,
    });
  });

  it("accepts caData as the PEM itself and normalises it to base64", () => {
    const config = parseConfig({ selfManaged: [selfManaged({ caData: CA_PEM })] });
    expect(config.selfManaged[0]?.caData).toBe(CA_DATA);
  });

  it("accepts Secrets Manager ARNs and SSM parameter ARNs", () => {
    const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:csr-approver/lab-AbCdEf";
    expect(
      parseConfig({ selfManaged: [selfManaged({ credential: { secretsManager: arn } })] }).selfManaged[0]
        ?.credential,
    ).toEqual({ secretsManager: arn });
    const ssmArn = "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/csr-approver/lab/token";
    expect(
      parseConfig({ selfManaged: [selfManaged({ credential: { ssmParameter: ssmArn } })] }).selfManaged[0]
        ?.credential,
    ).toEqual({ ssmParameter: ssmArn });
  });
});

describe("parseConfig: errors name the key", () => {
  it.each([
    [{ regio: ["eu-west-1"] }, "config: regio: unknown key"],
    [{ eks: { discovry: true } }, "config: eks.discovry: unknown key"],
    [{ defaults: { pendingGrace: 10 } }, "config: defaults.pendingGrace: unknown key"],
    [{ sweep: { parallel: 2 } }, "config: sweep.parallel: unknown key"],
    [{ selfManaged: [selfManaged({ vpcId: "vpc-0abc1234" })] }, "config: selfManaged[0].vpcId: unknown key"],
    [{ eks: { clusters: { prod: { moed: "dry-run" } } } }, "config: eks.clusters.prod.moed: unknown key"],
    [
      { defaults: { clusterTag: { key: "k", value: "owned" } } },
      "config: defaults.clusterTag.value: unknown key",
    ],
  ])("%j → %s", (doc, message) => {
    expect(errorOf(doc)).toBe(message);
  });

  it.each([
    [[], "config: expected an object, got a list"],
    [{ regions: "eu-west-1" }, "config: regions: expected a list"],
    [
      { regions: ["eu-west-1", "EU"] },
      'config: regions[1]: expected a region name like "eu-west-1", got "EU"',
    ],
    [{ regions: ["eu-west-1", "eu-west-1"] }, "config: regions: lists a region twice"],
    [{ defaults: { mode: "audit" } }, 'config: defaults.mode: expected "enforce" or "dry-run", got "audit"'],
    [{ defaults: { deny: "no" } }, 'config: defaults.deny: expected true or false, got "no"'],
    [{ defaults: { audit: "off" } }, 'config: defaults.audit: expected true or false, got "off"'],
    [
      { eks: { clusters: { prod: { auditWindowSeconds: 30 } } } },
      "config: eks.clusters.prod.auditWindowSeconds: expected an integer from 60 to 86400 (seconds), got 30",
    ],
    [
      { defaults: { pendingGraceSeconds: 0 } },
      "config: defaults.pendingGraceSeconds: expected a positive integer",
    ],
    [
      { defaults: { pendingGraceSeconds: 1.5 } },
      "config: defaults.pendingGraceSeconds: expected a positive integer",
    ],
    [
      { defaults: { notIssuedAfterSeconds: 9 } },
      "config: defaults.notIssuedAfterSeconds: expected an integer from 10 to 86400 (seconds), got 9",
    ],
    [
      { defaults: { notIssuedAfterSeconds: 86_401 } },
      "config: defaults.notIssuedAfterSeconds: expected an integer from 10 to 86400 (seconds), got 86401",
    ],
    [
      { defaults: { notIssuedAfterSeconds: 60.5 } },
      "config: defaults.notIssuedAfterSeconds: expected an integer from 10 to 86400 (seconds), got 60.5",
    ],
    [
      { defaults: { notIssuedAfterSeconds: "600" } },
      'config: defaults.notIssuedAfterSeconds: expected an integer from 10 to 86400 (seconds), got "600"',
    ],
    [
      { eks: { clusters: { prod: { notIssuedAfterSeconds: 0 } } } },
      "config: eks.clusters.prod.notIssuedAfterSeconds: expected an integer from 10 to 86400 (seconds), got 0",
    ],
    [
      { defaults: { maxExpirationSeconds: "900" } },
      "config: defaults.maxExpirationSeconds: expected a positive integer",
    ],
    [
      { defaults: { maxApprovalsPerSweep: -1 } },
      "config: defaults.maxApprovalsPerSweep: expected a positive integer",
    ],
    [
      { defaults: { trustNodeProviderId: 1 } },
      "config: defaults.trustNodeProviderId: expected true or false",
    ],
    [
      { defaults: { extraDnsNames: ["*.example.com"] } },
      "config: defaults.extraDnsNames[0]: expected a DNS name template",
    ],
    [
      { defaults: { extraDnsNames: ["{{hostname}}.example.com"] } },
      "config: defaults.extraDnsNames[0]: unknown placeholder {{hostname}}",
    ],
    [
      { defaults: { extraDnsNames: ["a..example.com"] } },
      "config: defaults.extraDnsNames[0]: expected a DNS name template",
    ],
    [
      { eks: { clusters: { prod: { extraDnsNames: ["nodes.{{region}}.example.com"] } } } },
      'config: eks.clusters.prod.extraDnsNames[0]: "nodes.{{region}}.example.com" names no instance',
    ],
    [{ defaults: { clusterTag: null } }, "config: defaults.clusterTag: expected an object"],
    [{ defaults: { clusterTag: { key: "" } } }, "config: defaults.clusterTag.key: expected a tag key"],
    [
      { defaults: { clusterTag: { key: "k/{{name}}" } } },
      "config: defaults.clusterTag.key: unknown placeholder {{name}}",
    ],
    [
      { defaults: { clusterTag: { key: "k", values: [] } } },
      "config: defaults.clusterTag.values: expected a non-empty list",
    ],
    [{ eks: { discovery: "yes" } }, 'config: eks.discovery: expected true or false, got "yes"'],
    [{ eks: { include: ["prod/*"] } }, "config: eks.include[0]: expected a cluster name glob"],
    [{ eks: { exclude: "legacy" } }, "config: eks.exclude: expected a list"],
    [{ eks: { tags: { team: 1 } } }, "config: eks.tags.team: expected a string"],
    [
      { eks: { clusters: { prod: { deny: "x" } } } },
      "config: eks.clusters.prod.deny: expected true or false",
    ],
    [{ eks: { clusters: { "bad name": {} } } }, "config: eks.clusters.bad name: expected a cluster name"],
    [{ selfManaged: {} }, "config: selfManaged: expected a list"],
    [
      { selfManaged: [selfManaged({ name: undefined })] },
      "config: selfManaged[0].name: required key is missing",
    ],
    [
      { selfManaged: [selfManaged({ region: "Ireland" })] },
      "config: selfManaged[0].region: expected a region name",
    ],
    [
      { selfManaged: [selfManaged({ endpoint: "http://10.0.0.10:6443" })] },
      "config: selfManaged[0].endpoint: expected an https URL",
    ],
    [
      { selfManaged: [selfManaged({ endpoint: "10.0.0.10:6443" })] },
      "config: selfManaged[0].endpoint: expected an https URL",
    ],
    [
      { selfManaged: [selfManaged({ caData: "bm90IGEgY2VydA==" })] },
      "config: selfManaged[0].caData: expected base64 of a PEM CA certificate",
    ],
    [
      { selfManaged: [selfManaged({ credential: {} })] },
      "config: selfManaged[0].credential: expected exactly one of secretsManager, ssmParameter or awsIamAuthenticator",
    ],
    [
      { selfManaged: [selfManaged({ credential: { ssmParameter: "/a", secretsManager: "arn:x" } })] },
      "config: selfManaged[0].credential: expected exactly one of secretsManager, ssmParameter or awsIamAuthenticator",
    ],
    [
      { selfManaged: [selfManaged({ credential: { secretsManager: "my-secret" } })] },
      "config: selfManaged[0].credential.secretsManager: expected a Secrets Manager secret ARN",
    ],
    [
      { selfManaged: [selfManaged({ credential: { ssmParameter: "/aws/reserved" } })] },
      "config: selfManaged[0].credential.ssmParameter: expected an SSM parameter name",
    ],
    [
      { selfManaged: [selfManaged({ credential: { ssmParameter: "has space" } })] },
      "config: selfManaged[0].credential.ssmParameter: expected an SSM parameter name",
    ],
    [
      { selfManaged: [selfManaged({ credential: { token: "abc" } })] },
      "config: selfManaged[0].credential.token: unknown key",
    ],
    [
      { selfManaged: [selfManaged(), selfManaged({ vpcIds: [] })] },
      'config: selfManaged[1].vpcIds: expected a non-empty list of VPC IDs like "vpc-0abc1234def567890", got a list',
    ],
    [
      { selfManaged: [selfManaged({ vpcIds: ["vpc-xyz"] })] },
      'config: selfManaged[0].vpcIds[0]: expected a VPC ID like "vpc-0abc1234def567890", got "vpc-xyz"',
    ],
    [
      { selfManaged: [selfManaged({ mode: "off" })] },
      'config: selfManaged[0].mode: expected "enforce" or "dry-run", got "off"',
    ],
    [
      { selfManaged: [selfManaged(), selfManaged()] },
      'config: selfManaged[1].name: "kubeadm-lab" is used by an earlier cluster',
    ],
    [{ sweep: { concurrency: 0 } }, "config: sweep.concurrency: expected a positive integer"],
    [
      { sweep: { watchWindowSeconds: "3m" } },
      "config: sweep.watchWindowSeconds: expected a positive integer",
    ],
  ])("%j → %s", (doc, prefix) => {
    expect(errorOf(doc).startsWith(prefix)).toBe(true);
  });

  it("the ConfigError carries the path and the problem separately", () => {
    try {
      parseConfig({ eks: { discovry: true } });
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ path: "eks.discovry", problem: "unknown key" });
    }
  });
});

describe("nodeNameTemplates", () => {
  it("defaults apply to every cluster; a cluster's own list replaces them", () => {
    const config = parseConfig({
      defaults: { nodeNameTemplates: ["{{shortName}}.corp.example.com"] },
      eks: { clusters: { prod: { nodeNameTemplates: [] } } },
      selfManaged: [selfManaged({ nodeNameTemplates: ["{{tag:Name}}", "{{tag:Name}}.k8s.internal"] })],
    });
    expect(settingsForCluster(config, "other", "eks").nodeNameTemplates).toEqual([
      "{{shortName}}.corp.example.com",
    ]);
    expect(settingsForCluster(config, "prod", "eks").nodeNameTemplates).toEqual([]);
    expect(settingsForCluster(config, config.selfManaged[0]!.name, "self-managed").nodeNameTemplates).toEqual(
      ["{{tag:Name}}", "{{tag:Name}}.k8s.internal"],
    );
  });

  it.each([
    [["node1"], 'defaults.nodeNameTemplates[0]: "node1" names no instance'],
    [["{{tag:Name}}", "{{region}}.x"], 'defaults.nodeNameTemplates[1]: "{{region}}.x" names no instance'],
    [["{{tag:}}"], "defaults.nodeNameTemplates[0]: {{tag:}} names no tag key"],
    [["{{name}}"], "defaults.nodeNameTemplates[0]: unknown placeholder {{name}}"],
    [[""], "defaults.nodeNameTemplates[0]: expected a node name template"],
    ["{{tag:Name}}", "defaults.nodeNameTemplates: expected a list"],
  ])("%j is refused with one line naming the key", (templates, message) => {
    const error = errorOf({ defaults: { nodeNameTemplates: templates } });
    expect(error).toContain(`config: ${message}`);
    expect(error).not.toContain("\n");
  });
});

describe("settingsForCluster", () => {
  const config = parseConfig({
    defaults: {
      pendingGraceSeconds: 600,
      extraDnsNames: ["{{shortName}}.corp.example.com"],
      clusterTag: { key: "kubernetes.io/cluster/{{cluster}}", values: ["owned", "shared"] },
    },
    eks: {
      clusters: { "prod-eu": { mode: "dry-run", pendingGraceSeconds: 300 }, untagged: { clusterTag: null } },
    },
    selfManaged: [
      selfManaged({ deny: false, clusterTag: { key: "cluster", values: ["{{cluster}}"] } }),
      selfManaged({ name: "plain" }),
    ],
  });

  it("an EKS cluster gets defaults ← its override, with {{cluster}} expanded in the tag key", () => {
    expect(settingsForCluster(config, "prod-eu", "eks")).toEqual({
      ...DEFAULT_SETTINGS,
      mode: "dry-run",
      pendingGraceSeconds: 300,
      extraDnsNames: ["{{shortName}}.corp.example.com"],
      clusterTag: { key: "kubernetes.io/cluster/prod-eu", values: ["owned", "shared"] },
    });
  });

  it("a cluster without an override gets the defaults", () => {
    expect(settingsForCluster(config, "other", "eks")).toMatchObject({
      mode: "enforce",
      pendingGraceSeconds: 600,
      clusterTag: { key: "kubernetes.io/cluster/other" },
    });
    expect(settingsForCluster(config, "plain", "self-managed")).toMatchObject({
      deny: true,
      clusterTag: { key: "kubernetes.io/cluster/plain" },
    });
  });

  it("clusterTag: null turns the default tag check off for that cluster only", () => {
    expect(settingsForCluster(config, "untagged", "eks").clusterTag).toBeUndefined();
    expect(settingsForCluster(config, "prod-eu", "eks").clusterTag).toBeDefined();
  });

  it("a self-managed cluster's inline keys override the defaults; only the key is a template", () => {
    expect(settingsForCluster(config, "kubeadm-lab", "self-managed")).toMatchObject({
      deny: false,
      pendingGraceSeconds: 600,
      clusterTag: { key: "cluster", values: ["{{cluster}}"] },
    });
  });

  it("kind selects where the override comes from: an EKS override never applies to a self-managed cluster", () => {
    expect(settingsForCluster(config, "prod-eu", "self-managed").mode).toBe("enforce");
    expect(settingsForCluster(config, "kubeadm-lab", "eks").deny).toBe(true);
  });

  it("returns a copy: changing it does not change the config", () => {
    const settings = settingsForCluster(config, "prod-eu", "eks");
    settings.extraDnsNames.push("x");
    settings.clusterTag?.values?.push("x");
    expect(config.defaults.extraDnsNames).toEqual(["{{shortName}}.corp.example.com"]);
    expect(config.defaults.clusterTag?.values).toEqual(["owned", "shared"]);
  });

  it("an inherited property name is not a cluster override", () => {
    expect(settingsForCluster(config, "constructor", "eks").mode).toBe("enforce");
  });
});

describe("globMatch", () => {
  it.each([
    ["*", "anything", true],
    ["*", "", true],
    ["prod-*", "prod-eu", true],
    ["prod-*", "preprod-eu", false],
    ["stage-?", "stage-1", true],
    ["stage-?", "stage-12", false],
    ["a.b", "a.b", true],
    ["a.b", "axb", false],
    ["*-legacy", "old-legacy", true],
    ["exact", "Exact", false],
    ["a*b*c", "abc", true],
    ["a*b*c", "aXbYc", true],
    ["a*b*c", "aXbYcZ", false],
    ["a*b?c", "abbbXc", true],
    ["*?", "", false],
    ["?*", "x", true],
    ["**", "", true],
    ["*a", "aaa", true],
    ["a*", "ba", false],
    ["*.*", "a.b", true],
    ["*.*", "ab", false],
    ["?", "", false],
    ["", "", true],
    ["", "a", false],
  ])("%s vs %s → %s", (pattern, name, expected) => {
    expect(globMatch(pattern, name)).toBe(expected);
  });

  // The matcher it replaced: one regex, `*` as `.*` (correct, but it backtracks).
  function reference(pattern: string, name: string): boolean {
    const regex = pattern
      .split("")
      .map((char) => (char === "*" ? ".*" : char === "?" ? "." : char.replace(/[\\^$.|+()[\]{}]/g, "\\$&")))
      .join("");
    return new RegExp(`^${regex}$`, "s").test(name);
  }

  it("agrees with the regex reference on random patterns and names", () => {
    // A small alphabet so that matches are frequent; lengths small so the reference stays fast.
    const char = fc.constantFrom("a", "b", "-", ".", "_", "A", "0");
    const patternChar = fc.oneof(char, fc.constantFrom("*", "?"));
    fc.assert(
      fc.property(
        fc.array(patternChar, { maxLength: 10 }).map((chars) => chars.join("")),
        fc.array(char, { maxLength: 14 }).map((chars) => chars.join("")),
        (pattern, name) => globMatch(pattern, name) === reference(pattern, name),
      ),
      { numRuns: 20_000 },
    );
  });

  it("agrees with the reference when the name is built to match the pattern", () => {
    // Expand each `*` into some text and each `?` into one character: always a match.
    const char = fc.constantFrom("a", "b", "-", ".");
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("*", "?", "a", "b", "-"), fc.array(char, { maxLength: 4 })), {
          maxLength: 8,
        }),
        (parts) => {
          const pattern = parts.map(([token]) => token).join("");
          const name = parts
            .map(([token, fill]) =>
              token === "*" ? fill.join("") : token === "?" ? (fill[0] ?? "x") : token,
            )
            .join("");
          return globMatch(pattern, name) && reference(pattern, name);
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it("takes linear time on adversarial names (no backtracking blow-up)", () => {
    const adversarial: [string, string][] = [
      ["*-*-*-*-*-*-prod", "a-".repeat(50)], // the reported case: ~10 s with the regex
      ["*-*-*-*-*-*-prod", "-".repeat(100)],
      ["*a*a*a*a*a*a*a*a*a*a*b", "a".repeat(100)],
      ["*?*?*?*?*?*?*?*?*?*?x", "y".repeat(100)],
      ["*-*-*-*-*-*-prod", "a-".repeat(5_000)], // far longer than EKS allows (100)
    ];
    const started = performance.now();
    for (let round = 0; round < 20; round++) {
      for (const [pattern, name] of adversarial) expect(globMatch(pattern, name)).toBe(false);
    }
    // ~2 ms on an idle laptop; the bound leaves room for a loaded CI machine.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(globMatch("*-*-*-*-*-*-prod", `${"a-".repeat(50)}prod`)).toBe(true);
  });
});
