// Charts of a bench run, as SVG files next to the tables in bench/results: drawn with
// Vega-Lite (compiled to Vega and rendered headless to SVG, no browser). Each chart is built
// only from the result JSON, so `npm run bench:charts` redraws them from a committed run.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { EventModeResult } from "./event-scaleup.js";
import type { BenchResult } from "./report.js";

export interface Chart {
  file: string;
  title: string;
  spec: TopLevelSpec;
}

const WIDTH = 520;
const HEIGHT = 260;

/** The charts this result has data for. */
export function chartsOf(result: BenchResult): Chart[] {
  const charts: Chart[] = [];
  if (result.scale.length > 0) {
    const rows = result.scale.map((r) => ({
      csrs: r.csrs,
      clusters: `${r.clusters} cluster${r.clusters === 1 ? "" : "s"}`,
      wallSeconds: r.wallMs / 1000,
      peakRssMb: r.peakRssBytes / 2 ** 20,
    }));
    charts.push({
      file: "scale-time.svg",
      title: "Sweep wall time by pending CSRs",
      spec: line(rows, "wallSeconds", "sweep wall time (s)", "Sweep wall time by pending CSRs"),
    });
    charts.push({
      file: "scale-memory.svg",
      title: "Peak RSS of a sweep by pending CSRs",
      spec: line(rows, "peakRssMb", "peak RSS (MiB)", "Peak RSS of a sweep by pending CSRs"),
    });
  }
  const tta = result.timeToApproval;
  if (tta && tta.latenciesMs.length > 0) {
    const sorted = [...tta.latenciesMs].sort((a, b) => a - b);
    const points = sorted.map((ms, i) => ({ ms, share: (i + 1) / sorted.length }));
    charts.push({
      file: "time-to-approval.svg",
      title: "Time to approval in event mode",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: `Time to approval in event mode (${tta.csrs} CSRs): share approved within`,
        width: WIDTH,
        height: HEIGHT,
        data: { values: points },
        mark: { type: "line", interpolate: "step-after", point: true },
        encoding: {
          x: { field: "ms", type: "quantitative", title: "time from CSR creation to Approved (ms)" },
          y: { field: "share", type: "quantitative", title: "share of CSRs", axis: { format: "%" } },
        },
      },
    });
  }
  if (result.eventMode) charts.push(...eventChartsOf(result.eventMode));
  return charts;
}

function line(
  rows: Record<string, unknown>[],
  field: string,
  title: string,
  chartTitle: string,
): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: chartTitle,
    width: WIDTH,
    height: HEIGHT,
    data: { values: rows },
    mark: { type: "line", point: true },
    encoding: {
      x: {
        field: "csrs",
        type: "quantitative",
        title: "pending CSRs in the sweep",
        scale: { type: "symlog" },
      },
      y: { field, type: "quantitative", title },
      color: { field: "clusters", type: "nominal", title: null },
    },
  };
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The event-mode charts: time to approval per scenario, and the scale-up's EC2 calls against the bucket. */
export function eventChartsOf(event: EventModeResult): Chart[] {
  const charts: Chart[] = [];
  const points = event.runs.flatMap((run) => {
    const sorted = [...run.latenciesMs].sort((a, b) => a - b);
    return sorted.map((ms, i) => ({
      scenario: run.scenario,
      ms: Math.max(1, ms),
      share: (i + 1) / sorted.length,
    }));
  });
  if (points.length > 0)
    charts.push({
      file: "event-time-to-approval.svg",
      title: "Event mode: time to approval by scenario",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: "Event mode, adaptive batching: share of CSRs approved within",
        width: WIDTH,
        height: HEIGHT,
        data: { values: points },
        mark: { type: "line", interpolate: "step-after" },
        encoding: {
          x: {
            field: "ms",
            type: "quantitative",
            title: "time from CSR creation to Approved (ms, log scale)",
            scale: { type: "log" },
          },
          y: { field: "share", type: "quantitative", title: "share of CSRs", axis: { format: "%" } },
          color: {
            field: "scenario",
            type: "nominal",
            title: null,
            legend: { orient: "bottom", columns: 2 },
          },
        },
      },
    });
  const scaleUp = event.runs.find((run) => run.id === "scaleup");
  if (scaleUp && scaleUp.describeAtMs.length > 0) {
    const first = scaleUp.describeAtMs[0] as number;
    const calls = scaleUp.describeAtMs.map((at, i) => ({
      seconds: (at - first) / 1000,
      calls: i + 1,
      series: "DescribeInstances calls",
    }));
    const end = calls.at(-1)?.seconds ?? 0;
    const { burst, ratePerSecond } = scaleUp.bucket;
    const allowance = [0, end].map((seconds) => ({
      seconds,
      calls: burst + ratePerSecond * seconds,
      series: `allowance: ${burst} + ${ratePerSecond}/s × t`,
    }));
    charts.push({
      file: "event-ec2-calls.svg",
      title: "Event mode: the scale-up's DescribeInstances calls against the bucket's allowance",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: `${scaleUp.scenario}: DescribeInstances calls so far (${scaleUp.csrs} CSRs)`,
        width: WIDTH,
        height: HEIGHT,
        data: { values: [...calls, ...allowance] },
        mark: { type: "line", interpolate: "step-after" },
        encoding: {
          x: { field: "seconds", type: "quantitative", title: "seconds since the first call" },
          y: { field: "calls", type: "quantitative", title: "calls" },
          color: { field: "series", type: "nominal", title: null, legend: { orient: "bottom" } },
        },
      },
    });
  }
  return charts;
}

export async function writeEventCharts(event: EventModeResult, dir: string): Promise<Chart[]> {
  const charts = eventChartsOf(event);
  for (const chart of charts) writeFileSync(join(dir, chart.file), await renderSvg(chart.spec));
  return charts;
}

/** Writes every chart of `result` into `dir`; returns the charts written. */
export async function writeCharts(result: BenchResult, dir: string): Promise<Chart[]> {
  const charts = chartsOf(result);
  for (const chart of charts) writeFileSync(join(dir, chart.file), await renderSvg(chart.spec));
  return charts;
}
