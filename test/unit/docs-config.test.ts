// docs/configuration.md and config/example.yaml against the code: the reference table must list
// exactly CONFIG_REFERENCE (read from the schema: `npm run config:docs` writes the table), its
// defaults must be what parseConfig really applies, every documented key must really be
// validated, and every YAML example must be a valid config.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../functions/core/config.js";
import { CONFIG_REFERENCE } from "../../scripts/config-docs.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DOC = readFileSync(join(ROOT, "docs/configuration.md"), "utf8");

/** The rows of the reference table: | `path` | type | default | meaning |. */
function referenceRows(): { path: string; type: string; default: string; description: string }[] {
  const section = DOC.split(/^## Reference$/m)[1]?.split(/^## /m)[0] ?? "";
  return section
    .split("\n")
    .filter((line) => line.startsWith("| `"))
    .map((line) => {
      // Split on pipes that are not escaped (`\|` appears inside the type column).
      const cells = line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim());
      const [path = "", type = "", fallback = "", description = ""] = cells;
      return { path: path.replace(/^`|`$/g, ""), type, default: fallback, description };
    });
}

describe("docs/configuration.md", () => {
  it("its reference table lists exactly CONFIG_REFERENCE, in order (else: npm run config:docs)", () => {
    expect(referenceRows()).toEqual(CONFIG_REFERENCE.map((entry) => ({ ...entry })));
  });

  it("every documented default is the default parseConfig applies", () => {
    const config = parseConfig({}) as unknown as Record<string, Record<string, unknown>>;
    let checked = 0;
    for (const entry of CONFIG_REFERENCE) {
      const literal = /^`(.+)`$/.exec(entry.default)?.[1];
      if (literal === undefined || literal.includes("<")) continue;
      const [section = "", key] = entry.path.split(".");
      const actual = key === undefined ? config[section] : config[section]?.[key];
      // Backticked defaults are JSON literals, or bare enum words.
      const expected: unknown =
        /^[a-z-]+$/.test(literal) && literal !== "true" && literal !== "false"
          ? literal
          : JSON.parse(literal);
      expect({ path: entry.path, value: actual }).toEqual({ path: entry.path, value: expected });
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(15);
    // The two documented non-literal defaults.
    expect(parseConfig({}).regions).toEqual([]);
    expect(parseConfig({}).defaults.clusterTag).toBeUndefined();
  });

  it("every documented leaf key is accepted and validated (a wrong value fails on that key)", () => {
    const minimalCluster = {
      name: "c",
      region: "eu-west-1",
      endpoint: "https://10.0.0.1:6443",
      caData: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
      credential: { ssmParameter: "/t" },
      vpcIds: ["vpc-0abc1234"],
    };
    const WRONG = 12.5; // wrong for every type: not a string, list, object, boolean or integer
    const docFor = (path: string): { doc: unknown; expectedPath: string } | undefined => {
      if (path.includes("<setting>")) return undefined;
      const parts = path.split(".");
      if (parts[0] === "selfManaged[]") {
        const rest = parts.slice(1);
        if (rest[0] === "credential" && rest[1]) {
          // credential.awsIamAuthenticator.clusterId → { awsIamAuthenticator: { clusterId: WRONG } }
          let value: unknown = WRONG;
          for (const part of [...rest.slice(2)].reverse()) value = { [part]: value };
          return {
            doc: { selfManaged: [{ ...minimalCluster, credential: { [rest[1]]: value } }] },
            expectedPath: `selfManaged[0].${rest.join(".")}`,
          };
        }
        return {
          doc: { selfManaged: [{ ...minimalCluster, [rest[0] ?? ""]: WRONG }] },
          expectedPath: `selfManaged[0].${rest.join(".")}`,
        };
      }
      if (parts.length === 1) return { doc: { [path]: WRONG }, expectedPath: path };
      if (parts[0] === "defaults" && parts[1] === "clusterTag" && parts[2]) {
        // The required key must be there for a wrong `values` to be what fails.
        return { doc: { defaults: { clusterTag: { key: "k", [parts[2]]: WRONG } } }, expectedPath: path };
      }
      // defaults.clusterTag.key → { defaults: { clusterTag: { key: WRONG } } }
      let value: unknown = WRONG;
      for (const part of [...parts.slice(1)].reverse()) value = { [part]: value };
      return { doc: { [parts[0] ?? ""]: value }, expectedPath: path };
    };
    let checked = 0;
    for (const entry of CONFIG_REFERENCE) {
      const built = docFor(entry.path);
      if (!built) {
        // `<setting>` rows: every key of defaults, in that override position.
        const settingKeys = CONFIG_REFERENCE.filter((row) => /^defaults\.\w+$/.test(row.path)).map((row) =>
          row.path.slice("defaults.".length),
        );
        for (const key of settingKeys) {
          const override = entry.path.startsWith("eks.")
            ? { doc: { eks: { clusters: { c: { [key]: WRONG } } } }, at: `eks.clusters.c.${key}` }
            : { doc: { selfManaged: [{ ...minimalCluster, [key]: WRONG }] }, at: `selfManaged[0].${key}` };
          expect(() => parseConfig(override.doc), override.at).toThrow(`config: ${override.at}: expected`);
        }
        checked++;
        continue;
      }
      let error: unknown;
      try {
        parseConfig(built.doc);
      } catch (caught) {
        error = caught;
      }
      expect(error, entry.path).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).path, entry.path).toBe(built.expectedPath);
      expect((error as ConfigError).problem, entry.path).not.toBe("unknown key");
      checked++;
    }
    expect(checked).toBe(CONFIG_REFERENCE.length);
  });

  it("every yaml example in it is a valid configuration", () => {
    const blocks = [...DOC.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) expect(() => parseConfig(parseYaml(block))).not.toThrow();
  });

  it("links the example file", () => {
    expect(DOC).toContain("(../config/example.yaml)");
  });
});

describe("config/example.yaml", () => {
  const example = parseConfig(parseYaml(readFileSync(join(ROOT, "config/example.yaml"), "utf8")));

  it("is a valid configuration that uses every section", () => {
    expect(example.regions.length).toBeGreaterThan(0);
    expect(Object.keys(example.eks.clusters).length).toBeGreaterThan(0);
    expect(example.selfManaged.length).toBeGreaterThan(0);
  });

  it("sets every key of defaults explicitly", () => {
    const documented = CONFIG_REFERENCE.filter((entry) => /^defaults\.\w+$/.test(entry.path)).map((entry) =>
      entry.path.slice("defaults.".length),
    );
    // Except nonEc2Nodes, a rule set that belongs on the clusters that have such nodes.
    const perCluster = ["nonEc2Nodes"];
    expect(Object.keys(example.defaults).sort()).toEqual(
      documented.filter((k) => !perCluster.includes(k)).sort(),
    );
    expect(example.selfManaged.some((cluster) => cluster.overrides.nonEc2Nodes)).toBe(true);
  });
});
