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
import { gatherInts, gatherRows, isCorrect, projectRow, range, rowNorm, scatterRows, type AttackBatch, type AttackContext, type AttackResult, type Norm } from './common.js';
import type { AttackModel, LossKind } from './model.js';
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

/** One APGD run over m examples (all of them attacked). */
async function apgdRun(model: AttackModel, norm: Norm, eps: number, rng: Rng, inp: RunInput, o: ApgdOptions, kind: LossKind, onIter?: (i: number) => void): Promise<RunOutput> {
  const D = model.inputSize, C = model.classes;
  const { x0, y, target, m } = inp;
  const nIter = o.steps;
  const rho = o.rho ?? 0.75;
  const mom = o.momentum ?? 0.75;
  const nIter2 = Math.max(Math.floor(0.22 * nIter), 1);
  const nIterMin = Math.max(Math.floor(0.06 * nIter), 1);
  const sizeDecr = Math.max(Math.floor(0.03 * nIter), 1);

  // Start point.
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
  const xBest = xAdv.slice();
  const xOut = xAdv.slice();
  const fooled = new Uint8Array(m);

  const evalAt = async (idx: number[]) => {
    const r = await model.gradient(kind, gatherRows(xAdv, D, idx), gatherInts(y, idx), idx.length, target ? gatherInts(target, idx) : undefined);
    return r;
  };
  // Gradient at the start.
  let live = range(m);
  const grad = new Float32Array(m * D);
  const gradBest = new Float32Array(m * D);
  const lossBest = new Float32Array(m);
  {
    const r = await evalAt(live);
    scatterRows(grad, r.grad, D, live);
    gradBest.set(grad);
    lossBest.set(r.loss);
    for (let j = 0; j < m; j++) if (!isCorrect(r.logits, C, j, y[j])) { fooled[j] = 1; xOut.set(xAdv.subarray(j * D, (j + 1) * D), j * D); }
    live = live.filter((j) => !fooled[j]);
  }
  const stepSize = new Float64Array(m).fill(2 * eps);
  const xAdvOld = xAdv.slice();
  const lossSteps = new Float32Array(nIter * m);
  const lossBestLastCheck = lossBest.slice();
  const reducedLastCheck = new Uint8Array(m).fill(1);
  let k = nIter2;
  let counter3 = 0;
  const z = new Float32Array(D);
  const step = new Float32Array(D);

  for (let i = 0; i < nIter && live.length; i++) {
    const a = i > 0 ? mom : 1;
    // Momentum step for the live examples.
    for (const j of live) {
      const o0 = j * D;
      const eta = stepSize[j];
      // Direction: sign(g) for L-inf, g / ||g|| for L2.
      if (norm === 'linf') {
        for (let q = 0; q < D; q++) step[q] = eta * Math.sign(grad[o0 + q]);
      } else {
        const gn = rowNorm(grad, D, j) || 1e-12;
        for (let q = 0; q < D; q++) step[q] = (eta * grad[o0 + q]) / gn;
      }
      for (let q = 0; q < D; q++) z[q] = xAdv[o0 + q] + step[q];
      projectRow(norm, z, x0.subarray(o0, o0 + D), D, 0, eps);
      for (let q = 0; q < D; q++) {
        const cur = xAdv[o0 + q];
        const g2 = cur - xAdvOld[o0 + q];
        xAdvOld[o0 + q] = cur;
        xAdv[o0 + q] = cur + (z[q] - cur) * a + g2 * (1 - a);
      }
      projectRow(norm, xAdv, x0, D, j, eps);
    }
    const r = await evalAt(live);
    const next: number[] = [];
    live.forEach((j, q) => {
      const l = r.loss[q];
      lossSteps[i * m + j] = l;
      grad.set(r.grad.subarray(q * D, (q + 1) * D), j * D);
      if (l > lossBest[j]) {
        xBest.set(xAdv.subarray(j * D, (j + 1) * D), j * D);
        gradBest.set(r.grad.subarray(q * D, (q + 1) * D), j * D);
        lossBest[j] = l;
      }
      if (!isCorrect(r.logits, C, q, y[j])) {
        fooled[j] = 1;
        xOut.set(xAdv.subarray(j * D, (j + 1) * D), j * D);
      } else next.push(j);
    });
    counter3++;
    if (counter3 === k) {
      for (const j of next) {
        // Oscillation: the loss increased in at most rho * k of the last k steps. (Index -1 wraps to
        // the last row, still zero, as in the reference's tensor indexing.)
        let inc = 0;
        for (let c = 0; c < k; c++) {
          const a1 = i - c, a0 = i - c - 1;
          const l1 = lossSteps[(((a1 % nIter) + nIter) % nIter) * m + j];
          const l0 = lossSteps[(((a0 % nIter) + nIter) % nIter) * m + j];
          if (l1 > l0) inc++;
        }
        const osc = inc <= k * rho;
        const noImpr = !reducedLastCheck[j] && lossBestLastCheck[j] >= lossBest[j];
        const reduce = osc || noImpr;
        reducedLastCheck[j] = reduce ? 1 : 0;
        lossBestLastCheck[j] = lossBest[j];
        if (reduce) {
          stepSize[j] /= 2;
          xAdv.set(xBest.subarray(j * D, (j + 1) * D), j * D);
          grad.set(gradBest.subarray(j * D, (j + 1) * D), j * D);
        }
      }
      k = Math.max(k - sizeDecr, nIterMin);
      counter3 = 0;
    }
    live = next;
    onIter?.(i + 1);
  }
  // Unfooled examples: their highest-loss point.
  for (let j = 0; j < m; j++) if (!fooled[j]) xOut.set(xBest.subarray(j * D, (j + 1) * D), j * D);
  return { xOut, fooled };
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
