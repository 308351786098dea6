// Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
// diverse parameter-free attacks"), following the reference implementation (autoattack/autopgd_base.py):
//   - start: x + eps * t / ||t|| with t uniform in [-1, 1]^D (L-inf: ||t||_inf, so one coordinate
//     sits on the boundary), clipped to [0, 1];
//   - step size 2 * eps per example; momentum alpha = 0.75 (1 on the first step):
//       z = P(x_k + eta * sign(g_k));  x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1}));
//   - checkpoints every k iterations, k starting at floor(0.22 N) and shrinking by floor(0.03 N)
//     down to floor(0.06 N) (p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)); at a
//     checkpoint an example whose loss increased in at most 75% of the last k steps, or whose step
//     was not halved last time and whose best loss did not improve since, halves its step size and
//     restarts from its best point (with the gradient there);
//   - APGD-CE ascends cross-entropy; APGD-T ascends the targeted DLR loss, one target per run: the
//     classes ranked 2nd, 3rd, ... by the clean logits (AutoAttack uses the top 9 non-true classes).
// Examples leave the batch once misclassified (their later iterates do not change the result); the
// others keep their own step sizes, so this is the same per-example algorithm as the reference.
import { ascentRow, copyRow, gatherInts, gatherRows, isCorrect, projectRow, range, rowNorm, type AttackBatch, type AttackContext, type AttackResult, type Norm } from './common.js';
import type { AttackModel, GradientResult, LossKind } from './model.js';
import type { Rng } from '../util/rng.js';

export interface ApgdOptions {
  /** Iterations per run (AutoAttack: 100). */
  steps: number;
  restarts: number;
  loss: 'ce' | 'dlr' | 'dlr-t';
  /** APGD-T: number of target classes (AutoAttack: 9; capped at classes - 1). */
  targets?: number;
  /** Oscillation threshold rho (0.75). */
  rho?: number;
  /** Momentum (0.75). */
  momentum?: number;
}

/** The iterations (1-based counts) after which APGD checks its step sizes, for a budget of n iterations. */
export function apgdCheckpoints(n: number): number[] {
  let k = Math.max(Math.floor(0.22 * n), 1);
  const kMin = Math.max(Math.floor(0.06 * n), 1);
  const decr = Math.max(Math.floor(0.03 * n), 1);
  const out: number[] = [];
  for (let at = k; at <= n; at += k) {
    out.push(at);
    k = Math.max(k - decr, kMin);
  }
  return out;
}

interface RunInput { x0: Float32Array; y: Int32Array; target?: Int32Array; m: number }
interface RunOutput { xOut: Float32Array; fooled: Uint8Array }

/** What one APGD run keeps per example: rows of flat [m, D] arrays, and per-example scalars. */
interface RunState {
  xAdv: Float32Array;
  /** The previous iterate (the momentum term). */
  xPrev: Float32Array;
  grad: Float32Array;
  /** The highest-loss point so far, its gradient and loss. */
  xBest: Float32Array;
  gradBest: Float32Array;
  lossBest: Float32Array;
  /** The answer per example: the point that fooled it, else its best point (set at the end). */
  xOut: Float32Array;
  fooled: Uint8Array;
  /** Loss after each iteration, [steps, m]. */
  lossSteps: Float32Array;
  stepSize: Float64Array;
  lossBestLastCheck: Float32Array;
  reducedLastCheck: Uint8Array;
}

/**
 * The start: x0 + eps * t / ||t|| with t uniform in [-1, 1]^D (the norm of the attack, so an L-inf
 * start has one coordinate on the boundary), projected.
 */
function apgdStart(norm: Norm, x0: Float32Array, m: number, D: number, eps: number, rng: Rng): Float32Array {
  const xAdv = new Float32Array(m * D);
  const t = new Float32Array(D);
  for (let j = 0; j < m; j++) {
    rng.fillUniform(t, -1, 1);
    let s = 0;
    if (norm === 'linf') { for (let k = 0; k < D; k++) s = Math.max(s, Math.abs(t[k])); } else s = rowNorm(t, D, 0);
    s = s || 1;
    for (let k = 0; k < D; k++) xAdv[j * D + k] = x0[j * D + k] + (eps * t[k]) / s;
    projectRow(norm, xAdv, x0, D, j, eps);
  }
  return xAdv;
}

