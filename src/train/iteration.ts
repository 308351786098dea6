// One training iteration of the Generalist method (or of a single-model baseline), on a batch:
//   x' = PGD(R; eps(t), step(t))           (attack artifact, when there is a robust expert)
//   R <- step(R; CE(R(x'), y)) or TRADES   (train step of the robust artifacts)
//   N <- step(N; CE(N(x), y))              (train step of the natural artifacts)
//   A <- dA + (1-d)R; S <- dS + (1-d)N; G <- dG + (1-d)(beta A + (1-beta) S)   (ema artifact)
//   R, N <- G when the redistribution schedule says so (weights and BN stats; slots kept)
// with d = emaDecay(t), beta = betaAt(t), the learning rates lrAt(t). The trainer (Node) and the
// browser demo (a Web Worker) both call this; schedules come from the run's Config.
import { attackStepAt, betaAt, emaDecay, epsAt, lrAt, runFraction, shouldRedistribute, type RunPosition } from '../config/schedule.js';
import type { Config, OptimizerConfig } from '../config/types.js';
import type { ArtifactCore, ExpertState, StepHyper, Weights } from '../runtime/artifact-core.js';
import type { Rng } from '../util/rng.js';
import type { Tensor } from 'onnxruntime-common';

/** The five networks of a Generalist run (a baseline uses R or N only). */
export interface Nets { R: ExpertState; N: ExpertState; A: Weights; S: Weights; G: Weights }

export interface IterationRuntimes {
  /** Artifacts of the robust expert (absent for natural training). */
  robust: ArtifactCore | null;
  /** Artifacts of the natural expert (absent for PGD-AT and TRADES). */
  natural: ArtifactCore | null;
  robustLoss: 'ce' | 'trades';
}

/** Where the run is; the step and EMA counters advance as the iteration runs. */
export interface IterationCounters extends RunPosition { totalIters: number; stepsR: number; stepsN: number; emaUpdates: number }

export interface IterationBatch { x: Float32Array; y: BigInt64Array; dims: readonly number[]; size: number }

export interface IterationResult { nets: Nets; robust?: { loss: number; correct: number }; natural?: { loss: number; correct: number } }

export function stepHyper(o: OptimizerConfig, frac: number, step: number): StepHyper {
  return { lr: lrAt(o, frac), weightDecay: o.weightDecay, momentum: o.momentum, beta1: o.betas[0], beta2: o.betas[1], adamEps: o.epsilon, step };
}

/** Every tensor a set of networks holds. */
function tensorsOf(n: Nets): Tensor[] {
  return [n.R.weights, n.R.slots, n.N.weights, n.N.slots, n.A, n.S, n.G].flatMap((w) => Object.values(w));
}

/**
 * Frees the device tensors (WebGPU gpu-buffer outputs) of `before` that `after` no longer holds:
 * state kept on the device is released as soon as it is replaced, not when the GC gets to it.
 */
export function disposeReplaced(before: Nets[], after: Nets): void {
  const kept = new Set(tensorsOf(after));
  const gone = new Set(before.flatMap(tensorsOf).filter((t) => !kept.has(t) && t.location === 'gpu-buffer'));
  for (const t of gone) t.dispose();
}

/** What an iteration feeds its runs: drawn and computed before any run, in the order the RNG streams are read. */
export interface IterationPlan {
  x: Tensor;
  y: Tensor;
  /** The robust expert's: attack noise (uniform in [-1, 1]), eps, step size, step hyper-parameters, dropout masks. */
  robust?: { noise: Tensor; eps: number; stepSize: number; hp: StepHyper; masks?: Record<string, Tensor> };
  natural?: { hp: StepHyper; masks?: Record<string, Tensor> };
  /** Generalist: EMA decay, blend beta, and whether R and N are reset to G after the EMA. */
  ema?: { decay: number; beta: number; redistribute: boolean };
  frac: number;
}

/** The plan of one iteration; advances the counters (steps, EMA updates) and the noise and dropout streams. */
export function planIteration(config: Config, rts: IterationRuntimes, batch: IterationBatch, c: IterationCounters, rngs: { noise: Rng; dropout: Rng }): IterationPlan {
  const frac = runFraction(c.iter, c.totalIters);
  const rt = (rts.robust ?? rts.natural)!;
  const plan: IterationPlan = { x: rt.f32(batch.x, batch.dims), y: rt.i64(batch.y, [batch.size]), frac };
  if (rts.robust) {
    const noise = rts.robust.f32(config.attack.randomStart ? rngs.noise.fillUniform(new Float32Array(batch.x.length), -1, 1) : new Float32Array(batch.x.length), batch.dims);
    const hp = { ...stepHyper(config.optim.robust, frac, ++c.stepsR), tradesBeta: config.robust.tradesBeta };
    const masks = rts.robust.needsDropoutMasks ? rts.robust.dropoutMasks(batch.size, rngs.dropout) : undefined;
    plan.robust = { noise, eps: epsAt(config, frac), stepSize: attackStepAt(config, frac), hp, masks };
  }
  if (rts.natural) {
    const masks = rts.natural.needsDropoutMasks ? rts.natural.dropoutMasks(batch.size, rngs.dropout) : undefined;
    plan.natural = { hp: stepHyper(config.optim.natural, frac, ++c.stepsN), masks };
  }
  if (config.method === 'generalist') {
    const decay = emaDecay(config, c.emaUpdates, c.totalIters);
    c.emaUpdates++;
    plan.ema = { decay, beta: betaAt(config, frac), redistribute: shouldRedistribute(config, c) };
  }
  return plan;
}

