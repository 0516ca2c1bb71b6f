import { describe, expect, it } from "vitest";
import {
  identifyInstance,
  nodeNameOf,
  parseProviderId,
  sessionInstanceId,
  type IdentityOptions,
} from "../../functions/core/identity.js";
import type { CsrObject, Ec2Instance } from "../../functions/core/types.js";
import {
  A,
  A_ID,
  A_IP,
  A_NAME,
  A_SHORT,
  ALL,
  B,
  B_ID,
  B_NAME,
  C_ID,
  CLUSTER_VPC,
  DEAD,
  FOREIGN_ID,
  OTHER_VPC,
  REGION,
  REUSED_IP,
  TWIN,
  TWIN_ID,
  instance,
  ipName,
  node,
  providerId,
} from "./policy-fixtures.js";

function csr(extra?: Record<string, unknown>): CsrObject {
  return {
    metadata: { name: "csr-x" },
    spec: {
      signerName: "kubernetes.io/kubelet-serving",
      request: "",
      ...(extra ? { extra: extra as Record<string, string[]> } : {}),
    },
  };
}

function identify(
  nodeName: string,
  instances: Ec2Instance[],
  options: IdentityOptions = {},
  request = csr(),
) {
  return identifyInstance(nodeName, request, instances, REGION, { vpcIds: [CLUSTER_VPC], ...options });
}

describe("nodeNameOf", () => {
  it.each([
    ["system:node:ip-10-0-1-70", "ip-10-0-1-70"],
    ["system:node:a:b", "a:b"],
    ["system:node:", undefined],
    ["system:nodes", undefined],
    ["System:node:x", undefined],
    ["alice", undefined],
    [undefined, undefined],
  ])("%j → %j", (username, expected) => expect(nodeNameOf(username)).toBe(expected));
});

describe("parseProviderId", () => {
  it("parses aws:///<az>/<instance-id>", () => {
    expect(parseProviderId(`aws:///eu-west-1a/${A_ID}`)).toEqual({ az: "eu-west-1a", instanceId: A_ID });
    expect(parseProviderId("aws:///us-west-2-lax-1a/i-12345678")).toEqual({
      az: "us-west-2-lax-1a",
      instanceId: "i-12345678",
    });
  });
  it.each([
    "",
    "aws://eu-west-1a/" + A_ID,
    `aws:///eu-west-1a/${A_ID}/x`,
    `gce:///eu-west-1a/${A_ID}`,
    "aws:///eu-west-1a/i-xyz",
    `kind://docker/${A_ID}`,
  ])("rejects %j", (input) => expect(parseProviderId(input)).toBeUndefined());
});

describe("sessionInstanceId", () => {
  // A bare string (not the list the API serves) is refused at the edge: k8s-schemas.test.ts.
  it("reads the one-element list EKS writes", () => {
    expect(sessionInstanceId(csr({ sessionName: [A_ID] }))).toEqual({ instanceId: A_ID, raw: A_ID });
  });
  it("ignores session names that are not instance IDs, and ambiguous lists", () => {
    expect(sessionInstanceId(csr({ sessionName: ["alice"] })).instanceId).toBeUndefined();
    expect(sessionInstanceId(csr({ sessionName: [A_ID, B_ID] })).instanceId).toBeUndefined();
    expect(sessionInstanceId(csr({ SessionName: [A_ID] })).instanceId).toBeUndefined();
    expect(sessionInstanceId(csr()).instanceId).toBeUndefined();
  });
  it("every fixture instance ID is well-formed (tests about missing instances must not pass on a bad ID)", () => {
    for (const id of [A_ID, B_ID, C_ID, DEAD.InstanceId, FOREIGN_ID, TWIN_ID]) {
      expect(sessionInstanceId(csr({ sessionName: [id] })).instanceId).toBe(id);
    }
  });
});

