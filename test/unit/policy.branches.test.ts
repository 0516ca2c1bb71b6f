// decide(), branch by branch: a boundary on each side of every bound and the exact words of
// the reasons an operator reads. Written against Stryker's survivors (docs/mutation.md): each
// test is a decision (or a reason) that changes when one condition of policy.ts is dropped.
// The request is one real CSR parsed by the product; where a test needs a request shape a
// real CSR cannot easily have (an RSA key of 2048.5 bits), it edits the parse result, which
// the policy treats as the parser's word.
import { describe, expect, it } from "vitest";
import { decide } from "../../functions/core/policy.js";
import { parseCertificateRequest } from "../../functions/core/request.js";
import type {
  CsrObject,
  Ec2Instance,
  ParsedRequest,
  ParseResult,
  PolicyInput,
  ReasonCode,
} from "../../functions/core/types.js";
import { kubeletCsrObject } from "../support/csr-factory.js";
import {
  A,
  A_ID,
  A_IP,
  A_NAME,
  B_ID,
  CLUSTER_VPC,
  CREATED,
  DEAD,
  LAUNCHED,
  NOW_FRESH,
  OTHER_VPC,
  cluster,
  instance,
  settings,
} from "./policy-fixtures.js";

const CSR = kubeletCsrObject({
  name: "csr-branches",
  node: A_NAME,
  dnsNames: [A_NAME],
  ips: [A_IP],
  creationTimestamp: CREATED,
});
const PARSED = parseCertificateRequest(CSR.spec.request);
if (!PARSED.ok) throw new Error(PARSED.error);
const REQUEST: ParsedRequest = PARSED.request;
const CREATED_MS = Date.parse(CREATED);

function input(overrides: Partial<Record<keyof PolicyInput, unknown>> = {}): PolicyInput {
  return {
    csr: CSR,
    parsed: PARSED,
    instances: [A],
    nodes: [],
    cluster: cluster(),
    settings: settings(),
    now: NOW_FRESH,
    ...overrides,
  } as PolicyInput;
}

function withRequest(patch: Partial<Record<keyof ParsedRequest, unknown>>): ParseResult {
  return { ok: true, request: { ...REQUEST, ...patch } as ParsedRequest };
}

function withSpec(patch: Record<string, unknown>): CsrObject {
  return { ...CSR, spec: { ...CSR.spec, ...patch } } as CsrObject;
}

function at(seconds: number): Date {
  return new Date(CREATED_MS + seconds * 1000);
}

function outcome(patch: Partial<Record<keyof PolicyInput, unknown>>): {
  decision: string;
  codes: ReasonCode[];
  text: string;
} {
  const decision = decide(input(patch));
  return {
    decision: decision.decision,
    codes: decision.reasons.map((reason) => reason.code),
    text: decision.reasons.map((reason) => reason.message).join(" | "),
  };
}

describe("the approval and its reason", () => {
  it("approves the legitimate CSR with one reason naming instance, VPC and SANs", () => {
    const decision = decide(input());
    expect(decision).toMatchObject({ decision: "approve", instanceId: A_ID, node: A_NAME });
    expect(decision.reasons).toEqual([
      {
        code: "ALL_CHECKS_PASSED",
        message: `node ${A_NAME} is ${A_ID} by private-dns-name, running in ${CLUSTER_VPC}; it owns every requested SAN (${A_IP}, ${A_NAME})`,
      },
    ]);
  });
});

