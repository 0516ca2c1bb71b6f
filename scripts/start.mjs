// `npm start`: bundles the sandbox (sandbox/main.ts and the rig it drives) to
// dist/sandbox.mjs with esbuild, as build-cli.mjs does for the CLI, and runs it in this
// process with the same arguments. The CLI is rebuilt too: --keep suggests running it.
import { build } from "esbuild";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

await import("./build-cli.mjs");
const outfile = resolve("dist/sandbox.mjs");
await build({
  entryPoints: ["sandbox/main.ts"],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});
await import(pathToFileURL(outfile).href);
