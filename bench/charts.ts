// `npm run bench:charts`: redraws the SVG charts of the committed bench runs
// (bench/results/latest.json, and event-latest.json when there) without running them again.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../test/rig/build.js";
import { writeCharts, writeEventCharts } from "./lib/charts.js";
import type { EventModeResult } from "./lib/event-scaleup.js";
import type { BenchResult } from "./lib/report.js";

const dir = join(REPO_ROOT, "bench", "results");
const result = JSON.parse(readFileSync(join(dir, "latest.json"), "utf8")) as BenchResult;
const charts = await writeCharts(result, dir);
// The event-only run is newer than the full run's event part when both are there: it wins.
const eventFile = join(dir, "event-latest.json");
if (existsSync(eventFile)) {
  const { event } = JSON.parse(readFileSync(eventFile, "utf8")) as { event?: EventModeResult };
  if (event?.runs.every((run) => run.id !== undefined)) charts.push(...(await writeEventCharts(event, dir)));
}
for (const chart of charts) process.stdout.write(`bench/results/${chart.file}: ${chart.title}\n`);
