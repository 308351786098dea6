// src/report: how a run is shown: TensorBoard event files, the HTML run and robustness reports, the
// test table. Imports onnx, artifacts, attacks, config, util; from src/train its types only.
//
// `generalist report RUN`: the HTML report of a run folder (also written at the end of training):
// config and model, per-epoch curves, schedules, the test table, the clean-vs-robust trade-off,
// robustness reports found in the folder, and the commands that reproduce the run.
import { join, relative } from 'node:path';
import type { Config } from '../config/types.js';
import { formatInt } from '../util/format.js';
import { writeFileAtomic } from '../util/fs.js';
import { robustnessBody } from './robustness-html.js';
import { accCell, esc, facts, figure, page, section, table } from './html.js';
import { loadRunData, type RunData } from './run-data.js';
import { iterationLossChart, scheduleCharts, trainLossChart, tradeoffChart, valChart } from './run-charts.js';

const knots = (k: readonly (readonly [number, number])[]) => k.map(([f, v]) => `${+f.toFixed(3)}→${v}`).join(', ');

function configFacts(c: Config): [string, string][] {
  const o = (x: Config['optim']['robust']) => `${x.type}${x.nesterov ? ' (Nesterov)' : ''}, lr ${esc(knots(x.lr))}, weight decay ${x.weightDecay}`;
  const rows: [string, string][] = [
    ['method', esc(c.method + (c.method === 'generalist' ? ` (robust expert: ${c.robust.loss})` : ''))],
    ['data', esc(`${c.dataset.name}${c.dataset.trainSubset ? `, ${formatInt(c.dataset.trainSubset)} training images` : ''}, ${formatInt(c.dataset.validation)} validation`)],
    ['training', esc(`${c.epochs} epochs, batch ${c.batchSize}, seed ${c.seed}, ${c.provider}, ${c.threads || 'all'} thread${c.threads === 1 ? '' : 's'}`)],
  ];
  if (c.method !== 'natural') rows.push(['attack', esc(`PGD-${c.attack.steps}, eps ${+c.attack.eps.toFixed(4)}, step ${+c.attack.stepSize.toFixed(4)}${c.attack.epsRampFraction ? `, eps ramp over ${+(100 * c.attack.epsRampFraction).toFixed(1)}% of the run` : ''}`)]);
  if (c.method !== 'natural') rows.push(['robust optimizer', esc(o(c.optim.robust))]);
  if (c.method === 'natural' || c.method === 'generalist') rows.push(['natural optimizer', esc(o(c.optim.natural))]);
  if (c.method === 'generalist') {
    const g = c.generalist;
    rows.push(['β schedule', esc(knots(g.beta))]);
    rows.push(['EMA', esc(`memory ${g.ema.memory} ${g.ema.unit}, warm-up ${g.ema.warmup}`)]);
    rows.push(['redistribution', esc(g.redistribution.enabled ? `from ${100 * g.redistribution.start}% of the run, every ${g.redistribution.period} ${g.redistribution.unit}` : 'off')]);
  }
  rows.push(['evaluation', esc(`PGD-${c.eval.pgdSteps} on ${c.eval.n || 'all'} ${c.eval.split} images every ${c.eval.every} epoch(s); test on ${c.eval.finalN || 'all'} images`)]);
  return rows;
}

function modelFacts(d: RunData): string {
  const m = d.model;
  if (!m) return '<p class="note">No model file in the folder yet.</p>';
  const shape = (s: (number | string | null)[] | null) => (s ? `[${s.map((x) => x ?? '?').join(', ')}]` : '?');
  return facts([
    ['model', `<code>${esc(d.config.model.source)}</code> (${esc(m.path)})`],
    ['parameters', formatInt(m.parameters)],
    ['input → output', esc(`${m.inputs.map((i) => shape(i.shape)).join(', ')} → ${m.outputs.map((o) => shape(o.shape)).join(', ')}`)],
    ['ops', `<span class="ops">${Object.entries(m.ops).map(([op, n]) => `<span>${esc(op)} ×${n}</span>`).join('')}</span>`],
  ]);
}

function testTable(d: RunData): string {
  const s = d.summary!;
  const rows = Object.entries(s.test).map(([k, a]) => [`<td>${esc(k)}</td>`, accCell(a.clean), accCell(a.robust), `<td class="num">${a.n}</td>`]);
  return table(['network', 'clean', `PGD-${s.pgdSteps}`, 'images'], rows, 'test-table');
}

