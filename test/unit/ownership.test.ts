import { describe, expect, it } from "vitest";
import { canonicalIp } from "../../functions/core/ip.js";
import {
  expandDnsTemplate,
  firstLabel,
  inUseInterfaces,
  isPlainHostname,
  normalizeDnsName,
  ownedAddresses,
  resourceNameHostnames,
} from "../../functions/core/ownership.js";
import type { Ec2Instance } from "../../functions/core/types.js";
import {
  A,
  A_DETACHING_IP,
  A_ID,
  A_IP,
  A_IPV6,
  A_NAME,
  A_PREFIX_IP,
  A_PUBLIC,
  A_SECONDARY_ENI_IP,
  A_SECONDARY_PUBLIC,
  A_SHORT,
  REGION,
  instance,
  ipName,
  publicName,
} from "./policy-fixtures.js";

describe("canonicalIp", () => {
  it.each([
    ["10.0.1.70", "10.0.1.70", 4],
    ["0.0.0.0", "0.0.0.0", 4],
    ["255.255.255.255", "255.255.255.255", 4],
    ["2a05:d018:1:2::70", "2a05:d018:1:2::70", 6],
    ["2A05:D018:0001:0002:0000:0000:0000:0070", "2a05:d018:1:2::70", 6],
    ["2a05:d018:1:2:0:0:0:70", "2a05:d018:1:2::70", 6],
    ["::1", "::1", 6],
    ["::", "::", 6],
    ["fd00:ec2::254", "fd00:ec2::254", 6],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1", 6], // the longest zero run is compressed
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4", 6], // the first of equal runs
    ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0", 6], // a single zero group is not compressed
    ["::ffff:10.0.1.70", "::ffff:10.0.1.70", 6], // IPv4-mapped stays IPv6
    ["::ffff:a00:146", "::ffff:10.0.1.70", 6],
    ["64:ff9b::10.0.1.70", "64:ff9b::a00:146", 6],
  ])("%s → %s (IPv%d)", (input, value, version) => {
    expect(canonicalIp(input)).toEqual({ value, version });
  });

  it.each([
    "",
    "10.0.1",
    "10.0.1.256",
    "010.0.1.70", // leading zero: octal in some parsers
    "10.0.1.70 ",
    " 10.0.1.70",
    "10.0.1.70/32",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "12345::",
    "fe80::1%eth0",
    "::ffff:10.0.1.256",
    "g::1",
    "ip-10-0-1-70",
  ])("rejects %j", (input) => {
    expect(canonicalIp(input)).toBeUndefined();
  });

  it("an absent address is none", () => {
    expect(canonicalIp(undefined)).toBeUndefined();
  });
});

describe("normalizeDnsName", () => {
  it("lower-cases and removes one trailing dot", () => {
    expect(normalizeDnsName("IP-10-0-1-70.EU-West-1.Compute.Internal.")).toBe(A_NAME);
    expect(normalizeDnsName(A_NAME)).toBe(A_NAME);
  });
});

describe("normalizeDnsName: edges", () => {
  it.each([
    ["", ""],
    [".", ""],
    ["a..", "a."],
    ["A.B.", "a.b"],
    ["a.b", "a.b"],
  ])("%j → %j", (input, expected) => expect(normalizeDnsName(input)).toBe(expected));
  it("is empty for the empty name and a lone dot", () => {
    expect(normalizeDnsName("")).toBe("");
    expect(normalizeDnsName(".")).toBe("");
  });
});

