// Static rules never reach EC2's space (security review, finding 4). The review's two
// certificates (an IPv4-mapped IPv6 SAN for an instance's address; a template that expands to
// an instance's private DNS name) on REAL CSRs, with rules injected past the config check (the
// policy must hold on its own); the config refusals, naming the key; the EC2-domain reach of
// patterns against a matcher oracle; and the DNS lookups the sweep plans for static-rule CSRs.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, settingsForCluster } from "../../functions/core/config.js";
import {
  EC2_DNS_DOMAINS,
  ec2DomainReachedBy,
  ec2DomainReachedByTemplate,
  isIpv4Mapped,
  nodeNameMatches,
  overlapsIpv4Mapped,
  parseCidr,
} from "../../functions/core/non-ec2.js";
import { decide } from "../../functions/core/policy.js";
import { parseCertificateRequest } from "../../functions/core/request.js";
import type { CsrObject, Ec2Instance, NonEc2NodeRules, PolicyInput } from "../../functions/core/types.js";
import { planInstanceLookups } from "../../functions/sweep/facts.js";
import { kubeletCsrObject } from "../support/csr-factory.js";
import {
  A,
  A_IP,
  A_NAME,
  A_SHORT,
  ALL,
  CREATED,
  NOW_FRESH,
  cluster,
  instance,
  settings,
} from "./policy-fixtures.js";

function csr(node: string, dns: string[], ips: string[]): CsrObject {
  return kubeletCsrObject({ node, dnsNames: dns, ips, creationTimestamp: CREATED });
}

function decideWith(c: CsrObject, rules: NonEc2NodeRules, instances: Ec2Instance[] = ALL) {
  const input: PolicyInput = {
    csr: c,
    parsed: parseCertificateRequest(c.spec.request),
    instances,
    nodes: [],
    cluster: cluster(),
    settings: settings({ nonEc2Nodes: rules }),
    now: NOW_FRESH,
  };
  const decision = decide(input);
  return {
    ...decision,
    codes: decision.reasons.map((r) => r.code),
    text: decision.reasons.map((r) => r.message).join(" | "),
  };
}

describe("decide: static rules never certify EC2's addresses or names", () => {
  it("the review's IPv4-mapped SAN (::ffff:10.0.1.70, instance A's address) is denied, even with a range that holds it", () => {
    const rules = {
      nodeNames: ["onprem-*"],
      ipRanges: ["::ffff:10.0.0.0/104", "192.168.10.0/24"],
      dnsNames: [],
    };
    const d = decideWith(csr("onprem-7", [], ["::ffff:10.0.1.70"]), rules);
    expect(d.decision).toBe("deny");
    expect(d.codes).toEqual(["NON_EC2_IP_NOT_ALLOWED"]);
    expect(d.text).toContain("IPv4-mapped IPv6 (::ffff:10.0.1.70) is never allowed");
  });

  it("the hex spelling of a mapped address is the same address, and denied the same", () => {
    const rules = { nodeNames: ["onprem-*"], ipRanges: ["::ffff:0:0/96"], dnsNames: [] };
    const d = decideWith(csr("onprem-7", [], ["::ffff:a00:146"]), rules);
    expect(d.codes).toEqual(["NON_EC2_IP_NOT_ALLOWED"]);
  });

  it("the review's template ({{shortName}}.eu-west-1.compute.internal) never certifies instance A's private DNS name", () => {
    const rules = {
      nodeNames: ["ip-10-0-1-70.dc1"],
      ipRanges: ["192.168.10.0/24"],
      dnsNames: ["{{shortName}}.eu-west-1.compute.internal"],
    };
    const d = decideWith(csr("ip-10-0-1-70.dc1", [A_NAME], ["192.168.10.7"]), rules);
    expect(d.decision).toBe("deny");
    // EC2 carries the name (check 16), and it is in EC2's domain (check 18).
    expect(d.codes).toEqual(["NON_EC2_ADDRESS_IN_EC2", "NON_EC2_DNS_NOT_ALLOWED"]);
    expect(d.text).toContain(`${A_NAME} (a name of ${A.InstanceId})`);
    expect(d.text).toContain("is in EC2's DNS domains");
    // With no instance data the domain alone still denies it.
    expect(decideWith(csr("ip-10-0-1-70.dc1", [A_NAME], ["192.168.10.7"]), rules, []).codes).toEqual([
      "NON_EC2_DNS_NOT_ALLOWED",
    ]);
  });

  it("a requested DNS name an instance carries outside EC2's domains (a public name in the data) is EC2's", () => {
    const carrier: Ec2Instance = {
      ...instance({ id: "i-0cafe000000000001", ip: "10.0.9.9" }),
      PublicDnsName: "onprem-7.dc1.example.com",
    };
    const rules = {
      nodeNames: ["onprem-*"],
      ipRanges: ["192.168.10.0/24"],
      dnsNames: ["{{shortName}}.dc1.example.com"],
    };
    const d = decideWith(csr("onprem-7", ["onprem-7.dc1.example.com"], ["192.168.10.7"]), rules, [carrier]);
    expect(d.codes).toEqual(["NON_EC2_ADDRESS_IN_EC2"]);
    expect(d.text).toContain("onprem-7.dc1.example.com (a name of i-0cafe000000000001)");
    // The same CSR with EC2 knowing nothing is approved: the rule denies what EC2 holds, nothing else.
    expect(
      decideWith(csr("onprem-7", ["onprem-7.dc1.example.com"], ["192.168.10.7"]), rules, []).decision,
    ).toBe("approve");
  });

  it("a node named in EC2's domains is never judged by static rules, whatever pattern matches it", () => {
    const rules = {
      nodeNames: ["*.*.compute.internal"],
      ipRanges: ["192.168.10.0/24"],
      dnsNames: ["{{nodeName}}"],
    };
    const name = "ip-192-168-10-7.eu-west-1.compute.internal";
    const d = decideWith(csr(name, [name], ["192.168.10.7"]), rules, []);
    expect(d.decision).not.toBe("approve");
    expect(d.codes).not.toContain("NON_EC2_RULES_PASSED");
  });

  it("property: an IPv4-mapped SAN is never approved by static rules, whatever the ranges", () => {
    const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join("."));
    fc.assert(
      fc.property(
        ipv4,
        fc.constantFrom("::ffff:0:0/96", "::ffff:10.0.0.0/104", "::/8", "::ffff:0.0.0.0/100"),
        (ip, range) => {
          const rules = { nodeNames: ["onprem-*"], ipRanges: [range, `${ip}/32`], dnsNames: [] };
          for (const mapped of [`::ffff:${ip}`, `0:0:0:0:0:ffff:${ip}`]) {
            expect(isIpv4Mapped(mapped)).toBe(true);
            const d = decideWith(csr("onprem-7", [], [mapped]), rules, []);
            expect(d.decision).toBe("deny");
            expect(d.codes).toEqual(["NON_EC2_IP_NOT_ALLOWED"]);
          }
          // The IPv4 address itself, in its /32, is the rules' to allow (EC2 knows nothing here).
          expect(decideWith(csr("onprem-7", [], [ip]), rules, []).decision).toBe("approve");
        },
      ),
      { numRuns: 60, seed: 21 },
    );
  });
});

