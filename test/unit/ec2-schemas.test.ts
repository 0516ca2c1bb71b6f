// The EC2 edge (functions/sweep/ec2-schemas.ts): instance records of the wrong shape, which the
// policy used to skip or re-check as `unknown`, are refused where they are read; the lookup
// then fails and the CSRs wait (FACTS_UNAVAILABLE), as for any error reading AWS.
import { describe, expect, it } from "vitest";
import { checkInstance, MalformedInstance } from "../../functions/sweep/ec2-schemas.js";

const INSTANCE = {
  InstanceId: "i-0a1b2c3d4e5f60718",
  State: { Code: 16, Name: "running" },
  VpcId: "vpc-0c1a5e7e0000000001",
  LaunchTime: new Date("2026-01-01T00:05:00Z"),
  PrivateDnsName: "ip-10-0-1-70.eu-west-1.compute.internal",
  PrivateIpAddress: "10.0.1.70",
  Placement: { AvailabilityZone: "eu-west-1a" },
  Tags: [{ Key: "Name", Value: "node1" }],
  NetworkInterfaces: [
    {
      Status: "in-use",
      PrivateIpAddress: "10.0.1.70",
      Association: { PublicIp: "203.0.113.7", IpOwnerId: "amazon" },
      PrivateIpAddresses: [{ PrivateIpAddress: "10.0.1.70", Primary: true }],
      Ipv6Addresses: [{ Ipv6Address: "2a05:d018:1:2::70" }],
      Ipv4Prefixes: [{ Ipv4Prefix: "10.0.64.0/28" }],
    },
  ],
  Architecture: "arm64",
};

function where(raw: unknown): string | undefined {
  try {
    checkInstance(raw);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedInstance);
    return (error as MalformedInstance).where;
  }
}

describe("checkInstance", () => {
  it("reads an SDK record (LaunchTime a Date) or a CLI one (a string), keeping every field", () => {
    expect(checkInstance(INSTANCE)).toEqual(INSTANCE);
    const printed = { ...INSTANCE, LaunchTime: "2026-01-01T00:05:00+00:00" };
    expect(checkInstance(printed)).toEqual(printed);
    expect(checkInstance({})).toEqual({});
  });

  it.each([
    ["null", null, ""],
    ["a number", 1, ""],
    ["an instance ID alone", "i-0a1b2c3d4e5f60718", ""],
    ["an InstanceId that is a number", { InstanceId: 42 }, "InstanceId"],
    ["a null State", { ...INSTANCE, State: null }, "State"],
    ["a State that is text", { ...INSTANCE, State: "running" }, "State"],
    ["a PrivateDnsName that is a number", { ...INSTANCE, PrivateDnsName: 5 }, "PrivateDnsName"],
    ["a LaunchTime that is a number", { ...INSTANCE, LaunchTime: Date.parse("2026-01-01") }, "LaunchTime"],
    ["Tags that are not a list", { ...INSTANCE, Tags: "not a list" }, "Tags"],
    ["a Tag that is null", { ...INSTANCE, Tags: [null] }, "Tags.0"],
    ["interfaces that are not a list", { ...INSTANCE, NetworkInterfaces: "in-use" }, "NetworkInterfaces"],
    ["an interface that is text", { ...INSTANCE, NetworkInterfaces: ["eni", 5] }, "NetworkInterfaces.0"],
    [
      "an address that is null",
      { ...INSTANCE, NetworkInterfaces: [{ Status: "in-use", PrivateIpAddresses: [null] }] },
      "NetworkInterfaces.0.PrivateIpAddresses.0",
    ],
    [
      "a null association",
      { ...INSTANCE, NetworkInterfaces: [{ Status: "in-use", Association: null }] },
      "NetworkInterfaces.0.Association",
    ],
  ])("refuses %s, naming the field", (_label, raw, path) => {
    expect(where(raw)).toBe(path);
  });

  it("says what the field must be, in one line", () => {
    expect(() => checkInstance({ ...INSTANCE, Tags: "x" })).toThrow(
      "an EC2 instance record is malformed: Tags: expected a list",
    );
    expect(() => checkInstance({ ...INSTANCE, LaunchTime: 5 })).toThrow(
      "an EC2 instance record is malformed: LaunchTime: expected an ISO 8601 string",
    );
  });
});
