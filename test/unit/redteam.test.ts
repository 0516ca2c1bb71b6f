// Red-team suite: attacks on decide() and on the PKCS#10 parser, each asserting the SAFE outcome.
// Every request is a real, signed CSR from test/support/csr-factory.ts. Where a test states
// what Go's crypto/x509 (the kube-controller-manager signer) does with the same bytes, that
// was checked against Go 1.26's x509.ParseCertificateRequest during the review; the parser
// must never see fewer (or different) names than Go would copy into the certificate.
import { createPublicKey, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decide } from "../../functions/core/policy.js";
import { parseCertificateRequest } from "../../functions/core/request.js";
import * as v from "valibot";
import {
  CsrSchema,
  NodeSchema,
  problemOf,
  unreadableCsrDecision,
} from "../../functions/sweep/k8s-schemas.js";
import type {
  ClusterFacts,
  ClusterPolicySettings,
  CsrObject,
  Decision,
  Ec2Instance,
  NodeObject,
  ParsedRequest,
  ParseResult,
  PolicyInput,
} from "../../functions/core/types.js";
import {
  OID,
  attributeDer,
  createCsrPem,
  der,
  derToPem,
  extensionDer,
  keyFor,
  kubeletCsrObject,
  toRequestField,
  type CsrSpec,
} from "../support/csr-factory.js";
import {
  A,
  A_DETACHING_IP,
  A_ID,
  A_IP,
  A_IPV6,
  A_NAME,
  A_PREFIX_IP,
  A_SHORT,
  ALL,
  B,
  B_ID,
  B_IP,
  B_NAME,
  C_ID,
  CLUSTER_VPC,
  CREATED,
  DEAD,
  LAUNCHED,
  NOW_FRESH,
  NOW_STALE,
  OTHER_VPC,
  REGION,
  REUSED_IP,
  TWIN,
  TWIN_ID,
  cluster,
  instance,
  ipName,
  node,
  providerId,
  settings,
} from "./policy-fixtures.js";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const A_USER = `system:node:${A_NAME}`;
const NODE_SUBJECT = { commonName: A_USER, organizations: ["system:nodes"] };

interface Attack {
  csr: CsrObject;
  parsed?: ParseResult;
  instances?: Ec2Instance[] | { unavailable: string };
  nodes?: NodeObject[] | { unavailable: string };
  cluster?: Partial<ClusterFacts>;
  settings?: Partial<ClusterPolicySettings>;
  now?: Date;
}

function run(attack: Attack): Decision {
  const input: PolicyInput = {
    csr: attack.csr,
    parsed: attack.parsed ?? parseCertificateRequest(attack.csr.spec.request),
    instances: attack.instances ?? ALL,
    nodes: attack.nodes ?? [],
    cluster: cluster(attack.cluster),
    settings: settings(attack.settings),
    now: attack.now ?? NOW_FRESH,
  };
  return decide(input);
}

function codes(decision: Decision): string[] {
  return decision.reasons.map((reason) => reason.code);
}

/** A kubelet CSR for node `nodeName` with the given SANs (or a custom PEM). */
function csrFor(
  nodeName: string,
  opts: {
    dns?: string[];
    ips?: string[];
    pem?: string;
    extra?: Record<string, string[]>;
    creationTimestamp?: string;
  } = {},
): CsrObject {
  return kubeletCsrObject({
    node: nodeName,
    dnsNames: opts.dns ?? [],
    ips: opts.ips ?? [],
    pem: opts.pem,
    extra: opts.extra,
    creationTimestamp: opts.creationTimestamp ?? CREATED,
  });
}

/** A CSR for node A whose PKCS#10 is built from a raw spec (extra SANs/extensions/attributes). */
function rawCsr(spec: CsrSpec, nodeName = A_NAME): CsrObject {
  return csrFor(nodeName, {
    pem: createCsrPem({ commonName: `system:node:${nodeName}`, organizations: ["system:nodes"], ...spec }),
  });
}

function parseSpec(spec: CsrSpec): ParseResult {
  return parseCertificateRequest(toRequestField(createCsrPem({ ...NODE_SUBJECT, ...spec })));
}

function parsedOk(result: ParseResult): ParsedRequest {
  if (!result.ok) throw new Error(`expected a parsed request, got: ${result.error}`);
  return result.request;
}

const sanExtension = (...names: Buffer[]): Buffer => extensionDer(OID.subjectAltName, der.seq(...names));
const dnsName = (text: string | Buffer): Buffer =>
  der.tlv(0x82, typeof text === "string" ? Buffer.from(text, "latin1") : text);
const ipSan = (bytes: number[]): Buffer => der.tlv(0x87, Buffer.from(bytes));
const B_IP_BYTES = B_IP.split(".").map(Number);

/** Sanity: the baseline attack vehicle is approved, so every denial below is caused by the attack. */
describe("baseline", () => {
  it("a legitimate CSR from A is approved (the attacks below differ from it in one thing)", () => {
    expect(run({ csr: csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] }) }).decision).toBe("approve");
  });
});

// ---------------------------------------------------------------------------------------
// Parser vs Go crypto/x509: the parser must see every name the signer would copy
// ---------------------------------------------------------------------------------------

