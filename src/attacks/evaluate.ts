// evaluateRobustness: clean accuracy, robust accuracy per attack and for the ensemble (worst case per
// example over all listed attacks), every adversarial batch verified (verify.ts) before it counts.
// AutoAttack runs its stages (APGD-CE, APGD-T, Square) one after the other, each on the examples the
// previous stages (as verified) left robust, and each stage's batch is verified.
import type { Model } from '../onnx/ir.js';
import { Rng } from '../util/rng.js';
import { argmaxRow, gatherInts, gatherRows, type AttackContext, type Norm } from './common.js';
import { AttackModel, type AttackModelOptions } from './model.js';
import { parseAttackList, type AttackSpec } from './names.js';
import { saveArray } from './npy.js';
import { REPORT_SCHEMA, type AttackReport, type RobustnessReport } from './report.js';
import { resolveStages, type Resolved } from './stages.js';
import { AttackInvariantError, checkPerturbation, EPS_TOLERANCE, verifyClaims } from './verify.js';
import { numel } from '../util/dims.js';

/** Images and labels to evaluate on. A Dataset from src/data fits (uint8 pixels, v / 255). */
export interface EvalData {
  /** n * prod(shape) pixels: floats in [0, 1], or bytes (v / 255). */
  images: Float32Array | Uint8Array;
  labels: ArrayLike<number>;
  /** Per-example shape, e.g. [1, 28, 28]. */
  shape: readonly number[];
  /** Used in the report (e.g. 'mnist/test'). */
  name?: string;
}

export interface EvalProgress {
  stage: 'clean' | 'attack' | 'done';
  /** The attack (as listed) and, for AutoAttack, the running stage. */
  attack?: string;
  component?: string;
  batch: number;
  batches: number;
  /** Overall progress 0..1, weighted by each attack's estimated cost. */
  fraction: number;
  elapsedSeconds: number;
  /** Estimated seconds left (null until there is something to extrapolate from). */
  etaSeconds: number | null;
}

export interface EvaluateOptions {
  /** Perturbation budget (L-inf: per pixel in [0, 1] units; L2: Euclidean). */
  eps: number;
  /** Attack names (`'pgd20,cw20,autoattack'` or an array); see names.ts. */
  attacks: string | readonly (string | AttackSpec)[];
  /** Default 'linf'. Square and AutoAttack are L-inf only. */
  norm?: Norm;
  /** Evaluate the first n examples (default: all). */
  n?: number;
  /** Examples per attack batch (default 500). */
  batchSize?: number;
  /** Seed of all attack randomness (default 0). */
  seed?: number;
  /** Restarts of PGD / CW / APGD / Square (default 1; AutoAttack's stages always use 1). */
  restarts?: number;
  /** PGD / CW step size (default 2.5 * eps / k). */
  stepSize?: number;
  /** APGD iterations when the name has none (default 100). */
  apgdSteps?: number;
  /** APGD-T target classes (default 9, capped at classes - 1). */
  targets?: number;
  /** Square query budget per example when the name has none (default 5000). */
  squareQueries?: number;
  /** Square's initial p (default 0.8). */
  squarePInit?: number;
  /** Write the adversarial images (one per example, see docs/EVAL.md) to this file: .npy, or .pb for an ONNX TensorProto. */
  saveAdv?: string;
  /** Attach the adversarial images to the report as a non-enumerable `adversarial` property. */
  returnAdversarial?: boolean;
  onProgress?: (p: EvalProgress) => void;
  /** Report labels. */
  modelSource?: string;
  datasetName?: string;
  /** Session options for the model (provider, threads). */
  session?: Pick<AttackModelOptions, 'provider' | 'threads' | 'allowCpuFallback'>;
}

/** A 32-bit seed for (seed, attack, batch, stage): attacks do not shift each other's randomness. */
export function attackSeed(seed: number, ...parts: (string | number)[]): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const ch of parts.join('|')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= seed >>> 0;
  return Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
}

/** Float32 [n, D] images in [0, 1] from the data (bytes are divided by 255). */
function toFloatImages(data: EvalData, n: number, D: number): Float32Array {
  const src = data.images;
  if (src.length < n * D) throw new Error(`the data holds ${src.length} pixel values, fewer than ${n} images of ${D}`);
  if (src instanceof Uint8Array) {
    const out = new Float32Array(n * D);
    for (let i = 0; i < n * D; i++) out[i] = src[i] / 255;
    return out;
  }
  const out = src.slice(0, n * D);
  for (let i = 0; i < out.length; i++) {
    if (!(out[i] >= 0 && out[i] <= 1)) throw new Error(`image ${Math.floor(i / D)} has the value ${out[i]} outside [0, 1]; attacks work on images scaled to [0, 1] (put any normalisation inside the model)`);
  }
  return out;
}

