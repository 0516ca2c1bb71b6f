// Nodes outside EC2 (nonEc2Nodes, checks 16-18): the decision table on REAL CSRs (signed by
// test/support/csr-factory.ts, parsed by the product's parser), the pattern matcher against an
// independent oracle, the prefix arithmetic, and the configuration keys.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, settingsForCluster } from "../../functions/core/config.js";
import { cidrContains, nodeNameMatches, parseCidr } from "../../functions/core/non-ec2.js";
import { planFor } from "../../functions/core/plan.js";
import { decide } from "../../functions/core/policy.js";
import { parseCertificateRequest } from "../../functions/core/request.js";
import type {
  ClusterFacts,
  ClusterPolicySettings,
  CsrObject,
  DecisionKind,
  Ec2Instance,
  NodeObject,
  ReasonCode,
} from "../../functions/core/types.js";
import { kubeletCsrObject } from "../support/csr-factory.js";
import {
  A,
  A_ID,
  A_IP,
  A_NAME,
  ALL,
  CREATED,
  NOW_FRESH,
  NOW_STALE,
  cluster,
  instance,
  settings,
} from "./policy-fixtures.js";

const RULES = {
  nodeNames: ["onprem-*", "hybrid-??.dc1"],
  ipRanges: ["192.168.10.0/24", "fd00:10::/64"],
  dnsNames: ["{{nodeName}}", "{{shortName}}.dc1.example.com"],
};
const ONPREM = "onprem-7";
const ONPREM_IP = "192.168.10.7";

function csr(
  node: string,
  opts: {
    dns?: string[];
    ips?: string[];
    extra?: Record<string, string[]>;
    username?: string;
    groups?: string[];
  } = {},
): CsrObject {
  return kubeletCsrObject({
    node,
    dnsNames: opts.dns ?? [node],
    ips: opts.ips ?? [ONPREM_IP],
    creationTimestamp: CREATED,
    extra: opts.extra,
    username: opts.username,
    groups: opts.groups,
  });
}

interface Case {
  name: string;
  csr: CsrObject;
  instances?: Ec2Instance[] | { unavailable: string };
  nodes?: NodeObject[];
  cluster?: Partial<ClusterFacts>;
  settings?: Partial<ClusterPolicySettings>;
  now?: Date;
  decision: DecisionKind;
  codes: ReasonCode[];
  says?: string[];
}

const withRules = { nonEc2Nodes: RULES };
const EKS_HYBRID: Partial<ClusterFacts> = { kind: "eks", remoteNodeNetworks: ["192.168.0.0/16"] };

