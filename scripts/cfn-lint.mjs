#!/usr/bin/env node
// `node scripts/cfn-lint.mjs <template.json>…`: validates CloudFormation templates with
// cfn-lint (PyPI), pinned. Uses the rig's virtualenv (.rig/venv) when it already has
// cfn-lint, else its own .rig/venv-cfn, created on first use. Fails loudly when cfn-lint
// cannot be installed: a template that was not linted must not pass as linted.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CFN_LINT_VERSION = "1.51.0";
/**
 * W3005 ("DependsOn already enforced by GetAtt"): osls itself writes DependsOn on the role
 * next to the GetAtt it also writes; not ours to change.
 */
export const IGNORED_CHECKS = ["W3005"];

function run(command, args, options = {}) {
  return spawnSync(command, args, { encoding: "utf8", ...options });
}

function versionOf(binary) {
  if (!existsSync(binary)) return undefined;
  const result = run(binary, ["--version"]);
  return result.status === 0 ? result.stdout.trim().split(/\s+/).pop() : undefined;
}

/** Path of a cfn-lint executable of the pinned version; installs it when needed. */
export function ensureCfnLint() {
  const candidates = [
    path.join(ROOT, ".rig", "venv", "bin", "cfn-lint"),
    path.join(ROOT, ".rig", "venv-cfn", "bin", "cfn-lint"),
  ];
  for (const candidate of candidates) {
    if (versionOf(candidate) === CFN_LINT_VERSION) return candidate;
  }
  const venv = path.join(ROOT, ".rig", "venv-cfn");
  // A venv's scripts carry its absolute path, so it is built in place; whatever an
  // interrupted install left there is removed first.
  rmSync(venv, { recursive: true, force: true });
  const python = process.env.PYTHON ?? "python3";
  const steps = [
    [python, ["-m", "venv", venv]],
    [
      path.join(venv, "bin", "python"),
      ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `cfn-lint==${CFN_LINT_VERSION}`],
    ],
  ];
  for (const [command, args] of steps) {
    const result = run(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    if (result.status !== 0) {
      rmSync(venv, { recursive: true, force: true });
      throw new Error(
        `cannot install cfn-lint ${CFN_LINT_VERSION} into ${venv}: \`${command} ${args.join(" ")}\` ` +
          `exited ${result.status ?? result.signal}\n${result.stderr || result.error?.message || ""}`,
      );
    }
  }
  const binary = path.join(venv, "bin", "cfn-lint");
  if (versionOf(binary) !== CFN_LINT_VERSION)
    throw new Error(`cfn-lint in ${venv} is not version ${CFN_LINT_VERSION}`);
  return binary;
}

/** Runs cfn-lint on the templates: { status, output }; status 0 means no finding at all. */
export function lintTemplates(templates) {
  const binary = ensureCfnLint();
  const result = run(binary, [
    "--format",
    "parseable",
    "--ignore-checks",
    ...IGNORED_CHECKS,
    "--",
    ...templates,
  ]);
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const templates = process.argv.slice(2);
  if (templates.length === 0)
    templates.push(path.join(ROOT, ".serverless", "cloudformation-template-update-stack.json"));
  const { status, output } = lintTemplates(templates);
  if (output) console.log(output);
  console.log(status === 0 ? "cfn-lint: no findings" : `cfn-lint: findings (exit ${status})`);
  process.exit(status === 0 ? 0 : 1);
}
