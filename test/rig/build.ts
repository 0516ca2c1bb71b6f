// Builds the rig's Go binaries (kube-apiserver from k8s.io/kubernetes, and the `rig`
// launcher embedding etcd) into .rig/bin, only when go.mod/go.sum/Go sources or the Go
// version changed. The first build compiles ~2,000 packages: it prints progress.
import { execFile, execFileSync, spawn } from "node:child_process";
import { promisify } from "node:util";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

// Found by walking up from this module (or the cwd), so the rig also works when bundled.
function findRepoRoot(): string {
  for (const start of [dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let dir = start; ; dir = dirname(dir)) {
      if (existsSync(join(dir, "test/rig/go.mod"))) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error("cannot find the repository (no test/rig/go.mod above this module or the cwd)");
}

export const REPO_ROOT = findRepoRoot();
const execFileAsync = promisify(execFile);
export const RIG_SOURCE_DIR = join(REPO_ROOT, "test/rig");
export const RIG_STATE_DIR = join(REPO_ROOT, ".rig");
export const RIG_BIN_DIR = join(RIG_STATE_DIR, "bin");

export interface RigBinaries {
  apiserver: string;
  rig: string;
  // Seconds the last real (non-skipped) build took, and whether it ran just now.
  buildSeconds: number;
  // The cold build of this checkout (most packages compiled, not taken from the Go build cache);
  // undefined when every build here relinked from a cache warmed elsewhere.
  firstBuildSeconds?: number;
  builtNow: boolean;
  builtAt: string;
}

interface Stamp {
  hash: string;
  buildSeconds: number;
  builtAt: string;
  // The cold build, kept across later (cache-warm) rebuilds; absent when none ran here.
  firstBuildSeconds?: number;
}

/** A build that compiled at least this share of the packages was a cold one (no warm cache). */
const COLD_BUILD_SHARE = 0.5;

/** The rig's one line about its binaries: what happened now, and the first (cold) build. */
export function describeBuild(binaries: RigBinaries): string {
  const now = binaries.builtNow
    ? `built just now in ${formatDuration(binaries.buildSeconds)}`
    : `up to date, built ${binaries.builtAt}`;
  const first =
    binaries.firstBuildSeconds !== undefined
      ? `the first (cold) build of .rig/bin took ${formatDuration(binaries.firstBuildSeconds)}`
      : "no cold build ran in this checkout (its builds relinked from the warm Go build cache)";
  return `binaries ${now}; ${first}`;
}

export function log(message: string): void {
  process.stdout.write(`[rig] ${message}\n`);
}

// Not the repo's GOFLAGS/toolchain surprises: local toolchain, go.sum must already be complete.
function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=readonly -buildvcs=false", CGO_ENABLED: "0" };
}

function goSources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...goSources(path));
    else if (entry.name.endsWith(".go")) out.push(path);
  }
  return out.sort();
}

function sourceHash(goVersion: string): string {
  const hash = createHash("sha256").update(goVersion);
  const files = [
    join(RIG_SOURCE_DIR, "go.mod"),
    join(RIG_SOURCE_DIR, "go.sum"),
    ...goSources(join(RIG_SOURCE_DIR, "cmd")),
  ];
  for (const file of files)
    hash.update(relative(RIG_SOURCE_DIR, file)).update("\0").update(readFileSync(file));
  return hash.digest("hex");
}

function formatDuration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m > 0 ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}

export { formatDuration };