describe("grace period: the boundary and its setting", () => {
  const nobody = { instances: [] };
  it("waits at exactly pendingGraceSeconds and denies one second later", () => {
    expect(outcome({ ...nobody, now: at(900) })).toMatchObject({ decision: "wait" });
    expect(outcome({ ...nobody, now: at(901) })).toMatchObject({
      decision: "deny",
      codes: ["INSTANCE_NOT_FOUND"],
    });
  });
  it("says how old the CSR is and which grace period applies", () => {
    expect(outcome({ ...nobody, now: at(120.7) }).text).toBe(
      `no pending or running instance has the name ${A_NAME} yet; the CSR is 120 s old, within the 900 s grace period`,
    );
    expect(outcome({ ...nobody, now: at(1000) }).text).toBe(
      `no pending or running instance has the name ${A_NAME}; the CSR is 1000 s old, past the 900 s grace period`,
    );
  });
  // A pendingGraceSeconds that is not a positive integer is refused by the configuration
  // (config.test.ts): the policy honours the value it is given.
  it("the configured pendingGraceSeconds is the boundary", () => {
    const patch = { ...nobody, settings: settings({ pendingGraceSeconds: 60 }) };
    expect(outcome({ ...patch, now: at(60) }).decision).toBe("wait");
    expect(outcome({ ...patch, now: at(61) }).decision).toBe("deny");
  });
  it("a pendingGraceSeconds of 0 is honoured", () => {
    const patch = { ...nobody, settings: settings({ pendingGraceSeconds: 0 }) };
    expect(outcome({ ...patch, now: at(1) }).decision).toBe("deny");
    expect(outcome({ ...patch, now: at(0) }).decision).toBe("wait");
  });
  it("a pending instance past the grace period is not running", () => {
    const pending = [{ ...A, State: { Name: "pending" } }];
    expect(outcome({ instances: pending, now: at(900) })).toMatchObject({
      decision: "wait",
      codes: ["INSTANCE_PENDING"],
    });
    expect(outcome({ instances: pending, now: at(901) })).toMatchObject({
      decision: "deny",
      codes: ["INSTANCE_NOT_RUNNING"],
      text: `instance ${A_ID} is pending, not running; the CSR is 901 s old, past the 900 s grace period`,
    });
  });
  it("a CSR without a creation time is never past the grace period", () => {
    const csr = { ...CSR, metadata: { name: CSR.metadata.name } };
    expect(outcome({ csr, instances: [], now: at(100_000) })).toMatchObject({
      decision: "wait",
      codes: ["INSTANCE_NOT_VISIBLE"],
    });
    expect(outcome({ csr, instances: [], now: at(100_000) }).text).toContain(
      "the CSR's age is unknown, so it is treated as new",
    );
  });
});

