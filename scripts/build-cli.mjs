// Bundles the CLI into dist/ so `npx --no-install csr-approver` starts fast without a
// TypeScript loader. Runs on `npm ci` (prepare) and before the tests. Code splitting keeps
// each command in its own chunk: `evaluate` never loads the AWS SDK or the Kubernetes client.
import { rmSync } from "node:fs";
import { build } from "esbuild";

rmSync("dist/cli-chunks", { recursive: true, force: true });
await build({
  entryPoints: { cli: "functions/cli/main.ts" },
  outdir: "dist",
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
