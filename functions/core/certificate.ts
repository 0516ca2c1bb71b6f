// An issued certificate checked against its request (SPEC §6 "Audit"): the signer must have
// certified exactly the names and the key the CSR asked for. A different key or other names
// mean a wrong signer, or a status written by someone with `certificatesigningrequests/status`
// rights: either way the node's certificate is not the one that was approved. Pure.
//
// Both sides are read with the same library (@peculiar/asn1-x509 for the leaf, the first block
// of status.certificate; @peculiar/asn1-csr for the request, which our strict parse accepted
// when it was approved), names compared as canonical sets, keys as re-encoded SPKI DER. No
// signature is verified here: this runs over every issued CSR of ours in the window, cheaply.
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { Certificate, Extensions, GeneralNames, id_ce_subjectAltName } from "@peculiar/asn1-x509";
import { canonicalIp } from "./ip.js";
import { MAX_REQUEST_BYTES } from "./request.js";

const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";

/** Beyond this, status.certificate is not a kubelet's serving certificate (one leaf is ~1 KiB). */
export const MAX_CERTIFICATE_BYTES = MAX_REQUEST_BYTES;

export type CertificateCheck =
  { ok: true; notBefore: Date } | { ok: false; problems: string[]; notBefore?: Date };

/**
 * Does the issued certificate (status.certificate, base64 of PEM as the API carries it)
 * certify the request's key and exactly its SANs? `problems` say what differs, in our words
 * (no certificate text is quoted: names are counted, never echoed).
 */
export function checkIssuedCertificate(certificate: string, requestField: string): CertificateCheck {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(firstPemBlock(certificate, "CERTIFICATE"), Certificate);
  } catch (err) {
    return { ok: false, problems: [`the issued certificate does not parse (${short(err)})`] };
  }
  const tbs = cert.tbsCertificate;
  const notBefore = tbs.validity.notBefore.getTime();
  const problems: string[] = [];

  let requestKey: ArrayBuffer | undefined;
  let requested: string[] | undefined;
  try {
    const info = AsnConvert.parse(
      firstPemBlock(requestField, "CERTIFICATE REQUEST"),
      CertificationRequest,
    ).certificationRequestInfo;
    requestKey = AsnConvert.serialize(info.subjectPKInfo);
    const extensionRequest = (info.attributes ?? []).filter((a) => a.type === OID_EXTENSION_REQUEST);
    if (extensionRequest.length > 1 || (extensionRequest[0]?.values.length ?? 1) !== 1)
      throw new Error("more than one extensionRequest");
    const value = extensionRequest[0]?.values[0];
    requested = value ? certificateSans([...AsnConvert.parse(value, Extensions)]) : [];
  } catch {
    problems.push("the request could not be read to compare");
  }
  if (requestKey && !sameBytes(requestKey, AsnConvert.serialize(tbs.subjectPublicKeyInfo))) {
    problems.push("the certificate's public key is not the key of the request");
  }
  if (!requested) return { ok: false, problems, notBefore };

  const wanted = new Set(requested);
  let issued: string[] = [];
  try {
    issued = certificateSans(tbs.extensions ?? []);
  } catch (err) {
    problems.push(`the certificate's subjectAltName does not parse (${short(err)})`);
  }
  const issuedSet = new Set(issued);
  const extra = [...issuedSet].filter((s) => !wanted.has(s)).length;
  const missing = [...wanted].filter((s) => !issuedSet.has(s)).length;
  if (extra > 0 || missing > 0) {
    problems.push(
      `the certificate's SANs differ from the request's: ${extra} not requested, ${missing} requested but missing`,
    );
  }
  return problems.length === 0 ? { ok: true, notBefore } : { ok: false, problems, notBefore };
}

/** The leaf's notBefore, or undefined when the certificate does not parse (the audit window's "issued"). */
export function certificateNotBefore(certificate: string): Date | undefined {
  try {
    return AsnConvert.parse(
      firstPemBlock(certificate, "CERTIFICATE"),
      Certificate,
    ).tbsCertificate.validity.notBefore.getTime();
  } catch {
    return undefined;
  }
}

function certificateSans(extensions: { extnID: string; extnValue: { buffer: ArrayBuffer } }[]): string[] {
  const san = extensions.filter((e) => e.extnID === id_ce_subjectAltName);
  if (san.length > 1) throw new Error("two subjectAltName extensions");
  if (san.length === 0) return [];
  const names = AsnConvert.parse(san[0]!.extnValue.buffer, GeneralNames);
  return names.map((n) => {
    if (n.dNSName !== undefined) return `dns:${n.dNSName.toLowerCase()}`;
    if (n.iPAddress !== undefined) return `ip:${ipKey(n.iPAddress)}`;
    if (n.rfc822Name !== undefined) return `email:${n.rfc822Name}`;
    if (n.uniformResourceIdentifier !== undefined) return `uri:${n.uniformResourceIdentifier}`;
    return "other";
  });
}

/** asn1-x509 renders iPAddress as text: our canonical form of it (core/ip.ts, the one IP parser). */
function ipKey(text: string): string {
  const ip = canonicalIp(text);
  return ip ? unmapped(ip.value) : `unreadable:${text}`;
}

/** Go's signer writes an IPv4-mapped IPv6 SAN as the IPv4 address (4 bytes): compare them so. */
function unmapped(value: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(value);
  return m ? (m[1] as string) : value;
}

/** The DER of the first PEM block labelled `label` in a base64-of-PEM field (or raw PEM). */
function firstPemBlock(field: string, label: string): ArrayBuffer {
  if (field.length > 2 * MAX_CERTIFICATE_BYTES) throw new Error("too large");
  const text = /-----BEGIN /.test(field) ? field : Buffer.from(field, "base64").toString("latin1");
  const begin = `-----BEGIN ${label}-----`;
  const start = text.indexOf(begin);
  const end = text.indexOf(`-----END ${label}-----`, start);
  if (start < 0 || end < 0) throw new Error(`no ${label} PEM block`);
  const der = Buffer.from(text.slice(start + begin.length, end).replace(/\s+/g, ""), "base64");
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength);
}

function sameBytes(a: ArrayBuffer, b: ArrayBuffer): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

function short(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 100);
}
