// PKCS#10 parsing for `spec.request`. Pure: no I/O; node:crypto only verifies the signature.
//
// Two readers look at every request: a strict DER walker of our own (definite minimal
// lengths, no trailing bytes, no BER-only forms) from which every value the policy sees is
// taken, and @peculiar/asn1-csr as a second opinion that the bytes really are a PKCS#10
// CertificationRequest. Strict DER has one encoding per value, so the two cannot disagree on
// what the bytes mean, and neither can the Go signer that later issues the certificate.
//
// Decisions worth knowing:
// - An IP SAN must be 4 or 16 bytes; any other length fails the parse (Go's x509, which
//   the kube-controller-manager signer uses, rejects such a CSR as well).
// - IPv4-mapped IPv6 addresses stay IPv6 ("::ffff:10.0.0.1", version 6): the instance owns
//   the IPv4 address, not this spelling, so the conservative reading is "not owned".
// - A duplicated extensionRequest attribute, an extensionRequest with more than one value,
//   or a duplicated extension (e.g. two SAN extensions) fails the parse: Go would keep only
//   the last SAN extension, a reader that kept the first would see different names.
// - CN and O values must be a string type Go can read (UTF8, Printable, IA5, Teletex, BMP,
//   Numeric); other subject attributes that are not strings are shown as "#<hex DER>".
import { formatIpBytes } from "./ip.js";
import { constants, createPublicKey, verify, type KeyObject } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificationRequest } from "@peculiar/asn1-csr";
import type { ParseResult, ParsedRequest, PublicKeyInfo, SubjectAltName } from "./types.js";

export const MAX_REQUEST_BYTES = 65536;

const PEM_LABEL = "CERTIFICATE REQUEST";
const MAX_DER_DEPTH = 32;

class MalformedRequest extends Error {}

function fail(message: string): never {
  throw new MalformedRequest(message);
}

/** A short, single-line rendering of untrusted text for error messages. */
function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

// ---------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------

/** `request` is spec.request as the Kubernetes JSON carries it (base64 of the PEM); raw PEM is accepted too. */
export function parseCertificateRequest(request: string): ParseResult {
  return guarded(() => {
    if (typeof request !== "string") fail("request is not a string");
    checkSize(request);
    if (/^[ \t\r\n\f\v]*-----BEGIN /.test(request)) return parsePem(request);
    const bytes = decodeBase64Strict(request, "request is not valid base64");
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      fail("request does not decode to PEM text");
    }
    return parsePem(text);
  });
}

export function parseCertificateRequestPem(pem: string): ParseResult {
  return guarded(() => {
    if (typeof pem !== "string") fail("request is not a string");
    checkSize(pem);
    return parsePem(pem);
  });
}

function guarded(parse: () => ParsedRequest): ParseResult {
  try {
    return { ok: true, request: parse() };
  } catch (error) {
    // Every parse step turns its library's errors into a MalformedRequest: its message says why.
    const message = String((error as Error).message);
    return { ok: false, error: message.replace(/\s+/g, " ").slice(0, 300) };
  }
}

function checkSize(text: string): void {
  if (Buffer.byteLength(text) > MAX_REQUEST_BYTES) fail(`request is larger than ${MAX_REQUEST_BYTES} bytes`);
}

// ---------------------------------------------------------------------------------------
// Text layers: base64 and PEM
// ---------------------------------------------------------------------------------------

function decodeBase64Strict(text: string, error: string): Buffer {
  const compact = text.replace(/[ \t\r\n\f\v]/g, "");
  const bytes = Buffer.from(compact, "base64");
  // Only canonical base64 survives the round trip: Buffer.from skips characters outside the
  // alphabet and reads missing padding or non-zero padding bits, which would let two texts
  // decode to the same bytes.
  if (bytes.length === 0 || bytes.toString("base64") !== compact) fail(error);
  return bytes;
}

const PEM_BLOCK =
  /^[ \t\r\n\f\v]*-----BEGIN ([^\r\n]*?)-----[ \t]*\r?\n([\s\S]*?)(?<=\n)-----END ([^\r\n]*?)-----[ \t\r\n\f\v]*$/;

