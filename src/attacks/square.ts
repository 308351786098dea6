// Square Attack, L-inf (Andriushchenko et al. 2020), a score-based black-box attack: it never
// looks at gradients, only at logits, so gradient masking does not stop it. Following the
// reference (autoattack/square.py):
//   - start: vertical stripes, x + eps * s with s in {-1, +1} drawn per (example, channel, column);
//   - each iteration proposes, per still-robust example, a random s x s window (all channels) set to
//     x_best + 2 eps * (+-1 per channel), projected onto the ball and [0, 1]; a proposal replaces
//     x_best when it lowers the margin loss z_y - max_{j != y} z_j, or misclassifies;
//   - the window side s = round(sqrt(p * H * W)), with p = p_init (0.8) halved at iterations 10, 50,
//     200, 500, 1000, 2000, 4000, 6000, 8000 of a 10,000-query schedule rescaled to the budget;
//   - as in the original code, a proposal that would not change the image is redrawn (at most 10
//     times), and windows are drawn per example.
// The query budget counts model queries per example, the start included.
import type { Rng } from '../util/rng.js';
import { clamp01, gatherInts, gatherRows, marginRow, range, type AttackBatch, type AttackContext, type AttackResult } from './common.js';

export interface SquareOptions {
  /** Queries per example per restart (AutoAttack: 5000). */
  queries: number;
  /** Initial fraction of pixels per square (AutoAttack L-inf: 0.8). */
  pInit?: number;
  restarts: number;
}

/** The reference p schedule: p at iteration `it` of a budget of `queries` (rescaled to 10,000). */
export function squareP(pInit: number, it: number, queries: number): number {
  const i = Math.floor((it / queries) * 10000);
  if (i > 8000) return pInit / 512;
  if (i > 6000) return pInit / 256;
  if (i > 4000) return pInit / 128;
  if (i > 2000) return pInit / 64;
  if (i > 1000) return pInit / 32;
  if (i > 500) return pInit / 16;
  if (i > 200) return pInit / 8;
  if (i > 50) return pInit / 4;
  if (i > 10) return pInit / 2;
  return pInit;
}

/** The images an attack works on: [C, H, W] rows of D values, the clean rows x0, radius eps. */
interface SquareRows { Ch: number; H: number; W: number; D: number; x0: Float32Array; eps: number }

/** The start: vertical stripes, x0 + eps * s with s in {-1, +1} drawn per (row, channel, column). */
function stripes(r: SquareRows, m: number, rng: Rng): Float32Array {
  const { Ch, H, W, D, x0, eps } = r;
  const xBest = new Float32Array(m * D);
  for (let j = 0; j < m; j++) {
    for (let c = 0; c < Ch; c++) {
      for (let w = 0; w < W; w++) {
        const s = rng.next() < 0.5 ? -eps : eps;
        for (let h = 0; h < H; h++) {
          const k = j * D + (c * H + h) * W + w;
          xBest[k] = clamp01(x0[k] + s);
        }
      }
    }
  }
  return xBest;
}

/**
 * Writes into row `q` of `out` the proposal for row `j` of `xBest`: a random side-`side` window
 * moved by +-2 eps per channel, projected; redrawn (at most 10 times) while it changes nothing.
 */
function propose(r: SquareRows, xBest: Float32Array, j: number, out: Float32Array, q: number, side: number, rng: Rng): void {
  const { Ch, H, W, D, x0, eps } = r;
  const base = j * D, ob = q * D;
  out.set(xBest.subarray(base, base + D), ob);
  for (let tries = 0; tries < 10; tries++) {
    const vh = rng.int(H - side + 1), vw = rng.int(W - side + 1);
    let changed = false;
    for (let c = 0; c < Ch; c++) {
      const delta = rng.next() < 0.5 ? -2 * eps : 2 * eps;
      for (let h = vh; h < vh + side; h++) {
        for (let w = vw; w < vw + side; w++) {
          const k = (c * H + h) * W + w;
          const lo = x0[base + k] - eps, hi = x0[base + k] + eps;
          let v = xBest[base + k] + delta;
          v = clamp01(v < lo ? lo : v > hi ? hi : v);
          out[ob + k] = v;
          if (Math.abs(v - xBest[base + k]) >= 1e-7) changed = true;
        }
      }
    }
    if (changed) return;
  }
}

