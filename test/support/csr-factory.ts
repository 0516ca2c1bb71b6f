// Test-only factory for REAL PKCS#10 CSRs, built synchronously with a tiny DER writer and
// signed with node:crypto. Deliberately independent of the ASN.1 library the parser uses,
// so a bug in that library cannot hide behind a matching bug in the factory.
import { createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import type { CsrCondition, CsrObject } from "../../functions/core/types.js";
import { KUBELET_SERVING_SIGNER } from "../../functions/core/types.js";

export type KeySpec =
  { type: "ecdsa"; curve: "P-256" | "P-384" | "P-521" } | { type: "rsa"; bits: number } | { type: "ed25519" };

export type SignatureHash = "sha1" | "sha224" | "sha256" | "sha384" | "sha512";

export interface CsrSpec {
  commonName?: string; // default none
  organizations?: string[]; // default none
  extraSubject?: { oid: string; value: string }[];
  dnsNames?: string[];
  ips?: string[];
  emails?: string[];
  uris?: string[];
  otherName?: boolean; // add an otherName SAN (a Microsoft UPN) to test FORBIDDEN_SAN
  key?: KeySpec; // default ecdsa P-256, like the kubelet
  privateKey?: KeyObject; // reuse a key (speed); must match the key spec
  // Additive knobs for parser tests (not needed by policy tests):
  signatureHash?: SignatureHash; // RSA/ECDSA digest; default sha256 (ECDSA: by curve size)
  rawSans?: Buffer[]; // extra GeneralName DER elements appended to the SAN extension
  rawExtensions?: Buffer[]; // extra Extension DER elements in the extensionRequest attribute
  rawAttributes?: Buffer[]; // extra Attribute DER elements in the attributes set
}

// ---------------------------------------------------------------------------------------
// Minimal DER writer
// ---------------------------------------------------------------------------------------

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const der = {
  tlv(tag: number, content: Uint8Array): Buffer {
    return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
  },
  seq(...items: Uint8Array[]): Buffer {
    return der.tlv(0x30, Buffer.concat(items));
  },
  set(...items: Uint8Array[]): Buffer {
    return der.tlv(0x31, Buffer.concat(items));
  },
  oid(dotted: string): Buffer {
    const arcs = dotted.split(".").map((arc) => BigInt(arc));
    const [first = 0n, second = 0n, ...rest] = arcs;
    const bytes: number[] = [];
    for (const arc of [first * 40n + second, ...rest]) {
      const chunk: number[] = [Number(arc & 0x7fn)];
      for (let value = arc >> 7n; value > 0n; value >>= 7n) chunk.unshift(Number(value & 0x7fn) | 0x80);
      bytes.push(...chunk);
    }
    return der.tlv(0x06, Buffer.from(bytes));
  },
  utf8(text: string): Buffer {
    return der.tlv(0x0c, Buffer.from(text, "utf8"));
  },
  ia5(text: string): Buffer {
    return der.tlv(0x16, Buffer.from(text, "latin1"));
  },
  octet(content: Uint8Array): Buffer {
    return der.tlv(0x04, content);
  },
  bitString(content: Uint8Array): Buffer {
    return der.tlv(0x03, Buffer.concat([Buffer.from([0]), content]));
  },
  bool(value: boolean): Buffer {
    return der.tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
  },
  int0(): Buffer {
    return der.tlv(0x02, Buffer.from([0]));
  },
  nul(): Buffer {
    return Buffer.from([0x05, 0x00]);
  },
};

/** One Extension { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }. */
export function extensionDer(oid: string, valueDer: Uint8Array, critical = false): Buffer {
  return der.seq(der.oid(oid), ...(critical ? [der.bool(true)] : []), der.octet(valueDer));
}

/** One Attribute { type, values SET }. */
export function attributeDer(oid: string, ...values: Uint8Array[]): Buffer {
  return der.seq(der.oid(oid), der.set(...values));
}

export const OID = {
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectAltName: "2.5.29.17",
  extensionRequest: "1.2.840.113549.1.9.14",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  upn: "1.3.6.1.4.1.311.20.2.3",
} as const;

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

const NODE_CURVE: Record<"P-256" | "P-384" | "P-521", string> = {
  "P-256": "prime256v1",
  "P-384": "secp384r1",
  "P-521": "secp521r1",
};

const keyCache = new Map<string, KeyObject>();

/** One private key per KeySpec, generated once per test process (RSA generation is slow). */
export function keyFor(spec: KeySpec): KeyObject {
  const cacheKey = JSON.stringify(spec);
  const cached = keyCache.get(cacheKey);
  if (cached) return cached;
  let key: KeyObject;
  if (spec.type === "ecdsa")
    key = generateKeyPairSync("ec", { namedCurve: NODE_CURVE[spec.curve] }).privateKey;
  else if (spec.type === "rsa") key = generateKeyPairSync("rsa", { modulusLength: spec.bits }).privateKey;
  else key = generateKeyPairSync("ed25519").privateKey;
  keyCache.set(cacheKey, key);
  return key;
}

const DEFAULT_KEY: KeySpec = { type: "ecdsa", curve: "P-256" };

const RSA_SIG_OID: Record<SignatureHash, string> = {
  sha1: "1.2.840.113549.1.1.5",
  sha224: "1.2.840.113549.1.1.14",
  sha256: "1.2.840.113549.1.1.11",
  sha384: "1.2.840.113549.1.1.12",
  sha512: "1.2.840.113549.1.1.13",
};
const ECDSA_SIG_OID: Record<SignatureHash, string> = {
  sha1: "1.2.840.10045.4.1",
  sha224: "1.2.840.10045.4.3.1",
  sha256: "1.2.840.10045.4.3.2",
  sha384: "1.2.840.10045.4.3.3",
  sha512: "1.2.840.10045.4.3.4",
};
const ECDSA_DEFAULT_HASH: Record<"P-256" | "P-384" | "P-521", SignatureHash> = {
  "P-256": "sha256",
  "P-384": "sha384",
  "P-521": "sha512",
};

function signInfo(info: Buffer, keySpec: KeySpec, key: KeyObject, hash?: SignatureHash): Buffer {
  if (keySpec.type === "ed25519") {
    return Buffer.concat([der.seq(der.oid("1.3.101.112")), der.bitString(sign(null, info, key))]);
  }
  if (keySpec.type === "rsa") {
    const digest = hash ?? "sha256";
    return Buffer.concat([
      der.seq(der.oid(RSA_SIG_OID[digest]), der.nul()),
      der.bitString(sign(digest, info, key)),
    ]);
  }
  const digest = hash ?? ECDSA_DEFAULT_HASH[keySpec.curve];
  return Buffer.concat([der.seq(der.oid(ECDSA_SIG_OID[digest])), der.bitString(sign(digest, info, key))]);
}

// ---------------------------------------------------------------------------------------
// CSR
// ---------------------------------------------------------------------------------------

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  if (!isIPv6(ip)) throw new Error(`csr-factory: not an IP address: ${ip}`);
  let text = ip;
  // An embedded dotted quad becomes the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted[1].split(".").map(Number);
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const zeros = tail === undefined ? [] : Array<string>(8 - headGroups.length - tailGroups.length).fill("0");
  const groups = [...headGroups, ...zeros, ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((group, index) => out.writeUInt16BE(parseInt(group, 16), index * 2));
  return out;
}

function subjectDer(spec: CsrSpec): Buffer {
  // Go's pkix.Name order: O before CN; one attribute per RDN.
  const rdn = (oid: string, value: string): Buffer => der.set(der.seq(der.oid(oid), der.utf8(value)));
  const rdns: Buffer[] = [];
  for (const org of spec.organizations ?? []) rdns.push(rdn(OID.organization, org));
  for (const extra of spec.extraSubject ?? []) rdns.push(rdn(extra.oid, extra.value));
  if (spec.commonName !== undefined) rdns.push(rdn(OID.commonName, spec.commonName));
  return der.seq(...rdns);
}

function sanEntries(spec: CsrSpec): Buffer[] {
  const entries: Buffer[] = [];
  for (const name of spec.dnsNames ?? []) entries.push(der.tlv(0x82, Buffer.from(name, "latin1")));
  for (const email of spec.emails ?? []) entries.push(der.tlv(0x81, Buffer.from(email, "latin1")));
  for (const uri of spec.uris ?? []) entries.push(der.tlv(0x86, Buffer.from(uri, "latin1")));
  for (const ip of spec.ips ?? []) entries.push(der.tlv(0x87, ipBytes(ip)));
  if (spec.otherName) {
    entries.push(
      der.tlv(0xa0, Buffer.concat([der.oid(OID.upn), der.tlv(0xa0, der.utf8("admin@example.com"))])),
    );
  }
  entries.push(...(spec.rawSans ?? []));
  return entries;
}

function attributesDer(spec: CsrSpec): Buffer {
  const extensions: Buffer[] = [];
  const sans = sanEntries(spec);
  if (sans.length > 0) extensions.push(extensionDer(OID.subjectAltName, der.seq(...sans)));
  extensions.push(...(spec.rawExtensions ?? []));
  const attributes: Buffer[] = [];
  if (extensions.length > 0) attributes.push(attributeDer(OID.extensionRequest, der.seq(...extensions)));
  attributes.push(...(spec.rawAttributes ?? []));
  return der.tlv(0xa0, Buffer.concat(attributes));
}

function toPem(derBytes: Buffer, label = "CERTIFICATE REQUEST"): string {
  const lines = derBytes.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export function pemToDer(pem: string): Buffer {
  const body = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, "").replace(/\s+/g, "");
  return Buffer.from(body, "base64");
}

export function derToPem(derBytes: Buffer, label?: string): string {
  return toPem(derBytes, label);
}

/** The DER of a CSR built from the spec. */
export function createCsrDer(spec: CsrSpec): Buffer {
  const keySpec = spec.key ?? DEFAULT_KEY;
  const key = spec.privateKey ?? keyFor(keySpec);
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const info = der.seq(der.int0(), subjectDer(spec), spki, attributesDer(spec));
  return der.seq(info, signInfo(info, keySpec, key, spec.signatureHash));
}

export function createCsrPem(spec: CsrSpec): string {
  return toPem(createCsrDer(spec));
}

export function toRequestField(pem: string): string {
  return Buffer.from(pem, "utf8").toString("base64");
}

// ---------------------------------------------------------------------------------------
// Tampering (after signing: the signature must no longer verify)
// ---------------------------------------------------------------------------------------

interface Element {
  tag: number;
  start: number; // offset of the tag byte
  contentStart: number;
  end: number; // exclusive
}

function readElement(bytes: Buffer, offset: number): Element {
  const tag = bytes[offset];
  const first = bytes[offset + 1];
  if (tag === undefined || first === undefined) throw new Error("csr-factory: truncated DER");
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    length = 0;
    for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + (bytes[contentStart + i] ?? 0);
    contentStart += first & 0x7f;
  }
  return { tag, start: offset, contentStart, end: contentStart + length };
}

