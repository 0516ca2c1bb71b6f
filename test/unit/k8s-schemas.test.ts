// The Kubernetes edge (functions/sweep/k8s-schemas.ts): the malformed shapes the policy used to
// re-check as `unknown` are refused here, and a refused CSR becomes the same `wait`.
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  CsrSchema,
  ListSchema,
  NodeSchema,
  problemOf,
  unreadableCsrDecision,
  WatchEventSchema,
} from "../../functions/sweep/k8s-schemas.js";
import { KUBELET_SERVING_SIGNER } from "../../functions/core/types.js";

const CSR = {
  apiVersion: "certificates.k8s.io/v1",
  kind: "CertificateSigningRequest",
  metadata: {
    name: "csr-1",
    resourceVersion: "42",
    creationTimestamp: "2026-01-01T00:10:00Z",
    managedFields: [{ manager: "kubelet" }],
  },
  spec: {
    signerName: KUBELET_SERVING_SIGNER,
    request: "LS0t",
    username: "system:node:ip-10-0-1-70.eu-west-1.compute.internal",
    groups: ["system:nodes", "system:authenticated"],
    usages: ["digital signature", "server auth"],
    expirationSeconds: 86_400,
    extra: { sessionName: ["i-0a1b2c3d4e5f60718"] },
  },
  status: { conditions: [{ type: "Approved", status: "True", reason: "AutoApproved" }] },
};

function problem(raw: unknown): { path: string; expected: string } | undefined {
  const checked = v.safeParse(CsrSchema, raw);
  return checked.success ? undefined : problemOf(checked.issues);
}

describe("CsrSchema", () => {
  it("reads a served CSR, keeping what the apiserver added", () => {
    const checked = v.safeParse(CsrSchema, CSR);
    expect(checked.success).toBe(true);
    expect(checked.output).toEqual(CSR);
  });

  it("reads an absent status, null status or conditions, as absent", () => {
    for (const status of [undefined, null]) {
      const checked = v.safeParse(CsrSchema, { ...CSR, status });
      expect(checked.success && checked.output.status).toBeUndefined();
    }
    const checked = v.safeParse(CsrSchema, { ...CSR, status: { conditions: null } });
    expect(checked.success && checked.output.status).toEqual({ conditions: undefined });
  });

  const spec = (patch: Record<string, unknown>) => ({ ...CSR, spec: { ...CSR.spec, ...patch } });
  it.each([
    ["not an object", null, "", ""],
    ["without metadata", { spec: CSR.spec }, "metadata.name", "a string"],
    ["without a name", { ...CSR, metadata: {} }, "metadata.name", "a string"],
    ["with an empty name", { ...CSR, metadata: { name: "" } }, "metadata.name", "a string"],
    [
      "a creationTimestamp that is not text",
      { ...CSR, metadata: { name: "a", creationTimestamp: 5 } },
      "metadata.creationTimestamp",
      "an RFC 3339 string",
    ],
    ["without spec", { metadata: { name: "x" } }, "spec", "an object"],
    ["a signerName that is not text", spec({ signerName: 5 }), "spec.signerName", "a string"],
    ["without spec.request", spec({ request: undefined }), "spec.request", "a base64 string"],
    ["a username that is not text", spec({ username: 7 }), "spec.username", "a string"],
    ["groups that are not a list", spec({ groups: "system:nodes" }), "spec.groups", "a list of strings"],
    ["groups holding a number", spec({ groups: ["system:nodes", 5] }), "spec.groups", "a list of strings"],
    ["usages that are not a list", spec({ usages: "server auth" }), "spec.usages", "a list of strings"],
    [
      "usages holding a number",
      spec({ usages: ["digital signature", "server auth", 5] }),
      "spec.usages",
      "a list of strings",
    ],
    ["an expirationSeconds string", spec({ expirationSeconds: "1" }), "spec.expirationSeconds", "a number"],
    ["a null expirationSeconds", spec({ expirationSeconds: null }), "spec.expirationSeconds", "a number"],
    ["extra that is text", spec({ extra: "sessionName" }), "spec.extra", "a map of string lists"],
    ["a bare sessionName", spec({ extra: { sessionName: "i-1" } }), "spec.extra", "a map of string lists"],
    [
      "a sessionName with a number",
      spec({ extra: { sessionName: ["i-1", 5] } }),
      "spec.extra",
      "a map of string lists",
    ],
    ["a status that is not an object", { ...CSR, status: 5 }, "status", "an object"],
    [
      "conditions that are not a list",
      { ...CSR, status: { conditions: "Approved" } },
      "status.conditions",
      "a list of conditions with a type",
    ],
    [
      "a condition that is not an object",
      { ...CSR, status: { conditions: [null, { type: "Pending", status: "True" }] } },
      "status.conditions",
      "a list of conditions with a type",
    ],
    [
      "a condition without a type",
      { ...CSR, status: { conditions: [{ status: "True" }] } },
      "status.conditions",
      "a list of conditions with a type",
    ],
  ])("refuses a CSR %s, naming the field", (_label, raw, path, expected) => {
    const found = problem(raw);
    expect(found?.path).toBe(path);
    if (expected) expect(found?.expected).toBe(expected);
  });
});