/** One restart on the rows `active` of the batch: the stripes start, then up to Q - 1 proposals per row. */
async function squareRestart(ctx: AttackContext, batch: AttackBatch, active: number[], o: { Q: number; pInit: number; queries: Float64Array; progress: (it: number) => void }): Promise<{ xBest: Float32Array; margin: Float64Array }> {
  const { model, eps, rng } = ctx;
  const [Ch, H, W] = model.inputShape;
  const D = model.inputSize, C = model.classes;
  const m = active.length;
  const r: SquareRows = { Ch, H, W, D, x0: gatherRows(batch.x, D, active), eps };
  const y0 = gatherInts(batch.y, active);
  const xBest = stripes(r, m, rng);
  const margin = new Float64Array(m);
  const lossMin = new Float64Array(m); // the margin loss of x_best
  const start = await model.logits(xBest, m);
  for (let j = 0; j < m; j++) {
    margin[j] = lossMin[j] = marginRow(start, C, j, y0[j]);
    o.queries[active[j]] += 1;
  }
  for (let it = 0; it < o.Q - 1; it++) {
    const live = range(m).filter((j) => margin[j] > 0);
    if (!live.length) break;
    const side = Math.min(Math.max(Math.round(Math.sqrt(squareP(o.pInit, it, o.Q) * H * W)), 1), H, W);
    const batchX = new Float32Array(live.length * D);
    live.forEach((j, q) => propose(r, xBest, j, batchX, q, side, rng));
    const logits = await model.logits(batchX, live.length);
    live.forEach((j, q) => {
      const mg = marginRow(logits, C, q, y0[j]);
      const lower = mg < lossMin[j];
      if (lower) lossMin[j] = mg;
      if (lower || mg <= 0) {
        margin[j] = mg;
        xBest.set(batchX.subarray(q * D, (q + 1) * D), j * D);
      }
      o.queries[active[j]] += 1;
    });
    if ((it & 15) === 0) o.progress(it);
  }
  return { xBest, margin };
}

export async function square(ctx: AttackContext, batch: AttackBatch, o: SquareOptions): Promise<AttackResult> {
  const { model } = ctx;
  if (ctx.norm !== 'linf') throw new Error('the Square attack is implemented for the L-inf norm only');
  const shape = model.inputShape;
  if (shape.length !== 3) throw new Error(`the Square attack needs images [C, H, W]; the model takes [${shape.join(', ')}]`);
  const D = model.inputSize;
  const { x, n } = batch;
  const Q = o.queries;
  if (!Number.isInteger(Q) || Q < 1) throw new Error(`Square needs a query budget >= 1, got ${Q}`);
  const pInit = o.pInit ?? 0.8;
  const restarts = Math.max(1, o.restarts);
  const xAdv = x.slice();
  const fooled = new Uint8Array(n);
  const queries = new Float64Array(n);
  for (let r = 0; r < restarts; r++) {
    const active = range(n).filter((i) => !fooled[i]);
    if (!active.length) break;
    const progress = (it: number) => ctx.onStep?.((r + (it + 1) / Q) / restarts);
    const { xBest, margin } = await squareRestart(ctx, batch, active, { Q, pInit, queries, progress });
    active.forEach((i, j) => {
      if (margin[j] <= 0) fooled[i] = 1;
      xAdv.set(xBest.subarray(j * D, (j + 1) * D), i * D);
    });
  }
  ctx.onStep?.(1);
  return { xAdv, fooled, queries };
}
