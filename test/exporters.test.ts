// Models the way Keras/TF exporters write them: channels-last input [N, H, W, C] behind a Transpose,
// and a final Softmax, so the output is probabilities. Training and attacks must use the Softmax's
// input as the logits and feed the NCHW dataset images through a Transpose in the graph; the
// exported model keeps the original interface. Also: a model that cannot take the dataset's images
// or labels is refused before any artifact is built, with both shapes in the message.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildZooModel } from '../src/zoo/index.js';
import { analyzeModel, findLogits, inputLayoutFor } from '../src/artifacts/analyze.js';
import { withInputNormalization } from '../src/artifacts/normalize.js';
import { main } from '../src/cli/main.js';
import { AttackModel, evaluateRobustness } from '../src/attacks/index.js';
import { resolveConfig } from '../src/config/index.js';
import { loadMnist } from '../src/data/index.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { cloneGraph, DataType, tensor, type Model } from '../src/onnx/ir.js';
import { loadModelFile } from '../src/onnx/load.js';
import { saveModelFile } from '../src/onnx/save.js';
import { f32Tensor, runModel } from '../src/runtime/ort.js';
import { train } from '../src/train/trainer.js';
import { TrainError } from '../src/train/errors.js';
import { loadSourceModel } from '../src/train/source.js';
import { Rng } from '../src/util/rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'exporters-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cacheDir = join(tmp, 'cache');

/** The inverse of withInputNormalization: the model without its leading Sub and Div. */
function withoutNormalization(m: Model): Model {
  const g = cloneGraph(m.graph);
  const [sub, div] = g.nodes;
  const input = sub.inputs[0], normalised = div.outputs[0];
  g.nodes = g.nodes.slice(2).map((n) => ({ ...n, inputs: n.inputs.map((i) => (i === normalised ? input : i)) }));
  for (const n of [sub.inputs[1], div.inputs[1]]) g.initializers.delete(n);
  return { ...m, graph: g };
}

/** Config of a short natural-training run of the model in `file` on MNIST. */
const naturalRun = (name: string, file: string, extra: Record<string, string>) => resolveConfig({
  preset: 'mnist-smallcnn',
  overrides: {
    name, outDir: join(tmp, `${name}-run`), method: 'natural', 'model.source': file, threads: '1', epochs: '1', batchSize: '64',
    'dataset.validation': '200', 'dataset.testSubset': '500', 'eval.pgdSteps': '2', 'eval.n': '100', 'eval.finalN': '500', ...extra,
  },
});

interface Weights { conv: Float32Array; convB: Float32Array; fc: Float32Array; fcB: Float32Array }

function randomWeights(seed: number, classes = 10): Weights {
  const rng = new Rng(seed);
  const u = (n: number, bound: number) => rng.fillUniform(new Float32Array(n), -bound, bound);
  return { conv: u(8 * 9, 1 / 3), convB: u(8, 1 / 3), fc: u(1352 * classes, 1 / Math.sqrt(1352)), fcB: u(classes, 1 / Math.sqrt(1352)) };
}

/**
 * conv 3x3/2 (8) - relu - flatten - dense, as tf2onnx writes a Keras model: input [unk, 28, 28, 1],
 * Transpose to NCHW for the Conv and back to NHWC before flattening (Keras flattens H, W, C), MatMul
 * + Add, and (keras = true) Softmax then Identity. With keras = false the same network takes NCHW
 * images and returns logits: the twin that attacks must treat identically.
 */
function kerasStyle(w: Weights, keras: boolean, classes = 10): Model {
  const b = new GraphBuilder({ name: keras ? 'keras_style' : 'twin', opset: 13 });
  let x = b.input('input_1', DataType.FLOAT, keras ? ['unk__0', 28, 28, 1] : ['N', 1, 28, 28]);
  if (keras) x = b.transpose(x, [0, 3, 1, 2]);
  const conv = b.initializer('conv/kernel', tensor('', DataType.FLOAT, [8, 1, 3, 3], w.conv));
  const convB = b.initializer('conv/bias', tensor('', DataType.FLOAT, [8], w.convB));
  let h = b.relu(b.conv(x, conv, convB, { kernel_shape: [3, 3], strides: [2, 2] }));
  h = b.transpose(h, [0, 2, 3, 1]);
  h = b.op('Reshape', [h, b.initializer('flatten/shape', tensor('', DataType.INT64, [2], [-1, 1352]))]);
  const fc = b.initializer('dense/kernel', tensor('', DataType.FLOAT, [1352, classes], w.fc));
  const fcB = b.initializer('dense/bias', tensor('', DataType.FLOAT, [classes], w.fcB));
  let out = b.add(b.matmul(h, fc), fcB);
  if (keras) out = b.identity(b.softmax(out, -1));
  b.output(out, keras ? 'dense' : 'logits');
  return b.build();
}

