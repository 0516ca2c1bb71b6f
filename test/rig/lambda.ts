// The packaged functions as Lambda runs them: the AWS Lambda Runtime Interface Emulator
// (built from its Go module, test/lambda/go.mod) starts the Node.js runtime interface client
// (npm aws-lambda-ric, a devDependency) on Node 22 in a directory holding only the zip's files,
// with the handler string from serverless.yml. Invocations go through the emulator's HTTP API.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { readZipEntry, zipEntrySizes } from "../../scripts/package.mjs";
import { REPO_ROOT, RIG_BIN_DIR, formatDuration, log } from "./build.js";
import { trackChild } from "./cluster.js";

const RIE_MODULE_DIR = join(REPO_ROOT, "test/lambda");
const RIE_PACKAGE = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie";
export const RIE_BINARY = join(RIG_BIN_DIR, "aws-lambda-rie");

function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=readonly -buildvcs=false", CGO_ENABLED: "0" };
}

/** Builds aws-lambda-rie into .rig/bin when go.mod/go.sum or the Go version changed. */
export function ensureRie(): { binary: string; builtNow: boolean; seconds: number } {
  const goVersion = execFileSync("go", ["version"], { env: goEnv(), encoding: "utf8" }).trim();
  const hash = createHash("sha256").update(goVersion);
  for (const file of ["go.mod", "go.sum"]) hash.update(readFileSync(join(RIE_MODULE_DIR, file)));
  const digest = hash.digest("hex");
  const stampFile = `${RIE_BINARY}.stamp`;
  if (existsSync(RIE_BINARY) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === digest)
    return { binary: RIE_BINARY, builtNow: false, seconds: 0 };
  mkdirSync(RIG_BIN_DIR, { recursive: true });
  const started = Date.now();
  log(`building ${RIE_PACKAGE} (about 75 packages, under a minute cold)`);
  const tmp = `${RIE_BINARY}.tmp-${process.pid}`;
  try {
    execFileSync("go", ["build", "-p", "2", "-trimpath", "-o", tmp, RIE_PACKAGE], {
      cwd: RIE_MODULE_DIR,
      env: goEnv(),
      stdio: ["ignore", "inherit", "pipe"],
    });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? "");
    throw new Error(`cannot build the Lambda Runtime Interface Emulator in ${RIE_MODULE_DIR}:\n${stderr}`);
  }
  renameSync(tmp, RIE_BINARY);
  writeFileSync(stampFile, digest);
  const seconds = (Date.now() - started) / 1000;
  log(`built aws-lambda-rie in ${formatDuration(seconds)}`);
  return { binary: RIE_BINARY, builtNow: true, seconds };
}

/** The handler strings of serverless.yml, e.g. approver -> functions/approver.handler. */
export function serverlessHandlers(): Record<string, string> {
  const doc = parse(readFileSync(join(REPO_ROOT, "serverless.yml"), "utf8")) as {
    functions: Record<string, { handler: string }>;
  };
  return Object.fromEntries(Object.entries(doc.functions).map(([name, fn]) => [name, fn.handler]));
}

