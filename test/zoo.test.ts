import { describe, expect, it } from 'vitest';
import { buildZooModel, countParameters, trainableParameters, ZOO, defaultInitBound, BN_EPSILON, BN_MOMENTUM } from '../src/zoo/index.js';
import { DataType, numel, type Model } from '../src/onnx/ir.js';
import { loadModel } from '../src/onnx/load.js';
import { saveModel } from '../src/onnx/save.js';
import { f32Tensor, runModel, type SessionOptions } from '../src/runtime/ort.js';
import { Rng } from '../src/util/rng.js';

const EXPECTED_PARAMS: Record<string, number> = {
  smallcnn: 312_202,
  resnet18: 11_173_962,
  preactresnet18: 11_172_170,
  'wrn-34-10': 46_160_474,
};

// Building (and especially serialising) the big models is the slow part: build each once.
const built = new Map<string, Model>();
const zooModel = (name: string): Model => {
  let m = built.get(name);
  if (!m) built.set(name, (m = buildZooModel(name, { seed: 0 })));
  return m;
};

/** Deterministic batch of images in [0, 1). */
function images(n: number, shape: readonly number[], seed = 123): { data: Float32Array; dims: number[] } {
  const dims = [n, ...shape];
  return { data: new Rng(seed).fillUniform(new Float32Array(numel(dims)), 0, 1), dims };
}
async function logits(model: Model | Uint8Array, x: { data: Float32Array; dims: number[] }, opts: SessionOptions = {}): Promise<{ dims: number[]; data: Float32Array }> {
  const out = await runModel(model, { input: f32Tensor(x.data, x.dims) }, opts);
  return { dims: [...out.logits.dims], data: out.logits.data as Float32Array };
}
/** Byte equality (vitest's toEqual walks big typed arrays element by element: far too slow here). */
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const isWeight = (name: string) => name.endsWith('.weight') && !/(^|\.)(bn\d*|shortcut\.1)\.weight$/.test(name);

