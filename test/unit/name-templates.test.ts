import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  expandNodeNameTemplate,
  parseNodeNameTemplate,
  templateLookups,
} from "../../functions/core/name-templates.js";
import { planInstanceLookups } from "../../functions/sweep/facts.js";
import { A_ID, instance, REGION } from "./policy-fixtures.js";

const node1 = instance({ id: A_ID, ip: "192.168.207.7", tags: { Name: "node1" } });

describe("parseNodeNameTemplate", () => {
  it.each([
    ["{{tag:Name}}", [{ kind: "tag", key: "Name" }]],
    [
      "{{shortName}}.corp.example.com",
      [{ kind: "shortName" }, { kind: "literal", text: ".corp.example.com" }],
    ],
    [
      "{{ tag:kubespray/inventory-name }}.{{region}}.k8s",
      [
        { kind: "tag", key: "kubespray/inventory-name" },
        { kind: "literal", text: "." },
        { kind: "region" },
        { kind: "literal", text: ".k8s" },
      ],
    ],
    ["{{instanceId}}", [{ kind: "instanceId" }]],
    ["{{privateDnsName}}", [{ kind: "privateDnsName" }]],
    [
      "{{tag:Name}}-{{instanceId}}",
      [{ kind: "tag", key: "Name" }, { kind: "literal", text: "-" }, { kind: "instanceId" }],
    ],
  ])("accepts %s", (template, parts) => {
    expect(parseNodeNameTemplate(template)).toEqual({ ok: true, parts });
  });

  it.each([
    ["node1", "names no instance"],
    ["{{region}}.nodes.example.com", "names no instance"],
    ["{{tag:}}", "{{tag:}} names no tag key"],
    ["{{ tag: }}.x", "{{tag:}} names no tag key"],
    [
      "{{hostname}}.corp",
      "unknown placeholder {{hostname}} (known: {{privateDnsName}} {{shortName}} {{instanceId}} {{region}} {{tag:KEY}})",
    ],
    ["{{nodeName}}", "unknown placeholder {{nodeName}}"],
    ["{{tag:Na*me}}", "not an EC2 tag key"],
    ["{{shortName}}.Corp.example.com", "is not part of a lower-case DNS name"],
    ["*.{{shortName}}.corp", "is not part of a lower-case DNS name"],
    ["{{shortName}.corp", "unbalanced"],
    ["{{shortName}}}.corp", "unbalanced"],
    ["x{.{{shortName}}", "unbalanced"],
    ["{{shortName}}{{tag:Name}}", "must be separated by literal text"],
    ["{{shortName}}..corp", "does not expand to a DNS name"],
    ["-{{tag:Name}}", "does not expand to a DNS name"],
  ])("refuses %s", (template, problem) => {
    const result = parseNodeNameTemplate(template);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toContain(problem);
  });
});

describe("parseNodeNameTemplate: spaces", () => {
  it("trims around a placeholder and its tag key", () => {
    expect(parseNodeNameTemplate("{{ tag: Name }}")).toEqual({
      ok: true,
      parts: [{ kind: "tag", key: "Name" }],
    });
  });
});

