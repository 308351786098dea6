// The short-run schedule sweep (issue 9, part 3): Generalist on Fashion-MNIST (eps 0.1) at one short
// budget, one setting changed at a time from the fashion-smallcnn preset (EMA memory, redistribution
// start and period, beta knots, the natural expert's lr), scored on the VALIDATION split only:
// `generalist tradeoff` gives clean and PGD-20 of every G(b) and of G as trained; a PGD-AT run at the
// same budget is the robustness reference. Every command is printed before it runs; finished steps
// are skipped, so the sweep resumes. Writes a Markdown table (default docs/SWEEP.md).
//   node --import tsx scripts/sweep.ts [--dry-run] [--epochs 1] [--train-subset 48000] [--seed 0]
//     [--only preset,ema-25,...] [--runs runs/sweep] [--out docs/SWEEP.md] [--threads 0] [--val-n 0]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chooseBeta } from './study-results.js';

const { values: v } = parseArgs({ options: {
  'dry-run': { type: 'boolean', default: false }, epochs: { type: 'string', default: '1' }, 'train-subset': { type: 'string', default: '48000' },
  seed: { type: 'string', default: '0' }, only: { type: 'string' }, runs: { type: 'string', default: 'runs/sweep' }, out: { type: 'string', default: 'docs/SWEEP.md' },
  threads: { type: 'string', default: '0' }, 'val-n': { type: 'string', default: '0' },
} });

/** One setting changed at a time; `preset` is fashion-smallcnn as it is. */
export const VARIANTS: { name: string; sets: string[] }[] = [
  { name: 'preset', sets: [] },
  { name: 'ema-25', sets: ['generalist.ema.memory=25'] },
  { name: 'ema-100', sets: ['generalist.ema.memory=100'] },
  { name: 'ema-200', sets: ['generalist.ema.memory=200'] },
  { name: 'redist-off', sets: ['generalist.redistribution.enabled=false'] },
  { name: 'redist-period-25', sets: ['generalist.redistribution.period=25'] },
  { name: 'redist-period-100', sets: ['generalist.redistribution.period=100'] },
  { name: 'redist-start-0.4', sets: ['generalist.redistribution.start=0.4'] },
  { name: 'redist-start-0.8', sets: ['generalist.redistribution.start=0.8'] },
  { name: 'beta-constant-1', sets: ['generalist.beta=[[0,1],[1,1]]'] },
  { name: 'beta-half-to-0.5', sets: ['generalist.beta=[[0,1],[0.5,1],[1,0.5]]'] },
  { name: 'natural-lr-3e-4', sets: ['optim.natural.lr=[[0,0.0003],[1,0.0003]]'] },
  { name: 'natural-lr-thirds', sets: ['optim.natural.lr=[[0,0.001],[0.3333,0.001],[0.6667,0.0001],[1,0.00001]]'] },
];
const CLI = ['node', '--import', 'tsx', 'src/cli/main.ts'];
const shell = (argv: string[]) => argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(' ');
const commands: string[] = [];

function step(done: boolean, argv: string[]): void {
  commands.push(shell(argv));
  if (done) return;
  console.log(shell(argv));
  if (v['dry-run']) return;
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`failed (exit ${r.status}): ${shell(argv)}`);
}

const budget = [`epochs=${v.epochs}`, `dataset.trainSubset=${v['train-subset']}`, `seed=${v.seed}`, 'eval.n=1000', 'eval.finalN=500', `threads=${v.threads}`];
const train = (dir: string, sets: string[]) => step(existsSync(join(dir, 'summary.json')), [...CLI, 'train', '--preset', 'fashion-smallcnn', ...[`outDir=${dir}`, `name=${dir.split('/').at(-1)}`, ...budget, ...sets].flatMap((s) => ['--set', s])]);
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));
const lastVal = (dir: string) => { const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n'); return JSON.parse(lines.at(-1)!).val; };
const pct = (x: number) => (100 * x).toFixed(1);

const ref = join(v.runs!, 'pgd-at');
train(ref, ['method=pgd-at']);
const rows: string[] = [];
const notes: string[] = [];
const only = v.only?.split(',');
for (const variant of VARIANTS.filter((x) => !only || only.includes(x.name))) {
  const dir = join(v.runs!, variant.name);
  train(dir, variant.sets);
  const curve = join(dir, 'tradeoff.json');
  step(existsSync(curve), [...CLI, 'tradeoff', dir, '--betas', '0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1', '--n', v['val-n']!, '--threads', v.threads!]);
  if (v['dry-run'] || !existsSync(curve)) continue;
  const t = readJson(curve), b = chooseBeta(t), p = t.points.find((q: { beta: number }) => q.beta === b), a = t.points.find((q: { beta: number }) => q.beta === 1);
  const same = variant.name !== 'preset' && existsSync(join(v.runs!, 'preset', 'tradeoff.json')) && JSON.stringify(readJson(join(v.runs!, 'preset', 'tradeoff.json')).points) === JSON.stringify(t.points);
  if (same) notes.push(`- ${variant.name} scored exactly as the preset at every point: the setting did not change the run (its training log says why when it is the EMA memory).`);
  rows.push(`| ${variant.name} | ${variant.sets.join(' ') || '(fashion-smallcnn)'} | ${pct(t.G.clean)} / ${pct(t.G.robust)} | ${pct(a.clean)} / ${pct(a.robust)} | ${b} | ${pct(p.clean)} / ${pct(p.robust)} |`);
}
if (!v['dry-run']) {
  const r = existsSync(join(ref, 'metrics.jsonl')) ? lastVal(ref).model : undefined;
  const text = [`# Short-run schedule sweep (validation split only)`, '',
    `Generalist on Fashion-MNIST, eps 0.1, ${v.epochs} epoch(s) of ${v['train-subset']} images, seed ${v.seed}; every other setting as the fashion-smallcnn preset. ` +
    `Scores: clean / PGD-20 accuracy (%) on ${v['val-n'] === '0' ? 'the 1,000-image' : `${v['val-n']} images of the`} validation split. b*: the cleanest G(b) whose PGD-20 is within 2 points of b = 1 (the robust teacher A). ` +
    `PGD-AT at the same budget: ${r ? `${pct(r.clean)} / ${pct(r.robust)}` : 'not run yet'}.`, '',
    '| variant | settings | G as trained | A (b = 1) | b* | G(b*) |', '|---|---|---|---|---|---|', ...rows, '', ...(notes.length ? [...notes, ''] : []),
    ...(only ? [`Not run this time (\`--only\`): ${VARIANTS.filter((x) => !only.includes(x.name)).map((x) => x.name).join(', ')}.`, ''] : []), '## Commands', '', '```sh', ...commands, '```', ''].join('\n');
  writeFileSync(v.out!, text);
}