function parsePem(text: string): ParsedRequest {
  const begins = text.match(/-----BEGIN /g)?.length ?? 0;
  if (begins === 0) fail("no PEM block found");
  if (begins > 1) fail(`expected exactly one PEM block, found ${begins}`);
  const ends = text.match(/-----END /g)?.length ?? 0;
  if (ends !== 1) fail("PEM block is not terminated by exactly one END line");
  const match = PEM_BLOCK.exec(text);
  if (!match) fail("malformed PEM block: BEGIN and END must be on their own lines, only whitespace outside");
  // No group of PEM_BLOCK is optional: a match defines all three.
  const [, label, body, endLabel] = match as unknown as [string, string, string, string];
  if (label !== endLabel) fail("PEM BEGIN and END labels differ");
  if (label !== PEM_LABEL) fail(`PEM block is ${quote(label)}, expected "${PEM_LABEL}"`);
  if (body.includes(":")) fail("PEM headers are not allowed in a CERTIFICATE REQUEST block");
  return parseDer(decodeBase64Strict(body, "PEM body is not valid base64"));
}

// ---------------------------------------------------------------------------------------
// Strict DER reader
// ---------------------------------------------------------------------------------------

interface Node {
  tag: number;
  bytes: Buffer; // the whole TLV
  content: Buffer;
  children: Node[]; // constructed nodes only
}

function isConstructed(tag: number): boolean {
  return (tag & 0x20) !== 0;
}

function readNode(input: Buffer, offset: number, depth: number): Node {
  if (depth > MAX_DER_DEPTH) fail("DER nesting is too deep");
  const first = input[offset + 1];
  if (first === undefined) fail("DER is truncated"); // then the tag is missing too, or alone
  const tag = input[offset] as number;
  if ((tag & 0x1f) === 0x1f) fail("DER uses a high tag number");
  // Universal constructed forms other than SEQUENCE/SET are BER only (segmented strings).
  if ((tag & 0xc0) === 0 && isConstructed(tag) !== (tag === 0x30 || tag === 0x31))
    fail("DER is not canonical");
  let length = first;
  let headerLength = 2;
  if (first === 0x80) fail("DER uses an indefinite length");
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count > 4) fail("DER length is too large");
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = input[offset + 2 + i];
      if (byte === undefined) fail("DER is truncated");
      if (i === 0 && byte === 0) fail("DER length is not minimal");
      length = length * 256 + byte;
    }
    if (length < 0x80) fail("DER length is not minimal");
    headerLength += count;
  }
  const contentStart = offset + headerLength;
  const end = contentStart + length;
  if (end > input.length) fail("DER is truncated");
  const node: Node = {
    tag,
    bytes: input.subarray(offset, end),
    content: input.subarray(contentStart, end),
    children: [],
  };
  if (isConstructed(tag)) {
    for (let at = contentStart; at < end;) {
      const child = readNode(input.subarray(0, end), at, depth + 1);
      node.children.push(child);
      at += child.bytes.length;
    }
  }
  return node;
}

/** Exactly one DER element filling `input`. */
function readDocument(input: Buffer, what: string): Node {
  if (input.length === 0) fail(`${what} is empty`);
  const node = readNode(input, 0, 0);
  if (node.bytes.length !== input.length) fail(`${what} has trailing bytes`);
  return node;
}

function expect(node: Node | undefined, tag: number, what: string): Node {
  if (!node || node.tag !== tag) fail(`${what} is missing or has the wrong type`);
  return node;
}

function readOid(node: Node | undefined, what: string): string {
  const content = expect(node, 0x06, what).content;
  if (content.length === 0 || (content[content.length - 1] ?? 0) & 0x80) fail(`${what} is not a valid OID`);
  const arcs: bigint[] = [];
  let value = 0n;
  let fresh = true;
  for (const byte of content) {
    if (fresh && byte === 0x80) fail(`${what} is not a minimal OID`);
    value = (value << 7n) | BigInt(byte & 0x7f);
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0n;
    }
  }
  const [head = 0n, ...rest] = arcs;
  const first = head < 40n ? 0n : head < 80n ? 1n : 2n;
  return [first, head - first * 40n, ...rest].join(".");
}

