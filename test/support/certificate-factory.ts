// A signer of our own making, for tests of the issued-certificate check: a certificate for a
// request's key and subject with the request's SANs (plus one IP, or another key, if asked),
// signed by a throwaway key. What a wrong signer, or someone with `certificatesigningrequests/
// status` rights, could write into status.certificate.
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  Certificate,
  Extension,
  Extensions,
  GeneralName,
  Name,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_subjectAltName,
} from "@peculiar/asn1-x509";
import { parseCertificateRequest } from "../../functions/core/request.js";
import { derToPem, pemToDer } from "./csr-factory.js";

export interface StandInOptions {
  /** One more IP SAN than the request asks for. */
  extraIp?: string;
  /** Leave this requested SAN out. */
  dropSan?: string;
  /** Certify this public key instead of the request's. */
  otherKey?: KeyObject;
  notBefore?: Date;
}

/** The certificate's PEM; `requestField` is spec.request (base64 of the PEM) or the PEM. */
export function standInCertificate(requestField: string, options: StandInOptions = {}): string {
  const pem = requestField.includes("-----BEGIN")
    ? requestField
    : Buffer.from(requestField, "base64").toString("utf8");
  const info = AsnConvert.parse(pemToDer(pem), CertificationRequest).certificationRequestInfo;
  const parsed = parseCertificateRequest(pem);
  if (!parsed.ok) throw new Error(`stand-in signer: ${parsed.error}`);
  const names = parsed.request.sans
    .filter((san) => san.value !== options.dropSan)
    .map((san) =>
      san.type === "ip" ? new GeneralName({ iPAddress: san.value }) : new GeneralName({ dNSName: san.value }),
    );
  if (options.extraIp) names.push(new GeneralName({ iPAddress: options.extraIp }));
  const spki = options.otherKey
    ? AsnConvert.parse(options.otherKey.export({ type: "spki", format: "der" }), SubjectPublicKeyInfo)
    : info.subjectPKInfo;
  const ecdsaSha256 = new AlgorithmIdentifier({ algorithm: "1.2.840.10045.4.3.2" });
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array([1]).buffer,
    signature: ecdsaSha256,
    issuer: new Name(),
    validity: new Validity({ notBefore, notAfter: new Date(notBefore.getTime() + 86_400_000) }),
    subject: info.subject,
    subjectPublicKeyInfo: spki,
    extensions: new Extensions([
      new Extension({
        extnID: id_ce_subjectAltName,
        critical: false,
        extnValue: new OctetString(AsnConvert.serialize(new SubjectAlternativeName(names))),
      }),
    ]),
  });
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const signature = sign("sha256", Buffer.from(AsnConvert.serialize(tbs)), privateKey);
  const cert = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: ecdsaSha256,
    signatureValue: new Uint8Array(signature).buffer,
  });
  return derToPem(Buffer.from(AsnConvert.serialize(cert)), "CERTIFICATE");
}
