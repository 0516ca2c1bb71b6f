// Charts of a bench run, as SVG files next to the tables in bench/results: drawn with
// Vega-Lite (compiled to Vega and rendered headless to SVG, no browser). Each chart is built
// only from the result JSON, so `npm run bench:charts` redraws them from a committed run.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
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

/** Writes every chart of `result` into `dir`; returns the charts written. */
export async function writeCharts(result: BenchResult, dir: string): Promise<Chart[]> {
  const charts = chartsOf(result);
  for (const chart of charts) writeFileSync(join(dir, chart.file), await renderSvg(chart.spec));
  return charts;
}
