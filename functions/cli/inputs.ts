// Reading the offline inputs of `evaluate`: files (or stdin) holding JSON or YAML as kubectl
// and the AWS CLI print them. Every shape problem becomes one UsageError line naming the
// flag, the file and, where it helps, the path inside the document. The objects themselves
// are checked by the same schemas as the sweep's (sweep/k8s-schemas.ts, sweep/ec2-schemas.ts).
import { readFile } from "node:fs/promises";
import * as v from "valibot";
import { parseAllDocuments } from "yaml";
import type { CsrObject, Ec2Instance, NodeObject } from "../core/types.js";
import { checkInstance, MalformedInstance } from "../sweep/ec2-schemas.js";
import { CsrSchema, NodeSchema, problemOf } from "../sweep/k8s-schemas.js";
import { PROGRAM, UsageError, type CliIo } from "./args.js";

export interface InputSource {
  flag: string; // e.g. "--csr"
  path: string; // as the user wrote it; "-" is stdin
}

function label(source: InputSource): string {
  return `${PROGRAM}: ${source.flag} ${source.path === "-" ? "- (stdin)" : source.path}`;
}

function problem(source: InputSource, message: string): UsageError {
  return new UsageError(`${label(source)}: ${message}`);
}

export async function readText(source: InputSource, io: CliIo): Promise<string> {
  if (source.path === "-") return io.readStdin();
  try {
    return await readFile(source.path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory, not a file"
          : code === "EACCES" || code === "EPERM"
            ? "permission denied"
            : `cannot read (${code ?? (error instanceof Error ? error.message : String(error))})`;
    throw problem(source, reason);
  }
}

/** Every document in the text: one for JSON, one or more for YAML (`---` separated). */
export function parseDocuments(source: InputSource, text: string): unknown[] {
  if (text.trim() === "") throw problem(source, "is empty");
  try {
    return [JSON.parse(text) as unknown];
  } catch {
    // Not JSON: try YAML (a superset), which also reads kubectl -o yaml and multi-document files.
  }
  const documents = parseAllDocuments(text, { uniqueKeys: true });
  const list = Array.isArray(documents) ? documents : [documents];
  const docs: unknown[] = [];
  for (const document of list) {
    const error = document.errors[0];
    if (error) {
      const line = error.linePos?.[0].line;
      const reason = (error.message.split("\n")[0] ?? error.code).replace(/:\s*$/, "");
      throw problem(source, `is neither JSON nor YAML (${line ? `line ${line}: ` : ""}${reason})`);
    }
    const value: unknown = document.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) docs.push(value);
  }
  if (docs.length === 0) throw problem(source, "holds no document");
  return docs;
}

// ---------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The items of a `List`/`<Kind>List`, or the document itself when it is one object of `kind`. */
function objectsOf(doc: unknown, kind: string): { value: unknown; at: string }[] | undefined {
  if (!isObject(doc)) return undefined;
  if (
    Array.isArray(doc.items) &&
    (doc.kind === undefined || doc.kind === "List" || doc.kind === `${kind}List`)
  ) {
    return doc.items.map((value, index) => ({ value, at: `items[${index}]` }));
  }
  if (doc.kind === kind || (doc.kind === undefined && isObject(doc.metadata)))
    return [{ value: doc, at: "" }];
  return undefined;
}

const CSR_SHAPE =
  "expected a CertificateSigningRequest or a List of them, as `kubectl get csr -o json` prints";

export function csrsFrom(source: InputSource, docs: unknown[]): CsrObject[] {
  const csrs: CsrObject[] = [];
  docs.forEach((doc, docIndex) => {
    const objects = objectsOf(doc, "CertificateSigningRequest");
    if (!objects)
      throw problem(source, docs.length > 1 ? `document ${docIndex + 1}: ${CSR_SHAPE}` : CSR_SHAPE);
    for (const { value, at } of objects) {
      if (!isObject(value)) throw problem(source, `${at || "document"}: ${CSR_SHAPE}`);
      const checked = v.safeParse(CsrSchema, value);
      if (!checked.success) {
        const { path, expected } = problemOf(checked.issues);
        const where = [at, path].filter(Boolean).join(".");
        throw problem(source, `${where}: expected ${expected} in a CertificateSigningRequest`);
      }
      csrs.push(checked.output as CsrObject);
    }
  });
  return csrs;
}

const INSTANCES_SHAPE =
  'expected {"Reservations":[{"Instances":[…]}]} as `aws ec2 describe-instances` prints';

export function instancesFrom(source: InputSource, docs: unknown[]): Ec2Instance[] {
  const instances: Ec2Instance[] = [];
  for (const doc of docs) {
    let found: { value: unknown; at: string }[];
    if (isObject(doc) && Array.isArray(doc.Reservations)) {
      found = doc.Reservations.flatMap((reservation, index) => {
        if (!isObject(reservation) || !Array.isArray(reservation.Instances)) {
          throw problem(source, `Reservations[${index}].Instances: ${INSTANCES_SHAPE}`);
        }
        return reservation.Instances.map((value, item) => ({
          value,
          at: `Reservations[${index}].Instances[${item}]`,
        }));
      });
    } else if (Array.isArray(doc)) {
      // `aws ec2 describe-instances --query 'Reservations[].Instances[]'` prints a bare list.
      found = doc.map((value, index) => ({ value, at: `[${index}]` }));
    } else {
      throw problem(source, INSTANCES_SHAPE);
    }
    for (const { value, at } of found) {
      if (!isObject(value) || typeof value.InstanceId !== "string" || value.InstanceId === "") {
        throw problem(source, `${at}: expected an instance with an InstanceId (${INSTANCES_SHAPE.slice(9)})`);
      }
      if (!isObject(value.State) || typeof value.State.Name !== "string") {
        throw problem(source, `${at}.State.Name: expected the instance state, e.g. "running"`);
      }
      try {
        instances.push(checkInstance(value));
      } catch (error) {
        if (!(error instanceof MalformedInstance)) throw error;
        throw problem(source, `${at}.${error.where}: expected ${error.expected}`);
      }
    }
  }
  return instances;
}

const NODE_SHAPE = "expected a Node or a List of them, as `kubectl get node -o json` prints";

export function nodesFrom(source: InputSource, docs: unknown[]): NodeObject[] {
  const nodes: NodeObject[] = [];
  for (const doc of docs) {
    const objects = objectsOf(doc, "Node");
    if (!objects) throw problem(source, NODE_SHAPE);
    for (const { value, at } of objects) {
      const where = (field: string): string => [at, field].filter(Boolean).join(".");
      const checked = v.safeParse(NodeSchema, value);
      if (checked.success) {
        nodes.push(checked.output);
        continue;
      }
      const path = (v.getDotPath(checked.issues[0]) ?? "").split(".").slice(0, 2).join(".");
      if (path === "spec") throw problem(source, `${where("spec")}: expected an object`);
      if (path === "spec.providerID") throw problem(source, `${where("spec.providerID")}: expected a string`);
      throw problem(source, `${where("metadata.name")}: expected a string (${NODE_SHAPE.slice(9)})`);
    }
  }
  return nodes;
}