/** Commands that reproduce the run (and its evaluation and sweep when the folder has them). */
function commands(d: RunData): string {
  const near = relative(process.cwd(), d.dir);
  const rel = !near ? '.' : near.startsWith('..') ? d.dir : near;
  const lines = [
    `# train again with the resolved config (a new folder; same seed and thread count give the same weights)`,
    `npx generalist train --config ${rel}/config.json --set outDir=${rel}-again`,
  ];
  if (d.tradeoff) lines.push(`npx generalist tradeoff ${rel}`);
  for (const { file, report: r } of d.robustness) {
    const attacks = r.attacks.map((a) => a.name).join(',');
    lines.push(`npx generalist eval --model ${r.model.source} --dataset ${r.dataset.replace(/\/test$/, '')} --eps ${r.eps} --norm ${r.norm} --attacks ${attacks} --n ${r.n} --seed ${r.seed} --json ${rel}/${file}`);
  }
  lines.push(`npx generalist report ${rel}`);
  return `<pre>${esc(lines.join('\n'))}</pre>`;
}

export async function renderRunReport(d: RunData): Promise<string> {
  const c = d.config;
  const parts: string[] = [];
  parts.push(section('overview', 'Run', `<div class="cols"><div>${facts(configFacts(c))}</div><div>${modelFacts(d)}</div></div>` +
    `<details><summary>resolved config (config.json)</summary><pre>${esc(JSON.stringify(c, null, 2))}</pre></details>`));
  if (d.summary) parts.push(section('test', 'Test accuracy', testTable(d), `${d.summary.test[Object.keys(d.summary.test)[0]]?.n ?? 0} test images, PGD-${d.summary.pgdSteps} at eps ${+d.summary.eps.toFixed(4)}, after ${d.summary.epochs} epochs`));
  const curves = [figure('train-loss', await trainLossChart(d)), figure('val-clean', await valChart(d, false)), figure('val-pgd', await valChart(d, true))];
  const perEpoch = d.metrics[0] ? d.metrics[0].iterations / d.metrics[0].epoch : 0;
  if (d.scalars['train_loss/R']?.length || d.scalars['train_loss/N']?.length) curves.push(figure('iteration-loss', await iterationLossChart(d, perEpoch), 'From the TensorBoard event files in the run folder.'));
  parts.push(section('curves', 'Per epoch', `<div class="charts">${curves.join('')}</div>`, d.metrics.length ? `${d.metrics.length} of ${c.epochs} epochs in metrics.jsonl` : 'no epoch has finished yet'));
  const schedules = (await scheduleCharts(d)).map((svg, i) => figure(`schedule-${i}`, svg));
  parts.push(section('schedules', 'Schedules', `<div class="charts">${schedules.join('')}</div>`, 'Lines: the config\'s schedules over the run; points: the values each epoch ended at (metrics.jsonl).'));
  parts.push(section('tradeoff', 'Clean vs robust', figure('tradeoff', await tradeoffChart(d)), d.tradeoff ? `Dashed: G re-blended at each β of tradeoff.json (${esc(d.tradeoff.split)} split, ${d.tradeoff.points[0]?.n ?? 0} images).` : 'Run <code>generalist tradeoff</code> on this folder to add the β sweep of G.'));
  for (const { file, report } of d.robustness) parts.push(section(`robustness-${file.replace(/\W/g, '-')}`, `Robustness (${file})`, await robustnessBody(report, file)));
  parts.push(section('reproduce', 'Reproduce', commands(d)));
  const status = d.summary ? 'finished' : `in progress (${d.metrics.length}/${c.epochs} epochs)`;
  return page(`Run ${c.name}`, esc(`${c.method} · ${c.dataset.name} · ${c.model.source} · ${status}`), parts.join('\n'));
}

/** Writes the report of the run folder `dir` to `out` (default <dir>/report.html); returns the path. */
export async function writeRunReport(dir: string, out?: string): Promise<string> {
  const d = loadRunData(dir);
  const path = out ?? join(d.dir, 'report.html');
  writeFileAtomic(path, await renderRunReport(d));
  return path;
}
