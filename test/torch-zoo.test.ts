// "Any exported classifier trains exactly as PyTorch would." The committed corpus
// (test/fixtures/zoo, written by `/usr/bin/python3 scripts/make-torch-fixture.py zoo --small` with
// torch 1.13): narrow variants of torchvision's ResNet, MobileNet-V2/V3, EfficientNet, DenseNet,
// ShuffleNet-V2, SqueezeNet, RegNet-X, ConvNeXt and MNASNet (their own building blocks, 32x32
// inputs, 10 classes), each exported by torch.onnx.export at opset 17 (three also at 13) with
// BatchNorm kept and no constant folding, and three also with the exporter's eval-mode defaults
// (every BN after a conv folded into it; torch's reference is the same model folded), in two
// forms: fresh (torch deduplicates equal initializers behind Identity nodes) and trained-like
// (every tensor distinct). One full-size case joins them: trained ShuffleNetV2-0.5, whose stage-4
// BatchNorm channels of variance below eps caught a BN training form no narrow model did. Per
// case, against torch's references (torch's float32 error is the spread of its float32 ways, see
// scripts/torch_zoo.py):
//   - the train step's loss equals torch's (1e-5 relative, or 3x torch's own float32 error);
//   - we train exactly the tensors torch trains;
//   - each gradient is within 3x torch's own float32 error or 1e-4 relative, whichever is larger;
//   - the BatchNorm running statistics after one step equal torch's (momentum, unbiased variance);
//   - the eval-mode input gradient has torch's signs wherever |g| is not tiny.
// The full-size models are checked by scripts/torch-zoo-check.ts (see its header).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeModel } from '../src/artifacts/analyze.js';
import { appendForward } from '../src/artifacts/forward.js';
import { normalizeImport } from '../src/artifacts/import.js';
import { initialState } from '../src/artifacts/build.js';
import { buildGradient } from '../src/autodiff/gradient.js';
import { main } from '../src/cli/main.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { DataType, tensor, type Model } from '../src/onnx/ir.js';
import { f32Tensor, ort, runModel, toOrt } from '../src/runtime/ort.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { exportInference } from '../src/train/export.js';
import { compareCase, loadCase, type CaseResult } from './helpers/torch-zoo.js';

const DIR = join(import.meta.dirname, 'fixtures', 'zoo');
const CASES = readdirSync(DIR).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort();

describe('the torchvision corpus trains as torch does', () => {
  it('covers every architecture in both forms and stays small', () => {
    const models = new Set(CASES.map((c) => c.replace(/_(fresh|trained)_op\d+f?$/, '')));
    expect([...models].sort()).toEqual(['convnext', 'densenet', 'efficientnet', 'mnasnet', 'mobilenet_v2', 'mobilenet_v3', 'regnet_x', 'resnet', 'shufflenet_v2', 'shufflenet_v2_x0_5', 'squeezenet']);
    models.delete('shufflenet_v2_x0_5'); // the full-size guard (GUARDS in scripts/torch_zoo.py): trained form only
    for (const m of models) for (const form of ['fresh', 'trained']) expect(CASES).toContain(`${m}_${form}_op17`);
    expect(CASES).toContain('shufflenet_v2_x0_5_trained_op17');
    for (const m of ['resnet', 'mobilenet_v3', 'convnext']) for (const form of ['fresh', 'trained']) expect(CASES).toContain(`${m}_${form}_op13`);
    for (const m of ['resnet', 'mobilenet_v2', 'densenet']) for (const form of ['fresh', 'trained']) expect(CASES).toContain(`${m}_${form}_op17f`);
    const bytes = readdirSync(DIR).reduce((s, f) => s + statSync(join(DIR, f)).size, 0);
    expect(bytes).toBeLessThan(21e6); // 17.3 MB of narrow models, 3.3 MB of the full-size guard
  });

  describe.each(CASES)('%s', (name) => {
    let r: CaseResult;
    beforeAll(async () => { r = await compareCase(DIR, name); });

    it('the train step\'s loss equals torch\'s', () => {
      expect(r.lossOk, `loss rel. err ${r.lossRel} (torch float32: ${r.torchLossRel})`).toBe(true);
    });
    it('trains exactly the tensors torch trains', () => {
      expect(r.missing).toEqual([]);
      expect(r.extra).toEqual([]);
      expect(r.params.length).toBeGreaterThan(8);
    });
    it('every gradient is within 3x torch\'s float32 error (or 1e-4 relative)', () => {
      expect(r.params.filter((p) => !p.ok).map((p) => `${p.name}: ${p.rel} vs torch ${p.floor}`)).toEqual([]);
    });
    it('BatchNorm running statistics after one step equal torch\'s', () => {
      expect(r.statsMissing).toEqual([]);
      expect(r.statsOk, `worst rel. err ${r.statsRel}`).toBe(true);
    });
    it('the eval-mode input gradient has torch\'s signs', () => {
      expect(r.signFlips).toBe(0);
    });
  });
});

