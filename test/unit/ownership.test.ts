import { describe, expect, it } from "vitest";
import { canonicalIp } from "../../functions/core/ip.js";
import { expandDnsTemplate, normalizeDnsName, ownedAddresses } from "../../functions/core/ownership.js";
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

  it("rejects non-strings without throwing", () => {
    expect(canonicalIp(undefined)).toBeUndefined();
    expect(canonicalIp(167772486)).toBeUndefined();
  });
});

describe("normalizeDnsName", () => {
  it("lower-cases and removes one trailing dot", () => {
    expect(normalizeDnsName("IP-10-0-1-70.EU-West-1.Compute.Internal.")).toBe(A_NAME);
    expect(normalizeDnsName(A_NAME)).toBe(A_NAME);
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
  ])("ignores %j", (template) => {
    expect(expandDnsTemplate(template, values)).toBeUndefined();
  });
});

describe("ownedAddresses", () => {
  const owned = ownedAddresses(A, { region: REGION, extraDnsNames: [] });

  it("owns every in-use interface's private, public and IPv6 addresses", () => {
    expect(owned.ips).toEqual([A_IPV6, A_IP, A_SECONDARY_ENI_IP, A_SECONDARY_PUBLIC, A_PUBLIC].sort());
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
      expect(owned.ips).not.toContain(ip);
    }
  });

  it("owns the private/public/interface names, the short name and the resource names", () => {
    expect(owned.dnsNames).toEqual(
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
    expect(owned.dnsNames).not.toContain("worker-7");
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

  it("survives hostile shapes", () => {
    const hostile = {
      InstanceId: 42,
      NetworkInterfaces: [
        null,
        "x",
        { Status: "in-use", PrivateIpAddresses: [null, { PrivateIpAddress: "*.evil" }] },
      ],
      PrivateDnsName: "*.evil.com",
    } as unknown as typeof A;
    expect(ownedAddresses(hostile, { region: REGION, extraDnsNames: [] })).toEqual({ ips: [], dnsNames: [] });
  });
});
