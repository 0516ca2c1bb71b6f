// Hostile and malformed PKCS#10 requests, built byte by byte: every check in request.ts with an
// input on each side of it, and the error text an operator reads (MALFORMED_REQUEST reason, or
// the signature error) asserted in full. Written against the mutation report (docs/mutation.md).
import { constants, createPublicKey, sign, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseCertificateRequest, parseCertificateRequestPem } from "../../functions/core/request.js";
import type { ParsedRequest, ParseResult } from "../../functions/core/types.js";
import {
  OID,
  attributeDer,
  createCsrPem,
  der,
  derToPem,
  extensionDer,
  keyFor,
  toRequestField,
} from "../support/csr-factory.js";

function parsed(result: ParseResult): ParsedRequest {
  if (!result.ok) throw new Error(`expected a parsed request, got: ${result.error}`);
  return result.request;
}

function failure(result: ParseResult): string {
  if (result.ok) throw new Error("expected a parse failure, got a parsed request");
  return result.error;
}

const spkiOf = (key: KeyObject): Buffer =>
  Buffer.from(createPublicKey(key).export({ type: "spki", format: "der" }));

const ecKey = keyFor({ type: "ecdsa", curve: "P-256" });
const ECDSA_SHA256 = "1.2.840.10045.4.3.2";

interface Parts {
  version?: Buffer;
  subject?: Buffer;
  spki?: Buffer;
  attributes?: Buffer | null;
  extraInfo?: Buffer[];
  algorithm?: Buffer;
  signature?: (info: Buffer) => Buffer;
}

/** A CSR assembled field by field; ECDSA P-256 / SHA-256 over the exact info bytes by default. */
function build(parts: Parts = {}): Buffer {
  return der.seq(...buildParts(parts));
}

/** The three parts of a request: info, signatureAlgorithm, signature. */
function buildParts(parts: Parts = {}): [Buffer, Buffer, Buffer] {
  const info = der.seq(
    parts.version ?? der.int0(),
    parts.subject ?? der.seq(),
    parts.spki ?? spkiOf(ecKey),
    ...(parts.attributes === null ? [] : [parts.attributes ?? der.tlv(0xa0, Buffer.alloc(0))]),
    ...(parts.extraInfo ?? []),
  );
  const algorithm = parts.algorithm ?? der.seq(der.oid(ECDSA_SHA256));
  const signature = parts.signature ? parts.signature(info) : der.bitString(sign("sha256", info, ecKey));
  return [info, algorithm, signature];
}

const parseDer = (bytes: Buffer): ParseResult => parseCertificateRequestPem(derToPem(bytes));
const request = (parts: Parts = {}): ParsedRequest => parsed(parseDer(build(parts)));
const error = (parts: Parts = {}): string => failure(parseDer(build(parts)));

const rdn = (oid: string, value: Buffer): Buffer => der.set(der.seq(der.oid(oid), value));
const int = (...bytes: number[]): Buffer => der.tlv(0x02, Buffer.from(bytes));
const attributes = (...items: Buffer[]): Buffer => der.tlv(0xa0, Buffer.concat(items));
const extensionRequest = (...extensions: Buffer[]): Buffer =>
  attributes(attributeDer(OID.extensionRequest, der.seq(...extensions)));
const sanExtension = (...names: Buffer[]): Buffer =>
  extensionRequest(extensionDer(OID.subjectAltName, der.seq(...names)));
const sans = (...names: Buffer[]): ParsedRequest["sans"] =>
  request({ attributes: sanExtension(...names) }).sans;
const sanError = (...names: Buffer[]): string => error({ attributes: sanExtension(...names) });

// ---------------------------------------------------------------------------------------
// RSASSA-PSS parameters (RFC 4055)
// ---------------------------------------------------------------------------------------

const rsaKey = keyFor({ type: "rsa", bits: 2048 });
const PSS = "1.2.840.113549.1.1.10";
const MGF1 = "1.2.840.113549.1.1.8";
const HASH_OID = {
  sha1: "1.3.14.3.2.26",
  sha224: "2.16.840.1.101.3.4.2.4",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
} as const;
type Hash = keyof typeof HASH_OID;

const hashId = (hash: Hash, ...parameters: Buffer[]): Buffer =>
  der.seq(der.oid(HASH_OID[hash]), ...parameters);
const mgf1 = (hash: Hash): Buffer => der.seq(der.oid(MGF1), hashId(hash));
const field = (n: number, ...inner: Buffer[]): Buffer => der.tlv(0xa0 + n, Buffer.concat(inner));

/** RSASSA-PSS-params with the given fields, in the order given. */
function pssParams(fields: { hash?: Buffer; mgf?: Buffer; salt?: Buffer; trailer?: Buffer }): Buffer {
  return der.seq(
    ...(fields.hash ? [field(0, fields.hash)] : []),
    ...(fields.mgf ? [field(1, fields.mgf)] : []),
    ...(fields.salt ? [field(2, fields.salt)] : []),
    ...(fields.trailer ? [field(3, fields.trailer)] : []),
  );
}

const SHA256_PSS = { hash: hashId("sha256"), mgf: mgf1("sha256"), salt: int(32) };

/** An RSA-PSS request whose AlgorithmIdentifier carries `parameters`, signed as told. */
function pss(
  parameters: Buffer | undefined,
  signedWith: { hash: Hash; saltLength: number } = { hash: "sha256", saltLength: 32 },
): ParsedRequest {
  return request({
    spki: spkiOf(rsaKey),
    algorithm: der.seq(der.oid(PSS), ...(parameters ? [parameters] : [])),
    signature: (info) =>
      der.bitString(
        sign(signedWith.hash, info, {
          key: rsaKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: signedWith.saltLength,
        }),
      ),
  });
}

function pssError(parameters: Buffer | undefined, signedWith?: { hash: Hash; saltLength: number }): string {
  const result = pss(parameters, signedWith);
  expect(result.signatureAlgorithm).toBe("RSASSA-PSS");
  expect(result.signatureValid).toBe(false);
  return result.signatureError ?? "";
}

