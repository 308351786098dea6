// The WebGPU path, run through Chromium's software Vulkan driver (SwiftShader, Debian's chromium
// package; CI installs it). Train steps, the attack, the EMA and evaluation on WebGPU equal the CPU's
// within float32 tolerance for SmallCNN and a torch export; a tiny Generalist run on WebGPU writes
// a checkpoint, resumes from it and exports, with the CPU run's weights. SwiftShader is slow: tiny
// batches, PGD-1.
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.XDG_RUNTIME_DIR ??= '/tmp';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initialState } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { resolveConfig } from '../src/config/index.js';
import { loadModelFile } from '../src/onnx/load.js';
import type { Model } from '../src/onnx/ir.js';
import { ArtifactRuntime, type ExpertState, type Weights } from '../src/runtime/artifact-runtime.js';
import { ort } from '../src/runtime/ort.js';
import { train } from '../src/train/trainer.js';
import { AttackModel } from '../src/attacks/model.js';
import { buildZooModel } from '../models/index.js';
import { Rng } from '../src/util/rng.js';

ort.env.logLevel = 'error';

const cacheDir = mkdtempSync(join(tmpdir(), 'gen-webgpu-'));

/** max |a - b| / (1 + |b|) over every tensor of two weight sets. */
function maxRelDiff(a: Record<string, ort.Tensor>, b: Record<string, ort.Tensor>): number {
  let worst = 0;
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(b)) {
    const x = a[k].data as Float32Array, y = b[k].data as Float32Array;
    expect(x.length, k).toBe(y.length);
    for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / (1 + Math.abs(y[i])));
  }
  return worst;
}

/** Two train steps of R on PGD-1 images, one of N, the EMA, evaluation of G: the four artifacts, on one provider. */
async function phases(model: Model, provider: 'cpu' | 'webgpu', shape: number[], xAdvCpu?: ort.Tensor) {
  const { dir } = ensureArtifacts(model, { pgdSteps: 1, maxPoolGrad: 'windows' }, cacheDir);
  const rt = await ArtifactRuntime.open(dir, { provider, threads: 1 });
  expect(rt.provider).toBe(provider);
  const n = 4, size = shape.reduce((a, v) => a * v, 1);
  const rng = new Rng(5);
  const x = rt.f32(rng.fillUniform(new Float32Array(n * size), 0, 1), [n, ...shape]);
  const y = rt.i64(BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 3)), [n]);
  const noise = rt.f32(rng.fillUniform(new Float32Array(n * size), -1, 1), [n, ...shape]);
  const w0 = ArtifactRuntime.weightsFrom(initialState(model).values());
  let R: ExpertState = { weights: w0, slots: rt.initialSlots() };
  let N: ExpertState = { weights: w0, slots: rt.initialSlots() };
  const hp = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 };
  const xAdv = await rt.attack(R.weights, x, y, noise, 0.1, 0.05);
  // The steps train on the CPU's adversarial images: PGD's sign may flip where a gradient is ~0.
  const xTrain = xAdvCpu ? rt.f32(xAdvCpu.data as Float32Array, xAdvCpu.dims) : xAdv;
  for (let i = 0; i < 2; i++) R = (await rt.trainStep(R, xTrain, y, hp)).state;
  N = (await rt.trainStep(N, x, y, hp)).state;
  const e = await rt.ema(R.weights, N.weights, w0, w0, w0, 0.5, 0.7);
  const ev = await rt.evaluate(e.G, x, y);
  const host = async (w: Weights) => rt.onHost(w);
  const out = {
    xAdv: await host({ xAdv }), R: await host({ ...R.weights, ...R.slots }), N: await host(N.weights),
    A: await host(e.A), G: await host(e.G), logits: await host({ logits: ev.logits }), loss: ev.loss,
    onDevice: Object.values(e.G).some((t) => t.location === 'gpu-buffer'),
  };
  await rt.release();
  return out;
}