function readBoolean(node: Node, what: string): boolean {
  const content = expect(node, 0x01, what).content;
  if (content.length !== 1 || (content[0] !== 0x00 && content[0] !== 0xff))
    fail(`${what} is not a DER BOOLEAN`);
  return content[0] === 0xff;
}

function readSmallInteger(node: Node | undefined, what: string): number {
  const content = expect(node, 0x02, what).content;
  if (content.length === 0 || content.length > 4) fail(`${what} is out of range`);
  if ((content[0] ?? 0) & 0x80) fail(`${what} is negative`);
  if (content.length > 1 && content[0] === 0 && !((content[1] ?? 0) & 0x80)) fail(`${what} is not minimal`);
  return content.reduce((total, byte) => total * 256 + byte, 0);
}

// ---------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?*&]*$/; // Go also accepts '*' and '&'

/** The text of an ASN.1 string the Go x509 package reads, or undefined for any other type. */
function readString(node: Node): string | undefined {
  const bytes = node.content;
  try {
    switch (node.tag) {
      case 0x0c: // UTF8String; keep a BOM: it is part of the value, not a byte-order hint
        return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
      case 0x13: {
        const text = bytes.toString("latin1");
        return PRINTABLE.test(text) ? text : undefined;
      }
      case 0x12: {
        const text = bytes.toString("latin1");
        return /^[0-9 ]*$/.test(text) ? text : undefined;
      }
      case 0x16: // IA5String
        return bytes.every((byte) => byte < 0x80) ? bytes.toString("latin1") : undefined;
      case 0x14: // TeletexString, read as Latin-1 like Go does
        return bytes.toString("latin1");
      case 0x1e: // BMPString; the fatal decoder refuses an odd byte count
        return new TextDecoder("utf-16be", { fatal: true, ignoreBOM: true }).decode(bytes);
    }
  } catch {
    // Not a valid string of its type: unreadable, like any other type (below).
  }
  return undefined;
}

function ia5(node: Node, what: string): string {
  if (!node.content.every((byte) => byte < 0x80)) fail(`${what} is not ASCII`);
  return node.content.toString("latin1");
}

// ---------------------------------------------------------------------------------------
// Subject
// ---------------------------------------------------------------------------------------

const OID_CN = "2.5.4.3";
const OID_O = "2.5.4.10";
const SHORT_NAMES: Record<string, string> = {
  [OID_CN]: "CN",
  [OID_O]: "O",
  "2.5.4.11": "OU",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.5": "serialNumber",
  "1.2.840.113549.1.9.1": "emailAddress",
};

type Subject = ParsedRequest["subject"];

function readName(node: Node, what: string): Subject {
  const subject: Subject = { commonNames: [], organizations: [], other: [] };
  for (const rdn of expect(node, 0x30, what).children) {
    if (rdn.tag !== 0x31 || rdn.children.length === 0) fail(`${what} has a malformed RDN`);
    for (const atv of rdn.children) {
      if (atv.tag !== 0x30 || atv.children.length !== 2) fail(`${what} has a malformed attribute`);
      const oid = readOid(atv.children[0], `${what} attribute type`);
      const valueNode = atv.children[1] as Node;
      const value = readString(valueNode);
      if (oid === OID_CN || oid === OID_O) {
        if (value === undefined) fail(`${what} ${SHORT_NAMES[oid]} is not a readable string`);
        (oid === OID_CN ? subject.commonNames : subject.organizations).push(value);
      } else {
        subject.other.push({ oid, value: value ?? `#${valueNode.bytes.toString("hex")}` });
      }
    }
  }
  return subject;
}

function describeName(subject: Subject): string {
  const parts = [
    ...subject.commonNames.map((value) => `CN=${value}`),
    ...subject.organizations.map((value) => `O=${value}`),
    ...subject.other.map(({ oid, value }) => `${SHORT_NAMES[oid] ?? oid}=${value}`),
  ];
  return parts.join(",");
}

