// Charts of the HTML reports: Vega-Lite specs compiled to Vega and rendered to SVG on the server
// (Vega's headless View, no canvas, no DOM), so the page carries inline SVG and no script.
import * as vega from 'vega';
import * as vl from 'vega-lite';

/** One row of chart data. */
export type Row = Record<string, string | number | null>;

/** The report's look: one font, a fixed palette for the networks, light axes. */
export const NETWORK_COLORS: Record<string, string> = { G: '#4c3cbf', R: '#d1495b', N: '#2a9d8f', A: '#edae49', S: '#66a182', model: '#4c3cbf' };
const FONT = 'system-ui, -apple-system, "Segoe UI", sans-serif';
const CONFIG = {
  font: FONT,
  view: { stroke: '#e3e3e3' },
  axis: { labelColor: '#444', titleColor: '#222', gridColor: '#eee', domainColor: '#999', tickColor: '#999', titleFontWeight: 500 },
  legend: { labelColor: '#333', titleColor: '#222', orient: 'bottom', direction: 'horizontal' },
  title: { fontSize: 14, fontWeight: 600, anchor: 'start', color: '#222' },
  line: { strokeWidth: 2 },
  point: { size: 45, filled: true },
};

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const full = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', config: CONFIG, background: 'white', ...spec };
  const compiled = vl.compile(full as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A color scale for `series` values: the network palette where it knows the name. */
export function colorScale(series: string[]): { domain: string[]; range: string[] } {
  const fallback = ['#4c3cbf', '#d1495b', '#2a9d8f', '#edae49', '#66a182', '#8d6a9f', '#555'];
  return { domain: series, range: series.map((s, i) => NETWORK_COLORS[s.split(' ').at(-1)!] ?? fallback[i % fallback.length]) };
}

export interface LineChartSpec {
  title: string;
  rows: Row[];
  /** `integer`: ticks at the whole values only (epochs). */
  x: { field: string; title: string; integer?: boolean };
  y: { field: string; title: string; format?: string; domain?: [number, number]; scale?: 'log' };
  /** Field whose values are the lines (color). */
  series: string;
  /** Field that dashes lines (e.g. clean / PGD), optional. */
  dash?: string;
  /** Draw a point per row (per-epoch data); without, lines only (dense per-iteration data). */
  points: boolean;
  width?: number;
  height?: number;
}

/** Whole-number ticks over the rows' range of `field`, at most about 12. */
export function integerTicks(rows: Row[], field: string): number[] {
  const v = rows.map((r) => Number(r[field])).filter(Number.isFinite);
  if (!v.length) return [];
  const [lo, hi] = [Math.floor(Math.min(...v)), Math.ceil(Math.max(...v))];
  const step = Math.max(1, Math.ceil((hi - lo) / 12));
  return Array.from({ length: Math.floor((hi - lo) / step) + 1 }, (_, i) => lo + i * step);
}

/** Lines (one per series value), with a point per row when `points` is set. */
export function lineSpec(c: LineChartSpec): Record<string, unknown> {
  const seriesValues = [...new Set(c.rows.map((r) => String(r[c.series])))];
  const y: Record<string, unknown> = { field: c.y.field, type: 'quantitative', title: c.y.title, axis: { format: c.y.format } };
  if (c.y.domain) y.scale = { domain: c.y.domain, zero: false };
  if (c.y.scale) y.scale = { type: c.y.scale };
  if (!c.y.domain && !c.y.scale) y.scale = { zero: false };
  return {
    title: c.title,
    width: c.width ?? 320,
    height: c.height ?? 190,
    data: { values: c.rows },
    mark: { type: 'line', point: c.points, interpolate: 'linear' },
    encoding: {
      x: { field: c.x.field, type: 'quantitative', title: c.x.title, axis: c.x.integer ? { values: integerTicks(c.rows, c.x.field), format: 'd' } : {} },
      y,
      color: { field: c.series, type: 'nominal', title: null, scale: colorScale(seriesValues) },
      ...(c.dash ? { strokeDash: { field: c.dash, type: 'nominal', title: null } } : {}),
    },
  };
}