const cases: Case[] = [
  // --- approve ----------------------------------------------------------------------------
  {
    name: "on-prem node: name matches, IP in range, DNS from a template, EC2 knows nothing",
    csr: csr(ONPREM, { dns: [ONPREM, "onprem-7.dc1.example.com"] }),
    settings: withRules,
    decision: "approve",
    codes: ["NON_EC2_RULES_PASSED"],
    says: ["outside EC2", "onprem-*"],
  },
  {
    name: "IPv6 SAN in an IPv6 range, `?` pattern over a two-label name",
    csr: csr("hybrid-ab.dc1", { dns: ["hybrid-ab.dc1", "hybrid-ab.dc1.example.com"], ips: ["fd00:10::a"] }),
    settings: withRules,
    decision: "approve",
    codes: ["NON_EC2_RULES_PASSED"],
  },
  {
    name: "EKS Hybrid Node: IP inside the rules and the cluster's remote node networks",
    csr: csr(ONPREM),
    cluster: EKS_HYBRID,
    settings: withRules,
    decision: "approve",
    codes: ["NON_EC2_RULES_PASSED"],
  },
  {
    name: "EKS Hybrid Node: a non-instance-ID session name does not tie it to EC2",
    csr: csr(ONPREM, { extra: { sessionName: ["mi-0123456789abcdef0"] } }),
    cluster: EKS_HYBRID,
    settings: withRules,
    decision: "approve",
    codes: ["NON_EC2_RULES_PASSED"],
  },
  {
    name: "a terminated instance that once held the IP does not count",
    csr: csr(ONPREM),
    instances: [instance({ id: "i-0dead0000000000077", ip: ONPREM_IP, state: "terminated" })],
    settings: withRules,
    decision: "approve",
    codes: ["NON_EC2_RULES_PASSED"],
  },
  {
    name: "the Node object's non-EC2 providerID is no obstacle",
    csr: csr(ONPREM),
    nodes: [{ metadata: { name: ONPREM }, spec: { providerID: "eks-hybrid:///eu-west-1/prod/onprem-7" } }],
    settings: withRules,
    decision: "approve",
    codes: ["NON_EC2_RULES_PASSED"],
  },
  // --- deny -------------------------------------------------------------------------------
  {
    name: "IP outside every configured range",
    csr: csr(ONPREM, { ips: ["192.168.11.7"] }),
    settings: withRules,
    decision: "deny",
    codes: ["NON_EC2_IP_NOT_ALLOWED"],
    says: ["192.168.11.7", "192.168.10.0/24"],
  },
  {
    name: "EKS: IP in the rules but outside the remote node networks",
    csr: csr(ONPREM),
    cluster: { kind: "eks", remoteNodeNetworks: ["172.16.0.0/16"] },
    settings: withRules,
    decision: "deny",
    codes: ["NON_EC2_IP_NOT_ALLOWED"],
    says: ["remote node networks (172.16.0.0/16)"],
  },
  {
    name: "EKS cluster without remote node networks: no address is allowed",
    csr: csr(ONPREM),
    cluster: { kind: "eks" },
    settings: withRules,
    decision: "deny",
    codes: ["NON_EC2_IP_NOT_ALLOWED"],
  },
  {
    name: "DNS name no template gives this node",
    csr: csr(ONPREM, { dns: ["onprem-8"] }),
    settings: withRules,
    decision: "deny",
    codes: ["NON_EC2_DNS_NOT_ALLOWED"],
    says: ["onprem-8"],
  },
  {
    name: "wildcard DNS SAN",
    csr: csr(ONPREM, { dns: ["*.dc1.example.com"] }),
    settings: withRules,
    decision: "deny",
    codes: ["NON_EC2_DNS_NOT_ALLOWED"],
  },
  {
    name: "an IP that a running EC2 instance holds is never approved by a static rule",
    csr: csr(ONPREM, { ips: [A_IP] }),
    settings: { nonEc2Nodes: { ...RULES, ipRanges: ["10.0.0.0/8", ...RULES.ipRanges] } },
    decision: "deny",
    codes: ["NON_EC2_ADDRESS_IN_EC2"],
    says: [A_ID],
  },
  {
    name: "a stopped instance still holds its address",
    csr: csr(ONPREM),
    instances: [instance({ id: "i-0570990000000000aa", ip: ONPREM_IP, state: "stopped" })],
    settings: withRules,
    decision: "deny",
    codes: ["NON_EC2_ADDRESS_IN_EC2"],
  },
  {
    name: "every failing static check is listed",
    csr: csr(ONPREM, { ips: ["10.9.9.9"], dns: ["evil.example.com"] }),
    settings: withRules,
    decision: "deny",
    codes: ["NON_EC2_IP_NOT_ALLOWED", "NON_EC2_DNS_NOT_ALLOWED"],
  },
  {
    name: "the checks before identity still apply (requester not in system:nodes)",
    csr: csr(ONPREM, { groups: ["system:authenticated"] }),
    settings: withRules,
    decision: "deny",
    codes: ["NOT_A_NODE"],
  },
  // --- the EC2 path, untouched -------------------------------------------------------------
  {
    name: "no rules: a node outside EC2 waits, as before",
    csr: csr(ONPREM),
    decision: "wait",
    codes: ["INSTANCE_NOT_VISIBLE"],
  },
  {
    name: "no rules: …and is denied INSTANCE_NOT_FOUND after the grace period",
    csr: csr(ONPREM),
    now: NOW_STALE,
    decision: "deny",
    codes: ["INSTANCE_NOT_FOUND"],
  },
  {
    name: "a name outside the patterns takes the EC2 path",
    csr: csr("edge-7"),
    settings: withRules,
    decision: "wait",
    codes: ["INSTANCE_NOT_VISIBLE"],
  },
  {
    name: "a name EC2 knows (even of a stopped instance) is never judged by static rules",
    csr: csr("onprem-9"),
    instances: [
      instance({ id: "i-0570990000000000ab", ip: "10.1.1.1", state: "stopped", privateDnsName: "onprem-9" }),
    ],
    settings: withRules,
    now: NOW_STALE,
    decision: "deny",
    codes: ["INSTANCE_NOT_FOUND"],
  },
  {
    name: "a name on another interface of an instance is EC2's too",
    csr: csr("onprem-eni"),
    instances: [
      instance({
        id: "i-0e0e0e0e0e0e0e0e0",
        ip: "10.5.5.5",
        extraEnis: [
          {
            Status: "in-use",
            PrivateDnsName: "onprem-eni",
            PrivateIpAddress: "10.5.6.6",
            PrivateIpAddresses: [{ PrivateIpAddress: "10.5.6.6" }],
          },
        ],
      }),
    ],
    settings: withRules,
    decision: "wait",
    codes: ["INSTANCE_NOT_VISIBLE"],
  },
  {
    name: "an EC2 node matching a pattern by name stays an EC2 node (its own instance decides)",
    csr: kubeletCsrObject({ node: A_NAME, dnsNames: [A_NAME], ips: [A_IP], creationTimestamp: CREATED }),
    instances: [A],
    settings: { nonEc2Nodes: { ...RULES, nodeNames: ["ip-*"] } },
    decision: "approve",
    codes: ["ALL_CHECKS_PASSED"],
  },
  {
    name: "a sessionName naming an instance ties the node to EC2 (not live: wait)",
    csr: csr(ONPREM, { extra: { sessionName: ["i-0123456789abcdef0"] } }),
    cluster: { kind: "eks", remoteNodeNetworks: ["192.168.0.0/16"] },
    settings: withRules,
    decision: "wait",
    codes: ["INSTANCE_NOT_VISIBLE"],
  },
  {
    name: "a Node object claiming an EC2 providerID takes the EC2 path",
    csr: csr(ONPREM),
    nodes: [{ metadata: { name: ONPREM }, spec: { providerID: `aws:///eu-west-1a/${A_ID}` } }],
    settings: withRules,
    decision: "wait",
    codes: ["INSTANCE_NOT_VISIBLE"],
  },
  {
    name: "EC2 unavailable: wait, never a static approval",
    csr: csr(ONPREM),
    instances: { unavailable: "throttled" },
    settings: withRules,
    decision: "wait",
    codes: ["FACTS_UNAVAILABLE"],
  },
  // --- nonNodeRequests ----------------------------------------------------------------------
  {
    name: "nonNodeRequests: ignore skips a requester that is not a node",
    csr: csr(ONPREM, { username: "ci-bot", groups: ["system:authenticated"] }),
    settings: { nonNodeRequests: "ignore" },
    decision: "skip",
    codes: ["NON_NODE_IGNORED"],
    says: ['"ci-bot"'],
  },
  {
    name: "nonNodeRequests: ignore skips a node name without the system:nodes group",
    csr: csr(ONPREM, { groups: ["system:authenticated"] }),
    settings: { nonNodeRequests: "ignore" },
    decision: "skip",
    codes: ["NON_NODE_IGNORED"],
  },
  {
    name: "nonNodeRequests: deny (the default) denies it",
    csr: csr(ONPREM, { username: "ci-bot", groups: ["system:authenticated"] }),
    settings: { nonNodeRequests: "deny" },
    decision: "deny",
    codes: ["NOT_A_NODE", "SUBJECT_MISMATCH"],
  },
  {
    name: "nonNodeRequests: ignore does not spare a node's failing CSR",
    csr: csr(ONPREM, { ips: ["192.168.11.7"] }),
    settings: { ...withRules, nonNodeRequests: "ignore" },
    decision: "deny",
    codes: ["NON_EC2_IP_NOT_ALLOWED"],
  },
];