describe('import normalisation', () => {
  const { ref, model } = loadCase(DIR, 'resnet_fresh_op17');

  it('unties what torch deduplicated: every parameter and statistic torch has is its own initializer', () => {
    const idFromInit = (m: Model) => m.graph.nodes.filter((n) => n.opType === 'Identity' && m.graph.initializers.has(n.inputs[0])).length;
    expect(idFromInit(model)).toBeGreaterThan(20);
    const before = analyzeModel(model);
    expect(before.params.length).toBeLessThan(ref.params.length);
    const m = normalizeImport(model);
    expect(idFromInit(m)).toBe(0);
    const a = analyzeModel(m);
    expect(a.params.map((p) => p.name).sort()).toEqual(ref.params.map((p) => p.name).sort());
    expect(a.stats.map((p) => p.name).sort()).toEqual(ref.stats.map((p) => p.name).sort());
    expect(normalizeImport(m)).toBe(m); // nothing left to do
  });

  it('initialState and the export use the untied tensors', async () => {
    const init = initialState(model);
    for (const p of ref.params) expect(init.has(p.name), p.name).toBe(true);
    const w = ArtifactRuntime.weightsFrom(init.values());
    const moved = 'layer1.1.bn2.weight';
    w[moved] = f32Tensor(new Float32Array(init.get(moved)!.data.length).fill(3), init.get(moved)!.dims);
    const out = exportInference(model, w);
    expect(out.graph.initializers.get(moved)!.data[0]).toBe(3);
    expect(out.graph.initializers.get('bn1.weight')!.data[0]).toBe(1); // its twin before the untie is untouched
  });

  /** y = x W W: one initializer consumed directly by two MatMuls. */
  function sharedWeightModel(): Model {
    const b = new GraphBuilder({ name: 'shared', opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['N', 3]);
    b.initializer('W', tensor('W', DataType.FLOAT, [3, 3], [0.5, -1, 2, 0.25, 1.5, -0.5, 1, 0.75, -2]));
    b.output(b.op('MatMul', [b.op('MatMul', [x, 'W']), 'W']), 'logits');
    return b.build();
  }

  it('keeps a genuinely shared initializer tied, with the gradients of its uses summed', async () => {
    const model = sharedWeightModel();
    expect(normalizeImport(model)).toBe(model);
    const a = analyzeModel(model);
    expect(a.params.map((p) => p.name)).toEqual(['W']);
    // d sum(x W W) / dW = x^T 1 W^T + (x W)^T 1: the two uses' gradients summed.
    const b = new GraphBuilder({ name: 'g', opset: 17 });
    b.input('W', DataType.FLOAT, [3, 3]);
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const f = appendForward(b, model.graph, a, { x, mode: 'train', prefix: 'f/' });
    const g = buildGradient(b, { loss: b.reduceSum(f.logits, undefined, 0), wrt: ['W'] }).get('W')!;
    b.output(g, 'dW');
    const X = [1, 2, -1, 0.5, -0.5, 3];
    const W = Array.from(model.graph.initializers.get('W')!.data as Float32Array);
    const out = await runModel(b.build(), { W: f32Tensor(W, [3, 3]), x: f32Tensor(X, [2, 3]) }, { threads: 1 });
    const at = (m: number[], i: number, j: number) => m[i * 3 + j];
    const colSumX = [0, 1, 2].map((j) => at(X, 0, j) + at(X, 1, j));
    const xw = [0, 1].flatMap((i) => [0, 1, 2].map((j) => [0, 1, 2].reduce((s, k) => s + at(X, i, k) * at(W, k, j), 0)));
    const colSumXW = [0, 1, 2].map((j) => at(xw, 0, j) + at(xw, 1, j));
    const rowSumW = [0, 1, 2].map((i) => at(W, i, 0) + at(W, i, 1) + at(W, i, 2));
    const want = [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => colSumX[i] * rowSumW[j] + colSumXW[i]));
    const got = Array.from(out.dW.data as Float32Array);
    got.forEach((v, k) => expect(v).toBeCloseTo(want[k], 4));
  });

  it('gives a BatchNorm statistic that another slot also reads a buffer of its own', () => {
    const b = new GraphBuilder({ name: 'bn', opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['N', 2, 4, 4]);
    const ones = tensor('ones', DataType.FLOAT, [2], [1, 1]);
    const zeros = tensor('zeros', DataType.FLOAT, [2], [0, 0]);
    b.initializer('ones', ones);
    b.initializer('zeros', zeros);
    // The same tensor as scale and running variance, the same as bias and running mean (what an
    // optimiser that merges equal initializers writes).
    b.output(b.op('BatchNormalization', [x, 'ones', 'zeros', 'zeros', 'ones']), 'logits');
    const m = normalizeImport(b.build());
    const bn = m.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
    expect(bn.inputs.slice(1, 3)).toEqual(['ones', 'zeros']);
    expect(new Set(bn.inputs.slice(1)).size).toBe(4);
    const a = analyzeModel(m);
    expect(a.params.map((p) => p.name)).toEqual(['ones', 'zeros']);
    expect(a.stats.map((s) => s.name)).toEqual(bn.inputs.slice(3));
  });

  it('`inspect` reports what torch trains on a fresh export', async () => {
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) };
    expect(await main(['inspect', join(DIR, 'resnet_fresh_op17.onnx')], io)).toBe(0);
    expect(out.join('\n')).toContain(`trains ${ref.params.length} parameter tensors (${ref.num_params.toLocaleString('en-US')} elements), ${ref.stats.length} BatchNorm statistics`);
  });

  it('a train step on the fresh export reads each BN statistic once (no aliasing of the shared buffers)', async () => {
    const m = normalizeImport(model);
    const a = analyzeModel(m);
    const b = new GraphBuilder({ name: 't', opset: a.opset });
    for (const t of [...a.params, ...a.stats]) b.input(t.name, t.dtype, t.dims);
    const x = b.input('x', DataType.FLOAT, ['N', 3, 32, 32]);
    const f = appendForward(b, m.graph, a, { x, mode: 'train', prefix: 'f/' });
    for (const s of a.stats) b.output(f.statUpdates.get(s.name)!, `new:${s.name}`);
    b.output(f.logits, 'logits');
    const g = b.build();
    // Every statistic input is read by its running update only (the normalisation uses batch statistics).
    for (const s of a.stats) expect(g.graph.nodes.filter((n) => n.inputs.includes(s.name)).length, s.name).toBe(1);
    const feeds: Record<string, ort.Tensor> = { x: f32Tensor(new Float32Array(2 * 3 * 32 * 32).map((_, i) => Math.sin(i)), [2, 3, 32, 32]) };
    for (const t of [...a.params, ...a.stats]) feeds[t.name] = toOrt(t);
    const before = Object.fromEntries(a.stats.map((s) => [s.name, Float32Array.from(feeds[s.name].data as Float32Array)]));
    await runModel(g, feeds, { threads: 1 });
    for (const s of a.stats) expect(Array.from(feeds[s.name].data as Float32Array), s.name).toEqual(Array.from(before[s.name]));
  });
});