describe("identifyInstance", () => {
  it.each([
    ["the private DNS name", A_NAME, "private-dns-name"],
    [
      "the private DNS name in upper case with a trailing dot",
      `${A_NAME.toUpperCase()}.`,
      "private-dns-name",
    ],
    ["the short hostname", A_SHORT, "short-hostname"],
    ["the instance ID", A_ID, "instance-id"],
    ["the resource-name hostname", `${A_ID}.${REGION}.compute.internal`, "resource-name"],
  ])("matches N by %s", (_label, nodeName, source) => {
    const result = identify(nodeName, ALL);
    expect(result).toMatchObject({ kind: "matched", instanceId: A_ID, nodeNameMatched: true });
    expect(result.kind === "matched" && result.matchedBy).toContain(source);
  });

  it("matches EC2's upper-case or trailing-dot PrivateDnsName", () => {
    const shouty = instance({ id: A_ID, ip: A_IP, privateDnsName: `${A_NAME.toUpperCase()}.` });
    expect(identify(A_NAME, [shouty])).toMatchObject({ kind: "matched", instanceId: A_ID });
  });

  it("accepts i-….ec2.internal only in us-east-1", () => {
    const east = instance({ id: A_ID, ip: A_IP, region: "us-east-1" });
    expect(identifyInstance(`${A_ID}.ec2.internal`, csr(), [east], "us-east-1")).toMatchObject({
      kind: "matched",
    });
    expect(identifyInstance(`${A_ID}.ec2.internal`, csr(), [A], REGION)).toMatchObject({ kind: "none" });
  });

  it("does not match prefixes, suffixes or other labels", () => {
    for (const name of [
      `${A_NAME}.evil.com`,
      `evil-${A_SHORT}`,
      "ip-10-0-1-7",
      "compute.internal",
      `${A_SHORT}.evil.com`,
      "10.0.1.70",
    ]) {
      expect(identify(name, ALL).kind, name).toBe("none");
    }
  });

  it("ignores terminated, stopped and shutting-down instances", () => {
    for (const state of ["terminated", "stopped", "stopping", "shutting-down", undefined]) {
      const gone = { ...A, State: state === undefined ? undefined : { Name: state } };
      expect(identify(A_NAME, [gone]).kind, String(state)).toBe("none");
    }
  });

  it("counts pending instances", () => {
    expect(identify(A_NAME, [{ ...A, State: { Name: "pending" } }])).toMatchObject({
      kind: "matched",
      instanceId: A_ID,
    });
  });

  it("picks the new instance when a terminated one used the same name", () => {
    expect(identify(ipName(REUSED_IP), [DEAD, instance({ id: C_ID, ip: REUSED_IP })])).toMatchObject({
      kind: "matched",
      instanceId: C_ID,
    });
  });

  it("prefers the cluster's VPC when the same name is live in another VPC", () => {
    expect(identify(A_SHORT, [TWIN, A])).toMatchObject({ kind: "matched", instanceId: A_ID });
    expect(identify(A_NAME, [A, TWIN])).toMatchObject({ kind: "matched", instanceId: A_ID });
  });

  it("is a conflict when the same name is live twice and the VPCs do not settle it", () => {
    expect(identify(A_NAME, [A, TWIN], { vpcIds: [CLUSTER_VPC, OTHER_VPC] })).toMatchObject({
      kind: "conflict",
      instanceIds: [A_ID, TWIN_ID],
    });
    expect(identify(A_NAME, [A, TWIN], { vpcIds: [] })).toMatchObject({ kind: "conflict" });
  });

  it("gives the foreign twin when it is the only live match (membership is checked later)", () => {
    expect(identify(A_NAME, [TWIN])).toMatchObject({ kind: "matched", instanceId: TWIN_ID });
  });

  it("counts an instance listed twice once", () => {
    expect(identify(A_NAME, [A, { ...A }])).toMatchObject({ kind: "matched", instanceId: A_ID });
  });

  describe("EKS session name", () => {
    const eks: IdentityOptions = { clusterKind: "eks" };
    it("agrees with the name", () => {
      const result = identify(A_NAME, ALL, eks, csr({ sessionName: [A_ID] }));
      expect(result).toMatchObject({ kind: "matched", instanceId: A_ID, nodeNameMatched: true });
      expect(result.kind === "matched" && result.matchedBy).toEqual(["private-dns-name", "session-name"]);
    });
    it("conflicts with the name", () => {
      expect(identify(A_NAME, ALL, eks, csr({ sessionName: [B_ID] }))).toMatchObject({ kind: "conflict" });
    });
    it("conflicts when it names an instance that is not visible", () => {
      expect(identify(A_NAME, ALL, eks, csr({ sessionName: ["i-0999999999999999f"] }))).toMatchObject({
        kind: "conflict",
      });
    });
    it("conflicts when it names the foreign twin while the name resolves in the cluster VPC", () => {
      expect(identify(A_NAME, [A, TWIN], eks, csr({ sessionName: [TWIN_ID] }))).toMatchObject({
        kind: "conflict",
      });
    });
    it("settles an ambiguous name", () => {
      const result = identify(
        A_NAME,
        [A, TWIN],
        { ...eks, vpcIds: [CLUSTER_VPC, OTHER_VPC] },
        csr({ sessionName: [A_ID] }),
      );
      expect(result).toMatchObject({ kind: "matched", instanceId: A_ID });
    });
    it("identifies the instance alone when N is a custom hostname (N is then not owned)", () => {
      expect(identify("worker-7", ALL, eks, csr({ sessionName: [A_ID] }))).toMatchObject({
        kind: "matched",
        instanceId: A_ID,
        nodeNameMatched: false,
      });
    });
    it("is none when the instance it names is not live", () => {
      // DEAD_ID is a well-formed ID: "none" because that instance is terminated.
      expect(identify("worker-7", [DEAD], eks, csr({ sessionName: [DEAD.InstanceId] }))).toEqual({
        kind: "none",
        why: `the IAM session name says ${DEAD.InstanceId}, which is not a pending or running instance`,
      });
    });
    it("ignores session names that are not instance IDs", () => {
      expect(identify(A_NAME, ALL, eks, csr({ sessionName: ["EKS-hybrid-node-1"] }))).toMatchObject({
        kind: "matched",
        instanceId: A_ID,
      });
    });
  });

  describe("session name outside EKS: a veto, never an identification", () => {
    const selfManaged: IdentityOptions = { clusterKind: "self-managed" };
    it.each([
      ["self-managed", selfManaged],
      ["unspecified kind", {}],
    ])("%s: names another instance than the node name: conflict", (_label, options) => {
      expect(identify(A_NAME, ALL, options, csr({ sessionName: [B_ID] }))).toMatchObject({
        kind: "conflict",
        instanceIds: [A_ID, B_ID],
      });
    });
    it("names an instance that is not in the facts: conflict, never a match", () => {
      expect(identify(A_NAME, ALL, selfManaged, csr({ sessionName: ["i-0999999999999999f"] }))).toMatchObject(
        { kind: "conflict" },
      );
    });
    it("agrees with the name", () => {
      const result = identify(A_NAME, ALL, selfManaged, csr({ sessionName: [A_ID.toUpperCase()] }));
      expect(result).toMatchObject({ kind: "matched", instanceId: A_ID, nodeNameMatched: true });
      expect(result.kind === "matched" && result.matchedBy).toEqual(["private-dns-name", "session-name"]);
    });
    it("does not identify a custom hostname on its own", () => {
      const result = identify("worker-7", ALL, selfManaged, csr({ sessionName: [A_ID] }));
      expect(result).toMatchObject({ kind: "none" });
      expect(result.why).toContain("only on EKS");
    });
    it("does not settle an ambiguous name", () => {
      expect(
        identify(
          A_NAME,
          [A, TWIN],
          { ...selfManaged, vpcIds: [CLUSTER_VPC, OTHER_VPC] },
          csr({ sessionName: [A_ID] }),
        ),
      ).toMatchObject({ kind: "conflict", instanceIds: [A_ID, TWIN_ID] });
    });
    it("vetoes a trusted providerID that names another instance", () => {
      const options = {
        ...selfManaged,
        trustNodeProviderId: true,
        nodes: [node("worker-7", providerId(A_ID))],
      };
      expect(identify("worker-7", ALL, options, csr({ sessionName: [B_ID] }))).toMatchObject({
        kind: "conflict",
        instanceIds: [A_ID, B_ID],
      });
      expect(identify("worker-7", ALL, options, csr({ sessionName: [A_ID] }))).toMatchObject({
        kind: "matched",
        instanceId: A_ID,
        matchedBy: ["provider-id", "session-name"],
      });
    });
    it("ignores session names that are not instance IDs", () => {
      expect(identify(A_NAME, ALL, selfManaged, csr({ sessionName: ["alice"] }))).toMatchObject({
        kind: "matched",
        instanceId: A_ID,
      });
    });
  });

  describe("trusted providerID may not take a live neighbour (SPEC §3)", () => {
    const trusted = { trustNodeProviderId: true };
    it("another Node object's name is the instance's private DNS name: conflict", () => {
      const result = identify("worker-7", ALL, {
        ...trusted,
        nodes: [node("worker-7", providerId(B_ID)), node(B_NAME)],
      });
      expect(result).toMatchObject({ kind: "conflict", instanceIds: [B_ID] });
      expect(result.why).toContain(B_NAME);
    });
    it.each([
      ["short hostname", "ip-10-0-2-9"],
      ["instance ID", B_ID],
      ["resource-name hostname", `${B_ID}.${REGION}.compute.internal`],
      ["private DNS name in upper case with a trailing dot", `${B_NAME.toUpperCase()}.`],
    ])("another Node object is named by the instance's %s: conflict", (_label, name) => {
      expect(
        identify("worker-7", ALL, {
          ...trusted,
          nodes: [node(name, providerId(B_ID)), node("worker-7", providerId(B_ID))],
        }),
      ).toMatchObject({ kind: "conflict" });
      expect(
        identify("worker-7", ALL, { ...trusted, nodes: [node("worker-7", providerId(B_ID)), node(name)] }),
      ).toMatchObject({ kind: "conflict" });
    });
    it("another Node object carries the same providerID: conflict", () => {
      expect(
        identify("worker-7", ALL, {
          ...trusted,
          nodes: [node("worker-7", providerId(B_ID)), node("worker-8", providerId(B_ID, `${REGION}b`))],
        }),
      ).toMatchObject({ kind: "conflict", instanceIds: [B_ID] });
    });
    it("unrelated Node objects do not stand in the way", () => {
      expect(
        identify("worker-7", ALL, {
          ...trusted,
          nodes: [
            node(A_NAME, providerId(A_ID)),
            node("worker-7", providerId(B_ID)),
            node("worker-8"),
            node("ip-10-0-2-9.evil.example"),
            node(`${B_NAME}x`),
          ],
        }),
      ).toMatchObject({ kind: "matched", instanceId: B_ID, matchedBy: ["provider-id"] });
    });
  });

  describe("providerID cross-check", () => {
    it("agrees", () => {
      expect(identify(A_NAME, ALL, { nodes: [node(A_NAME, providerId(A_ID))] })).toMatchObject({
        kind: "matched",
      });
    });
    it("names another instance: conflict", () => {
      expect(identify(A_NAME, ALL, { nodes: [node(A_NAME, providerId(B_ID))] })).toMatchObject({
        kind: "conflict",
        instanceIds: [A_ID, B_ID],
      });
    });
    it("only the Node object named N counts", () => {
      expect(
        identify(A_NAME, ALL, { nodes: [node(B_NAME, providerId(FOREIGN_ID)), node(A_NAME)] }),
      ).toMatchObject({
        kind: "matched",
        instanceId: A_ID,
      });
    });
    it("never vouches alone", () => {
      expect(identify("worker-7", ALL, { nodes: [node("worker-7", providerId(A_ID))] })).toMatchObject({
        kind: "none",
      });
    });
    it("vouches when trustNodeProviderId is set, for a live instance only", () => {
      const trusted = { trustNodeProviderId: true };
      expect(
        identify("worker-7", ALL, { ...trusted, nodes: [node("worker-7", providerId(A_ID))] }),
      ).toMatchObject({
        kind: "matched",
        instanceId: A_ID,
        nodeNameMatched: false,
        matchedBy: ["provider-id"],
      });
      expect(
        identify("worker-7", ALL, {
          ...trusted,
          nodes: [node("worker-7", providerId(DEAD.InstanceId ?? ""))],
        }),
      ).toEqual({
        kind: "none",
        why: `no pending or running instance has the name worker-7; the Node object's providerID names ${DEAD.InstanceId}, which is not a single pending or running instance`,
      });
    });
  });

  // Records that are not instances or Node objects never get here: the edge schemas refuse
  // them (ec2-schemas.test.ts, k8s-schemas.test.ts). Records without an ID or a state do.
  it("skips records without a well-formed ID or a state", () => {
    const partial: Ec2Instance[] = [
      {},
      { InstanceId: "i-5" },
      { InstanceId: A_ID },
      { State: { Name: "running" } },
      B,
    ];
    expect(identify(B_NAME, partial)).toMatchObject({ kind: "matched", instanceId: B_ID });
    expect(identify(A_NAME, partial).kind).toBe("none");
    expect(identifyInstance("", csr(), [A], REGION).kind).toBe("none");
    expect(identifyInstance(".", csr(), [A], REGION)).toEqual({
      kind: "none",
      why: "the requester names no node",
    });
  });
});