describe("expandNodeNameTemplate", () => {
  it("fills placeholders from the instance's EC2 facts", () => {
    expect(expandNodeNameTemplate("{{tag:Name}}", node1, REGION)).toBe("node1");
    expect(expandNodeNameTemplate("{{tag:Name}}.k8s.internal", node1, REGION)).toBe("node1.k8s.internal");
    expect(expandNodeNameTemplate("{{shortName}}.corp.example.com", node1, REGION)).toBe(
      "ip-192-168-207-7.corp.example.com",
    );
    expect(expandNodeNameTemplate("{{instanceId}}.{{region}}.corp", node1, REGION)).toBe(
      `${A_ID}.${REGION}.corp`,
    );
    expect(expandNodeNameTemplate("{{privateDnsName}}", node1, REGION)).toBe(
      `ip-192-168-207-7.${REGION}.compute.internal`,
    );
  });

  it("names nothing when the value is missing or is not a lower-case node name", () => {
    for (const value of ["Node1", "web server", "", "node1.", "*", "a".repeat(64)]) {
      const tagged = instance({ id: A_ID, ip: "192.168.207.7", tags: { Name: value } });
      expect(expandNodeNameTemplate("{{tag:Name}}", tagged, REGION), value).toBeUndefined();
    }
    const untagged = instance({ id: A_ID, ip: "192.168.207.7" });
    expect(expandNodeNameTemplate("{{tag:Name}}", untagged, REGION)).toBeUndefined();
    // Tag keys are case-sensitive in EC2.
    expect(expandNodeNameTemplate("{{tag:name}}", node1, REGION)).toBeUndefined();
    const nameless = instance({ id: A_ID, ip: "192.168.207.7", privateDnsName: "" });
    expect(expandNodeNameTemplate("{{shortName}}.corp", nameless, REGION)).toBeUndefined();
    expect(expandNodeNameTemplate("{{bogus}}", node1, REGION)).toBeUndefined();
    expect(expandNodeNameTemplate("{{privateDnsName}}", nameless, REGION)).toBeUndefined();
    // Junk in a record names nothing and throws nothing.
    const junk = {
      ...node1,
      Tags: [null, { Key: "Name", Value: 42 }],
      InstanceId: "i-xyz",
    } as unknown as typeof node1;
    expect(expandNodeNameTemplate("{{tag:Name}}", junk, REGION)).toBeUndefined();
    expect(expandNodeNameTemplate("{{instanceId}}", junk, REGION)).toBeUndefined();
    const noTags = { ...node1, Tags: undefined };
    expect(expandNodeNameTemplate("{{tag:Name}}", noTags, REGION)).toBeUndefined();
  });

  it("compares as node names are: lower case, whatever the record's spelling", () => {
    const loud = {
      ...node1,
      InstanceId: A_ID.toUpperCase(),
      PrivateDnsName: "IP-192-168-207-7.EU-WEST-1.COMPUTE.INTERNAL.",
    };
    expect(expandNodeNameTemplate("{{instanceId}}.{{region}}.x", loud, "EU-WEST-1")).toBe(
      `${A_ID}.eu-west-1.x`,
    );
    expect(expandNodeNameTemplate("{{shortName}}.corp", loud, REGION)).toBe("ip-192-168-207-7.corp");
    expect(expandNodeNameTemplate("{{privateDnsName}}", loud, REGION)).toBe(
      `ip-192-168-207-7.${REGION}.compute.internal`,
    );
  });
});