describe("config: static rules that could reach EC2's space are start-up errors, naming the key", () => {
  const lab = {
    name: "onprem",
    region: "eu-west-1",
    endpoint: "https://10.0.0.1:6443",
    caData: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    credential: { ssmParameter: "/t" },
    vpcIds: ["vpc-0abc1234"],
  };
  const base = "selfManaged[0].nonEc2Nodes";
  const parse = (rules: unknown) => parseConfig({ selfManaged: [{ ...lab, nonEc2Nodes: rules }] });
  const fails = (rules: unknown, path: string, problem: RegExp) => {
    let error: unknown;
    try {
      parse(rules);
    } catch (caught) {
      error = caught;
    }
    expect(error, JSON.stringify(rules)).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe(path);
    expect((error as ConfigError).problem).toMatch(problem);
    expect((error as ConfigError).message).not.toContain("\n");
  };

  it.each(["::ffff:10.0.0.0/104", "::ffff:0:0/96", "::fffe:0:0/95", "::/8", "::/80", "::ffff:10.0.1.70/128"])(
    "ipRanges %s overlaps ::ffff:0:0/96",
    (range) =>
      fails({ nodeNames: ["onprem-*"], ipRanges: [range] }, `${base}.ipRanges[0]`, /overlaps ::ffff:0:0\/96/),
  );

  it.each([
    ["*.compute.internal", "compute.internal"],
    ["ip-*.eu-west-1.compute.internal", "compute.internal"],
    ["*.ec2.internal", "ec2.internal"],
    ["*.*.*.internal", "compute.internal"],
    ["node-?.*.compute.amazonaws.com", "amazonaws.com"],
    ["*.compute.amazonaws.com.cn", "amazonaws.com.cn"],
    ["ec2-*.compute-1.amazonaws.com", "amazonaws.com"],
    ["x.amazonaws.eu", "amazonaws.eu"],
    ["*.c2s.ic.gov", "c2s.ic.gov"],
    ["*.sc2s.sgov.gov", "sc2s.sgov.gov"],
    ["comp*.internal", "compute.internal"],
  ])("nodeNames %s reaches %s", (pattern, domain) => {
    fails(
      { nodeNames: ["onprem-*", pattern], ipRanges: ["192.168.10.0/24"] },
      `${base}.nodeNames[1]`,
      new RegExp(`EC2's DNS domain ${domain.replace(/\./g, "\\.")}`),
    );
  });

  it.each([
    [["onprem-*"], "{{shortName}}.eu-west-1.compute.internal"],
    [["onprem-*"], "{{nodeName}}.amazonaws.com"],
    [["*.compute"], "{{nodeName}}.internal"], // onprem nodes "x.compute" would expand into compute.internal
    [["onprem-*"], "{{ shortName }}.ec2.internal"],
  ])("nodeNames %j with dnsNames template %s", (nodeNames, template) => {
    fails(
      { nodeNames, ipRanges: ["192.168.10.0/24"], dnsNames: ["{{nodeName}}.dc1.example.com", template] },
      `${base}.dnsNames[1]`,
      /EC2's DNS domain/,
    );
  });

  it("accepts rules outside EC2's space", () => {
    const config = parse({
      nodeNames: ["onprem-*", "*.corp.example.com", "internal-*", "hybrid-??.dc1"],
      ipRanges: ["192.168.10.0/24", "fd00:10::/64", "::fffe:0:0/96", "64:ff9b::/96"],
      dnsNames: ["{{nodeName}}", "{{shortName}}.dc1.example.com", "{{nodeName}}.internal.example.com"],
    });
    expect(settingsForCluster(config, "onprem", "self-managed").nonEc2Nodes?.dnsNames).toHaveLength(3);
  });
});

