import { execFileSync } from "node:child_process";
import { createPublicKey, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MAX_REQUEST_BYTES,
  parseCertificateRequest,
  parseCertificateRequestPem,
} from "../../functions/core/request.js";
import type { ParsedRequest, ParseResult } from "../../functions/core/types.js";
import {
  OID,
  attributeDer,
  createCsrDer,
  createCsrPem,
  der,
  derToPem,
  extensionDer,
  keyFor,
  pemToDer,
  tamperSignature,
  tamperSubject,
  toRequestField,
  type CsrSpec,
  type KeySpec,
} from "../support/csr-factory.js";

function parsed(result: ParseResult): ParsedRequest {
  if (!result.ok) throw new Error(`expected a parsed request, got: ${result.error}`);
  return result.request;
}

function failure(result: ParseResult): string {
  if (result.ok) throw new Error("expected a parse failure, got a parsed request");
  expect(result.error).not.toMatch(/\n/);
  expect(result.error.length).toBeGreaterThan(0);
  return result.error;
}

function parseSpec(spec: CsrSpec): ParsedRequest {
  return parsed(parseCertificateRequest(toRequestField(createCsrPem(spec))));
}

const NODE_SUBJECT = { commonName: "system:node:ip-10-0-1-70.ec2.internal", organizations: ["system:nodes"] };

// A CSR assembled field by field, for shapes the factory does not build. Signed with
// ECDSA P-256 over the exact info bytes unless told otherwise.
const ecKey = keyFor({ type: "ecdsa", curve: "P-256" });
const ecSpki = (): Buffer => Buffer.from(createPublicKey(ecKey).export({ type: "spki", format: "der" }));
function handBuilt(
  opts: {
    version?: Buffer;
    subject?: Buffer;
    spki?: Buffer;
    attributes?: Buffer | null;
    algorithm?: Buffer;
    key?: KeyObject;
    signature?: (info: Buffer) => Buffer;
  } = {},
): Buffer {
  const info = der.seq(
    opts.version ?? der.int0(),
    opts.subject ?? der.seq(),
    opts.spki ?? ecSpki(),
    ...(opts.attributes === null ? [] : [opts.attributes ?? der.tlv(0xa0, Buffer.alloc(0))]),
  );
  const algorithm = opts.algorithm ?? der.seq(der.oid("1.2.840.10045.4.3.2"));
  const signature = opts.signature
    ? opts.signature(info)
    : der.bitString(sign("sha256", info, opts.key ?? ecKey));
  return der.seq(info, algorithm, signature);
}
const rdn = (oid: string, value: Buffer): Buffer => der.set(der.seq(der.oid(oid), value));