describe("isPlainHostname: the DNS label pattern", () => {
  const label63 = `a${"b".repeat(61)}c`;
  it.each([
    "a",
    "0",
    "a-b",
    "a--b",
    "9a",
    "a9",
    "ip-10-0-1-70",
    "ip-10-0-1-70.eu-west-1.compute.internal",
    label63,
    `${label63}.${label63}.${label63}.${"d".repeat(61)}`, // 253 characters
  ])("accepts %j", (name) => expect(isPlainHostname(name)).toBe(true));
  it.each([
    ["empty", ""],
    ["254 characters", `${label63}.${label63}.${label63}.${"d".repeat(62)}`],
    ["a 64-character label", `${label63}x`],
    ["a leading hyphen", "-a"],
    ["a trailing hyphen", "a-"],
    ["a lone hyphen", "-"],
    ["a leading hyphen in a later label", "a.-b"],
    ["a trailing hyphen in a later label", "a.b-"],
    ["an underscore first", "_a"],
    ["an underscore last", "a_"],
    ["an underscore inside", "a_b"],
    ["upper case (names are normalised first)", "Ab"],
    ["upper case last", "aB"],
    ["a wildcard label", "*.a"],
    ["a wildcard inside", "a*b"],
    ["an empty label", "a..b"],
    ["a leading dot", ".a"],
    ["a trailing dot (normalised away first)", "a."],
    ["white space", "a b"],
    ["a trailing newline", "a\n"],
    ["a leading newline", "\na"],
    ["a colon", "a:b"],
    ["a slash", "a/b"],
    ["a non-ASCII letter", "bücher"],
  ])("rejects %s: %j", (_label, name) => expect(isPlainHostname(name)).toBe(false));
});

describe("firstLabel and resourceNameHostnames", () => {
  it.each([
    ["a.b.c", "a"],
    ["a", "a"],
    [".a", ""],
    ["a.", "a"],
  ])("firstLabel(%j) is %j", (name, label) => expect(firstLabel(name)).toBe(label));
  it("lower-cases the ID and the region; us-east-1 uses ec2.internal", () => {
    expect(resourceNameHostnames("I-0A1B2C3D", "EU-WEST-1")).toEqual([
      "i-0a1b2c3d.eu-west-1.compute.internal",
    ]);
    expect(resourceNameHostnames("i-0a1b2c3d", "us-east-1")).toEqual(["i-0a1b2c3d.ec2.internal"]);
    expect(resourceNameHostnames("i-0a1b2c3d", "us-east-2")).toEqual([
      "i-0a1b2c3d.us-east-2.compute.internal",
    ]);
  });
});

describe("inUseInterfaces", () => {
  it("keeps only interface objects whose Status is in-use", () => {
    const inUse = { NetworkInterfaceId: "eni-1", Status: "in-use" };
    const shapes = [
      inUse,
      { NetworkInterfaceId: "eni-2", Status: "detaching" },
      { NetworkInterfaceId: "eni-3" },
    ];
    // Interfaces that are not objects are refused at the edge (ec2-schemas.test.ts).
    expect(inUseInterfaces({ NetworkInterfaces: shapes })).toEqual([inUse]);
    expect(inUseInterfaces({ NetworkInterfaces: [] })).toEqual([]);
    expect(inUseInterfaces({})).toEqual([]);
  });
});

