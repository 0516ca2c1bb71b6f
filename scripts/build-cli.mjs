// Bundles the CLI into dist/ so `npx --no-install csr-approver` starts fast without a
// TypeScript loader. Code splitting keeps each command in its own chunk: `evaluate` never
// loads the AWS SDK or the Kubernetes client.
//
// `--if-stale` (the `prepare` script) builds only when the sources changed since the last
// build (a hash of functions/ and this script, kept in dist/.build-stamp). npm runs `prepare`
// after `npm ci`, but also whenever npx links this package into its cache (an empty npm cache);
// with the stamp that second run leaves dist/ as it is and prints nothing.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const stampFile = join(dist, ".build-stamp");

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? files(path) : [path];
  });
}

function sourceHash() {
  const hash = createHash("sha256");
  const inputs = [
    ...files(join(root, "functions")).filter((f) => f.endsWith(".ts")),
    fileURLToPath(import.meta.url),
  ];
  for (const file of inputs.sort()) hash.update(relative(root, file)).update("\0").update(readFileSync(file));
  return hash.digest("hex");
}

const hash = sourceHash();
const upToDate =
  existsSync(join(dist, "cli.mjs")) &&
  existsSync(stampFile) &&
  readFileSync(stampFile, "utf8").trim() === hash;
if (!(process.argv.includes("--if-stale") && upToDate)) {
  rmSync(join(dist, "cli-chunks"), { recursive: true, force: true });
  await build({
    entryPoints: { cli: join(root, "functions/cli/main.ts") },
    outdir: dist,
    outExtension: { ".js": ".mjs" },
    chunkNames: "cli-chunks/[name]-[hash]",
    splitting: true,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    packages: "external",
    sourcemap: true,
    logLevel: "warning",
  });
  mkdirSync(dist, { recursive: true });
  writeFileSync(stampFile, `${hash}\n`);
}