describe('Keras/TF-style classifiers (channels-last input, Softmax output)', () => {
  const keras = kerasStyle(randomWeights(1), true);

  it('analysis finds the logits behind the Softmax and the channels-last layout', () => {
    const a = analyzeModel(keras);
    expect(a.outputKind).toBe('probabilities');
    expect(a.logits).not.toBe('dense');
    expect(a.classes).toBe(10);
    expect(inputLayoutFor(a.input, [1, 28, 28])).toBe('nhwc');
    expect(() => inputLayoutFor(a.input, [3, 32, 32])).toThrow(/"input_1" is \[unk__0, 28, 28, 1\] but the images are \[N, 3, 32, 32\]/);
    const twin = analyzeModel(kerasStyle(randomWeights(1), false));
    expect(twin.outputKind).toBe('logits');
    expect(inputLayoutFor(twin.input, [1, 28, 28])).toBe('nchw');
    // A Softmax over the batch axis is not a class distribution: the output stays the logits.
    const b = new GraphBuilder({ opset: 13 });
    const x = b.input('x', DataType.FLOAT, ['N', 10]);
    b.output(b.softmax(x, 0), 'p');
    expect(findLogits(b.build().graph, 13)).toEqual({ logits: 'p', outputKind: 'logits' });
  });

  it('Generalist trains it too: the PGD artifact attacks the logits through the Transpose, and G beats chance', async () => {
    const file = join(tmp, 'keras-generalist.onnx');
    saveModelFile(keras, file);
    const cfg = naturalRun('keras-generalist', file, {
      method: 'generalist', 'dataset.trainSubset': '4000', 'attack.eps': '0.1', 'attack.steps': '3', 'generalist.ema.memory': '8',
      'generalist.redistribution.period': '10',
    });
    const r = await train(cfg, { sink: null, cacheDir });
    expect(r.final!.G.clean).toBeGreaterThan(0.6);
    expect(r.final!.R.robust).toBeGreaterThan(0.2); // PGD-2 at eps 0.1 after a short PGD-AT: well above chance
    expect(r.final!.N.robust).toBeLessThan(r.final!.N.clean - 0.1); // and the attack does bite on the natural expert
    const m = loadModelFile(r.modelPath!);
    expect(m.graph.outputs.map((v) => v.name)).toEqual(['probabilities']);
  }, 300_000);

  it('`generalist artifacts --nchw-images` builds artifacts that take NCHW images for the channels-last model', async () => {
    const file = join(tmp, 'keras-artifacts.onnx');
    saveModelFile(keras, file);
    const out = join(tmp, 'keras-artifacts');
    const lines: string[] = [];
    expect(await main(['artifacts', file, '-o', out, '--nchw-images'], { out: (t) => lines.push(t), err: () => {} })).toBe(0);
    expect(lines.join('')).toMatch(/NCHW images into a channels-last model/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.options.inputLayout).toBe('nhwc');
    expect(manifest.artifacts.train_step.inputs.find((i: { name: string }) => i.name === 'x').shape).toEqual(['N', 1, 28, 28]);
  });

  it('attacks see exactly what they see on the NCHW, logits-returning twin', async () => {
    const w = randomWeights(2);
    const am = await AttackModel.create(kerasStyle(w, true), { inputShape: [1, 28, 28] });
    const twin = await AttackModel.create(kerasStyle(w, false));
    expect([am.inputLayout, am.outputKind]).toEqual(['nhwc', 'probabilities']);
    expect([twin.inputLayout, twin.outputKind]).toEqual(['nchw', 'logits']);
    const test = loadMnist().test;
    const n = 16;
    const x = Float32Array.from(test.images.subarray(0, n * 784), (v) => v / 255);
    const y = Array.from(test.labels.subarray(0, n));
    for (const kind of ['ce', 'cw'] as const) {
      const [g, t] = [await am.gradient(kind, x, y, n), await twin.gradient(kind, x, y, n)];
      for (let i = 0; i < t.logits.length; i++) expect(g.logits[i]).toBeCloseTo(t.logits[i], 5);
      let maxDiff = 0, maxAbs = 0;
      for (let i = 0; i < t.grad.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(g.grad[i] - t.grad[i])); maxAbs = Math.max(maxAbs, Math.abs(t.grad[i])); }
      expect(maxAbs, kind).toBeGreaterThan(0);
      expect(maxDiff, kind).toBeLessThan(1e-5 * maxAbs + 1e-7);
    }
  });

  it('trains on MNIST through the Softmax input, and exports a model with the original interface', async () => {
    const file = join(tmp, 'keras.onnx');
    saveModelFile(keras, file);
    const cfg = naturalRun('keras', file, { 'dataset.trainSubset': '10000' });
    const lines: string[] = [];
    const r = await train(cfg, { sink: { write: (s: string) => { lines.push(s); } }, cacheDir });
    expect(lines.join('')).toMatch(/channels-last/);
    expect(lines.join('')).toMatch(/ends in Softmax/);
    // A one-conv model after 10,000 images: far above chance (10%).
    expect(r.final!.model.clean).toBeGreaterThan(0.8);

    const m = loadModelFile(r.modelPath!);
    expect(m.graph.inputs.map((v) => [v.name, v.shape])).toEqual([['input', ['N', 28, 28, 1]]]);
    expect(m.graph.outputs.map((v) => v.name)).toEqual(['probabilities']);
    expect(m.graph.nodes.some((n) => n.opType === 'Softmax')).toBe(true);
    // The exported model takes NHWC images and returns probabilities that rank like the logits did.
    const test = loadMnist().test;
    const n = 200;
    const nhwc = new Float32Array(n * 784);
    for (let i = 0; i < n * 784; i++) nhwc[i] = test.images[i] / 255; // C = 1: NCHW and NHWC bytes agree
    const p = (await runModel(m, { input: f32Tensor(nhwc, [n, 28, 28, 1]) })).probabilities.data as Float32Array;
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(p.subarray(i * 10, i * 10 + 10));
      expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
      if (row.indexOf(Math.max(...row)) === test.labels[i]) correct++;
    }
    expect(correct / n).toBeGreaterThan(0.8);

    // And `eval` attacks it through its logits.
    const rep = await evaluateRobustness(r.modelPath!, test, { eps: 0.2, attacks: 'pgd10', n: 200, seed: 0 });
    expect(rep.model).toMatchObject({ inputShape: [1, 28, 28], inputLayout: 'nhwc', outputKind: 'probabilities' });
    expect(rep.cleanAccuracy).toBeCloseTo(correct / n, 5);
    expect(rep.attacks[0].robustAccuracy).toBeLessThan(rep.cleanAccuracy / 2);
  }, 300_000);
});

