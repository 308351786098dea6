// evaluateRobustness: clean accuracy, robust accuracy per attack and for the ensemble (worst case per
// example over all listed attacks), with every adversarial batch checked before it is counted:
//   - every value finite and inside [0, 1];
//   - inside the eps-ball around its clean image (L-inf: |x_adv - x| <= eps + 1e-6; L2: ||x_adv - x||_2
//     <= eps * (1 + 1e-6) + 1e-6, the slack covering float32 rounding);
//   - robustness decided by a fresh forward pass on the adversarial images, never by the attack's
//     own bookkeeping; an attack that claims to have fooled an example the fresh pass classifies
//     correctly is a bug and throws, unless the fresh margin is a float-rounding tie (<= 1e-4 * max(1, |z|_max)),
//     which is counted as robust and reported in `nearTies`.
// AutoAttack runs its stages (APGD-CE, APGD-T, Square) one after the other, each on the examples the
// previous stages (as verified) left robust, and each stage's batch is verified as above.
import type { Model } from '../onnx/ir.js';
import { Rng } from '../util/rng.js';
import { apgd } from './apgd.js';
import { argmaxRow, gatherInts, gatherRows, marginRow, type Attack, type AttackContext, type AttackResult, type Norm } from './common.js';
import { AttackModel, type AttackModelOptions } from './model.js';
import { parseAttackList, type AttackSpec } from './names.js';
import { saveArray } from './npy.js';
import { fgsm, pgd } from './pgd.js';
import type { InputLayout, OutputKind } from '../artifacts/analyze.js';
import { square } from './square.js';

export const REPORT_SCHEMA = 'onnx-generalist/robustness-report@1';

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

export interface ComponentReport {
  name: string;
  /** Examples this stage attacked (still robust before it). */
  attacked: number;
  /** Robust after this stage (cumulative over the stages so far). */
  robustCorrect: number;
  robustAccuracy: number;
  seconds: number;
}

export interface AttackReport {
  name: string;
  kind: AttackSpec['kind'];
  params: Record<string, number | string>;
  /** Examples attacked (the clean-correct ones). */
  attacked: number;
  robustCorrect: number;
  robustAccuracy: number;
  seconds: number;
  /** ORT runs and examples pushed through them (gradient graphs / forward graph, verification included). */
  gradientRuns: number;
  gradientExamples: number;
  forwardRuns: number;
  forwardExamples: number;
  /** Claims of the attack the fresh forward pass overturned by a float-rounding tie. */
  nearTies: number;
  /** Largest perturbation seen (in the attack's norm). */
  maxPerturbation: number;
  /** Square (also inside AutoAttack): queries per attacked example. */
  queries?: { mean: number; median: number; meanToSuccess: number | null };
  components?: ComponentReport[];
}

export interface RobustnessReport {
  schema: typeof REPORT_SCHEMA;
  /** inputLayout 'nhwc': a channels-last model fed [C, H, W] images; outputKind 'probabilities': attacked through its final Softmax's input. */
  model: { source: string; sha256: string; inputShape: number[]; classes: number; inputLayout: InputLayout; outputKind: OutputKind };
  dataset: string;
  n: number;
  eps: number;
  norm: Norm;
  seed: number;
  batchSize: number;
  cleanCorrect: number;
  cleanAccuracy: number;
  attacks: AttackReport[];
  ensemble: { attacks: string[]; robustCorrect: number; robustAccuracy: number };
  /** Per example, in dataset order: label, clean prediction, and 1/0 robust flags. */
  perExample: { label: number[]; cleanPrediction: number[]; clean: number[]; robust: Record<string, number[]>; ensemble: number[] };
  invariants: { batchesChecked: number; examplesChecked: number; maxPerturbation: number; tolerance: number };
  seconds: number;
  startedAt: string;
  /** Set (non-enumerable) when returnAdversarial is true: [n, ...shape] float32. */
  adversarial?: Float32Array;
}

export class AttackInvariantError extends Error {
  constructor(message: string) { super(message); this.name = 'AttackInvariantError'; }
}

export const EPS_TOLERANCE = 1e-6;
const TIE_TOLERANCE = 1e-4;

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

interface Stage { name: string; run: Attack; cost: number }

interface Resolved {
  spec: AttackSpec;
  params: Record<string, number | string>;
  stages: Stage[];
}

