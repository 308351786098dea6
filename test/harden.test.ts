// The harden preset: robust fine-tuning of a trained ONNX classifier. Both experts (and A, S, G)
// start from the file's weights, BatchNorm statistics included; the natural expert moves less than
// the robust one; the final table scores the starting model next to the result.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateRobustness } from '../src/attacks/index.js';
import { resolveConfig } from '../src/config/index.js';
import { loadModelFile } from '../src/onnx/load.js';
import { saveModelFile } from '../src/onnx/save.js';
import type { Weights } from '../src/runtime/artifact-runtime.js';
import { loadDataset } from '../src/data/index.js';
import { releaseRun, setUpRun } from '../src/train/run.js';
import { TrainingState } from '../src/train/state.js';
import { formatTable, train } from '../src/train/trainer.js';
import { tinyBnCnn } from './helpers/tiny-bn-cnn.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'gen-harden-'));
const cacheDir = join(tmpdir(), 'gen-train-cache');
const small = { threads: '1', batchSize: '64', 'dataset.name': 'mnist', 'dataset.validation': '200', 'dataset.testSubset': '200', 'eval.pgdSteps': '2', 'eval.n': '100', 'eval.finalN': '200' };

const hex = (d: unknown) => Buffer.from((d as Float32Array).buffer, (d as Float32Array).byteOffset, (d as Float32Array).byteLength).toString('hex');
const bits = (w: Weights) => Object.fromEntries(Object.entries(w).map(([k, t]) => [k, hex(t.data)]));
/** Euclidean distance of the parameters (BN running statistics left out: they follow the batches whatever the lr). */
const distance = (a: Weights, b: Record<string, Float32Array>) => {
  let s = 0;
  for (const [k, t] of Object.entries(a).filter(([k]) => !k.includes('running_'))) { const x = t.data as Float32Array; for (let i = 0; i < x.length; i++) s += (x[i] - b[k][i]) ** 2; }
  return Math.sqrt(s);
};

describe('harden preset (robust fine-tuning of a trained model)', () => {
  it('is one epoch, the natural expert with a small constant lr, redistribution off, and needs model.source', () => {
    const c = resolveConfig({ preset: 'harden', overrides: { 'model.source': 'm.onnx' } });
    expect([c.epochs, c.dataset.name, c.attack.eps, c.generalist.redistribution.enabled]).toEqual([1, 'fashion-mnist', 0.1, false]);
    const natural = c.optim.natural.lr.map(([, v]) => v), robust = c.optim.robust.lr.map(([, v]) => v);
    expect(new Set(natural).size).toBe(1);
    expect(natural[0]).toBeLessThanOrEqual(robust[0] / 10);
    expect(() => resolveConfig({ preset: 'harden' })).toThrow(/model\.source: must not be empty/);
  });

  it('starts both experts, A, S and G from the given weights (BN statistics included) and reports the start next to the result', async () => {
    const dir = tmp();
    // A trained model with BatchNorm: a short natural run of a tiny conv-BN net, exported.
    const init = join(dir, 'init.onnx');
    saveModelFile(tinyBnCnn(5), init);
    const nat = await train(resolveConfig({ preset: 'mnist-smallcnn', overrides: { ...small, outDir: join(dir, 'natural'), method: 'natural', epochs: '1', 'dataset.trainSubset': '2048', 'model.source': init } }), { sink: null, cacheDir });
    const trained = nat.modelPath!;
    const given = loadModelFile(trained);
    const names = ['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'conv2.weight', 'bn2.weight', 'bn2.bias', 'bn2.running_mean', 'bn2.running_var', 'fc.weight', 'fc.bias'];
    const start = Object.fromEntries(names.map((k) => [k, given.graph.initializers.get(k)!.data as Float32Array]));
    expect(start['bn1.running_var'].some((v) => v !== 1)).toBe(true); // trained statistics, not a fresh BN's

    const cfg = resolveConfig({ preset: 'harden', overrides: { ...small, outDir: join(dir, 'harden'), 'model.source': trained, 'attack.eps': '0.1', 'attack.steps': '2', 'dataset.trainSubset': '1024' } });
    const run = await setUpRun(cfg, { cacheDir, log: () => {} });
    const s = new TrainingState(run);
    const want = Object.fromEntries(names.map((k) => [k, hex(start[k])]));
    for (const [who, w] of Object.entries({ R: s.learners.R.weights, N: s.learners.N.weights, A: s.learners.A, S: s.learners.S, G: s.learners.G })) expect(bits(w), who).toEqual(want);
    await releaseRun(run);

    const r = await train(cfg, { sink: null, cacheDir });
    // The natural expert (its own small lr) stays nearer the given weights than the robust one.
    expect(distance(r.weights.N, start)).toBeLessThan(distance(r.weights.R, start) / 3);
    const summary = JSON.parse(readFileSync(join(r.outDir, 'summary.json'), 'utf8'));
    expect(Object.keys(summary.test)).toEqual(['G', 'R', 'N', 'start']);
    expect(summary.startsFrom).toBe(trained);
    const test = loadDataset('mnist', { testSubset: 200 }).test;
    const direct = await evaluateRobustness(given, test, { eps: 0.1, attacks: ['fgsm'], seed: 0 });
    expect(summary.test.start.clean).toBe(direct.cleanAccuracy);
    expect(summary.test.start.clean).toBeGreaterThan(0.5);
    expect(formatTable(r.final!, 2, 0.1)).toMatch(/\| start +\| +\d+\.\d+% \|/);
  }, 300_000);
});