/**
 * A tiny ViT as torch.onnx.export (opset 17) writes one: patchify Conv, Reshape + Transpose into
 * tokens, an expanded class token, a learned position embedding, LayerNormalization, single-head
 * attention, an MLP with the Erf form of GELU, residuals, and a linear head on the class token.
 */
function tinyVit(seed: number): Model {
  const rng = new Rng(seed);
  const D = 16, T = 16, H = 32;
  const b = new GraphBuilder({ name: 'tiny_vit', opset: 17 });
  const w = (name: string, dims: number[], bound: number) => b.initializer(name, tensor('', DataType.FLOAT, dims, rng.fillUniform(new Float32Array(dims.reduce((a, d) => a * d, 1)), -bound, bound)));
  const ones = (name: string, n: number, v: number) => b.initializer(name, tensor('', DataType.FLOAT, [n], new Array(n).fill(v)));
  const k = (v: number) => b.constant(tensor('', DataType.FLOAT, [], [v]));
  const x = b.input('pixel_values', DataType.FLOAT, ['batch', 1, 28, 28]);
  const patches = b.conv(x, w('patch.weight', [D, 1, 7, 7], 1 / 7), w('patch.bias', [D], 1 / 7), { kernel_shape: [7, 7], strides: [7, 7] });
  let h = b.transpose(b.reshape(patches, [0, D, T]), [0, 2, 1]); // [N, T, D]
  // The class token, expanded to the batch (the shape comes from the features, as torch exports it).
  const batch = b.op('Slice', [b.shapeOf(h), b.constI64([0]), b.constI64([1])]);
  const cls = b.op('Expand', [w('cls_token', [1, 1, D], 0.02), b.op('Concat', [batch, b.constI64([1, D])], { axis: 0 })]);
  h = b.op('Concat', [cls, h], { axis: 1 }); // [N, T + 1, D]
  h = b.add(h, w('pos_embed', [1, T + 1, D], 0.02));
  const ln = (v: string, p: string) => b.op('LayerNormalization', [v, ones(`${p}.weight`, D, 1), ones(`${p}.bias`, D, 0)], { axis: -1, epsilon: 1e-6 });
  const a = ln(h, 'ln1');
  const lin = (v: string, p: string, i: number, o: number) => b.add(b.matmul(v, w(`${p}.weight`, [i, o], 1 / Math.sqrt(i))), w(`${p}.bias`, [o], 1 / Math.sqrt(i)));
  const q = lin(a, 'q', D, D), kk = lin(a, 'k', D, D), v = lin(a, 'v', D, D);
  const att = b.softmax(b.mul(b.matmul(q, b.transpose(kk, [0, 2, 1])), k(1 / Math.sqrt(D))), -1);
  h = b.add(h, lin(b.matmul(att, v), 'proj', D, D));
  const u = lin(ln(h, 'ln2'), 'fc1', D, H);
  const gelu = b.mul(b.mul(u, k(0.5)), b.add(b.op('Erf', [b.div(u, k(Math.SQRT2))]), k(1)));
  h = b.add(h, lin(gelu, 'fc2', H, D));
  const pooled = b.op('Gather', [ln(h, 'ln_f'), b.constI64(0, [])], { axis: 1 }); // the class token's features
  b.output(lin(pooled, 'head', D, 10), 'logits');
  return b.build();
}

