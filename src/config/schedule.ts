// The schedules a config describes, as functions of where the run is. `fraction` is the position in
// the run in [0, 1]: iteration t (0-based) of T total iterations is at t / T.
import type { Config, Knot, OptimizerConfig } from './types.js';

/** Piecewise-linear interpolation through the knots, constant before the first and after the last. */
export function knotValue(knots: readonly Knot[], fraction: number): number {
  if (knots.length === 0) throw new Error('knotValue: no knots');
  if (fraction <= knots[0][0]) return knots[0][1];
  for (let i = 1; i < knots.length; i++) {
    const [f1, v1] = knots[i];
    if (fraction <= f1) {
      const [f0, v0] = knots[i - 1];
      return f1 === f0 ? v1 : v0 + ((v1 - v0) * (fraction - f0)) / (f1 - f0);
    }
  }
  return knots[knots.length - 1][1];
}

/** Position of iteration t (0-based) in a run of totalIters iterations. */
export const runFraction = (t: number, totalIters: number): number => (totalIters > 0 ? Math.min(1, Math.max(0, t / totalIters)) : 0);

export const lrAt = (opt: OptimizerConfig, fraction: number): number => knotValue(opt.lr, fraction);

/** Weight of the robust EMA in the global model. */
export const betaAt = (c: Config, fraction: number): number => knotValue(c.generalist.beta, fraction);

/** Training eps: ramps linearly from 0 over attack.epsRampFraction of the run, then attack.eps. */
export function epsAt(c: Config, fraction: number): number {
  const r = c.attack.epsRampFraction;
  return r > 0 ? c.attack.eps * Math.min(1, Math.max(0, fraction) / r) : c.attack.eps;
}

/** Training PGD step size, scaled with eps during the ramp (so steps/eps stays constant). */
export function attackStepAt(c: Config, fraction: number): number {
  return c.attack.eps > 0 ? (c.attack.stepSize * epsAt(c, fraction)) / c.attack.eps : 0;
}

/** Evaluation PGD step size: eval.pgdStepSize, or 2.5 * eps / pgdSteps when that is 0. */
export function evalStepSize(c: Config): number {
  if (c.eval.pgdStepSize > 0) return c.eval.pgdStepSize;
  return c.eval.pgdSteps > 0 ? (2.5 * c.attack.eps) / c.eval.pgdSteps : 0;
}

/** Largest EMA decay: 1 - 1/memory, the memory in iterations (generalist.ema). */
export function emaMaxDecay(c: Config, totalIters: number): number {
  const { memory, unit } = c.generalist.ema;
  const iters = unit === 'run' ? memory * totalIters : memory;
  return iters <= 1 ? 0 : 1 - 1 / iters;
}

/**
 * The first EMA update whose decay is set by the memory (1 - 1/memory) rather than the warm-up
 * (t+1)/(t+warmup): t >= (d*warmup - 1)/(1 - d). A run shorter than this never feels its memory
 * (memory 50 with warm-up 10 binds from update 440 on; memory 200 from 1,790).
 */
export function emaMemoryStart(c: Config, totalIters: number): number {
  const d = emaMaxDecay(c, totalIters);
  return d <= 0 ? 0 : Math.max(0, Math.ceil((d * c.generalist.ema.warmup - 1) / (1 - d) - 1e-9));
}

/** EMA decay for the update after t updates: min(maxDecay, (t+1)/(t+warmup)) (the recipe's warm-up). */
export function emaDecay(c: Config, t: number, totalIters: number): number {
  return Math.min(emaMaxDecay(c, totalIters), (t + 1) / (t + c.generalist.ema.warmup));
}

export interface RunPosition {
  /** Epoch index, 0-based (the recipe's epoch e is epoch + 1). */
  epoch: number;
  /** Iteration within the epoch, 0-based. */
  iterInEpoch: number;
  /** Global iteration, 0-based. */
  iter: number;
  itersPerEpoch: number;
}

/** First epoch (1-based, the recipe's numbering) of redistribution: ceil(start * epochs), at least 1. */
export const redistributionStartEpoch = (c: Config): number =>
  Math.max(1, Math.ceil(c.generalist.redistribution.start * c.epochs - 1e-9));

/**
 * Whether the experts are reset to the global model after this iteration.
 * unit 'epochs': in epochs e = s, s + period, ... (1-based, s = redistributionStartEpoch), on every
 * iteration of those epochs (wholeEpoch, the recipe: 75, 80, ..., 120 of 120) or on their first.
 * unit 'iterations': at global iterations t0, t0 + period, ..., t0 = ceil(start * total iterations).
 */
export function shouldRedistribute(c: Config, p: RunPosition): boolean {
  const r = c.generalist.redistribution;
  if (!r.enabled || c.method !== 'generalist') return false;
  if (r.unit === 'epochs') {
    const e = p.epoch + 1, s = redistributionStartEpoch(c);
    if (e < s || (e - s) % r.period !== 0) return false;
    return r.wholeEpoch || p.iterInEpoch === 0;
  }
  const t0 = Math.ceil(r.start * c.epochs * p.itersPerEpoch - 1e-9);
  return p.iter >= t0 && (p.iter - t0) % r.period === 0;
}

/** The optimizer of the model a single-model method trains (natural: natural; pgd-at, trades: robust). */
export const singleModelOptimizer = (c: Config): OptimizerConfig => (c.method === 'natural' ? c.optim.natural : c.optim.robust);
