// The study of docs/RESULTS.md (issue 9): natural, PGD-AT, TRADES (beta 6 and 1) and Generalist at
// equal budgets, Fashion-MNIST (eps 0.1) first, then MNIST (eps 0.3), on several seeds; the
// Generalist trade-off curve (operating point chosen on the validation split); and robust
// fine-tuning of a naturally trained Fashion-MNIST SmallCNN (harden preset vs PGD-AT at the same
// budget). Every step is a `generalist` command, printed before it runs; a step whose output exists
// is skipped, so the study resumes where it stopped. scripts/study-report.ts writes the page.
//   node --import tsx scripts/study.ts [--dry-run] [--parts main,finetune] [--datasets fashion-mnist,mnist]
//     [--seeds 0,1] [--epochs 10] [--train-subset 0] [--ft-start-epochs 10] [--ft-train-subset 0]
//     [--clean-n 10000] [--pgd-n 2000] [--aa-n 1000] [--curve 0,0.25,0.5,0.75,1] [--val-n 0] [--runs runs/study]
//     [--out docs/RESULTS.md] [--label TEXT]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chooseBeta, type StudyPlan } from './study-results.js';
import { writeStudyReport } from './study-page.js';

const { values: v } = parseArgs({ options: {
  'dry-run': { type: 'boolean', default: false }, parts: { type: 'string', default: 'main,finetune' },
  datasets: { type: 'string', default: 'fashion-mnist,mnist' }, seeds: { type: 'string', default: '0,1' },
  epochs: { type: 'string', default: '10' }, 'train-subset': { type: 'string', default: '0' },
  'ft-start-epochs': { type: 'string', default: '10' }, 'ft-train-subset': { type: 'string', default: '0' },
  'clean-n': { type: 'string', default: '10000' }, 'pgd-n': { type: 'string', default: '2000' }, 'aa-n': { type: 'string', default: '1000' },
  curve: { type: 'string', default: '0,0.25,0.5,0.75,1' }, 'val-n': { type: 'string', default: '0' }, runs: { type: 'string', default: 'runs/study' },
  out: { type: 'string', default: 'docs/RESULTS.md' }, label: { type: 'string', default: '' },
} });

/** The CLI as this checkout runs it (what `npx generalist` runs). */
const CLI = ['node', '--import', 'tsx', 'src/cli/main.ts'];
const BETAS = '0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1';
const PRESET: Record<string, string> = { 'fashion-mnist': 'fashion-smallcnn', mnist: 'mnist-smallcnn' };
const EPS: Record<string, number> = { 'fashion-mnist': 0.1, mnist: 0.3 };
export const METHODS = [
  // The natural baseline decays its lr in thirds (the Generalist's natural expert keeps a constant one by design).
  { key: 'natural', sets: ['method=natural', 'optim.natural.lr=[[0,0.001],[0.3333,0.001],[0.6667,0.0001],[1,0.00001]]'] },
  { key: 'pgd-at', sets: ['method=pgd-at'] },
  { key: 'trades6', sets: ['method=trades', 'robust.tradesBeta=6'] },
  { key: 'trades1', sets: ['method=trades', 'robust.tradesBeta=1'] },
  { key: 'generalist', sets: ['method=generalist'] },
];

interface Step { title: string; done: () => boolean; argv: () => string[] }
const steps: Step[] = [];
const printed: string[] = [];
const shell = (argv: string[]) => argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
const sets = (kv: string[]) => kv.flatMap((s) => ['--set', s]);

/** Test-split evaluation of a model file: clean on clean-n (FGSM rides along), PGD-20 on pgd-n, AutoAttack on aa-n. */
function evalSteps(dir: string, dataset: string): void {
  const model = join(dir, 'model.onnx');
  const base = ['eval', '--model', model, '--dataset', dataset, '--eps', String(EPS[dataset])];
  for (const [file, n, attacks] of [['eval-clean.json', v['clean-n'], 'fgsm'], ['eval-pgd20.json', v['pgd-n'], 'pgd20'], ['eval-aa.json', v['aa-n'], 'autoattack']] as const) {
    steps.push({ title: `${dir}: ${attacks} on ${n} test images`, done: () => existsSync(join(dir, file)), argv: () => [...CLI, ...base, '--n', n!, '--attacks', attacks, '--json', join(dir, file)] });
  }
}