describe("parser: SANs the signer would copy cannot hide from the policy", () => {
  it("two SAN extensions fail the parse (Go rejects duplicate requested extensions too)", () => {
    const result = parseSpec({ dnsNames: [A_NAME], rawExtensions: [sanExtension(dnsName(B_NAME))] });
    expect(result.ok).toBe(false);
    const decision = run({
      csr: rawCsr({ dnsNames: [A_NAME], rawExtensions: [sanExtension(dnsName(B_NAME))] }),
    });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toContain("MALFORMED_REQUEST");
  });

  it("a second extensionRequest attribute carrying another SAN fails the parse", () => {
    const spec: CsrSpec = {
      dnsNames: [A_NAME],
      rawAttributes: [attributeDer(OID.extensionRequest, der.seq(sanExtension(dnsName(B_NAME))))],
    };
    expect(parseSpec(spec).ok).toBe(false);
    expect(run({ csr: rawCsr(spec) }).decision).toBe("deny");
  });

  it("an extensionRequest with two values fails the parse (Go would read only the first)", () => {
    const spec: CsrSpec = {
      rawAttributes: [
        attributeDer(
          OID.extensionRequest,
          der.seq(sanExtension(dnsName(A_NAME))),
          der.seq(sanExtension(dnsName(B_NAME))),
        ),
      ],
    };
    expect(parseSpec(spec).ok).toBe(false);
    expect(run({ csr: rawCsr(spec) }).decision).toBe("deny");
  });

  it("a SAN in a critical extension is still seen and checked", () => {
    const spec: CsrSpec = {
      rawExtensions: [extensionDer(OID.subjectAltName, der.seq(dnsName(B_NAME)), true)],
    };
    const request = parsedOk(parseSpec(spec));
    expect(request.sans).toEqual([{ type: "dns", value: B_NAME }]);
    expect(request.extensions).toEqual([{ oid: OID.subjectAltName, critical: true }]);
    const decision = run({ csr: rawCsr(spec) });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toEqual(["DNS_NOT_OWNED"]);
  });

  it("critical explicitly encoded as FALSE is still read as the SAN extension", () => {
    const spec: CsrSpec = {
      rawExtensions: [
        der.seq(der.oid(OID.subjectAltName), der.bool(false), der.octet(der.seq(ipSan(B_IP_BYTES)))),
      ],
    };
    expect(parsedOk(parseSpec(spec)).sans).toEqual([{ type: "ip", value: B_IP, version: 4 }]);
    expect(codes(run({ csr: rawCsr(spec) }))).toEqual(["IP_NOT_OWNED"]);
  });

  it("a SAN extension with trailing bytes fails the parse (Go would ignore the tail)", () => {
    const spec: CsrSpec = {
      rawExtensions: [
        extensionDer(OID.subjectAltName, Buffer.concat([der.seq(dnsName(A_NAME)), dnsName(B_NAME)])),
      ],
    };
    expect(parseSpec(spec).ok).toBe(false);
  });

  it("a non-minimally encoded SAN OID fails the parse instead of being skipped as 'another extension'", () => {
    const spec: CsrSpec = {
      dnsNames: [A_NAME],
      rawExtensions: [
        der.seq(der.tlv(0x06, Buffer.from([0x55, 0x1d, 0x80, 0x11])), der.octet(der.seq(dnsName(B_NAME)))),
      ],
    };
    expect(parseSpec(spec).ok).toBe(false);
  });

  it("a SAN hidden in Microsoft's msExtReq attribute is ignored, exactly as Go ignores it", () => {
    // Go only reads extensionRequest (1.2.840.113549.1.9.14), so B's name never reaches the
    // certificate; the parser reports what Go copies: A's name only.
    const spec: CsrSpec = {
      dnsNames: [A_NAME],
      rawAttributes: [attributeDer("1.3.6.1.4.1.311.2.1.14", der.seq(sanExtension(dnsName(B_NAME))))],
    };
    expect(parsedOk(parseSpec(spec)).sans).toEqual([{ type: "dns", value: A_NAME }]);
  });

  it("a SAN only in msExtReq leaves the CSR without SANs: FORBIDDEN_SAN", () => {
    const spec: CsrSpec = {
      rawAttributes: [attributeDer("1.3.6.1.4.1.311.2.1.14", der.seq(sanExtension(dnsName(A_NAME))))],
    };
    const decision = run({ csr: rawCsr(spec) });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toContain("FORBIDDEN_SAN");
  });

  it.each([
    ["constructed [2] (Go skips it)", der.tlv(0xa2, dnsName("x.example"))],
    ["universal UTF8String", der.utf8("x.example")],
    ["application class [2]", der.tlv(0x42, Buffer.from("x.example"))],
    ["private class [2]", der.tlv(0xc2, Buffer.from("x.example"))],
  ])("an unexpected GeneralName tag fails the parse: %s", (_label, raw) => {
    const result = parseSpec({ dnsNames: [A_NAME], rawSans: [raw] });
    expect(result.ok).toBe(false);
  });

  it.each([
    ["registeredID", der.tlv(0x88, Buffer.from([0x2a, 0x03]))],
    ["x400Address", der.tlv(0xa3, Buffer.alloc(0))],
    ["directoryName", der.tlv(0xa4, der.seq(der.set(der.seq(der.oid(OID.commonName), der.utf8("x")))))],
    ["ediPartyName", der.tlv(0xa5, der.tlv(0xa1, der.utf8("x")))],
  ])("a %s SAN is reported and denied as FORBIDDEN_SAN", (_label, raw) => {
    const decision = run({ csr: rawCsr({ dnsNames: [A_NAME], rawSans: [raw] }) });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toEqual(["FORBIDDEN_SAN"]);
  });

  it.each([
    ["email", { emails: ["root@example.com"] }],
    ["URI", { uris: ["spiffe://cluster.local/ns/kube-system/sa/admin"] }],
    ["otherName UPN", { otherName: true }],
  ])("an %s SAN next to owned names is FORBIDDEN_SAN", (_label, extra) => {
    const decision = run({ csr: rawCsr({ dnsNames: [A_NAME], ips: [A_IP], ...extra }) });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toEqual(["FORBIDDEN_SAN"]);
  });

  it.each([
    ["0 bytes", []],
    ["5 bytes", [...B_IP_BYTES, 0]],
    ["8 bytes (address + mask, name-constraint style)", [...B_IP_BYTES, 255, 255, 255, 0]],
    ["15 bytes", Array<number>(15).fill(0)],
  ])("an IP SAN of %s fails the parse (Go rejects it too)", (_label, bytes) => {
    expect(parseSpec({ rawSans: [ipSan(bytes)] }).ok).toBe(false);
  });

  it("a non-ASCII DNS SAN (Kelvin sign that lower-cases to 'k') fails the parse", () => {
    expect(parseSpec({ rawSans: [dnsName(Buffer.from("\u212a8s.example", "utf8"))] }).ok).toBe(false);
  });

  it("a BMPString CN with a NUL terminator (Go strips it) does not equal the requester", () => {
    // Go reads "system:node:<A>"; the parser keeps the NUL, so the CN check fails: stricter.
    const key = keyFor({ type: "ecdsa", curve: "P-256" });
    const spki = Buffer.from(createPublicKey(key).export({ type: "spki", format: "der" }));
    const text = `${A_USER}\0`;
    const bmp = Buffer.alloc(text.length * 2);
    for (let i = 0; i < text.length; i++) bmp.writeUInt16BE(text.charCodeAt(i), i * 2);
    const subject = der.seq(
      der.set(der.seq(der.oid(OID.organization), der.utf8("system:nodes"))),
      der.set(der.seq(der.oid(OID.commonName), der.tlv(0x1e, bmp))),
    );
    const attributes = der.tlv(
      0xa0,
      attributeDer(OID.extensionRequest, der.seq(sanExtension(dnsName(A_NAME), ipSan([10, 0, 1, 70])))),
    );
    const info = der.seq(der.int0(), subject, spki, attributes);
    const pem = derToPem(
      der.seq(info, der.seq(der.oid("1.2.840.10045.4.3.2")), der.bitString(sign("sha256", info, key))),
    );
    const decision = run({ csr: csrFor(A_NAME, { pem }) });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toEqual(["SUBJECT_MISMATCH"]);
  });

  it("two CNs (Go keeps the last) are SUBJECT_MISMATCH", () => {
    const pem = createCsrPem({
      organizations: ["system:nodes"],
      extraSubject: [{ oid: OID.commonName, value: `system:node:${B_NAME}` }],
      commonName: A_USER,
      dnsNames: [A_NAME],
    });
    expect(codes(run({ csr: csrFor(A_NAME, { pem }) }))).toEqual(["SUBJECT_MISMATCH"]);
  });

  it("an extra O=system:masters is SUBJECT_MISMATCH", () => {
    const pem = createCsrPem({
      commonName: A_USER,
      organizations: ["system:nodes", "system:masters"],
      dnsNames: [A_NAME],
    });
    expect(codes(run({ csr: csrFor(A_NAME, { pem }) }))).toEqual(["SUBJECT_MISMATCH"]);
  });

  it("a second PEM block, or text before the block (Go's pem.Decode skips it), fails the parse", () => {
    const pem = createCsrPem({ ...NODE_SUBJECT, dnsNames: [A_NAME] });
    const other = createCsrPem({ ...NODE_SUBJECT, dnsNames: [B_NAME] });
    expect(parseCertificateRequest(toRequestField(`${pem}${other}`)).ok).toBe(false);
    expect(parseCertificateRequest(toRequestField(`${other.replace(/-----.*-----/g, "")}\n${pem}`)).ok).toBe(
      false,
    );
    expect(parseCertificateRequest(toRequestField(`junk\n${pem}`)).ok).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------
// IP SANs
// ---------------------------------------------------------------------------------------

describe("IP SANs: spellings and addresses the instance does not own", () => {
  it("an IPv4-mapped IPv6 SAN of another node is denied (Go writes it as the 4-byte IPv4 address)", () => {
    const request = parsedOk(parseSpec({ ips: [`::ffff:${B_IP}`] }));
    expect(request.sans).toEqual([{ type: "ip", value: `::ffff:${B_IP}`, version: 6 }]);
    expect(codes(run({ csr: csrFor(A_NAME, { ips: [`::ffff:${B_IP}`] }) }))).toEqual(["IP_NOT_OWNED"]);
  });

  it("an IPv4-mapped spelling of the instance's OWN address is still denied (conservative)", () => {
    expect(codes(run({ csr: csrFor(A_NAME, { ips: [`::ffff:${A_IP}`] }) }))).toEqual(["IP_NOT_OWNED"]);
  });

  it("an IPv4-compatible (::a.b.c.d) spelling is denied", () => {
    expect(codes(run({ csr: csrFor(A_NAME, { ips: [`::${A_IP}`] }) }))).toEqual(["IP_NOT_OWNED"]);
  });

  it.each([
    ["another node's IP", B_IP],
    ["loopback", "127.0.0.1"],
    ["IPv6 loopback", "::1"],
    ["the unspecified address", "0.0.0.0"],
    ["IMDS", "169.254.169.254"],
    ["IMDS over IPv6", "fd00:ec2::254"],
    ["a pod IP from A's delegated IPv4 prefix", A_PREFIX_IP],
    ["an IP from A's delegated IPv6 prefix", "2a05:d018:1:2:abcd::5"],
    ["the IP of A's detaching ENI", A_DETACHING_IP],
    ["the terminated instance's old IP", REUSED_IP],
    ["a NAT64 spelling of A's IP", `64:ff9b::${A_IP}`],
    ["the broadcast address", "255.255.255.255"],
  ])("%s is IP_NOT_OWNED", (_label, ip) => {
    const decision = run({ csr: csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP, ip] }) });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toEqual(["IP_NOT_OWNED"]);
  });

  it("A's IPv6 address in any spelling is owned (compared as parsed addresses)", () => {
    expect(run({ csr: csrFor(A_NAME, { ips: ["2a05:d018:1:2:0:0:0:70"] }) }).decision).toBe("approve");
    expect(A_IPV6).toBe("2a05:d018:1:2::70");
  });

  it("EC2 data with leading-zero IPv4 text is never owned (no octal reading of 010.000.002.011)", () => {
    const weird = instance({ id: A_ID, ip: A_IP, noInterfaces: true });
    weird.PrivateIpAddress = "010.000.001.070";
    const decision = run({ csr: csrFor(A_NAME, { ips: ["8.0.1.56"] }), instances: [weird] });
    expect(decision.decision).toBe("deny");
    expect(decision.owned?.ips).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// DNS SANs
// ---------------------------------------------------------------------------------------

describe("DNS SANs: tricks on names the instance does not own", () => {
  it.each([
    ["another node's private name", B_NAME],
    ["another node's short name", "ip-10-0-2-9"],
    ["B's instance ID", B_ID],
    ["B's resource name", `${B_ID}.${REGION}.compute.internal`],
    ["a wildcard over the region", `*.${REGION}.compute.internal`],
    ["a wildcard label inside A's name", `*-10-0-1-70.${REGION}.compute.internal`],
    ["A's name as a prefix", `${A_NAME}.evil.example`],
    ["A's name as a suffix", `evil.${A_NAME}`],
    ["A's name with an embedded NUL", `${A_NAME}\0.evil.example`],
    ["A's name with two trailing dots", `${A_NAME}..`],
    ["A's name with a trailing space", `${A_NAME} `],
    ["A's name with a leading dot", `.${A_NAME}`],
    ["an empty name", ""],
    ["a lone dot", "."],
    ["A's IP written as a DNS name", A_IP],
    ["the API server's service name", "kubernetes.default.svc"],
    ["localhost", "localhost"],
    ["a punycode look-alike", `xn--ip-10-0-1-70-abc.${REGION}.compute.internal`],
    ["A's resource name in another region", `${A_ID}.us-west-2.compute.internal`],
    ["A's us-east-1 resource name outside us-east-1", `${A_ID}.ec2.internal`],
    ["A's name with backslash-escaped dot", `ip-10-0-1-70\\.${REGION}.compute.internal`],
  ])("%s is DNS_NOT_OWNED", (_label, name) => {
    const decision = run({ csr: csrFor(A_NAME, { dns: [A_NAME, name], ips: [A_IP] }) });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toEqual(["DNS_NOT_OWNED"]);
  });

  it("upper case and one trailing dot are the same name (DNS is case-insensitive): approved", () => {
    const decision = run({ csr: csrFor(A_NAME, { dns: [`${A_NAME.toUpperCase()}.`], ips: [A_IP] }) });
    expect(decision.decision).toBe("approve");
  });

  it("an extraDnsNames wildcard template never makes a wildcard SAN acceptable", () => {
    const decision = run({
      csr: csrFor(A_NAME, { dns: [`*.${A_SHORT}.corp.example.com`] }),
      settings: { extraDnsNames: ["*.{{shortName}}.corp.example.com"] },
    });
    expect(codes(decision)).toEqual(["DNS_NOT_OWNED"]);
  });

  it("an extraDnsNames template expands for A only: B's alias is not A's", () => {
    const extraDnsNames = ["{{shortName}}.corp.example.com"];
    expect(
      run({ csr: csrFor(A_NAME, { dns: [`${A_SHORT}.corp.example.com`] }), settings: { extraDnsNames } })
        .decision,
    ).toBe("approve");
    expect(
      codes(
        run({ csr: csrFor(A_NAME, { dns: ["ip-10-0-2-9.corp.example.com"] }), settings: { extraDnsNames } }),
      ),
    ).toEqual(["DNS_NOT_OWNED"]);
  });

  it.each([
    ["an unknown placeholder", "{{shortName}}.{{tenant}}.corp.example.com", `${A_SHORT}..corp.example.com`],
    ["a prototype key as placeholder", "{{constructor}}.corp.example.com", ".corp.example.com"],
    ["a toString placeholder", "{{toString}}.corp.example.com", ".corp.example.com"],
    ["a dangling brace", "{{shortName}.corp.example.com", `${A_SHORT}}.corp.example.com`],
  ])("a template with %s grants nothing", (_label, template, requested) => {
    const decision = run({
      csr: csrFor(A_NAME, { dns: [requested] }),
      settings: { extraDnsNames: [template] },
    });
    expect(decision.decision).not.toBe("approve");
  });
});

// ---------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------

describe("identity: who is node N", () => {
  it("a node asking for another node's SANs under its own name is denied", () => {
    expect(codes(run({ csr: csrFor(A_NAME, { dns: [B_NAME], ips: [B_IP] }) }))).toEqual([
      "IP_NOT_OWNED",
      "DNS_NOT_OWNED",
    ]);
  });

  it("N that is a prefix of a real name (ip-10-0-1-7 vs ip-10-0-1-70) identifies nothing", () => {
    const decision = run({ csr: csrFor("ip-10-0-1-7", { dns: ["ip-10-0-1-7"], ips: [A_IP] }) });
    expect(decision.decision).toBe("wait");
    expect(codes(decision)).toEqual(["INSTANCE_NOT_VISIBLE"]);
  });

  it.each([
    ["a truncated private name", `ip-10-0-1-70.${REGION}`],
    ["a private name with an extra label", `${A_NAME}.evil`],
    ["A's resource name for another region", `${A_ID}.us-west-2.compute.internal`],
    ["A's us-east-1 resource name outside us-east-1", `${A_ID}.ec2.internal`],
    ["a short instance ID prefix", A_ID.slice(0, 10)],
    ["the instance ID with a trailing label", `${A_ID}.evil`],
  ])("N = %s identifies nothing, and is denied after the grace period", (_label, nodeName) => {
    const csr = csrFor(nodeName, { dns: [nodeName], ips: [A_IP] });
    expect(run({ csr }).decision).toBe("wait");
    const stale = run({ csr, now: NOW_STALE });
    expect(stale.decision).toBe("deny");
    expect(codes(stale)[0]).toBe("INSTANCE_NOT_FOUND");
  });

  it("N in upper case with a trailing dot is A (case-insensitive), but B's SANs stay B's", () => {
    const upper = `${A_NAME.toUpperCase()}.`;
    expect(run({ csr: csrFor(upper, { dns: [upper], ips: [A_IP] }) }).decision).toBe("approve");
    expect(codes(run({ csr: csrFor(upper, { ips: [B_IP] }) }))).toEqual(["IP_NOT_OWNED"]);
  });

  it("a short name live in two cluster VPCs is an IDENTITY_CONFLICT, never a pick", () => {
    const decision = run({
      csr: csrFor(A_SHORT, { dns: [A_SHORT], ips: [A_IP] }),
      instances: [A, TWIN],
      cluster: { vpcIds: [CLUSTER_VPC, OTHER_VPC] },
    });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toEqual(["IDENTITY_CONFLICT"]);
  });

  it("a name whose only live match is in another VPC is FOREIGN_INSTANCE", () => {
    const decision = run({ csr: csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] }), instances: [TWIN] });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toEqual(["FOREIGN_INSTANCE"]);
  });

  it("with no cluster VPC configured, a name on two VPCs is a conflict and one match waits", () => {
    const csr = csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] });
    expect(codes(run({ csr, instances: [A, TWIN], cluster: { vpcIds: [] } }))).toEqual(["IDENTITY_CONFLICT"]);
    const single = run({ csr, instances: [A], cluster: { vpcIds: [] } });
    expect(single.decision).toBe("wait");
    expect(codes(single)).toEqual(["FACTS_UNAVAILABLE"]);
  });

  it.each(["stopped", "stopping", "shutting-down", "terminated", "Running", "RUNNING", "", "unknown"])(
    "an instance in state %j lends no identity",
    (state) => {
      const ghost = instance({ id: A_ID, ip: A_IP, state });
      const decision = run({ csr: csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] }), instances: [ghost] });
      expect(decision.decision).toBe("wait");
      expect(codes(decision)).toEqual(["INSTANCE_NOT_VISIBLE"]);
    },
  );

  it("a CSR left by a terminated instance is not approved for the new owner of its IP and name", () => {
    // DEAD (terminated) and C (running) share REUSED_IP; the CSR was created before C launched.
    const reusedName = ipName(REUSED_IP);
    const c = instance({ id: C_ID, ip: REUSED_IP, launch: "2026-01-01T01:00:00Z" });
    const decision = run({
      csr: csrFor(reusedName, { dns: [reusedName], ips: [REUSED_IP] }),
      instances: [DEAD, c],
      now: new Date("2026-01-01T01:01:00Z"),
    });
    expect(decision.decision).toBe("deny");
    expect(codes(decision)).toEqual(["CSR_PREDATES_INSTANCE"]);
  });

  it("a pending instance is never approved, and past grace is denied", () => {
    const pending = instance({ id: A_ID, ip: A_IP, state: "pending" });
    const csr = csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] });
    expect(codes(run({ csr, instances: [pending] }))).toEqual(["INSTANCE_PENDING"]);
    expect(codes(run({ csr, instances: [pending], now: NOW_STALE }))).toEqual(["INSTANCE_NOT_RUNNING"]);
  });

  it("a session name on a SELF-MANAGED cluster is ignored (its meaning depends on the authenticator)", () => {
    const csr = csrFor("custom-node", { dns: ["custom-node"], ips: [B_IP], extra: { sessionName: [B_ID] } });
    const decision = run({ csr });
    expect(decision.decision).toBe("wait");
    expect(codes(decision)).toEqual(["INSTANCE_NOT_VISIBLE"]);
  });

  it("on EKS a session name naming another instance than N is IDENTITY_CONFLICT", () => {
    const csr = csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP], extra: { sessionName: [B_ID] } });
    expect(codes(run({ csr, cluster: { kind: "eks" } }))).toEqual(["IDENTITY_CONFLICT"]);
  });

  it("on EKS a session name for the other-VPC twin conflicts with the in-cluster name match", () => {
    const csr = csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP], extra: { sessionName: [TWIN_ID] } });
    expect(codes(run({ csr, instances: [A, TWIN], cluster: { kind: "eks" } }))).toEqual([
      "IDENTITY_CONFLICT",
    ]);
  });

  it("on EKS a session name alone identifies the instance, but N is then NOT an owned name", () => {
    const csr = csrFor("custom-node", { dns: ["custom-node"], ips: [B_IP], extra: { sessionName: [B_ID] } });
    expect(codes(run({ csr, cluster: { kind: "eks" } }))).toEqual(["DNS_NOT_OWNED"]);
  });

  it("on EKS {{nodeName}} templates do not expand when only the session name identified the instance", () => {
    const csr = csrFor("custom-node", {
      dns: ["custom-node.corp.example.com"],
      extra: { sessionName: [B_ID] },
    });
    const decision = run({
      csr,
      cluster: { kind: "eks" },
      settings: { extraDnsNames: ["{{nodeName}}.corp.example.com"] },
    });
    expect(codes(decision)).toEqual(["DNS_NOT_OWNED"]);
  });

  it("on EKS a session-name identification is still vetoed by a conflicting providerID", () => {
    const csr = csrFor("custom-node", { ips: [B_IP], extra: { sessionName: [B_ID] } });
    const decision = run({ csr, cluster: { kind: "eks" }, nodes: [node("custom-node", providerId(A_ID))] });
    expect(codes(decision)).toEqual(["IDENTITY_CONFLICT"]);
  });

  it("on EKS two session names identify nothing on their own", () => {
    const csr = csrFor("custom-node", { ips: [B_IP], extra: { sessionName: [B_ID, B_ID] } });
    expect(run({ csr, cluster: { kind: "eks" } }).decision).toBe("wait");
  });

  it("on EKS a session name for a terminated instance identifies nothing", () => {
    const csr = csrFor("custom-node", { ips: [REUSED_IP], extra: { sessionName: [DEAD.InstanceId ?? ""] } });
    const decision = run({ csr, cluster: { kind: "eks" } });
    expect(codes(decision)).toEqual(["INSTANCE_NOT_VISIBLE"]);
    // Because the instance it names is terminated, not because the name is no instance ID.
    expect(decision.reasons[0]?.message).toContain(
      `the IAM session name says ${DEAD.InstanceId}, which is not a pending or running instance`,
    );
  });

  it("a providerID naming another instance vetoes a name match (IDENTITY_CONFLICT)", () => {
    const csr = csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] });
    expect(codes(run({ csr, nodes: [node(A_NAME, providerId(B_ID))] }))).toEqual(["IDENTITY_CONFLICT"]);
    // Also when the Node object's name differs only in case from N.
    expect(codes(run({ csr, nodes: [node(A_NAME.toUpperCase(), providerId(B_ID))] }))).toEqual([
      "IDENTITY_CONFLICT",
    ]);
    // Also when trustNodeProviderId is on.
    expect(
      codes(run({ csr, nodes: [node(A_NAME, providerId(B_ID))], settings: { trustNodeProviderId: true } })),
    ).toEqual(["IDENTITY_CONFLICT"]);
  });

  it("a providerID alone does not identify an instance unless trusted", () => {
    const csr = csrFor("custom-node", { ips: [B_IP] });
    const decision = run({ csr, nodes: [node("custom-node", providerId(B_ID))] });
    expect(decision.decision).toBe("wait");
    expect(run({ csr, nodes: [node("custom-node", providerId(B_ID))], now: NOW_STALE }).decision).toBe(
      "deny",
    );
  });

  it("with trustNodeProviderId, two Node objects for N with different providerIDs identify nothing", () => {
    const csr = csrFor("custom-node", { ips: [B_IP] });
    const decision = run({
      csr,
      nodes: [node("custom-node", providerId(B_ID)), node("custom-node", providerId(A_ID))],
      settings: { trustNodeProviderId: true },
    });
    expect(decision.decision).toBe("wait");
  });

  it("with trustNodeProviderId, a providerID-identified node does not own its own (unverified) name", () => {
    const csr = csrFor("custom-node", { dns: ["custom-node"], ips: [B_IP] });
    const decision = run({
      csr,
      nodes: [node("custom-node", providerId(B_ID))],
      settings: { trustNodeProviderId: true },
    });
    expect(codes(decision)).toEqual(["DNS_NOT_OWNED"]);
  });
});