describe("creation and launch times", () => {
  const launchedAt = (offsetSeconds: number): Ec2Instance[] => [
    { ...A, LaunchTime: new Date(CREATED_MS + offsetSeconds * 1000).toISOString() },
  ];
  it("accepts a CSR created up to exactly 300 s before the launch, not 301", () => {
    expect(outcome({ instances: launchedAt(300) }).decision).toBe("approve");
    expect(outcome({ instances: launchedAt(301) })).toMatchObject({
      decision: "deny",
      codes: ["CSR_PREDATES_INSTANCE"],
    });
  });
  it("names both times and the tolerance", () => {
    const launched = new Date(CREATED_MS + 301_000).toISOString();
    expect(outcome({ instances: launchedAt(301) }).text).toBe(
      `the CSR was created at ${new Date(CREATED_MS).toISOString()}, before instance ${A_ID} launched at ${launched} (tolerance 300 s)`,
    );
  });
  it("allows no tolerance when a gone instance held the name, and says which", () => {
    const predecessor = { ...DEAD, PrivateDnsName: A_NAME, InstanceId: B_ID };
    const result = outcome({ instances: [...launchedAt(1), predecessor] });
    expect(result).toMatchObject({ decision: "deny", codes: ["CSR_PREDATES_INSTANCE"] });
    expect(result.text).toContain(`(tolerance 0 s: ${B_ID} held its name or a requested IP)`);
    // At or after the launch it is fine even then.
    expect(outcome({ instances: [...launchedAt(0), predecessor] }).decision).toBe("approve");
  });
  it("allows no tolerance when a gone instance held a requested IP on an interface", () => {
    const gone: Ec2Instance = {
      InstanceId: B_ID,
      State: { Name: "terminated" },
      PrivateDnsName: "ip-10-0-9-9.eu-west-1.compute.internal",
      NetworkInterfaces: [{ PrivateIpAddresses: [{ PrivateIpAddress: A_IP }] }],
    };
    expect(outcome({ instances: [...launchedAt(1), gone] }).codes).toEqual(["CSR_PREDATES_INSTANCE"]);
    // A gone instance with other addresses and names is no predecessor.
    const unrelated = {
      ...gone,
      NetworkInterfaces: [{ PrivateIpAddresses: [{ PrivateIpAddress: "10.0.9.9" }] }],
    };
    expect(outcome({ instances: [...launchedAt(1), unrelated] }).decision).toBe("approve");
    // A live instance never is, nor is a record without an ID (named generically).
    const liveTwin = { ...gone, State: { Name: "running" }, VpcId: OTHER_VPC };
    expect(outcome({ instances: [...launchedAt(1), liveTwin] }).decision).toBe("approve");
    const noId = { ...gone, InstanceId: undefined };
    expect(outcome({ instances: [...launchedAt(1), noId] }).text).toContain("an earlier instance held");
  });
  it("waits when the launch time or the creation time cannot be read", () => {
    expect(outcome({ instances: [{ ...A, LaunchTime: "yesterday" }] })).toMatchObject({
      decision: "wait",
      codes: ["FACTS_UNAVAILABLE"],
      text: `instance ${A_ID} has no readable LaunchTime`,
    });
    const csr = { ...CSR, metadata: { ...CSR.metadata, creationTimestamp: "2026-01-01 00:10" } };
    expect(outcome({ csr })).toMatchObject({
      decision: "wait",
      codes: ["FACTS_UNAVAILABLE"],
      text: "the CSR has no readable creationTimestamp to compare with the launch time",
    });
  });
  it.each([
    ["a Date", new Date(LAUNCHED)],
    ["lower-case t and z", LAUNCHED.toLowerCase()],
    ["a space and an offset", "2026-01-01 01:05:00+01:00"],
    ["fractional seconds", "2026-01-01T00:05:00.123Z"],
  ])("reads a LaunchTime given as %s", (_label, launchTime) => {
    expect(outcome({ instances: [{ ...A, LaunchTime: launchTime as string }] }).decision).toBe("approve");
  });
  it.each([
    ["an invalid Date", new Date(Number.NaN)],
    ["a date without time", "2026-01-01"],
    ["no zone", "2026-01-01T00:05:00"],
    ["a prefix", `x${LAUNCHED}`],
    ["a suffix", `${LAUNCHED}x`],
  ])("does not read a LaunchTime given as %s", (_label, launchTime) => {
    expect(outcome({ instances: [{ ...A, LaunchTime: launchTime as string }] }).decision).toBe("wait");
  });
});

