// The robustness report of `generalist eval` as HTML: a bar per attack (robust accuracy; clean and
// the worst-case ensemble beside them) and the table `eval` prints. A section of the run report,
// or a page of its own (`generalist eval --html FILE`).
import type { RobustnessReport } from '../attacks/report.js';
import { renderSvg, type Row } from './charts.js';
import { accCell, esc, facts, figure, page, pct, section, table } from './html.js';

/** Bars: clean accuracy, each attack's robust accuracy, the ensemble's (when several attacks ran). */
function barRows(r: RobustnessReport): Row[] {
  const rows: Row[] = [{ name: 'clean', acc: r.cleanAccuracy, kind: 'clean' }];
  for (const a of r.attacks) rows.push({ name: a.name, acc: a.robustAccuracy, kind: 'attack' });
  if (r.attacks.length > 1) rows.push({ name: 'ensemble (worst case)', acc: r.ensemble.robustAccuracy, kind: 'ensemble' });
  return rows;
}

export async function robustnessChart(r: RobustnessReport): Promise<string> {
  const rows = barRows(r);
  const base = {
    y: { field: 'name', type: 'nominal', sort: null, title: null, axis: { labelLimit: 220 } },
    x: { field: 'acc', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] }, axis: { format: '.0%' } },
  };
  return renderSvg({
    title: `Accuracy under attack (${r.norm === 'linf' ? 'L∞' : 'L2'} eps ${r.eps}, n = ${r.n})`,
    width: 340, height: { step: 26 },
    data: { values: rows },
    layer: [
      { mark: { type: 'bar', cornerRadiusEnd: 3 }, encoding: { ...base, color: { field: 'kind', type: 'nominal', title: null, scale: { domain: ['clean', 'attack', 'ensemble'], range: ['#2a9d8f', '#d1495b', '#4c3cbf'] }, legend: null } } },
      { mark: { type: 'text', align: 'left', dx: 4, color: '#222' }, encoding: { ...base, text: { field: 'acc', type: 'quantitative', format: '.2%' } } },
    ],
  });
}

/** The report's table: one row per attack (and AutoAttack component), with seconds. */
function robustnessTable(r: RobustnessReport): string {
  const rows: string[][] = [[`<td>(clean)</td>`, accCell(r.cleanAccuracy), `<td class="num">${r.cleanCorrect}/${r.n}</td>`, '<td></td>']];
  for (const a of r.attacks) {
    rows.push([`<td>${esc(a.name)}</td>`, accCell(a.robustAccuracy), `<td class="num">${a.robustCorrect}/${r.n}</td>`, `<td class="num">${a.seconds.toFixed(1)}</td>`]);
    for (const c of a.components ?? []) rows.push([`<td>&nbsp;&nbsp;${esc(`${a.name}:${c.name}`)}</td>`, accCell(c.robustAccuracy), `<td class="num">${c.robustCorrect}/${r.n}</td>`, `<td class="num">${c.seconds.toFixed(1)}</td>`]);
  }
  if (r.attacks.length > 1) rows.push(['<td>ensemble (worst case)</td>', accCell(r.ensemble.robustAccuracy), `<td class="num">${r.ensemble.robustCorrect}/${r.n}</td>`, '<td></td>']);
  return table(['attack', 'robust accuracy', 'robust / n', 'seconds'], rows, 'robustness');
}

/** The robustness report's body: facts, the bar chart, the table. */
export async function robustnessBody(r: RobustnessReport, file?: string): Promise<string> {
  const info = facts([
    ['model', `<code>${esc(r.model.source)}</code> (sha256 ${esc(r.model.sha256.slice(0, 12))}…, input [${r.model.inputShape.join(', ')}], ${r.model.classes} classes)`],
    ['data', `${esc(r.dataset)}, first ${r.n} images`],
    ['threat model', `${r.norm === 'linf' ? 'L∞' : 'L2'}, eps ${r.eps}`],
    ['clean accuracy', pct(r.cleanAccuracy)],
    ['worst case', `${pct(r.ensemble.robustAccuracy)} (${esc(r.ensemble.attacks.join(', '))})`],
    ['checks', `${r.invariants.examplesChecked} adversarial examples inside the eps-ball (max perturbation ${r.invariants.maxPerturbation.toPrecision(4)}), every success re-verified`],
    ['run', `${esc(r.startedAt)}, ${r.seconds.toFixed(1)} s, seed ${r.seed}${file ? `, <code>${esc(file)}</code>` : ''}`],
  ]);
  return `<div class="cols"><div>${info}</div>${figure('robustness', await robustnessChart(r))}</div>${robustnessTable(r)}`;
}

/** `generalist eval --html`: the robustness report as a page of its own. */
export async function robustnessPage(r: RobustnessReport): Promise<string> {
  const sub = `${esc(r.model.source)} on ${esc(r.dataset)} · ${r.norm === 'linf' ? 'L∞' : 'L2'} eps ${r.eps} · n = ${r.n}`;
  return page('Robustness report', sub, section('robustness', 'Accuracy under attack', await robustnessBody(r)));
}
