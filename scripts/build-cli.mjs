// Bundles the CLI into dist/ so `npx --no-install csr-approver` starts fast on any Node >= 20
// without a TypeScript loader. Runs on `npm ci` (prepare) and before the tests.
import { build } from "esbuild";

await build({
  entryPoints: ["functions/cli/main.ts"],
  outfile: "dist/cli.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});