describe('a tiny ViT exported the torch way', () => {
  it('trains on MNIST: attention, LayerNormalization, Erf-GELU and the position embedding all learn', async () => {
    const vit = tinyVit(4);
    const a = analyzeModel(vit);
    const trained = new Set(a.params.map((p) => p.name));
    for (const name of ['patch.weight', 'ln1.weight', 'ln1.bias', 'q.weight', 'fc1.bias', 'head.weight', 'pos_embed', 'cls_token']) expect(trained.has(name), name).toBe(true);
    const file = join(tmp, 'vit.onnx');
    saveModelFile(vit, file);
    const cfg = naturalRun('vit', file, { 'dataset.trainSubset': '15000', epochs: '2' });
    const r = await train(cfg, { sink: null, cacheDir });
    expect(r.final!.model.clean).toBeGreaterThan(0.6); // chance is 0.1
    const m = loadModelFile(r.modelPath!);
    const init = (model: Model, n: string) => Array.from(model.graph.initializers.get(n)!.data as Float32Array);
    for (const n of ['ln1.weight', 'ln2.bias', 'pos_embed', 'cls_token']) expect(init(m, n), n).not.toEqual(init(vit, n));
  }, 300_000);
});

describe('dynamic image dims (torch dynamic_axes on H and W)', () => {
  it('train pins them to the dataset for the artifacts; the export keeps them dynamic', async () => {
    const m = kerasStyle(randomWeights(5), false);
    m.graph.inputs[0].shape = ['N', 1, 'height', 'width'];
    const file = join(tmp, 'dynamic-hw.onnx');
    saveModelFile(m, file);
    const r = await train(naturalRun('dynamic-hw', file, { 'dataset.trainSubset': '3000' }), { sink: null, cacheDir });
    expect(r.final!.model.clean).toBeGreaterThan(0.7);
    expect(loadModelFile(r.modelPath!).graph.inputs[0].shape).toEqual(['N', 1, 'height', 'width']);
    // `generalist artifacts` has no dataset to take the dims from: it asks for them.
    const errs: string[] = [];
    const io = { out: () => {}, err: (t: string) => errs.push(t) };
    expect(await main(['artifacts', file, '-o', join(tmp, 'dyn-art')], io)).toBe(1);
    expect(errs.join('\n')).toMatch(/needs static spatial dims/);
    expect(await main(['artifacts', file, '-o', join(tmp, 'dyn-art'), '--image-shape', '1,28,28'], io)).toBe(0);
    expect(await main(['artifacts', file, '-o', join(tmp, 'dyn-art'), '--image-shape', '28,28'], io)).toBe(2);
  }, 300_000);
});

