// The fused iteration (one ORT run per iteration) trains exactly what the four-run loop trains:
// same weights, optimizer slots and EMA networks after several iterations, to float32 rounding,
// for Generalist (with redistributions) and the three baselines; and it moves fewer bytes.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/index.js';
import { train } from '../src/train/trainer.js';
import type { Weights } from '../src/runtime/artifact-core.js';
import { measureTransfer } from '../src/train/transfer.js';
import { buildZooModel } from '../models/index.js';

const cacheDir = join(tmpdir(), 'gen-fused-cache');

const tiny = (form: string, extra: Record<string, string>) => resolveConfig({
  preset: 'mnist-smallcnn',
  overrides: {
    name: 'fused', outDir: mkdtempSync(join(tmpdir(), 'gen-fused-')), threads: '1', epochs: '1', batchSize: '16', 'dataset.trainSubset': '80',
    'dataset.validation': '16', 'dataset.testSubset': '16', 'attack.steps': '2', 'eval.pgdSteps': '1', 'eval.n': '16', 'eval.finalN': '16',
    'generalist.ema.memory': '3', 'generalist.redistribution.unit': 'iterations', 'generalist.redistribution.start': '0.3', 'generalist.redistribution.period': '2',
    'checkpoint.best': 'false', iterationForm: form, ...extra,
  },
});

function maxRelDiff(a: Weights, b: Weights): number {
  let worst = 0;
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(b)) {
    const x = a[k].data as Float32Array, y = b[k].data as Float32Array;
    for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / (1 + Math.abs(y[i])));
  }
  return worst;
}

describe('fused iteration = four runs', () => {
  for (const [method, extra] of [['generalist', {}], ['pgd-at', {}], ['trades', {}], ['natural', {}], ['generalist', { 'robust.loss': 'trades', 'optim.natural.type': 'adam' }]] as const) {
    it(`${method} ${Object.values(extra).join(' ')}: same weights after 5 iterations`, async () => {
      const four = await train(tiny('runs4', { method, ...extra }), { sink: null, cacheDir });
      const fused = await train(tiny('fused', { method, ...extra }), { sink: null, cacheDir });
      expect(Object.keys(fused.weights).sort()).toEqual(Object.keys(four.weights).sort());
      for (const k of Object.keys(four.weights)) expect(maxRelDiff(fused.weights[k], four.weights[k]), k).toBeLessThan(1e-5);
      expect(fused.metrics[0].trainLoss).toEqual(Object.fromEntries(Object.entries(four.metrics[0].trainLoss).map(([k, v]) => [k, expect.closeTo(v, 5)])));
    });
  }
});

describe('transfer account', () => {
  it('SmallCNN at batch 128: the fused iteration moves at most 80% of the four runs\' bytes', async () => {
    const t = await measureTransfer(buildZooModel('smallcnn', { seed: 0 }), [128, 1, 28, 28], { cacheDir, threads: 1 });
    // Four runs: R crosses 3x each way, N 2x, A/S/G 2x, plus five batch-sized images; fused: each state once each way.
    expect(t.runs4).toBeGreaterThan(20e6);
    expect(t.fused).toBeLessThanOrEqual(0.8 * t.runs4);
  });
});
