// `npm run bench` step 1: bundles the harness (TypeScript), its worker processes and the two
// Lambda functions into .rig/bench/. The functions and the workers are bundled exactly as
// serverless.yml's custom.esbuild bundles the functions for deployment, so sizes, load times
// and memory are those of the deployed code.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BENCH_OUT = path.join(ROOT, ".rig", "bench");

// The deployment options, read from serverless.yml rather than copied, so they cannot drift.
const serverless = parse(readFileSync(path.join(ROOT, "serverless.yml"), "utf8"), { logLevel: "silent" });
const opts = serverless.custom.esbuild;
const lambdaOptions = {
  bundle: opts.bundle,
  minify: opts.minify,
  sourcemap: opts.sourcemap,
  target: opts.target,
  platform: opts.platform,
  format: opts.format,
  mainFields: opts.mainFields,
  external: opts.exclude,
  banner: opts.banner,
  logLevel: "warning",
};

// The harness itself: packages resolved from node_modules at run time.
await build({
  entryPoints: { main: path.join(ROOT, "bench/main.ts"), charts: path.join(ROOT, "bench/charts.ts") },
  outdir: BENCH_OUT,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});

// The workers run the sweep code the way the Lambda does: one minified bundle, same options,
// so their memory and start-up figures are the deployed code's, not node_modules'.
await build({
  ...lambdaOptions,
  entryPoints: {
    "sweep-worker": path.join(ROOT, "bench/lib/sweep-worker.ts"),
    "watch-worker": path.join(ROOT, "bench/lib/watch-worker.ts"),
    "event-worker": path.join(ROOT, "bench/lib/event-worker.ts"),
  },
  outdir: BENCH_OUT,
  outExtension: { ".js": ".mjs" },
});

// The functions, as deployed.
await build({
  ...lambdaOptions,
  entryPoints: {
    approver: path.join(ROOT, "functions/approver.ts"),
    notifier: path.join(ROOT, "functions/notifier.ts"),
  },
  outdir: path.join(BENCH_OUT, "lambda"),
  outExtension: { ".js": opts.outputFileExtension ?? ".mjs" },
});
