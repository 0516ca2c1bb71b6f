// What the configuration schema (functions/core/config-schema.ts) publishes: the reference
// table of docs/configuration.md and config/schema.json. Written by `npm run config:docs`
// (scripts/config-schema.mjs); test/unit/docs-config.test.ts and config-schema.test.ts fail
// when the committed files differ. Build time only: @valibot/to-json-schema is a dev
// dependency and never reaches the Lambda bundle.
import { toJsonSchema, type ConversionConfig, type JsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import {
  ConfigSchema,
  OVERRIDE_ENTRIES,
  OverridesSchema,
  type FieldDocs,
} from "../functions/core/config-schema.js";

export interface ConfigReferenceEntry {
  path: string; // `[]` marks list items, `<name>`/`<setting>` marks map keys
  type: string;
  default: string; // as written in the docs; "required" when there is none
  description: string;
}

/** The parts of a valibot schema object the walk reads. */
interface Node {
  kind: string;
  type: string;
  pipe?: readonly Node[];
  wrapped?: Node;
  default?: unknown;
  entries?: Record<string, Node>;
  item?: Node;
  value?: Node;
  description?: string;
  metadata?: { docs?: FieldDocs };
}

const WRAPPERS = ["optional", "nullish", "nullable", "non_nullish"];

function flatten(pipe: readonly Node[]): Node[] {
  return pipe.flatMap((item) => (item.pipe ? flatten(item.pipe) : [item]));
}

/** A field: its wrappers (optional, default) peeled, its pipe read for the docs. */
function inspect(schema: Node) {
  let node = schema;
  let optional = false;
  let fallback: { value: unknown } | undefined;
  while (WRAPPERS.includes(node.type) && node.wrapped) {
    if (node.type === "optional" || node.type === "nullish") optional = true;
    if (node.default !== undefined && !fallback) {
      fallback = {
        value: typeof node.default === "function" ? (node.default as () => unknown)() : node.default,
      };
    }
    node = node.wrapped;
  }
  const items = node.pipe ? flatten(node.pipe) : [node];
  const core = items.findLast((item) => item.kind === "schema") ?? node;
  const description = items.findLast((item) => item.type === "description")?.description;
  const docs = items.findLast((item) => item.type === "metadata" && item.metadata?.docs)?.metadata?.docs;
  return { core, description, docs, optional, fallback };
}

function row(path: string, schema: Node): ConfigReferenceEntry {
  const { description, docs, optional, fallback } = inspect(schema);
  if (description === undefined || docs === undefined)
    throw new Error(`config schema: ${path} is not documented`);
  let shown = docs.default;
  if (shown === undefined && fallback) {
    shown = `\`${typeof fallback.value === "string" ? fallback.value : JSON.stringify(fallback.value)}\``;
  }
  if (shown === undefined && !optional) shown = "required";
  if (shown === undefined)
    throw new Error(`config schema: ${path} is optional without a default: say it in docs`);
  return { path, type: docs.type, default: shown, description };
}

function walk(schema: Node, path: string, out: ConfigReferenceEntry[]): void {
  const { core, description, docs } = inspect(schema);
  if (docs?.settings) {
    // Per-cluster overrides: one row for every key of `defaults`.
    out.push(row(`${path}.<setting>`, schema));
    return;
  }
  if (description !== undefined && path) out.push(row(path, schema));
  if (core.type === "strict_object" && core.entries) {
    let overrides = false;
    for (const [key, entry] of Object.entries(core.entries)) {
      if ((OVERRIDE_ENTRIES as Record<string, unknown>)[key] === entry) overrides = true;
      else walk(entry, path ? `${path}.${key}` : key, out);
    }
    if (overrides) out.push(row(`${path}.<setting>`, OverridesSchema as unknown as Node));
  } else if (core.type === "array" && core.item) {
    walk(core.item, `${path}[]`, out);
  } else if (core.type === "record" && core.value) {
    walk(core.value, `${path}.<name>`, out);
  }
}

const ROOT = ConfigSchema as unknown as Node;

/** Every documented key, depth first in the schema's order. */
export const CONFIG_REFERENCE: readonly ConfigReferenceEntry[] = (() => {
  const out: ConfigReferenceEntry[] = [];
  walk(ROOT, "", out);
  return out;
})();

/** The reference table of docs/configuration.md (before prettier aligns it). */
export function referenceTable(): string {
  const lines = [
    "| Key | Type | Default | Meaning |",
    "| --- | --- | --- | --- |",
    ...CONFIG_REFERENCE.map(
      (entry) => `| \`${entry.path}\` | ${entry.type} | ${entry.default} | ${entry.description} |`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}

/** `docs` metadata is for the table only. */
function withoutDocs(jsonSchema: JsonSchema): JsonSchema {
  const { docs: _docs, ...rest } = jsonSchema as JsonSchema & { docs?: unknown };
  return rest;
}

const CONVERSION: ConversionConfig = {
  // The document as it comes out of each pipe's last schema: strict objects, their keys and
  // defaults. Rules that need code (templates, CIDRs, EC2's domains, "exactly one") are left
  // out: those fields keep their type, pattern and description.
  typeMode: "output",
  ignoreActions: ["check", "raw_check", "transform", "raw_transform"],
  overrideSchema: ({ valibotSchema, jsonSchema }) => {
    // A required key (absent or null is reported as missing) is its wrapped schema.
    if (valibotSchema.type === "non_nullish") {
      const { $schema: _draft, ...wrapped } = toJsonSchema(
        (valibotSchema as unknown as { wrapped: v.GenericSchema }).wrapped,
        CONVERSION,
      );
      return wrapped;
    }
    // `null` allowed beside an object (`defaults: null`, a cluster's `clusterTag: null`):
    // editors show the description of the key, not of one branch.
    const branch = jsonSchema.anyOf?.[0];
    if (valibotSchema.type === "nullish" || valibotSchema.type === "nullable") {
      if (typeof branch === "object" && branch.description)
        return { description: branch.description, ...jsonSchema };
    }
    return undefined;
  },
  overrideAction: ({ valibotAction, jsonSchema }) =>
    valibotAction.type === "metadata" ? withoutDocs(jsonSchema) : undefined,
};

/** config/schema.json: for editors (`# yaml-language-server: $schema=…`) and other tools. */
export function configJsonSchema(): JsonSchema {
  return toJsonSchema(ConfigSchema, CONVERSION);
}