describe("the request checks, branch by branch", () => {
  it.each([
    ["RSA 2048", { algorithm: "rsa", bits: 2048 }, "approve"],
    ["RSA 2047", { algorithm: "rsa", bits: 2047 }, "deny"],
    ["ECDSA P-384", { algorithm: "ecdsa", curve: "P-384" }, "approve"],
    ["ECDSA P-521", { algorithm: "ecdsa", curve: "P-521" }, "approve"],
    ["ECDSA P-224", { algorithm: "ecdsa", curve: "P-224" }, "deny"],
    ["Ed25519", { algorithm: "ed25519" }, "approve"],
    ["Ed448", { algorithm: "other", oid: "1.3.101.113" }, "deny"],
  ])("key %s → %s", (_label, publicKey, expected) => {
    const result = outcome({ parsed: withRequest({ publicKey }) });
    expect(result.decision).toBe(expected);
    if (expected === "deny") expect(result.codes).toEqual(["WEAK_KEY"]);
  });
  it("names the weak key and what is required", () => {
    const required = "RSA >= 2048 bits, ECDSA P-256/P-384/P-521 or Ed25519 is required";
    const text = (publicKey: unknown) => outcome({ parsed: withRequest({ publicKey }) }).text;
    expect(text({ algorithm: "rsa", bits: 1024 })).toBe(`key is RSA 1024 bits; ${required}`);
    expect(text({ algorithm: "ecdsa", curve: "P-224" })).toBe(`key is ECDSA on curve P-224; ${required}`);
    expect(text({ algorithm: "other", oid: "1.3.101.113" })).toBe(
      `key uses algorithm 1.3.101.113; ${required}`,
    );
  });
  it("a signature is valid only when the parser says so", () => {
    expect(outcome({ parsed: withRequest({ signatureValid: false }) }).codes).toEqual(["BAD_SIGNATURE"]);
    expect(outcome({ parsed: withRequest({ signatureValid: false, signatureError: "bad r" }) }).text).toBe(
      "the CSR's self-signature does not verify against its own key: bad r",
    );
    expect(outcome({ parsed: withRequest({ signatureValid: false }) }).text).toBe(
      "the CSR's self-signature does not verify against its own key",
    );
  });
  it("a failed parse names the parser's error", () => {
    expect(outcome({ parsed: { ok: false, error: "DER is truncated" } })).toMatchObject({
      decision: "deny",
      codes: ["MALFORMED_REQUEST"],
      text: "spec.request is not one PKCS#10 CERTIFICATE REQUEST: DER is truncated",
    });
  });
  it("subject: exactly one O system:nodes and exactly one CN equal to the requester", () => {
    const subject = (organizations: unknown, commonNames: unknown) =>
      outcome({ parsed: withRequest({ subject: { organizations, commonNames, other: [] } }) });
    const cn = `system:node:${A_NAME}`;
    expect(subject(["system:nodes"], [cn]).decision).toBe("approve");
    expect(subject(["system:nodes", "system:nodes"], [cn]).text).toBe(
      'subject O is ["system:nodes", "system:nodes"], not exactly [system:nodes]',
    );
    expect(subject(["system:masters"], [cn]).codes).toEqual(["SUBJECT_MISMATCH"]);
    expect(subject([], [cn]).text).toBe("subject O is [nothing], not exactly [system:nodes]");
    expect(subject(["system:nodes"], []).text).toBe("subject has 0 CNs [nothing], not exactly one");
    expect(subject(["system:nodes"], [cn, cn]).codes).toEqual(["SUBJECT_MISMATCH"]);
    expect(subject(["system:nodes"], ["system:node:other"]).text).toBe(
      `subject CN "system:node:other" is not the requester "${cn}"`,
    );
  });
  it("usages: a list of strings equal to an allowed set", () => {
    const usages = (value: unknown) => outcome({ csr: withSpec({ usages: value }) });
    expect(usages(["server auth", "digital signature", "server auth"]).decision).toBe("approve");
    expect(usages(["digital signature", "key encipherment", "server auth"]).decision).toBe("approve");
    expect(usages(["digital signature", "key encipherment"]).codes).toEqual(["BAD_USAGES"]);
    // Usages that are not a list of strings are refused at the edge (k8s-schemas.test.ts).
    expect(usages(undefined).text).toBe(
      "spec.usages is missing or not a list of strings; must be {digital signature, server auth} or {digital signature, key encipherment, server auth}",
    );
    expect(usages(["server auth", "client auth", "digital signature"]).text).toBe(
      "usages {client auth, digital signature, server auth} are not {digital signature, server auth} or {digital signature, key encipherment, server auth}",
    );
  });
  it("SAN types: only DNS and IP, at least one", () => {
    const sans = (value: unknown) => outcome({ parsed: withRequest({ sans: value }) });
    expect(sans([{ type: "ip", value: A_IP }]).decision).toBe("approve");
    expect(sans([{ type: "dns", value: A_NAME }]).decision).toBe("approve");
    expect(sans([]).text).toBe("the CSR has no DNS or IP SAN");
    expect(
      sans([
        { type: "ip", value: A_IP },
        { type: "uri", value: "spiffe://x" },
      ]).text,
    ).toBe("forbidden SAN types (only DNS and IP are allowed): uri:spiffe://x");
    expect(sans([{ type: "email", value: "a@b" }]).text).toBe(
      "forbidden SAN types (only DNS and IP are allowed): email:a@b; the CSR has no DNS or IP SAN",
    );
  });
  it("expirationSeconds: absent or up to the maximum", () => {
    const expiring = (value: unknown, max?: unknown) =>
      outcome({
        csr: withSpec({ expirationSeconds: value }),
        ...(max === undefined ? {} : { settings: settings({ maxExpirationSeconds: max as number }) }),
      });
    expect(expiring(undefined).decision).toBe("approve");
    expect(expiring(31_708_800).decision).toBe("approve");
    expect(expiring(31_708_801).text).toBe("spec.expirationSeconds 31708801 exceeds the maximum 31708800");
    expect(expiring(Number.POSITIVE_INFINITY).codes).toEqual(["EXPIRATION_TOO_LONG"]);
    expect(expiring(Number.NaN).codes).toEqual(["EXPIRATION_TOO_LONG"]);
    expect(expiring(3600, 3600).decision).toBe("approve");
    expect(expiring(3601, 3600).codes).toEqual(["EXPIRATION_TOO_LONG"]);
    // A maximum that is not a positive integer is refused by the configuration (config.test.ts).
    expect(expiring(600, 1).codes).toEqual(["EXPIRATION_TOO_LONG"]);
  });
  it("requester: system:node:<N> in system:nodes, named in the reason", () => {
    expect(outcome({ csr: withSpec({ username: "alice" }) }).text).toMatch(
      /^requester "alice" is not system:node:<node name> \| subject CN /,
    );
    expect(outcome({ csr: withSpec({ groups: ["system:authenticated"] }) }).text).toBe(
      "requester groups [system:authenticated] lack system:nodes",
    );
    expect(outcome({ csr: withSpec({ groups: undefined }) }).text).toBe(
      "requester groups (none) lack system:nodes",
    );
    expect(outcome({ csr: withSpec({ username: undefined }) }).text).toMatch(
      /^requester undefined is not system:node:<node name>/,
    );
  });
});