/**
 * z = P(x_k + eta * direction(g_k)); x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1})) for row
 * j, in place (`z` is a D-value scratch row). The step size is a float32, as the reference's tensor.
 */
function momentumStep(s: RunState, norm: Norm, x0: Float32Array, j: number, D: number, eps: number, a: number, z: Float32Array): void {
  const o = j * D;
  z.set(s.xAdv.subarray(o, o + D));
  ascentRow(norm, z, s.grad, j, 0, D, Math.fround(s.stepSize[j]));
  projectRow(norm, z, x0.subarray(o, o + D), D, 0, eps);
  for (let q = 0; q < D; q++) {
    const cur = s.xAdv[o + q];
    const fromPrev = cur - s.xPrev[o + q];
    s.xPrev[o + q] = cur;
    s.xAdv[o + q] = cur + (z[q] - cur) * a + fromPrev * (1 - a);
  }
  projectRow(norm, s.xAdv, x0, D, j, eps);
}

/**
 * Records iteration i's loss and gradient of the live examples (result row q is example live[q]),
 * keeps the best points and takes the fooled examples out. Returns the examples still live.
 */
function recordIterate(s: RunState, r: GradientResult, i: number, live: number[], y: Int32Array, m: number, D: number, C: number): number[] {
  const next: number[] = [];
  live.forEach((j, q) => {
    const l = r.loss[q];
    s.lossSteps[i * m + j] = l;
    copyRow(s.grad, j, r.grad, q, D);
    if (l > s.lossBest[j]) {
      copyRow(s.xBest, j, s.xAdv, j, D);
      copyRow(s.gradBest, j, r.grad, q, D);
      s.lossBest[j] = l;
    }
    if (!isCorrect(r.logits, C, q, y[j])) {
      s.fooled[j] = 1;
      copyRow(s.xOut, j, s.xAdv, j, D);
    } else next.push(j);
  });
  return next;
}

/**
 * The checkpoint after iteration i, `window` iterations after the previous one: an example whose
 * loss increased in at most rho * window of them (oscillation), or whose step was not halved last
 * time and whose best loss did not improve since, halves its step and restarts from its best point.
 */
function checkStepSizes(s: RunState, live: number[], i: number, window: number, rho: number, steps: number, m: number, D: number): void {
  // Index -1 wraps to the last row, still zero, as in the reference's tensor indexing.
  const lossAt = (it: number, j: number) => s.lossSteps[(((it % steps) + steps) % steps) * m + j];
  for (const j of live) {
    let increased = 0;
    for (let c = 0; c < window; c++) if (lossAt(i - c, j) > lossAt(i - c - 1, j)) increased++;
    const oscillating = increased <= window * rho;
    const stalled = !s.reducedLastCheck[j] && s.lossBestLastCheck[j] >= s.lossBest[j];
    const reduce = oscillating || stalled;
    s.reducedLastCheck[j] = reduce ? 1 : 0;
    s.lossBestLastCheck[j] = s.lossBest[j];
    if (reduce) {
      s.stepSize[j] /= 2;
      copyRow(s.xAdv, j, s.xBest, j, D);
      copyRow(s.grad, j, s.gradBest, j, D);
    }
  }
}