describe("expandDnsTemplate", () => {
  const values = {
    shortName: A_SHORT,
    privateDnsName: A_NAME,
    instanceId: A_ID,
    region: REGION,
    nodeName: undefined,
  };
  it.each([
    ["{{shortName}}.corp.example.com", `${A_SHORT}.corp.example.com`],
    ["{{ instanceId }}.nodes.example.com", `${A_ID}.nodes.example.com`],
    ["{{shortName}}.{{region}}.corp.example.com.", `${A_SHORT}.${REGION}.corp.example.com`],
  ])("%s → %s", (template, expected) => {
    expect(expandDnsTemplate(template, values)).toBe(expected);
  });

  it.each([
    "*.{{shortName}}.example.com", // wildcard: never
    "{{nodeName}}.example.com", // no value for the placeholder
    "{{unknown}}.example.com",
    "static.example.com", // names no instance: every node would own it
    "nodes.{{region}}.example.com", // the region alone names no instance either
    "{{shortName}.example.com",
    "{{shortName}}..example.com",
    "{{shortName}}_x.example.com",
    "",
    "{{shortName}}.{{constructor}}.example.com", // inherited properties are no placeholders
    "{{shortName}}.{{toString}}.example.com",
    "{{shortName}}.}.example.com", // a stray brace left after expansion
    "{{shortName}}.{.example.com",
    "{{shortName}}.{{ region}.example.com",
    "-{{shortName}}.example.com", // expands to a name that is not a plain hostname
  ])("ignores %j", (template) => {
    expect(expandDnsTemplate(template, values)).toBeUndefined();
  });

  it.each([
    ["shortName", "{{shortName}}.x.example.com", `${A_SHORT}.x.example.com`],
    ["privateDnsName", "{{privateDnsName}}.x.example.com", `${A_NAME}.x.example.com`],
    ["instanceId", "{{instanceId}}.x.example.com", `${A_ID}.x.example.com`],
    ["nodeName", "{{nodeName}}.x.example.com", "worker-7.x.example.com"],
  ])("%s names the instance on its own", (_key, template, expected) => {
    expect(expandDnsTemplate(template, { ...values, nodeName: "worker-7" })).toBe(expected);
  });

  it("a placeholder without a value spoils the whole template, even next to one with a value", () => {
    expect(expandDnsTemplate("x{{nodeName}}{{shortName}}.example.com", values)).toBeUndefined();
    expect(
      expandDnsTemplate("x{{nodeName}}{{shortName}}.example.com", { ...values, nodeName: "" }),
    ).toBeUndefined();
    expect(expandDnsTemplate("x{{nodeName}}{{shortName}}.example.com", { ...values, nodeName: "n" })).toBe(
      `xn${A_SHORT}.example.com`,
    );
  });

  it("treats an empty value as no value", () => {
    expect(expandDnsTemplate("{{shortName}}.x.example.com", { ...values, shortName: "" })).toBeUndefined();
    expect(
      expandDnsTemplate("{{shortName}}.x.example.com", { ...values, shortName: undefined }),
    ).toBeUndefined();
  });

  it("normalises the expanded name", () => {
    expect(expandDnsTemplate("{{shortName}}.X.Example.COM.", values)).toBe(`${A_SHORT}.x.example.com`);
  });
});

