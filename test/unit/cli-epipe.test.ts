// `csr-approver evaluate … | head` must end quietly when the reader goes away (EPIPE),
// not crash with a stack trace.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";

it("stops quietly with exit 0 when stdout is closed early", () => {
  const dir = mkdtempSync(join(tmpdir(), "csr-epipe-"));
  const list = JSON.parse(readFileSync("test/fixtures/csrs.json", "utf8")) as {
    items: { metadata: { name: string } }[];
  };
  // Far more output than a pipe buffer holds, so the writer is still writing when head exits.
  const items = Array.from({ length: 3000 }, (_, i) => {
    const item = structuredClone(list.items[i % list.items.length]!);
    item.metadata.name = `csr-${i}`;
    return item;
  });
  writeFileSync(join(dir, "csrs.json"), JSON.stringify({ ...list, items }));
  const command = [
    JSON.stringify(process.execPath),
    "bin/csr-approver.mjs evaluate",
    `--csr ${join(dir, "csrs.json")} --instances test/fixtures/instances.json`,
    "--cluster-vpc vpc-0a1b2c3d4e5f67890 --now 2026-01-01T00:05:00Z",
    '| head -c 100 >/dev/null; echo "status=${PIPESTATUS[0]}"',
  ].join(" ");
  const result = spawnSync("bash", ["-c", command], { encoding: "utf8" });
  expect(result.stderr).toBe("");
  expect(result.stdout.trim()).toBe("status=0");
}, 60_000); // 3,000 evaluations: seconds on a busy 2-core machine; the assertion is behaviour, not speed