describe("templateLookups", () => {
  it("turns a node name into exact filter values for the template's placeholder", () => {
    expect(templateLookups("{{tag:Name}}", "node1", REGION)).toEqual([
      { kind: "tag", key: "Name", value: "node1" },
    ]);
    expect(templateLookups("{{tag:Name}}", "NODE1.", REGION)).toEqual([
      { kind: "tag", key: "Name", value: "node1" },
    ]);
    expect(templateLookups("{{tag:Name}}.k8s.internal", "node1.k8s.internal", REGION)).toEqual([
      { kind: "tag", key: "Name", value: "node1" },
    ]);
    expect(
      templateLookups("{{shortName}}.corp.example.com", "ip-10-0-1-70.corp.example.com", REGION),
    ).toEqual([{ kind: "shortName", value: "ip-10-0-1-70" }]);
    expect(templateLookups("{{instanceId}}.{{region}}.corp", `${A_ID}.${REGION}.corp`, REGION)).toEqual([
      { kind: "instanceId", value: A_ID },
    ]);
    // Several placeholders: one value per place the separator occurs.
    expect(templateLookups("{{tag:Name}}-{{instanceId}}", `web-1-${A_ID}`, REGION)).toEqual([
      { kind: "tag", key: "Name", value: "web" },
      { kind: "tag", key: "Name", value: "web-1" },
      { kind: "tag", key: "Name", value: "web-1-i" },
    ]);
  });

  it("literal text and {{region}} before the placeholder must start N", () => {
    expect(templateLookups("k8s-{{tag:Name}}", "k8s-node1", REGION)).toEqual([
      { kind: "tag", key: "Name", value: "node1" },
    ]);
    expect(templateLookups("k8s-{{tag:Name}}", "x8s-node1", REGION)).toEqual([]);
    expect(templateLookups("{{region}}-{{tag:Name}}", "eu-west-1-node1", "EU-WEST-1")).toEqual([
      { kind: "tag", key: "Name", value: "node1" },
    ]);
    expect(templateLookups("a{{tag:Name}}a", "aa", REGION)).toEqual([]);
    expect(templateLookups("a{{tag:Name}}a", "aba", REGION)).toEqual([
      { kind: "tag", key: "Name", value: "b" },
    ]);
    expect(templateLookups("{{tag:Name}}.{{region}}", "node1.eu-west-1", REGION)).toEqual([
      { kind: "tag", key: "Name", value: "node1" },
    ]);
    expect(templateLookups("{{privateDnsName}}", `ip-10-0-1-70.${REGION}.compute.internal`, REGION)).toEqual([
      { kind: "privateDnsName", value: `ip-10-0-1-70.${REGION}.compute.internal` },
    ]);
    // The first placeholder is the anchor, whatever follows it.
    expect(templateLookups("{{instanceId}}.{{tag:Name}}", `${A_ID}.node1`, REGION)).toEqual([
      { kind: "instanceId", value: A_ID },
    ]);
    expect(templateLookups("{{shortName}}.{{tag:Name}}", "ip-10-0-1-70.node1", REGION)).toEqual([
      { kind: "shortName", value: "ip-10-0-1-70" },
    ]);
    expect(templateLookups("k-{{tag:Name}}.{{instanceId}}", `k-a.b.${A_ID}`, REGION)).toEqual([
      { kind: "tag", key: "Name", value: "a" },
      { kind: "tag", key: "Name", value: "a.b" },
    ]);
  });

  it("gives nothing for names the template cannot produce, and never a wildcard", () => {
    expect(templateLookups("{{tag:Name}}.k8s.internal", "node1.corp", REGION)).toEqual([]);
    expect(templateLookups("{{shortName}}.corp.example.com", "a.b.corp.example.com", REGION)).toEqual([]);
    expect(templateLookups("{{instanceId}}", "node1", REGION)).toEqual([]);
    expect(templateLookups("{{tag:Name}}", "*", REGION)).toEqual([]);
    expect(templateLookups("{{tag:Name}}", "node?", REGION)).toEqual([]);
    expect(templateLookups("{{tag:Name}}.k8s", ".k8s", REGION)).toEqual([]);
  });

  it("every value it gives is a plain lower-case name, at most one per character of N", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          "{{tag:Name}}",
          "{{tag:Name}}-{{shortName}}.x",
          "{{shortName}}.corp",
          "{{tag:Name}}.{{region}}",
        ),
        fc.string({ maxLength: 80 }),
        (template, name) => {
          const lookups = templateLookups(template, name, REGION);
          expect(lookups.length).toBeLessThanOrEqual(Math.max(1, name.length));
          for (const lookup of lookups) expect(lookup.value).toMatch(/^[a-z0-9][a-z0-9.-]*$/);
        },
      ),
      { numRuns: 2000, seed: 5 },
    );
  });
});

describe("planInstanceLookups with nodeNameTemplates", () => {
  it("sends tag values to one tag:KEY filter per key and custom-domain names to private-dns-name", () => {
    const plan = planInstanceLookups(
      [{ node: "node2" }, { node: "node1" }, { node: "ip-10-0-1-70.corp.example.com" }, { node: "*" }],
      "eu-west-1",
      ["{{tag:Name}}", "{{shortName}}.corp.example.com", "{{tag:kubespray-host}}.k8s"],
    );
    expect(plan.tags).toEqual([{ key: "Name", values: ["ip-10-0-1-70.corp.example.com", "node1", "node2"] }]);
    expect(plan.dnsNames).toContain("ip-10-0-1-70.eu-west-1.compute.internal");
    expect(plan.dnsNames.some((name) => name.includes("*"))).toBe(false);
  });

  it("without templates asks for no tags (unchanged behaviour)", () => {
    expect(planInstanceLookups([{ node: "node1" }], "eu-west-1").tags).toEqual([]);
  });
});
