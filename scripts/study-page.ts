// Writes the study's page (docs/RESULTS.md or another --out) and its SVG plots between markers, so
// prose written around them survives a re-run. Numbers come from study-results.ts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { curveOf, validationCurveOf, LABEL, losses, meanOf, modelScores, recordsLocation, runDir, saveRecord, svgName, table, trainMinutes, verdict, type Row, type StudyPlan } from './study-results.js';
import { plotSvg, type PlotSeries } from './study-svg.js';

export interface PageOptions {
  out: string;
  commands: string[];
  label: string;
  budget: { epochs: string; trainSubset: string; ftStartEpochs: string; ftTrainSubset: string; cleanN: string; pgdN: string; aaN: string; squareQueries: string; ftStart?: string };
}

const START = '<!-- study:start (written by scripts/study.ts) -->';
const END = '<!-- study:end -->';
const COLORS: Record<string, string> = { natural: '#7f7f7f', 'pgd-at': '#d62728', trades6: '#ff7f0e', trades1: '#bcbd22', generalist: '#1f77b4', start: '#7f7f7f', 'ft-pgd-at': '#d62728', 'ft-generalist': '#1f77b4' };
const SEED_SHADES = ['#1f77b4', '#17becf', '#9467bd', '#2ca02c'];

/** Rows of one experiment: each model's scores per seed, and Generalist's chosen point. */
function rowsOf(dirs: Record<string, string[]>, generalistKey: string): Row[] {
  const rows: Row[] = Object.entries(dirs).map(([key, ds]) => ({ key, runs: ds.map(modelScores), minutes: ds.map(trainMinutes) }));
  if (!dirs[generalistKey]) return rows; // a plan without Generalist (e.g. one baseline's extra seed)
  const curves = dirs[generalistKey].map(curveOf);
  rows.push({ key: 'chosen', runs: curves.map((c) => c.chosen), minutes: dirs[generalistKey].map(trainMinutes), betas: curves.map((c) => c.beta) });
  return rows;
}

/** The plot's series: a point per baseline run, a curve per Generalist run with its chosen point ringed. */
function seriesOf(dirs: Record<string, string[]>, generalistKey: string): PlotSeries[] {
  const out: PlotSeries[] = [];
  for (const [key, ds] of Object.entries(dirs)) {
    if (key === generalistKey) continue;
    const pts = ds.map(modelScores).filter((s) => s.clean !== undefined && s.aa !== undefined).map((s) => ({ x: s.aa!, y: s.clean! }));
    out.push({ label: LABEL[key] ?? key, color: COLORS[key] ?? '#000', points: pts });
  }
  if (!dirs[generalistKey]) return out;
  const trained = dirs[generalistKey].map(modelScores).filter((s) => s.clean !== undefined && s.aa !== undefined).map((s) => ({ x: s.aa!, y: s.clean! }));
  if (trained.length) out.push({ label: 'Generalist G (as trained)', color: '#8c564b', points: trained });
  dirs[generalistKey].forEach((d, i) => {
    const c = curveOf(d);
    out.push({ label: `Generalist G(b), seed ${/-s(\d+)$/.exec(d)?.[1] ?? basename(d)}`, color: SEED_SHADES[i % SEED_SHADES.length], curve: true, points: c.points.map((p) => ({ x: p.aa, y: p.clean, note: `b=${p.beta}` })), ring: c.points.flatMap((p, j) => (p.beta === c.beta ? [j] : [])) });
  });
  return out;
}

/** A table of curve points (columns: b) with one row per measure, each cell the mean over the seeds' runs. */
function betaTable(curves: { beta: number; [k: string]: number }[][], measures: [string, string][], seeds: string[]): string {
  const betas = [...new Set(curves.flatMap((c) => c.map((p) => p.beta)))].sort((a, b) => a - b);
  if (!betas.length) return '';
  const cell = (b: number, k: string) => { const m = meanOf(curves.map((c) => c.find((p) => p.beta === b)?.[k])); return m === undefined ? '-' : `${(100 * m).toFixed(1)}`; };
  const has = (b: number) => seeds.filter((_, i) => curves[i].some((p) => p.beta === b));
  // Where a point was measured on some seeds only (each seed's own b*), the column says which.
  const partial = betas.some((b) => has(b).length < curves.length);
  const seedRow = partial ? [`| seeds | ${betas.map((b) => has(b).join(', ')).join(' | ')} |`] : [];
  return ['| b (weight of A) | ' + betas.join(' | ') + ' |', '|---|' + betas.map(() => '---|').join(''), ...measures.map(([k, name]) => `| ${name} | ${betas.map((b) => cell(b, k)).join(' | ')} |`), ...seedRow].join('\n');
}