const median = (v: number[]): number => {
  if (!v.length) return 0;
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

/** An evaluation's checked settings. */
interface Settings { eps: number; norm: Norm; n: number; batchSize: number; seed: number; restarts: number; shape: number[]; D: number; batches: number }

function settingsOf(data: EvalData, opts: EvaluateOptions): Settings {
  const eps = opts.eps;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`eps must be a finite number >= 0, got ${eps}`);
  const norm: Norm = opts.norm ?? 'linf';
  if (norm !== 'linf' && norm !== 'l2') throw new Error(`norm must be 'linf' or 'l2', got ${String(norm)}`);
  const shape = [...data.shape];
  const total = data.labels.length;
  const n = opts.n ?? total;
  if (!Number.isInteger(n) || n < 1 || n > total) throw new Error(`n must be a whole number in 1..${total} (the data's size), got ${n}`);
  const batchSize = opts.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a whole number >= 1, got ${batchSize}`);
  const restarts = opts.restarts ?? 1;
  if (!Number.isInteger(restarts) || restarts < 1) throw new Error(`restarts must be a whole number >= 1, got ${restarts}`);
  return { eps, norm, n, batchSize, seed: opts.seed ?? 0, restarts, shape, D: numel(shape), batches: Math.ceil(n / batchSize) };
}

/** The first n labels as class indices, checked against the model's classes. */
function labelsOf(data: EvalData, n: number, C: number): Int32Array {
  const Y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(data.labels[i]);
    if (!Number.isInteger(v) || v < 0 || v >= C) throw new Error(`label ${data.labels[i]} of example ${i} is outside [0, ${C})`);
    Y[i] = v;
  }
  return Y;
}

/** Progress in units of estimated cost per example: one per clean batch, each attack's stage costs per attack batch. */
class Progress {
  done = 0;
  constructor(private readonly onProgress: EvaluateOptions['onProgress'], readonly total: number, readonly t0: number) {}
  report(p: Omit<EvalProgress, 'fraction' | 'elapsedSeconds' | 'etaSeconds'>, unitWeight: number, unitFraction: number): void {
    if (!this.onProgress) return;
    const fraction = Math.min(1, (this.done + unitWeight * unitFraction) / this.total);
    const elapsed = (performance.now() - this.t0) / 1000;
    const eta = fraction > 0.002 && p.stage !== 'done' ? (elapsed * (1 - fraction)) / fraction : p.stage === 'done' ? 0 : null;
    this.onProgress({ ...p, fraction, elapsedSeconds: elapsed, etaSeconds: eta });
  }
}

/** Clean predictions and 1/0 correctness per example. */
async function cleanPass(am: AttackModel, X: Float32Array, Y: Int32Array, s: Settings, progress: Progress): Promise<{ cleanPred: Int32Array; clean: Uint8Array }> {
  const { n, D, batchSize: B, batches } = s;
  const C = am.classes;
  const cleanPred = new Int32Array(n);
  const clean = new Uint8Array(n);
  for (let b = 0; b < batches; b++) {
    const start = b * B, end = Math.min(n, start + B);
    const logits = await am.logits(X.subarray(start * D, end * D).slice(), end - start);
    for (let i = start; i < end; i++) {
      cleanPred[i] = argmaxRow(logits, C, i - start);
      clean[i] = cleanPred[i] === Y[i] ? 1 : 0;
    }
    progress.report({ stage: 'clean', batch: b + 1, batches }, 1, 1);
    progress.done += 1;
  }
  return { cleanPred, clean };
}

/** What one attack's verified batches add up to. */
interface AttackTally {
  robust: Uint8Array;
  attacked: number;
  nearTies: number;
  maxPerturbation: number;
  /** Per stage: examples attacked, robust after it, seconds. */
  stageAttacked: Int32Array;
  stageRobust: Int32Array;
  stageSeconds: Float64Array;
  queries: number[];
  queriesToSuccess: number[];
}

/** Adversarial images kept for saving: per example, the first verified fooling point (else the last point tried). */
interface AdversarialStore { images: Float32Array; fooled: Uint8Array }

/** Everything one evaluation shares across its attacks. */
interface EvalRun { am: AttackModel; X: Float32Array; Y: Int32Array; s: Settings; progress: Progress; adv: AdversarialStore | null; checked: { batches: number; examples: number } }

/**
 * Runs one stage on the examples `idx` (still robust) of batch b, verifies its batch and records it
 * in the tally. Returns the examples that stay robust.
 */
async function runStage(ev: EvalRun, r: Resolved, st: number, b: number, idx: number[], tally: AttackTally, stageWeightDone: number): Promise<number[]> {
  const { am, X, Y, s, adv } = ev;
  const { D } = s;
  const name = r.spec.name, stage = r.stages[st];
  const x0 = gatherRows(X, D, idx);
  const ctx: AttackContext = {
    model: am, eps: s.eps, norm: s.norm,
    rng: new Rng(attackSeed(s.seed, name, b, stage.name)),
    onStep: (f) => ev.progress.report({ stage: 'attack', attack: name, component: r.stages.length > 1 ? stage.name : undefined, batch: b + 1, batches: s.batches }, stageWeightDone + stage.cost * f, 1),
  };
  const res = await stage.run(ctx, { x: x0, y: gatherInts(Y, idx), n: idx.length });
  const what = `${name}${r.stages.length > 1 ? `/${stage.name}` : ''} (batch ${b + 1})`;
  const p = checkPerturbation(x0, res.xAdv, idx.length, D, s.eps, s.norm, what);
  if (res.fooled.length !== idx.length) throw new AttackInvariantError(`${what}: ${res.fooled.length} success flags for ${idx.length} examples`);
  tally.maxPerturbation = Math.max(tally.maxPerturbation, p);
  const logits = await am.logits(res.xAdv, idx.length);
  ev.checked.batches++;
  ev.checked.examples += idx.length;
  const { robust, nearTies } = verifyClaims(logits, am.classes, gatherInts(Y, idx), res.fooled, what, (j) => idx[j]);
  tally.nearTies += nearTies;
  const still: number[] = [];
  idx.forEach((i, j) => {
    if (res.queries) {
      tally.queries.push(res.queries[j]);
      if (!robust[j]) tally.queriesToSuccess.push(res.queries[j]);
    }
    if (adv && !adv.fooled[i]) adv.images.set(res.xAdv.subarray(j * D, (j + 1) * D), i * D);
    if (robust[j]) still.push(i);
    else {
      tally.robust[i] = 0;
      if (adv) adv.fooled[i] = 1;
    }
  });
  return still;
}

/** Runs one listed attack over every batch; returns its report and per-example robust flags. */
async function runAttack(ev: EvalRun, r: Resolved, clean: Uint8Array, weight: number): Promise<{ report: AttackReport; robust: Uint8Array }> {
  const { s, am } = ev;
  const k = r.stages.length;
  const tally: AttackTally = {
    robust: clean.slice(), attacked: 0, nearTies: 0, maxPerturbation: 0,
    stageAttacked: new Int32Array(k), stageRobust: new Int32Array(k), stageSeconds: new Float64Array(k), queries: [], queriesToSuccess: [],
  };
  const t0 = performance.now();
  const c0 = { ...am.counters };
  for (let b = 0; b < s.batches; b++) {
    const start = b * s.batchSize, end = Math.min(s.n, start + s.batchSize);
    let idx: number[] = [];
    for (let i = start; i < end; i++) if (clean[i]) idx.push(i);
    tally.attacked += idx.length;
    let stageWeightDone = 0;
    for (let st = 0; st < k; st++) {
      const tc = performance.now();
      tally.stageAttacked[st] += idx.length;
      if (idx.length) idx = await runStage(ev, r, st, b, idx, tally, stageWeightDone);
      tally.stageRobust[st] += idx.length;
      tally.stageSeconds[st] += (performance.now() - tc) / 1000;
      stageWeightDone += r.stages[st].cost;
    }
    ev.progress.done += weight;
    ev.progress.report({ stage: 'attack', attack: r.spec.name, batch: b + 1, batches: s.batches }, 0, 0);
  }
  return { report: attackReport(r, tally, s.n, (performance.now() - t0) / 1000, c0, am.counters), robust: tally.robust };
}

function sum(v: ArrayLike<number>): number {
  let t = 0;
  for (let i = 0; i < v.length; i++) t += v[i];
  return t;
}

/** Report assembly for one attack: its tally, timing and the ORT work it caused. */
function attackReport(r: Resolved, t: AttackTally, n: number, seconds: number, c0: AttackModel['counters'], c1: AttackModel['counters']): AttackReport {
  const robustCorrect = sum(t.robust);
  const rep: AttackReport = {
    name: r.spec.name, kind: r.spec.kind, params: r.params, attacked: t.attacked, robustCorrect, robustAccuracy: robustCorrect / n, seconds,
    gradientRuns: c1.gradientRuns - c0.gradientRuns, gradientExamples: c1.gradientExamples - c0.gradientExamples,
    forwardRuns: c1.forwardRuns - c0.forwardRuns, forwardExamples: c1.forwardExamples - c0.forwardExamples,
    nearTies: t.nearTies, maxPerturbation: t.maxPerturbation,
  };
  if (t.queries.length) {
    rep.queries = {
      mean: sum(t.queries) / t.queries.length, median: median(t.queries),
      meanToSuccess: t.queriesToSuccess.length ? sum(t.queriesToSuccess) / t.queriesToSuccess.length : null,
    };
  }
  if (r.stages.length > 1) {
    rep.components = r.stages.map((st, k) => ({
      name: st.name, attacked: t.stageAttacked[k], robustCorrect: t.stageRobust[k], robustAccuracy: t.stageRobust[k] / n, seconds: t.stageSeconds[k],
    }));
  }
  return rep;
}

/** Report assembly for the whole evaluation: clean and ensemble accuracy, per-example flags, invariants. */
function assembleReport(ev: EvalRun, model: Model | Uint8Array | string | AttackModel, data: EvalData, opts: EvaluateOptions, clean: { cleanPred: Int32Array; clean: Uint8Array }, attacks: { report: AttackReport; robust: Uint8Array }[], startedAt: string): RobustnessReport {
  const { am, s } = ev;
  const { n } = s;
  const ensemble = clean.clean.slice();
  for (const a of attacks) for (let i = 0; i < n; i++) ensemble[i] &= a.robust[i];
  const cleanCorrect = sum(clean.clean);
  const ensembleCorrect = sum(ensemble);
  const reports = attacks.map((a) => a.report);
  return {
    schema: REPORT_SCHEMA,
    model: { source: opts.modelSource ?? (typeof model === 'string' ? model : am.source), sha256: am.hash, inputShape: [...am.inputShape], classes: am.classes, inputLayout: am.inputLayout, outputKind: am.outputKind },
    dataset: opts.datasetName ?? data.name ?? 'data',
    n, eps: s.eps, norm: s.norm, seed: s.seed, batchSize: s.batchSize,
    cleanCorrect, cleanAccuracy: cleanCorrect / n,
    attacks: reports,
    ensemble: { attacks: reports.map((r) => r.name), robustCorrect: ensembleCorrect, robustAccuracy: ensembleCorrect / n },
    perExample: {
      label: Array.from(ev.Y), cleanPrediction: Array.from(clean.cleanPred), clean: Array.from(clean.clean),
      robust: Object.fromEntries(attacks.map((a) => [a.report.name, Array.from(a.robust)])),
      ensemble: Array.from(ensemble),
    },
    invariants: { batchesChecked: ev.checked.batches, examplesChecked: ev.checked.examples, maxPerturbation: Math.max(0, ...reports.map((r) => r.maxPerturbation)), tolerance: EPS_TOLERANCE },
    seconds: (performance.now() - ev.progress.t0) / 1000,
    startedAt,
  };
}

/** Robustness of `model` on the first n examples of `data` under each listed attack and their ensemble. */
export async function evaluateRobustness(model: Model | Uint8Array | string | AttackModel, data: EvalData, opts: EvaluateOptions): Promise<RobustnessReport> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const s = settingsOf(data, opts);
  const specs = parseAttackList(opts.attacks);
  const am = model instanceof AttackModel ? model : await AttackModel.create(model, { inputShape: s.shape, source: opts.modelSource, ...opts.session });
  if (am.inputSize !== s.D) throw new Error(`the model takes images of ${am.inputShape.join('x')}, the data is ${s.shape.join('x')}`);
  const resolved = specs.map((spec) => resolveStages(spec, {
    restarts: s.restarts, apgdSteps: opts.apgdSteps ?? 100, targets: opts.targets ?? 9, squareQueries: opts.squareQueries ?? 5000,
    squarePInit: opts.squarePInit ?? 0.8, stepSize: opts.stepSize, eps: s.eps, norm: s.norm, classes: am.classes,
  }));
  const X = toFloatImages(data, s.n, s.D);
  const Y = labelsOf(data, s.n, am.classes);
  const weights = resolved.map((r) => r.stages.reduce((a, st) => a + st.cost, 0));
  const progress = new Progress(opts.onProgress, s.batches * (1 + weights.reduce((a, b) => a + b, 0)), t0);
  const wantAdv = !!opts.saveAdv || !!opts.returnAdversarial;
  const ev: EvalRun = { am, X, Y, s, progress, adv: wantAdv ? { images: X.slice(), fooled: new Uint8Array(s.n) } : null, checked: { batches: 0, examples: 0 } };

  const clean = await cleanPass(am, X, Y, s, progress);
  const attacks: { report: AttackReport; robust: Uint8Array }[] = [];
  for (let a = 0; a < resolved.length; a++) attacks.push(await runAttack(ev, resolved[a], clean.clean, weights[a]));
  const report = assembleReport(ev, model, data, opts, clean, attacks, startedAt);
  if (ev.adv) {
    if (opts.saveAdv) saveArray(opts.saveAdv, ev.adv.images, [s.n, ...s.shape]);
    if (opts.returnAdversarial) Object.defineProperty(report, 'adversarial', { value: ev.adv.images, enumerable: false });
  }
  progress.done = progress.total;
  progress.report({ stage: 'done', batch: s.batches, batches: s.batches }, 0, 0);
  return report;
}