// ---------------------------------------------------------------------------------------
// Subject alternative names
// ---------------------------------------------------------------------------------------

function readGeneralNames(extnValue: Buffer): SubjectAltName[] {
  const names = readDocument(extnValue, "subjectAltName extension");
  const sans: SubjectAltName[] = [];
  for (const name of expect(names, 0x30, "subjectAltName extension").children) {
    switch (name.tag) {
      case 0x81:
        sans.push({ type: "email", value: ia5(name, "email SAN") });
        break;
      case 0x82:
        sans.push({ type: "dns", value: ia5(name, "DNS SAN") });
        break;
      case 0x86:
        sans.push({ type: "uri", value: ia5(name, "URI SAN") });
        break;
      case 0x87: {
        const ip = formatIpBytes(name.content);
        if (!ip) fail(`IP SAN has ${name.content.length} bytes, expected 4 or 16`);
        sans.push({ type: "ip", ...ip });
        break;
      }
      case 0xa0: {
        // With fewer than 2 children the wrapper stands in as itself: the length test refuses it.
        const [typeId, wrapper = name] = name.children;
        const oid = readOid(typeId, "otherName type");
        if (name.children.length !== 2 || wrapper.tag !== 0xa0 || wrapper.children.length !== 1) {
          fail("otherName SAN is malformed");
        }
        const text = wrapper.children[0] ? readString(wrapper.children[0]) : undefined;
        sans.push({ type: "other", value: `otherName:${oid}${text === undefined ? "" : `=${text}`}` });
        break;
      }
      case 0xa3:
        sans.push({ type: "other", value: "x400Address" });
        break;
      case 0xa4: {
        if (name.children.length !== 1) fail("directoryName SAN is malformed");
        sans.push({
          type: "other",
          value: `directoryName:${describeName(readName(name.children[0] as Node, "directoryName SAN"))}`,
        });
        break;
      }
      case 0xa5:
        sans.push({ type: "other", value: "ediPartyName" });
        break;
      case 0x88:
        sans.push({
          type: "other",
          value: `registeredID:${readOid({ ...name, tag: 0x06 }, "registeredID SAN")}`,
        });
        break;
      default:
        fail(`subjectAltName has an unknown name type (tag 0x${name.tag.toString(16)})`);
    }
  }
  return sans;
}

// ---------------------------------------------------------------------------------------
// Attributes and requested extensions
// ---------------------------------------------------------------------------------------

const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const OID_SAN = "2.5.29.17";

function readAttributes(node: Node | undefined): {
  extensions: ParsedRequest["extensions"];
  sans: SubjectAltName[];
} {
  const extensions: ParsedRequest["extensions"] = [];
  let sans: SubjectAltName[] = [];
  if (!node) return { extensions, sans };
  let seenExtensionRequest = false;
  for (const attribute of expect(node, 0xa0, "attributes").children) {
    if (attribute.tag !== 0x30 || attribute.children.length !== 2) fail("an attribute is malformed");
    const oid = readOid(attribute.children[0], "attribute type");
    const values = expect(attribute.children[1], 0x31, "attribute values");
    if (oid !== OID_EXTENSION_REQUEST) continue;
    if (seenExtensionRequest) fail("the extensionRequest attribute appears more than once");
    seenExtensionRequest = true;
    if (values.children.length !== 1) fail("the extensionRequest attribute must have exactly one value");
    const seen = new Set<string>();
    for (const extension of expect(values.children[0], 0x30, "extensionRequest").children) {
      if (extension.tag !== 0x30 || extension.children.length < 2 || extension.children.length > 3) {
        fail("a requested extension is malformed");
      }
      const extnId = readOid(extension.children[0], "extension id");
      const critical =
        extension.children.length === 3 ? readBoolean(extension.children[1] as Node, "critical") : false;
      const extnValue = expect(extension.children[extension.children.length - 1], 0x04, "extension value");
      if (seen.has(extnId)) fail(`extension ${extnId} is requested more than once`);
      seen.add(extnId);
      extensions.push({ oid: extnId, critical });
      if (extnId === OID_SAN) sans = readGeneralNames(extnValue.content);
    }
  }
  return { extensions, sans };
}

