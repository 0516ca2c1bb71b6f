// The README's evaluate example is the CLI's real output on the committed fixtures.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

it("README shows what `csr-approver evaluate --output table` really prints on the fixtures", () => {
  const args = [
    "bin/csr-approver.mjs",
    "evaluate",
    "--csr",
    "test/fixtures/csrs.json",
    "--instances",
    "test/fixtures/instances.json",
    "--node",
    "test/fixtures/nodes.json",
    "--cluster-vpc",
    "vpc-0a1b2c3d4e5f67890",
    "--now",
    "2026-01-01T00:05:00Z",
    "--output",
    "table",
  ];
  const result = spawnSync(process.execPath, args, { encoding: "utf8" });
  expect(result.status).toBe(0);
  const table = result.stdout.split("\n\n")[0]!.split("\n");
  expect(table.length).toBeGreaterThan(2);
  const readme = readFileSync("README.md", "utf8");
  for (const line of table) expect(readme, line).toContain(`\n${line}\n`);
});