describe("decide: nodes outside EC2 and nonNodeRequests", () => {
  it.each(cases)("$name → $decision $codes", (c) => {
    const decision = decide({
      csr: c.csr,
      parsed: parseCertificateRequest(c.csr.spec.request),
      instances: c.instances ?? ALL,
      nodes: c.nodes ?? [],
      cluster: cluster(c.cluster),
      settings: settings(c.settings),
      now: c.now ?? NOW_FRESH,
    });
    expect({ decision: decision.decision, codes: decision.reasons.map((r) => r.code) }).toEqual({
      decision: c.decision,
      codes: c.codes,
    });
    const text = decision.reasons.map((r) => r.message).join(" | ");
    for (const part of c.says ?? []) expect(text).toContain(part);
    if (decision.reasons[0]?.code === "NON_EC2_RULES_PASSED") {
      expect(decision.instanceId).toBeUndefined();
      const plan = planFor(decision, c.csr, {
        mode: "enforce",
        deny: true,
        now: NOW_FRESH,
        notIssuedAfterSeconds: 600,
      });
      expect(plan).toMatchObject({ action: "approve", condition: { type: "Approved" } });
      expect(JSON.stringify(plan)).toContain("nonEc2Nodes rules");
    }
  });

  it("gives every non-EC2 deny code and the skip code", () => {
    const codes = new Set(cases.flatMap((c) => c.codes));
    for (const code of ["NON_EC2_ADDRESS_IN_EC2", "NON_EC2_IP_NOT_ALLOWED", "NON_EC2_DNS_NOT_ALLOWED"])
      expect(codes).toContain(code);
    expect(codes).toContain("NON_NODE_IGNORED");
  });
});