describe('which initializers are learned', () => {
  it('operands applied to features after a weighted op are; input normalisation and scalars are not', () => {
    const b = new GraphBuilder({ opset: 17 });
    const f = (name: string, dims: number[], v = 0.5) => b.initializer(name, tensor('', DataType.FLOAT, dims, new Array(dims.reduce((a, d) => a * d, 1)).fill(v)));
    const x = b.input('x', DataType.FLOAT, ['N', 3, 8, 8]);
    const normed = b.div(b.sub(x, f('mean', [1, 3, 1, 1])), f('std', [1, 3, 1, 1]));
    let h = b.conv(normed, f('conv.weight', [4, 3, 3, 3]), undefined, { kernel_shape: [3, 3] });
    h = b.mul(h, f('layer_scale', [1, 4, 1, 1], 1e-6)); // ConvNeXt's gamma
    h = b.mul(h, f('half', [], 0.5));
    h = b.reshape(b.globalAveragePool(h), [-1, 4]);
    b.output(b.add(b.matmul(h, f('fc.weight', [4, 10])), f('fc.bias', [10])), 'logits');
    const a = analyzeModel(b.build());
    expect(a.params.map((p) => p.name).sort()).toEqual(['conv.weight', 'fc.bias', 'fc.weight', 'layer_scale']);
    expect(a.constants.map((c) => c.name)).toEqual(expect.arrayContaining(['mean', 'std', 'half']));
  });
});

describe('input normalisation in front of a model (models trained on (x - mean) / std)', () => {
  it('the wrapped model on x equals the original on (x - mean) / std, channels first or last; the constants stay fixed', async () => {
    const w = randomWeights(6);
    const x = new Rng(2).fillUniform(new Float32Array(3 * 784), 0, 1);
    const norm = { mean: [0.1307], std: [0.3081] };
    for (const keras of [false, true]) {
      const m = kerasStyle(w, keras);
      const wrapped = withInputNormalization(m, norm, keras ? 'nhwc' : 'nchw');
      expect(analyzeModel(wrapped).params.map((p) => p.name).sort()).toEqual(analyzeModel(m).params.map((p) => p.name).sort());
      const dims = keras ? [3, 28, 28, 1] : [3, 1, 28, 28];
      const out = (model: Model, data: Float32Array) => runModel(model, { input_1: f32Tensor(data, dims) }).then((r) => Object.values(r)[0].data as Float32Array);
      const a = await out(wrapped, x);
      const b = await out(m, x.map((v) => (v - 0.1307) / 0.3081));
      for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 5);
    }
    expect(() => withInputNormalization(kerasStyle(w, false), { mean: [0.5, 0.5, 0.5], std: [1, 1, 1] })).toThrow(/3 channel values but the input "input_1" has 1 channels/);
    expect(() => withInputNormalization(kerasStyle(w, false), { mean: [0.5], std: [0] })).toThrow(/standard deviations > 0/);
  });

  it('training with model.normalize exports a model that takes [0, 1] pixels; `eval --mean --std` wraps a model the same way', async () => {
    const cfg = naturalRun('normalized', 'smallcnn', { 'dataset.trainSubset': '3000', 'model.normalize.mean': '[0.1307]', 'model.normalize.std': '[0.3081]' });
    const r = await train(cfg, { sink: null, cacheDir });
    expect(r.final!.model.clean).toBeGreaterThan(0.8);
    const exported = loadModelFile(r.modelPath!);
    expect(exported.graph.nodes.slice(0, 2).map((n) => n.opType)).toEqual(['Sub', 'Div']);
    expect(JSON.parse(exported.metadata.input_normalization)).toMatchObject({ mean: [0.1307], std: [0.3081] });

    // The same network without the normalisation, evaluated with --mean/--std, is the same model.
    const bare = withoutNormalization(exported);
    const file = join(tmp, 'bare.onnx');
    saveModelFile(bare, file);
    const json = (name: string) => join(tmp, `${name}.json`);
    const io = { out: () => {}, err: () => {} };
    const args = ['--dataset', 'mnist', '--n', '100', '--eps', '0.1', '--attacks', 'pgd5'];
    expect(await main(['eval', '--model', r.modelPath!, ...args, '--json', json('wrapped')], io)).toBe(0);
    expect(await main(['eval', '--model', file, ...args, '--mean', '0.1307', '--std', '0.3081', '--json', json('bare')], io)).toBe(0);
    const [a, b] = [json('wrapped'), json('bare')].map((f) => JSON.parse(readFileSync(f, 'utf8')));
    expect(b.cleanAccuracy).toBe(a.cleanAccuracy);
    expect(b.attacks[0].robustAccuracy).toBe(a.attacks[0].robustAccuracy);
    expect(await main(['eval', '--model', file, ...args, '--mean', '0.1307'], io)).toBe(2);
  }, 300_000);
});

