// The parallel iteration (CPU: the attack in batch halves on two threads, the two experts' steps
// side by side) trains what the four-run loop trains, to float32 rounding, for Generalist (with
// redistributions), PGD-AT and TRADES; and the worker thread's failures come back as errors.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/index.js';
import { train } from '../src/train/trainer.js';
import { buildZooModel } from '../src/zoo/index.js';
import { initialState } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { ort } from '../src/runtime/ort.js';
import { StagingBuffers, WorkerSessions } from '../src/runtime/worker-sessions.js';
import { sessionOptions } from '../src/runtime/providers.js';
import { ParallelIteration, splitThreads } from '../src/train/parallel.js';
import { iterationFormFor } from '../src/train/run.js';
import { Rng } from '../src/util/rng.js';
import { expectBitIdentical, expectSameTraining, fiveIterationRun } from './helpers/iteration-forms.js';
import { names } from '../src/artifacts/names.js';

const cacheDir = join(tmpdir(), 'gen-parallel-cache');

describe('parallel iteration = four runs', () => {
  for (const [method, extra] of [['generalist', {}], ['pgd-at', {}], ['trades', {}], ['generalist', { 'robust.loss': 'trades', 'optim.natural.type': 'adam' }]] as const) {
    it(`${method} ${Object.values(extra).join(' ')}: same weights and losses after 5 iterations`, async () => {
      // Two threads: one per side, as the four runs' single thread.
      const four = await train(fiveIterationRun('runs4', { threads: '1', method, ...extra }), { sink: null, cacheDir });
      const par = await train(fiveIterationRun('parallel', { threads: '2', method, ...extra }), { sink: null, cacheDir });
      expectSameTraining(par, four);
    });
  }

  it('a stopped and resumed run equals an uninterrupted one bit for bit (the worker holds no state)', async () => {
    const whole = await train(fiveIterationRun('parallel', { threads: '2' }), { sink: null, cacheDir });
    const cfg = fiveIterationRun('parallel', { threads: '2' });
    const first = await train(cfg, { sink: null, cacheDir, maxIterations: 2 });
    expect(first.interrupted).toBe(true);
    const rest = await train(cfg, { sink: null, cacheDir, resume: true });
    expect(rest.interrupted).toBe(false);
    expectBitIdentical(rest.weights, whole.weights);
  });

  it('the attack in halves equals the whole batch\'s attack, odd batch sizes included', async () => {
    const model = buildZooModel('smallcnn', { seed: 3 });
    const rt = await ArtifactRuntime.open(ensureArtifacts(model, { pgdSteps: 3 }, cacheDir).dir, { threads: 1 });
    const par = await ParallelIteration.open({ robust: rt, natural: null, robustLoss: 'ce' }, { threads: 1 });
    try {
      const w = ArtifactRuntime.weightsFrom(initialState(model).values());
      const rng = new Rng(5);
      for (const n of [1, 7, 12]) {
        const x = new ort.Tensor('float32', rng.fillUniform(new Float32Array(n * 784), 0, 1), [n, 1, 28, 28]);
        const y = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(rng.int(10))), [n]);
        const noise = new ort.Tensor('float32', rng.fillUniform(new Float32Array(n * 784), -1, 1), [n, 1, 28, 28]);
        const whole = (await rt.attack(w, x, y, noise, 0.3, 0.1)).data as Float32Array;
        const halves = await par.attack(w, x, y, noise, 0.3, 0.1);
        expect(halves.dims).toEqual([n, 1, 28, 28]);
        let worst = 0;
        for (let i = 0; i < whole.length; i++) worst = Math.max(worst, Math.abs((halves.data as Float32Array)[i] - whole[i]));
        expect(worst, `batch ${n}`).toBeLessThan(1e-6);
      }
    } finally {
      await par.release();
      await rt.release();
    }
  });
});

describe('choosing the parallel form', () => {
  it('auto takes it on the CPU with two threads or more and a robust expert, else four runs', () => {
    const cfg = (method: string, threads: string) => resolveConfig({ preset: 'mnist-smallcnn', overrides: { method, threads } });
    expect(iterationFormFor(cfg('generalist', '0'), 'cpu', 2)).toBe('parallel');
    expect(iterationFormFor(cfg('pgd-at', '2'), 'cpu', 1)).toBe('parallel');
    expect(iterationFormFor(cfg('generalist', '1'), 'cpu', 2)).toBe('runs4');
    expect(iterationFormFor(cfg('generalist', '0'), 'cpu', 1)).toBe('runs4');
    expect(iterationFormFor(cfg('natural', '0'), 'cpu', 2)).toBe('runs4');
    expect(iterationFormFor(cfg('generalist', '0'), 'cuda', 2)).toBe('loop');
    expect(splitThreads(0, 2)).toEqual({ main: 1, worker: 1 });
    expect(splitThreads(5, 2)).toEqual({ main: 3, worker: 2 });
  });

  it('asked for a natural run, it says why it cannot', async () => {
    await expect(train(fiveIterationRun('parallel', { threads: '2', method: 'natural' }), { sink: null, cacheDir })).rejects.toThrow(/no robust expert \(use runs4\)/);
  });
});

