// The WebGPU path, run through Chromium's software Vulkan driver (SwiftShader: Debian's chromium
// package ships it; .ci/run installs it). Without the driver these tests fail and say so: they do
// not skip. The attack, train steps, EMA and evaluation on WebGPU equal the CPU's within float32
// rounding for SmallCNN and a torch export (BatchNorm, overlapping MaxPool); a tiny Generalist run
// on WebGPU (the fused iteration, the state on the device) checkpoints, resumes and exports the
// CPU run's weights, and the exported model's gradient (the eval command's path) agrees.
// SwiftShader is slow (seconds per run, most of it compiling shaders on a session's first run):
// batches of 2-4, PGD-1 and -2, 2 iterations, no per-epoch validation.
const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.VK_ICD_FILENAMES ??= ICD;
process.env.XDG_RUNTIME_DIR ??= '/tmp';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialState } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { resolveConfig } from '../src/config/index.js';
import { loadModelFile } from '../src/onnx/load.js';
import type { Model } from '../src/onnx/ir.js';
import { ArtifactRuntime, type ExpertState, type Weights } from '../src/runtime/artifact-runtime.js';
import { gradFormsFor, hasVulkanLoader } from '../src/runtime/providers.js';
import { ort } from '../src/runtime/ort.js';
import { train } from '../src/train/trainer.js';
import { AttackModel } from '../src/attacks/model.js';
import { Rng } from '../src/util/rng.js';

ort.env.logLevel = 'error';

const cacheDir = mkdtempSync(join(tmpdir(), 'gen-webgpu-'));

beforeAll(() => {
  const icd = process.env.VK_ICD_FILENAMES!;
  if (!existsSync(icd)) {
    throw new Error(`the WebGPU tests need a Vulkan driver: ${icd} is missing. Install Debian's chromium package (apt-get install chromium), which ships SwiftShader's driver there (.ci/run does), or point VK_ICD_FILENAMES at a Vulkan ICD`);
  }
  if (!hasVulkanLoader()) {
    throw new Error("the WebGPU tests need the system's Vulkan loader (libvulkan.so.1): apt-get install libvulkan1 (.ci/run does)");
  }
});

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

/** PGD-2 on R, two train steps of R on its output, one of N, the EMA, evaluation of G: the four artifacts, on one provider. */
async function phases(model: Model, provider: 'cpu' | 'webgpu', shape: number[]) {
  // The same artifacts on both providers: WebGPU's formulations (the CPU runs them too).
  const { dir } = ensureArtifacts(model, { pgdSteps: 2, ...gradFormsFor('webgpu') }, cacheDir);
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
  for (let i = 0; i < 2; i++) R = (await rt.trainStep(R, xAdv, y, hp)).state;
  N = (await rt.trainStep(N, x, y, hp)).state;
  const e = await rt.ema(R.weights, N.weights, w0, w0, w0, 0.5, 0.7);
  const ev = await rt.evaluate(e.G, x, y);
  const host = async (w: Weights) => rt.onHost(w);
  const out = {
    xAdv: await host({ xAdv }), R: await host({ ...R.weights, ...R.slots }), N: await host({ ...N.weights, ...N.slots }),
    A: await host(e.A), G: await host(e.G), logits: await host({ logits: ev.logits }), loss: ev.loss,
    onDevice: Object.values(e.G).some((t) => t.location === 'gpu-buffer'),
  };
  await rt.release();
  return out;
}

// SmallCNN's artifacts are compared inside the Generalist run below (fused iteration, evaluation).
describe('WebGPU (SwiftShader) equals the CPU', () => {
  const models: [string, () => Model, number[]][] = [
    ['a torch ResNet export (BatchNorm, overlapping MaxPool)', () => loadModelFile('test/fixtures/torch_resnet_op17_bn.onnx'), [3, 16, 16]],
  ];
  for (const [name, make, shape] of models) {
    it(`${name}: attack, train steps, EMA and evaluation`, async () => {
      const model = make();
      const cpu = await phases(model, 'cpu', shape);
      const gpu = await phases(model, 'webgpu', shape);
      expect(gpu.onDevice).toBe(true); // the state stayed on the device between runs
      expect(cpu.onDevice).toBe(false);
      for (const k of ['xAdv', 'R', 'N', 'A', 'G', 'logits'] as const) expect(maxRelDiff(gpu[k], cpu[k]), k).toBeLessThan(1e-5);
      expect(gpu.loss).toBeCloseTo(cpu.loss, 5);
    });
  }
});

describe('a Generalist run on WebGPU', () => {
  const tiny = (outDir: string, provider: string) => resolveConfig({
    preset: 'mnist-smallcnn',
    overrides: {
      name: 'webgpu', outDir, provider, threads: '1', epochs: '1', batchSize: '2', 'dataset.trainSubset': '4', 'dataset.validation': '2',
      'dataset.testSubset': '4', 'attack.steps': '1', 'eval.pgdSteps': '1', 'eval.every': '0', 'eval.finalN': '4', 'eval.batchSize': '4',
      'generalist.ema.memory': '4', 'generalist.redistribution.unit': 'iterations', 'generalist.redistribution.start': '0.5', 'generalist.redistribution.period': '1',
      // SGD: Adam (the preset's) divides each gradient by its own magnitude, so where a gradient
      // cancels to rounding level the step is about lr whatever the rounding; SGD keeps rounding as rounding.
      'optim.robust.type': 'sgd', 'optim.natural.type': 'sgd', 'optim.robust.lr': '[[0, 0.02], [1, 0.02]]', 'optim.natural.lr': '[[0, 0.02], [1, 0.02]]',
    },
  });
  it('checkpoints, resumes and exports the CPU run\'s weights and accuracies; the export evaluates alike', async () => {
    const cpu = await train(tiny(mkdtempSync(join(tmpdir(), 'gen-wg-cpu-')), 'cpu'), { sink: null, cacheDir });
    const dir = mkdtempSync(join(tmpdir(), 'gen-wg-'));
    const first = await train(tiny(dir, 'webgpu'), { sink: null, cacheDir, maxIterations: 1 });
    expect(first.interrupted).toBe(true);
    expect(existsSync(join(dir, 'checkpoint.bin'))).toBe(true);
    const last = await train(tiny(dir, 'webgpu'), { sink: null, cacheDir, resume: true });
    expect(last.interrupted).toBe(false);
    expect(existsSync(last.modelPath!)).toBe(true);
    for (const k of ['G', 'R', 'N', 'A', 'S']) expect(maxRelDiff(last.weights[k], cpu.weights[k]), k).toBeLessThan(1e-5);
    expect(last.final).toEqual(cpu.final);
    expect(last.metrics[0].trainLoss.R).toBeCloseTo(cpu.metrics[0].trainLoss.R, 5);
    // The exported model's input gradient on WebGPU (the eval command's attacks) equals the CPU's.
    const exported = loadModelFile(last.modelPath!);
    const x = new Rng(9).fillUniform(new Float32Array(2 * 784), 0, 1);
    const grads: Float32Array[] = [];
    for (const provider of ['cpu', 'webgpu'] as const) {
      const m = await AttackModel.create(exported, { provider, allowCpuFallback: false, cache: false });
      grads.push((await m.gradient('ce', x, [0, 1], 2)).grad);
      await m.release();
    }
    let worst = 0;
    grads[1].forEach((v, i) => { worst = Math.max(worst, Math.abs(v - grads[0][i])); });
    expect(worst).toBeLessThan(1e-5);
  });
});
