// nodeNameTemplates (SPEC §3): kubespray inventory names from the Name tag, custom DHCP domains.
import { describe, expect, it } from "vitest";
import { FactsIndex } from "../../functions/core/facts-index.js";
import { identifyInstance, type IdentityOptions } from "../../functions/core/identity.js";
import { decide } from "../../functions/core/policy.js";
import type { CsrObject, Ec2Instance } from "../../functions/core/types.js";
import { createCsrPem, toRequestField } from "../support/csr-factory.js";
import { parseCertificateRequest } from "../../functions/core/request.js";
import {
  A_ID,
  B_ID,
  C_ID,
  CLUSTER_VPC,
  CREATED,
  NOW_FRESH,
  NOW_STALE,
  OTHER_VPC,
  REGION,
  cluster,
  instance,
  settings,
} from "./policy-fixtures.js";

const TAG = ["{{tag:Name}}"];
const DOMAIN = ["{{shortName}}.corp.example.com"];
const node1 = instance({ id: A_ID, ip: "192.168.207.7", tags: { Name: "node1" } });
const node2 = instance({ id: B_ID, ip: "192.168.207.8", tags: { Name: "node2" } });

function csr(node: string, extra?: Record<string, string[]>): CsrObject {
  return {
    metadata: { name: "csr-x", creationTimestamp: CREATED },
    spec: {
      signerName: "kubernetes.io/kubelet-serving",
      request: "",
      username: `system:node:${node}`,
      groups: ["system:nodes", "system:authenticated"],
      usages: ["digital signature", "server auth"],
      ...(extra ? { extra } : {}),
    },
  };
}

function identify(
  node: string,
  instances: Ec2Instance[],
  options: IdentityOptions = {},
  extra?: Record<string, string[]>,
) {
  return identifyInstance(node, csr(node, extra), instances, REGION, {
    vpcIds: [CLUSTER_VPC],
    nodeNameTemplates: TAG,
    ...options,
  });
}

describe("identifyInstance: nodeNameTemplates", () => {
  it("a kubespray inventory name is the instance whose Name tag holds it", () => {
    const result = identify("node1", [node1, node2]);
    expect(result).toMatchObject({
      kind: "matched",
      instanceId: A_ID,
      matchedBy: ["name-template"],
      nodeNameMatched: true,
    });
    expect(identify("node2.", [node1, node2])).toMatchObject({ kind: "matched", instanceId: B_ID });
  });

  it("without templates the same node is not found (unchanged behaviour)", () => {
    expect(identify("node1", [node1, node2], { nodeNameTemplates: [] }).kind).toBe("none");
  });

  it("a custom DHCP domain name is the instance of that short name", () => {
    const a = instance({ id: A_ID, ip: "10.0.1.70" });
    expect(identify("ip-10-0-1-70.corp.example.com", [a], { nodeNameTemplates: DOMAIN })).toMatchObject({
      kind: "matched",
      instanceId: A_ID,
      matchedBy: ["name-template"],
    });
    expect(identify("ip-10-0-1-70.other.example.com", [a], { nodeNameTemplates: DOMAIN }).kind).toBe("none");
  });

  it("two live instances giving one name identify nobody (an Auto Scaling group's copied Name)", () => {
    const twin = instance({ id: C_ID, ip: "192.168.207.9", tags: { Name: "node1" } });
    const result = identify("node1", [node1, twin]);
    expect(result.kind).toBe("conflict");
    if (result.kind === "conflict") expect(result.instanceIds.sort()).toEqual([A_ID, C_ID].sort());
    expect(result.why).toBe(
      `node name node1 is given by name templates or EC2 names to several live instances: ${A_ID} (running, ${CLUSTER_VPC}), ${C_ID} (running, ${CLUSTER_VPC})`,
    );
  });

  it("a name the built-in rules give one instance and a template another is a conflict", () => {
    // B's Name tag is A's EC2 short hostname.
    const a = instance({ id: A_ID, ip: "10.0.1.70" });
    const b = instance({ id: B_ID, ip: "10.0.1.80", tags: { Name: "ip-10-0-1-70" } });
    expect(identify("ip-10-0-1-70", [a, b]).kind).toBe("conflict");
    // Even when the built-in namesake is in another VPC.
    const foreign = instance({ id: A_ID, ip: "10.0.1.70", vpc: OTHER_VPC });
    expect(identify("ip-10-0-1-70", [foreign, b]).kind).toBe("conflict");
  });

  it("a terminated instance's tag, reused by a new one, names only the new one", () => {
    const dead = instance({ id: A_ID, ip: "192.168.207.7", state: "terminated", tags: { Name: "node1" } });
    const reborn = instance({ id: C_ID, ip: "192.168.207.7", tags: { Name: "node1" } });
    expect(identify("node1", [dead, reborn])).toMatchObject({ kind: "matched", instanceId: C_ID });
    expect(identify("node1", [dead]).kind).toBe("none");
  });

  it("only the cluster's own instances count: another VPC, or without the cluster tag", () => {
    const elsewhere = instance({ id: A_ID, ip: "192.168.207.7", vpc: OTHER_VPC, tags: { Name: "node1" } });
    expect(identify("node1", [elsewhere]).kind).toBe("none");
    // Another kubespray cluster's node1 in another VPC does not make ours ambiguous.
    expect(identify("node1", [elsewhere, { ...node1, InstanceId: B_ID }])).toMatchObject({
      kind: "matched",
      instanceId: B_ID,
    });
    const tag = { key: "kubernetes.io/cluster/prod", values: ["owned"] };
    expect(identify("node1", [node1], { clusterTag: tag }).kind).toBe("none");
    const owned = instance({
      id: A_ID,
      ip: "192.168.207.7",
      tags: { Name: "node1", "kubernetes.io/cluster/prod": "owned" },
    });
    expect(identify("node1", [owned], { clusterTag: tag })).toMatchObject({
      kind: "matched",
      instanceId: A_ID,
    });
    expect(identify("node1", [node1], { vpcIds: [] }).kind).toBe("none");
    // A tag key alone (any value) is enough when no values are listed.
    expect(identify("node1", [owned], { clusterTag: { key: "kubernetes.io/cluster/prod" } }).kind).toBe(
      "matched",
    );
    const shared = instance({
      id: A_ID,
      ip: "192.168.207.7",
      tags: { Name: "node1", "kubernetes.io/cluster/prod": "shared" },
    });
    expect(identify("node1", [shared], { clusterTag: tag }).kind).toBe("none");
    const keylessTag = { ...owned, Tags: [{ Value: "owned" }, ...(owned.Tags ?? [])] };
    expect(identify("node1", [keylessTag], { clusterTag: tag }).kind).toBe("matched");
  });

  it("the session-name veto applies unchanged", () => {
    const result = identify("node1", [node1, node2], { clusterKind: "eks" }, { sessionName: [B_ID] });
    expect(result.kind).toBe("conflict");
  });

  it("a Node object's providerID naming another instance is a conflict", () => {
    const result = identify("node1", [node1, node2], {
      nodes: [{ metadata: { name: "node1" }, spec: { providerID: `aws:///${REGION}a/${B_ID}` } }],
    });
    expect(result.kind).toBe("conflict");
  });

  it("with a trusted providerID, a Node named by a template after the claimed instance is a rival", () => {
    const result = identifyInstance("worker-x", csr("worker-x"), [node1], REGION, {
      vpcIds: [CLUSTER_VPC],
      nodeNameTemplates: TAG,
      trustNodeProviderId: true,
      nodes: [
        { metadata: { name: "worker-x" }, spec: { providerID: `aws:///${REGION}a/${A_ID}` } },
        { metadata: { name: "node1" } },
      ],
    });
    expect(result.kind).toBe("conflict");
  });
});

