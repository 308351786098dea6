// The training artifacts are plain ONNX: onnxruntime-web's WASM backend (run here in Node, from the
// .wasm files in node_modules/onnxruntime-web/dist; no wasmPaths needed) loads all four and gives
// the outputs onnxruntime-node's CPU provider gives, for the same feeds.
// SmallCNN (pgdSteps 2; the attack both unrolled and as an ONNX Loop), a model of the newer ops
// (Resize, HardSwish, LayerNormalization, Erf-GELU, Einsum) and the torch-exported
// ResNet fixture, whose train step runs BatchNorm in training mode. Measured max |node - web| /
// scale: eval 1.5e-7, train_step 5.2e-7 (SmallCNN) and 2.4e-6 (ResNet, Adam), ema 0; attack: 0 of
// 12,544 pixels differ. Checked against 1e-4 (ema 1e-6).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialState, names, type Manifest } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { DataType, tensor, type Model, type Tensor } from '../src/onnx/ir.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { loadModelFile } from '../src/onnx/load.js';
import { ort, toOrt } from '../src/runtime/ort.js';
import { buildZooModel } from '../src/zoo/index.js';
import { Rng } from '../src/util/rng.js';

ortWeb.env.wasm.numThreads = 1;

type Feed = { type: 'float32' | 'int64'; data: Float32Array | BigInt64Array; dims: number[] };
type Artifact = keyof Manifest['artifacts'];

const f32 = (data: Float32Array, dims: number[]): Feed => ({ type: 'float32', data, dims });
const scalar = (v: number): Feed => f32(Float32Array.of(v), []);
const fromTensor = (t: Tensor): Feed => {
  const o = toOrt(t);
  return { type: o.type as Feed['type'], data: o.data as Feed['data'], dims: [...o.dims] };
};

/** Runs one artifact in both runtimes on the same feeds; returns both output maps (as plain arrays). */
async function runBoth(dir: string, m: Manifest, k: Artifact, feeds: Record<string, Feed>) {
  const bytes = readFileSync(join(dir, m.artifacts[k].file));
  const node = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  const web = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const nodeFeeds = Object.fromEntries(Object.entries(feeds).map(([n, f]) => [n, new ort.Tensor(f.type, f.data, f.dims)]));
    const webFeeds = Object.fromEntries(Object.entries(feeds).map(([n, f]) => [n, new ortWeb.Tensor(f.type, f.data, f.dims)]));
    const a = await node.run(nodeFeeds);
    const b = await web.run(webFeeds);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    const data = (r: Record<string, { data: unknown; dims: readonly number[] }>) => Object.fromEntries(Object.entries(r).map(([n, t]) => [n, { data: t.data as Float32Array | BigInt64Array, dims: [...t.dims] }]));
    return { node: data(a), web: data(b) };
  } finally {
    await node.release();
    await web.release();
  }
}

/** max |a - b| / max(max |a|, floor): error relative to the tensor's scale. */
function relDiff(a: Float32Array, b: Float32Array, floor = 1e-6): number {
  expect(b.length).toBe(a.length);
  let d = 0;
  let s = floor;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(a[i]));
  }
  return d / s;
}

/** Every float output agrees within rtol of its scale; integer outputs agree exactly. */
function compareAll(r: Awaited<ReturnType<typeof runBoth>>, rtol: number, what: string): number {
  let worst = 0;
  for (const [n, a] of Object.entries(r.node)) {
    const b = r.web[n];
    expect(b.dims, `${what} ${n} dims`).toEqual(a.dims);
    if (a.data instanceof BigInt64Array) expect(Array.from(b.data as BigInt64Array), `${what} ${n}`).toEqual(Array.from(a.data));
    else {
      const e = relDiff(a.data, b.data as Float32Array);
      worst = Math.max(worst, e);
      expect(e, `${what} ${n}: max |node - web| / scale`).toBeLessThan(rtol);
    }
  }
  return worst;
}

interface Setup { dir: string; m: Manifest; state: Record<string, Feed>; x: Feed; y: Feed; noise: Feed }