describe("nodeNameMatches", () => {
  it.each([
    ["onprem-*", "onprem-1", true],
    ["onprem-*", "ONPREM-1", true],
    ["onprem-*", "onprem-", true],
    ["onprem-*", "onprem-1.dc1", false], // `*` stays in its label
    ["*.dc1", "a.b.dc1", false],
    ["*.dc1", "ab.dc1", true],
    ["node-??", "node-ab", true],
    ["node-??", "node-a", false],
    ["node-?", "node-.", false],
    ["a*b*c", "axxbyyc", true],
    ["a*b*c", "axxbyy", false],
    ["k8s-worker-*", "k8s-worker-01.example.com", false],
    ["exact.name", "exact.name", true],
    ["exact.name", "exactxname", false],
  ])("%s ~ %s → %s", (pattern, name, expected) => {
    expect(nodeNameMatches(pattern, name)).toBe(expected);
  });

  it("agrees with a regular-expression oracle on random names and patterns", () => {
    const alphabet = fc.constantFrom("a", "b", "-", ".", "1");
    const patternChar = fc.constantFrom("a", "b", "-", ".", "1", "*", "?");
    fc.assert(
      fc.property(
        fc.array(patternChar, { minLength: 1, maxLength: 10 }).map((a) => a.join("")),
        fc.array(alphabet, { minLength: 1, maxLength: 14 }).map((a) => a.join("")),
        (pattern, name) => {
          // Test-only oracle on test-generated text.
          const source = [...pattern]
            .map((c) => (c === "*" ? "[^.]*" : c === "?" ? "[^.]" : c === "." ? "\\." : c))
            .join("");
          expect(nodeNameMatches(pattern, name)).toBe(new RegExp(`^${source}$`).test(name));
        },
      ),
      { numRuns: 3000, seed: 1313 },
    );
  });

  it("stays fast on hostile names (no backtracking)", () => {
    const pattern = `${"*a".repeat(60)}b`;
    const name = "a".repeat(253);
    const started = performance.now();
    expect(nodeNameMatches(pattern, name)).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
    expect(nodeNameMatches("*", "x".repeat(254))).toBe(false); // longer than a DNS name
  });
});

describe("parseCidr / cidrContains", () => {
  it("parses IPv4 and IPv6 prefixes and refuses host bits", () => {
    expect(parseCidr("192.168.10.0/24")?.text).toBe("192.168.10.0/24");
    expect(parseCidr("FD00:10:0::/64")?.text).toBe("fd00:10::/64");
    expect(parseCidr("192.168.10.1/24")).toBeUndefined();
    expect(parseCidr("192.168.10.0/33")).toBeUndefined();
    expect(parseCidr("192.168.10.0")).toBeUndefined();
    expect(parseCidr("192.168.010.0/24")).toBeUndefined();
  });

  it("contains by bits, never across families", () => {
    const v4 = parseCidr("10.20.0.0/15")!;
    expect(cidrContains(v4, "10.21.255.255")).toBe(true);
    expect(cidrContains(v4, "10.22.0.0")).toBe(false);
    expect(cidrContains(v4, "::ffff:10.20.0.1")).toBe(false);
    const v6 = parseCidr("fd00:10::/64")!;
    expect(cidrContains(v6, "fd00:10::ffff")).toBe(true);
    expect(cidrContains(v6, "fd00:10:0:1::1")).toBe(false);
  });
});

