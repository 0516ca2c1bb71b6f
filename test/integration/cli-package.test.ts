// The CLI as an operator installs it: `npm pack` → `npm i -g` into an empty prefix → run it
// far from the repository (no sources, no dev dependencies, no build step); and `npx
// --no-install csr-approver` in the repository prints only the CLI's own output, even with an
// empty npm cache (npx then links this package into its cache and runs `prepare`, which must
// leave dist/ alone).
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const NODE_DIR = dirname(process.execPath);

describe("the packed CLI", () => {
  let work: string;
  let tarball: string;
  let prefix: string;
  let packed: string[];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "cli-package-"));
    const out = execFileSync("npm", ["pack", "--json", "--pack-destination", work], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
    tarball = join(work, info!.filename);
    packed = info!.files.map((f) => f.path);
    prefix = join(work, "prefix");
    execFileSync(
      "npm",
      ["install", "--global", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", tarball],
      { cwd: work, stdio: ["ignore", "pipe", "pipe"] },
    );
  }, 300_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("holds the built CLI and its docs, not the sources or the tests", () => {
    expect(packed).toContain("bin/csr-approver.mjs");
    expect(packed).toContain("dist/cli.mjs");
    expect(packed.some((p) => p.startsWith("dist/cli-chunks/"))).toBe(true);
    expect(packed).toContain("README.md");
    expect(packed.filter((p) => /^(functions|test|sandbox|bench|scripts)\//.test(p))).toEqual([]);
    expect(packed.filter((p) => p.endsWith(".map") || p === "dist/sandbox.mjs")).toEqual([]);
  });

  it("installs globally and runs --help and evaluate without the repository", () => {
    const bin = join(prefix, "bin", "csr-approver");
    expect(existsSync(bin)).toBe(true);
    // No dev dependency came along: the bundle needs no TypeScript, esbuild or vitest.
    const modules = readdirSync(
      join(prefix, "lib", "node_modules", "kubelet-csr-approver-lambda", "node_modules"),
    );
    for (const dev of ["esbuild", "typescript", "vitest", "osls"]) expect(modules).not.toContain(dev);

    const env = { PATH: [NODE_DIR, "/usr/bin", "/bin"].join(delimiter), HOME: work };
    const help = spawnSync(bin, ["--help"], { cwd: work, env, encoding: "utf8" });
    expect(help.stderr).toBe("");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: csr-approver <command>/);

    for (const name of ["csrs.json", "instances.json"])
      copyFileSync(join(ROOT, "test/fixtures", name), join(work, name));
    const evaluate = spawnSync(
      bin,
      [
        "evaluate",
        "--csr",
        "csrs.json",
        "--instances",
        "instances.json",
        "--cluster-vpc",
        "vpc-0a1b2c3d4e5f67890",
        "--now",
        "2026-01-01T00:05:00Z",
      ],
      { cwd: work, env, encoding: "utf8" },
    );
    expect(evaluate.stderr).toBe("");
    expect(evaluate.status).toBe(0);
    const lines = evaluate.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { decision: string });
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.every((l) => ["approve", "deny", "wait", "skip"].includes(l.decision))).toBe(true);
  });
});

describe("npx --no-install csr-approver in the repository", () => {
  it("prints only the CLI's output and leaves dist/ as built, even with an empty npm cache", () => {
    const cache = mkdtempSync(join(tmpdir(), "npx-cache-"));
    try {
      const before = statSync(join(ROOT, "dist/cli.mjs")).mtimeMs;
      const run = spawnSync("npx", ["--no-install", "csr-approver", "--help"], {
        cwd: ROOT,
        env: { ...process.env, npm_config_cache: cache, npm_config_update_notifier: "false" },
        encoding: "utf8",
      });
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/^Usage: csr-approver <command>/);
      expect(statSync(join(ROOT, "dist/cli.mjs")).mtimeMs).toBe(before);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 120_000);
});