describe("key types and signature algorithms", () => {
  const cases: { key: KeySpec; expected: ParsedRequest["publicKey"]; algorithm: string }[] = [
    {
      key: { type: "ecdsa", curve: "P-256" },
      expected: { algorithm: "ecdsa", curve: "P-256" },
      algorithm: "ecdsa-with-SHA256",
    },
    {
      key: { type: "ecdsa", curve: "P-384" },
      expected: { algorithm: "ecdsa", curve: "P-384" },
      algorithm: "ecdsa-with-SHA384",
    },
    {
      key: { type: "ecdsa", curve: "P-521" },
      expected: { algorithm: "ecdsa", curve: "P-521" },
      algorithm: "ecdsa-with-SHA512",
    },
    {
      key: { type: "rsa", bits: 1024 },
      expected: { algorithm: "rsa", bits: 1024 },
      algorithm: "sha256WithRSAEncryption",
    },
    {
      key: { type: "rsa", bits: 2048 },
      expected: { algorithm: "rsa", bits: 2048 },
      algorithm: "sha256WithRSAEncryption",
    },
    {
      key: { type: "rsa", bits: 3072 },
      expected: { algorithm: "rsa", bits: 3072 },
      algorithm: "sha256WithRSAEncryption",
    },
    {
      key: { type: "rsa", bits: 4096 },
      expected: { algorithm: "rsa", bits: 4096 },
      algorithm: "sha256WithRSAEncryption",
    },
    { key: { type: "ed25519" }, expected: { algorithm: "ed25519" }, algorithm: "Ed25519" },
  ];

  it.each(cases)("$key.type $key.curve$key.bits parses and verifies", ({ key, expected, algorithm }) => {
    const pem = createCsrPem({ ...NODE_SUBJECT, dnsNames: ["ip-10-0-1-70.ec2.internal"], key });
    const request = parsed(parseCertificateRequest(toRequestField(pem)));
    expect(request.publicKey).toEqual(expected);
    expect(request.signatureAlgorithm).toBe(algorithm);
    expect(request.signatureValid).toBe(true);
    expect(request.signatureError).toBeUndefined();

    const badSignature = parsed(parseCertificateRequest(toRequestField(tamperSignature(pem))));
    expect(badSignature.signatureValid).toBe(false);
    expect(badSignature.signatureError).toMatch(/does not verify/);

    const badSubject = parsed(
      parseCertificateRequest(toRequestField(tamperSubject(pem, "system:node:other"))),
    );
    expect(badSubject.subject.commonNames).toEqual(["system:node:other"]);
    expect(badSubject.signatureValid).toBe(false);
  });

  it.each([
    ["sha1", "sha1WithRSAEncryption"],
    ["sha224", "sha224WithRSAEncryption"],
    ["sha384", "sha384WithRSAEncryption"],
    ["sha512", "sha512WithRSAEncryption"],
  ] as const)("RSA PKCS#1 v1.5 with %s verifies", (signatureHash, name) => {
    const request = parseSpec({ ...NODE_SUBJECT, key: { type: "rsa", bits: 2048 }, signatureHash });
    expect(request.signatureAlgorithm).toBe(name);
    expect(request.signatureValid).toBe(true);
  });

  it.each([
    ["sha1", "ecdsa-with-SHA1"],
    ["sha224", "ecdsa-with-SHA224"],
    ["sha512", "ecdsa-with-SHA512"],
  ] as const)("ECDSA P-256 with %s verifies", (signatureHash, name) => {
    const request = parseSpec({ ...NODE_SUBJECT, signatureHash });
    expect(request.signatureAlgorithm).toBe(name);
    expect(request.signatureValid).toBe(true);
  });

  it("a signature algorithm that does not match the key is not valid", () => {
    // A real ECDSA signature, labelled as RSA.
    const request = parsed(
      parseCertificateRequestPem(
        derToPem(handBuilt({ algorithm: der.seq(der.oid("1.2.840.113549.1.1.11"), der.nul()) })),
      ),
    );
    expect(request.signatureValid).toBe(false);
    expect(request.signatureError).toMatch(/does not match/);
  });

  it("an ECDSA signature with unexpected algorithm parameters is not valid", () => {
    const request = parsed(
      parseCertificateRequestPem(
        derToPem(handBuilt({ algorithm: der.seq(der.oid("1.2.840.10045.4.3.2"), der.nul()) })),
      ),
    );
    expect(request.signatureValid).toBe(false);
    expect(request.signatureError).toMatch(/unexpected parameters/);
  });

  it("an unsupported signature algorithm is reported by OID and not valid", () => {
    const dsaWithSha256 = "2.16.840.1.101.3.4.3.2";
    const request = parsed(
      parseCertificateRequestPem(derToPem(handBuilt({ algorithm: der.seq(der.oid(dsaWithSha256)) }))),
    );
    expect(request.signatureAlgorithm).toBe(dsaWithSha256);
    expect(request.signatureValid).toBe(false);
    expect(request.signatureError).toMatch(/unsupported signature algorithm/);
  });

  it("a signature BIT STRING with unused bits is not valid", () => {
    const request = parsed(
      parseCertificateRequestPem(
        derToPem(
          handBuilt({
            signature: (info) =>
              der.tlv(0x03, Buffer.concat([Buffer.from([1]), sign("sha256", info, ecKey)])),
          }),
        ),
      ),
    );
    expect(request.signatureValid).toBe(false);
  });

  it("an unknown public key algorithm is reported by OID and never verifies", () => {
    const x25519Spki = der.seq(der.seq(der.oid("1.3.101.110")), der.bitString(Buffer.alloc(32, 7)));
    const request = parsed(
      parseCertificateRequestPem(
        derToPem(
          handBuilt({
            spki: x25519Spki,
            algorithm: der.seq(der.oid("1.3.101.112")),
            signature: () => der.bitString(Buffer.alloc(64, 1)),
          }),
        ),
      ),
    );
    expect(request.publicKey).toEqual({ algorithm: "other", oid: "1.3.101.110" });
    expect(request.signatureValid).toBe(false);
  });

  it("an EC key on a curve other than P-256/384/521 is reported by its curve OID", () => {
    const secp256k1 = "1.3.132.0.10";
    const spki = der.seq(
      der.seq(der.oid("1.2.840.10045.2.1"), der.oid(secp256k1)),
      der.bitString(Buffer.alloc(65, 4)),
    );
    const request = parsed(parseCertificateRequestPem(derToPem(handBuilt({ spki }))));
    expect(request.publicKey).toEqual({ algorithm: "ecdsa", curve: secp256k1 });
    expect(request.signatureValid).toBe(false);
  });

  it("an RSA key whose bytes do not parse fails the parse", () => {
    const spki = der.seq(
      der.seq(der.oid("1.2.840.113549.1.1.1"), der.nul()),
      der.bitString(Buffer.from([1, 2, 3])),
    );
    expect(failure(parseCertificateRequestPem(derToPem(handBuilt({ spki }))))).toMatch(/public key/);
  });
});