function setup(model: Model, options: Parameters<typeof ensureArtifacts>[1], n: number, seed: number): Setup {
  const { dir, manifest: m } = ensureArtifacts(model, options, mkdtempSync(join(tmpdir(), 'gen-wasm-')));
  const rng = new Rng(seed);
  const shape = m.input.shape.slice(1) as number[];
  const size = n * shape.reduce((a, v) => a * v, 1);
  const state = Object.fromEntries([...initialState(model).values()].map((t) => [t.name, fromTensor(t)]));
  return {
    dir, m, state,
    x: f32(rng.fillUniform(new Float32Array(size), 0, 1), [n, ...shape]),
    y: { type: 'int64', data: BigInt64Array.from({ length: n }, () => BigInt(rng.int(m.classes))), dims: [n] },
    noise: f32(rng.fillUniform(new Float32Array(size), -1, 1), [n, ...shape]),
  };
}

/** Optimizer slots filled with small random values, so the momentum/Adam terms are exercised. */
function slots(s: Setup, seed: number): Record<string, Feed> {
  const rng = new Rng(seed);
  const out: Record<string, Feed> = {};
  for (const p of s.m.params) {
    const len = p.shape.reduce((a, v) => a * v, 1);
    for (const slot of s.m.optimizerSlots) out[names.slot(slot, p.name)] = f32(rng.fillUniform(new Float32Array(len), slot === 'exp_avg_sq' ? 0 : -1e-3, 1e-3), p.shape);
  }
  return out;
}