describe('WebGPU (SwiftShader) equals the CPU', () => {
  const models: [string, () => Model, number[]][] = [
    ['SmallCNN', () => buildZooModel('smallcnn', { seed: 3 }), [1, 28, 28]],
    ['a torch ResNet export (BatchNorm, overlapping MaxPool)', () => loadModelFile('test/fixtures/torch_resnet_op17_bn.onnx'), [3, 16, 16]],
  ];
  for (const [name, make, shape] of models) {
    it(`${name}: attack, train steps, EMA and evaluation`, async () => {
      const model = make();
      const cpu = await phases(model, 'cpu', shape);
      const gpu = await phases(model, 'webgpu', shape, cpu.xAdv.xAdv);
      expect(gpu.onDevice).toBe(true); // the state stayed on the device between runs
      expect(cpu.onDevice).toBe(false);
      // PGD's sign step can flip where a gradient is ~0 (sign(0) = 0); almost every pixel must agree.
      const a = cpu.xAdv.xAdv.data as Float32Array, b = gpu.xAdv.xAdv.data as Float32Array;
      const same = a.filter((v, i) => Math.abs(v - b[i]) < 1e-5).length;
      expect(same / a.length).toBeGreaterThan(0.99);
      for (const k of ['R', 'N', 'A', 'G', 'logits'] as const) expect(maxRelDiff(gpu[k], cpu[k]), k).toBeLessThan(2e-4);
      expect(gpu.loss).toBeCloseTo(cpu.loss, 4);
    }, 600_000);
  }
});

describe('a Generalist run on WebGPU', () => {
  const tiny = (outDir: string, provider: string) => resolveConfig({
    preset: 'mnist-smallcnn',
    overrides: {
      name: 'webgpu', outDir, provider, threads: '1', epochs: '1', batchSize: '8', 'dataset.trainSubset': '16', 'dataset.validation': '8',
      'dataset.testSubset': '8', 'attack.steps': '1', 'eval.pgdSteps': '1', 'eval.n': '8', 'eval.finalN': '8', 'eval.batchSize': '8',
      'generalist.ema.memory': '4', 'generalist.redistribution.period': '1',
      // eps 0: the training attack returns x on both providers (a PGD sign flip where a gradient
      // is ~0 would move a pixel by a whole step; the attack itself is compared above).
      'attack.eps': '0',
    },
  });
  it('checkpoints, resumes and exports with the CPU run\'s weights and accuracies', async () => {
    const cpu = await train(tiny(mkdtempSync(join(tmpdir(), 'gen-wg-cpu-')), 'cpu'), { sink: null, cacheDir });
    const dir = mkdtempSync(join(tmpdir(), 'gen-wg-'));
    const first = await train(tiny(dir, 'webgpu'), { sink: null, cacheDir, maxIterations: 1 });
    expect(first.interrupted).toBe(true);
    expect(existsSync(join(dir, 'checkpoint.bin'))).toBe(true);
    const last = await train(tiny(dir, 'webgpu'), { sink: null, cacheDir, resume: true });
    expect(last.interrupted).toBe(false);
    expect(existsSync(last.modelPath!)).toBe(true);
    const weights = (w: Weights) => Object.fromEntries(Object.entries(w).map(([k, t]) => [k, t]));
    for (const k of ['G', 'R', 'N']) expect(maxRelDiff(weights(last.weights[k]), weights(cpu.weights[k])), k).toBeLessThan(2e-4);
    expect(last.final).toEqual(cpu.final);
    // The exported model evaluates on WebGPU (the eval command's path) as on the CPU.
    const exported = loadModelFile(last.modelPath!);
    const x = new Rng(9).fillUniform(new Float32Array(4 * 784), 0, 1);
    const grads: Float32Array[] = [];
    for (const provider of ['cpu', 'webgpu'] as const) {
      const m = await AttackModel.create(exported, { provider, allowCpuFallback: false, cache: false });
      grads.push((await m.gradient('ce', x, [0, 1, 2, 3], 4)).grad);
      await m.release();
    }
    let worst = 0;
    grads[1].forEach((v, i) => { worst = Math.max(worst, Math.abs(v - grads[0][i])); });
    expect(worst).toBeLessThan(1e-4);
  }, 900_000);
});