describe("subject", () => {
  it("collects every CN and O in order and the other attributes", () => {
    const request = parseSpec({
      commonName: "system:node:a",
      organizations: ["system:nodes", "second"],
      extraSubject: [{ oid: "2.5.4.11", value: "ops" }],
    });
    expect(request.subject).toEqual({
      commonNames: ["system:node:a"],
      organizations: ["system:nodes", "second"],
      other: [{ oid: "2.5.4.11", value: "ops" }],
    });
  });

  it("reads several CNs, multi-valued RDNs and every string type Go reads", () => {
    const subject = der.seq(
      rdn(OID.organization, der.tlv(0x13, Buffer.from("system:nodes"))), // PrintableString
      der.set(
        der.seq(der.oid(OID.commonName), der.tlv(0x1e, Buffer.from("\u0000s\u0000y", "latin1"))), // BMPString "sy"
        der.seq(der.oid(OID.commonName), der.tlv(0x16, Buffer.from("ia5"))),
      ),
      rdn(OID.commonName, der.tlv(0x14, Buffer.from([0x63, 0xe9]))), // TeletexString, Latin-1 "cé"
      rdn("2.5.4.5", der.tlv(0x12, Buffer.from("123 45"))), // NumericString
      rdn("2.5.4.11", der.tlv(0x02, Buffer.from([5]))), // not a string: shown as hex
    );
    const request = parsed(parseCertificateRequestPem(derToPem(handBuilt({ subject }))));
    expect(request.subject).toEqual({
      commonNames: ["sy", "ia5", "c\u00e9"],
      organizations: ["system:nodes"],
      other: [
        { oid: "2.5.4.5", value: "123 45" },
        { oid: "2.5.4.11", value: "#020105" },
      ],
    });
    expect(request.signatureValid).toBe(true);
  });

  it("keeps a UTF-8 byte-order mark as part of the CN", () => {
    const subject = der.seq(rdn(OID.commonName, der.utf8("\ufeffsystem:node:a")));
    const request = parsed(parseCertificateRequestPem(derToPem(handBuilt({ subject }))));
    expect(request.subject.commonNames).toEqual(["\ufeffsystem:node:a"]);
  });

  it.each([
    ["an INTEGER CN", rdn(OID.commonName, der.tlv(0x02, Buffer.from([1])))],
    ["a PrintableString CN with '@'", rdn(OID.commonName, der.tlv(0x13, Buffer.from("a@b")))],
    ["an invalid UTF-8 CN", rdn(OID.commonName, der.tlv(0x0c, Buffer.from([0xc3, 0x28])))],
    ["a non-ASCII IA5String O", rdn(OID.organization, der.tlv(0x16, Buffer.from([0xe9])))],
    ["an odd-length BMPString CN", rdn(OID.commonName, der.tlv(0x1e, Buffer.from([0, 0x61, 0])))],
  ])("%s fails the parse", (_name, badRdn) => {
    failure(parseCertificateRequestPem(derToPem(handBuilt({ subject: der.seq(badRdn) }))));
  });

  it("an empty RDN fails the parse", () => {
    failure(parseCertificateRequestPem(derToPem(handBuilt({ subject: der.seq(der.set()) }))));
  });
});

