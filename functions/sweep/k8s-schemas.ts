// The shapes we read from the Kubernetes API (and from `kubectl -o json` files, functions/cli):
// checked once here, so the core gets typed values and trusts them. Lean: only the fields the
// approver reads are described; `looseObject` keeps what the apiserver adds (a CSR is written
// back as served). Bounded: every value checked here comes from a response body already
// bounded in bytes (csrs.ts MAX_RESPONSE_BYTES), and the checks are one linear pass.
// The one-line error of an object that fails names the field and what it must be (problemOf).
import * as v from "valibot";
import type { Decision } from "../core/types.js";

const text = v.string();
const stringList = v.array(v.string());
/** JSON writers may spell an absent object as null: read as absent. */
const absent = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

const CONDITIONS = "a list of conditions with a type";
const ConditionSchema = v.looseObject({
  type: text,
  status: text,
  reason: v.optional(text),
  message: v.optional(text),
  lastUpdateTime: v.optional(text),
  lastTransitionTime: v.optional(text),
});

/** A CertificateSigningRequest (certificates.k8s.io/v1): the fields core/types.ts CsrObject names. */
export const CsrSchema = v.looseObject({
  metadata: v.looseObject({
    name: v.pipe(text, v.nonEmpty()),
    uid: v.optional(text),
    resourceVersion: v.optional(text),
    creationTimestamp: v.optional(text),
  }),
  spec: v.looseObject({
    signerName: text,
    request: text,
    /** Ours: set by strip-requests.ts when it dropped an oversized request. */
    requestLength: v.optional(v.number()),
    username: v.optional(text),
    uid: v.optional(text),
    groups: v.optional(stringList),
    usages: v.optional(stringList),
    expirationSeconds: v.optional(v.number()),
    extra: v.optional(v.record(v.string(), stringList)),
  }),
  status: v.pipe(
    v.nullish(
      v.looseObject({
        conditions: v.pipe(v.nullish(v.array(ConditionSchema)), v.transform(absent)),
        certificate: v.optional(text),
      }),
    ),
    v.transform(absent),
  ),
});

/** A Node (core/v1): its name and providerID. */
export const NodeSchema = v.looseObject({
  metadata: v.looseObject({ name: text }),
  spec: v.pipe(
    v.nullish(v.looseObject({ providerID: v.pipe(v.nullish(text), v.transform(absent)) })),
    v.transform(absent),
  ),
});

/** One line of a watch: `{"type": "ADDED", "object": {…}}`; the object is checked by its own schema. */
export const WatchEventSchema = v.looseObject({
  type: text,
  object: v.optional(
    v.looseObject({
      metadata: v.optional(v.looseObject({ resourceVersion: v.optional(text) })),
      code: v.optional(v.unknown()),
    }),
  ),
});

/** One page of a LIST: its items (each checked by its own schema) and where to continue. */
export const ListSchema = v.looseObject({
  items: v.nullish(v.array(v.unknown())),
  metadata: v.optional(v.looseObject({ continue: v.optional(text), resourceVersion: v.optional(text) })),
});

export type ApiCsrShape = v.InferOutput<typeof CsrSchema>;
export type ApiNodeShape = v.InferOutput<typeof NodeSchema>;

/** What each field must be, by the `field.subfield` path an issue is reported at. */
const EXPECTED: Record<string, string> = {
  "metadata.name": "a string",
  "metadata.creationTimestamp": "an RFC 3339 string",
  spec: "an object",
  "spec.signerName": "a string",
  "spec.request": "a base64 string",
  "spec.username": "a string",
  "spec.groups": "a list of strings",
  "spec.usages": "a list of strings",
  "spec.expirationSeconds": "a number",
  "spec.extra": "a map of string lists",
  status: "an object",
  "status.conditions": CONDITIONS,
};

/**
 * The first problem as `path: expected …`, the path cut to `field.subfield` (the level the
 * message names; a missing or non-object `metadata` is reported as its missing name).
 */
export function problemOf(issues: readonly v.BaseIssue<unknown>[]): { path: string; expected: string } {
  const issue = issues[0] as v.BaseIssue<unknown>;
  const cut = (v.getDotPath(issue) ?? "").split(".").slice(0, 2).join(".");
  const path = cut === "metadata" ? "metadata.name" : cut;
  return { path, expected: EXPECTED[path] ?? issue.message };
}

/** The name of an object that failed its schema, when it has a readable one ("" otherwise). */
export function nameOf(raw: unknown): string {
  const name = (raw as { metadata?: { name?: unknown } } | null | undefined)?.metadata?.name;
  return typeof name === "string" ? name : "";
}

/**
 * The decision for a served CSR that failed CsrSchema: wait. An object we cannot read is never
 * approved or denied; the status message is the one the policy gave before the schema existed.
 */
export function unreadableCsrDecision(name: string, problem: { path: string; expected: string }): Decision {
  const message = problem.path.startsWith("status")
    ? "the CSR's status is unreadable, so whether it is already decided is unknown"
    : `the CSR is unreadable: ${problem.path}: expected ${problem.expected}`;
  return { name, decision: "wait", reasons: [{ code: "FACTS_UNAVAILABLE", message }] };
}