describe("membership", () => {
  it("reads the VPC from the interfaces when the instance has none, and only when they agree", () => {
    const eniVpc = (vpcs: string[]): Ec2Instance[] => [
      {
        ...A,
        VpcId: "",
        NetworkInterfaces: vpcs.map((VpcId, i) => ({
          Status: "in-use",
          VpcId,
          PrivateIpAddress: i === 0 ? A_IP : `10.0.8.${i}`,
        })),
      },
    ];
    expect(outcome({ instances: eniVpc([CLUSTER_VPC, CLUSTER_VPC]) }).decision).toBe("approve");
    expect(outcome({ instances: eniVpc([OTHER_VPC]) })).toMatchObject({
      decision: "deny",
      codes: ["FOREIGN_INSTANCE"],
      text: `instance ${A_ID} is in ${OTHER_VPC}, not in the cluster's VPC (${CLUSTER_VPC})`,
    });
    expect(outcome({ instances: eniVpc([CLUSTER_VPC, OTHER_VPC]) })).toMatchObject({
      decision: "wait",
      codes: ["FACTS_UNAVAILABLE"],
      text: `instance ${A_ID} reports no VPC`,
    });
    expect(outcome({ instances: eniVpc([]) }).text).toBe(`instance ${A_ID} reports no VPC`);
  });
  it("waits when the cluster has no VPCs, naming the cluster", () => {
    expect(outcome({ cluster: cluster({ vpcIds: [] }) }).text).toBe(
      `cluster prod has no VPC IDs configured, so membership of ${A_ID} cannot be proven`,
    );
  });
  it("cluster tag: key and value, named in the reason", () => {
    const tagged = (tags: unknown, clusterTag: unknown) =>
      outcome({
        instances: [{ ...A, Tags: tags as Ec2Instance["Tags"] }],
        settings: settings({ clusterTag: clusterTag as never }),
      });
    const key = "kubernetes.io/cluster/prod";
    expect(tagged([{ Key: key, Value: "owned" }], { key, values: ["owned", "shared"] }).decision).toBe(
      "approve",
    );
    expect(tagged([{ Key: key, Value: "shared" }], { key }).decision).toBe("approve");
    expect(tagged([{ Key: key, Value: "x" }], { key, values: ["owned"] }).text).toBe(
      `instance ${A_ID} has tag ${key}="x", not one of "owned"`,
    );
    expect(tagged([{ Key: "other", Value: "owned" }], { key }).text).toBe(
      `instance ${A_ID} lacks the cluster tag ${key}`,
    );
    expect(tagged(undefined, { key }).codes).toEqual(["FOREIGN_INSTANCE"]);
    expect(tagged([{ Value: "owned" }, { Key: key, Value: "owned" }], { key }).decision).toBe("approve");
    expect(tagged([{ Key: key, Value: "owned" }], { values: ["owned"] })).toMatchObject({
      decision: "wait",
      text: "the cluster tag setting is incomplete (no key, or an empty list of values)",
    });
    expect(tagged([{ Key: key, Value: "owned" }], { key, values: [] }).decision).toBe("wait");
    expect(tagged([], undefined).decision).toBe("approve");
  });
});