describe("subject alternative names", () => {
  it("reports every SAN type in order", () => {
    const request = parseSpec({
      dnsNames: ["ip-10-0-1-70.ec2.internal", "Node.Example.COM"],
      ips: ["10.0.1.70", "2001:db8::1"],
      emails: ["root@example.com"],
      uris: ["spiffe://cluster/node"],
      otherName: true,
    });
    expect(request.sans).toEqual([
      { type: "dns", value: "ip-10-0-1-70.ec2.internal" },
      { type: "dns", value: "Node.Example.COM" },
      { type: "email", value: "root@example.com" },
      { type: "uri", value: "spiffe://cluster/node" },
      { type: "ip", value: "10.0.1.70", version: 4 },
      { type: "ip", value: "2001:db8::1", version: 6 },
      { type: "other", value: "otherName:1.3.6.1.4.1.311.20.2.3=admin@example.com" },
    ]);
    expect(request.extensions).toEqual([{ oid: OID.subjectAltName, critical: false }]);
  });

  it("describes directoryName, registeredID, x400Address and ediPartyName SANs as other", () => {
    const request = parseSpec({
      rawSans: [
        der.tlv(
          0xa4,
          der.seq(rdn(OID.commonName, der.utf8("admin")), rdn(OID.organization, der.utf8("system:masters"))),
        ),
        der.tlv(0x88, der.oid("1.2.3.4").subarray(2)),
        der.tlv(0xa3, der.seq()),
        der.tlv(0xa5, der.tlv(0xa1, der.utf8("party"))),
      ],
    });
    expect(request.sans).toEqual([
      { type: "other", value: "directoryName:CN=admin,O=system:masters" },
      { type: "other", value: "registeredID:1.2.3.4" },
      { type: "other", value: "x400Address" },
      { type: "other", value: "ediPartyName" },
    ]);
  });

  it("a CSR without SANs has none and no extensionRequest", () => {
    const request = parseSpec(NODE_SUBJECT);
    expect(request.sans).toEqual([]);
    expect(request.extensions).toEqual([]);
  });

  it.each([
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1"], // the longest run
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"], // the first of equal runs
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["fe80:0:0:0:0:0:0:0", "fe80::"],
    ["FD00:EC2::23", "fd00:ec2::23"],
    ["0:0:0:0:0:ffff:a00:146", "::ffff:10.0.1.70"], // IPv4-mapped stays IPv6
  ])("IPv6 %s is reported as %s", (spelling, canonical) => {
    expect(parseSpec({ ips: [spelling] }).sans).toEqual([{ type: "ip", value: canonical, version: 6 }]);
  });

  it("derives IPs from the raw bytes", () => {
    const request = parseSpec({
      rawSans: [
        der.tlv(0x87, Buffer.from([10, 0, 1, 70])),
        der.tlv(0x87, Buffer.from("20010db8000000000000000000000001", "hex")),
      ],
    });
    expect(request.sans).toEqual([
      { type: "ip", value: "10.0.1.70", version: 4 },
      { type: "ip", value: "2001:db8::1", version: 6 },
    ]);
  });

  it.each([0, 1, 5, 8, 15, 17, 32])("an IP SAN of %i bytes fails the parse", (length) => {
    const error = failure(
      parseCertificateRequest(
        toRequestField(createCsrPem({ rawSans: [der.tlv(0x87, Buffer.alloc(length, 1))] })),
      ),
    );
    expect(error).toMatch(/IP SAN/);
  });

  it.each([
    ["a non-ASCII DNS name", der.tlv(0x82, Buffer.from("h\u00e9.example", "utf8"))],
    ["a constructed dNSName", der.tlv(0xa2, der.ia5("a.example"))],
    ["an unknown GeneralName tag", der.tlv(0x89, Buffer.from([1]))],
    ["a malformed otherName", der.tlv(0xa0, der.oid("1.2.3"))],
  ])("%s fails the parse", (_name, san) => {
    failure(parseCertificateRequest(toRequestField(createCsrPem({ rawSans: [san] }))));
  });

  it("trailing bytes after the GeneralNames fail the parse", () => {
    const sanValue = Buffer.concat([der.seq(der.tlv(0x82, Buffer.from("a.example"))), Buffer.from([0])]);
    const error = failure(
      parseCertificateRequestPem(
        createCsrPem({ rawExtensions: [extensionDer(OID.subjectAltName, sanValue)] }),
      ),
    );
    expect(error).toMatch(/trailing/);
  });
});

