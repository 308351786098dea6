// Shared pieces of the attacks: the context an attack runs in, row gather/scatter on flat image
// batches, projections onto the eps-ball and [0, 1], and logit bookkeeping. Images are flat
// Float32Arrays of n * D values (D = values per image), labels are per-example class indices.
import type { Rng } from '../util/rng.js';
import type { AttackModel } from './model.js';

export type Norm = 'linf' | 'l2';

export interface AttackContext {
  model: AttackModel;
  eps: number;
  norm: Norm;
  /** The attack's own seeded stream (all its randomness comes from it). */
  rng: Rng;
  /** Within-attack progress, 0..1 (called often; cheap). */
  onStep?: (fraction: number) => void;
}

export interface AttackBatch {
  /** n * D clean images in [0, 1]. */
  x: Float32Array;
  /** n labels. */
  y: Int32Array;
  n: number;
}

export interface AttackResult {
  /** n * D adversarial candidates (inside the eps-ball and [0, 1]). */
  xAdv: Float32Array;
  /** What the attack claims: 1 where it found a misclassified point (re-verified by the caller). */
  fooled: Uint8Array;
  /** Square: model queries spent per example. */
  queries?: Float64Array;
}

export type Attack = (ctx: AttackContext, batch: AttackBatch) => Promise<AttackResult>;

/**
 * The restart loop of FGSM and PGD: each restart runs `attempt` on the examples not fooled yet,
 * gathered into x0 / y0 (local row j is batch row active[j]); `attempt` returns its points and
 * marks the local rows it fooled. Each attempted row's point is kept, so a fooled example holds the
 * point that fooled it.
 */
export async function restartLoop(
  batch: AttackBatch, D: number, restarts: number,
  attempt: (r: number, x0: Float32Array, y0: Int32Array, markFooled: (j: number) => void) => Promise<Float32Array>,
): Promise<AttackResult> {
  const { x, y, n } = batch;
  const xAdv = x.slice();
  const fooled = new Uint8Array(n);
  for (let r = 0; r < Math.max(1, restarts); r++) {
    const active = range(n).filter((i) => !fooled[i]);
    if (active.length === 0) break;
    const cur = await attempt(r, gatherRows(x, D, active), gatherInts(y, active), (j) => { fooled[active[j]] = 1; });
    scatterRows(xAdv, cur, D, active);
  }
  return { xAdv, fooled };
}

/** Rows `idx` of a flat [n, D] array, as a new [idx.length, D] array. */
export function gatherRows(src: Float32Array, D: number, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * D);
  for (let i = 0; i < idx.length; i++) out.set(src.subarray(idx[i] * D, (idx[i] + 1) * D), i * D);
  return out;
}
/** dst[idx[i]] = src[i] row-wise. */
export function scatterRows(dst: Float32Array, src: Float32Array, D: number, idx: ArrayLike<number>): void {
  for (let i = 0; i < idx.length; i++) dst.set(src.subarray(i * D, (i + 1) * D), idx[i] * D);
}
/** Row si of src into row di of dst (both flat [*, D]). */
export function copyRow(dst: Float32Array, di: number, src: Float32Array, si: number, D: number): void {
  dst.set(src.subarray(si * D, (si + 1) * D), di * D);
}
export function gatherInts(src: ArrayLike<number>, idx: ArrayLike<number>): Int32Array {
  const out = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = src[idx[i]];
  return out;
}
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Index of the largest logit of row i (first on ties, as argmax in torch and ONNX). */
export function argmaxRow(logits: Float32Array, C: number, i: number): number {
  let best = 0, v = logits[i * C];
  for (let c = 1; c < C; c++) if (logits[i * C + c] > v) { v = logits[i * C + c]; best = c; }
  return best;
}
/** z_y - max_{j != y} z_j of row i (> 0: classified correctly). */
export function marginRow(logits: Float32Array, C: number, i: number, y: number): number {
  let other = -Infinity;
  for (let c = 0; c < C; c++) if (c !== y && logits[i * C + c] > other) other = logits[i * C + c];
  return logits[i * C + y] - other;
}
export const isCorrect = (logits: Float32Array, C: number, i: number, y: number): boolean => argmaxRow(logits, C, i) === y;

export const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Projects row `i` of `v` (in place) onto the L-inf ball of radius eps around row `i` of `x0`, then onto [0, 1]. */
export function projectLinfRow(v: Float32Array, x0: Float32Array, D: number, i: number, eps: number): void {
  const o = i * D;
  for (let k = o; k < o + D; k++) {
    const lo = x0[k] - eps, hi = x0[k] + eps;
    const t = v[k] < lo ? lo : v[k] > hi ? hi : v[k];
    v[k] = clamp01(t);
  }
}
/** Projects row `i` of `v` onto the L2 ball of radius eps around row `i` of `x0`, then clips to [0, 1] (which only shortens the perturbation). */
export function projectL2Row(v: Float32Array, x0: Float32Array, D: number, i: number, eps: number): void {
  const o = i * D;
  let s = 0;
  for (let k = o; k < o + D; k++) { const d = v[k] - x0[k]; s += d * d; }
  const norm = Math.sqrt(s);
  // A hair inside the ball, so float32 rounding of x0 + delta cannot land outside it.
  const scale = norm > eps ? (eps * (1 - 1e-6)) / norm : 1;
  for (let k = o; k < o + D; k++) v[k] = clamp01(x0[k] + (v[k] - x0[k]) * scale);
}
export function projectRow(norm: Norm, v: Float32Array, x0: Float32Array, D: number, i: number, eps: number): void {
  if (norm === 'linf') projectLinfRow(v, x0, D, i, eps);
  else projectL2Row(v, x0, D, i, eps);
}

/** L2 norm of row i. */
export function rowNorm(v: Float32Array, D: number, i: number): number {
  let s = 0;
  for (let k = i * D; k < (i + 1) * D; k++) s += v[k] * v[k];
  return Math.sqrt(s);
}

/**
 * x <- x + step * direction(g) for row i: sign(g) for L-inf, g / ||g||_2 for L2 (the steepest
 * ascent direction of each norm). A zero gradient gives no step.
 */
export function ascentRow(norm: Norm, x: Float32Array, g: Float32Array, gi: number, xi: number, D: number, step: number): void {
  const ox = xi * D, og = gi * D;
  if (norm === 'linf') {
    for (let k = 0; k < D; k++) x[ox + k] += step * Math.sign(g[og + k]);
  } else {
    const n = rowNorm(g, D, gi);
    if (n === 0) return;
    const f = step / n;
    for (let k = 0; k < D; k++) x[ox + k] += f * g[og + k];
  }
}

/** A random start inside the ball for row i: uniform in the L-inf cube, or uniform direction and radius for L2. */
export function randomStartRow(norm: Norm, x: Float32Array, x0: Float32Array, D: number, i: number, eps: number, rng: Rng): void {
  const o = i * D;
  if (norm === 'linf') {
    for (let k = o; k < o + D; k++) x[k] = x0[k] + eps * (2 * rng.next() - 1);
  } else {
    const d = new Float32Array(D);
    rng.fillNormal(d);
    const n = rowNorm(d, D, 0) || 1;
    const r = eps * rng.next();
    for (let k = 0; k < D; k++) x[o + k] = x0[o + k] + (r * d[k]) / n;
  }
  projectRow(norm, x, x0, D, i, eps);
}