describe('model zoo', () => {
  it('lists the four models with their defaults', () => {
    expect(Object.keys(ZOO).sort()).toEqual(Object.keys(EXPECTED_PARAMS).sort());
    for (const [key, e] of Object.entries(ZOO)) {
      expect(e.name).toBe(key);
      expect(e.classes).toBe(10);
      expect(e.inputShape).toEqual(key === 'smallcnn' ? [1, 28, 28] : [3, 32, 32]);
    }
  });

  it.each(Object.entries(EXPECTED_PARAMS))('%s has %i trainable parameters', (name, expected) => {
    const m = zooModel(name);
    expect(countParameters(m)).toBe(expected);
    const g = m.graph;
    expect(g.inputs).toEqual([{ name: 'input', dtype: DataType.FLOAT, shape: ['N', ...ZOO[name].inputShape] }]);
    expect(g.outputs.map((o) => [o.name, o.shape])).toEqual([['logits', ['N', 10]]]);
    expect(m.opsetImports).toEqual([{ domain: '', version: 17 }]);
    // Every initializer is consumed by some node.
    const consumed = new Set(g.nodes.flatMap((n) => n.inputs));
    expect([...g.initializers.keys()].filter((k) => !consumed.has(k))).toEqual([]);
    // BN: plain inference form, running stats are the only non-parameters.
    const bns = g.nodes.filter((n) => n.opType === 'BatchNormalization');
    for (const n of bns) {
      expect(n.inputs).toHaveLength(5);
      expect(n.outputs).toHaveLength(1);
      expect(n.attributes.epsilon).toEqual({ type: 'float', value: BN_EPSILON });
      expect(n.attributes.momentum).toEqual({ type: 'float', value: BN_MOMENTUM });
      expect(n.inputs[3]).toMatch(/\.running_mean$/);
      expect(n.inputs[4]).toMatch(/\.running_var$/);
    }
    expect(trainableParameters(m).length).toBe(g.initializers.size - 2 * bns.length);
  });

  it('uses PyTorch-like parameter names', () => {
    const names = (n: string) => [...zooModel(n).graph.initializers.keys()];
    expect(names('smallcnn')).toEqual([
      'feature_extractor.conv1.weight', 'feature_extractor.conv1.bias', 'feature_extractor.conv2.weight', 'feature_extractor.conv2.bias',
      'feature_extractor.conv3.weight', 'feature_extractor.conv3.bias', 'feature_extractor.conv4.weight', 'feature_extractor.conv4.bias',
      'classifier.fc1.weight', 'classifier.fc1.bias', 'classifier.fc2.weight', 'classifier.fc2.bias', 'classifier.fc3.weight', 'classifier.fc3.bias',
    ]);
    expect(names('resnet18')).toEqual(expect.arrayContaining(['conv1.weight', 'bn1.weight', 'layer1.0.bn1.running_mean', 'layer2.0.shortcut.0.weight', 'layer2.0.shortcut.1.running_var', 'linear.weight', 'linear.bias']));
    expect(names('preactresnet18')).toEqual(expect.arrayContaining(['conv1.weight', 'layer4.1.bn2.running_var', 'layer3.0.shortcut.0.weight', 'bn.weight', 'linear.bias']));
    expect(names('preactresnet18').some((k) => k.startsWith('layer3.0.shortcut.1'))).toBe(false);
    expect(names('wrn-34-10')).toEqual(expect.arrayContaining(['conv1.weight', 'block1.layer.0.convShortcut.weight', 'block3.layer.4.conv2.weight', 'bn1.running_mean', 'fc.weight', 'fc.bias']));
    expect(zooModel('wrn-34-10').graph.initializers.get('block1.layer.0.convShortcut.weight')!.dims).toEqual([160, 16, 1, 1]);
    expect(zooModel('smallcnn').graph.initializers.get('classifier.fc1.weight')!.dims).toEqual([200, 1024]);
  });

  it('wires blocks like the reference PyTorch code', () => {
    const producerOf = (m: Model) => {
      const by = new Map<string, string>();
      for (const n of m.graph.nodes) for (const o of n.outputs) by.set(o, n.name);
      return (value: string) => by.get(value) ?? value;
    };
    const consumerOf = (m: Model, param: string) => m.graph.nodes.find((n) => n.inputs.includes(param))!;
    // ResNet: the 1x1 shortcut reads the block input; the block ends Add -> ReLU.
    const r = zooModel('resnet18');
    const rp = producerOf(r);
    expect(rp(consumerOf(r, 'layer2.0.shortcut.0.weight').inputs[0])).toBe('layer1.1.relu2_node');
    expect(rp(consumerOf(r, 'layer2.0.conv1.weight').inputs[0])).toBe('layer1.1.relu2_node');
    // PreAct: conv1 and the shortcut both read relu(bn1(x)); identity blocks add the raw input.
    const p = zooModel('preactresnet18');
    const pp = producerOf(p);
    expect(pp(consumerOf(p, 'layer2.0.shortcut.0.weight').inputs[0])).toBe('layer2.0.relu1_node');
    expect(pp(consumerOf(p, 'layer2.0.conv1.weight').inputs[0])).toBe('layer2.0.relu1_node');
    const padd = p.graph.nodes.find((n) => n.name === 'layer2.1.add_node')!;
    expect(padd.inputs.map(pp).sort()).toEqual(['layer2.0.add_node', 'layer2.1.conv2_node']);
    expect(pp(consumerOf(p, 'linear.weight').inputs[0])).toBe('flatten_node');
    // WRN: same pre-activation wiring; final BN-ReLU before pooling.
    const w = zooModel('wrn-34-10');
    const wp = producerOf(w);
    expect(wp(consumerOf(w, 'block2.layer.0.convShortcut.weight').inputs[0])).toBe('block2.layer.0.relu1_node');
    const wadd = w.graph.nodes.find((n) => n.name === 'block2.layer.1.add_node')!;
    expect(wadd.inputs.map(wp).sort()).toEqual(['block2.layer.0.add_node', 'block2.layer.1.conv2_node']);
    expect(wp(consumerOf(w, 'bn1.weight').inputs[0])).toBe('block3.layer.4.add_node');
    expect(w.graph.nodes.filter((n) => n.opType === 'Conv' && n.inputs[1].endsWith('convShortcut.weight')).length).toBe(3);
  });

  it('initialises like PyTorch: U(+-1/sqrt(fan_in)) for conv/linear, BN 1/0/0/1', () => {
    for (const name of ['smallcnn', 'resnet18']) {
      const g = zooModel(name).graph;
      for (const [k, t] of g.initializers) {
        const d = t.data as Float32Array;
        if (/\.(running_var)$/.test(k) || (!isWeight(k) && k.endsWith('.weight'))) {
          expect(d.every((v) => v === 1), k).toBe(true);
        } else if (/\.running_mean$/.test(k) || (/(^|\.)(bn\d*|shortcut\.1)\.bias$/.test(k))) {
          expect(d.every((v) => v === 0), k).toBe(true);
        } else {
          // weight [out, in, (kh, kw)] and its bias share the bound 1/sqrt(in * kh * kw).
          const w = g.initializers.get(k.replace(/\.bias$/, '.weight'))!;
          const bound = defaultInitBound(numel(w.dims.slice(1)));
          let max = 0;
          for (const v of d) max = Math.max(max, Math.abs(v));
          expect(max, k).toBeLessThanOrEqual(bound * (1 + 1e-6)); // float32 rounding of the bound
          if (d.length >= 256) expect(max, k).toBeGreaterThan(0.95 * bound);
        }
      }
    }
  });

  it.each(Object.keys(EXPECTED_PARAMS))('%s runs in onnxruntime-node and gives finite [N, 10] logits', async (name) => {
    const n = name === 'wrn-34-10' ? 1 : 2;
    // ORT's graph optimisation of the big models costs seconds at session creation (WRN inference
    // itself is ~0.3 s): the plain graph runs for all, the fully optimised one for two of them.
    const optimization = name === 'smallcnn' || name === 'resnet18' ? 'all' : 'disabled';
    const out = await logits(zooModel(name), images(n, ZOO[name].inputShape), { optimization });
    expect(out.dims).toEqual([n, 10]);
    expect(out.data.every(Number.isFinite)).toBe(true);
    // Different images give different logits (the graph is not degenerate).
    if (n === 2) expect(Array.from(out.data.subarray(0, 10))).not.toEqual(Array.from(out.data.subarray(10, 20)));
  });

  it('same seed gives identical weights, a different seed different ones', () => {
    for (const name of ['smallcnn', 'resnet18']) {
      const a = zooModel(name);
      const b = buildZooModel(name, { seed: 0 });
      const c = buildZooModel(name, { seed: 1 });
      expect([...b.graph.initializers.keys()]).toEqual([...a.graph.initializers.keys()]);
      expect([...c.graph.initializers.keys()]).toEqual([...a.graph.initializers.keys()]);
      expect(b.graph.nodes).toEqual(a.graph.nodes);
      for (const [k, t] of a.graph.initializers) {
        const tb = b.graph.initializers.get(k)!;
        const tc = c.graph.initializers.get(k)!;
        expect(tb.dims).toEqual(t.dims);
        expect(tc.dims).toEqual(t.dims);
        expect(sameBytes(tb.data, t.data), k).toBe(true);
        // Conv/linear weights differ between seeds; BN constants and nothing else stay the same.
        if (isWeight(k)) expect(sameBytes(tc.data, t.data), k).toBe(false);
      }
    }
  });

  it.each(['smallcnn', 'preactresnet18'])('%s gives identical output after save -> load', async (name) => {
    const m = zooModel(name);
    const bytes = saveModel(m); // what runModel(m) would feed ORT
    const loaded = loadModel(bytes);
    const again = saveModel(loaded); // what runModel(loaded) would feed ORT
    expect(sameBytes(again, bytes)).toBe(true);
    expect([...loaded.graph.initializers.keys()]).toEqual([...m.graph.initializers.keys()]);
    for (const [k, t] of m.graph.initializers) expect(sameBytes(loaded.graph.initializers.get(k)!.data, t.data), k).toBe(true);
    expect(loaded.graph.inputs).toEqual(m.graph.inputs);
    expect(loaded.graph.outputs).toEqual(m.graph.outputs);
    expect(loaded.metadata).toEqual(m.metadata);
    expect(countParameters(loaded)).toBe(EXPECTED_PARAMS[name]);
    const x = images(2, ZOO[name].inputShape, 7);
    const [a, b] = [await logits(bytes, x, { optimization: 'disabled' }), await logits(again, x, { optimization: 'disabled' })];
    expect(b.dims).toEqual(a.dims);
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });

  it('honours classes and inputShape overrides', async () => {
    const m = buildZooModel('smallcnn', { seed: 3, classes: 5, inputShape: [3, 32, 32] });
    // conv1 takes 3 channels (+2*32*9), fc1 sees 64*5*5 = 1600 features, fc3 has 5 outputs.
    expect(countParameters(m)).toBe(312_202 + 2 * 32 * 9 + (1600 - 1024) * 200 - 5 * 201);
    expect(m.graph.outputs[0].shape).toEqual(['N', 5]);
    const out = await logits(m, images(2, [3, 32, 32]));
    expect(out.dims).toEqual([2, 5]);
    expect(countParameters(buildZooModel('resnet18', { classes: 100 }))).toBe(11_173_962 + 90 * 513);
  });

  it('rejects unknown names and bad options with clear errors', () => {
    expect(() => buildZooModel('resnet50')).toThrow(/unknown zoo model "resnet50"; available: smallcnn, resnet18, preactresnet18, wrn-34-10/);
    expect(() => buildZooModel('toString')).toThrow(/unknown zoo model/);
    expect(() => buildZooModel('smallcnn', { classes: 0 })).toThrow(/classes must be a positive integer/);
    expect(() => buildZooModel('smallcnn', { inputShape: [1, 28] })).toThrow(/inputShape must be \[C, H, W\]/);
    expect(() => buildZooModel('smallcnn', { inputShape: [1, 8, 8] })).toThrow(/too small/);
  });
});
