// The bench's charts are drawn from the result JSON alone: rendered here from the committed
// run, they must be SVG documents with one point per measurement.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chartsOf, renderSvg } from "../../bench/lib/charts.js";
import type { BenchResult } from "../../bench/lib/report.js";

const result = JSON.parse(readFileSync(join("bench", "results", "latest.json"), "utf8")) as BenchResult;

describe("bench charts", () => {
  it("draws sweep time, memory and time to approval from the committed run", async () => {
    const charts = chartsOf(result);
    expect(charts.map((c) => c.file)).toEqual(
      expect.arrayContaining(["scale-time.svg", "scale-memory.svg", "time-to-approval.svg"]),
    );
    for (const chart of charts) {
      const svg = await renderSvg(chart.spec);
      expect(svg.startsWith("<svg")).toBe(true);
      expect(svg).toContain(chart.title.split(" (")[0]!);
    }
    const time = await renderSvg(charts.find((c) => c.file === "scale-time.svg")!.spec);
    // One point symbol per scale row.
    expect((time.match(/<path[^>]*aria-roledescription="point"/g) ?? []).length).toBe(result.scale.length);
  }, 60_000);

  it("draws nothing it has no data for", () => {
    expect(
      chartsOf({ ...result, scale: [], timeToApproval: { ...result.timeToApproval, latenciesMs: [] } }),
    ).toEqual([]);
  });
});