/** Sees each expert's loss right after its step (the trainer stops a diverging run there). */
export type LossCheck = (which: 'robust' | 'natural', loss: number, o: OptimizerConfig, frac: number) => void;

/**
 * Runs one iteration and returns the new networks (the inputs are not modified): four runs
 * (attack, robust step, natural step, EMA), or one when `fused` is given (fused.ts).
 */
export async function trainIteration(
  config: Config, rts: IterationRuntimes, nets: Nets, batch: IterationBatch, c: IterationCounters,
  rngs: { noise: Rng; dropout: Rng }, check?: LossCheck, fused?: FusedRunner,
): Promise<IterationResult> {
  const plan = planIteration(config, rts, batch, c, rngs);
  const out = fused ? await fused.run(nets, plan) : await fourRuns(rts, nets, plan, config, check);
  if (fused) {
    if (out.robust) check?.('robust', out.robust.loss, config.optim.robust, plan.frac);
    if (out.natural) check?.('natural', out.natural.loss, config.optim.natural, plan.frac);
  }
  disposeReplaced([nets], out.nets);
  return out;
}

/** Runs a planned iteration in one go (the fused iteration artifact). */
export interface FusedRunner { run(nets: Nets, plan: IterationPlan): Promise<IterationResult> }

/** Runs planned iterations in one go (the K-loop artifact): each one's losses, the networks after the last. */
export interface LoopRunner { runLoop(nets: Nets, plans: IterationPlan[]): Promise<IterationResult[]> }

/**
 * Runs one iteration per batch in a single run of the K-loop artifact. The plans are made in
 * order, as single iterations would make them: `c` advances through the group (iter and
 * iterInEpoch too, which the plans' schedules read). Each expert's loss is checked per iteration
 * after the run. Returns each iteration's result; the networks after the last are the last's.
 */
export async function trainIterations(
  config: Config, rts: IterationRuntimes, nets: Nets, batches: IterationBatch[], c: IterationCounters,
  rngs: { noise: Rng; dropout: Rng }, check: LossCheck | undefined, loop: LoopRunner,
): Promise<IterationResult[]> {
  const plans = batches.map((b) => {
    const p = planIteration(config, rts, b, c, rngs);
    c.iter++;
    c.iterInEpoch++;
    return p;
  });
  const out = await loop.runLoop(nets, plans);
  out.forEach((r, i) => {
    if (r.robust) check?.('robust', r.robust.loss, config.optim.robust, plans[i].frac);
    if (r.natural) check?.('natural', r.natural.loss, config.optim.natural, plans[i].frac);
  });
  disposeReplaced([nets], out[out.length - 1].nets);
  return out;
}

async function fourRuns(rts: IterationRuntimes, nets: Nets, p: IterationPlan, config: Config, check?: LossCheck): Promise<IterationResult> {
  let { R, N } = nets;
  const { A, S, G } = nets;
  const out: IterationResult = { nets };
  if (rts.robust && p.robust) {
    const xAdv = await rts.robust.attack(R.weights, p.x, p.y, p.robust.noise, p.robust.eps, p.robust.stepSize);
    const trades = rts.robustLoss === 'trades';
    const r = await rts.robust.trainStep(R, trades ? p.x : xAdv, p.y, p.robust.hp, trades ? xAdv : undefined, p.robust.masks);
    check?.('robust', r.loss, config.optim.robust, p.frac);
    R = r.state;
    out.robust = { loss: r.loss, correct: r.correct };
  }
  if (rts.natural && p.natural) {
    const r = await rts.natural.trainStep(N, p.x, p.y, p.natural.hp, undefined, p.natural.masks);
    check?.('natural', r.loss, config.optim.natural, p.frac);
    N = r.state;
    out.natural = { loss: r.loss, correct: r.correct };
  }
  out.nets = p.ema ? await emaPhase((rts.robust ?? rts.natural)!, { R, N, A, S, G }, p.ema) : { R, N, A, S, G };
  return out;
}

/** The EMA/blend run on the experts' new weights, then the redistribution (R, N <- G, slots kept) when planned. */
export async function emaPhase(rt: ArtifactCore, nets: Nets, ema: NonNullable<IterationPlan['ema']>): Promise<Nets> {
  let { R, N } = nets;
  const { A, S, G } = await rt.ema(R.weights, N.weights, nets.A, nets.S, nets.G, ema.decay, ema.beta);
  if (ema.redistribute) {
    disposeReplaced([{ R, N, A, S, G }], { R: { weights: G, slots: R.slots }, N: { weights: G, slots: N.slots }, A, S, G });
    R = { weights: { ...G }, slots: R.slots };
    N = { weights: { ...G }, slots: N.slots };
  }
  return { R, N, A, S, G };
}
