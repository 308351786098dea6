// The two models the speed benchmarks time, with the PyTorch reference's settings for each
// (../shared/bench/torch_generalist.py): SmallCNN on 1x28x28 (eps 0.3, step 0.01, batch 128) and
// PreAct ResNet-18 on 3x32x32 (eps 8/255, step 2/255, batch 32). Shared by bench.ts and op-profile.ts.
import type { Model } from '../src/onnx/ir.js';
import { ort } from '../src/runtime/ort.js';
import { buildZooModel, ZOO } from '../src/zoo/index.js';
import { Rng } from '../src/util/rng.js';

export interface BenchModel {
  /** Name for the PyTorch script's --model. */
  torchName: string;
  label: string;
  model: Model;
  batch: number;
  imageShape: readonly number[];
  eps: number;
  stepSize: number;
}

const MODELS: Record<string, { zoo: string; label: string; batch: number; eps: number; stepSize: number }> = {
  smallcnn: { zoo: 'smallcnn', label: 'SmallCNN', batch: 128, eps: 0.3, stepSize: 0.01 },
  preact18: { zoo: 'preactresnet18', label: 'PreAct ResNet-18', batch: 32, eps: 8 / 255, stepSize: 2 / 255 },
};

export function benchModel(name: string, batch?: string): BenchModel {
  const m = MODELS[name];
  if (!m) throw new Error(`--model must be one of ${Object.keys(MODELS).join(', ')}, got "${name}"`);
  return { torchName: name, label: m.label, model: buildZooModel(m.zoo, { seed: 0 }), batch: batch ? Number(batch) : m.batch, imageShape: ZOO[m.zoo].inputShape, eps: m.eps, stepSize: m.stepSize };
}

/** The attack's start noise for one batch, uniform in [-1, 1]. */
export function benchNoise(spec: BenchModel, rng: Rng): ort.Tensor {
  const dims = [spec.batch, ...spec.imageShape];
  return new ort.Tensor('float32', rng.fillUniform(new Float32Array(dims.reduce((a, v) => a * v, 1)), -1, 1), dims);
}

/** A fixed random batch (seeded) and the attack's noise for it. */
export function benchInputs(spec: BenchModel, rng = new Rng(0)): { x: ort.Tensor; y: ort.Tensor; noise: ort.Tensor; eps: number; stepSize: number } {
  const dims = [spec.batch, ...spec.imageShape];
  const x = new ort.Tensor('float32', rng.fillUniform(new Float32Array(dims.reduce((a, v) => a * v, 1)), 0, 1), dims);
  const y = new ort.Tensor('int64', BigInt64Array.from({ length: spec.batch }, () => BigInt(rng.int(10))), [spec.batch]);
  return { x, y, noise: benchNoise(spec, rng), eps: spec.eps, stepSize: spec.stepSize };
}
