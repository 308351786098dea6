// The trade-off curve of a Generalist run: every G(b) = b*A + (1-b)*S of its EMA teachers A (of the
// robust expert) and S (of the natural one), parameters and BatchNorm statistics alike, is a model.
// The blend runs in ORT: the run's EMA artifact with decay d = 0 and R = A, N = S computes
//   A' = 0*A + 1*A = A,  S' = S,  G' = 0*G + 1*(b*A' + (1-b)*S') = b*A + (1-b)*S
// exactly (b = 1 gives A and b = 0 gives S bit for bit). Points are scored on the validation split
// (clean and PGD with the run's eval.pgdSteps), and, for the points asked for, on the test split
// (clean, PGD, and AutoAttack of the exported model).
import { join } from 'node:path';
import { evaluateRobustness } from '../attacks/index.js';
import type { Dataset } from '../data/index.js';
import type { Model } from '../onnx/ir.js';
import type { ArtifactRuntime, Weights } from '../runtime/artifact-runtime.js';
import { writeFileAtomic } from '../util/fs.js';
import { evaluateWeights, type Accuracy } from './evaluate.js';
import { TrainError } from './errors.js';
import { exportInference } from './export.js';
import { evalSettings } from './run.js';
import { learnerWeights, openSavedRun, type SavedRun } from './saved-run.js';

/** tradeoff.json (read by the HTML report); accuracies are fractions, beta the weight of A. */
export interface TradeoffPoint {
  beta: number;
  clean: number;
  robust: number;
  n: number;
  test?: { clean: number; robust: number; autoattack?: number; n: number; cleanN: number; autoattackN?: number };
}
export interface TradeoffReport {
  run: string;
  split: 'validation';
  eps: number;
  pgdSteps: number;
  points: TradeoffPoint[];
  /** The run's own global learner G on the same validation images (it is not one of the points). */
  G: Accuracy;
}

export interface TradeoffOptions {
  betas: number[];
  /** Validation images (0: the whole split). */
  n?: number;
  /** Betas scored on the test split too: clean on cleanN images (0: all), PGD on testN (default 2000). */
  testBetas?: number[];
  testN?: number;
  cleanN?: number;
  /** Of the test points, those attacked with AutoAttack (the exported model, aaN images, default 1000). */
  autoattackBetas?: number[];
  aaN?: number;
  /** Square's query budget in the AutoAttack points (default 5000, AutoAttack's own). */
  squareQueries?: number;
  /** Where the report goes (default RUN/tradeoff.json). */
  out?: string;
  cacheDir?: string;
  threads?: number;
  log?: (s: string) => void;
}

/** G(b) = b*A + (1-b)*S in one ORT run of the EMA artifact (decay 0). */
export async function blendTeachers(rt: ArtifactRuntime, A: Weights, S: Weights, beta: number): Promise<Weights> {
  if (!(beta >= 0 && beta <= 1)) throw new TrainError(`beta must be in [0, 1], got ${beta}`);
  return (await rt.ema(A, S, A, S, A, 0, beta)).G;
}

/** The inference model of G(b), as `generalist export --beta` writes it. */
export async function exportBlend(run: SavedRun, rt: ArtifactRuntime, beta: number): Promise<Model> {
  const w = await blendTeachers(rt, learnerWeights(run, 'A'), learnerWeights(run, 'S'), beta);
  return exportInference(run.source, await rt.onHost(w), { exportedFrom: run.dir, which: `G(beta=${beta}) = ${beta}*A + ${+(1 - beta).toFixed(6)}*S` });
}

const key = (b: number) => `b=${b}`;