function resolve(spec: AttackSpec, o: Required<Pick<EvaluateOptions, 'restarts' | 'apgdSteps' | 'targets' | 'squareQueries' | 'squarePInit'>> & { stepSize?: number; eps: number; norm: Norm; classes: number }): Resolved {
  const R = o.restarts;
  const targets = Math.min(o.targets, o.classes - 1);
  const squareNeedsLinf = (name: string) => {
    if (o.norm !== 'linf') throw new Error(`${name} is L-inf only (it uses the Square Attack); use fgsm, pgd<k>, cw<k>, apgd-ce or apgd-t for L2`);
  };
  switch (spec.kind) {
    case 'fgsm':
      return { spec, params: { restarts: R }, stages: [{ name: spec.name, cost: 2 * R, run: (c, b) => fgsm(c, b, { restarts: R }) }] };
    case 'pgd': {
      const stepSize = o.stepSize ?? (2.5 * o.eps) / spec.steps;
      return {
        spec, params: { steps: spec.steps, loss: spec.loss, stepSize, restarts: R },
        stages: [{ name: spec.name, cost: (spec.steps + 1) * R, run: (c, b) => pgd(c, b, { steps: spec.steps, loss: spec.loss, stepSize, restarts: R }) }],
      };
    }
    case 'apgd-ce': {
      const steps = spec.steps ?? o.apgdSteps;
      return { spec, params: { steps, loss: 'ce', restarts: R }, stages: [{ name: spec.name, cost: (steps + 1) * R, run: (c, b) => apgd(c, b, { steps, restarts: R, loss: 'ce' }) }] };
    }
    case 'apgd-t': {
      const steps = spec.steps ?? o.apgdSteps;
      if (o.classes < 4) throw new Error(`apgd-t needs at least 4 classes (targeted DLR); the model has ${o.classes}`);
      return {
        spec, params: { steps, loss: 'dlr-targeted', targets, restarts: R },
        stages: [{ name: spec.name, cost: (steps + 1) * targets * R, run: (c, b) => apgd(c, b, { steps, restarts: R, loss: 'dlr-t', targets }) }],
      };
    }
    case 'square': {
      squareNeedsLinf('square');
      const queries = spec.queries ?? o.squareQueries;
      return { spec, params: { queries, pInit: o.squarePInit, restarts: R, loss: 'margin' }, stages: [{ name: spec.name, cost: (queries / 3) * R, run: (c, b) => square(c, b, { queries, pInit: o.squarePInit, restarts: R }) }] };
    }
    case 'autoattack': {
      squareNeedsLinf('autoattack');
      const steps = o.apgdSteps;
      if (o.classes < 4) throw new Error(`autoattack needs at least 4 classes (APGD-T's targeted DLR); the model has ${o.classes}`);
      return {
        spec, params: { apgdSteps: steps, targets, squareQueries: o.squareQueries, squarePInit: o.squarePInit },
        stages: [
          { name: 'apgd-ce', cost: steps + 1, run: (c, b) => apgd(c, b, { steps, restarts: 1, loss: 'ce' }) },
          // Later stages see few examples; their cost estimates are scaled down accordingly.
          { name: 'apgd-t', cost: ((steps + 1) * targets) / 4, run: (c, b) => apgd(c, b, { steps, restarts: 1, loss: 'dlr-t', targets }) },
          { name: 'square', cost: o.squareQueries / 3 / 4, run: (c, b) => square(c, b, { queries: o.squareQueries, pInit: o.squarePInit, restarts: 1 }) },
        ],
      };
    }
    case 'custom':
      return { spec, params: spec.params ?? {}, stages: [{ name: spec.name, cost: 1, run: spec.run }] };
    default:
      throw new Error(`unhandled attack ${(spec as AttackSpec).name}`);
  }
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

/** Checks the invariants of one adversarial batch; returns the largest perturbation. */
export function checkPerturbation(x0: Float32Array, xAdv: Float32Array, m: number, D: number, eps: number, norm: Norm, what: string): number {
  if (xAdv.length !== m * D) throw new AttackInvariantError(`${what}: returned ${xAdv.length} values for ${m} images of ${D}`);
  let maxP = 0;
  for (let i = 0; i < m; i++) {
    let linf = 0, l2 = 0;
    for (let k = i * D; k < (i + 1) * D; k++) {
      const v = xAdv[k];
      if (!(v >= 0 && v <= 1)) throw new AttackInvariantError(`${what}: example ${i} has the value ${v} at ${k - i * D}, outside [0, 1]`);
      const d = Math.abs(v - x0[k]);
      if (d > linf) linf = d;
      l2 += d * d;
    }
    l2 = Math.sqrt(l2);
    if (norm === 'linf' && linf > eps + EPS_TOLERANCE) throw new AttackInvariantError(`${what}: example ${i} is ${linf} away from its image in L-inf, outside the eps-ball (eps ${eps})`);
    if (norm === 'l2' && l2 > eps * (1 + EPS_TOLERANCE) + EPS_TOLERANCE) throw new AttackInvariantError(`${what}: example ${i} is ${l2} away from its image in L2, outside the eps-ball (eps ${eps})`);
    maxP = Math.max(maxP, norm === 'linf' ? linf : l2);
  }
  return maxP;
}

const median = (v: number[]): number => {
  if (!v.length) return 0;
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

/** Robustness of `model` on the first n examples of `data` under each listed attack and their ensemble. */
export async function evaluateRobustness(model: Model | Uint8Array | string | AttackModel, data: EvalData, opts: EvaluateOptions): Promise<RobustnessReport> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const eps = opts.eps;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`eps must be a finite number >= 0, got ${eps}`);
  const norm: Norm = opts.norm ?? 'linf';
  if (norm !== 'linf' && norm !== 'l2') throw new Error(`norm must be 'linf' or 'l2', got ${String(norm)}`);
  const specs = parseAttackList(opts.attacks);
  const shape = [...data.shape];
  const D = shape.reduce((a, b) => a * b, 1);
  const total = data.labels.length;
  const n = opts.n ?? total;
  if (!Number.isInteger(n) || n < 1 || n > total) throw new Error(`n must be a whole number in 1..${total} (the data's size), got ${n}`);
  const B = opts.batchSize ?? 500;
  if (!Number.isInteger(B) || B < 1) throw new Error(`batchSize must be a whole number >= 1, got ${B}`);
  const seed = opts.seed ?? 0;
  const restarts = opts.restarts ?? 1;
  if (!Number.isInteger(restarts) || restarts < 1) throw new Error(`restarts must be a whole number >= 1, got ${restarts}`);

  const am = model instanceof AttackModel ? model : await AttackModel.create(model, { inputShape: shape, source: opts.modelSource, ...opts.session });
  if (am.inputSize !== D) throw new Error(`the model takes images of ${am.inputShape.join('x')}, the data is ${shape.join('x')}`);
  const C = am.classes;
  const resolved = specs.map((s) => resolve(s, {
    restarts, apgdSteps: opts.apgdSteps ?? 100, targets: opts.targets ?? 9, squareQueries: opts.squareQueries ?? 5000,
    squarePInit: opts.squarePInit ?? 0.8, stepSize: opts.stepSize, eps, norm, classes: C,
  }));

  const X = toFloatImages(data, n, D);
  const Y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(data.labels[i]);
    if (!Number.isInteger(v) || v < 0 || v >= C) throw new Error(`label ${data.labels[i]} of example ${i} is outside [0, ${C})`);
    Y[i] = v;
  }
  const batches = Math.ceil(n / B);

  // Progress: units weighted by estimated cost per example.
  const weights = resolved.map((r) => r.stages.reduce((a, s) => a + s.cost, 0));
  const totalWork = batches * (1 + weights.reduce((a, b) => a + b, 0));
  let doneWork = 0;
  const progress = (p: Omit<EvalProgress, 'fraction' | 'elapsedSeconds' | 'etaSeconds'>, unitWeight: number, unitFraction: number) => {
    if (!opts.onProgress) return;
    const fraction = Math.min(1, (doneWork + unitWeight * unitFraction) / totalWork);
    const elapsed = (performance.now() - t0) / 1000;
    const eta = fraction > 0.002 && p.stage !== 'done' ? (elapsed * (1 - fraction)) / fraction : p.stage === 'done' ? 0 : null;
    opts.onProgress({ ...p, fraction, elapsedSeconds: elapsed, etaSeconds: eta });
  };

  // Clean pass.
  const cleanPred = new Int32Array(n);
  const clean = new Uint8Array(n);
  for (let b = 0; b < batches; b++) {
    const s = b * B, e = Math.min(n, s + B);
    const logits = await am.logits(X.subarray(s * D, e * D).slice(), e - s);
    for (let i = s; i < e; i++) {
      cleanPred[i] = argmaxRow(logits, C, i - s);
      clean[i] = cleanPred[i] === Y[i] ? 1 : 0;
    }
    progress({ stage: 'clean', batch: b + 1, batches }, 1, 1);
    doneWork += 1;
  }

  const wantAdv = !!opts.saveAdv || !!opts.returnAdversarial;
  const adv = wantAdv ? X.slice() : null;
  const advFooled = new Uint8Array(n);
  const robustBy: Record<string, Uint8Array> = {};
  const reports: AttackReport[] = [];
  let batchesChecked = 0, examplesChecked = 0, maxPerturbationAll = 0;

  for (let a = 0; a < resolved.length; a++) {
    const r = resolved[a];
    const name = r.spec.name;
    const robust = clean.slice();
    const ta = performance.now();
    const c0 = { ...am.counters };
    let nearTies = 0, maxP = 0, attacked = 0;
    const compSeconds = new Float64Array(r.stages.length);
    const compAttacked = new Int32Array(r.stages.length);
    const compRobust = new Int32Array(r.stages.length);
    const queries: number[] = [];
    const queriesToSuccess: number[] = [];
    for (let b = 0; b < batches; b++) {
      const s = b * B, e = Math.min(n, s + B);
      let idx: number[] = [];
      for (let i = s; i < e; i++) if (clean[i]) idx.push(i);
      attacked += idx.length;
      let stageWeightDone = 0;
      for (let st = 0; st < r.stages.length; st++) {
        const stage = r.stages[st];
        const tc = performance.now();
        compAttacked[st] += idx.length;
        if (idx.length) {
          const x0 = gatherRows(X, D, idx);
          const y0 = gatherInts(Y, idx);
          const ctx: AttackContext = {
            model: am, eps, norm,
            rng: new Rng(attackSeed(seed, name, b, stage.name)),
            onStep: (f) => progress({ stage: 'attack', attack: name, component: r.stages.length > 1 ? stage.name : undefined, batch: b + 1, batches }, stageWeightDone + stage.cost * f, 1),
          };
          const res: AttackResult = await stage.run(ctx, { x: x0, y: y0, n: idx.length });
          const what = `${name}${r.stages.length > 1 ? `/${stage.name}` : ''} (batch ${b + 1})`;
          const p = checkPerturbation(x0, res.xAdv, idx.length, D, eps, norm, what);
          if (res.fooled.length !== idx.length) throw new AttackInvariantError(`${what}: ${res.fooled.length} success flags for ${idx.length} examples`);
          maxP = Math.max(maxP, p);
          const logits = await am.logits(res.xAdv, idx.length);
          batchesChecked++;
          examplesChecked += idx.length;
          const still: number[] = [];
          idx.forEach((i, j) => {
            const ok = argmaxRow(logits, C, j) === Y[i];
            if (ok && res.fooled[j]) {
              const mg = marginRow(logits, C, j, Y[i]);
              let scale = 1;
              for (let c = 0; c < C; c++) scale = Math.max(scale, Math.abs(logits[j * C + c]));
              if (mg > TIE_TOLERANCE * scale) {
                throw new AttackInvariantError(`${what}: the attack claims example ${i} is misclassified, but a fresh forward pass classifies it correctly (margin ${mg})`);
              }
              nearTies++;
            }
            if (res.queries) {
              queries.push(res.queries[j]);
              if (!ok) queriesToSuccess.push(res.queries[j]);
            }
            if (adv && !advFooled[i]) adv.set(res.xAdv.subarray(j * D, (j + 1) * D), i * D);
            if (ok) still.push(i);
            else {
              robust[i] = 0;
              advFooled[i] = 1;
            }
          });
          idx = still;
        }
        compRobust[st] += idx.length;
        compSeconds[st] += (performance.now() - tc) / 1000;
        stageWeightDone += stage.cost;
      }
      doneWork += weights[a];
      progress({ stage: 'attack', attack: name, batch: b + 1, batches }, 0, 0);
    }
    maxPerturbationAll = Math.max(maxPerturbationAll, maxP);
    robustBy[name] = robust;
    const robustCorrect = robust.reduce((x, v) => x + v, 0);
    const c1 = am.counters;
    const rep: AttackReport = {
      name, kind: r.spec.kind, params: r.params, attacked, robustCorrect, robustAccuracy: robustCorrect / n,
      seconds: (performance.now() - ta) / 1000,
      gradientRuns: c1.gradientRuns - c0.gradientRuns, gradientExamples: c1.gradientExamples - c0.gradientExamples,
      forwardRuns: c1.forwardRuns - c0.forwardRuns, forwardExamples: c1.forwardExamples - c0.forwardExamples,
      nearTies, maxPerturbation: maxP,
    };
    if (queries.length) {
      rep.queries = {
        mean: queries.reduce((x, v) => x + v, 0) / queries.length, median: median(queries),
        meanToSuccess: queriesToSuccess.length ? queriesToSuccess.reduce((x, v) => x + v, 0) / queriesToSuccess.length : null,
      };
    }
    if (r.stages.length > 1) {
      rep.components = r.stages.map((st, k) => ({
        name: st.name, attacked: compAttacked[k], robustCorrect: compRobust[k], robustAccuracy: compRobust[k] / n, seconds: compSeconds[k],
      }));
    }
    reports.push(rep);
  }

  const ensemble = clean.slice();
  for (const f of Object.values(robustBy)) for (let i = 0; i < n; i++) ensemble[i] &= f[i];
  const cleanCorrect = clean.reduce((x, v) => x + v, 0);
  const ensembleCorrect = ensemble.reduce((x, v) => x + v, 0);
  const report: RobustnessReport = {
    schema: REPORT_SCHEMA,
    model: { source: opts.modelSource ?? (typeof model === 'string' ? model : am.source), sha256: am.hash, inputShape: [...am.inputShape], classes: C, inputLayout: am.inputLayout, outputKind: am.outputKind },
    dataset: opts.datasetName ?? data.name ?? 'data',
    n, eps, norm, seed, batchSize: B,
    cleanCorrect, cleanAccuracy: cleanCorrect / n,
    attacks: reports,
    ensemble: { attacks: reports.map((r) => r.name), robustCorrect: ensembleCorrect, robustAccuracy: ensembleCorrect / n },
    perExample: {
      label: Array.from(Y), cleanPrediction: Array.from(cleanPred), clean: Array.from(clean),
      robust: Object.fromEntries(Object.entries(robustBy).map(([k, v]) => [k, Array.from(v)])),
      ensemble: Array.from(ensemble),
    },
    invariants: { batchesChecked, examplesChecked, maxPerturbation: maxPerturbationAll, tolerance: EPS_TOLERANCE },
    seconds: (performance.now() - t0) / 1000,
    startedAt,
  };
  if (adv) {
    if (opts.saveAdv) saveArray(opts.saveAdv, adv, [n, ...shape]);
    if (opts.returnAdversarial) Object.defineProperty(report, 'adversarial', { value: adv, enumerable: false });
  }
  doneWork = totalWork;
  progress({ stage: 'done', batch: batches, batches }, 0, 0);
  return report;
}

