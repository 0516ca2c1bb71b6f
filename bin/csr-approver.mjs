#!/usr/bin/env node
// Thin entry: the CLI lives in functions/cli and is bundled to dist/ (by `npm ci` in the
// repository, and into the package tarball by `npm pack`). The Node requirement is checked
// here rather than through package.json `engines`, whose warnings npm would print on every
// `npx` run in the repository on a machine whose own Node is older (the repository runs on
// the node@22 devDependency).
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  process.stderr.write(`csr-approver: needs Node.js 22 or newer, this is ${process.version}\n`);
  process.exit(2);
}
const { main } = await import("../dist/cli.mjs");

process.exitCode = await main(process.argv.slice(2));
