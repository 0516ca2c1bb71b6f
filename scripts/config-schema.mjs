// `npm run config:docs`: writes what the configuration schema (functions/core/config-schema.ts)
// publishes: config/schema.json and the reference table of docs/configuration.md, both
// formatted by prettier as `npm run lint` expects. The tests compare the committed files with
// the schema (test/unit/config-schema.test.ts, test/unit/docs-config.test.ts).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { format, resolveConfig } from "prettier";

const root = fileURLToPath(new URL("..", import.meta.url));

// The generator is TypeScript: bundled in memory (valibot included) and imported from there.
const bundle = await build({
  entryPoints: [join(root, "scripts/config-docs.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  write: false,
  logLevel: "warning",
});
const source = bundle.outputFiles[0].text;
const { configJsonSchema, referenceTable } = await import(
  `data:text/javascript;base64,${Buffer.from(source).toString("base64")}`
);

async function write(relative, text) {
  const file = join(root, relative);
  const formatted = await format(text, { ...(await resolveConfig(file)), filepath: file });
  const changed = readFileSync(file, "utf8") !== formatted;
  if (changed) writeFileSync(file, formatted);
  console.log(`${relative}: ${changed ? "written" : "up to date"}`);
}

await write("config/schema.json", JSON.stringify(configJsonSchema(), null, 2));

// The table is the block of `| …` lines after "## Reference"; everything else stays.
const docs = readFileSync(join(root, "docs/configuration.md"), "utf8");
const [before, after] = docs.split(/^## Reference$/m);
if (after === undefined) throw new Error("docs/configuration.md has no '## Reference' section");
const table = /^\|.*\n(?:\|.*\n)*/m.exec(after);
if (!table) throw new Error("docs/configuration.md: no table under '## Reference'");
const replaced = after.slice(0, table.index) + referenceTable() + after.slice(table.index + table[0].length);
await write("docs/configuration.md", `${before}## Reference${replaced}`);