describe("ownership: the reasons", () => {
  it("names the SANs that are not owned and what the instance owns", () => {
    const sans = (value: unknown) => outcome({ parsed: withRequest({ sans: value }) });
    const one = sans([{ type: "ip", value: "10.0.1.71" }]);
    expect(one.text).toMatch(new RegExp(`^IP SAN 10\\.0\\.1\\.71 is not an address of ${A_ID} \\(owns `));
    const two = sans([
      { type: "ip", value: "10.0.1.71" },
      { type: "ip", value: "10.0.1.72" },
    ]);
    expect(two.text).toMatch(/^IP SANs 10\.0\.1\.71, 10\.0\.1\.72 are not addresses of /);
    const dns = sans([{ type: "dns", value: "a.example.com" }]);
    expect(dns.text).toMatch(new RegExp(`^DNS SAN a\\.example\\.com is not a name of ${A_ID} \\(owns `));
    const dns2 = sans([
      { type: "dns", value: "a.example.com" },
      { type: "dns", value: "b.example.com" },
    ]);
    expect(dns2.text).toMatch(/^DNS SANs a\.example\.com, b\.example\.com are not names of /);
    const wild = sans([
      { type: "dns", value: "*.example.com" },
      { type: "dns", value: "b.example.com" },
    ]);
    expect(wild.text).toMatch(
      /^wildcard DNS SAN \*\.example\.com is never allowed; DNS SAN b\.example\.com is not a name of /,
    );
    expect(sans([{ type: "dns", value: "*" }]).codes).toEqual(["DNS_NOT_OWNED"]);
  });
  it("an IP SAN whose declared family disagrees with its text is not owned", () => {
    expect(
      outcome({ parsed: withRequest({ sans: [{ type: "ip", value: A_IP, version: 6 }] }) }).codes,
    ).toEqual(["IP_NOT_OWNED"]);
    expect(
      outcome({ parsed: withRequest({ sans: [{ type: "ip", value: A_IP, version: 4 }] }) }).decision,
    ).toBe("approve");
    expect(outcome({ parsed: withRequest({ sans: [{ type: "ip", value: "not-an-ip" }] }) }).codes).toEqual([
      "IP_NOT_OWNED",
    ]);
  });
  it("long lists are cut with a count", () => {
    const ips = Array.from({ length: 14 }, (_, i) => ({ type: "ip", value: `10.9.0.${i}` }));
    const text = outcome({ parsed: withRequest({ sans: ips }) }).text;
    expect(text).toContain("10.9.0.11 and 2 more are not addresses");
    expect(text).not.toContain("10.9.0.12,");
  });
});