describe("decide with nodeNameTemplates", () => {
  const kubeletCsr = (node: string, dnsNames: string[], ips: string[]): CsrObject => {
    const request = toRequestField(
      createCsrPem({ commonName: `system:node:${node}`, organizations: ["system:nodes"], dnsNames, ips }),
    );
    return { ...csr(node), spec: { ...csr(node).spec, request } };
  };
  const input = (c: CsrObject, instances: Ec2Instance[], templates = TAG, now = NOW_FRESH) => ({
    csr: c,
    parsed: parseCertificateRequest(c.spec.request),
    instances,
    nodes: [],
    cluster: cluster(),
    settings: settings({ nodeNameTemplates: templates }),
    now,
  });

  it("approves node1 for its own name and IP; N is an owned DNS name", () => {
    const decision = decide(input(kubeletCsr("node1", ["node1"], ["192.168.207.7"]), [node1, node2]));
    expect(decision).toMatchObject({ decision: "approve", instanceId: A_ID });
    expect(decision.owned?.dnsNames).toContain("node1");
  });

  it("denies node1 asking for node2's address or name", () => {
    const ip = decide(input(kubeletCsr("node1", ["node1"], ["192.168.207.8"]), [node1, node2]));
    expect(ip.decision).toBe("deny");
    expect(ip.reasons.map((r) => r.code)).toEqual(["IP_NOT_OWNED"]);
    const name = decide(input(kubeletCsr("node1", ["node2"], ["192.168.207.7"]), [node1, node2]));
    expect(name.reasons.map((r) => r.code)).toEqual(["DNS_NOT_OWNED"]);
  });

  it("denies IDENTITY_CONFLICT when two instances carry the name", () => {
    const twin = instance({ id: C_ID, ip: "192.168.207.9", tags: { Name: "node1" } });
    const decision = decide(input(kubeletCsr("node1", ["node1"], ["192.168.207.7"]), [node1, twin]));
    expect(decision.decision).toBe("deny");
    expect(decision.reasons.map((r) => r.code)).toContain("IDENTITY_CONFLICT");
  });

  it("without templates: wait, then INSTANCE_NOT_FOUND (unchanged)", () => {
    const c = kubeletCsr("node1", ["node1"], ["192.168.207.7"]);
    expect(decide(input(c, [node1], [])).decision).toBe("wait");
    const stale = decide(input(c, [node1], [], NOW_STALE));
    expect(stale.reasons.map((r) => r.code)).toContain("INSTANCE_NOT_FOUND");
  });

  it("the facts index picks the instance a template names, and its namesakes", () => {
    const twin = instance({ id: C_ID, ip: "192.168.207.9", tags: { Name: "node1" } });
    const c = kubeletCsr("node1", ["node1"], ["192.168.207.7"]);
    const index = new FactsIndex([node2, node1, twin], [], { nodeNameTemplates: TAG, region: REGION });
    expect(index.instancesFor(c, parseCertificateRequest(c.spec.request)).map((i) => i.InstanceId)).toEqual([
      A_ID,
      C_ID,
    ]);
  });
});