describe("RSASSA-PSS parameters", () => {
  it("verifies with every field given explicitly", () => {
    for (const hash of ["sha1", "sha224", "sha256", "sha384", "sha512"] as const) {
      const result = pss(pssParams({ hash: hashId(hash), mgf: mgf1(hash), salt: int(20), trailer: int(1) }), {
        hash,
        saltLength: 20,
      });
      expect(result.signatureValid, hash).toBe(true);
      expect(result.signatureError).toBeUndefined();
    }
  });

  it("uses the RFC 4055 defaults for absent fields: SHA-1, MGF1 with SHA-1, a 20-byte salt", () => {
    expect(pss(der.seq(), { hash: "sha1", saltLength: 20 }).signatureValid).toBe(true);
    // Another salt length or hash than the defaults does not verify under them.
    expect(pssError(der.seq(), { hash: "sha1", saltLength: 32 })).toBe(
      "the signature does not verify against the request's public key",
    );
    expect(pssError(der.seq(), { hash: "sha1", saltLength: 0 })).toBe(
      "the signature does not verify against the request's public key",
    );
    expect(pssError(der.seq(), { hash: "sha256", saltLength: 20 })).toBe(
      "the signature does not verify against the request's public key",
    );
  });

  it("a hash given alone keeps the SHA-1 MGF1 default, which is unsupported unless it is SHA-1", () => {
    expect(pssError(pssParams({ hash: hashId("sha256") }))).toBe(
      "RSASSA-PSS with a different MGF1 hash is not supported",
    );
    expect(pss(pssParams({ hash: hashId("sha1") }), { hash: "sha1", saltLength: 20 }).signatureValid).toBe(
      true,
    );
    expect(pssError(pssParams({ mgf: mgf1("sha256") }), { hash: "sha1", saltLength: 20 })).toBe(
      "RSASSA-PSS with a different MGF1 hash is not supported",
    );
    expect(pssError(pssParams({ hash: hashId("sha256"), mgf: mgf1("sha384"), salt: int(32) }))).toBe(
      "RSASSA-PSS with a different MGF1 hash is not supported",
    );
  });

  it("the salt length is read from the parameters and must match the signature", () => {
    expect(
      pss(pssParams({ ...SHA256_PSS, salt: int(0) }), { hash: "sha256", saltLength: 0 }).signatureValid,
    ).toBe(true);
    expect(
      pss(pssParams({ ...SHA256_PSS, salt: int(0x00, 0x80) }), { hash: "sha256", saltLength: 128 })
        .signatureValid,
    ).toBe(true);
    expect(pssError(pssParams({ ...SHA256_PSS, salt: int(33) }))).toBe(
      "the signature does not verify against the request's public key",
    );
    // A two-byte length is 256 * high + low (276 here: too long for this key, so no match).
    expect(pssError(pssParams({ ...SHA256_PSS, salt: int(0x01, 0x14) }))).toBe(
      "the signature does not verify against the request's public key",
    );
  });

  it("a salt length or trailer field that is not a small non-negative DER INTEGER is refused", () => {
    expect(pssError(pssParams({ ...SHA256_PSS, salt: int(0xff) }))).toBe(
      "RSASSA-PSS salt length is negative",
    );
    expect(pssError(pssParams({ ...SHA256_PSS, salt: int(0x00, 0x20) }))).toBe(
      "RSASSA-PSS salt length is not minimal",
    );
    expect(pssError(pssParams({ ...SHA256_PSS, salt: der.tlv(0x02, Buffer.alloc(0)) }))).toBe(
      "RSASSA-PSS salt length is out of range",
    );
    expect(pssError(pssParams({ ...SHA256_PSS, salt: int(1, 0, 0, 0, 0) }))).toBe(
      "RSASSA-PSS salt length is out of range",
    );
    expect(pssError(pssParams({ ...SHA256_PSS, salt: der.tlv(0x0a, Buffer.from([32])) }))).toBe(
      "RSASSA-PSS salt length is missing or has the wrong type",
    );
    expect(pssError(pssParams({ ...SHA256_PSS, trailer: int(0x80) }))).toBe(
      "RSASSA-PSS trailer field is negative",
    );
  });

  it("the trailer field must be 1 (trailerFieldBC)", () => {
    expect(pss(pssParams({ ...SHA256_PSS, trailer: int(1) })).signatureValid).toBe(true);
    for (const trailer of [int(0), int(2), int(1, 0, 0, 1), int(0, 0x81)]) {
      expect(pssError(pssParams({ ...SHA256_PSS, trailer }))).toBe("unsupported trailer field");
    }
  });

  it("fields out of order, repeated, unknown or not explicitly tagged are malformed", () => {
    const malformed = "malformed RSASSA-PSS parameters";
    const hash = field(0, hashId("sha256"));
    const mgf = field(1, mgf1("sha256"));
    const salt = field(2, int(32));
    expect(pssError(der.seq(mgf, hash, salt))).toBe(malformed);
    expect(pssError(der.seq(hash, hash, mgf, salt))).toBe(malformed);
    expect(pssError(der.seq(hash, mgf, salt, salt))).toBe(malformed);
    expect(pssError(der.seq(hash, mgf, salt, field(4, int(1))))).toBe(malformed);
    expect(pssError(der.seq(hash, mgf, field(2, int(32), int(1))))).toBe(malformed);
    expect(pssError(der.seq(hash, mgf, field(2)))).toBe(malformed);
    expect(pssError(der.seq(hash, mgf, der.seq(int(32))))).toBe(malformed);
  });

  it("absent or non-SEQUENCE parameters are refused", () => {
    expect(pssError(undefined)).toBe("RSASSA-PSS parameters are missing");
    expect(pssError(der.nul())).toBe("RSASSA-PSS parameters are missing");
    expect(pssError(der.set(field(0, hashId("sha256"))))).toBe("RSASSA-PSS parameters are missing");
  });

  it("the hash AlgorithmIdentifier: a SEQUENCE of an OID and optional NULL parameters", () => {
    const withHash = (hash: Buffer): string => pssError(pssParams({ ...SHA256_PSS, hash }));
    expect(pss(pssParams({ ...SHA256_PSS, hash: hashId("sha256", der.nul()) })).signatureValid).toBe(true);
    expect(
      pss(
        pssParams({
          ...SHA256_PSS,
          hash: hashId("sha256", der.nul()),
          mgf: der.seq(der.oid(MGF1), hashId("sha256", der.nul())),
        }),
      ).signatureValid,
    ).toBe(true);
    expect(withHash(hashId("sha256", int(0)))).toBe("unexpected hash parameters in RSASSA-PSS parameters");
    expect(withHash(hashId("sha256", der.seq()))).toBe("unexpected hash parameters in RSASSA-PSS parameters");
    expect(withHash(hashId("sha256", der.tlv(0x05, Buffer.from([0]))))).toBe(
      "unexpected hash parameters in RSASSA-PSS parameters",
    );
    expect(withHash(der.seq())).toBe("malformed hash algorithm in RSASSA-PSS parameters");
    expect(withHash(hashId("sha256", der.nul(), der.nul()))).toBe(
      "malformed hash algorithm in RSASSA-PSS parameters",
    );
    expect(withHash(der.set(der.oid(HASH_OID.sha256)))).toBe(
      "malformed hash algorithm in RSASSA-PSS parameters",
    );
    expect(withHash(der.oid(HASH_OID.sha256))).toBe("malformed hash algorithm in RSASSA-PSS parameters");
    expect(withHash(der.seq(der.oid("1.2.840.113549.2.5")))).toBe(
      "unsupported RSASSA-PSS hash 1.2.840.113549.2.5",
    );
    expect(withHash(der.seq(int(1)))).toBe("hash algorithm is missing or has the wrong type");
  });

  it("the mask generation function: MGF1 with a hash AlgorithmIdentifier", () => {
    const withMgf = (mgf: Buffer): string => pssError(pssParams({ ...SHA256_PSS, mgf }));
    const unsupported = "unsupported RSASSA-PSS mask generation function";
    expect(withMgf(der.seq(der.oid("1.2.840.113549.1.1.9"), hashId("sha256")))).toBe(unsupported);
    expect(withMgf(der.set(der.oid(MGF1), hashId("sha256")))).toBe(unsupported);
    expect(withMgf(der.oid(MGF1))).toBe(unsupported);
    expect(withMgf(der.seq())).toBe("mask generation function is missing or has the wrong type");
    expect(withMgf(der.seq(der.oid(MGF1)))).toBe("malformed hash algorithm in RSASSA-PSS parameters");
    expect(withMgf(der.seq(der.oid(MGF1), der.oid(HASH_OID.sha256)))).toBe(
      "malformed hash algorithm in RSASSA-PSS parameters",
    );
  });

  it("RSASSA-PSS needs an RSA key", () => {
    const result = request({
      algorithm: der.seq(der.oid(PSS), pssParams(SHA256_PSS)),
    });
    expect(result.signatureValid).toBe(false);
    expect(result.signatureError).toBe("signature algorithm RSASSA-PSS does not match the ecdsa public key");
  });
});