// ---------------------------------------------------------------------------------------
// Public key
// ---------------------------------------------------------------------------------------

const OID_RSA = "1.2.840.113549.1.1.1";
const OID_EC = "1.2.840.10045.2.1";
const OID_ED25519 = "1.3.101.112";
const CURVES: Record<string, { name: string; node: string }> = {
  "1.2.840.10045.3.1.7": { name: "P-256", node: "prime256v1" },
  "1.3.132.0.34": { name: "P-384", node: "secp384r1" },
  "1.3.132.0.35": { name: "P-521", node: "secp521r1" },
};

function readPublicKey(spki: Node): { info: PublicKeyInfo; key?: KeyObject } {
  if (spki.tag !== 0x30 || spki.children.length !== 2) fail("subjectPublicKeyInfo is malformed");
  const algorithm = expect(spki.children[0], 0x30, "public key algorithm");
  expect(spki.children[1], 0x03, "public key");
  const oid = readOid(algorithm.children[0], "public key algorithm");
  const parameters = algorithm.children[1];
  if (oid !== OID_RSA && oid !== OID_EC && oid !== OID_ED25519) return { info: { algorithm: "other", oid } };

  let curve: { name: string; node: string } | undefined;
  if (oid === OID_EC) {
    if (parameters?.tag !== 0x06) return { info: { algorithm: "ecdsa", curve: "explicit-parameters" } };
    const curveOid = readOid(parameters, "named curve");
    curve = CURVES[curveOid];
    if (!curve) return { info: { algorithm: "ecdsa", curve: curveOid } };
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki.bytes, format: "der", type: "spki" });
  } catch {
    fail("the public key does not parse");
  }
  // createPublicKey reads an SPKI as the key its algorithm OID names (an rsaEncryption key
  // with its modulus, an EC key on the named curve read above), or throws (caught above).
  if (oid === OID_RSA) {
    const { modulusLength } = key.asymmetricKeyDetails as { modulusLength: number };
    return { info: { algorithm: "rsa", bits: modulusLength }, key };
  }
  if (curve) return { info: { algorithm: "ecdsa", curve: curve.name }, key };
  return { info: { algorithm: "ed25519" }, key };
}

// ---------------------------------------------------------------------------------------
// Signature
// ---------------------------------------------------------------------------------------

type SignatureScheme =
  | { name: string; kind: "rsa-pkcs1" | "ecdsa"; hash: string }
  | { name: string; kind: "ed25519"; hash: null }
  | { name: string; kind: "rsa-pss" };

const SIGNATURE_SCHEMES: Record<string, SignatureScheme> = {
  "1.2.840.113549.1.1.5": { name: "sha1WithRSAEncryption", kind: "rsa-pkcs1", hash: "sha1" },
  "1.2.840.113549.1.1.14": { name: "sha224WithRSAEncryption", kind: "rsa-pkcs1", hash: "sha224" },
  "1.2.840.113549.1.1.11": { name: "sha256WithRSAEncryption", kind: "rsa-pkcs1", hash: "sha256" },
  "1.2.840.113549.1.1.12": { name: "sha384WithRSAEncryption", kind: "rsa-pkcs1", hash: "sha384" },
  "1.2.840.113549.1.1.13": { name: "sha512WithRSAEncryption", kind: "rsa-pkcs1", hash: "sha512" },
  "1.2.840.113549.1.1.10": { name: "RSASSA-PSS", kind: "rsa-pss" },
  "1.2.840.10045.4.1": { name: "ecdsa-with-SHA1", kind: "ecdsa", hash: "sha1" },
  "1.2.840.10045.4.3.1": { name: "ecdsa-with-SHA224", kind: "ecdsa", hash: "sha224" },
  "1.2.840.10045.4.3.2": { name: "ecdsa-with-SHA256", kind: "ecdsa", hash: "sha256" },
  "1.2.840.10045.4.3.3": { name: "ecdsa-with-SHA384", kind: "ecdsa", hash: "sha384" },
  "1.2.840.10045.4.3.4": { name: "ecdsa-with-SHA512", kind: "ecdsa", hash: "sha512" },
  [OID_ED25519]: { name: "Ed25519", kind: "ed25519", hash: null },
};

