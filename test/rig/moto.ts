// moto in server mode, from PyPI into a project-local virtualenv (.rig/venv), on a free
// loopback port. The venv is (re)created when test/rig/requirements*.txt change.
import { spawn, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { RIG_SOURCE_DIR, RIG_STATE_DIR, formatDuration, log } from "./build.js";
import { trackChild } from "./cluster.js";

export const MOTO_REGION = "us-east-1";
// moto accepts any credentials; the SDK clients just need some.
export const MOTO_CREDENTIALS = { accessKeyId: "testing", secretAccessKey: "testing" } as const;

const VENV_DIR = join(RIG_STATE_DIR, "venv");
const REQUIREMENTS = join(RIG_SOURCE_DIR, "requirements.txt");
const CONSTRAINTS = join(RIG_SOURCE_DIR, "constraints.txt");

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolvePort(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

function python(): string {
  for (const candidate of ["python3.11", "python3"]) {
    try {
      execFileSync(candidate, ["--version"], { stdio: "ignore" });
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error("the rig needs Python 3 (python3) on PATH to run moto");
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.once("error", (error) => reject(new Error(`${command}: ${error.message}`)));
    child.once("close", (code) => {
      if (code === 0) resolveRun();
      else reject(new Error(`${command} ${args.join(" ")} failed (exit ${code}):\n${stderr}`));
    });
  });
}

// Asynchronous, so it can run while kube-apiserver builds.
export async function ensureMotoVenv(): Promise<string> {
  const stampFile = join(VENV_DIR, ".rig-stamp");
  const wanted = createHash("sha256")
    .update(readFileSync(REQUIREMENTS))
    .update(readFileSync(CONSTRAINTS))
    .digest("hex");
  const venvPython = join(VENV_DIR, "bin/python");
  if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === wanted && existsSync(venvPython))
    return venvPython;

  const started = Date.now();
  const pins = readFileSync(REQUIREMENTS, "utf8")
    .split("\n")
    .filter((line) => line.trim() && !line.startsWith("#"))
    .join(" ");
  log(`creating ${VENV_DIR} and installing ${pins} from PyPI`);
  rmSync(VENV_DIR, { recursive: true, force: true });
  await run(python(), ["-m", "venv", VENV_DIR]);
  await run(venvPython, [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--disable-pip-version-check",
    "-r",
    REQUIREMENTS,
    "-c",
    CONSTRAINTS,
  ]);
  writeFileSync(stampFile, wanted);
  log(`moto installed in ${formatDuration((Date.now() - started) / 1000)}`);
  return venvPython;
}

export interface MotoServer {
  endpoint: string;
  port: number;
  // moto's own request log and tracebacks.
  logFile: string;
  region: string;
  // Drops every resource moto holds (POST /moto-api/reset).
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoto(
  options: { logDir?: string; venv?: Promise<string> } = {},
): Promise<MotoServer> {
  const venvPython = await (options.venv ?? ensureMotoVenv());
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const logFile = join(options.logDir ?? RIG_STATE_DIR, `moto-${port}.log`);
    const logFd = openSync(logFile, "w");
    const child = spawn(
      venvPython,
      [join(RIG_SOURCE_DIR, "moto_server.py"), "-H", "127.0.0.1", "-p", String(port)],
      {
        stdio: ["pipe", logFd, logFd],
        detached: true,
      },
    );
    closeSync(logFd);
    trackChild(child);
    const logTail = () => readFileSync(logFile, "utf8").slice(-8000);
    const exited = new Promise<void>((resolveExit) => child.once("close", () => resolveExit()));
    const deadline = Date.now() + 60_000;
    let healthy = false;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const response = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) });
        if (response.ok) {
          healthy = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await new Promise((resolveSleep) => setTimeout(resolveSleep, 200));
    }
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, "SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    };
    if (healthy) {
      return {
        endpoint,
        port,
        logFile,
        region: MOTO_REGION,
        stop,
        async reset() {
          const response = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
          if (!response.ok) throw new Error(`moto reset: HTTP ${response.status}`);
        },
      };
    }
    await stop();
    lastError = logTail();
    if (!/Address already in use/i.test(lastError)) break;
  }
  throw new Error(`moto did not become healthy within 60s:\n${lastError}`);
}
