#!/usr/bin/env node
// `npm run package [-- <osls options>]`: renders the CloudFormation template and bundles
// both functions with `osls package`, offline and without an AWS account, then checks the
// approver bundle against its size budget.
//
// Offline for certain: osls runs with dummy credentials (so a real profile on the machine is
// never used), no shared config files, and scripts/offline-guard.cjs preloaded, which fails
// any connection that is not loopback. Output: .serverless/ (or the `--package` directory),
// with cloudformation-template-update-stack.json and one zip per function.
//
// `--stackset` also writes cloudformation-template-stackset.json there: the same stack made
// portable for a CloudFormation StackSet across an organization (infra/stackset.mjs,
// docs/organizations.md), with the S3 keys to upload approver.zip to.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { inflateRawSync } from "node:zlib";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { STACKSET_TEMPLATE_FILE, contentKey, stackSetTemplate } from "../infra/stackset.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** Minified approver entry (the `.mjs`, source map excluded): a cold-start budget. */
export const APPROVER_BUNDLE_BUDGET_BYTES = 1_500_000;

/** Uncompressed size of every entry of a zip file, read from its central directory. */
export function zipEntrySizes(zipPath) {
  const zip = readFileSync(zipPath);
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${zipPath}: not a zip file`);
  const entries = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  const sizes = new Map();
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error(`${zipPath}: corrupt central directory`);
    const uncompressed = zip.readUInt32LE(offset + 24);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    sizes.set(zip.toString("utf8", offset + 46, offset + 46 + nameLength), uncompressed);
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return sizes;
}

/** The content of one zip entry (stored or deflated), found through the central directory. */
export function readZipEntry(zipPath, entryName) {
  const zip = readFileSync(zipPath);
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${zipPath}: not a zip file`);
  let offset = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < zip.readUInt16LE(eocd + 10); i++) {
    const method = zip.readUInt16LE(offset + 10);
    const compressed = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const name = zip.toString("utf8", offset + 46, offset + 46 + nameLength);
    if (name === entryName) {
      const local = zip.readUInt32LE(offset + 42);
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + compressed);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return inflateRawSync(data);
      throw new Error(`${zipPath}: ${entryName} uses compression method ${method}`);
    }
    offset += 46 + nameLength + zip.readUInt16LE(offset + 30) + zip.readUInt16LE(offset + 32);
  }
  throw new Error(`${zipPath}: no entry ${entryName}`);
}

function packageDirectory(args) {
  const index = args.findIndex((arg) => arg === "--package" || arg.startsWith("--package="));
  if (index < 0) return path.join(ROOT, ".serverless");
  const value = args[index].includes("=") ? args[index].split("=")[1] : args[index + 1];
  return path.resolve(ROOT, value);
}

function optionValue(args, name) {
  const index = args.findIndex((arg) => arg === name || arg.startsWith(`${name}=`));
  if (index < 0) return undefined;
  return args[index].includes("=") ? args[index].split("=")[1] : args[index + 1];
}

/** Writes the StackSet template beside the zips; returns its path and the zip's S3 key. */
export function writeStackSetTemplate(outDir, stage) {
  const template = JSON.parse(
    readFileSync(path.join(outDir, "cloudformation-template-update-stack.json"), "utf8"),
  );
  const approverKey = contentKey(stage, "approver", readFileSync(path.join(outDir, "approver.zip")));
  const stackset = stackSetTemplate(template, { stage, zipKeys: { approver: approverKey } });
  const file = path.join(outDir, STACKSET_TEMPLATE_FILE);
  writeFileSync(file, `${JSON.stringify(stackset, null, 2)}\n`);
  return { file, approverKey };
}

function offlineEnvironment() {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith("AWS_")) delete env[name];
  }
  return {
    ...env,
    AWS_ACCESS_KEY_ID: "AKIAOFFLINEPACKAGING",
    AWS_SECRET_ACCESS_KEY: "offline-packaging-never-signs-a-request",
    AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
    AWS_CONFIG_FILE: path.join(ROOT, ".serverless-no-aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: path.join(ROOT, ".serverless-no-aws-credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--require ${path.join(ROOT, "scripts", "offline-guard.cjs")}`]
      .filter(Boolean)
      .join(" "),
  };
}

/**
 * The size lines to print and whether the budget holds. `sizes` maps a function name to its
 * bundle's byte count (undefined: the zip has no bundle, which fails too).
 */
export function checkBundleSizes(sizes, budget = APPROVER_BUNDLE_BUDGET_BYTES) {
  const lines = [];
  let ok = true;
  for (const [fn, bytes] of Object.entries(sizes)) {
    if (bytes === undefined) {
      lines.push(`package: ${fn}.zip has no functions/${fn}.mjs`);
      ok = false;
      continue;
    }
    const line = `package: ${fn} bundle ${(bytes / 1e6).toFixed(3)} MB minified (functions/${fn}.mjs)`;
    if (fn === "approver" && bytes > budget) {
      lines.push(`${line}: OVER the ${budget / 1e6} MB budget`);
      ok = false;
    } else {
      lines.push(line);
    }
  }
  return { ok, lines };
}

/** Bundle size per function, read from the zips in `outDir`. */
export function bundleSizes(outDir) {
  return Object.fromEntries(
    ["approver", "notifier"].map((fn) => [
      fn,
      zipEntrySizes(path.join(outDir, `${fn}.zip`)).get(`functions/${fn}.mjs`),
    ]),
  );
}

function main() {
  // --no-size-limit: report the sizes without failing (the template tests use it so that
  // an oversized bundle fails its own test, not every template assertion).
  const enforce = !process.argv.includes("--no-size-limit");
  const stackset = process.argv.includes("--stackset");
  const args = process.argv.slice(2).filter((arg) => arg !== "--no-size-limit" && arg !== "--stackset");
  const osls = path.join(ROOT, "node_modules", "osls", "bin", "serverless.js");
  const result = spawnSync(process.execPath, [osls, "package", ...args], {
    cwd: ROOT,
    env: offlineEnvironment(),
    stdio: "inherit",
  });
  if (result.status !== 0) {
    console.error(`package: osls package failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }

  const outDir = packageDirectory(args);
  const { ok, lines } = checkBundleSizes(bundleSizes(outDir));
  for (const line of lines) (ok ? console.log : console.error)(line);
  console.log(`package: template ${path.join(outDir, "cloudformation-template-update-stack.json")}`);
  if (stackset) {
    let written;
    try {
      written = writeStackSetTemplate(outDir, optionValue(args, "--stage") ?? "dev");
    } catch (error) {
      console.error(`package: ${error.message}`);
      process.exit(1);
    }
    console.log(`package: StackSet template ${written.file}`);
    console.log(
      `package: upload approver.zip to every region's bucket as ${written.approverKey}, e.g.\n` +
        `  aws s3 cp ${path.join(outDir, "approver.zip")} s3://<ArtifactBucketPrefix>-<region>/${written.approverKey}`,
    );
  }
  if (!ok && enforce) process.exit(1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
