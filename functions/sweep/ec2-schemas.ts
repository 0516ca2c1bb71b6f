// The EC2 instance records we read (DescribeInstances through the SDK, and `aws ec2
// describe-instances` files in functions/cli): checked once here, so the core gets typed
// Ec2Instance values and trusts them. Lean: only the fields the policy reads; `looseObject`
// keeps the rest, so two records of one instance still compare whole (core/policy.ts).
// Bounded: one linear pass over a page the SDK has already read (at most 1,000 instances).
import * as v from "valibot";
import type { Ec2Instance } from "../core/types.js";

const text = v.optional(v.string("a string"));
const list = <T extends v.GenericSchema>(item: T) => v.optional(v.array(item, "a list"));

const AssociationSchema = v.optional(v.looseObject({ PublicIp: text, PublicDnsName: text }, "an object"));

const NetworkInterfaceSchema = v.looseObject(
  {
    NetworkInterfaceId: text,
    Status: text,
    VpcId: text,
    PrivateDnsName: text,
    PrivateIpAddress: text,
    Association: AssociationSchema,
    PrivateIpAddresses: list(
      v.looseObject(
        {
          PrivateIpAddress: text,
          PrivateDnsName: text,
          Primary: v.optional(v.boolean("a boolean")),
          Association: AssociationSchema,
        },
        "an object",
      ),
    ),
    Ipv6Addresses: list(v.looseObject({ Ipv6Address: text }, "an object")),
    Ipv4Prefixes: list(v.looseObject({ Ipv4Prefix: text }, "an object")),
    Ipv6Prefixes: list(v.looseObject({ Ipv6Prefix: text }, "an object")),
  },
  "an object",
);

/** One instance record: the fields core/types.ts Ec2Instance names. */
export const Ec2InstanceSchema = v.looseObject(
  {
    InstanceId: text,
    State: v.optional(v.looseObject({ Name: text }, "an object")),
    VpcId: text,
    LaunchTime: v.optional(v.union([v.string(), v.date()], "an ISO 8601 string")),
    PrivateDnsName: text,
    PrivateIpAddress: text,
    PublicDnsName: text,
    PublicIpAddress: text,
    Placement: v.optional(v.looseObject({ AvailabilityZone: text }, "an object")),
    Tags: list(v.looseObject({ Key: text, Value: text }, "an object")),
    NetworkInterfaces: list(NetworkInterfaceSchema),
  },
  "an object",
);

/** An instance record that failed Ec2InstanceSchema: `where` names the field. */
export class MalformedInstance extends Error {
  constructor(
    readonly where: string,
    readonly expected: string,
  ) {
    super(`an EC2 instance record is malformed: ${where}: expected ${expected}`);
    this.name = "MalformedInstance";
  }
}

/** The record typed, or a MalformedInstance naming the first problem. */
export function checkInstance(raw: unknown): Ec2Instance {
  const checked = v.safeParse(Ec2InstanceSchema, raw);
  if (checked.success) return checked.output as Ec2Instance;
  const issue = checked.issues[0];
  throw new MalformedInstance(v.getDotPath(issue) ?? "", issue.message);
}