describe("facts that are missing or unreadable", () => {
  it("names the lookup that failed and its error", () => {
    expect(outcome({ instances: { unavailable: "throttled" } }).text).toBe(
      "EC2 instances could not be read: throttled",
    );
    expect(outcome({ nodes: { unavailable: "503" } }).text).toBe(
      "Kubernetes Node objects could not be read: 503",
    );
  });
  it("waits on two different records of one instance", () => {
    expect(outcome({ instances: [A, { ...A, State: { Name: "pending" } }] })).toMatchObject({
      decision: "wait",
      text: `EC2 returned inconsistent records for ${A_ID}`,
    });
    // The same ID in another case is the same instance.
    expect(outcome({ instances: [A, { ...A, InstanceId: A_ID.toUpperCase() }] }).decision).toBe("wait");
    // Identical records, and different instances, are fine.
    expect(outcome({ instances: [A, { ...A }, instance({ id: B_ID, ip: "10.0.2.9" })] }).decision).toBe(
      "approve",
    );
  });
  // Node objects that cannot be read, and CSRs whose status cannot, are refused at the edge
  // (k8s-schemas.test.ts: the same shapes, the same wait).
  it("waits without a valid time", () => {
    expect(outcome({ now: new Date(Number.NaN) }).text).toBe("no valid evaluation time was given");
  });
  it("a status without a decision is evaluated", () => {
    const status = (value: unknown) => outcome({ csr: { ...CSR, status: value } as CsrObject });
    expect(status(undefined).decision).toBe("approve");
    expect(status({}).decision).toBe("approve");
    expect(status({ conditions: [{ type: "Pending", status: "True" }] }).decision).toBe("approve");
    expect(status({ conditions: [{ type: "Denied", status: "True" }] })).toMatchObject({
      decision: "skip",
      codes: ["ALREADY_DECIDED"],
      text: "the CSR already has a Denied condition (status True)",
    });
  });
  it("another signer is named", () => {
    expect(outcome({ csr: withSpec({ signerName: "example.com/x" }) })).toMatchObject({
      decision: "skip",
      text: 'signer "example.com/x" is not kubernetes.io/kubelet-serving',
    });
  });
  it("reports the requester, node and requested SANs whatever the decision", () => {
    const decision = decide(input({ instances: [] }));
    expect(decision).toMatchObject({
      name: "csr-branches",
      requester: `system:node:${A_NAME}`,
      node: A_NAME,
      requestedSans: { dnsNames: [A_NAME], ips: [A_IP], other: [] },
    });
    expect(decision.instanceId).toBeUndefined();
    const other = decide(input({ parsed: withRequest({ sans: [{ type: "uri", value: "x" }] }) }));
    expect(other.requestedSans).toEqual({ dnsNames: [], ips: [], other: ["uri:x"] });
    expect(decide(input({ parsed: { ok: false, error: "x" } })).requestedSans).toBeUndefined();
  });
});

describe("an exception inside the decision", () => {
  it("is a wait naming the error, never an approval or a throw", () => {
    const hostile = { ...A };
    Object.defineProperty(hostile, "InstanceId", {
      enumerable: true,
      get() {
        throw new Error("getter exploded");
      },
    });
    const decision = decide(input({ instances: [hostile] }));
    expect(decision).toEqual({
      name: "csr-branches",
      decision: "wait",
      reasons: [{ code: "FACTS_UNAVAILABLE", message: "the CSR could not be evaluated: getter exploded" }],
    });
  });
});
