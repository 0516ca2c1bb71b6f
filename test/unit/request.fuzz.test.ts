// Property tests: the parser never throws, and no corruption of a signed CSR ever comes
// back with signatureValid=true.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCertificateRequest, parseCertificateRequestPem } from "../../functions/core/request.js";
import type { ParseResult } from "../../functions/core/types.js";
import { createCsrDer, derToPem, toRequestField, type KeySpec } from "../support/csr-factory.js";

const KEYS: KeySpec[] = [
  { type: "ecdsa", curve: "P-256" },
  { type: "ecdsa", curve: "P-384" },
  { type: "ecdsa", curve: "P-521" },
  { type: "rsa", bits: 2048 },
  { type: "ed25519" },
];

const samples = KEYS.map((key) => {
  const label =
    key.type === "ecdsa" ? `ECDSA ${key.curve}` : key.type === "rsa" ? `RSA ${key.bits}` : "Ed25519";
  const der = createCsrDer({
    commonName: "system:node:ip-10-0-1-70.ec2.internal",
    organizations: ["system:nodes"],
    dnsNames: ["ip-10-0-1-70.ec2.internal"],
    ips: ["10.0.1.70", "2001:db8::1"],
    key,
  });
  return { label, der };
});

/** Parses through both entry points; a throw fails the property. */
function parseAll(pem: string): ParseResult[] {
  return [parseCertificateRequestPem(pem), parseCertificateRequest(toRequestField(pem))];
}

function neverValid(results: ParseResult[]): boolean {
  return results.every((result) => !(result.ok && result.request.signatureValid));
}

// Generous per-test timeout: the suite takes ~15 s on an idle machine (ECDSA P-521
// verification dominates) and shares the CPU with other test files.
describe("request parser fuzzing", { timeout: 60_000 }, () => {
  it("every sample verifies before it is corrupted", () => {
    for (const { der } of samples) {
      for (const result of parseAll(derToPem(der)))
        expect(result.ok && result.request.signatureValid).toBe(true);
    }
  });

  it("random byte strings, as DER in PEM, as base64 and as text: never throw, never verify", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1024 }), (bytes) => {
        const buffer = Buffer.from(bytes);
        const results = [
          ...parseAll(derToPem(buffer)),
          parseCertificateRequest(buffer.toString("base64")),
          parseCertificateRequest(buffer.toString("latin1")),
          parseCertificateRequestPem(buffer.toString("utf8")),
        ];
        return neverValid(results);
      }),
      { numRuns: 3000 },
    );
  });

  it("random DER-shaped input (a SEQUENCE of random TLVs) never throws and never verifies", () => {
    const tlv = fc
      .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 60 }))
      .map(([tag, content]) => Buffer.concat([Buffer.from([tag, content.length]), content]));
    fc.assert(
      fc.property(fc.array(tlv, { maxLength: 8 }), (parts) => {
        const body = Buffer.concat(parts);
        if (body.length > 127) return true;
        return neverValid(parseAll(derToPem(Buffer.concat([Buffer.from([0x30, body.length]), body]))));
      }),
      { numRuns: 2000 },
    );
  });

  it("random strings never throw", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 500 }), (text) => {
        const results = [parseCertificateRequest(text), parseCertificateRequestPem(text)];
        return results.every((result) => typeof result.ok === "boolean");
      }),
      { numRuns: 2000 },
    );
  });

  it.each(samples)("$label: every truncation fails the parse", ({ der }) => {
    // Exhaustive: every strict prefix of the DER.
    for (let length = 0; length < der.length; length++) {
      for (const result of parseAll(derToPem(der.subarray(0, length)))) expect(result.ok).toBe(false);
    }
  });

  it.each(samples)("$label: no single-byte mutation verifies", ({ der }) => {
    fc.assert(
      fc.property(fc.nat({ max: der.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, xor) => {
        const mutated = Buffer.from(der);
        mutated[index] = (mutated[index] ?? 0) ^ xor;
        // One entry point: the base64 path reaches the same DER parser (covered above).
        return neverValid([parseCertificateRequestPem(derToPem(mutated))]);
      }),
      { numRuns: 600 },
    );
  });

  it("ECDSA P-256: exhaustively, flipping any single bit never verifies", () => {
    const { der } = samples[0] as { der: Buffer };
    for (let index = 0; index < der.length; index++) {
      for (let bit = 0; bit < 8; bit++) {
        const mutated = Buffer.from(der);
        mutated[index] = (mutated[index] ?? 0) ^ (1 << bit);
        expect(neverValid([parseCertificateRequestPem(derToPem(mutated))])).toBe(true);
      }
    }
  });

  it.each(samples)("$label: inserted or deleted bytes never verify", ({ der }) => {
    fc.assert(
      fc.property(
        fc.nat({ max: der.length }),
        fc.uint8Array({ minLength: 0, maxLength: 4 }),
        fc.nat({ max: 4 }),
        (at, insert, remove) => {
          if (insert.length === 0 && remove === 0) return true;
          const mutated = Buffer.concat([
            der.subarray(0, at),
            Buffer.from(insert),
            der.subarray(Math.min(der.length, at + remove)),
          ]);
          if (mutated.equals(der)) return true;
          return neverValid(parseAll(derToPem(mutated)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("mutating the base64 request field either fails or yields exactly the original request", () => {
    const { der } = samples[0] as { der: Buffer };
    const field = toRequestField(derToPem(der));
    const original = parseCertificateRequest(field);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \n-";
    fc.assert(
      fc.property(fc.nat({ max: field.length - 1 }), fc.constantFrom(...alphabet), (index, replacement) => {
        const mutated = field.slice(0, index) + replacement + field.slice(index + 1);
        const result = parseCertificateRequest(mutated);
        // A mutation can only be harmless by changing PEM whitespace that carries no DER.
        if (result.ok && result.request.signatureValid) expect(result).toEqual(original);
        return true;
      }),
      { numRuns: 3000 },
    );
  });
});
