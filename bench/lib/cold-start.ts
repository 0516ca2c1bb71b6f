// Cold start of each Lambda bundle: its size, and the time a fresh `node` takes to import it
// with the function's environment (NODE_OPTIONS from serverless.yml included) up to the
// exported handler, against a bare `node -e 0` measured in the same loop.
import { spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { median, percentile } from "./stats.js";

export interface BundleColdStart {
  /** Function name, plus a note for a variant (e.g. without source maps). */
  fn: string;
  variant: string;
  bundleBytes: number;
  gzipBytes: number;
  sourceMapBytes: number;
  /** Median in-process import time: load + compile + top-level init, to `handler`. */
  importMsMedian: number;
  importMsP95: number;
  /** Median CPU time of that import. */
  importCpuMsMedian: number;
  /** Median wall time of the whole `node` process, spawn to exit. */
  processMsMedian: number;
  /** processMsMedian / bare node's. */
  ratioToBareNode: number;
  rssBytes: number;
}

export interface ColdStartResult {
  iterations: number;
  bareNodeMsMedian: number;
  /** 1-minute load average before and after: how busy the machine was. */
  loadAverage: { before: number; after: number };
  bundles: BundleColdStart[];
}

interface Timed {
  wallMs: number;
  stdout: string;
}

function timedRun(args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    child.once("close", (code) => {
      const wallMs = performance.now() - started;
      if (code === 0) resolve({ wallMs, stdout });
      else reject(new Error(`node ${args.join(" ")} exited ${code}:\n${stderr.slice(-4000)}`));
    });
  });
}

interface Variant {
  fn: string;
  variant: string;
  sourceMaps: boolean;
  env: Record<string, string>;
}

const FUNCTION_ENV: Record<string, Record<string, string>> = {
  approver: {
    ALERT_TOPIC_ARN: "arn:aws:sns:us-east-1:123456789012:csr-approver-alerts",
    CONFIG_PARAMETER: "/csr-approver/dev/config",
    CONFIG_FILE: "config/config.yaml",
    POWERTOOLS_METRICS_NAMESPACE: "CsrApprover",
  },
  notifier: {
    SLACK_WEBHOOK_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf",
    SLACK_WEBHOOK_PARAMETER: "",
  },
};

const VARIANTS: Variant[] = [
  { fn: "approver", variant: "as deployed", sourceMaps: true, env: FUNCTION_ENV.approver ?? {} },
  { fn: "notifier", variant: "as deployed", sourceMaps: true, env: FUNCTION_ENV.notifier ?? {} },
  // What serverless.yml's NODE_OPTIONS=--enable-source-maps costs at start-up.
  {
    fn: "approver",
    variant: "without --enable-source-maps",
    sourceMaps: false,
    env: FUNCTION_ENV.approver ?? {},
  },
];

/** What Lambda would set, plus the function's own variables from serverless.yml. */
function lambdaEnv(v: Variant, memoryMb: number, guard: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    TZ: ":UTC",
    LANG: "en_US.UTF-8",
    AWS_REGION: "us-east-1",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x",
    AWS_LAMBDA_FUNCTION_NAME: `csr-approver-dev-${v.fn}`,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_ACCESS_KEY_ID: "AKIACOLDSTARTBENCH",
    AWS_SECRET_ACCESS_KEY: "cold-start-bench-never-signs-anything",
    AWS_SESSION_TOKEN: "cold-start-bench",
    // serverless.yml provider.environment, plus the offline guard: init must not reach out.
    NODE_OPTIONS: `${v.sourceMaps ? "--enable-source-maps " : ""}--require ${guard}`,
    POWERTOOLS_SERVICE_NAME: "csr-approver",
    POWERTOOLS_LOG_LEVEL: "INFO",
    ...v.env,
  };
}

export async function measureColdStart(options: {
  lambdaDir: string;
  loader: string;
  offlineGuard: string;
  memoryMb: Record<string, number>;
  iterations: number;
  progress: (message: string) => void;
}): Promise<ColdStartResult> {
  const bare: number[] = [];
  const samples = VARIANTS.map(() => ({
    imports: [] as number[],
    cpu: [] as number[],
    walls: [] as number[],
    rss: 0,
  }));
  const before = loadavg()[0] ?? Number.NaN;

  // Interleaved, so a noisy moment on the machine hits every variant alike; one unmeasured
  // round first to warm the page cache.
  for (let round = -1; round < options.iterations; round++) {
    const b = await timedRun(["-e", "0"], { PATH: process.env.PATH ?? "" });
    if (round >= 0) bare.push(b.wallMs);
    for (const [index, v] of VARIANTS.entries()) {
      const env = lambdaEnv(v, options.memoryMb[v.fn] ?? 128, options.offlineGuard);
      const run = await timedRun([options.loader, join(options.lambdaDir, `${v.fn}.mjs`)], env);
      const line = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as {
        importMs: number;
        importCpuMs: number;
        rssBytes: number;
      };
      const entry = samples[index];
      if (entry && round >= 0) {
        entry.imports.push(line.importMs);
        entry.cpu.push(line.importCpuMs);
        entry.walls.push(run.wallMs);
        entry.rss = Math.max(entry.rss, line.rssBytes);
      }
    }
    if (round >= 0 && (round + 1) % 5 === 0)
      options.progress(`cold start: ${round + 1}/${options.iterations} rounds`);
  }
  const bareMedian = median(bare);
  return {
    iterations: options.iterations,
    bareNodeMsMedian: bareMedian,
    loadAverage: { before, after: loadavg()[0] ?? Number.NaN },
    bundles: VARIANTS.map((v, index) => {
      const file = join(options.lambdaDir, `${v.fn}.mjs`);
      const entry = samples[index] ?? { imports: [], cpu: [], walls: [], rss: 0 };
      const processMs = median(entry.walls);
      return {
        fn: v.fn,
        variant: v.variant,
        bundleBytes: statSync(file).size,
        gzipBytes: gzipSync(readFileSync(file)).length,
        sourceMapBytes: statSync(`${file}.map`).size,
        importMsMedian: median(entry.imports),
        importMsP95: percentile(entry.imports, 95),
        importCpuMsMedian: median(entry.cpu),
        processMsMedian: processMs,
        ratioToBareNode: processMs / bareMedian,
        rssBytes: entry.rss,
      };
    }),
  };
}