// ---------------------------------------------------------------------------------------
// Keys and signature algorithms
// ---------------------------------------------------------------------------------------

describe("key and signature algorithm pairs", () => {
  const edKey = keyFor({ type: "ed25519" });
  const rsaSigned = (info: Buffer): Buffer => der.bitString(sign("sha256", info, rsaKey));
  const SHA256_RSA = "1.2.840.113549.1.1.11";

  it.each([
    ["Ed25519 over an RSA key", spkiOf(rsaKey), der.seq(der.oid("1.3.101.112")), "Ed25519", "rsa"],
    [
      "ECDSA over an Ed25519 key",
      spkiOf(edKey),
      der.seq(der.oid(ECDSA_SHA256)),
      "ecdsa-with-SHA256",
      "ed25519",
    ],
    [
      "PKCS#1 over an Ed25519 key",
      spkiOf(edKey),
      der.seq(der.oid(SHA256_RSA)),
      "sha256WithRSAEncryption",
      "ed25519",
    ],
    ["ECDSA over an RSA key", spkiOf(rsaKey), der.seq(der.oid(ECDSA_SHA256)), "ecdsa-with-SHA256", "rsa"],
    ["Ed25519 over an EC key", spkiOf(ecKey), der.seq(der.oid("1.3.101.112")), "Ed25519", "ecdsa"],
  ])("%s does not verify, and says why", (_name, spki, algorithm, scheme, keyType) => {
    const result = request({ spki, algorithm, signature: () => der.bitString(Buffer.alloc(64, 1)) });
    expect(result.signatureValid).toBe(false);
    expect(result.signatureError).toBe(
      `signature algorithm ${scheme} does not match the ${keyType} public key`,
    );
  });

  it("an ECDSA signature over a key on an unsupported curve has no key to check it with", () => {
    const secp256k1 = "1.3.132.0.10";
    const spki = der.seq(
      der.seq(der.oid("1.2.840.10045.2.1"), der.oid(secp256k1)),
      der.bitString(Buffer.alloc(65, 4)),
    );
    const result = request({ spki });
    expect(result.publicKey).toEqual({ algorithm: "ecdsa", curve: secp256k1 });
    expect(result.signatureError).toBe("ECDSA public keys on curve 1.3.132.0.10 are not supported");
  });

  it("EC keys with explicit or absent curve parameters are reported as such, never verified", () => {
    const point = der.bitString(Buffer.alloc(65, 4));
    for (const algorithm of [
      der.seq(der.oid("1.2.840.10045.2.1"), der.seq(int(1))),
      der.seq(der.oid("1.2.840.10045.2.1")),
      der.seq(der.oid("1.2.840.10045.2.1"), der.nul()),
    ]) {
      const result = request({ spki: der.seq(algorithm, point) });
      expect(result.publicKey).toEqual({ algorithm: "ecdsa", curve: "explicit-parameters" });
      expect(result.signatureValid).toBe(false);
      expect(result.signatureError).toBe("ECDSA public keys without a named curve are not supported");
    }
  });

  it("an EC key whose point is not on its named curve fails the parse", () => {
    const p256Point = spkiOf(ecKey).subarray(-65);
    const p384 = der.seq(
      der.seq(der.oid("1.2.840.10045.2.1"), der.oid("1.3.132.0.34")),
      der.bitString(p256Point),
    );
    expect(error({ spki: p384 })).toBe("the public key does not parse");
  });

  it("each supported curve is recognised by its OID", () => {
    for (const curve of ["P-256", "P-384", "P-521"] as const) {
      const key = keyFor({ type: "ecdsa", curve });
      const result = request({
        spki: spkiOf(key),
        signature: (info) => der.bitString(sign("sha256", info, key)),
      });
      expect(result.publicKey).toEqual({ algorithm: "ecdsa", curve });
      expect(result.signatureValid).toBe(true);
    }
  });

  it("an Ed25519 key with bad bytes fails the parse", () => {
    const spki = der.seq(der.seq(der.oid("1.3.101.112")), der.bitString(Buffer.alloc(5, 1)));
    expect(error({ spki })).toBe("the public key does not parse");
  });

  it("a malformed subjectPublicKeyInfo fails the parse", () => {
    expect(error({ spki: der.seq(der.seq(der.oid("1.3.101.112"))) })).toMatch(/subjectPublicKeyInfo|PKCS#10/);
  });

  it("PKCS#1 v1.5 signatures: absent or NULL parameters only", () => {
    const spki = spkiOf(rsaKey);
    expect(
      request({ spki, algorithm: der.seq(der.oid(SHA256_RSA)), signature: rsaSigned }).signatureValid,
    ).toBe(true);
    expect(
      request({ spki, algorithm: der.seq(der.oid(SHA256_RSA), der.nul()), signature: rsaSigned })
        .signatureValid,
    ).toBe(true);
    for (const parameters of [int(0), der.tlv(0x05, Buffer.from([0])), der.seq()]) {
      const result = request({
        spki,
        algorithm: der.seq(der.oid(SHA256_RSA), parameters),
        signature: rsaSigned,
      });
      expect(result.signatureValid).toBe(false);
      expect(result.signatureError).toBe("unexpected parameters for sha256WithRSAEncryption");
    }
  });

  it("ECDSA and Ed25519 signatures: no parameters at all, not even NULL", () => {
    expect(request({ algorithm: der.seq(der.oid(ECDSA_SHA256), der.nul()) }).signatureError).toBe(
      "unexpected parameters for ecdsa-with-SHA256",
    );
    const result = request({
      spki: spkiOf(edKey),
      algorithm: der.seq(der.oid("1.3.101.112"), der.nul()),
      signature: (info) => der.bitString(sign(null, info, edKey)),
    });
    expect(result.signatureError).toBe("unexpected parameters for Ed25519");
    expect(
      request({
        spki: spkiOf(edKey),
        algorithm: der.seq(der.oid("1.3.101.112")),
        signature: (info) => der.bitString(sign(null, info, edKey)),
      }).signatureValid,
    ).toBe(true);
  });

  it("names the reason a signature does not verify", () => {
    expect(
      request({ signature: (info) => der.bitString(sign("sha256", Buffer.concat([info, info]), ecKey)) })
        .signatureError,
    ).toBe("the signature does not verify against the request's public key");
    expect(
      request({
        signature: (info) => der.tlv(0x03, Buffer.concat([Buffer.from([1]), sign("sha256", info, ecKey)])),
      }).signatureError,
    ).toBe("the signature BIT STRING has unused bits");
    expect(request({ algorithm: der.seq(der.oid("1.2.3.4")) })).toMatchObject({
      signatureAlgorithm: "1.2.3.4",
      signatureValid: false,
      signatureError: "unsupported signature algorithm 1.2.3.4",
    });
  });

  it("a signature the crypto library cannot even read is not valid, and says so", () => {
    const result = request({
      spki: spkiOf(rsaKey),
      algorithm: der.seq(der.oid(PSS), pssParams({ ...SHA256_PSS, salt: int(0x7f, 0xff, 0xff, 0xff) })),
      signature: (info) =>
        der.bitString(sign("sha256", info, { key: rsaKey, padding: constants.RSA_PKCS1_PSS_PADDING })),
    });
    expect(result.signatureValid).toBe(false);
    expect(result.signatureError).toMatch(
      /^(the signature could not be checked: .+|the signature does not verify against the request's public key)$/,
    );
  });

  it("a one-byte signature BIT STRING is empty; two bytes are a (bad) signature", () => {
    expect(error({ signature: () => der.tlv(0x03, Buffer.from([0])) })).toBe("the signature is empty");
    expect(request({ signature: () => der.tlv(0x03, Buffer.from([0, 1])) }).signatureValid).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------
// Subject
// ---------------------------------------------------------------------------------------

describe("subject shapes", () => {
  const subject = (...rdns: Buffer[]): ParsedRequest["subject"] =>
    request({ subject: der.seq(...rdns) }).subject;
  const subjectError = (...rdns: Buffer[]): string => error({ subject: der.seq(...rdns) });

  it("an empty subject has no names", () => {
    expect(subject()).toEqual({ commonNames: [], organizations: [], other: [] });
  });

  it("names what is wrong with a CN or O", () => {
    expect(subjectError(rdn(OID.commonName, int(1)))).toBe("subject CN is not a readable string");
    expect(subjectError(rdn(OID.organization, int(1)))).toBe("subject O is not a readable string");
  });

  it("names a malformed RDN or attribute (shapes the schema parser lets through)", () => {
    expect(subjectError(der.set())).toBe("subject has a malformed RDN");
    expect(subjectError(der.set(der.seq(der.oid(OID.commonName), der.utf8("a"), der.utf8("b"))))).toBe(
      "subject has a malformed attribute",
    );
  });

  it("NumericString: digits and spaces only", () => {
    expect(subject(rdn("2.5.4.5", der.tlv(0x12, Buffer.from("0 9"))))).toMatchObject({
      other: [{ oid: "2.5.4.5", value: "0 9" }],
    });
    expect(subject(rdn(OID.commonName, der.tlv(0x12, Buffer.from("")))).commonNames).toEqual([""]);
    for (const text of ["a1", "1a", "1-2"]) {
      expect(subjectError(rdn(OID.commonName, der.tlv(0x12, Buffer.from(text))))).toBe(
        "subject CN is not a readable string",
      );
    }
  });

  it("PrintableString: its alphabet plus '*' and '&' as Go reads it", () => {
    const text = "Az09 '()+,-./:=?*&";
    expect(subject(rdn(OID.commonName, der.tlv(0x13, Buffer.from(text)))).commonNames).toEqual([text]);
    expect(subjectError(rdn(OID.commonName, der.tlv(0x13, Buffer.from("a_b"))))).toBe(
      "subject CN is not a readable string",
    );
  });

  it("IA5String: bytes up to 0x7f", () => {
    expect(subject(rdn(OID.commonName, der.tlv(0x16, Buffer.from([0x61, 0x7f])))).commonNames).toEqual([
      "a\u007f",
    ]);
    expect(subjectError(rdn(OID.commonName, der.tlv(0x16, Buffer.from([0x61, 0x80]))))).toBe(
      "subject CN is not a readable string",
    );
  });

  it("BMPString: UTF-16BE, a leading BOM kept, unpaired surrogates refused", () => {
    expect(
      subject(rdn(OID.commonName, der.tlv(0x1e, Buffer.from([0xfe, 0xff, 0, 0x61])))).commonNames,
    ).toEqual(["\ufeffa"]);
    expect(subjectError(rdn(OID.commonName, der.tlv(0x1e, Buffer.from([0xd8, 0x00, 0, 0x61]))))).toBe(
      "subject CN is not a readable string",
    );
  });

  it("UTF8String: a leading BOM is kept; TeletexString is Latin-1", () => {
    expect(
      subject(rdn(OID.organization, der.tlv(0x0c, Buffer.from([0xef, 0xbb, 0xbf, 0x61])))).organizations,
    ).toEqual(["\ufeffa"]);
    expect(subject(rdn(OID.organization, der.tlv(0x14, Buffer.from([0xff])))).organizations).toEqual([
      "\u00ff",
    ]);
  });

  it("other string types are not read (UniversalString), other attributes show them as hex", () => {
    const universal = der.tlv(0x1c, Buffer.from([0, 0, 0, 0x61]));
    expect(subjectError(rdn(OID.commonName, universal))).toBe("subject CN is not a readable string");
    expect(subject(rdn("2.5.4.11", universal)).other).toEqual([{ oid: "2.5.4.11", value: "#1c0400000061" }]);
  });
});

// ---------------------------------------------------------------------------------------
// Subject alternative names
// ---------------------------------------------------------------------------------------

describe("SAN shapes", () => {
  it("an empty GeneralNames has no SANs; an empty name is kept as it is", () => {
    expect(sans()).toEqual([]);
    expect(
      sans(der.tlv(0x82, Buffer.alloc(0)), der.tlv(0x81, Buffer.alloc(0)), der.tlv(0x86, Buffer.alloc(0))),
    ).toEqual([
      { type: "dns", value: "" },
      { type: "email", value: "" },
      { type: "uri", value: "" },
    ]);
  });

  it("email, DNS and URI SANs must be ASCII (0x7f is, 0x80 is not)", () => {
    expect(sans(der.tlv(0x81, Buffer.from([0x61, 0x7f])))).toEqual([{ type: "email", value: "a\u007f" }]);
    expect(sanError(der.tlv(0x81, Buffer.from([0x61, 0x80])))).toBe("email SAN is not ASCII");
    expect(sanError(der.tlv(0x82, Buffer.from([0x80])))).toBe("DNS SAN is not ASCII");
    expect(sanError(der.tlv(0x86, Buffer.from("h\u00e9", "latin1")))).toBe("URI SAN is not ASCII");
  });

  it.each([0, 3, 5, 15, 17])("an IP SAN of %i bytes names its length", (length) => {
    expect(sanError(der.tlv(0x87, Buffer.alloc(length, 1)))).toBe(
      `IP SAN has ${length} bytes, expected 4 or 16`,
    );
  });

  it("an unknown GeneralName tag is named in hex", () => {
    expect(sanError(der.tlv(0x89, Buffer.from([1])))).toBe(
      "subjectAltName has an unknown name type (tag 0x89)",
    );
    expect(sanError(der.tlv(0x80, Buffer.from([1])))).toBe(
      "subjectAltName has an unknown name type (tag 0x80)",
    );
    expect(sanError(der.tlv(0xa2, der.ia5("a.example")))).toBe(
      "subjectAltName has an unknown name type (tag 0xa2)",
    );
    expect(sanError(der.ia5("a.example"))).toBe("subjectAltName has an unknown name type (tag 0x16)");
  });

  it("otherName: a type OID and one explicitly tagged value; non-string values are shown without one", () => {
    const upn = der.oid(OID.upn);
    expect(sans(der.tlv(0xa0, Buffer.concat([upn, der.tlv(0xa0, int(5))])))).toEqual([
      { type: "other", value: `otherName:${OID.upn}` },
    ]);
    expect(sans(der.tlv(0xa0, Buffer.concat([upn, der.tlv(0xa0, der.utf8(""))])))).toEqual([
      { type: "other", value: `otherName:${OID.upn}=` },
    ]);
    const malformed = "otherName SAN is malformed";
    expect(sanError(der.tlv(0xa0, upn))).toBe(malformed);
    expect(sanError(der.tlv(0xa0, Buffer.concat([upn, der.tlv(0xa1, der.utf8("x"))])))).toBe(malformed);
    expect(sanError(der.tlv(0xa0, Buffer.concat([upn, der.tlv(0xa0, Buffer.alloc(0))])))).toBe(malformed);
    expect(
      sanError(
        der.tlv(0xa0, Buffer.concat([upn, der.tlv(0xa0, Buffer.concat([der.utf8("x"), der.utf8("y")]))])),
      ),
    ).toBe(malformed);
    expect(sanError(der.tlv(0xa0, Buffer.concat([upn, der.tlv(0xa0, der.utf8("x")), der.utf8("y")])))).toBe(
      malformed,
    );
    expect(sanError(der.tlv(0xa0, Buffer.concat([upn, der.tlv(0x80, der.utf8("x"))])))).toBe(malformed);
    expect(sanError(der.tlv(0xa0, Buffer.concat([der.utf8("x"), der.tlv(0xa0, der.utf8("x"))])))).toBe(
      "otherName type is missing or has the wrong type",
    );
  });

  it("directoryName: exactly one Name, described with short names or OIDs", () => {
    const name = der.seq(
      rdn(OID.organization, der.utf8("o")),
      rdn("2.5.4.6", der.tlv(0x13, Buffer.from("DE"))),
      rdn(OID.commonName, der.utf8("cn")),
      rdn("2.5.4.7", der.utf8("l")),
      rdn("2.5.4.8", der.utf8("st")),
      rdn("2.5.4.5", der.utf8("7")),
      rdn("1.2.840.113549.1.9.1", der.ia5("e@x")),
      rdn("2.5.4.11", der.utf8("ou")),
      rdn("1.2.3.4", der.utf8("z")),
    );
    expect(sans(der.tlv(0xa4, name))).toEqual([
      {
        type: "other",
        value: "directoryName:CN=cn,O=o,C=DE,L=l,ST=st,serialNumber=7,emailAddress=e@x,OU=ou,1.2.3.4=z",
      },
    ]);
    expect(sans(der.tlv(0xa4, der.seq()))).toEqual([{ type: "other", value: "directoryName:" }]);
    expect(sanError(der.tlv(0xa4, Buffer.alloc(0)))).toBe("directoryName SAN is malformed");
    expect(sanError(der.tlv(0xa4, Buffer.concat([der.seq(), der.seq()])))).toBe(
      "directoryName SAN is malformed",
    );
    expect(sanError(der.tlv(0xa4, der.set()))).toBe("directoryName SAN is missing or has the wrong type");
    // Inside a SAN only our reader looks at the Name: every shape error is its own.
    const directory = (...rdns: Buffer[]): string => sanError(der.tlv(0xa4, der.seq(...rdns)));
    expect(directory(der.set())).toBe("directoryName SAN has a malformed RDN");
    expect(directory(der.seq(der.seq(der.oid(OID.commonName), der.utf8("a"))))).toBe(
      "directoryName SAN has a malformed RDN",
    );
    expect(directory(der.set(der.set(der.oid(OID.commonName), der.utf8("a"))))).toBe(
      "directoryName SAN has a malformed attribute",
    );
    expect(directory(der.set(der.seq(der.oid(OID.commonName))))).toBe(
      "directoryName SAN has a malformed attribute",
    );
    expect(directory(der.set(der.seq(der.oid(OID.commonName), der.utf8("a"), der.utf8("b"))))).toBe(
      "directoryName SAN has a malformed attribute",
    );
    expect(directory(der.set(der.seq(der.utf8("2.5.4.3"), der.utf8("a"))))).toBe(
      "directoryName SAN attribute type is missing or has the wrong type",
    );
    expect(directory(rdn(OID.commonName, int(1)))).toBe("directoryName SAN CN is not a readable string");
    expect(directory(rdn(OID.organization, int(1)))).toBe("directoryName SAN O is not a readable string");
  });

  it("registeredID: the OID it carries, or a clear error", () => {
    expect(sans(der.tlv(0x88, der.oid("2.5.29.17").subarray(2)))).toEqual([
      { type: "other", value: "registeredID:2.5.29.17" },
    ]);
    expect(sanError(der.tlv(0x88, Buffer.alloc(0)))).toBe("registeredID SAN is not a valid OID");
  });

  it("the extension value must be one GeneralNames SEQUENCE", () => {
    const withValue = (value: Buffer): string =>
      error({ attributes: extensionRequest(extensionDer(OID.subjectAltName, value)) });
    expect(withValue(Buffer.alloc(0))).toBe("subjectAltName extension is empty");
    expect(withValue(der.set(der.tlv(0x82, Buffer.from("a"))))).toBe(
      "subjectAltName extension is missing or has the wrong type",
    );
    expect(withValue(der.tlv(0x82, Buffer.from("a")))).toBe(
      "subjectAltName extension is missing or has the wrong type",
    );
    expect(withValue(Buffer.concat([der.seq(), der.seq()]))).toBe(
      "subjectAltName extension has trailing bytes",
    );
  });
});

// ---------------------------------------------------------------------------------------
// Attributes and extensions
// ---------------------------------------------------------------------------------------

describe("attribute and extension shapes", () => {
  const keyUsage = (critical?: Buffer): Buffer =>
    der.seq(
      der.oid(OID.keyUsage),
      ...(critical ? [critical] : []),
      der.octet(der.tlv(0x03, Buffer.from([5, 0xa0]))),
    );

  it("reads the critical flag: absent, explicit FALSE, TRUE", () => {
    const extensions = request({
      attributes: extensionRequest(
        keyUsage(),
        der.seq(der.oid(OID.extKeyUsage), der.bool(false), der.octet(der.seq())),
        der.seq(der.oid("2.5.29.19"), der.bool(true), der.octet(der.seq())),
      ),
    }).extensions;
    expect(extensions).toEqual([
      { oid: OID.keyUsage, critical: false },
      { oid: OID.extKeyUsage, critical: false },
      { oid: "2.5.29.19", critical: true },
    ]);
  });

  it("a critical flag that is not a DER BOOLEAN is named", () => {
    for (const critical of [
      der.tlv(0x01, Buffer.from([1])),
      der.tlv(0x01, Buffer.from([0xff, 0xff])),
      der.tlv(0x01, Buffer.alloc(0)),
    ]) {
      expect(error({ attributes: extensionRequest(keyUsage(critical)) })).toBe(
        "critical is not a DER BOOLEAN",
      );
    }
    expect(error({ attributes: extensionRequest(keyUsage(int(1))) })).toBe(
      "critical is missing or has the wrong type",
    );
  });

  it("names a duplicated extension by its OID, whatever it is", () => {
    expect(error({ attributes: extensionRequest(keyUsage(), keyUsage()) })).toBe(
      `extension ${OID.keyUsage} is requested more than once`,
    );
  });

  it("a malformed extension is named", () => {
    const malformed = "a requested extension is malformed";
    expect(error({ attributes: extensionRequest(der.seq(der.oid(OID.keyUsage))) })).toBe(malformed);
    expect(
      error({
        attributes: extensionRequest(
          der.seq(der.oid(OID.keyUsage), der.bool(true), der.octet(der.seq()), der.nul()),
        ),
      }),
    ).toBe(malformed);
    expect(
      error({ attributes: extensionRequest(der.set(der.oid(OID.keyUsage), der.octet(der.seq()))) }),
    ).toBe(malformed);
    expect(error({ attributes: extensionRequest(der.seq(der.oid(OID.keyUsage), der.utf8("x"))) })).toBe(
      "extension value is missing or has the wrong type",
    );
    expect(error({ attributes: extensionRequest(der.seq(der.utf8("x"), der.octet(der.seq()))) })).toBe(
      "extension id is missing or has the wrong type",
    );
  });

  it("the extensionRequest value must be a SEQUENCE, exactly one", () => {
    expect(error({ attributes: attributes(attributeDer(OID.extensionRequest, der.set())) })).toBe(
      "extensionRequest is missing or has the wrong type",
    );
    expect(error({ attributes: attributes(attributeDer(OID.extensionRequest)) })).toBe(
      "the extensionRequest attribute must have exactly one value",
    );
    const one = der.seq(extensionDer(OID.subjectAltName, der.seq(der.tlv(0x82, Buffer.from("a.example")))));
    expect(error({ attributes: attributes(attributeDer(OID.extensionRequest, one, one)) })).toBe(
      "the extensionRequest attribute must have exactly one value",
    );
    expect(
      error({
        attributes: attributes(
          attributeDer(OID.extensionRequest, der.seq()),
          attributeDer(OID.extensionRequest, der.seq()),
        ),
      }),
    ).toBe("the extensionRequest attribute appears more than once");
  });

  it("an empty extensionRequest is no extensions", () => {
    expect(request({ attributes: attributes(attributeDer(OID.extensionRequest, der.seq())) })).toMatchObject({
      extensions: [],
      sans: [],
    });
  });

  it("a malformed attribute is named, even one that is not an extensionRequest", () => {
    const challenge = "1.2.840.113549.1.9.7";
    expect(error({ attributes: attributes(der.seq(der.oid(challenge))) })).toMatch(
      /^(an attribute is malformed|not a PKCS#10 certification request: .+)$/,
    );
    expect(error({ attributes: attributes(der.seq(der.oid(challenge), der.seq(der.utf8("x")))) })).toMatch(
      /^(attribute values is missing or has the wrong type|not a PKCS#10 certification request: .+)$/,
    );
  });

  it("the SAN extension is read wherever it sits among the extensions", () => {
    const result = request({
      attributes: extensionRequest(
        keyUsage(),
        extensionDer(OID.subjectAltName, der.seq(der.tlv(0x82, Buffer.from("a.example")))),
        extensionDer(OID.extKeyUsage, der.seq()),
      ),
    });
    expect(result.sans).toEqual([{ type: "dns", value: "a.example" }]);
    expect(result.extensions.map((extension) => extension.oid)).toEqual([
      OID.keyUsage,
      OID.subjectAltName,
      OID.extKeyUsage,
    ]);
  });
});

// ---------------------------------------------------------------------------------------
// The DER reader
// ---------------------------------------------------------------------------------------

/** An ignored attribute carrying `value`, to put arbitrary DER inside a request. */
const carrying = (value: Buffer): Buffer => attributes(attributeDer("1.2.840.113549.1.9.7", value));

describe("strict DER", () => {
  it("OIDs: the first two arcs at each boundary, long arcs, minimal encoding", () => {
    const registered = (content: number[]): ParsedRequest["sans"] =>
      sans(der.tlv(0x88, Buffer.from(content)));
    expect(registered([39])).toEqual([{ type: "other", value: "registeredID:0.39" }]);
    expect(registered([40])).toEqual([{ type: "other", value: "registeredID:1.0" }]);
    expect(registered([79])).toEqual([{ type: "other", value: "registeredID:1.39" }]);
    expect(registered([80])).toEqual([{ type: "other", value: "registeredID:2.0" }]);
    expect(registered([0x88, 0x37, 3])).toEqual([{ type: "other", value: "registeredID:2.999.3" }]);
    expect(registered([42, 0x81, 0x80, 0])).toEqual([{ type: "other", value: "registeredID:1.2.16384" }]);
    expect(registered([42, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0])).toEqual([
      { type: "other", value: `registeredID:1.2.${2n ** 63n}` },
    ]);
    expect(sanError(der.tlv(0x88, Buffer.from([42, 0x80, 1])))).toBe("registeredID SAN is not a minimal OID");
    expect(sanError(der.tlv(0x88, Buffer.from([0x80, 1])))).toBe("registeredID SAN is not a minimal OID");
    expect(sanError(der.tlv(0x88, Buffer.from([42, 0x81])))).toBe("registeredID SAN is not a valid OID");
  });

  it("INTEGERs: the version must be a minimal, small, non-negative 0", () => {
    expect(error({ version: int(0, 0) })).toBe("version is not minimal");
    expect(error({ version: int(0xff) })).toMatch(
      /^(version is negative|not a PKCS#10 certification request: .+)$/,
    );
    expect(error({ version: int(1) })).toBe("unsupported PKCS#10 version");
  });

  it("lengths: long forms up to 4 bytes, minimal, not truncated", () => {
    // A 128-byte value needs the long form 0x81 0x80 and parses.
    expect(request({ attributes: carrying(der.utf8("x".repeat(128))) }).signatureValid).toBe(true);
    const raw = (bytes: number[]): string => error({ attributes: carrying(Buffer.from(bytes)) });
    expect(raw([0x0c, 0x81, 0x05, 0x61, 0x61, 0x61, 0x61, 0x61])).toBe("DER length is not minimal");
    expect(raw([0x0c, 0x82, 0x00, 0x81, ...Buffer.alloc(0x81, 0x61)])).toBe("DER length is not minimal");
    expect(raw([0x0c, 0x85, 0, 0, 0, 0, 1, 0x61])).toBe("DER length is too large");
  });

  it("a child may not run past its parent's end", () => {
    // SET { UTF8String claiming 3 bytes but its SET holds only 2 } followed by more bytes of the info.
    const overrun = Buffer.from([0x31, 0x03, 0x0c, 0x03, 0x61]);
    expect(
      error({ attributes: attributes(Buffer.concat([der.seq(der.oid("1.2.840.113549.1.9.7"), overrun)])) }),
    ).toBe("DER is truncated");
  });

  it("a document cut inside a long length is truncated", () => {
    const full = build({ subject: der.seq(rdn(OID.commonName, der.utf8("x".repeat(200)))) });
    expect(full.length).toBeGreaterThan(256);
    expect(failure(parseDer(Buffer.from([0x30, 0x82, 0x01])))).toBe("DER is truncated");
    expect(failure(parseDer(full.subarray(0, 3)))).toBe("DER is truncated");
    expect(failure(parseDer(Buffer.from([0x30])))).toBe("DER is truncated");
  });

  it("high tag numbers and constructed universal types other than SEQUENCE and SET are refused", () => {
    const raw = (bytes: number[]): string => error({ attributes: carrying(Buffer.from(bytes)) });
    expect(raw([0x1f, 0x22, 0x01, 0x00])).toBe("DER uses a high tag number");
    expect(raw([0xbf, 0x22, 0x00])).toBe("DER uses a high tag number");
    expect(raw([0x24, 0x03, 0x04, 0x01, 0x61])).toBe("DER is not canonical");
    expect(raw([0x2c, 0x03, 0x0c, 0x01, 0x61])).toBe("DER is not canonical");
    expect(raw([0x3f, 0x22, 0x00])).toBe("DER uses a high tag number");
    expect(raw([0x5f, 0x22, 0x00])).toBe("DER uses a high tag number");
    // Application and context-specific tags may be either.
    expect(
      request({ attributes: carrying(Buffer.from([0x61, 0x03, 0x04, 0x01, 0x61])) }).signatureValid,
    ).toBe(true);
    expect(request({ attributes: carrying(Buffer.from([0x80, 0x01, 0x61])) }).signatureValid).toBe(true);
  });

  it(`nesting: 32 levels deep parse, 33 do not`, () => {
    // The value of an ignored attribute sits at depth 5 (request, info, attributes, attribute, SET).
    const nested = (depth: number): Buffer => {
      let node = der.nul();
      for (let level = 0; level < depth; level++) node = der.seq(node);
      return node;
    };
    expect(request({ attributes: carrying(nested(27)) }).signatureValid).toBe(true);
    expect(error({ attributes: carrying(nested(28)) })).toBe("DER nesting is too deep");
  });

  it("the request's outer shape is named", () => {
    const full = build();
    expect(failure(parseDer(der.seq(full.subarray(4))))).toMatch(
      /PKCS#10|certificationRequestInfo|signature/,
    );
    expect(failure(parseDer(der.set()))).toBe("not a PKCS#10 certification request");
    expect(failure(parseDer(der.seq(der.seq(), der.seq())))).toBe("not a PKCS#10 certification request");
    expect(failure(parseDer(der.seq(der.seq(), der.seq(), der.bitString(Buffer.from([1])), der.nul())))).toBe(
      "not a PKCS#10 certification request",
    );
    expect(failure(parseDer(der.seq(der.set(), der.seq(), der.bitString(Buffer.from([1])))))).toBe(
      "certificationRequestInfo is missing or has the wrong type",
    );
    expect(failure(parseDer(der.seq(der.seq(), der.set(), der.bitString(Buffer.from([1])))))).toBe(
      "signatureAlgorithm is missing or has the wrong type",
    );
    expect(failure(parseDer(der.seq(der.seq(), der.seq(), der.octet(Buffer.from([0, 1])))))).toBe(
      "signature is missing or has the wrong type",
    );
    expect(failure(parseDer(der.seq(der.seq(), der.seq(), der.bitString(Buffer.from([1])))))).toMatch(
      /^not a PKCS#10 certification request: .+/,
    );
  });

  it("an empty document is named", () => {
    expect(
      failure(
        parseCertificateRequestPem(
          "-----BEGIN CERTIFICATE REQUEST-----\n\n-----END CERTIFICATE REQUEST-----\n",
        ),
      ),
    ).toBe("PEM body is not valid base64");
  });
});

describe("shapes only our reader refuses (the schema parser lets them through)", () => {
  const ed = der.seq(der.oid("1.3.101.112"));
  const noOid = Buffer.from([0x06, 0x00]);

  it("names each malformed part", () => {
    expect(error({ spki: der.seq(ed, der.bitString(Buffer.alloc(32, 1)), der.nul()) })).toBe(
      "subjectPublicKeyInfo is malformed",
    );
    expect(error({ spki: der.seq(der.seq(noOid), der.bitString(Buffer.alloc(32, 1))) })).toBe(
      "public key algorithm is not a valid OID",
    );
    expect(
      error({
        spki: der.seq(der.seq(der.oid("1.2.840.10045.2.1"), noOid), der.bitString(Buffer.alloc(65, 4))),
      }),
    ).toBe("named curve is not a valid OID");
    expect(error({ extraInfo: [der.nul()] })).toBe("certificationRequestInfo is malformed");
    expect(error({ algorithm: der.seq(der.oid(ECDSA_SHA256), der.nul(), der.nul()) })).toBe(
      "signatureAlgorithm is malformed",
    );
    expect(error({ algorithm: der.seq(noOid) })).toBe("signature algorithm is not a valid OID");
    expect(
      error({ attributes: attributes(der.seq(der.oid("1.2.840.113549.1.9.7"), der.set(), der.nul())) }),
    ).toBe("an attribute is malformed");
    expect(error({ attributes: attributes(der.seq(noOid, der.set())) })).toBe(
      "attribute type is not a valid OID",
    );
    expect(error({ subject: der.seq(der.set(der.seq(noOid, der.utf8("a")))) })).toBe(
      "subject attribute type is not a valid OID",
    );
  });

  it("the request must be a SEQUENCE of three, with nothing after it", () => {
    expect(failure(parseDer(der.set(...buildParts())))).toBe("not a PKCS#10 certification request");
    expect(failure(parseDer(Buffer.concat([build(), der.nul()])))).toBe(
      "certification request has trailing bytes",
    );
  });

  it("what the schema parser refuses is named with its reason", () => {
    expect(error({ attributes: der.set() })).toMatch(
      /^not a PKCS#10 certification request: Data does not match to CertificationRequestInfo ASN1 schema/,
    );
  });

  it("a request whose signature verifies carries no signatureError at all", () => {
    expect("signatureError" in request()).toBe(false);
    expect("signatureError" in request({ algorithm: der.seq(der.oid("1.2.3.4")) })).toBe(true);
  });

  it("raw PEM text must start with the BEGIN line (after whitespace only), else it is read as base64", () => {
    const pem = derToPem(build());
    expect(parsed(parseCertificateRequest(pem)).signatureValid).toBe(true);
    expect(failure(parseCertificateRequest(`x\n${pem}`))).toBe("request is not valid base64");
  });
});

// ---------------------------------------------------------------------------------------
// Text layers and the error line
// ---------------------------------------------------------------------------------------

describe("text layers", () => {
  const validPem = createCsrPem({ commonName: "system:node:a", dnsNames: ["a.example"] });

  it("a byte-order mark before the PEM text is not whitespace", () => {
    expect(failure(parseCertificateRequest(toRequestField(`\ufeff${validPem}`)))).toBe(
      "malformed PEM block: BEGIN and END must be on their own lines, only whitespace outside",
    );
  });

  it("every kind of ASCII whitespace may surround the PEM block and its base64", () => {
    const spaced = `\f\v \t\r\n${validPem.replace(/(?<=[A-Za-z0-9+/=])\n/g, " \t\f\v\r\n")}\f\v\n`;
    expect(parsed(parseCertificateRequest(spaced)).signatureValid).toBe(true);
    expect(parsed(parseCertificateRequest(toRequestField(spaced))).signatureValid).toBe(true);
    const field = toRequestField(validPem);
    const folded = `\f\v ${field.match(/.{1,10}/g)?.join("\r\n\t\f\v ")}\n`;
    expect(parsed(parseCertificateRequest(folded)).signatureValid).toBe(true);
  });

  it("base64 of the wrong alphabet or padding is refused", () => {
    const field = toRequestField(validPem);
    expect(failure(parseCertificateRequest(field.replace(/\+/g, "-").replace(/\//g, "_") + "-_"))).toBe(
      "request is not valid base64",
    );
    expect(failure(parseCertificateRequest(`${field}====`))).toBe("request is not valid base64");
    expect(failure(parseCertificateRequest("=AAA"))).toBe("request is not valid base64");
    expect(failure(parseCertificateRequest("AA=A"))).toBe("request is not valid base64");
  });

  it("a label is quoted and cut at 40 characters; whitespace in it is folded", () => {
    const long = "X".repeat(45);
    const pem = validPem.replace(/CERTIFICATE REQUEST/g, long);
    expect(failure(parseCertificateRequestPem(pem))).toBe(
      `PEM block is "${"X".repeat(40)}…", expected "CERTIFICATE REQUEST"`,
    );
    const forty = "Y".repeat(40);
    expect(failure(parseCertificateRequestPem(validPem.replace(/CERTIFICATE REQUEST/g, forty)))).toBe(
      `PEM block is "${forty}", expected "CERTIFICATE REQUEST"`,
    );
    const spaced = validPem.replace(/CERTIFICATE REQUEST/g, "A \u2028\u00a0 B");
    expect(failure(parseCertificateRequestPem(spaced))).toBe(
      `PEM block is "A B", expected "CERTIFICATE REQUEST"`,
    );
  });

  it("the error line is at most 300 characters", () => {
    const oid = `1.2.${"9".repeat(400)}`;
    const extension = extensionDer(oid, der.seq());
    const result = error({ attributes: extensionRequest(extension, extension) });
    expect(result).toBe(`extension ${oid} is requested more than once`.slice(0, 300));
    expect(result).toHaveLength(300);
  });

  it("a request that is not a string is named", () => {
    expect(failure(parseCertificateRequest(null as unknown as string))).toBe("request is not a string");
    expect(failure(parseCertificateRequestPem({} as unknown as string))).toBe("request is not a string");
  });

  it("names the PEM problems", () => {
    expect(failure(parseCertificateRequestPem("nothing here"))).toBe("no PEM block found");
    expect(failure(parseCertificateRequestPem(validPem.replace(/-----END[^\n]*\n/, "")))).toBe(
      "PEM block is not terminated by exactly one END line",
    );
    expect(failure(parseCertificateRequestPem(`${validPem}-----END CERTIFICATE REQUEST-----\n`))).toBe(
      "PEM block is not terminated by exactly one END line",
    );
    expect(
      failure(parseCertificateRequestPem(validPem.replace("END CERTIFICATE REQUEST", "END CERTIFICATE"))),
    ).toBe("PEM BEGIN and END labels differ");
    expect(
      failure(parseCertificateRequestPem(validPem.replace("REQUEST-----\n", "REQUEST-----\nA: b\n"))),
    ).toBe("PEM headers are not allowed in a CERTIFICATE REQUEST block");
    expect(failure(parseCertificateRequest(Buffer.from([0xc3, 0x28]).toString("base64")))).toBe(
      "request does not decode to PEM text",
    );
    expect(failure(parseCertificateRequestPem(`${validPem}${validPem}${validPem}`))).toBe(
      "expected exactly one PEM block, found 3",
    );
  });
});