const HASHES: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.4": "sha224",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
const OID_MGF1 = "1.2.840.113549.1.1.8";

class Unverifiable extends Error {}

/** A hash AlgorithmIdentifier, whose parameters may only be absent or NULL. */
function readHash(node: Node | undefined): string {
  if (!node || node.tag !== 0x30 || node.children.length < 1 || node.children.length > 2) {
    throw new Unverifiable("malformed hash algorithm in RSASSA-PSS parameters");
  }
  const oid = readOid(node.children[0], "hash algorithm");
  const parameters = node.children[1];
  if (parameters && !(parameters.tag === 0x05 && parameters.content.length === 0)) {
    throw new Unverifiable("unexpected hash parameters in RSASSA-PSS parameters");
  }
  const hash = HASHES[oid];
  if (!hash) throw new Unverifiable(`unsupported RSASSA-PSS hash ${oid}`);
  return hash;
}

/** RSASSA-PSS-params (RFC 4055), with its SHA-1 / MGF1-SHA-1 / 20-byte salt defaults. */
function readPssParameters(parameters: Node | undefined): { hash: string; saltLength: number } {
  let hash = "sha1";
  let mgfHash = "sha1";
  let saltLength = 20;
  if (!parameters || parameters.tag !== 0x30) throw new Unverifiable("RSASSA-PSS parameters are missing");
  // Fields are context tags [0]..[3] (0xa0..0xa3), in order; any other tag fails below.
  let lastTag = 0;
  for (const field of parameters.children) {
    if (field.tag <= lastTag || field.children.length !== 1)
      throw new Unverifiable("malformed RSASSA-PSS parameters");
    lastTag = field.tag;
    const inner = field.children[0] as Node;
    if (field.tag === 0xa0) hash = readHash(inner);
    else if (field.tag === 0xa1) {
      if (inner.tag !== 0x30 || readOid(inner.children[0], "mask generation function") !== OID_MGF1) {
        throw new Unverifiable("unsupported RSASSA-PSS mask generation function");
      }
      mgfHash = readHash(inner.children[1]);
    } else if (field.tag === 0xa2) saltLength = readSmallInteger(inner, "RSASSA-PSS salt length");
    else if (field.tag === 0xa3) {
      if (readSmallInteger(inner, "RSASSA-PSS trailer field") !== 1)
        throw new Unverifiable("unsupported trailer field");
    } else throw new Unverifiable("malformed RSASSA-PSS parameters");
  }
  // node:crypto (OpenSSL) uses the signature hash for MGF1 too.
  if (mgfHash !== hash) throw new Unverifiable("RSASSA-PSS with a different MGF1 hash is not supported");
  return { hash, saltLength };
}

