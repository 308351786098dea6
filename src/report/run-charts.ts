// The run report's charts, from a run folder's data (run-data.ts): per-epoch curves, the
// schedules, per-iteration training loss, and the clean-vs-robust trade-off.
import { betaAt, epsAt, lrAt } from '../config/schedule.js';
import { lineSpec, colorScale, renderSvg, type Row } from './charts.js';
import type { RunData } from './run-data.js';

/**
 * Percent format for an accuracy axis over `values` with about `ticks` ticks: as many decimals as
 * the tick step needs (one at least, trailing zeros trimmed). A fixed one decimal labelled ticks
 * 0.05% apart alike (97.5-98.1% read "... 98%, 98%").
 */
export function accuracyFormat(values: number[], ticks = 10): string {
  const v = values.filter(Number.isFinite);
  const span = v.length ? Math.max(...v) - Math.min(...v) : 0;
  // d3's step is a 1, 2 or 5 times a power of ten near span / ticks; half of that bounds it below.
  const step = Math.max(span, 1e-4) / ticks / 2;
  const decimals = Math.max(1, Math.ceil(-Math.log10(step)) - 2);
  return `.${decimals}~%`;
}

/** Training loss of each expert, per epoch. */
export function trainLossRows(d: RunData): Row[] {
  return d.metrics.flatMap((m) => Object.entries(m.trainLoss).map(([k, v]) => ({ epoch: m.epoch, loss: v, net: k })));
}

/** Validation accuracy of each network per epoch, `robust` picking PGD over clean. */
export function valRows(d: RunData, robust: boolean): Row[] {
  return d.metrics.flatMap((m) => Object.entries(m.val ?? {}).map(([k, a]) => ({ epoch: m.epoch, acc: robust ? a.robust : a.clean, net: k })))
    .filter((r) => Number.isFinite(r.acc));
}

export const trainLossChart = (d: RunData) => renderSvg(lineSpec({
  title: 'Training loss (epoch mean)', rows: trainLossRows(d), x: { field: 'epoch', title: 'epoch', integer: true }, y: { field: 'loss', title: 'loss' }, series: 'net', points: true,
}));

export function valChart(d: RunData, robust: boolean): Promise<string> {
  const rows = valRows(d, robust);
  return renderSvg(lineSpec({
    title: robust ? `Validation PGD-${d.config.eval.pgdSteps} accuracy` : 'Validation clean accuracy',
    rows, x: { field: 'epoch', title: 'epoch', integer: true }, y: { field: 'acc', title: 'accuracy', format: accuracyFormat(rows.map((r) => Number(r.acc)), 8) }, series: 'net', points: true,
  }));
}

/** Mean of each `bin` consecutive values (keeps a long run's curve to about `max` points). */
function binned(points: [number, number][], max: number): [number, number][] {
  const bin = Math.max(1, Math.ceil(points.length / max));
  const out: [number, number][] = [];
  for (let i = 0; i < points.length; i += bin) {
    const chunk = points.slice(i, i + bin);
    out.push([chunk.at(-1)![0], chunk.reduce((s, p) => s + p[1], 0) / chunk.length]);
  }
  return out;
}

/** Per-iteration training loss of each expert, from the event files (x in epochs; in iterations before an epoch is known). */
export function iterationLossRows(d: RunData, itersPerEpoch: number): Row[] {
  return ['R', 'N'].flatMap((k) => binned(d.scalars[`train_loss/${k}`] ?? [], 600).map(([s, v]) => ({ epoch: s / (itersPerEpoch || 1), loss: v, net: k })));
}

export const iterationLossChart = (d: RunData, itersPerEpoch: number) => renderSvg(lineSpec({
  title: 'Training loss per iteration', rows: iterationLossRows(d, itersPerEpoch), x: { field: 'epoch', title: itersPerEpoch ? 'epoch' : 'iteration' },
  y: { field: 'loss', title: 'loss' }, series: 'net', points: false,
}));

/** A schedule: its curve from the config (lines) and the value each epoch ended at (points). */
async function scheduleChart(title: string, curve: Row[], atEpochs: Row[], format?: string): Promise<string> {
  const series = [...new Set(curve.map((r) => String(r.what)))];
  const enc = {
    x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
    y: { field: 'value', type: 'quantitative', title: null, axis: { format }, scale: { zero: false } },
    color: { field: 'what', type: 'nominal', title: null, scale: colorScale(series) },
  };
  return renderSvg({
    title, width: 220, height: 150,
    layer: [
      { data: { values: curve }, mark: { type: 'line', strokeWidth: 1.5 }, encoding: enc },
      { data: { values: atEpochs }, mark: { type: 'point', filled: true, size: 40 }, encoding: enc },
    ],
  });
}

