import { describe, expect, it } from "vitest";
import { scheduledCompletionMs } from "../../bench/lib/fairness-report.js";

// The rotation target is "all approved within 10 minutes on the one-minute schedule": with
// reserved concurrency 1, a sweep that runs past its minute delays the next one.
describe("scheduledCompletionMs", () => {
  it("short sweeps end on the schedule: the last starts at minute n-1", () => {
    expect(scheduledCompletionMs([10_700, 10_200, 10_700, 6_500])).toBe(186_500);
  });

  it("sweeps longer than the period run back to back", () => {
    expect(scheduledCompletionMs([91_000, 96_900, 61_300, 37_500])).toBeCloseTo(286_700, 6);
  });

  it("a long sweep delays only until it ends; the schedule takes over again after", () => {
    // 0–90 s, 90–100 s, then the third starts at 120 s (its own slot), ends 130 s.
    expect(scheduledCompletionMs([90_000, 10_000, 10_000])).toBe(130_000);
  });

  it("no sweeps, no time; the period is a parameter", () => {
    expect(scheduledCompletionMs([])).toBe(0);
    expect(scheduledCompletionMs([1_000, 1_000], 30_000)).toBe(31_000);
  });
});