describe('artifacts on onnxruntime-web (WASM) vs onnxruntime-node (CPU)', () => {
  const RTOL = 1e-4;
  describe('SmallCNN, SGD, pgdSteps 2', () => {
    let s: Setup;
    beforeAll(() => { s = setup(buildZooModel('smallcnn', { seed: 3 }), { optimizer: 'sgd', pgdSteps: 2 }, 16, 7); });

    it('eval.onnx: same logits, loss and correct count', async () => {
      const r = await runBoth(s.dir, s.m, 'eval', { ...s.state, x: s.x, y: s.y });
      compareAll(r, RTOL, 'eval');
      expect(Number(r.web.correct.data[0])).toBe(Number(r.node.correct.data[0]));
    });

    it('train_step.onnx: same loss, updated parameters and momentum buffers', async () => {
      const r = await runBoth(s.dir, s.m, 'train_step', {
        ...s.state, ...slots(s, 1), x: s.x, y: s.y,
        lr: scalar(0.05), momentum: scalar(0.9), weight_decay: scalar(5e-4),
      });
      compareAll(r, RTOL, 'train_step');
      // The buffers carry the raw gradient, so this compares the whole backward pass.
      expect(Object.keys(r.node).filter((k) => k.startsWith('new:momentum_buf:'))).toHaveLength(s.m.params.length);
    });

    it.each(['unrolled', 'loop'] as const)('attack.onnx (%s form): the same adversarial images', async (form) => {
      const { dir, manifest } = form === 'unrolled' ? { dir: s.dir, manifest: s.m } : ensureArtifacts(buildZooModel('smallcnn', { seed: 3 }), { optimizer: 'sgd', pgdSteps: 2, attackForm: 'loop' }, mkdtempSync(join(tmpdir(), 'gen-wasm-')));
      const r = await runBoth(dir, manifest, 'attack', { ...s.state, x: s.x, y: s.y, noise: s.noise, eps: scalar(0.3), step_size: scalar(0.1) });
      // Sign(gradient) can flip where a gradient entry is ~0; allow a handful of such pixels.
      const a = r.node.x_adv.data as Float32Array;
      const b = r.web.x_adv.data as Float32Array;
      let off = 0;
      for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 1e-5) off++;
      expect(off / a.length).toBeLessThan(1e-3);
    });

    it('ema.onnx: the same blend', async () => {
      const feeds: Record<string, Feed> = { decay: scalar(0.99), beta: scalar(0.3) };
      const rng = new Rng(9);
      for (const t of [...s.m.params, ...s.m.stats]) {
        for (const w of ['R', 'N', 'A', 'S', 'G'] as const) {
          const base = s.state[t.name].data as Float32Array;
          feeds[names.ema(w, t.name)] = f32(Float32Array.from(base, (v) => v + 0.01 * rng.normal()), t.shape);
        }
      }
      compareAll(await runBoth(s.dir, s.m, 'ema', feeds), 1e-6, 'ema');
    });
  });

  describe('a model of the newer ops: Resize, HardSwish, LayerNormalization, Erf-GELU, Einsum', () => {
    let s: Setup;
    beforeAll(() => {
      const rng = new Rng(12);
      const b = new GraphBuilder({ name: 'modern', opset: 17 });
      const w = (name: string, dims: number[], bound: number) => b.initializer(name, tensor('', DataType.FLOAT, dims, rng.fillUniform(new Float32Array(dims.reduce((a, d) => a * d, 1)), -bound, bound)));
      const k = (v: number) => b.constant(tensor('', DataType.FLOAT, [], [v]));
      const x = b.input('input', DataType.FLOAT, ['N', 1, 8, 8]);
      const up = b.op('Resize', [x, '', b.constant(tensor('', DataType.FLOAT, [4], [1, 1, 2, 2]))], { mode: 'linear' }); // [N, 1, 16, 16]
      let h = b.op('HardSwish', [b.conv(up, w('conv.weight', [4, 1, 3, 3], 0.5), w('conv.bias', [4], 0.5), { kernel_shape: [3, 3], strides: [2, 2] })]); // [N, 4, 7, 7]
      h = b.op('LayerNormalization', [h, w('ln.weight', [7], 1), w('ln.bias', [7], 0.1)], { axis: -1 });
      h = b.flatten(h, 1); // [N, 196]
      h = b.add(b.matmul(h, w('fc1.weight', [196, 16], 0.1)), w('fc1.bias', [16], 0.1));
      h = b.mul(b.mul(h, k(0.5)), b.add(b.op('Erf', [b.div(h, k(Math.SQRT2))]), k(1)));
      b.output(b.op('Einsum', [h, w('head.weight', [16, 10], 0.25)], { equation: 'nk,kc->nc' }), 'logits');
      s = setup(b.build(), { optimizer: 'adam', pgdSteps: 2 }, 8, 13);
    });

    it('train_step.onnx and attack.onnx agree', async () => {
      const r = await runBoth(s.dir, s.m, 'train_step', {
        ...s.state, ...slots(s, 3), x: s.x, y: s.y,
        lr: scalar(1e-3), weight_decay: scalar(0), beta1: scalar(0.9), beta2: scalar(0.999), adam_eps: scalar(1e-8), step: scalar(2),
      });
      compareAll(r, RTOL, 'train_step');
      const att = await runBoth(s.dir, s.m, 'attack', { ...s.state, x: s.x, y: s.y, noise: s.noise, eps: scalar(0.1), step_size: scalar(0.05) });
      const a = att.node.x_adv.data as Float32Array, b = att.web.x_adv.data as Float32Array;
      let off = 0;
      for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 1e-5) off++;
      expect(off / a.length).toBeLessThan(1e-2);
    });
  });

  describe('torch-exported ResNet with BatchNorm (train mode in the train step), Adam', () => {
    let s: Setup;
    beforeAll(() => {
      s = setup(loadModelFile(join(import.meta.dirname, 'fixtures', 'torch_resnet_op17_bn.onnx')), { optimizer: 'adam', pgdSteps: 2 }, 8, 8);
    });

    it('eval.onnx and train_step.onnx agree (BN batch statistics, updated running stats, Adam moments)', async () => {
      compareAll(await runBoth(s.dir, s.m, 'eval', { ...s.state, x: s.x, y: s.y }), RTOL, 'eval');
      const r = await runBoth(s.dir, s.m, 'train_step', {
        ...s.state, ...slots(s, 2), x: s.x, y: s.y,
        lr: scalar(1e-3), weight_decay: scalar(0), beta1: scalar(0.9), beta2: scalar(0.999), adam_eps: scalar(1e-8), step: scalar(3),
      });
      compareAll(r, RTOL, 'train_step');
    });
  });
});