describe("unreadableCsrDecision: what a refused CSR becomes", () => {
  it("an unreadable status waits, with the message the policy gave before", () => {
    for (const status of [5, "x", { conditions: "Approved" }, { conditions: { type: "Denied" } }]) {
      const found = problem({ ...CSR, status });
      expect(found).toBeDefined();
      expect(unreadableCsrDecision("csr-1", found as { path: string; expected: string })).toEqual({
        name: "csr-1",
        decision: "wait",
        reasons: [
          {
            code: "FACTS_UNAVAILABLE",
            message: "the CSR's status is unreadable, so whether it is already decided is unknown",
          },
        ],
      });
    }
  });
  it("any other unreadable field waits too, naming it: never approve or deny what cannot be read", () => {
    const found = problem({ ...CSR, spec: { ...CSR.spec, groups: "system:nodes" } });
    expect(unreadableCsrDecision("csr-1", found as { path: string; expected: string })).toEqual({
      name: "csr-1",
      decision: "wait",
      reasons: [
        {
          code: "FACTS_UNAVAILABLE",
          message: "the CSR is unreadable: spec.groups: expected a list of strings",
        },
      ],
    });
  });
});

describe("NodeSchema", () => {
  it("reads a Node's name and providerID; a null spec or providerID is none", () => {
    const node = { metadata: { name: "x", labels: {} }, spec: { providerID: "aws:///a/i-1", taints: [] } };
    expect(v.safeParse(NodeSchema, node).output).toEqual(node);
    expect(v.safeParse(NodeSchema, { metadata: { name: "x" }, spec: null }).output).toEqual({
      metadata: { name: "x" },
      spec: undefined,
    });
    expect(v.safeParse(NodeSchema, { metadata: { name: "x" }, spec: { providerID: null } }).success).toBe(
      true,
    );
  });
  it.each([
    ["null", null],
    ["a spec that is text", { metadata: { name: "x" }, spec: "x" }],
    ["a providerID that is a number", { metadata: { name: "x" }, spec: { providerID: 5 } }],
    ["a providerID that is an object", { spec: { providerID: {} } }],
    ["a name that is a number", { metadata: { name: 5 } }],
    ["no metadata", { metadata: null }],
    ["no name", { metadata: {}, spec: { providerID: "aws:///a/i-1" } }],
  ])("refuses %s (the Node lookup then fails: every CSR waits)", (_label, raw) => {
    expect(v.safeParse(NodeSchema, raw).success).toBe(false);
  });
});

describe("watch events and list pages", () => {
  it("reads the {type, object} envelope; anything else is no event", () => {
    expect(v.safeParse(WatchEventSchema, { type: "ADDED", object: CSR }).success).toBe(true);
    expect(v.safeParse(WatchEventSchema, { type: "ERROR", object: { code: 410 } }).output).toMatchObject({
      object: { code: 410 },
    });
    for (const line of [null, 5, "ADDED", { object: CSR }, { type: 5 }, { type: "ADDED", object: "x" }]) {
      expect(v.safeParse(WatchEventSchema, line).success).toBe(false);
    }
    expect(
      v.safeParse(WatchEventSchema, { type: "BOOKMARK", object: { metadata: { resourceVersion: 7 } } })
        .success,
    ).toBe(false);
  });
  it("reads a page's items and continue token; a page that is not a list is refused", () => {
    expect(v.safeParse(ListSchema, { items: [1, null], metadata: { continue: "t" } }).output).toEqual({
      items: [1, null],
      metadata: { continue: "t" },
    });
    expect(v.safeParse(ListSchema, { items: null }).success).toBe(true);
    for (const page of [null, 5, { items: "x" }, { items: [], metadata: { continue: 5 } }]) {
      expect(v.safeParse(ListSchema, page).success).toBe(false);
    }
  });
});