// ---------------------------------------------------------------------------------------
// Ownership and membership
// ---------------------------------------------------------------------------------------

describe("ownership and membership", () => {
  it.each(["in-use", "attaching", "detaching", "available", "In-Use", "", undefined])(
    "an ENI with Status %j lends its IPs and names only when in-use",
    (status) => {
      const eniIp = "10.0.7.7";
      const a = instance({
        id: A_ID,
        ip: A_IP,
        extraEnis: [
          {
            NetworkInterfaceId: "eni-0a0000000000000ff",
            ...(status === undefined ? {} : { Status: status }),
            VpcId: CLUSTER_VPC,
            PrivateDnsName: ipName(eniIp),
            PrivateIpAddress: eniIp,
            PrivateIpAddresses: [{ PrivateIpAddress: eniIp, PrivateDnsName: ipName(eniIp), Primary: true }],
            Association: {
              PublicIp: "54.9.9.9",
              PublicDnsName: "ec2-54-9-9-9.eu-west-1.compute.amazonaws.com",
            },
            Ipv6Addresses: [{ Ipv6Address: "2a05:d018:1:2::77" }],
          },
        ],
      });
      for (const attack of [
        { ips: [eniIp] },
        { ips: ["54.9.9.9"] },
        { ips: ["2a05:d018:1:2::77"] },
        { dns: [ipName(eniIp)] },
        { dns: ["ec2-54-9-9-9.eu-west-1.compute.amazonaws.com"] },
      ]) {
        const decision = run({ csr: csrFor(A_NAME, attack), instances: [a, B] });
        // The in-use row is the control: the same SANs are approved while the ENI is attached.
        expect(decision.decision, JSON.stringify(attack)).toBe(status === "in-use" ? "approve" : "deny");
      }
    },
  );

  it("the instance-level PrivateIpAddress is not owned when the interfaces say otherwise", () => {
    const a = instance({ id: A_ID, ip: A_IP });
    a.PrivateIpAddress = B_IP; // inconsistent record: only in-use interfaces count
    expect(codes(run({ csr: csrFor(A_NAME, { ips: [B_IP] }), instances: [a] }))).toEqual(["IP_NOT_OWNED"]);
  });

  it("an instance in the cluster VPC without the configured cluster tag is FOREIGN_INSTANCE", () => {
    const csr = csrFor(B_NAME, { dns: [B_NAME], ips: [B_IP] });
    const untagged = instance({ id: B_ID, ip: B_IP });
    expect(
      codes(
        run({ csr, instances: [untagged], settings: { clusterTag: { key: "kubernetes.io/cluster/prod" } } }),
      ),
    ).toEqual(["FOREIGN_INSTANCE"]);
    const otherCluster = instance({ id: B_ID, ip: B_IP, tags: { "kubernetes.io/cluster/staging": "owned" } });
    expect(
      codes(
        run({
          csr,
          instances: [otherCluster],
          settings: { clusterTag: { key: "kubernetes.io/cluster/prod" } },
        }),
      ),
    ).toEqual(["FOREIGN_INSTANCE"]);
    const wrongValue = instance({ id: B_ID, ip: B_IP, tags: { "kubernetes.io/cluster/prod": "shared" } });
    expect(
      codes(
        run({
          csr,
          instances: [wrongValue],
          settings: { clusterTag: { key: "kubernetes.io/cluster/prod", values: ["owned"] } },
        }),
      ),
    ).toEqual(["FOREIGN_INSTANCE"]);
    const caseTrick = instance({ id: B_ID, ip: B_IP, tags: { "Kubernetes.io/cluster/prod": "owned" } });
    expect(
      codes(
        run({
          csr,
          instances: [caseTrick],
          settings: { clusterTag: { key: "kubernetes.io/cluster/prod" } },
        }),
      ),
    ).toEqual(["FOREIGN_INSTANCE"]);
  });

  it("an instance without a VpcId and with ENIs in two VPCs cannot prove membership: wait", () => {
    const a = instance({
      id: A_ID,
      ip: A_IP,
      extraEnis: [
        {
          NetworkInterfaceId: "eni-0a00000000000000e",
          Status: "in-use",
          VpcId: OTHER_VPC,
          PrivateIpAddress: "10.9.0.1",
          PrivateIpAddresses: [{ PrivateIpAddress: "10.9.0.1", Primary: true }],
        },
      ],
    });
    delete a.VpcId;
    const decision = run({ csr: csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] }), instances: [a] });
    expect(decision.decision).toBe("wait");
    expect(codes(decision)).toEqual(["FACTS_UNAVAILABLE"]);
  });

  // FINDING (see report): a template without an instance-specific placeholder expands to the
  // same name for every instance, so any node can obtain a certificate for it and impersonate
  // whichever host that name denotes (e.g. a literal "ip-10-0-2-9.corp.example.com" = B).
  // SPEC §4 says templates are "expanded for this instance only".
  it.each([
    ["a literal name", "ip-10-0-2-9.corp.example.com", "ip-10-0-2-9.corp.example.com"],
    ["a {{region}}-only template", "nodes.{{region}}.corp.example.com", `nodes.${REGION}.corp.example.com`],
  ])(
    "an extraDnsNames template with no per-instance placeholder grants nothing: %s",
    (_label, template, requested) => {
      const decision = run({
        csr: csrFor(A_NAME, { dns: [A_NAME, requested], ips: [A_IP] }),
        settings: { extraDnsNames: ["{{shortName}}.corp.example.com", template] },
      });
      expect(decision.decision).toBe("deny");
      expect(codes(decision)).toEqual(["DNS_NOT_OWNED"]);
    },
  );
});

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