function children(bytes: Buffer, parent: Element): Element[] {
  const out: Element[] = [];
  for (let offset = parent.contentStart; offset < parent.end;) {
    const child = readElement(bytes, offset);
    out.push(child);
    offset = child.end;
  }
  return out;
}

function slice(bytes: Buffer, element: Element): Buffer {
  return bytes.subarray(element.start, element.end);
}

export function tamperSignature(pem: string): string {
  const bytes = Buffer.from(pemToDer(pem));
  const [, , signature] = children(bytes, readElement(bytes, 0));
  if (!signature) throw new Error("csr-factory: no signature");
  const last = signature.end - 1;
  bytes[last] = (bytes[last] ?? 0) ^ 0x01;
  return toPem(bytes);
}

export function tamperSubject(pem: string, newCn: string): string {
  const bytes = pemToDer(pem);
  const [info, algorithm, signature] = children(bytes, readElement(bytes, 0));
  if (!info || !algorithm || !signature) throw new Error("csr-factory: not a CSR");
  const [version, subject, ...rest] = children(bytes, info);
  if (!version || !subject) throw new Error("csr-factory: not a CSR");
  let replaced = false;
  const rdns = children(bytes, subject).map((rdn) => {
    const [atv] = children(bytes, rdn);
    const [oid] = atv ? children(bytes, atv) : [];
    if (oid && slice(bytes, oid).equals(der.oid(OID.commonName))) {
      replaced = true;
      return der.set(der.seq(der.oid(OID.commonName), der.utf8(newCn)));
    }
    return slice(bytes, rdn);
  });
  if (!replaced) rdns.push(der.set(der.seq(der.oid(OID.commonName), der.utf8(newCn))));
  const newInfo = der.seq(
    slice(bytes, version),
    der.seq(...rdns),
    ...rest.map((element) => slice(bytes, element)),
  );
  return toPem(der.seq(newInfo, slice(bytes, algorithm), slice(bytes, signature)));
}