function checkSignature(
  scheme: SignatureScheme | undefined,
  algorithmOid: string,
  parameters: Node | undefined,
  publicKey: { info: PublicKeyInfo; key?: KeyObject },
  signed: Buffer,
  signatureBits: Buffer,
): { valid: boolean; error?: string } {
  try {
    if (!scheme) throw new Unverifiable(`unsupported signature algorithm ${algorithmOid}`);
    const { key, info } = publicKey;
    const expected = scheme.kind === "ecdsa" ? "ecdsa" : scheme.kind === "ed25519" ? "ed25519" : "rsa";
    if (info.algorithm !== expected) {
      throw new Unverifiable(
        `signature algorithm ${scheme.name} does not match the ${info.algorithm} public key`,
      );
    }
    // Only an EC key on a curve we do not read has no key object: say which curve.
    if (!key) {
      const { curve } = info as { curve: string }; // only an ecdsa key info lacks a key object

      throw new Unverifiable(
        curve === "explicit-parameters"
          ? "ECDSA public keys without a named curve are not supported"
          : `ECDSA public keys on curve ${curve} are not supported`,
      );
    }
    const nullParameters = parameters?.tag === 0x05 && parameters.content.length === 0;
    if (
      scheme.kind === "rsa-pkcs1" ? parameters && !nullParameters : scheme.kind !== "rsa-pss" && parameters
    ) {
      throw new Unverifiable(`unexpected parameters for ${scheme.name}`);
    }
    if (signatureBits[0] !== 0) throw new Unverifiable("the signature BIT STRING has unused bits");
    const signature = signatureBits.subarray(1);
    let valid: boolean;
    if (scheme.kind === "rsa-pss") {
      const { hash, saltLength } = readPssParameters(parameters);
      valid = verify(hash, signed, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature);
    } else valid = verify(scheme.hash, signed, key, signature); // Ed25519: no hash (null)
    return valid
      ? { valid }
      : { valid, error: "the signature does not verify against the request's public key" };
  } catch (error) {
    // Only Unverifiable and MalformedRequest errors get here: verify() does not throw for the
    // key, digest and integer salt length the checks above let through.
    return { valid: false, error: String((error as Error).message) };
  }
}

// ---------------------------------------------------------------------------------------
// CertificationRequest
// ---------------------------------------------------------------------------------------

function parseDer(der: Buffer): ParsedRequest {
  const root = readDocument(der, "certification request");
  if (root.tag !== 0x30 || root.children.length !== 3) fail("not a PKCS#10 certification request");
  const [info, algorithm, signature] = root.children as [Node, Node, Node];
  expect(info, 0x30, "certificationRequestInfo");
  expect(algorithm, 0x30, "signatureAlgorithm");
  expect(signature, 0x03, "signature");
  if (signature.content.length < 2) fail("the signature is empty");

  // Second opinion from a schema-driven parser: it must accept the request too, and see
  // the same signed bytes (it reports them verbatim, not re-encoded).
  let schema: CertificationRequest;
  try {
    schema = AsnConvert.parse(der, CertificationRequest);
  } catch (error) {
    fail(`not a PKCS#10 certification request: ${(error as Error).message}`);
  }
  // Both readers read strict DER, one encoding per value: neither these bytes nor the signature
  // algorithm below can differ (defence in depth, so both lines' mutants are equivalent).
  const raw = schema.certificationRequestInfoRaw;
  // Stryker disable all: see above
  if (raw !== undefined && !Buffer.from(raw).equals(info.bytes))
    fail("certificationRequestInfo is ambiguous");
  // Stryker restore all

  if (info.children.length < 3 || info.children.length > 4) fail("certificationRequestInfo is malformed");
  const [version, subjectNode, spki, attributes] = info.children as [Node, Node, Node, Node | undefined];
  if (readSmallInteger(version, "version") !== 0) fail("unsupported PKCS#10 version");

  const subject = readName(subjectNode, "subject");
  const publicKey = readPublicKey(spki);
  const { extensions, sans } = readAttributes(attributes);

  if (algorithm.children.length < 1 || algorithm.children.length > 2) fail("signatureAlgorithm is malformed");
  const algorithmOid = readOid(algorithm.children[0], "signature algorithm");
  // Stryker disable next-line all: see the certificationRequestInfo line above
  if (schema.signatureAlgorithm.algorithm !== algorithmOid) fail("signatureAlgorithm is ambiguous");
  const scheme = SIGNATURE_SCHEMES[algorithmOid];
  const check = checkSignature(
    scheme,
    algorithmOid,
    algorithm.children[1],
    publicKey,
    info.bytes,
    signature.content,
  );

  const request: ParsedRequest = {
    subject,
    sans,
    extensions,
    publicKey: publicKey.info,
    signatureAlgorithm: scheme?.name ?? algorithmOid,
    signatureValid: check.valid,
  };
  if (check.error !== undefined) request.signatureError = check.error;
  return request;
}
