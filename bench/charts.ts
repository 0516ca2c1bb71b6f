// `npm run bench:charts`: redraws the SVG charts of the committed bench run
// (bench/results/latest.json) without running the benchmark again.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../test/rig/build.js";
import { writeCharts } from "./lib/charts.js";
import type { BenchResult } from "./lib/report.js";

const dir = join(REPO_ROOT, "bench", "results");
const result = JSON.parse(readFileSync(join(dir, "latest.json"), "utf8")) as BenchResult;
const charts = await writeCharts(result, dir);
for (const chart of charts) process.stdout.write(`bench/results/${chart.file}: ${chart.title}\n`);