/** `npm run package` into `outDir` (offline, as CI does); returns the zips' paths. */
export function packageFunctions(outDir: string): { approver: string; notifier: string } {
  execFileSync(process.execPath, [join(REPO_ROOT, "scripts/package.mjs"), "--package", outDir], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const zips = { approver: join(outDir, "approver.zip"), notifier: join(outDir, "notifier.zip") };
  for (const zip of Object.values(zips))
    if (!existsSync(zip)) throw new Error(`npm run package made no ${zip}`);
  return zips;
}

/** Unzips every entry into `dir` (nothing else goes there): the function's /var/task. */
export function unzipTo(zip: string, dir: string): string[] {
  const names = [...zipEntrySizes(zip).keys()].filter((name) => !name.endsWith("/"));
  for (const name of names) {
    if (name.startsWith("/") || name.split("/").includes(".."))
      throw new Error(`${zip}: unsafe entry ${name}`);
    const target = join(dir, name);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, readZipEntry(zip, name));
  }
  return names;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Invocation {
  status: number;
  body: unknown;
  /** Everything the emulator and the function printed during this invocation. */
  lines: string[];
  millis: number;
}

export class EmulatedFunction {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private readonly url: string;

  private constructor(child: ChildProcess, url: string) {
    this.child = child;
    this.url = url;
    const collect = (stream: NodeJS.ReadableStream | null) => {
      let buffered = "";
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        buffered += chunk;
        const parts = buffered.split("\n");
        buffered = parts.pop() ?? "";
        this.lines.push(...parts);
      });
    };
    collect(child.stdout);
    collect(child.stderr);
  }

  /**
   * Starts the emulator for `handler` (a serverless.yml handler string) in `taskRoot` with the
   * function's environment. Lambda's own variables that the emulator leaves out are set as
   * Lambda sets them for an on-demand function.
   */
  static async start(options: {
    taskRoot: string;
    handler: string;
    env: Record<string, string>;
    functionName: string;
  }): Promise<EmulatedFunction> {
    const node = realpathSync(join(REPO_ROOT, "node_modules/.bin/node"));
    const ric = join(REPO_ROOT, "node_modules/aws-lambda-ric/index.mjs");
    if (!existsSync(ric)) throw new Error(`aws-lambda-ric is not installed (${ric}): run npm ci`);
    if (!existsSync(join(REPO_ROOT, "node_modules/aws-lambda-ric/rapid-client.node")))
      throw new Error("aws-lambda-ric's native addon (rapid-client.node) was not built: see npm ci's output");
    const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
    if (!version.startsWith("v22."))
      throw new Error(`the Lambda runtime tests need Node 22, found ${version}`);
    const apiPort = await freePort();
    const runtimePort = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LAMBDA_TASK_ROOT: options.taskRoot,
      AWS_LAMBDA_FUNCTION_NAME: options.functionName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "256",
      AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
      AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x",
      TZ: ":UTC",
      ...options.env,
    };
    const child = spawn(
      RIE_BINARY,
      [
        "--runtime-interface-emulator-address",
        `127.0.0.1:${apiPort}`,
        "--runtime-api-address",
        `127.0.0.1:${runtimePort}`,
        node,
        ric,
        options.handler,
      ],
      { cwd: options.taskRoot, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    trackChild(child);
    const fn = new EmulatedFunction(
      child,
      `http://127.0.0.1:${apiPort}/2015-03-31/functions/function/invocations`,
    );
    // The emulator starts the runtime on the first invocation; wait for its HTTP API.
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`aws-lambda-rie exited:\n${fn.lines.join("\n")}`);
      const up = await new Promise<boolean>((resolve) => {
        const probe = createServer();
        probe.once("error", () => resolve(true)); // taken: the emulator listens
        probe.listen(apiPort, "127.0.0.1", () => probe.close(() => resolve(false)));
      });
      if (up) return fn;
      if (Date.now() > deadline) throw new Error(`aws-lambda-rie did not listen:\n${fn.lines.join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async invoke(event: unknown): Promise<Invocation> {
    const from = this.lines.length;
    const started = Date.now();
    const response = await fetch(this.url, { method: "POST", body: JSON.stringify(event) });
    const text = await response.text();
    // The REPORT line follows the response: give the emulator a moment to print it.
    for (let i = 0; i < 40 && !this.lines.slice(from).some((l) => l.startsWith("REPORT ")); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: response.status, body, lines: this.lines.slice(from), millis: Date.now() - started };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.pid === undefined) return;
    const exited = new Promise((resolve) => this.child.once("close", resolve));
    try {
      process.kill(-this.child.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-(this.child.pid ?? 0), "SIGKILL");
      } catch {
        // gone
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** JSON lines a function printed (Powertools logs and EMF documents); other lines skipped. */
export function jsonLines(lines: string[]): Record<string, unknown>[] {
  return lines.flatMap((line) => {
    const start = line.indexOf("{");
    if (start < 0) return [];
    try {
      const parsed = JSON.parse(line.slice(start)) as unknown;
      return parsed && typeof parsed === "object" ? [parsed as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}
