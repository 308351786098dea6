import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/index.js';
import { train } from '../src/train/trainer.js';
import { loadCheckpoint, CheckpointError } from '../src/train/checkpoint.js';
import { loadModelFile } from '../src/onnx/load.js';
import { runModel, f32Tensor } from '../src/runtime/ort.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'gen-train-'));
const cacheDir = join(tmpdir(), 'gen-train-cache');

/** A tiny Generalist run: 512 training images, batch 64, 2 epochs, PGD-2. */
const tiny = (outDir: string, extra: Record<string, string> = {}) => resolveConfig({
  preset: 'mnist-smallcnn',
  overrides: {
    name: 'tiny', outDir, threads: '1', epochs: '2', batchSize: '64', 'dataset.trainSubset': '512', 'dataset.validation': '200',
    'dataset.testSubset': '200', 'attack.steps': '2', 'eval.pgdSteps': '2', 'eval.n': '100', 'eval.finalN': '200',
    'generalist.ema.memory': '4', 'generalist.redistribution.period': '3', ...extra,
  },
});

const bytesOf = (w: Record<string, { data: unknown }>) => Object.fromEntries(Object.entries(w).map(([k, t]) => [k, Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength).toString('base64')]));

describe('Generalist orchestrator', () => {
  it('a run interrupted mid-epoch and resumed ends with exactly the weights of an uninterrupted run', async () => {
    const a = tmp();
    const full = await train(tiny(a), { sink: null, cacheDir });
    expect(full.interrupted).toBe(false);
    const b = tmp();
    const first = await train(tiny(b), { sink: null, cacheDir, maxIterations: 5 });
    expect(first.interrupted).toBe(true);
    const second = await train(tiny(b), { sink: null, cacheDir, resume: true, maxIterations: 6 }); // crosses the epoch boundary
    expect(second.interrupted).toBe(true);
    const last = await train(tiny(b), { sink: null, cacheDir, resume: true });
    expect(last.interrupted).toBe(false);
    for (const k of ['G', 'R', 'N', 'A', 'S']) expect(bytesOf(last.weights[k]), k).toEqual(bytesOf(full.weights[k]));
    expect(last.final).toEqual(full.final);
  }, 300_000); // three runs: slow on a shared 2-core machine

  it('refuses a checkpoint from another config and a damaged checkpoint; never overwrites a run without --resume', async () => {
    const dir = tmp();
    await train(tiny(dir, { epochs: '1' }), { sink: null, cacheDir, maxIterations: 2 });
    await expect(train(tiny(dir, { epochs: '1' }), { sink: null, cacheDir })).rejects.toThrow(/already holds a checkpoint/);
    await expect(train(tiny(dir, { epochs: '1', 'attack.eps': '0.2' }), { sink: null, cacheDir, resume: true })).rejects.toThrow(/cannot resume: attack\.eps was 0\.3 in the checkpoint and is 0\.2 now/);
    const path = join(dir, 'checkpoint.bin');
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - 100));
    expect(() => loadCheckpoint(path)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(path)).toThrow(/truncated/);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(path, bytes);
    expect(() => loadCheckpoint(path)).toThrow(/checksum/);
  });

  for (const method of ['natural', 'pgd-at', 'trades']) {
    it(`runs the ${method} baseline through the same loop`, async () => {
      const dir = tmp();
      const r = await train(tiny(dir, { method, epochs: '1', 'dataset.trainSubset': '1024', 'attack.eps': '0.1' }), { sink: null, cacheDir });
      expect(Object.keys(r.final!), method).toEqual(['model']);
      expect(r.final!.model.clean, method).toBeGreaterThan(0.2); // chance is 0.1
      expect(existsSync(join(dir, 'model.onnx'))).toBe(true);
    });
  }

  it('a diverging run stops with the iteration and learning rate, and writes no checkpoint or model', async () => {
    const dir = tmp();
    const cfg = tiny(dir, { method: 'natural', epochs: '1', 'optim.natural.type': 'sgd', 'optim.natural.lr': '[[0, 1e30], [1, 1e30]]' });
    await expect(train(cfg, { sink: null, cacheDir })).rejects.toThrow(/training diverged: the model's loss is (NaN|Infinity) at epoch 1, iteration \d+ \(learning rate 1\.00e\+30\)\. Lower optim\.natural\.lr/);
    expect(existsSync(join(dir, 'checkpoint.bin'))).toBe(false);
    expect(existsSync(join(dir, 'model.onnx'))).toBe(false);
  });

  it("follows its own divergence advice: lower the lr and --resume continues from the last checkpoint, recording the change", async () => {
    const dir = tmp();
    const lr = (late: string) => `[[0, 0.01], [0.5, 0.01], [0.5, ${late}], [1, ${late}]]`;
    const cfg = (late: string) => tiny(dir, { method: 'natural', 'optim.natural.type': 'sgd', 'optim.natural.lr': lr(late) });
    await expect(train(cfg('1e30'), { sink: null, cacheDir })).rejects.toThrow(
      /training diverged: .* at epoch 2, iteration \d+ .*checkpoint\.bin still holds the last checkpoint\. Lower optim\.natural\.lr .* and continue it with --resume/);
    let said = '';
    const r = await train(cfg('0.005'), { sink: { write: (t) => { said += t; } }, cacheDir, resume: true });
    expect(r.interrupted).toBe(false);
    expect(said).toMatch(/changed since the checkpoint \(recorded in metrics\.jsonl\): optim\.natural\.lr \[\[0,0\.01\],\[0\.5,0\.01\],\[0\.5,1e\+30\],\[1,1e\+30\]\] -> \[\[0,0\.01\],\[0\.5,0\.01\],\[0\.5,0\.005\],\[1,0\.005\]\]/);
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.epoch)).toEqual([1, 2]);
    expect(lines[0].configChanges).toBeUndefined();
    expect(lines[1].configChanges).toEqual([{ field: 'optim.natural.lr', from: JSON.parse(lr('1e30')), to: JSON.parse(lr('0.005')), atIteration: 8 }]);
    expect(lines[1].lr.N).toBe(0.005);
    // Unsafe changes are refused with the field named; a refused resume leaves config.json alone.
    const before = readFileSync(join(dir, 'config.json'), 'utf8');
    await expect(train(tiny(dir, { method: 'natural', 'optim.natural.type': 'adam', 'optim.natural.lr': lr('0.005') }), { sink: null, cacheDir, resume: true }))
      .rejects.toThrow(/cannot resume: optim\.natural\.type was "sgd" in the checkpoint and is "adam" now/);
    await expect(train(tiny(dir, { method: 'natural', 'optim.natural.type': 'sgd', 'optim.natural.lr': lr('0.005'), batchSize: '32' }), { sink: null, cacheDir, resume: true }))
      .rejects.toThrow(/cannot resume: batchSize was 64/);
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(before);
  }, 300_000);

  it('--resume without a checkpoint starts the run and says so; run names are one folder name', async () => {
    const dir = tmp();
    let said = '';
    const r = await train(tiny(dir, { method: 'natural', epochs: '1' }), { sink: { write: (t) => { said += t; } }, cacheDir, resume: true, maxIterations: 1 });
    expect(said).toMatch(/--resume: .* has no checkpoint yet, so the run starts from the beginning/);
    expect(r.interrupted).toBe(true);
    for (const name of ['..', '.', 'a/b']) expect(() => tiny(dir, { name }), name).toThrow(/name/);
  });

  it('a short real training run beats chance by far and exports a standalone model', async () => {
    const dir = tmp();
    const cfg = tiny(dir, { epochs: '1', 'dataset.trainSubset': '4096', 'attack.eps': '0.1', 'attack.epsRampFraction': '0.5' });
    const r = await train(cfg, { sink: null, cacheDir });
    expect(r.final!.G.clean).toBeGreaterThan(0.6);
    expect(r.final!.N.clean).toBeGreaterThan(0.6);
    expect(existsSync(join(dir, 'metrics.jsonl'))).toBe(true);
    const m = loadModelFile(r.modelPath!);
    expect(m.graph.inputs.map((v) => v.name)).toEqual(['input']);
    expect(m.graph.outputs.map((v) => v.name)).toEqual(['logits']);
    const out = await runModel(m, { input: f32Tensor(new Float32Array(2 * 784).fill(0.5), [2, 1, 28, 28]) });
    expect(out.logits.dims).toEqual([2, 10]);
  }, 300_000);
});