/** The report as JSON: two-space indentation, arrays of numbers kept on one line. */
export function reportToJson(r: RobustnessReport): string {
  const arrays: string[] = [];
  const text = JSON.stringify(r, (_k, v: unknown) => (Array.isArray(v) && v.every((e) => typeof e === 'number') ? `\u0000${arrays.push(JSON.stringify(v)) - 1}\u0000` : v), 2);
  return text.replace(/"\\u0000(\d+)\\u0000"/g, (_m, i: string) => arrays[Number(i)]) + '\n';
}

/** The report as a fixed-width text table. */
export function formatReport(r: RobustnessReport): string {
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const rows: [string, string, string, string][] = [['attack', 'robust acc', 'robust/n', 'seconds']];
  rows.push(['(clean)', pct(r.cleanAccuracy), `${r.cleanCorrect}/${r.n}`, '']);
  for (const a of r.attacks) {
    rows.push([a.name, pct(a.robustAccuracy), `${a.robustCorrect}/${r.n}`, a.seconds.toFixed(1)]);
    for (const c of a.components ?? []) rows.push([`  ${a.name}:${c.name}`, pct(c.robustAccuracy), `${c.robustCorrect}/${r.n}`, c.seconds.toFixed(1)]);
  }
  if (r.attacks.length > 1) rows.push(['ensemble (worst case)', pct(r.ensemble.robustAccuracy), `${r.ensemble.robustCorrect}/${r.n}`, '']);
  const w = [0, 1, 2, 3].map((k) => Math.max(...rows.map((row) => row[k].length)));
  const line = (row: string[]) => row.map((c, k) => (k === 0 ? c.padEnd(w[k]) : c.padStart(w[k]))).join('  ');
  const head = `${r.model.source} on ${r.dataset}: n=${r.n}, ${r.norm === 'linf' ? 'L-inf' : 'L2'} eps=${r.eps}, seed=${r.seed}`;
  return [head, line(rows[0]), w.map((x) => '-'.repeat(x)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