// ---------------------------------------------------------------------------------------
// A CSR object as the apiserver stores it for a kubelet
// ---------------------------------------------------------------------------------------

export function kubeletCsrObject(opts: {
  name?: string;
  node: string;
  pem?: string;
  dnsNames?: string[];
  ips?: string[];
  username?: string;
  groups?: string[];
  usages?: string[];
  signerName?: string;
  creationTimestamp?: string;
  expirationSeconds?: number;
  extra?: Record<string, string[]>;
  conditions?: CsrCondition[];
  key?: KeySpec;
}): CsrObject {
  const pem =
    opts.pem ??
    createCsrPem({
      commonName: `system:node:${opts.node}`,
      organizations: ["system:nodes"],
      dnsNames: opts.dnsNames,
      ips: opts.ips,
      key: opts.key,
    });
  const csr: CsrObject = {
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: {
      name: opts.name ?? `csr-${randomBytes(4).toString("hex")}`,
      creationTimestamp: opts.creationTimestamp ?? "2026-01-01T00:00:00Z",
    },
    spec: {
      signerName: opts.signerName ?? KUBELET_SERVING_SIGNER,
      request: toRequestField(pem),
      username: opts.username ?? `system:node:${opts.node}`,
      groups: opts.groups ?? ["system:nodes", "system:authenticated"],
      usages: opts.usages ?? ["digital signature", "server auth"],
    },
  };
  if (opts.expirationSeconds !== undefined) csr.spec.expirationSeconds = opts.expirationSeconds;
  if (opts.extra !== undefined) csr.spec.extra = opts.extra;
  if (opts.conditions !== undefined) csr.status = { conditions: opts.conditions };
  return csr;
}