describe('worker sessions', () => {
  it('stage large feeds as copies in buffers that are reused by size, and leave small ones to the plain copy', () => {
    const s = new StagingBuffers();
    expect(s.stage(new Float32Array(16))).toBeNull();
    expect(s.stage(Array.from({ length: 1 << 17 }, () => 'a string tensor\'s element') as unknown as ArrayBufferView)).toBeNull();
    const big = Float32Array.from({ length: 1 << 15 }, (_, i) => i);
    const a = s.stage(big) as Float32Array;
    expect(a).toBeInstanceOf(Float32Array);
    expect(a.buffer).not.toBe(big.buffer);
    expect(Array.from(a)).toEqual(Array.from(big));
    const labels = s.stage(new BigInt64Array(1 << 13).fill(7n)) as BigInt64Array;
    expect(labels).toBeInstanceOf(BigInt64Array);
    expect(labels[100]).toBe(7n);
    s.restore([a.buffer as ArrayBuffer]);
    expect(s.heldBytes).toBe(big.byteLength);
    // A view into a larger buffer is copied from its own bytes only.
    const view = new Float32Array(big.buffer, 4 * 8, (1 << 15) - 8);
    const b = s.stage(view) as Float32Array;
    expect(b.length).toBe(view.length);
    expect(b[0]).toBe(8);
    const c = s.stage(big) as Float32Array;
    expect(c.buffer).toBe(a.buffer); // reused: same size
    expect(s.heldBytes).toBe(0);
  });

  it('runs a session on the worker and reports ORT\'s error for a bad feed, then a released worker refuses runs', async () => {
    const model = buildZooModel('smallcnn', { seed: 3 });
    const dir = ensureArtifacts(model, { pgdSteps: 1 }, cacheDir).dir;
    const rt = await ArtifactRuntime.open(dir, { threads: 1 });
    const ws = new WorkerSessions();
    await ws.open('eval', join(dir, rt.manifest.artifacts.eval.file), sessionOptions({ threads: 1 }));
    const w = ArtifactRuntime.weightsFrom(initialState(model).values());
    const x = new ort.Tensor('float32', new Float32Array(2 * 784).fill(0.5), [2, 1, 28, 28]);
    const y = new ort.Tensor('int64', BigInt64Array.from([1n, 2n]), [2]);
    const here = await rt.evaluate(w, x, y);
    // The eval artifact's feeds: the attack's without its noise, eps and step size.
    const feeds = { ...rt.attackFeeds(w, x, y, x, 0, 0) } as Record<string, ort.Tensor>;
    for (const k of [names.noise, names.eps, names.stepSize]) delete feeds[k];
    const there = await ws.run('eval', feeds);
    expect(Array.from(there[names.logits].data as Float32Array)).toEqual(Array.from(here.logits.data as Float32Array));
    // The large feeds went in staged buffers by transfer and came back; the caller's stay whole.
    const large = Object.values(feeds).filter((t) => (t.data as Float32Array).byteLength >= StagingBuffers.MIN_BYTES);
    const largeBytes = large.reduce((a, t) => a + (t.data as Float32Array).byteLength, 0);
    expect(large.length).toBeGreaterThan(0);
    expect(ws.staging.heldBytes).toBe(largeBytes);
    for (const t of Object.values(feeds)) expect((t.data as Float32Array).byteLength).toBe(t.size * (t.type === 'int64' ? 8 : 4));
    // The next run reuses them (nothing new held) and, with other weights, gives other logits.
    const w2 = { ...feeds };
    for (const t of large) {
      const k = Object.keys(feeds).find((n) => feeds[n] === t)!;
      w2[k] = new ort.Tensor('float32', (t.data as Float32Array).map((v) => v * 0.5), t.dims);
    }
    const halved = await ws.run('eval', w2);
    expect(ws.staging.heldBytes).toBe(largeBytes);
    const hereHalved = await rt.evaluate(Object.fromEntries(Object.keys(w).map((k) => [k, w2[k] ?? w[k]])), x, y);
    expect(Array.from(halved[names.logits].data as Float32Array)).toEqual(Array.from(hereHalved.logits.data as Float32Array));
    expect(Array.from(halved[names.logits].data as Float32Array)).not.toEqual(Array.from(here.logits.data as Float32Array));
    await expect(ws.run('eval', { ...feeds, [names.x]: new ort.Tensor('float32', new Float32Array(784), [1, 784]) })).rejects.toThrow(/ONNX Runtime on the worker thread: .+/);
    await expect(ws.run('missing', feeds)).rejects.toThrow(/no session "missing"/);
    await ws.release();
    await expect(ws.run('eval', feeds)).rejects.toThrow(/released/);
    await rt.release();
  });
});