/** Generalist's curves, mean over seeds: every point on the validation split, the test points with AutoAttack. */
function curveTable(dirs: string[]): string {
  const curves = dirs.map(validationCurveOf);
  const lost = dirs.filter((d, i) => !curves[i].length && curveOf(d).beta !== undefined).map((d) => basename(d));
  const seedOf = (d: string) => /-s(\d+)$/.exec(d)?.[1] ?? basename(d);
  const kept = dirs.filter((_, i) => curves[i].length);
  const val = betaTable(curves.filter((c) => c.length), [['clean', 'clean'], ['robust', 'PGD-20']], kept.map(seedOf));
  const one = lost.length === 1;
  const note = lost.length ? `The validation curve${one ? '' : 's'} of ${lost.join(' and ')} ${one ? 'was' : 'were'} lost with ${one ? 'its run folder' : 'their run folders'}; ${one ? 'its record' : 'their records'} in ${recordsLocation()}/ keep${one ? 's' : ''} b*, the test points and where the numbers come from${val ? '. The validation table averages the other runs' : ''}.\n\n` : '';
  const test = betaTable(dirs.map((d) => curveOf(d).points), [['clean', 'clean'], ['aa', 'AutoAttack']], dirs.map(seedOf));
  return note + [val && `Generalist's curve on the validation split (mean over seeds, %; b* is chosen here):\n\n${val}\n`, test && `On the test split (mean over seeds, %; b = 0 and each seed's own b*):\n\n${test}\n`].filter(Boolean).join('\n');
}

function section(title: string, rows: Row[], curve: string, svg: string, words: string[]): string {
  return [`## ${title}`, '', table(rows), '', curve, `![clean against AutoAttack accuracy](${basename(svg)})`, '', ...words, ''].join('\n');
}

const mainDirs = (p: StudyPlan, dataset: string): Record<string, string[]> => Object.fromEntries(p.methods.map((m) => [m, p.datasetSeeds[dataset].map((s) => runDir(p, dataset, m, s))]));
function finetuneDirs(p: StudyPlan): Record<string, string[]> {
  const ft = p.finetune!;
  return { start: [ft.start], 'ft-pgd-at': ft.seeds.map((s) => `${p.runsDir}/ft-pgd-at-s${s}`), 'ft-generalist': ft.seeds.map((s) => `${p.runsDir}/ft-generalist-s${s}`) };
}

function mainSection(p: StudyPlan, dataset: string, o: PageOptions): string {
  const dirs = mainDirs(p, dataset);
  const rows = rowsOf(dirs, 'generalist');
  const svg = svgName(o.out, dataset);
  writeFileSync(svg, plotSvg(`${dataset}, eps ${p.eps[dataset]}: clean vs AutoAttack (test)`, seriesOf(dirs, 'generalist')));
  const by = (k: string) => rows.find((r) => r.key === k);
  const chosen = by('chosen'), pgdAt = by('pgd-at'), natural = by('natural');
  const nat = natural && meanOf(natural.runs.map((s) => s.clean));
  const words = [
    chosen && pgdAt ? verdict('Generalist G(b*) vs PGD-AT', chosen, pgdAt, 3, 2) : '',
    nat === undefined ? '' : `- Natural training reaches ${(100 * nat).toFixed(1)}% clean at this budget${dataset === 'fashion-mnist' ? ` (the study asks for at least 90%: ${nat >= 0.9 ? 'reached' : '**not reached**'})` : ''}.`,
    ...(chosen ? losses(chosen, rows.filter((r) => ['natural', 'pgd-at', 'trades6', 'trades1'].includes(r.key))) : []),
  ].filter(Boolean);
  return section(`${dataset}, eps ${p.eps[dataset]}`, rows, dirs.generalist ? curveTable(dirs.generalist) : '', svg, words);
}