describe("requested extensions", () => {
  it("lists every requested extension with its criticality", () => {
    const request = parseSpec({
      dnsNames: ["a.example"],
      rawExtensions: [
        extensionDer(OID.keyUsage, der.tlv(0x03, Buffer.from([0x05, 0xa0])), true),
        extensionDer(OID.extKeyUsage, der.seq(der.oid("1.3.6.1.5.5.7.3.1"))),
      ],
    });
    expect(request.extensions).toEqual([
      { oid: OID.subjectAltName, critical: false },
      { oid: OID.keyUsage, critical: true },
      { oid: OID.extKeyUsage, critical: false },
    ]);
  });

  it("ignores attributes other than extensionRequest", () => {
    const challengePassword = attributeDer("1.2.840.113549.1.9.7", der.utf8("secret"));
    const request = parseSpec({ dnsNames: ["a.example"], rawAttributes: [challengePassword] });
    expect(request.sans).toEqual([{ type: "dns", value: "a.example" }]);
    expect(request.signatureValid).toBe(true);
  });

  it("a CSR whose attributes field is absent parses", () => {
    const request = parsed(parseCertificateRequestPem(derToPem(handBuilt({ attributes: null }))));
    expect(request.extensions).toEqual([]);
    expect(request.signatureValid).toBe(true);
  });

  it("a duplicated SAN extension fails the parse", () => {
    const secondSan = extensionDer(OID.subjectAltName, der.seq(der.tlv(0x82, Buffer.from("evil.example"))));
    const error = failure(
      parseCertificateRequest(
        toRequestField(createCsrPem({ dnsNames: ["a.example"], rawExtensions: [secondSan] })),
      ),
    );
    expect(error).toMatch(/more than once/);
  });

  it("a duplicated extensionRequest attribute fails the parse", () => {
    const second = attributeDer(
      OID.extensionRequest,
      der.seq(extensionDer(OID.subjectAltName, der.seq(der.tlv(0x82, Buffer.from("evil.example"))))),
    );
    const error = failure(
      parseCertificateRequest(
        toRequestField(createCsrPem({ dnsNames: ["a.example"], rawAttributes: [second] })),
      ),
    );
    expect(error).toMatch(/extensionRequest/);
  });

  it("an extensionRequest attribute with two values fails the parse", () => {
    const twoValues = attributeDer(
      OID.extensionRequest,
      der.seq(extensionDer(OID.subjectAltName, der.seq(der.tlv(0x82, Buffer.from("a.example"))))),
      der.seq(extensionDer(OID.subjectAltName, der.seq(der.tlv(0x82, Buffer.from("b.example"))))),
    );
    failure(parseCertificateRequest(toRequestField(createCsrPem({ rawAttributes: [twoValues] }))));
  });

  it("a critical flag that is not DER fails the parse", () => {
    const sloppy = der.seq(
      der.oid(OID.keyUsage),
      der.tlv(0x01, Buffer.from([0x01])),
      der.octet(Buffer.from([3, 1, 0])),
    );
    failure(parseCertificateRequestPem(createCsrPem({ rawExtensions: [sloppy] })));
  });
});