describe('a model that does not fit the data is refused before anything is built', () => {
  it('names the model, both shapes, or both class counts', async () => {
    const cifar = join(tmp, 'cifar-resnet.onnx');
    saveModelFile(buildZooModel('resnet18', { seed: 0 }), cifar);
    const five = join(tmp, 'five-classes.onnx');
    saveModelFile(kerasStyle(randomWeights(3, 5), true, 5), five);
    const cfg = (source: string) => resolveConfig({
      preset: 'mnist-smallcnn',
      overrides: { name: 'misfit', outDir: mkdtempSync(join(tmp, 'misfit-')), 'model.source': source, 'dataset.trainSubset': '256' },
    });
    const unused = join(tmp, 'misfit-cache');
    await expect(train(cfg(cifar), { sink: null, cacheDir: unused })).rejects.toThrow(TrainError);
    await expect(train(cfg(cifar), { sink: null, cacheDir: unused })).rejects.toThrow(/cifar-resnet\.onnx cannot train on mnist: the model's input "input" is \[N, 3, 32, 32\] but the images are \[N, 1, 28, 28\]/);
    await expect(train(cfg(five), { sink: null, cacheDir: unused })).rejects.toThrow(/five-classes\.onnx cannot train on mnist: its output "dense" has 5 classes, the dataset 10/);
    // Refused before any artifact was built.
    expect(existsSync(unused)).toBe(false);
  });

  it('a model exported with a fixed batch of 1: refused when it hard-codes it, trained when it does not', async () => {
    const build = (hardCoded: boolean) => {
      const b = new GraphBuilder({ opset: 17 });
      const f = (name: string, dims: number[]) => b.initializer(name, tensor('', DataType.FLOAT, dims, new Rng(dims.length).fillUniform(new Float32Array(dims.reduce((a, d) => a * d, 1)), -0.1, 0.1)));
      const x = b.input('input', DataType.FLOAT, [1, 1, 28, 28]);
      let h = b.relu(b.conv(x, f('conv.weight', [4, 1, 3, 3]), f('conv.bias', [4]), { kernel_shape: [3, 3], strides: [2, 2] }));
      h = hardCoded ? b.op('Reshape', [h, b.constI64([1, 676])]) : b.flatten(h, 1);
      b.output(b.add(b.matmul(h, f('fc.weight', [676, 10])), f('fc.bias', [10])), 'logits');
      return b.build();
    };
    const [fixed, free] = [join(tmp, 'batch1-fixed.onnx'), join(tmp, 'batch1-free.onnx')];
    saveModelFile(build(true), fixed);
    saveModelFile(build(false), free);
    await expect(train(naturalRun('batch1-fixed', fixed, { 'dataset.trainSubset': '512' }), { sink: null, cacheDir: join(tmp, 'never') }))
      .rejects.toThrow(/batch1-fixed\.onnx cannot train on mnist: it was exported with a fixed batch of 1 and keeps it \(its logits are \[1, 10\] for a batch of N images\); re-export it with a dynamic batch/);
    const out: string[] = [];
    expect(await main(['inspect', fixed], { out: (t) => out.push(t), err: () => {} })).toBe(0);
    expect(out.join('\n')).toMatch(/trainable: no \(it was exported with a fixed batch of 1 and keeps it/);
    const r = await train(naturalRun('batch1-free', free, { 'dataset.trainSubset': '2000' }), { sink: null, cacheDir });
    expect(r.final!.model.clean).toBeGreaterThan(0.3); // trains at batch 64 (chance is 0.1)
  }, 300_000);

  it('zoo models are built for the dataset: a ResNet-18 for MNIST takes [N, 1, 28, 28]', () => {
    const m = loadSourceModel('resnet18', 0, 10, [1, 28, 28]);
    expect(m.graph.inputs[0].shape).toEqual(['N', 1, 28, 28]);
  });
});