function finetuneSection(p: StudyPlan, o: PageOptions): string {
  const dirs = finetuneDirs(p);
  const rows = rowsOf(dirs, 'ft-generalist');
  const svg = svgName(o.out, 'finetune');
  writeFileSync(svg, plotSvg('Fine-tuning a natural Fashion-MNIST SmallCNN (eps 0.1)', seriesOf(dirs, 'ft-generalist')));
  const by = (k: string) => rows.find((r) => r.key === k)!;
  const words = [
    verdict('G(b*) clean vs the starting model', by('chosen'), by('start'), -1.5, undefined),
    verdict('G(b*) vs PGD-AT fine-tuning', by('chosen'), by('ft-pgd-at'), undefined, 3),
    ...losses(by('chosen'), [by('ft-pgd-at')]),
  ];
  return section('Robust fine-tuning (harden preset vs PGD-AT, same budget)', rows, curveTable(dirs['ft-generalist']), svg, words);
}

/** "seeds 0, 1", or each dataset's seeds where they differ. */
function seedsText(p: StudyPlan): string {
  const lists = p.datasets.map((d) => p.datasetSeeds[d].join(', '));
  return new Set(lists).size <= 1 ? `seeds ${lists[0] ?? p.seeds.join(', ')}` : `seeds ${p.datasets.map((d, i) => `${lists[i]} (${d})`).join('; ')}`;
}

/** Every run folder of the plan. */
const planDirs = (p: StudyPlan) => [...p.datasets.flatMap((d) => Object.values(mainDirs(p, d)).flat()), ...(p.finetune ? Object.values(finetuneDirs(p)).flat() : [])];

export function writeStudyReport(p: StudyPlan, o: PageOptions): void {
  // Records first, so the page reads the same numbers whether or not the run folders are still here.
  for (const d of planDirs(p)) saveRecord(d);
  const b = o.budget;
  const head = [START, o.label ? `**${o.label}**\n` : '',
    `Budget per training run: ${b.epochs.split(',').map((kv) => { const [d, e] = kv.includes('=') ? kv.split('=') : ['', kv]; return `${e} epoch${e === '1' ? '' : 's'}${d ? ` (${d})` : ''}`; }).join(' or ')} of ${b.trainSubset === '0' ? 'the whole training set (59,000 images after the 1,000-image validation split)' : `${b.trainSubset} images`}, batch 128; ${seedsText(p)}. ` +
    `Test split: clean accuracy on the first ${b.cleanN} images, PGD-20 on ${b.pgdN}, AutoAttack (APGD-CE and APGD-T with 9 targets, 100 steps each, then Square with ${b.squareQueries === '5000' ? "AutoAttack's 5,000 queries" : `${b.squareQueries} queries, AutoAttack's own budget being 5,000`}; worst case per image) on ${b.aaN}. ` +
    `Cells: mean ± standard deviation over seeds (each seed's value). b*: Generalist's operating point G(b*) = b*·A + (1-b*)·S, chosen on the validation split only ` +
    '(the cleanest point whose validation PGD-20 accuracy is within 2 points of the robust teacher b = 1).', ''].join('\n');
  const body = [head, ...p.datasets.map((d) => mainSection(p, d, o)), p.finetune ? finetuneSection(p, o) : '',
    `Fine-tuning budget: the starting model ${b.ftStart ? `is the natural run ${basename(b.ftStart)} of the table above` : `trains ${b.ftStartEpochs} epochs (natural)`}; each fine-tuning run ${b.ftTrainSubset === '0' ? 'one epoch of 59,000 images' : `one epoch of ${b.ftTrainSubset} images`} (preset harden).`,
    '', '### Commands', '', 'Run from the repository root, in this order (`node --import tsx src/cli/main.ts` is `npx generalist`):', '', '```sh', ...o.commands, '```', END].join('\n');
  const old = existsSync(o.out) ? readFileSync(o.out, 'utf8') : `# Results\n\n${START}\n${END}\n`;
  const a = old.indexOf(START), e = old.indexOf(END);
  writeFileSync(o.out, a >= 0 && e > a ? old.slice(0, a) + body + old.slice(e + END.length) : `${old}\n${body}\n`);
}
