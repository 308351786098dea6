// The demo's training run: the mnist-smallcnn preset, resized so that Generalist's global model
// learns within a minute of a browser's single WASM thread. Shared by the build (which resolves it
// into config.json and builds the artifacts for it) and the tests.
import type { PartialConfig } from '../src/config/types.js';

export const DEMO_PRESET = 'mnist-smallcnn';
export const DEMO_TRAIN_IMAGES = 5000;
export const DEMO_TEST_IMAGES = 500;
/** Test images of the robust-accuracy estimate (PGD with the evaluation artifact's steps). */
export const DEMO_ROBUST_EVAL_IMAGES = 100;
/** Iterations between evaluations of G's clean accuracy; robust accuracy every ROBUST_EVERY of those. */
export const DEMO_EVAL_EVERY = 10;
export const DEMO_ROBUST_EVERY = 5;

export const DEMO_CONFIG: PartialConfig = {
  name: 'browser-demo',
  dataset: { name: 'mnist', validation: 0, trainSubset: DEMO_TRAIN_IMAGES, testSubset: DEMO_TEST_IMAGES },
  epochs: 4,
  batchSize: 32,
  // PGD-3 for training (step 2.5 eps / 3), the eps ramp over the first third as in the preset.
  attack: { eps: 0.3, stepSize: 0.25, steps: 3, epsRampFraction: 1 / 3, randomStart: true },
  generalist: {
    ema: { memory: 20, unit: 'iterations', warmup: 10 },
    redistribution: { enabled: true, start: 0.625, period: 50, unit: 'iterations', wholeEpoch: false },
  },
  eval: { pgdSteps: 10, pgdStepSize: 0, n: DEMO_ROBUST_EVAL_IMAGES, every: 1, split: 'test', finalN: DEMO_TEST_IMAGES },
};
