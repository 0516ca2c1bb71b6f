// The reason-code tables operators read (README and docs/policy.md) must name exactly the
// codes the policy can produce, each under the decision that produces it, and the check table
// in docs/policy.md must follow the policy's CHECKS in order.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CHECKS } from "../../functions/core/policy.js";
import { APPROVE_CODES, DENY_CODES, SKIP_CODES, WAIT_CODES } from "../../functions/core/types.js";

const expected = new Map<string, string>([
  ...APPROVE_CODES.map((c) => [c, "approve"] as [string, string]),
  ...SKIP_CODES.map((c) => [c, "skip"] as [string, string]),
  ...WAIT_CODES.map((c) => [c, "wait"] as [string, string]),
  ...DENY_CODES.map((c) => [c, "deny"] as [string, string]),
]);

/** Rows of the first Markdown table whose header starts with `| code`. */
function reasonTable(markdown: string): [string, string][] {
  const lines = markdown.split("\n");
  const start = lines.findIndex((l) => /^\|\s*code\s*\|\s*decision\s*\|/.test(l));
  expect(start, "a `| code | decision |` table").toBeGreaterThanOrEqual(0);
  const rows: [string, string][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    const [code, decision] = line
      .split("|")
      .slice(1, 3)
      .map((c) => c.trim().replace(/`/g, ""));
    rows.push([code ?? "", decision ?? ""]);
  }
  return rows;
}

describe.each(["README.md", "docs/policy.md"])("%s reason codes", (file) => {
  const rows = reasonTable(readFileSync(file, "utf8"));
  it("lists every code the policy produces exactly once, under its decision", () => {
    expect(rows.map(([code]) => code).sort()).toEqual([...expected.keys()].sort());
    for (const [code, decision] of rows) expect(decision, code).toBe(expected.get(code));
  });
});

describe("docs/policy.md check table", () => {
  it("has the policy's checks, in order, with their deny codes", () => {
    const text = readFileSync("docs/policy.md", "utf8");
    const lines = text.split("\n");
    const start = lines.findIndex((l) => /^\|\s*#\s*\|\s*check\s*\|/.test(l));
    const rows = lines
      .slice(start + 2)
      .filter((_, i, all) => all.slice(0, i + 1).every((l) => l.startsWith("|")))
      .map((l) => l.split("|").map((c) => c.trim()));
    expect(rows.map((r) => Number(r[1]))).toEqual(CHECKS.map((c) => c.n));
    for (const [i, check] of CHECKS.entries()) {
      if (check.code !== "SKIP") expect(rows[i]?.[3], `check ${check.n}`).toContain(check.code);
    }
  });
});