/** lr of each expert, training eps, beta: sampled from the config's schedules, with the epochs' recorded values. */
export async function scheduleCharts(d: RunData): Promise<string[]> {
  const { config } = d;
  const E = config.epochs;
  // An epoch's recorded values are those of its last iteration, at run step iterations - 1.
  const perEpoch = d.metrics[0] ? d.metrics[0].iterations / d.metrics[0].epoch : 1;
  const metrics = d.metrics.map((m) => ({ ...m, epoch: (m.iterations - 1) / perEpoch }));
  const fr = Array.from({ length: 121 }, (_, i) => i / 120);
  const experts = [['R', config.optim.robust], ['N', config.optim.natural]] as const;
  const used = experts.filter(([k]) => metrics.some((m) => m.lr[k] !== undefined) || (!metrics.length && (k === 'R' ? config.method !== 'natural' : config.method === 'natural' || config.method === 'generalist')));
  const out = [await scheduleChart('Learning rate',
    used.flatMap(([k, o]) => fr.map((f) => ({ epoch: f * E, value: lrAt(o, f), what: `lr ${k}` }))),
    metrics.flatMap((m) => used.filter(([k]) => m.lr[k] !== undefined).map(([k]) => ({ epoch: m.epoch, value: m.lr[k], what: `lr ${k}` }))), '.1e')];
  if (config.method !== 'natural') {
    out.push(await scheduleChart('Training eps', fr.map((f) => ({ epoch: f * E, value: epsAt(config, f), what: 'eps' })), metrics.map((m) => ({ epoch: m.epoch, value: m.eps, what: 'eps' }))));
  }
  if (config.method === 'generalist') {
    out.push(await scheduleChart('β (weight of the robust teacher in G)', fr.map((f) => ({ epoch: f * E, value: betaAt(config, f), what: 'beta' })),
      metrics.filter((m) => m.beta !== undefined).map((m) => ({ epoch: m.epoch, value: m.beta!, what: 'beta' }))));
  }
  return out;
}

/** The networks' points (test accuracy when the run finished, else the last validation) and tradeoff.json's curve. */
export function tradeoffRows(d: RunData): { nets: Row[]; curve: Row[]; netsSplit: string; curveSplit: string } {
  const last = d.metrics.at(-1);
  const netsSplit = d.summary ? 'test' : `validation, epoch ${last?.epoch ?? 0}`;
  const accs = d.summary?.test ?? last?.val ?? {};
  const nets = Object.entries(accs).filter(([, a]) => Number.isFinite(a.robust)).map(([k, a]) => ({ clean: a.clean, robust: a.robust, net: k, label: k }));
  const pts = d.tradeoff?.points ?? [];
  const onTest = pts.length > 0 && pts.every((p) => p.test);
  const curve = [...pts].sort((a, b) => a.beta - b.beta).map((p) => ({ clean: onTest ? p.test!.clean : p.clean, robust: onTest ? p.test!.robust : p.robust, beta: p.beta, label: `β ${p.beta}` }));
  return { nets, curve, netsSplit, curveSplit: onTest ? 'test' : (d.tradeoff?.split ?? 'validation') };
}

export async function tradeoffChart(d: RunData): Promise<string> {
  const { nets, curve, netsSplit, curveSplit } = tradeoffRows(d);
  const all = [...nets, ...curve];
  const axis = (field: 'clean' | 'robust', ticks: number) => ({ format: accuracyFormat(all.map((r) => Number(r[field])), ticks) });
  // Tick counts as Vega-Lite's default for these sizes (one per 40 px: 420 x 300).
  const x = { field: 'clean', type: 'quantitative', title: 'clean accuracy', axis: axis('clean', 11), scale: { zero: false, nice: true, padding: 12 } };
  const y = { field: 'robust', type: 'quantitative', title: `PGD-${d.summary?.pgdSteps ?? d.config.eval.pgdSteps} accuracy`, axis: axis('robust', 8), scale: { zero: false, nice: true, padding: 12 } };
  const layers: Record<string, unknown>[] = [];
  if (curve.length) {
    layers.push({ data: { values: curve }, mark: { type: 'line', color: '#999', strokeDash: [4, 3], point: { color: '#999', size: 30 } }, encoding: { x, y, order: { field: 'beta' } } });
    layers.push({ data: { values: curve }, mark: { type: 'text', dy: -8, fontSize: 10, color: '#777' }, encoding: { x, y, text: { field: 'label' } } });
  }
  layers.push({ data: { values: nets }, mark: { type: 'point', filled: true, size: 110 }, encoding: { x, y, color: { field: 'net', type: 'nominal', title: `networks (${netsSplit})`, legend: { titleLimit: 0 }, scale: colorScale(nets.map((n) => String(n.net))) } } });
  return renderSvg({ title: curve.length ? `Clean vs robust: networks and the β sweep (${curveSplit})` : 'Clean vs robust accuracy', width: 420, height: 300, layer: layers });
}
