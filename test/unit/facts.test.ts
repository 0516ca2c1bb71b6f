import { describe, expect, it } from "vitest";
import { planInstanceLookups } from "../../functions/sweep/facts.js";

describe("planInstanceLookups", () => {
  it("sends instance IDs to the instance-id filter and names to private-dns-name", () => {
    const plan = planInstanceLookups(
      [
        { node: "ip-10-0-1-70.eu-west-1.compute.internal" },
        { node: "i-0123456789abcdef0" },
        { node: "i-0aaaaaaaaaaaaaaaa.eu-west-1.compute.internal" },
        { node: "ip-10-0-1-71.eu-west-1.compute.internal", sessionInstanceId: "i-0bbbbbbbbbbbbbbbb" },
        { node: "i-1234abcd" }, // the old 8-hex-digit form
      ],
      "eu-west-1",
    );
    expect(plan.instanceIds).toEqual([
      "i-0123456789abcdef0",
      "i-0aaaaaaaaaaaaaaaa",
      "i-0bbbbbbbbbbbbbbbb",
      "i-1234abcd",
    ]);
    expect(plan.dnsNames).toEqual([
      "ip-10-0-1-70.eu-west-1.compute.internal",
      "ip-10-0-1-71.eu-west-1.compute.internal",
    ]);
  });

  it("looks requested IPs up in canonical form only (nonEc2Nodes), never a wildcard or a mapped address", () => {
    const plan = planInstanceLookups(
      [
        {
          node: "onprem-1",
          ips: ["192.168.10.7", "FD00:10:0::A", "::ffff:10.0.0.1", "10.0.0.*", "010.1.1.1"],
        },
        { node: "onprem-2", ips: ["192.168.10.7"] },
      ],
      "eu-west-1",
    );
    expect(plan.ipv4).toEqual(["192.168.10.7"]);
    expect(plan.ipv6).toEqual(["fd00:10::a"]);
    expect(planInstanceLookups([{ node: "onprem-1" }], "eu-west-1")).toMatchObject({ ipv4: [], ipv6: [] });
  });

  it("expands a short hostname to the private DNS names EC2 assigns in the region", () => {
    expect(planInstanceLookups([{ node: "ip-10-0-1-70" }], "eu-west-1").dnsNames).toEqual([
      "ip-10-0-1-70.eu-west-1.compute.internal",
    ]);
    expect(planInstanceLookups([{ node: "ip-10-0-1-70" }], "us-east-1").dnsNames).toEqual([
      "ip-10-0-1-70.ec2.internal",
      "ip-10-0-1-70.us-east-1.compute.internal",
    ]);
  });

  it("normalises case and a trailing dot, and dedupes", () => {
    const plan = planInstanceLookups(
      [
        { node: "IP-10-0-1-70.EC2.INTERNAL." },
        { node: "ip-10-0-1-70.ec2.internal" },
        { node: "I-0123456789ABCDEF0" },
      ],
      "us-east-1",
    );
    expect(plan.dnsNames).toEqual(["ip-10-0-1-70.ec2.internal"]);
    expect(plan.instanceIds).toEqual(["i-0123456789abcdef0"]);
  });

  it("takes a resource-name hostname's ID only for its own region", () => {
    const foreign = planInstanceLookups(
      [{ node: "i-0123456789abcdef0.us-west-2.compute.internal" }],
      "eu-west-1",
    );
    expect(foreign.instanceIds).toEqual([]);
    expect(foreign.dnsNames).toEqual(["i-0123456789abcdef0.us-west-2.compute.internal"]); // exact, finds nothing
    expect(
      planInstanceLookups([{ node: "i-0123456789abcdef0.ec2.internal" }], "us-east-1").instanceIds,
    ).toEqual(["i-0123456789abcdef0"]);
  });

  it("never turns CSR-controlled text into an EC2 wildcard or escape", () => {
    const plan = planInstanceLookups(
      [
        { node: "*" },
        { node: "ip-10-0-*" },
        { node: "ip-10-0-1-?" },
        { node: "a\\*" },
        { node: "two words" },
        { node: "" },
        { node: "x".repeat(300) },
        { node: "ok-name", sessionInstanceId: "i-*" },
        { node: "ok-name2", sessionInstanceId: "arn:aws:iam::1:role/x" },
      ],
      "eu-west-1",
    );
    expect(plan.instanceIds).toEqual([]);
    expect(plan.dnsNames).toEqual([
      "ok-name.eu-west-1.compute.internal",
      "ok-name2.eu-west-1.compute.internal",
    ]);
    for (const value of [...plan.instanceIds, ...plan.dnsNames]) expect(value).not.toMatch(/[*?\\]/);
  });
});