describe("identity patterns and edges (mutation-tested)", () => {
  const GONE_ID = "i-0999999999999999f"; // a well-formed ID that is in no fact list

  it.each([
    ["a prefix before aws", `xaws:///eu-west-1a/${A_ID}`],
    ["junk after the ID", `aws:///eu-west-1a/${A_ID}junk`],
    ["a 9-digit ID", "aws:///eu-west-1a/i-0123456789"],
    ["a 16-digit ID", "aws:///eu-west-1a/i-0123456789abcdef"],
    ["an 18-digit ID", "aws:///eu-west-1a/i-0123456789abcdef01"],
    ["upper-case hex", `aws:///eu-west-1a/${A_ID.toUpperCase()}`],
    ["an empty zone", `aws:////${A_ID}`],
    ["a zone with a slash", `aws:///eu/west-1a/${A_ID}`],
    ["an upper-case zone", `aws:///EU-WEST-1A/${A_ID}`],
    ["a zone with a dot", `aws:///eu.west-1a/${A_ID}`],
    ["white space", ` aws:///eu-west-1a/${A_ID}`],
    ["a trailing newline", `aws:///eu-west-1a/${A_ID}\n`],
    ["not text", 7],
  ])("parseProviderId rejects %s", (_label, input) =>
    expect(parseProviderId(input as string)).toBeUndefined(),
  );

  it("parseProviderId accepts 8- and 17-digit IDs and any lower-case zone", () => {
    expect(parseProviderId("aws:///z/i-01234567")).toEqual({ az: "z", instanceId: "i-01234567" });
    expect(parseProviderId("aws:///0/i-0123456789abcdef0")).toEqual({
      az: "0",
      instanceId: "i-0123456789abcdef0",
    });
  });

  it.each([
    ["a prefix", `x${A_ID}`],
    ["a suffix", `${A_ID}x`],
    ["a 9-digit ID", "i-012345678"],
    ["a 16-digit ID", "i-0123456789abcdef"],
    ["non-hex", "i-0123456g"],
    ["no i- prefix", "0a1b2c3d4e5f60718"],
    ["a trailing newline", `${A_ID}\n`],
  ])("a session name with %s is no instance ID", (_label, name) => {
    expect(sessionInstanceId(csr({ sessionName: [name] }))).toEqual({ raw: name });
  });

  it("sessionInstanceId: upper case is read as the instance ID; shapes that are not one name are raw or nothing", () => {
    expect(sessionInstanceId(csr({ sessionName: [A_ID.toUpperCase()] }))).toEqual({
      instanceId: A_ID,
      raw: A_ID.toUpperCase(),
    });
    expect(sessionInstanceId(csr({ sessionName: [A_ID, B_ID] }))).toEqual({ raw: `${A_ID},${B_ID}` });
    expect(sessionInstanceId(csr({ sessionName: [A_ID, A_ID] }))).toEqual({ raw: `${A_ID},${A_ID}` });
    expect(sessionInstanceId(csr({ sessionName: ["alice"] }))).toEqual({ raw: "alice" });
    expect(sessionInstanceId(csr({ sessionName: [] }))).toEqual({});
  });

  it("an instance whose InstanceId is not an ID, or upper case, is read as EC2 would mean it", () => {
    const upper = { ...A, InstanceId: A_ID.toUpperCase() };
    expect(identify(A_NAME, [upper])).toMatchObject({ kind: "matched", instanceId: A_ID });
    expect(identify(A_ID, [upper])).toMatchObject({ kind: "matched", instanceId: A_ID });
    expect(identify(A_NAME, [{ ...A, InstanceId: `${A_ID}x` }])).toMatchObject({ kind: "none" });
    expect(identify(A_NAME, [{ ...A, InstanceId: undefined }])).toMatchObject({ kind: "none" });
  });

  it("a short hostname never matches with a dot, and an empty PrivateDnsName matches nothing", () => {
    const noName = { ...A, PrivateDnsName: "" };
    expect(identify("", [noName]).kind).toBe("none");
    expect(identify(A_ID, [noName])).toMatchObject({ kind: "matched", matchedBy: ["instance-id"] });
    expect(identify(`${A_ID}.${REGION}.compute.internal`, [noName])).toMatchObject({
      kind: "matched",
      matchedBy: ["resource-name"],
    });
    const dotted = { ...A, PrivateDnsName: "ip-10-0-1-70.internal" };
    expect(identify("ip-10-0-1-70", [dotted])).toMatchObject({
      kind: "matched",
      matchedBy: ["short-hostname"],
    });
    expect(identify("ip-10-0-1-70.internal", [dotted])).toMatchObject({
      kind: "matched",
      matchedBy: ["private-dns-name"],
    });
  });

  it("lists every rule a name matched by", () => {
    // An instance whose PrivateDnsName is its resource name (EC2's resource-name hostnames).
    const resourceNamed = { ...A, PrivateDnsName: `${A_ID}.${REGION}.compute.internal` };
    expect(identify(`${A_ID}.${REGION}.compute.internal`, [resourceNamed])).toMatchObject({
      kind: "matched",
      matchedBy: ["private-dns-name", "resource-name"],
    });
    expect(identify(A_ID, [resourceNamed])).toMatchObject({
      kind: "matched",
      matchedBy: ["short-hostname", "instance-id"],
    });
  });

  it("the first record of a repeated instance is the one used", () => {
    const pendingFirst = [{ ...A, State: { Name: "pending" } }, A];
    const result = identify(A_NAME, pendingFirst);
    expect(result.kind === "matched" && result.instance.State?.Name).toBe("pending");
  });

  it("an instance without a region matches no resource-name hostname", () => {
    expect(identifyInstance(`${A_ID}.${REGION}.compute.internal`, csr(), [A], "")).toMatchObject({
      kind: "none",
    });
    expect(identifyInstance(A_NAME, csr(), [A], "")).toMatchObject({
      kind: "matched",
    });
  });

  it("VPC preference: only when several match, and only to cluster VPCs that hold a candidate", () => {
    // Both outside the cluster VPC: still ambiguous.
    const other = { ...TWIN, InstanceId: "i-0e1e2e3e4e5e6e7e9" };
    expect(identify(A_NAME, [TWIN, other])).toMatchObject({ kind: "conflict" });
    // A non-array vpcIds option is no preference.
    expect(identify(A_NAME, [A, TWIN], { vpcIds: "x" as unknown as string[] })).toMatchObject({
      kind: "conflict",
    });
    // An instance without VpcId is never "in the cluster".
    const noVpc = { ...TWIN, VpcId: undefined };
    expect(identify(A_NAME, [A, noVpc])).toMatchObject({ kind: "matched", instanceId: A_ID });
  });

  it("explains each outcome in words that name the instances and the rule", () => {
    expect(identify(A_NAME, ALL).why).toBe(`node ${A_NAME} is ${A_ID} by private-dns-name`);
    expect(identify("worker-7", ALL).why).toBe("no pending or running instance has the name worker-7");
    expect(identify(A_NAME, [A, TWIN], { vpcIds: [] }).why).toBe(
      `node name ${A_NAME} matches several live instances: ${A_ID} (running, ${CLUSTER_VPC}), ${TWIN_ID} (running, ${OTHER_VPC})`,
    );
    expect(
      identify(A_NAME, [A, { ...TWIN, VpcId: undefined, State: { Name: "pending" } }], { vpcIds: [] }).why,
    ).toBe(
      `node name ${A_NAME} matches several live instances: ${A_ID} (running, ${CLUSTER_VPC}), ${TWIN_ID} (pending, no VPC)`,
    );
    expect(identify(A_NAME, ALL, { clusterKind: "eks" }, csr({ sessionName: [B_ID] })).why).toBe(
      `node name ${A_NAME} matches ${A_ID} but the IAM session name says ${B_ID}`,
    );
    expect(identify("worker-7", [DEAD], { clusterKind: "eks" }, csr({ sessionName: [GONE_ID] })).why).toBe(
      `the IAM session name says ${GONE_ID}, which is not a pending or running instance`,
    );
    expect(identify("worker-7", ALL, {}, csr({ sessionName: ["alice"] })).why).toBe(
      "no pending or running instance has the name worker-7 (IAM session name alice is not an instance ID)",
    );
    expect(identify("worker-7", ALL, {}, csr({ sessionName: [A_ID] })).why).toBe(
      `no pending or running instance has the name worker-7 (IAM session name ${A_ID} identifies an instance on its own only on EKS)`,
    );
    expect(identify("worker-7", ALL, { nodes: [node("worker-7", providerId(A_ID))] }).why).toBe(
      `no pending or running instance has the name worker-7; the Node object's providerID names ${A_ID}, which is not trusted alone`,
    );
    expect(
      identify("worker-7", ALL, { trustNodeProviderId: true, nodes: [node("worker-7", providerId(GONE_ID))] })
        .why,
    ).toBe(
      `no pending or running instance has the name worker-7; the Node object's providerID names ${GONE_ID}, which is not a single pending or running instance`,
    );
    expect(identify(A_NAME, ALL, { nodes: [node(A_NAME, providerId(B_ID))] }).why).toBe(
      `node ${A_NAME} is ${A_ID} by private-dns-name, but its Node object's providerID names ${B_ID}`,
    );
    expect(
      identify("worker-7", ALL, {
        trustNodeProviderId: true,
        nodes: [node("worker-7", providerId(A_ID))],
      }).why,
    ).toBe(`node worker-7 is ${A_ID} by provider-id`);
    expect(
      identify("worker-7", ALL, {
        trustNodeProviderId: true,
        nodes: [node("worker-7", providerId(B_ID)), node(B_NAME), node("worker-8", providerId(B_ID))],
      }).why,
    ).toBe(
      `node worker-7's Node object's providerID names ${B_ID}, but Node ${B_NAME}, worker-8 also stands for that instance (same providerID or one of its EC2 names)`,
    );
    expect(
      identify(
        "worker-7",
        ALL,
        { trustNodeProviderId: true, nodes: [node("worker-7", providerId(A_ID))] },
        csr({ sessionName: [B_ID] }),
      ).why,
    ).toBe(`node worker-7 is ${A_ID} by provider-id, but the IAM session name says ${B_ID}`);
    expect(identifyInstance("", csr(), [A], REGION).why).toBe("the requester names no node");
  });

  it("an empty node name never matches an instance without a PrivateDnsName", () => {
    const noName = { ...A, PrivateDnsName: undefined };
    expect(identify(".", [noName]).kind).toBe("none");
    expect(identify(".", [{ ...A, PrivateDnsName: "" }]).kind).toBe("none");
  });

  it("sessionInstanceId: no CSR, or no sessionName key, is no session", () => {
    expect(sessionInstanceId(csr({ arn: ["x"] }))).toEqual({});
  });

  it("explains outcomes that list several instances or rules", () => {
    const twinInCluster = { ...TWIN, VpcId: CLUSTER_VPC };
    expect(identify(A_NAME, [A, twinInCluster], {}, csr({ sessionName: [B_ID] })).why).toBe(
      `node name ${A_NAME} matches ${A_ID}, ${TWIN_ID} but the IAM session name says ${B_ID}`,
    );
    expect(identify(A_NAME, ALL, {}, csr({ sessionName: [A_ID] })).why).toBe(
      `node ${A_NAME} is ${A_ID} by private-dns-name, session-name`,
    );
    expect(
      identify(
        A_NAME,
        ALL,
        { nodes: [node(A_NAME, providerId(B_ID)), node(A_NAME.toUpperCase(), providerId(C_ID))] },
        csr({ sessionName: [A_ID] }),
      ).why,
    ).toBe(
      `node ${A_NAME} is ${A_ID} by private-dns-name, session-name, but its Node object's providerID names ${B_ID}, ${C_ID}`,
    );
    expect(
      identify("worker-7", ALL, {
        nodes: [node("worker-7", providerId(A_ID)), node("WORKER-7", providerId(B_ID))],
      }).why,
    ).toBe(
      `no pending or running instance has the name worker-7; the Node object's providerID names ${A_ID}, ${B_ID}, which is not trusted alone`,
    );
  });

  it("EKS: a session instance that is not live is none, not a match", () => {
    expect(identify("worker-7", [A], { clusterKind: "eks" }, csr({ sessionName: [GONE_ID] }))).toMatchObject({
      kind: "none",
    });
    expect(identify(A_NAME, [A, DEAD], { clusterKind: "eks" }, csr({ sessionName: [B_ID] }))).toMatchObject({
      kind: "conflict",
    });
  });

  it("trusted providerID: needs exactly one providerID on N's Node object, for a live instance", () => {
    const trusted = { trustNodeProviderId: true };
    // Two Node objects named N (upper and lower case) with different providerIDs: not one.
    expect(
      identify("worker-7", ALL, {
        ...trusted,
        nodes: [node("worker-7", providerId(A_ID)), node("WORKER-7", providerId(B_ID))],
      }),
    ).toMatchObject({ kind: "none" });
    // A rival is matched by its normalised name; N's own Node object is never its rival.
    expect(
      identify("worker-7", ALL, {
        ...trusted,
        nodes: [node("worker-7", providerId(B_ID)), node(`${B_NAME.toUpperCase()}.`)],
      }),
    ).toMatchObject({ kind: "conflict" });
    expect(
      identify("Worker-7.", ALL, {
        ...trusted,
        nodes: [node("worker-7", providerId(B_ID)), node("WORKER-7")],
      }),
    ).toMatchObject({ kind: "matched", instanceId: B_ID });
    // Node objects that are not readable are refused at the edge (k8s-schemas.test.ts); one
    // without a providerID stands for no instance.
    expect(
      identify("worker-7", ALL, {
        ...trusted,
        nodes: [node("worker-8"), node("worker-7", providerId(B_ID))],
      }),
    ).toMatchObject({ kind: "matched", instanceId: B_ID });
    // No Node objects: no providerID at all.
    expect(identify("worker-7", ALL, { ...trusted, nodes: [] })).toMatchObject({ kind: "none" });
    // Not trusted (any truthy value other than true is not set by the policy, but false is false).
    expect(
      identify("worker-7", ALL, { trustNodeProviderId: false, nodes: [node("worker-7", providerId(B_ID))] }),
    ).toMatchObject({ kind: "none" });
  });

  it("a Node object named N with a non-AWS providerID, or none, does not count", () => {
    expect(
      identify("worker-7", ALL, {
        trustNodeProviderId: true,
        nodes: [node("worker-7", "kind://x/i-0a1b2c3d")],
      }),
    ).toMatchObject({ kind: "none", why: "no pending or running instance has the name worker-7" });
    expect(identify(A_NAME, ALL, { nodes: [node(A_NAME)] })).toMatchObject({ kind: "matched" });
  });
});