describe("time: grace and launch tolerance", () => {
  const launchedMs = Date.parse(LAUNCHED);
  const at = (offsetSeconds: number): string => new Date(launchedMs + offsetSeconds * 1000).toISOString();

  it("a CSR created 301 s before launch is CSR_PREDATES_INSTANCE; 300 s is within tolerance", () => {
    const early = csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP], creationTimestamp: at(-301) });
    expect(codes(run({ csr: early }))).toEqual(["CSR_PREDATES_INSTANCE"]);
    const edge = csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP], creationTimestamp: at(-300) });
    expect(run({ csr: edge }).decision).toBe("approve");
  });

  // FINDING (see report): the 300 s tolerance is for clock skew, but it also admits a CSR that
  // the PREVIOUS holder of a reused IP/name created in its last minutes. DEAD (terminated, so
  // invisible to identity) held REUSED_IP; its kubelet (or an attacker on it) created this CSR
  // 120 s before C launched with the same IP. The private key is DEAD's, yet the CSR is approved
  // for C's IP and name. With a predecessor visible in the facts, the tolerance should not apply.
  it("a CSR created by the previous holder of a reused IP, within 300 s before the new launch, is not approved", () => {
    const reusedName = ipName(REUSED_IP);
    const c = instance({ id: C_ID, ip: REUSED_IP, launch: "2026-01-01T01:00:00Z" });
    const csr = csrFor(reusedName, {
      dns: [reusedName],
      ips: [REUSED_IP],
      creationTimestamp: "2026-01-01T00:58:00Z",
    });
    const decision = run({ csr, instances: [DEAD, c], now: new Date("2026-01-01T01:01:00Z") });
    expect(decision.decision).not.toBe("approve");
  });

  it("a timezone offset cannot shift a predating CSR into tolerance", () => {
    // 00:04:00+01:00 is 23:04Z the day before: an hour before launch.
    const csr = csrFor(A_NAME, {
      dns: [A_NAME],
      ips: [A_IP],
      creationTimestamp: "2026-01-01T00:04:00+01:00",
    });
    expect(codes(run({ csr }))).toEqual(["CSR_PREDATES_INSTANCE"]);
  });

  it("a missing or unreadable creationTimestamp never approves and never denies for a missing instance", () => {
    for (const timestamp of [undefined, "yesterday", "2026-01-01", "1767226200", "2026-01-01T00:10:00"]) {
      const csr = csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] });
      if (timestamp === undefined) delete csr.metadata.creationTimestamp;
      else csr.metadata.creationTimestamp = timestamp;
      const withInstance = run({ csr, now: NOW_STALE });
      expect(withInstance.decision, String(timestamp)).not.toBe("approve");
      const missing = run({ csr, instances: [], now: new Date("2030-01-01T00:00:00Z") });
      expect(missing.decision, String(timestamp)).toBe("wait");
    }
  });

  it("a missing or unreadable LaunchTime waits", () => {
    for (const launch of [undefined, "", "soon", new Date(Number.NaN)]) {
      const a = instance({ id: A_ID, ip: A_IP });
      if (launch === undefined) delete a.LaunchTime;
      else a.LaunchTime = launch;
      const decision = run({ csr: csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] }), instances: [a] });
      expect(decision.decision, String(launch)).toBe("wait");
      expect(codes(decision)).toEqual(["FACTS_UNAVAILABLE"]);
    }
  });

  it("a CSR from the future (clock skew) is never denied for a missing instance", () => {
    const csr = csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP], creationTimestamp: "2026-06-01T00:00:00Z" });
    expect(run({ csr, instances: [], now: NOW_STALE }).decision).toBe("wait");
  });

  it("grace is strict: 900 s waits, 901 s denies", () => {
    const csr = csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] });
    const created = Date.parse(CREATED);
    expect(run({ csr, instances: [], now: new Date(created + 900_000) }).decision).toBe("wait");
    expect(run({ csr, instances: [], now: new Date(created + 901_000) }).decision).toBe("deny");
  });
});