describe("ownedAddresses", () => {
  // Computed inside each test, so that Stryker's per-test coverage sees every assertion on it.
  const owned = () => ownedAddresses(A, { region: REGION, extraDnsNames: [] });

  it("owns every in-use interface's private, public and IPv6 addresses", () => {
    expect(owned().ips).toEqual([A_IPV6, A_IP, A_SECONDARY_ENI_IP, A_SECONDARY_PUBLIC, A_PUBLIC].sort());
  });

  it("does not own delegated prefixes, detaching interfaces or metadata/loopback addresses", () => {
    for (const ip of [
      A_PREFIX_IP,
      "10.0.64.0",
      A_DETACHING_IP,
      "169.254.169.254",
      "fd00:ec2::254",
      "127.0.0.1",
      "::1",
    ]) {
      expect(owned().ips).not.toContain(ip);
    }
  });

  it("owns the private/public/interface names, the short name and the resource names", () => {
    expect(owned().dnsNames).toEqual(
      [
        A_NAME,
        A_SHORT,
        publicName(A_PUBLIC),
        ipName(A_SECONDARY_ENI_IP),
        publicName(A_SECONDARY_PUBLIC),
        A_ID,
        `${A_ID}.${REGION}.compute.internal`,
      ].sort(),
    );
  });

  it("adds N only when given (N matched this instance by name)", () => {
    const withNode = ownedAddresses(A, { nodeName: "Worker-7.", region: REGION, extraDnsNames: [] });
    expect(withNode.dnsNames).toContain("worker-7");
    expect(owned().dnsNames).not.toContain("worker-7");
  });

  it("expands extraDnsNames for this instance only, ignoring unsafe templates", () => {
    const result = ownedAddresses(A, {
      region: REGION,
      nodeName: A_NAME,
      extraDnsNames: [
        "{{shortName}}.corp.example.com",
        "*.corp.example.com",
        "{{nodeName}}.alias.example.com",
        "{{oops}}",
      ],
    });
    expect(result.dnsNames).toContain(`${A_SHORT}.corp.example.com`);
    expect(result.dnsNames).toContain(`${A_NAME}.alias.example.com`);
    expect(result.dnsNames.some((name) => name.includes("*") || name.includes("{"))).toBe(false);
  });

  it("uses ec2.internal resource names in us-east-1", () => {
    const east = instance({ id: A_ID, ip: A_IP, region: "us-east-1" });
    const result = ownedAddresses(east, { region: "us-east-1", extraDnsNames: [] });
    expect(result.dnsNames).toContain(`${A_ID}.ec2.internal`);
    expect(result.dnsNames).toContain("ip-10-0-1-70.ec2.internal");
    expect(result.dnsNames).not.toContain(`${A_ID}.us-east-1.compute.internal`);
  });

  it("falls back to the instance's PrivateIpAddress when no interfaces are listed", () => {
    const bare = instance({ id: A_ID, ip: A_IP, noInterfaces: true });
    expect(ownedAddresses(bare, { region: REGION, extraDnsNames: [] }).ips).toEqual([A_IP]);
  });

  it("does not fall back when interfaces are listed but none is in use", () => {
    const detached = instance({ id: A_ID, ip: A_IP });
    detached.NetworkInterfaces = (detached.NetworkInterfaces ?? []).map((eni) => ({
      ...eni,
      Status: "detaching",
    }));
    expect(ownedAddresses(detached, { region: REGION, extraDnsNames: [] }).ips).toEqual([]);
  });

  it("compares IPv6 by value: any spelling EC2 uses is canonicalised", () => {
    const spelled = instance({ id: A_ID, ip: A_IP, ipv6: ["2A05:D018:0001:0002:0000:0000:0000:0070"] });
    expect(ownedAddresses(spelled, { region: REGION, extraDnsNames: [] }).ips).toContain(A_IPV6);
  });

  it("lists addresses and names sorted, each once", () => {
    const result = ownedAddresses(A, { region: REGION, nodeName: A_NAME, extraDnsNames: ["{{shortName}}"] });
    expect(result.ips).toEqual([...new Set(result.ips)].sort());
    expect(result.dnsNames).toEqual([...new Set(result.dnsNames)].sort());
  });

  it("owns public addresses and names from the interface and from its address", () => {
    const onEni: Ec2Instance = {
      InstanceId: A_ID,
      NetworkInterfaces: [
        {
          Status: "in-use",
          PrivateIpAddress: "10.0.7.1",
          PrivateDnsName: "eni-private.example.com",
          Association: { PublicIp: "52.0.0.1", PublicDnsName: "eni-public.example.com" },
          PrivateIpAddresses: [
            {
              PrivateIpAddress: "10.0.7.2",
              PrivateDnsName: "ADDR-PRIVATE.example.com.",
              Association: { PublicIp: "52.0.0.2", PublicDnsName: "addr-public.example.com" },
            },
          ],
        },
      ],
    };
    const result = ownedAddresses(onEni, { region: REGION, extraDnsNames: [] });
    expect(result.ips).toEqual(["10.0.7.1", "10.0.7.2", "52.0.0.1", "52.0.0.2"]);
    expect(result.dnsNames).toEqual(
      [
        "eni-public.example.com",
        "eni-private.example.com",
        "addr-private.example.com",
        "addr-public.example.com",
        A_ID,
        `${A_ID}.${REGION}.compute.internal`,
      ].sort(),
    );
  });

  it("owns the instance-level PublicIpAddress and PublicDnsName", () => {
    const bare: Ec2Instance = {
      InstanceId: A_ID,
      PublicIpAddress: "52.0.0.9",
      PublicDnsName: "EC2-52-0-0-9.compute.example.com",
      NetworkInterfaces: [],
    };
    expect(ownedAddresses(bare, { region: REGION, extraDnsNames: [] })).toMatchObject({
      ips: ["52.0.0.9"],
      dnsNames: expect.arrayContaining(["ec2-52-0-0-9.compute.example.com"]) as unknown,
    });
  });

  it("owns the instance-level PrivateDnsName and its first label without interfaces", () => {
    const bare: Ec2Instance = {
      InstanceId: A_ID,
      PrivateDnsName: A_NAME.toUpperCase(),
      PrivateIpAddress: A_IP,
    };
    expect(ownedAddresses(bare, { region: "", extraDnsNames: [] })).toEqual({
      ips: [A_IP],
      dnsNames: [A_ID, A_NAME, A_SHORT].sort(),
    });
  });

  it("falls back to PrivateIpAddress only without any interface", () => {
    const bare = { InstanceId: A_ID, PrivateIpAddress: A_IP, NetworkInterfaces: [] };
    expect(ownedAddresses(bare, { region: REGION, extraDnsNames: [] }).ips).toEqual([A_IP]);
    const detached = { ...bare, NetworkInterfaces: [{ Status: "detaching", PrivateIpAddress: "10.0.9.9" }] };
    expect(ownedAddresses(detached, { region: REGION, extraDnsNames: [] }).ips).toEqual([]);
  });

  it("skips empty names and null associations", () => {
    const sparse = {
      InstanceId: "",
      PrivateDnsName: "",
      PublicDnsName: "",
      NetworkInterfaces: [
        { Status: "in-use", PrivateIpAddress: "10.0.7.1", Association: null, PrivateDnsName: "" },
      ],
    } as unknown as Ec2Instance;
    expect(
      ownedAddresses(sparse, { region: REGION, extraDnsNames: ["{{shortName}}.x.example.com"] }),
    ).toEqual({
      ips: ["10.0.7.1"],
      dnsNames: [],
    });
  });

  it("adds no resource-name hostname without a region", () => {
    const result = ownedAddresses(A, { region: "", extraDnsNames: [] });
    expect(result.dnsNames).toContain(A_ID);
    expect(result.dnsNames.some((name) => name.endsWith(".compute.internal") && name.startsWith("i-"))).toBe(
      false,
    );
  });

  it("fills templates with lower-cased, normalised values", () => {
    const shouty = { ...A, InstanceId: A_ID.toUpperCase(), PrivateDnsName: `${A_NAME.toUpperCase()}.` };
    const result = ownedAddresses(shouty, {
      region: REGION.toUpperCase(),
      nodeName: "Worker-7.",
      extraDnsNames: [
        "{{instanceId}}.{{region}}.x.example.com",
        "{{nodeName}}.y.example.com",
        "{{privateDnsName}}.z.example.com",
        "{{shortName}}.w.example.com",
      ],
    });
    expect(result.dnsNames).toEqual(
      expect.arrayContaining([
        `${A_ID}.${REGION}.x.example.com`,
        "worker-7.y.example.com",
        `${A_NAME}.z.example.com`,
        `${A_SHORT}.w.example.com`,
      ]),
    );
  });

  it("grants no template names when extraDnsNames is not a list", () => {
    const result = ownedAddresses(A, {
      region: REGION,
      extraDnsNames: "{{shortName}}.x" as unknown as string[],
    });
    expect(result.dnsNames).not.toContain(`${A_SHORT}.x`);
  });

  // Records of the wrong shape are refused at the edge (ec2-schemas.test.ts); hostile text is not.
  it("owns no hostile text", () => {
    const hostile = {
      NetworkInterfaces: [{ Status: "in-use", PrivateIpAddresses: [{ PrivateIpAddress: "*.evil" }] }],
      PrivateDnsName: "*.evil.com",
    };
    expect(ownedAddresses(hostile, { region: REGION, extraDnsNames: [] })).toEqual({ ips: [], dnsNames: [] });
  });
});
