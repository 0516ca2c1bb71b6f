// config/schema.json against the schema it is generated from: the committed file must be what
// `npm run config:docs` writes, describe every documented key, and accept the example
// configurations while refusing what the loader refuses for shape (unknown keys, wrong types).
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import { CONFIG_REFERENCE, configJsonSchema } from "../../scripts/config-docs.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const read = (file: string): string => readFileSync(join(ROOT, file), "utf8");
const committed = JSON.parse(read("config/schema.json")) as Record<string, unknown>;

interface Json {
  type?: string;
  description?: string;
  properties?: Record<string, Json>;
  items?: Json;
  additionalProperties?: Json | boolean;
  anyOf?: Json[];
}

/** The JSON Schema of a documented path (`selfManaged[].credential`, `eks.clusters.<name>`). */
function at(schema: Json, path: string): Json | undefined {
  let node: Json | undefined = schema;
  for (const part of path.replace(/\[\]/g, ".[]").split(".")) {
    // `defaults` and the other sections may be null (all defaults): look into the object branch.
    node = node?.anyOf?.find((branch) => branch.type !== "null") ?? node;
    if (part === "[]") node = node?.items;
    else if (part === "<name>")
      node = typeof node?.additionalProperties === "object" ? node.additionalProperties : undefined;
    else node = node?.properties?.[part];
  }
  return node?.anyOf?.find((branch) => branch.type !== "null") ? { ...node, ...node.anyOf[0] } : node;
}

describe("config/schema.json", () => {
  it("is what the schema generates (else run: npm run config:docs)", () => {
    expect(committed).toEqual(configJsonSchema());
  });

  it("is what config/example.yaml names for editors, on its first line", () => {
    expect(read("config/example.yaml").split("\n")[0]).toBe("# yaml-language-server: $schema=./schema.json");
  });

  it("is a draft-07 schema of a strict object", () => {
    expect(committed.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(committed).toMatchObject({ type: "object", additionalProperties: false });
    const ajv = new Ajv();
    expect(ajv.validateSchema(committed), JSON.stringify(ajv.errors)).toBe(true);
  });

  it("describes every documented key, with its type (rules that need code included)", () => {
    let checked = 0;
    for (const entry of CONFIG_REFERENCE) {
      if (entry.path.includes("<setting>")) continue;
      const node = at(committed as Json, entry.path);
      expect(node, entry.path).toBeDefined();
      expect(node?.description, entry.path).toBe(entry.description);
      expect(node?.type ?? node?.anyOf, entry.path).toBeDefined();
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
    // Every setting is overridable per cluster, under the same description.
    const defaults = at(committed as Json, "defaults")?.properties ?? {};
    for (const where of ["eks.clusters.<name>", "selfManaged[]"]) {
      const properties = at(committed as Json, where)?.properties ?? {};
      for (const [key, setting] of Object.entries(defaults)) {
        expect(
          properties[key]?.description ?? properties[key]?.anyOf?.[0]?.description,
          `${where}.${key}`,
        ).toBe(setting.description);
      }
    }
  });

  describe("validates documents like the loader does for shape", () => {
    const ajv = new Ajv({ allErrors: true });
    const validate = ajv.compile(committed);
    const examples: [string, unknown][] = [
      ["config/example.yaml", parseYaml(read("config/example.yaml"))],
      ...[...read("docs/configuration.md").matchAll(/```yaml\n([\s\S]*?)```/g)].map(
        (match, index): [string, unknown] => [
          `docs/configuration.md example ${index + 1}`,
          parseYaml(match[1] ?? ""),
        ],
      ),
    ];

    it.each(examples)("%s is valid", (_name, doc) => {
      expect(() => parseConfig(doc)).not.toThrow();
      expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    });

    it.each([
      [{ regio: ["eu-west-1"] }],
      [{ eks: { discovry: true } }],
      [{ defaults: { mode: "audit" } }],
      [{ defaults: { pendingGraceSeconds: 1.5 } }],
      [{ defaults: { notIssuedAfterSeconds: 9 } }],
      [{ defaults: { clusterTag: { key: "k", value: "owned" } } }],
      [{ eks: { clusters: { "bad name": {} } } }],
      [{ eks: { clusters: { prod: { moed: "dry-run" } } } }],
      [{ selfManaged: [{ name: "a", region: "eu-west-1" }] }],
      [{ sweep: { concurrency: 0 } }],
    ])("%j is refused by both", (doc) => {
      expect(() => parseConfig(doc)).toThrow(/^config: /);
      expect(validate(doc)).toBe(false);
    });
  });
});

describe("the schema's own rules, beside today's messages", () => {
  const errorOf = (doc: unknown): string => {
    try {
      parseConfig(doc);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error("expected a ConfigError");
  };

  it("a map keeps every own key: `constructor` and `prototype` are valid EKS cluster names", () => {
    const config = parseConfig({
      eks: { clusters: { constructor: { mode: "dry-run" }, prototype: { deny: false } } },
    });
    expect(Object.hasOwn(config.eks.clusters, "constructor")).toBe(true);
    expect(config.eks.clusters["constructor"]).toEqual({ mode: "dry-run" });
    expect(config.eks.clusters["prototype"]).toEqual({ deny: false });
  });

  it("a list is neither an object nor a map", () => {
    expect(errorOf({ defaults: [] })).toBe("config: defaults: expected an object, got a list");
    expect(errorOf({ eks: { clusters: [] } })).toBe(
      "config: eks.clusters: expected a map of cluster name to settings, got a list",
    );
    expect(errorOf({ eks: { tags: ["a"] } })).toBe(
      "config: eks.tags: expected a map of tag key to value, got a list",
    );
  });

  it("a required key that is absent says so (clusterTag.key too, since the schema)", () => {
    expect(errorOf({ defaults: { clusterTag: { values: ["owned"] } } })).toBe(
      "config: defaults.clusterTag.key: required key is missing",
    );
  });

  it("an unknown key is reported before any wrong value of the same object", () => {
    expect(errorOf({ sweep: { concurrency: 0, paralel: 2 } })).toBe("config: sweep.paralel: unknown key");
  });

  it("caData that is no PEM is never echoed back", () => {
    expect(
      errorOf({ selfManaged: [{ name: "a", region: "eu-west-1", endpoint: "https://x", caData: "secret" }] }),
    ).toMatch(/caData: expected .*, got "\[not a PEM certificate\]"$/);
  });
});