/** The curve of a Generalist run: validation scores of 11 points, then test scores (AutoAttack) of the curve's points and the one chosen on validation. */
function curveSteps(dir: string): void {
  const val = join(dir, 'tradeoff-validation.json');
  steps.push({ title: `${dir}: trade-off curve on the validation split`, done: () => existsSync(val), argv: () => [...CLI, 'tradeoff', dir, '--betas', BETAS, '--n', v['val-n']!, '--out', val] });
  const chosen = () => (existsSync(val) ? String(chooseBeta(JSON.parse(readFileSync(val, 'utf8')))) : '<beta chosen on validation>');
  const test = join(dir, 'tradeoff.json');
  const aaBetas = () => [...new Set([...v.curve!.split(','), chosen()])].join(',');
  steps.push({
    title: `${dir}: test scores of the curve and the chosen point`, done: () => existsSync(test) && JSON.parse(readFileSync(test, 'utf8')).points.some((p: { test?: unknown }) => p.test),
    argv: () => [...CLI, 'tradeoff', dir, '--betas', aaBetas(), '--n', v['val-n']!, '--autoattack', aaBetas(), '--clean-n', v['clean-n']!, '--test-n', v['pgd-n']!, '--aa-n', v['aa-n']!, '--out', test],
  });
}

function trainStep(dir: string, preset: string, kv: string[]): void {
  steps.push({ title: `${dir}: train`, done: () => existsSync(join(dir, 'summary.json')), argv: () => [...CLI, 'train', '--preset', preset, ...sets([`outDir=${dir}`, `name=${dir.split('/').at(-1)}`, ...kv])] });
}

export function plan(): StudyPlan {
  const seeds = v.seeds!.split(',').map(Number);
  const p: StudyPlan = { runsDir: v.runs!, datasets: [], seeds, methods: METHODS.map((m) => m.key), finetune: null, eps: EPS };
  const parts = v.parts!.split(',');
  if (parts.includes('main')) {
    for (const dataset of v.datasets!.split(',')) {
      p.datasets.push(dataset);
      for (const seed of seeds) {
        for (const m of METHODS) {
          const dir = join(v.runs!, `${dataset}-${m.key}-s${seed}`);
          trainStep(dir, PRESET[dataset], [...m.sets, `seed=${seed}`, `epochs=${v.epochs}`, `dataset.trainSubset=${v['train-subset']}`]);
          evalSteps(dir, dataset);
          if (m.key === 'generalist') curveSteps(dir);
        }
      }
    }
  }
  if (parts.includes('finetune')) p.finetune = finetunePlan(seeds);
  return p;
}

/** A natural Fashion-MNIST SmallCNN, then per seed the harden preset (Generalist) and PGD-AT from it at the same budget. */
function finetunePlan(seeds: number[]): NonNullable<StudyPlan['finetune']> {
  const start = join(v.runs!, 'ft-start');
  trainStep(start, 'fashion-smallcnn', ['method=natural', `epochs=${v['ft-start-epochs']}`, 'dataset.trainSubset=0', 'optim.natural.lr=[[0,0.001],[0.5,0.001],[1,0.0001]]', 'eval.n=1000', 'eval.finalN=1000']);
  evalSteps(start, 'fashion-mnist');
  for (const seed of seeds) {
    for (const method of ['generalist', 'pgd-at']) {
      const dir = join(v.runs!, `ft-${method}-s${seed}`);
      trainStep(dir, 'harden', [`method=${method}`, `seed=${seed}`, `model.source=${join(start, 'model.onnx')}`, `dataset.trainSubset=${v['ft-train-subset']}`]);
      evalSteps(dir, 'fashion-mnist');
      if (method === 'generalist') curveSteps(dir);
    }
  }
  return { start, seeds };
}

const studyPlan = plan();
for (const s of steps) {
  const argv = s.argv();
  const line = shell(argv);
  printed.push(line);
  if (s.done()) { console.error(`# done: ${s.title}`); continue; }
  console.log(line);
  if (v['dry-run']) continue;
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' });
  if (r.status !== 0) { console.error(`# failed (exit ${r.status}): ${s.title}`); process.exitCode = 1; break; }
}
if (!v['dry-run']) writeStudyReport(studyPlan, { out: v.out!, commands: printed, label: v.label!, budget: { epochs: v.epochs!, trainSubset: v['train-subset']!, ftStartEpochs: v['ft-start-epochs']!, ftTrainSubset: v['ft-train-subset']!, cleanN: v['clean-n']!, pgdN: v['pgd-n']!, aaN: v['aa-n']! } });