describe("ec2DomainReachedBy: exact against the matcher", () => {
  const label = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,10}$/);
  /** A glob that matches `name` by construction: some characters become `?`, some runs `*`. */
  const globOf = (name: string, edits: number[]) =>
    name
      .split(".")
      .map((part, i) => {
        const edit = edits[i % edits.length] ?? 0;
        if (edit === 1) return "*";
        if (edit === 2) return part.replace(/^./, "?");
        if (edit === 3) return `${part.slice(0, 1)}*`;
        return part;
      })
      .join(".");

  it("every glob that matches a name in an EC2 domain reaches that domain", () => {
    fc.assert(
      fc.property(
        label,
        fc.constantFrom(...EC2_DNS_DOMAINS),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 6 }),
        (host, domain, edits) => {
          const name = `${host}.${domain}`;
          const glob = globOf(name, edits);
          expect(nodeNameMatches(glob, name)).toBe(true);
          expect(ec2DomainReachedBy(glob)).toBeDefined();
        },
      ),
      { numRuns: 500, seed: 4 },
    );
  });

  it("a glob that reaches no EC2 domain matches no name in one (random globs, random EC2 names)", () => {
    const globLabel = fc.stringMatching(/^[a-z*?][a-z0-9*?-]{0,6}$/);
    fc.assert(
      fc.property(
        fc.array(globLabel, { minLength: 1, maxLength: 5 }),
        label,
        fc.constantFrom(...EC2_DNS_DOMAINS),
        (labels, host, domain) => {
          const glob = labels.join(".");
          if (ec2DomainReachedBy(glob) !== undefined) return;
          expect(nodeNameMatches(glob, `${host}.${domain}`)).toBe(false);
        },
      ),
      { numRuns: 2000, seed: 5 },
    );
  });

  it("templates: {{shortName}} is one label, {{nodeName}} what a pattern matches", () => {
    expect(ec2DomainReachedByTemplate("{{shortName}}.dc1.example.com", ["onprem-*"])).toBeUndefined();
    expect(ec2DomainReachedByTemplate("{{nodeName}}", ["onprem-*"])).toBeUndefined();
    expect(ec2DomainReachedByTemplate("{{nodeName}}.internal", ["*.compute"])).toBe("compute.internal");
    expect(ec2DomainReachedByTemplate("{{shortName}}.ec2.internal", [])).toBe("ec2.internal");
  });

  it("overlapsIpv4Mapped: by prefix arithmetic, both ways", () => {
    const overlaps = (text: string) => overlapsIpv4Mapped(parseCidr(text)!);
    expect(overlaps("::ffff:0:0/96")).toBe(true);
    expect(overlaps("::/64")).toBe(true);
    expect(overlaps("::ffff:192.168.0.0/112")).toBe(true);
    expect(overlaps("::fffe:0:0/96")).toBe(false);
    expect(overlaps("fd00::/8")).toBe(false);
    expect(overlaps("10.0.0.0/8")).toBe(false);
  });
});

describe("planInstanceLookups: requested DNS names of static-rule CSRs", () => {
  it("go to private-dns-name (short names expanded for the region) and dns-name, never a wildcard", () => {
    const plan = planInstanceLookups(
      [
        {
          node: "onprem-7",
          dnsNames: ["onprem-7.dc1.example.com", A_SHORT, "*.example.com", "ONPREM-7.DC1.EXAMPLE.COM."],
        },
      ],
      "eu-west-1",
    );
    expect(plan.dnsNames).toEqual([
      "ip-10-0-1-70.eu-west-1.compute.internal",
      "onprem-7.dc1.example.com",
      "onprem-7.eu-west-1.compute.internal",
    ]);
    expect(plan.publicDnsNames).toEqual(["onprem-7.dc1.example.com"]);
    expect(planInstanceLookups([{ node: "onprem-7" }], "eu-west-1").publicDnsNames).toEqual([]);
    expect(A_IP).toBe("10.0.1.70");
  });
});
