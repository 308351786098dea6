// A tiny real Generalist run for tests that need a run folder: 512 MNIST training images, batch
// 64, PGD-2, 100 validation and 200 test images per evaluation.
import { resolveConfig } from '../../src/config/index.js';

export const tinyRunConfig = (outDir: string, extra: Record<string, string> = {}) => resolveConfig({
  preset: 'mnist-smallcnn',
  overrides: {
    name: 'tiny', outDir, threads: '1', epochs: '2', batchSize: '64', 'dataset.trainSubset': '512', 'dataset.validation': '200',
    'dataset.testSubset': '200', 'attack.steps': '2', 'eval.pgdSteps': '2', 'eval.n': '100', 'eval.finalN': '200',
    'generalist.ema.memory': '4', 'generalist.redistribution.period': '3', ...extra,
  },
});
