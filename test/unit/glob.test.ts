// The one glob matcher (core/glob.ts), in its two uses: cluster-name filters (a wildcard may
// span anything) and node-name patterns (`withinLabel`: no wildcard matches a `.`). Both
// against the regular expression each replaced; the cluster mode has its own cases in
// config.test.ts, the node mode in non-ec2.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { globMatch } from "../../functions/core/glob.js";

function oracle(pattern: string, name: string, withinLabel: boolean): boolean {
  const any = withinLabel ? "[^.]" : ".";
  const source = [...pattern]
    .map((char) =>
      char === "*" ? `${any}*` : char === "?" ? any : char.replace(/[\\^$.|+()[\]{}]/g, "\\$&"),
    )
    .join("");
  return new RegExp(`^${source}$`, "s").test(name);
}

describe("globMatch", () => {
  it.each([
    ["a*.b", "ax.b", true, true],
    ["a*.b", "ax.y.b", true, false],
    ["a*b", "a.b", true, false],
    ["a*b", "a.b", false, true],
    ["a?b", "a.b", true, false],
    ["a?b", "a.b", false, true],
    ["*.*", "a.b", true, true],
    ["*", "a.b", true, false],
    ["Prod-*", "prod-1", false, false], // literal characters compare exactly
  ])("%s vs %s (withinLabel %s) → %s", (pattern, name, withinLabel, expected) => {
    expect(globMatch(pattern, name, { withinLabel })).toBe(expected);
  });

  it.each([false, true])("agrees with the regex oracle (withinLabel %s)", (withinLabel) => {
    const char = fc.constantFrom("a", "b", "-", ".", "A");
    fc.assert(
      fc.property(
        fc.array(fc.oneof(char, fc.constantFrom("*", "?")), { maxLength: 10 }).map((chars) => chars.join("")),
        fc.array(char, { maxLength: 14 }).map((chars) => chars.join("")),
        (pattern, name) => globMatch(pattern, name, { withinLabel }) === oracle(pattern, name, withinLabel),
      ),
      { numRuns: 20_000 },
    );
  });
});