describe("config: nonEc2Nodes and nonNodeRequests", () => {
  const lab = {
    name: "onprem",
    region: "eu-west-1",
    endpoint: "https://10.0.0.1:6443",
    caData: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    credential: { ssmParameter: "/t" },
    vpcIds: ["vpc-0abc1234"],
  };
  const fails = (doc: unknown, path: string, problem: string | RegExp) => {
    let error: unknown;
    try {
      parseConfig(doc);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe(path);
    expect((error as ConfigError).problem).toMatch(problem);
  };

  it("are per cluster; `null` removes a default rule set; defaults: deny and none", () => {
    const config = parseConfig({
      defaults: { nonEc2Nodes: RULES },
      eks: { clusters: { hybrid: { nonNodeRequests: "ignore" }, plain: { nonEc2Nodes: null } } },
      selfManaged: [{ ...lab, nonEc2Nodes: { nodeNames: ["dc-*"], ipRanges: ["10.200.0.0/16"] } }],
    });
    expect(settingsForCluster(config, "hybrid", "eks")).toMatchObject({
      nonNodeRequests: "ignore",
      nonEc2Nodes: RULES,
    });
    expect(settingsForCluster(config, "plain", "eks").nonEc2Nodes).toBeUndefined();
    expect(settingsForCluster(config, "onprem", "self-managed").nonEc2Nodes).toEqual({
      nodeNames: ["dc-*"],
      ipRanges: ["10.200.0.0/16"],
      dnsNames: [],
    });
    expect(parseConfig({}).defaults.nonNodeRequests).toBe("deny");
    expect(parseConfig({}).defaults.nonEc2Nodes).toBeUndefined();
  });

  it("reject what would widen them, naming the key", () => {
    const at = (rules: unknown) => ({ selfManaged: [{ ...lab, nonEc2Nodes: rules }] });
    const base = "selfManaged[0].nonEc2Nodes";
    fails(at({ ipRanges: ["10.0.0.0/8"] }), `${base}.nodeNames`, "required key is missing");
    fails(at({ nodeNames: ["a-*"] }), `${base}.ipRanges`, "required key is missing");
    fails(at({ nodeNames: ["*"], ipRanges: ["10.0.0.0/8"] }), `${base}.nodeNames[0]`, /node name pattern/);
    fails(
      at({ nodeNames: ["(a|b)+"], ipRanges: ["10.0.0.0/8"] }),
      `${base}.nodeNames[0]`,
      /node name pattern/,
    );
    fails(at({ nodeNames: ["a-*"], ipRanges: ["0.0.0.0/0"] }), `${base}.ipRanges[0]`, /every address/);
    fails(at({ nodeNames: ["a-*"], ipRanges: ["10.0.0.1/8"] }), `${base}.ipRanges[0]`, /prefix/);
    fails(at({ nodeNames: ["a-*"], ipRanges: [] }), `${base}.ipRanges`, /non-empty/);
    fails(
      at({ nodeNames: ["a-*"], ipRanges: ["10.0.0.0/8"], dnsNames: ["api.example.com"] }),
      `${base}.dnsNames[0]`,
      /names no node/,
    );
    fails(
      at({ nodeNames: ["a-*"], ipRanges: ["10.0.0.0/8"], dnsNames: ["{{instanceId}}.example.com"] }),
      `${base}.dnsNames[0]`,
      /unknown placeholder/,
    );
    fails(at({ nodeNames: ["a-*"], ipRanges: ["10.0.0.0/8"], extra: 1 }), `${base}.extra`, "unknown key");
    fails({ defaults: { nonNodeRequests: "allow" } }, "defaults.nonNodeRequests", /"deny" or "ignore"/);
    fails({ defaults: { nonEc2Nodes: null } }, "defaults.nonEc2Nodes", /an object/);
  });
});