// go build -v prints each package it compiles (cached ones are not printed), so counting
// lines against the dependency count gives an honest upper-bounded progress figure.
function goBuild(packages: string[], outDir: string, label: string, totalPackages: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn("go", ["build", "-p", "2", "-v", "-trimpath", "-o", outDir + "/", ...packages], {
      cwd: RIG_SOURCE_DIR,
      env: goEnv(),
      stdio: ["ignore", "inherit", "pipe"],
    });
    let compiled = 0;
    let tail: string[] = [];
    let buffered = "";
    const heartbeat = setInterval(() => {
      const elapsed = formatDuration((Date.now() - started) / 1000);
      log(`building ${label}: ${compiled} of at most ${totalPackages} packages compiled, ${elapsed} elapsed`);
    }, 20_000);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        if (/^[\w.\-/]+$/.test(line)) compiled += 1;
        tail.push(line);
      }
      if (tail.length > 60) tail = tail.slice(-60);
    });
    child.on("error", (error) => {
      clearInterval(heartbeat);
      reject(new Error(`cannot run go (is Go >= 1.26 on PATH?): ${error.message}`));
    });
    child.on("close", (code) => {
      clearInterval(heartbeat);
      if (code === 0) resolvePromise(compiled);
      else reject(new Error(`go build ${label} failed (exit ${code}):\n${[...tail, buffered].join("\n")}`));
    });
  });
}

export async function ensureBinaries(): Promise<RigBinaries> {
  const apiserver = join(RIG_BIN_DIR, "kube-apiserver");
  const rig = join(RIG_BIN_DIR, "rig");
  const stampFile = join(RIG_BIN_DIR, "stamp.json");
  let goVersion: string;
  try {
    goVersion = execFileSync("go", ["version"], { env: goEnv(), encoding: "utf8" }).trim();
  } catch (error) {
    throw new Error(`the rig needs Go >= 1.26 on PATH: ${(error as Error).message}`);
  }
  const hash = sourceHash(goVersion);
  const previous = existsSync(stampFile) ? (JSON.parse(readFileSync(stampFile, "utf8")) as Stamp) : undefined;
  if (previous?.hash === hash && existsSync(apiserver) && existsSync(rig)) {
    return { apiserver, rig, ...previous, builtNow: false };
  }

  mkdirSync(RIG_BIN_DIR, { recursive: true });
  const started = Date.now();
  const packages = ["k8s.io/kubernetes/cmd/kube-apiserver", "./cmd/rig"];
  log(
    `building ${packages.join(" and ")} with ${goVersion} (first build compiles ~2,000 packages: expect 10-20 min on 2 cores; later builds reuse the Go build cache)`,
  );
  // Also downloads the modules (through the Go module proxy) on a fresh machine.
  log("resolving packages (go list -deps; downloads modules on first use)");
  let total = 0;
  try {
    const { stdout } = await execFileAsync("go", ["list", "-deps", ...packages], {
      cwd: RIG_SOURCE_DIR,
      env: goEnv(),
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    total = stdout.split("\n").filter(Boolean).length;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(
      `go list failed in ${RIG_SOURCE_DIR} (module download through the Go proxy?):\n${stderr || (error as Error).message}`,
    );
  }
  // Build beside the final names, then rename: a half-written binary is never picked up.
  const tmpDir = join(RIG_BIN_DIR, `.tmp-${process.pid}`);
  mkdirSync(tmpDir, { recursive: true });
  const compiled = await goBuild(packages, tmpDir, "kube-apiserver + rig", total);
  renameSync(join(tmpDir, "kube-apiserver"), apiserver);
  renameSync(join(tmpDir, "rig"), rig);
  rmSync(tmpDir, { recursive: true, force: true });
  const buildSeconds = (Date.now() - started) / 1000;
  // Only a build that really compiled (most packages not from the Go build cache) is the
  // "first build"; a relink in a fresh checkout (or after `npm start -- --clean`) is not.
  const cold = total > 0 && compiled >= total * COLD_BUILD_SHARE;
  const firstBuildSeconds = previous?.firstBuildSeconds ?? (cold ? buildSeconds : undefined);
  const stamp: Stamp = {
    hash,
    buildSeconds,
    builtAt: statSync(apiserver).mtime.toISOString(),
    ...(firstBuildSeconds !== undefined ? { firstBuildSeconds } : {}),
  };
  writeFileSync(stampFile, JSON.stringify(stamp, null, 2));
  log(
    `built kube-apiserver and rig in ${formatDuration(buildSeconds)} (${compiled} of ${total} packages compiled: ${cold ? "a cold build" : "a relink from the warm Go build cache"})`,
  );
  return { apiserver, rig, ...stamp, builtNow: true };
}
