// The fused iteration (one ORT run per iteration) trains exactly what the four-run loop trains:
// same weights, optimizer slots and EMA networks after several iterations, to float32 rounding,
// for Generalist (with redistributions) and the three baselines; and it moves fewer bytes.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/index.js';
import { train } from '../src/train/trainer.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { measureTransfer } from '../src/train/transfer.js';
import { buildZooModel } from '../src/zoo/index.js';
import { initialState } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { FusedIteration } from '../src/train/fused.js';
import { planIteration, trainIteration, type Nets } from '../src/train/iteration.js';
import { Rng } from '../src/util/rng.js';
import { expectBitIdentical, expectSameTraining, fiveIterationRun, maxRelDiff } from './helpers/iteration-forms.js';

const cacheDir = join(tmpdir(), 'gen-fused-cache');

describe('fused iteration = four runs', () => {
  for (const [method, extra] of [['generalist', {}], ['pgd-at', {}], ['trades', {}], ['natural', {}], ['generalist', { 'robust.loss': 'trades', 'optim.natural.type': 'adam' }]] as const) {
    it(`${method} ${Object.values(extra).join(' ')}: same weights after 5 iterations`, async () => {
      const four = await train(fiveIterationRun('runs4', { method, ...extra }), { sink: null, cacheDir });
      const fused = await train(fiveIterationRun('fused', { method, ...extra }), { sink: null, cacheDir });
      expectSameTraining(fused, four);
    });
  }
});

describe('K iterations per run in the trainer (iterationForm loop)', () => {
  it('K = 2 over 5 iterations (groups 2, 2, 1) trains the four runs\' weights', async () => {
    const four = await train(fiveIterationRun('runs4', {}), { sink: null, cacheDir });
    const loop = await train(fiveIterationRun('loop', { iterationLoop: '2' }), { sink: null, cacheDir });
    expectSameTraining(loop, four);
  });

  it('a stop lands on a K boundary and the resumed run is bit-identical to an uninterrupted one', async () => {
    const whole = await train(fiveIterationRun('loop', { iterationLoop: '3' }), { sink: null, cacheDir });
    const cfg = fiveIterationRun('loop', { iterationLoop: '3' });
    const first = await train(cfg, { sink: null, cacheDir, maxIterations: 1 });
    expect(first.interrupted).toBe(true);
    const saved = loadCheckpoint(join(first.outDir, 'checkpoint.bin')).meta.state as { iter: number };
    expect(saved.iter).toBe(3); // the group of 3 finished before the stop
    const rest = await train(cfg, { sink: null, cacheDir, resume: true });
    expect(rest.interrupted).toBe(false);
    expectBitIdentical(rest.weights, whole.weights);
    expect(readFileSync(join(rest.outDir, 'metrics.jsonl'), 'utf8').replace(/"seconds":[^,]*,"imagesPerSec":[^,]*,/g, ''))
      .toBe(readFileSync(join(whole.outDir, 'metrics.jsonl'), 'utf8').replace(/"seconds":[^,]*,"imagesPerSec":[^,]*,/g, ''));
  });
});

describe('transfer account', () => {
  it('SmallCNN at batch 128: the fused iteration moves at most 80% of the four runs\' bytes', async () => {
    const t = await measureTransfer(buildZooModel('smallcnn', { seed: 0 }), [128, 1, 28, 28], { cacheDir, threads: 1 });
    // Four runs: R crosses 3x each way, N 2x, A/S/G 2x, plus five batch-sized images; fused: each state once each way.
    expect(t.runs4).toBeGreaterThan(20e6);
    expect(t.fused).toBeLessThanOrEqual(0.8 * t.runs4);
    // K = 8: the state crosses once per 8 iterations; only the batches cross every time.
    expect(t.loop8).toBeLessThanOrEqual(t.fused / 4);
  });
});

describe('K iterations in one run (ONNX Loop)', () => {
  it('8 iterations of the loop artifact = 8 fused runs (Generalist, redistribution at iteration 4)', async () => {
    const model = buildZooModel('smallcnn', { seed: 2 });
    const config = resolveConfig({ preset: 'mnist-smallcnn', overrides: { 'generalist.ema.memory': '3', 'generalist.redistribution.unit': 'iterations', 'generalist.redistribution.start': '0.2', 'generalist.redistribution.period': '3' } });
    const rt = await ArtifactRuntime.open(ensureArtifacts(model, { pgdSteps: 2 }, cacheDir).dir, { threads: 1 });
    const parts = { robust: rt, natural: rt, robustLoss: 'ce' as const, generalist: true };
    const fused = await FusedIteration.open(parts, cacheDir, { threads: 1 });
    const loop = await FusedIteration.open(parts, cacheDir, { threads: 1, loop: true });
    const rng = new Rng(4);
    const batches = Array.from({ length: 8 }, () => ({ x: rng.fillUniform(new Float32Array(8 * 784), 0, 1), y: BigInt64Array.from({ length: 8 }, () => BigInt(rng.int(10))), dims: [8, 1, 28, 28], size: 8 }));
    const w0 = ArtifactRuntime.weightsFrom(initialState(model).values());
    const start = (): Nets => ({ R: { weights: w0, slots: rt.initialSlots() }, N: { weights: w0, slots: rt.initialSlots() }, A: w0, S: w0, G: w0 });
    const rts = { robust: rt, natural: rt, robustLoss: 'ce' as const };
    const counters = () => ({ epoch: 0, iterInEpoch: 0, iter: 0, itersPerEpoch: 8, totalIters: 8, stepsR: 0, stepsN: 0, emaUpdates: 0 });
    let one = start();
    const c1 = counters(), r1 = { noise: new Rng(1), dropout: new Rng(2) };
    const losses: number[] = [];
    for (const b of batches) {
      const r = await trainIteration(config, rts, one, b, c1, r1, undefined, fused);
      one = r.nets; losses.push(r.robust!.loss);
      c1.iter++; c1.iterInEpoch++;
    }
    const c8 = counters(), r8 = { noise: new Rng(1), dropout: new Rng(2) };
    const plans = batches.map((b) => { const p = planIteration(config, rts, b, c8, r8); c8.iter++; c8.iterInEpoch++; return p; });
    expect(plans.some((p) => p.ema?.redistribute)).toBe(true);
    const results = await loop.runLoop(start(), plans);
    const eight = results[7].nets;
    for (const k of ['A', 'S', 'G'] as const) expect(maxRelDiff(eight[k], one[k]), k).toBeLessThan(1e-5);
    expect(maxRelDiff({ ...eight.R.weights, ...eight.R.slots }, { ...one.R.weights, ...one.R.slots })).toBeLessThan(1e-5);
    results.forEach((r, i) => expect(r.robust!.loss).toBeCloseTo(losses[i], 5));
    await loop.release(); await fused.release(); await rt.release();
  });
});