// ---------------------------------------------------------------------------------------
// Error paths: unavailable facts never approve or deny
// ---------------------------------------------------------------------------------------

describe("error paths", () => {
  const hostile = (): CsrObject => csrFor(A_NAME, { dns: [B_NAME], ips: [B_IP] });
  const good = (): CsrObject => csrFor(A_NAME, { dns: [A_NAME], ips: [A_IP] });

  it.each([
    ["instances unavailable", { instances: { unavailable: "Throttling" } }],
    ["nodes unavailable", { nodes: { unavailable: "503" } }],
    [
      "two differing records of the same instance",
      { instances: [A, { ...A, State: { Name: "stopping" } }, B] },
    ],
    [
      "the same instance under two spellings of its ID",
      { instances: [A, { ...A, InstanceId: A_ID.toUpperCase() }] },
    ],
  ] as [string, Partial<Attack>][])("%s: wait, for a good CSR and for a hostile one", (_label, patch) => {
    for (const csr of [good(), hostile()]) {
      const decision = run({ ...patch, csr } as Attack);
      expect(decision.decision).toBe("wait");
      expect(codes(decision)).toContain("FACTS_UNAVAILABLE");
    }
  });

  it("a status of the wrong shape waits instead of evaluating (it might already be decided)", () => {
    // Refused at the edge (sweep/k8s-schemas.ts), which gives the CSR its wait.
    const csr = { ...good(), status: { conditions: { type: "Denied" } } };
    const checked = v.safeParse(CsrSchema, csr);
    expect(checked.success).toBe(false);
    if (checked.success) return;
    expect(unreadableCsrDecision(csr.metadata.name, problemOf(checked.issues))).toMatchObject({
      decision: "wait",
      reasons: [{ code: "FACTS_UNAVAILABLE" }],
    });
  });

  it.each([
    ["an unreadable Node object", { metadata: { name: A_NAME }, spec: { providerID: 7 } }],
    ["a Node object without a name", { metadata: {}, spec: { providerID: providerId(B_ID) } }],
  ])("%s is refused at the edge: the Node list is unavailable, so CSRs wait", (_label, node) => {
    expect(v.safeParse(NodeSchema, node).success).toBe(false);
    for (const csr of [good(), hostile()]) {
      const decision = run({
        nodes: { unavailable: "a Node object in the list is unreadable" },
        csr,
      } as Attack);
      expect(decision.decision).toBe("wait");
      expect(codes(decision)).toContain("FACTS_UNAVAILABLE");
    }
  });

  it("any decided condition, whatever its status, is skipped", () => {
    for (const type of ["Approved", "Denied", "Failed"]) {
      const csr = good();
      csr.status = { conditions: [{ type, status: "False" }] };
      expect(run({ csr }).decision).toBe("skip");
    }
  });

  it("a parse result forged as valid still has to pass ownership", () => {
    const parsed: ParseResult = {
      ok: true,
      request: {
        subject: { commonNames: [A_USER], organizations: ["system:nodes"], other: [] },
        sans: [{ type: "ip", value: B_IP, version: 4 }],
        extensions: [],
        publicKey: { algorithm: "ecdsa", curve: "P-256" },
        signatureAlgorithm: "ecdsa-with-SHA256",
        signatureValid: true,
      },
    };
    expect(codes(run({ csr: good(), parsed }))).toEqual(["IP_NOT_OWNED"]);
  });

  it("a parsed IP SAN whose declared family disagrees with its text is not owned", () => {
    const parsed: ParseResult = {
      ok: true,
      request: {
        ...parsedOk(parseCertificateRequest(good().spec.request)),
        sans: [{ type: "ip", value: A_IP, version: 6 }],
      },
    };
    expect(codes(run({ csr: good(), parsed }))).toEqual(["IP_NOT_OWNED"]);
  });
});