/** One APGD run over m examples (all of them attacked). */
async function apgdRun(model: AttackModel, norm: Norm, eps: number, rng: Rng, inp: RunInput, o: ApgdOptions, kind: LossKind, onIter?: (i: number) => void): Promise<RunOutput> {
  const D = model.inputSize, C = model.classes;
  const { x0, y, target, m } = inp;
  const steps = o.steps;
  const rho = o.rho ?? 0.75;
  const momentum = o.momentum ?? 0.75;
  const evalAt = (idx: number[]) =>
    model.gradient(kind, gatherRows(s.xAdv, D, idx), gatherInts(y, idx), idx.length, target ? gatherInts(target, idx) : undefined);

  const xAdv = apgdStart(norm, x0, m, D, eps, rng);
  const s: RunState = {
    xAdv, xPrev: xAdv.slice(), grad: new Float32Array(m * D), xBest: xAdv.slice(), gradBest: new Float32Array(m * D),
    lossBest: new Float32Array(m), xOut: xAdv.slice(), fooled: new Uint8Array(m), lossSteps: new Float32Array(steps * m),
    stepSize: new Float64Array(m).fill(2 * eps), lossBestLastCheck: new Float32Array(m), reducedLastCheck: new Uint8Array(m).fill(1),
  };
  // The gradient at the start.
  let live = range(m);
  const r0 = await evalAt(live);
  s.grad.set(r0.grad);
  s.gradBest.set(r0.grad);
  s.lossBest.set(r0.loss);
  s.lossBestLastCheck.set(r0.loss);
  for (let j = 0; j < m; j++) if (!isCorrect(r0.logits, C, j, y[j])) s.fooled[j] = 1;
  live = live.filter((j) => !s.fooled[j]);

  const checkpoints = apgdCheckpoints(steps);
  let nextCheck = 0;
  const z = new Float32Array(D);
  for (let i = 0; i < steps && live.length; i++) {
    const a = i > 0 ? momentum : 1;
    for (const j of live) momentumStep(s, norm, x0, j, D, eps, a, z);
    live = recordIterate(s, await evalAt(live), i, live, y, m, D, C);
    if (i + 1 === checkpoints[nextCheck]) {
      const window = checkpoints[nextCheck] - (nextCheck > 0 ? checkpoints[nextCheck - 1] : 0);
      checkStepSizes(s, live, i, window, rho, steps, m, D);
      nextCheck++;
    }
    onIter?.(i + 1);
  }
  // Unfooled examples: their highest-loss point.
  for (let j = 0; j < m; j++) if (!s.fooled[j]) copyRow(s.xOut, j, s.xBest, j, D);
  return { xOut: s.xOut, fooled: s.fooled };
}

/** APGD-CE (loss 'ce'), APGD-DLR ('dlr') or APGD-T ('dlr-t', over `targets` target classes). */
export async function apgd(ctx: AttackContext, batch: AttackBatch, o: ApgdOptions): Promise<AttackResult> {
  const { model, eps, norm, rng } = ctx;
  const D = model.inputSize, C = model.classes;
  const { x, y, n } = batch;
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`APGD needs a whole number of iterations >= 1, got ${o.steps}`);
  const restarts = Math.max(1, o.restarts);
  const xAdv = x.slice();
  const fooled = new Uint8Array(n);
  if (n === 0) return { xAdv, fooled };
  const targeted = o.loss === 'dlr-t';
  const nTargets = targeted ? Math.min(o.targets ?? 9, C - 1) : 1;
  // Clean-logit class ranking per example (APGD-T's targets).
  let order: Int32Array | null = null;
  if (targeted) {
    const logits = await model.logits(x, n);
    order = new Int32Array(n * C);
    for (let i = 0; i < n; i++) {
      const idx = range(C).sort((a, b) => logits[i * C + b] - logits[i * C + a] || a - b);
      order.set(idx, i * C);
    }
  }
  const runs = nTargets * restarts;
  let done = 0;
  for (let tc = 0; tc < nTargets; tc++) {
    for (let r = 0; r < restarts; r++, done++) {
      const active = range(n).filter((i) => !fooled[i]);
      if (!active.length) break;
      const inp: RunInput = { x0: gatherRows(x, D, active), y: gatherInts(y, active), m: active.length };
      // Target: the (tc + 2)-th largest clean logit (sort(...)[:, -target_class] in the reference).
      if (order) inp.target = Int32Array.from(active, (i) => order![i * C + tc + 1]);
      const out = await apgdRun(model, norm, eps, rng, inp, o, o.loss, (it) => ctx.onStep?.((done + it / o.steps) / runs));
      active.forEach((i, j) => {
        // Keep the first run's high-loss point for examples no run fools; a fooling point wins.
        if (out.fooled[j] || done === 0) xAdv.set(out.xOut.subarray(j * D, (j + 1) * D), i * D);
        if (out.fooled[j]) fooled[i] = 1;
      });
    }
  }
  ctx.onStep?.(1);
  return { xAdv, fooled };
}
