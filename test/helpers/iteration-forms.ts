// Shared by the tests that compare iteration forms (fused.test.ts, parallel.test.ts): a run of 5
// iterations of 16 images with redistributions every 2 iterations, and the largest relative
// difference between two networks' tensors.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { resolveConfig } from '../../src/config/index.js';
import type { Weights } from '../../src/runtime/artifact-core.js';

/** The run in iteration form `form`; `extra` overrides anything (threads is '1' unless given). */
export const fiveIterationRun = (form: string, extra: Record<string, string>) => resolveConfig({
  preset: 'mnist-smallcnn',
  overrides: {
    name: `form-${form}`, outDir: mkdtempSync(join(tmpdir(), `gen-${form}-`)), threads: '1', epochs: '1', batchSize: '16', 'dataset.trainSubset': '80',
    'dataset.validation': '16', 'dataset.testSubset': '16', 'attack.steps': '2', 'eval.pgdSteps': '1', 'eval.n': '16', 'eval.finalN': '16',
    'generalist.ema.memory': '3', 'generalist.redistribution.unit': 'iterations', 'generalist.redistribution.start': '0.3', 'generalist.redistribution.period': '2',
    'checkpoint.best': 'false', iterationForm: form, ...extra,
  },
});

/** max |a - b| / (1 + |b|) over every tensor of two networks with the same names. */
export function maxRelDiff(a: Weights, b: Weights): number {
  let worst = 0;
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(b)) {
    const x = a[k].data as Float32Array, y = b[k].data as Float32Array;
    for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / (1 + Math.abs(y[i])));
  }
  return worst;
}

type Trained = { weights: Record<string, Weights>; metrics: { trainLoss: Record<string, number> }[] };

/** Two runs trained the same networks to float32 rounding, with the same first-epoch losses. */
export function expectSameTraining(got: Trained, want: Trained): void {
  expect(Object.keys(got.weights).sort()).toEqual(Object.keys(want.weights).sort());
  for (const k of Object.keys(want.weights)) expect(maxRelDiff(got.weights[k], want.weights[k]), k).toBeLessThan(1e-5);
  expect(got.metrics[0].trainLoss).toEqual(Object.fromEntries(Object.entries(want.metrics[0].trainLoss).map(([k, v]) => [k, expect.closeTo(v, 5)])));
}

/** Every tensor of every network equal bit for bit. */
export function expectBitIdentical(got: Record<string, Weights>, want: Record<string, Weights>): void {
  for (const k of Object.keys(want)) {
    for (const [name, t] of Object.entries(want[k])) expect(Array.from(got[k][name].data as Float32Array), `${k} ${name}`).toEqual(Array.from(t.data as Float32Array));
  }
}