describe("malformed input never throws and fails with one clear line", () => {
  const validPem = createCsrPem({ ...NODE_SUBJECT, dnsNames: ["a.example"] });
  const validDer = pemToDer(validPem);

  it("accepts the K8s base64 field, raw PEM, CRLF line endings and surrounding whitespace", () => {
    const expected = parsed(parseCertificateRequestPem(validPem));
    expect(expected.signatureValid).toBe(true);
    expect(parsed(parseCertificateRequest(toRequestField(validPem)))).toEqual(expected);
    expect(parsed(parseCertificateRequest(validPem))).toEqual(expected);
    expect(parsed(parseCertificateRequest(`\n\n  ${validPem.replace(/\n/g, "\r\n")}\t\n`))).toEqual(expected);
    expect(parsed(parseCertificateRequest(toRequestField(`  \n${validPem}\n\n`)))).toEqual(expected);
  });

  it.each([
    ["empty", "", /base64/],
    ["whitespace", "   \n", /base64/],
    ["garbage", "garbage!!", /base64/],
    ["base64 with a bad length", "abc", /base64/],
    ["base64 with non-zero padding bits", "QR==", /base64/],
    ["base64 of text without a PEM block", Buffer.from("hello world").toString("base64"), /no PEM block/],
    ["base64 of raw DER", validDer.toString("base64"), /PEM/],
    ["base64 of bytes that are not UTF-8", Buffer.from([0xff, 0xfe, 0x00]).toString("base64"), /PEM text/],
  ])("%s", (_name, input, message) => {
    expect(failure(parseCertificateRequest(input))).toMatch(message);
  });

  it("a non-string input fails instead of throwing", () => {
    expect(failure(parseCertificateRequest(undefined as unknown as string))).toMatch(/not a string/);
    expect(failure(parseCertificateRequestPem(42 as unknown as string))).toMatch(/not a string/);
  });

  it.each([
    [
      "a CERTIFICATE label",
      validPem.replace(/CERTIFICATE REQUEST/g, "CERTIFICATE"),
      /expected "CERTIFICATE REQUEST"/,
    ],
    [
      "a NEW CERTIFICATE REQUEST label",
      validPem.replace(/CERTIFICATE REQUEST/g, "NEW CERTIFICATE REQUEST"),
      /expected/,
    ],
    ["mismatched labels", validPem.replace("END CERTIFICATE REQUEST", "END CERTIFICATE"), /labels differ/],
    ["two CSR blocks", validPem + validPem, /expected exactly one PEM block, found 2/],
    [
      "a CSR and a certificate block",
      validPem + validPem.replace(/CERTIFICATE REQUEST/g, "CERTIFICATE"),
      /exactly one/,
    ],
    ["text before the block", `hello\n${validPem}`, /only whitespace outside/],
    ["text after the block", `${validPem}trailer\n`, /only whitespace outside/],
    ["the BEGIN line not on its own line", validPem.replace("REQUEST-----\n", "REQUEST-----"), /own lines/],
    ["the END line not on its own line", validPem.replace(/\n-----END/, "-----END"), /own lines/],
    ["a missing END line", validPem.replace(/-----END[^\n]*\n/, ""), /END/],
    [
      "PEM headers",
      validPem.replace("REQUEST-----\n", "REQUEST-----\nProc-Type: 4,ENCRYPTED\n\n"),
      /headers/,
    ],
    ["a body that is not base64", validPem.replace(/\n[A-Za-z0-9+/]{10}/, "\n!!!!!!!!!!"), /base64/],
    ["an empty body", "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n", /base64/],
    ["truncated DER", derToPem(validDer.subarray(0, validDer.length - 10)), /truncated/],
    ["trailing garbage after the DER", derToPem(Buffer.concat([validDer, Buffer.from([0, 0])])), /trailing/],
    ["a DER document that is not a CSR", derToPem(der.seq(der.int0())), /PKCS#10/],
  ])("PEM with %s", (_name, pem, message) => {
    expect(failure(parseCertificateRequestPem(pem))).toMatch(message);
    expect(failure(parseCertificateRequest(toRequestField(pem)))).toMatch(message);
  });

  it("rejects BER-only encodings (indefinite and non-minimal lengths)", () => {
    const body = validDer.subarray(validDer[1] === 0x82 ? 4 : validDer[1] === 0x81 ? 3 : 2);
    const indefinite = Buffer.concat([Buffer.from([0x30, 0x80]), body, Buffer.from([0, 0])]);
    expect(failure(parseCertificateRequestPem(derToPem(indefinite)))).toMatch(/indefinite/);
    const nonMinimal = Buffer.concat([
      Buffer.from([0x30, 0x84, 0, 0, body.length >> 8, body.length & 0xff]),
      body,
    ]);
    expect(failure(parseCertificateRequestPem(derToPem(nonMinimal)))).toMatch(/minimal/);
  });

  it("rejects a PKCS#10 version other than v1(0)", () => {
    expect(
      failure(parseCertificateRequestPem(derToPem(handBuilt({ version: der.tlv(0x02, Buffer.from([1])) })))),
    ).toMatch(/version/);
  });

  it(`accepts exactly ${MAX_REQUEST_BYTES} bytes and rejects one more`, () => {
    expect(MAX_REQUEST_BYTES).toBe(65536);
    const atLimit = validPem + " ".repeat(MAX_REQUEST_BYTES - validPem.length);
    expect(parsed(parseCertificateRequestPem(atLimit)).signatureValid).toBe(true);
    expect(parsed(parseCertificateRequest(atLimit)).signatureValid).toBe(true);
    expect(failure(parseCertificateRequestPem(`${atLimit} `))).toMatch(/larger than 65536 bytes/);
    expect(failure(parseCertificateRequest(`${atLimit} `))).toMatch(/larger than 65536 bytes/);
    expect(failure(parseCertificateRequest("A".repeat(10 * MAX_REQUEST_BYTES)))).toMatch(/larger than/);
    // Multi-byte characters count as bytes, not characters.
    expect(failure(parseCertificateRequestPem(validPem + "\u00e9".repeat(MAX_REQUEST_BYTES / 2)))).toMatch(
      /larger than/,
    );
  });
});

describe("interoperability with CSRs made by openssl", () => {
  let dir: string;
  const openssl = (...args: string[]): string =>
    execFileSync("openssl", args, { cwd: dir, encoding: "utf8" });

  beforeAll(() => {
    // No silent skip: without openssl this suite fails here, loudly.
    dir = mkdtempSync(join(tmpdir(), "csr-openssl-"));
    expect(openssl("version")).toMatch(/OpenSSL/);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function opensslCsr(key: KeyObject, extraArgs: string[] = []): string {
    writeFileSync(join(dir, "key.pem"), key.export({ type: "pkcs8", format: "pem" }));
    openssl(
      "req",
      "-new",
      "-key",
      "key.pem",
      "-subj",
      "/O=system:nodes/CN=system:node:ip-10-0-1-70.ec2.internal",
      "-addext",
      "subjectAltName=DNS:ip-10-0-1-70.ec2.internal,IP:10.0.1.70,IP:2001:DB8:0:0::0:1",
      ...extraArgs,
      "-out",
      "csr.pem",
    );
    return readFileSync(join(dir, "csr.pem"), "utf8");
  }

  it.each([
    [{ type: "ecdsa", curve: "P-256" } as KeySpec, ["-sha256"], "ecdsa-with-SHA256"],
    [{ type: "ecdsa", curve: "P-384" } as KeySpec, ["-sha384"], "ecdsa-with-SHA384"],
    [{ type: "rsa", bits: 2048 } as KeySpec, ["-sha256"], "sha256WithRSAEncryption"],
    [{ type: "ed25519" } as KeySpec, [], "Ed25519"],
  ])("%o: parses, verifies, and detects tampering", (keySpec, args, algorithm) => {
    const pem = opensslCsr(keyFor(keySpec), args);
    const request = parsed(parseCertificateRequest(toRequestField(pem)));
    expect(request.subject).toEqual({
      commonNames: ["system:node:ip-10-0-1-70.ec2.internal"],
      organizations: ["system:nodes"],
      other: [],
    });
    expect(request.sans).toEqual([
      { type: "dns", value: "ip-10-0-1-70.ec2.internal" },
      { type: "ip", value: "10.0.1.70", version: 4 },
      { type: "ip", value: "2001:db8::1", version: 6 },
    ]);
    expect(request.extensions).toEqual([{ oid: OID.subjectAltName, critical: false }]);
    expect(request.signatureAlgorithm).toBe(algorithm);
    expect(request.signatureValid).toBe(true);
    expect(parsed(parseCertificateRequest(tamperSignature(pem))).signatureValid).toBe(false);
    expect(parsed(parseCertificateRequest(tamperSubject(pem, "system:node:x"))).signatureValid).toBe(false);
  });

  it.each(["32", "digest", "max"])("RSA-PSS (SHA-256, salt length %s) verifies", (saltLength) => {
    const pem = opensslCsr(keyFor({ type: "rsa", bits: 2048 }), [
      "-sha256",
      "-sigopt",
      "rsa_padding_mode:pss",
      "-sigopt",
      `rsa_pss_saltlen:${saltLength}`,
    ]);
    const request = parsed(parseCertificateRequest(toRequestField(pem)));
    expect(request.signatureAlgorithm).toBe("RSASSA-PSS");
    expect(request.publicKey).toEqual({ algorithm: "rsa", bits: 2048 });
    expect(request.signatureValid).toBe(true);
    expect(parsed(parseCertificateRequest(tamperSignature(pem))).signatureValid).toBe(false);
  });

  it("RSA-PSS with an MGF1 hash different from the digest is not valid (unsupported)", () => {
    const pem = opensslCsr(keyFor({ type: "rsa", bits: 2048 }), [
      "-sha256",
      "-sigopt",
      "rsa_padding_mode:pss",
      "-sigopt",
      "rsa_mgf1_md:sha384",
    ]);
    const request = parsed(parseCertificateRequest(pem));
    expect(request.signatureValid).toBe(false);
    expect(request.signatureError).toMatch(/MGF1/);
  });

  it("our own CSRs pass openssl's verification (the factory is sound)", () => {
    for (const key of [
      { type: "ecdsa", curve: "P-521" },
      { type: "rsa", bits: 2048 },
      { type: "ed25519" },
    ] as const) {
      writeFileSync(join(dir, "ours.pem"), createCsrPem({ ...NODE_SUBJECT, ips: ["2001:db8::1"], key }));
      const output = execFileSync("sh", ["-c", "openssl req -in ours.pem -noout -verify 2>&1"], {
        cwd: dir,
        encoding: "utf8",
      });
      expect(output).toMatch(/verify OK/);
    }
  });
});

describe("factory round trip", () => {
  it("createCsrDer and createCsrPem agree", () => {
    const key = keyFor({ type: "ed25519" });
    const spec: CsrSpec = { ...NODE_SUBJECT, key: { type: "ed25519" }, privateKey: key };
    // Ed25519 signatures are deterministic, so the same spec gives the same bytes.
    expect(pemToDer(createCsrPem(spec)).equals(createCsrDer(spec))).toBe(true);
  });
});