/** Scores every point on the validation split; the asked-for points on the test split too. Writes RUN/tradeoff.json (or o.out). */
export async function tradeoff(run: SavedRun, o: TradeoffOptions): Promise<TradeoffReport> {
  const { config } = run;
  if (config.method !== 'generalist') throw new TrainError(`${run.dir} is a ${config.method} run: only a Generalist run has the EMA teachers A and S of a trade-off curve`);
  for (const b of [...(o.testBetas ?? []), ...(o.autoattackBetas ?? [])]) if (!o.betas.includes(b)) throw new TrainError(`test point beta ${b} is not among the betas ${o.betas.join(',')}`);
  const log = o.log ?? (() => {});
  const { data, rt } = await openSavedRun(run, { cacheDir: o.cacheDir, threads: o.threads, log });
  try {
    const A = learnerWeights(run, 'A'), S = learnerWeights(run, 'S');
    const nets: Record<string, Weights> = { G: learnerWeights(run, 'G') };
    for (const b of o.betas) nets[key(b)] = await blendTeachers(rt, A, S, b);
    if (!data.validation) throw new TrainError(`${run.dir} has no validation split (dataset.validation is 0)`);
    log(`scoring ${o.betas.length} points and G on ${o.n || data.validation.n} validation images (clean, PGD-${config.eval.pgdSteps})`);
    const val = await evaluateWeights(rt, nets, data.validation, evalSettings(config, o.n ?? 0, config.seed + 31337));
    const points: TradeoffPoint[] = o.betas.map((beta) => ({ beta, ...val[key(beta)] }));
    for (const p of points) log(`beta ${p.beta}: clean ${(100 * p.clean).toFixed(1)}%  PGD-${config.eval.pgdSteps} ${(100 * p.robust).toFixed(1)}%`);
    const onTest = (b: number) => !!(o.testBetas?.includes(b) || o.autoattackBetas?.includes(b));
    for (const p of points.filter((q) => onTest(q.beta))) p.test = await testPoint(run, rt, nets[key(p.beta)], data.test, o, log, p.beta);
    const report: TradeoffReport = { run: run.dir, split: 'validation', eps: config.attack.eps, pgdSteps: config.eval.pgdSteps, points, G: val.G };
    writeFileAtomic(o.out ?? join(run.dir, 'tradeoff.json'), JSON.stringify(report, null, 2) + '\n');
    return report;
  } finally {
    await rt.release();
  }
}

/** Test-split scores of one point: clean on cleanN images, PGD on testN, AutoAttack of the exported model on aaN. */
async function testPoint(run: SavedRun, rt: ArtifactRuntime, w: Weights, test: Dataset, o: TradeoffOptions, log: (s: string) => void, beta: number): Promise<NonNullable<TradeoffPoint['test']>> {
  const { config } = run;
  const clean = (await evaluateWeights(rt, { w }, test, { ...evalSettings(config, o.cleanN ?? 0, 0), pgdSteps: 0 })).w;
  const robust = (await evaluateWeights(rt, { w }, test, evalSettings(config, o.testN ?? 2000, config.seed + 104729))).w;
  const out: NonNullable<TradeoffPoint['test']> = { clean: clean.clean, robust: robust.robust, n: robust.n, cleanN: clean.n };
  if (o.autoattackBetas?.includes(beta)) {
    const model = exportInference(run.source, await rt.onHost(w));
    const aa = await evaluateRobustness(model, test, { eps: config.attack.eps, attacks: ['autoattack'], n: Math.min(o.aaN ?? 1000, test.n), seed: 0,
      squareQueries: o.squareQueries, session: { provider: config.provider, threads: o.threads ?? config.threads, allowCpuFallback: config.allowCpuFallback } });
    out.autoattack = aa.ensemble.robustAccuracy;
    out.autoattackN = aa.n;
  }
  log(`beta ${beta} on test: clean ${(100 * out.clean).toFixed(2)}% (${out.cleanN})  PGD-${config.eval.pgdSteps} ${(100 * out.robust).toFixed(2)}% (${out.n})` +
    (out.autoattack !== undefined ? `  AutoAttack ${(100 * out.autoattack).toFixed(2)}% (${out.autoattackN})` : ''));
  return out;
}
