// Robustness evaluation (src/attacks): attack-name parsing, file formats, the APGD / Square
// schedules, the invariant checks, and the attacks themselves on models trained here:
//   - a naturally trained SmallCNN (MNIST, 8,000 images, one pass of Adam): the iterative gradient
//     attacks drive accuracy on 500 test images at eps = 0.3 below 2%;
//   - the same network behind an input quantizer (Floor: zero input gradient everywhere): PGD and
//     APGD are stopped by the masked gradient, the Square Attack is not;
//   - a small CNN adversarially trained with PGD (eps = 0.2): APGD-CE at a fixed budget is at least
//     as strong as PGD with the same number of gradient steps; the ensemble is never weaker than its
//     strongest member; a model written with the raw protobuf API (Shape/Gather/Unsqueeze/Concat/
//     Reshape flatten, Constant nodes, MatMul + Add) attacks exactly like the builder-made original;
//   - the `generalist eval` command.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildZooModel, LayerBuilder } from '../src/zoo/index.js';
import { buildArtifacts, initialState } from '../src/artifacts/build.js';
import { writeArtifacts } from '../src/artifacts/store.js';
import {
  apgdCheckpoints, AttackModel, AttackModelError, AttackNameError, checkPerturbation, decodeNpy, encodeNpy,
  encodeTensorProto, evaluateRobustness, parseAttack, parseAttackList, readNpy, squareP,
  type Attack, type RobustnessReport,
} from '../src/attacks/index.js';
import { main } from '../src/cli/main.js';
import { batches, loadMnist, type Dataset } from '../src/data/index.js';
import { cloneGraph, DataType, tensor, type Model, type Tensor } from '../src/onnx/ir.js';
import { decodeTensor } from '../src/onnx/load.js';
import { encodeTensor, saveModelFile } from '../src/onnx/save.js';
import { ModelProto, TensorProto } from '../src/onnx/schema.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { ort } from '../src/runtime/ort.js';
import { exportInference } from '../src/train/export.js';
import { Rng } from '../src/util/rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'attacks-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let mnist: { train: Dataset; test: Dataset } | undefined;
const data = () => (mnist ??= loadMnist());

interface TrainSpec { n: number; batchSize: number; lr: number; seed: number; adversarial?: { eps: number; steps: number } }

/** Trains `model` with Adam through the project's training artifacts (PGD adversarial training when asked). */
async function trainModel(model: Model, s: TrainSpec): Promise<Model> {
  const dir = mkdtempSync(join(tmp, 'artifacts-'));
  writeArtifacts(buildArtifacts(model, { optimizer: 'adam', pgdSteps: s.adversarial?.steps ?? 1 }), dir);
  const rt = await ArtifactRuntime.open(dir);
  try {
    let state = { weights: ArtifactRuntime.weightsFrom(initialState(model).values()), slots: rt.initialSlots() };
    const rng = new Rng(s.seed);
    const idx = Uint32Array.from({ length: s.n }, (_, i) => i);
    const steps = Math.ceil(s.n / s.batchSize);
    let step = 0;
    for (const b of batches(data().train, idx, { batchSize: s.batchSize, rng })) {
      const x = new ort.Tensor('float32', b.x, b.dims);
      const y = new ort.Tensor('int64', b.y, [b.size]);
      let input: ort.Tensor = x;
      if (s.adversarial) {
        // eps ramps up over the first 30% of the steps.
        const eps = s.adversarial.eps * Math.min(1, (step + 1) / (0.3 * steps));
        const noise = new ort.Tensor('float32', rng.fillUniform(new Float32Array(b.x.length), -1, 1), b.dims);
        input = await rt.attack(state.weights, x, y, noise, eps, (2.5 * eps) / s.adversarial.steps);
      }
      state = (await rt.trainStep(state, input, y, { lr: s.lr, weightDecay: 0, step: ++step })).state;
    }
    return exportInference(model, state.weights);
  } finally {
    await rt.release();
  }
}

/** A small CNN (conv5x5/2 16 - conv5x5/2 32 - fc 100 - fc 10), cheap enough to train adversarially here. */
function tinyCnn(seed: number): Model {
  const L = new LayerBuilder({ name: 'tinycnn', seed });
  let x = L.input([1, 28, 28]);
  x = L.relu(L.conv2d(x, 'conv1', 16, { kernel: 5, stride: 2 }));
  x = L.relu(L.conv2d(x, 'conv2', 32, { kernel: 5, stride: 2 }));
  x = L.relu(L.linear(L.flatten(x), 'fc1', 100));
  return L.finish(L.linear(x, 'fc2', 10));
}

/** `model` behind x -> Floor(levels * x + 0.5) / levels: the same classifier, zero input gradient everywhere. */
function quantized(model: Model, levels: number): Model {
  const g = cloneGraph(model.graph);
  const inp = g.inputs[0].name;
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === inp ? 'quant/out' : i));
  const c = (name: string, v: number) => ({ name: `${name}_node`, opType: 'Constant', domain: '', inputs: [], outputs: [name], attributes: { value: { type: 'tensor' as const, value: tensor('', DataType.FLOAT, [], [v]) } } });
  const op = (opType: string, inputs: string[], out: string) => ({ name: `${out}_node`, opType, domain: '', inputs, outputs: [out], attributes: {} });
  g.nodes.unshift(
    c('quant/levels', levels), c('quant/half', 0.5),
    op('Mul', [inp, 'quant/levels'], 'quant/scaled'), op('Add', ['quant/scaled', 'quant/half'], 'quant/shifted'),
    op('Floor', ['quant/shifted'], 'quant/int'), op('Div', ['quant/int', 'quant/levels'], 'quant/out'),
  );
  return { ...model, graph: g };
}

/**
 * The tiny CNN's weights as a model written with the raw protobuf API, the way exporters write them:
 * normalisation Constants, a Shape -> Gather -> Unsqueeze -> Concat -> Reshape flatten, MatMul + Add
 * for a linear layer, other value names, opset 13, a symbolic batch dimension.
 */
function rawProtobufModel(src: Model): Uint8Array {
  const W = (n: string) => src.graph.initializers.get(n)!;
  const T = (t: Tensor) => encodeTensor(t);
  const fc1 = W('fc1.weight');
  const [o, i] = fc1.dims;
  const fc1T = new Float32Array(o * i);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) fc1T[b * o + a] = (fc1.data as Float32Array)[a * i + b];
  const constant = (name: string, t: Tensor) => ({ name: `${name}_const`, op_type: 'Constant', input: [], output: [name], attribute: [{ name: 'value', type: 4, t: T(t) }] });
  const node = (op: string, input: string[], output: string, attribute: object[] = []) => ({ name: `/${op}_${output}`, op_type: op, input, output: [output], attribute });
  const ints = (name: string, v: number[]) => ({ name, type: 7, ints: v });
  const int = (name: string, v: number) => ({ name, type: 2, i: v });
  const vi = (name: string, dims: (number | string)[]) => ({ name, type: { tensor_type: { elem_type: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } } });
  const proto = {
    ir_version: 7, producer_name: 'pytorch', producer_version: '2.1.0', opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: 'torch_jit',
      node: [
        constant('mean', tensor('', DataType.FLOAT, [], [0])), constant('std', tensor('', DataType.FLOAT, [], [1])),
        node('Sub', ['image', 'mean'], 'centered'), node('Div', ['centered', 'std'], 'normed'),
        node('Conv', ['normed', 'conv1.weight', 'conv1.bias'], 'c1', [ints('kernel_shape', [5, 5]), ints('strides', [2, 2])]),
        node('Relu', ['c1'], 'r1'),
        node('Conv', ['r1', 'conv2.weight', 'conv2.bias'], 'c2', [ints('kernel_shape', [5, 5]), ints('strides', [2, 2]), ints('pads', [0, 0, 0, 0])]),
        node('Relu', ['c2'], 'feat'),
        node('Shape', ['feat'], 'feat_shape'),
        constant('zero', tensor('', DataType.INT64, [], [0])),
        node('Gather', ['feat_shape', 'zero'], 'batch', [int('axis', 0)]),
        constant('axes', tensor('', DataType.INT64, [1], [0])),
        node('Unsqueeze', ['batch', 'axes'], 'batch1'),
        constant('minus1', tensor('', DataType.INT64, [1], [-1])),
        node('Concat', ['batch1', 'minus1'], 'new_shape', [int('axis', 0)]),
        node('Reshape', ['feat', 'new_shape'], 'flat'),
        node('MatMul', ['flat', 'fc1_wT'], 'mm'), node('Add', ['mm', 'fc1.bias'], 'h'), node('Relu', ['h'], 'hr'),
        node('Gemm', ['hr', 'fc2.weight', 'fc2.bias'], 'output', [int('transB', 1)]),
      ],
      initializer: [
        T(W('conv1.weight')), T(W('conv1.bias')), T(W('conv2.weight')), T(W('conv2.bias')),
        T(tensor('fc1_wT', DataType.FLOAT, [i, o], fc1T)), T(W('fc1.bias')), T(W('fc2.weight')), T(W('fc2.bias')),
      ],
      input: [vi('image', ['batch', 1, 28, 28])],
      output: [vi('output', ['batch', 10])],
    },
  };
  return ModelProto.encode(ModelProto.fromObject(proto)).finish();
}

const acc = (r: RobustnessReport, name: string): number => {
  const a = r.attacks.find((x) => x.name === name);
  if (!a) throw new Error(`no attack ${name} in the report`);
  return a.robustAccuracy;
};
const summary = (r: RobustnessReport) => ({ clean: r.cleanAccuracy, ...Object.fromEntries(r.attacks.map((a) => [a.name, a.robustAccuracy])), ensemble: r.ensemble.robustAccuracy });

function expectEnsembleWorstCase(r: RobustnessReport): void {
  const strongest = Math.min(...r.attacks.map((a) => a.robustAccuracy));
  expect(r.ensemble.robustAccuracy).toBeLessThanOrEqual(strongest);
  // Per example: robust under the ensemble only if clean-correct and robust under every attack.
  const p = r.perExample;
  for (let i = 0; i < r.n; i++) {
    const all = p.clean[i] && Object.values(p.robust).every((f) => f[i]) ? 1 : 0;
    expect(p.ensemble[i]).toBe(all);
  }
  for (const a of r.attacks) expect(a.robustCorrect).toBe(p.robust[a.name].reduce((s, v) => s + v, 0));
}

function expectInvariantsChecked(r: RobustnessReport): void {
  expect(r.invariants.batchesChecked).toBeGreaterThan(0);
  expect(r.invariants.maxPerturbation).toBeLessThanOrEqual(r.eps + 1e-6);
  for (const a of r.attacks) expect(a.maxPerturbation).toBeLessThanOrEqual(r.eps + 1e-6);
}

describe('attack names', () => {
  it('parses every documented form', () => {
    expect(parseAttack('fgsm')).toEqual({ name: 'fgsm', kind: 'fgsm' });
    expect(parseAttack('pgd20')).toEqual({ name: 'pgd20', kind: 'pgd', steps: 20, loss: 'ce' });
    expect(parseAttack(' PGD100 ')).toEqual({ name: 'pgd100', kind: 'pgd', steps: 100, loss: 'ce' });
    expect(parseAttack('cw20')).toEqual({ name: 'cw20', kind: 'pgd', steps: 20, loss: 'cw' });
    expect(parseAttack('apgd-ce')).toEqual({ name: 'apgd-ce', kind: 'apgd-ce', steps: undefined });
    expect(parseAttack('apgd-ce50')).toEqual({ name: 'apgd-ce50', kind: 'apgd-ce', steps: 50 });
    expect(parseAttack('apgd-t')).toEqual({ name: 'apgd-t', kind: 'apgd-t', steps: undefined });
    expect(parseAttack('square')).toEqual({ name: 'square', kind: 'square', queries: undefined });
    expect(parseAttack('square1000')).toEqual({ name: 'square1000', kind: 'square', queries: 1000 });
    expect(parseAttack('autoattack')).toEqual({ name: 'autoattack', kind: 'autoattack' });
    expect(parseAttackList('pgd20, cw20,autoattack').map((s) => s.name)).toEqual(['pgd20', 'cw20', 'autoattack']);
  });

  it('rejects unknown names, missing counts and repeats with a message listing the valid forms', async () => {
    for (const bad of ['pgd', 'cw', 'pgd0', 'pgd-x', 'deepfool', 'apgd', 'apgd-dlr', 'square0', 'fgsm2']) {
      expect(() => parseAttack(bad), bad).toThrow(AttackNameError);
      expect(() => parseAttack(bad), bad).toThrow(/valid forms: fgsm, pgd<k>.*cw<k>.*apgd-ce.*apgd-t.*square.*autoattack/);
    }
    expect(() => parseAttack('pgd')).toThrow(/needs a step count, e\.g\. pgd20/);
    expect(() => parseAttackList('pgd20,PGD20')).toThrow(/listed twice/);
    expect(() => parseAttackList(' , ')).toThrow(/no attacks given/);
    // The library call checks names before loading anything.
    await expect(evaluateRobustness('/nonexistent.onnx', { images: new Float32Array(784), labels: [0], shape: [1, 28, 28] }, { eps: 0.3, attacks: 'pgd20,bim10' }))
      .rejects.toThrow(/unknown attack "bim10"; valid forms/);
  });
});

describe('schedules and file formats', () => {
  it('APGD checkpoints follow p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)', () => {
    // Interval lengths 22, 19, 16, 13, 10, 7, 6, 6 iterations of 100.
    expect(apgdCheckpoints(100)).toEqual([22, 41, 57, 70, 80, 87, 93, 99]);
    expect(apgdCheckpoints(10)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('Square p schedule halves at 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of 10,000, rescaled to the budget', () => {
    const at = (it: number) => squareP(0.8, it, 10000);
    expect([at(0), at(10), at(11), at(50), at(51), at(200), at(201), at(500), at(501), at(1000), at(1001)]).toEqual([0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05, 0.025]);
    expect([at(2001), at(4001), at(6001), at(8001), at(9999)]).toEqual([0.8 / 64, 0.8 / 128, 0.8 / 256, 0.8 / 512, 0.8 / 512]);
    // A 1000-query budget reaches the same p at a tenth of the iterations.
    expect(squareP(0.8, 100, 1000)).toBe(at(1000));
    expect(squareP(0.8, 101, 1000)).toBe(at(1010));
  });

  it('.npy files: 64-byte aligned header numpy reads, round trip; TensorProto round trip', () => {
    const data = Float32Array.from({ length: 2 * 1 * 3 * 2 }, (_, i) => i / 10);
    const bytes = encodeNpy(data, [2, 1, 3, 2]);
    const hlen = bytes[8] | (bytes[9] << 8);
    expect((10 + hlen) % 64).toBe(0);
    expect(new TextDecoder().decode(bytes.subarray(10, 10 + hlen))).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 1, 3, 2\), \} *\n$/);
    const back = decodeNpy(bytes);
    expect(back.shape).toEqual([2, 1, 3, 2]);
    expect(Array.from(back.data as Float32Array)).toEqual(Array.from(data));
    expect(decodeNpy(encodeNpy(Float32Array.of(1, 2, 3), [3])).shape).toEqual([3]);
    const t = decodeTensor(TensorProto.decode(encodeTensorProto('adv', data, [2, 1, 3, 2])));
    expect(t.dims).toEqual([2, 1, 3, 2]);
    expect(Array.from(t.data as Float32Array)).toEqual(Array.from(data));
  });

  it('checkPerturbation: eps-ball with 1e-6 slack, [0, 1], finite values', () => {
    const x0 = Float32Array.of(0.5, 0.5, 0.0, 1.0);
    expect(checkPerturbation(x0, Float32Array.of(0.8, 0.2, 0.3, 0.7), 1, 4, 0.3, 'linf', 't')).toBeCloseTo(0.3, 6);
    expect(() => checkPerturbation(x0, Float32Array.of(0.8 + 1e-5, 0.5, 0, 1), 1, 4, 0.3, 'linf', 't')).toThrow(/outside the eps-ball/);
    expect(() => checkPerturbation(x0, Float32Array.of(0.5, 0.5, -0.1, 1), 1, 4, 0.3, 'linf', 't')).toThrow(/outside \[0, 1\]/);
    expect(() => checkPerturbation(x0, Float32Array.of(0.5, 0.5, 0, 1.05), 1, 4, 0.3, 'linf', 't')).toThrow(/outside \[0, 1\]/);
    // A NaN can only come from a NaN input gradient: named as the model's, not as a broken invariant.
    expect(() => checkPerturbation(x0, Float32Array.of(NaN, 0.5, 0, 1), 1, 4, 0.3, 'linf', 't')).toThrow(AttackModelError);
    expect(() => checkPerturbation(x0, Float32Array.of(NaN, 0.5, 0, 1), 1, 4, 0.3, 'linf', 't')).toThrow(/the model's input gradient is NaN for example 0/);
    expect(() => checkPerturbation(x0, Float32Array.of(0.7, 0.7, 0.2, 1), 1, 4, 0.3, 'l2', 't')).toThrow(/in L2, outside the eps-ball/);
    expect(checkPerturbation(x0, Float32Array.of(0.6, 0.6, 0.1, 1), 1, 4, 0.3, 'l2', 't')).toBeCloseTo(Math.sqrt(0.03), 6);
  });
});

describe('naturally trained SmallCNN, MNIST, eps = 0.3', () => {
  let natural: Model;
  let report: RobustnessReport;
  beforeAll(async () => {
    const t = performance.now();
    natural = await trainModel(buildZooModel('smallcnn', { seed: 0 }), { n: 8000, batchSize: 50, lr: 2e-3, seed: 1 });
    console.log(`natural SmallCNN trained in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }, 600_000);

  it('every iterative gradient attack drives accuracy on 500 test images below 2%', async () => {
    const t = performance.now();
    const advFile = join(tmp, 'natural-adv.npy');
    report = await evaluateRobustness(natural, data().test, {
      eps: 0.3, attacks: 'fgsm,pgd20,cw20,apgd-ce,apgd-t', n: 500, batchSize: 500, seed: 0,
      saveAdv: advFile, returnAdversarial: true, modelSource: 'smallcnn (natural)',
    });
    console.log(`natural SmallCNN, eps 0.3, n 500 (${((performance.now() - t) / 1000).toFixed(1)} s):`, summary(report),
      Object.fromEntries(report.attacks.map((a) => [a.name, `${a.seconds.toFixed(1)} s`])));
    expect(report.n).toBe(500);
    expect(report.cleanAccuracy).toBeGreaterThan(0.92);
    for (const name of ['pgd20', 'cw20', 'apgd-ce', 'apgd-t']) expect(acc(report, name), name).toBeLessThan(0.02);
    // Single-step FGSM is weaker; its accuracy depends on the model (see the report).
    expect(acc(report, 'fgsm')).toBeLessThan(0.15);
    expectEnsembleWorstCase(report);
    expectInvariantsChecked(report);

    // The saved adversarial images are the returned ones, inside the ball, and they fool the model
    // wherever the report says the ensemble succeeded.
    const saved = readNpy(advFile);
    expect(saved.shape).toEqual([500, 1, 28, 28]);
    const adv = report.adversarial!;
    expect(Array.from(saved.data as Float32Array)).toEqual(Array.from(adv));
    expect(Object.keys(report)).not.toContain('adversarial');
    const x = Float32Array.from(data().test.images.subarray(0, 500 * 784), (v) => v / 255);
    expect(checkPerturbation(x, adv, 500, 784, 0.3, 'linf', 'saved')).toBeLessThanOrEqual(0.3 + 1e-6);
    const am = await AttackModel.create(natural, { inputShape: [1, 28, 28] });
    const logits = await am.logits(adv, 500);
    for (let i = 0; i < 500; i++) {
      let arg = 0;
      for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + arg]) arg = c;
      expect(arg === report.perExample.label[i] ? 1 : 0).toBe(report.perExample.ensemble[i]);
    }
  }, 600_000);

  it('FGSM restarts (FGSM-RS) only add fooled points to the textbook FGSM, one gradient each', async () => {
    const opts = { eps: 0.3, n: 200, seed: 0 } as const;
    const one = await evaluateRobustness(natural, data().test, { ...opts, attacks: 'fgsm' });
    const four = await evaluateRobustness(natural, data().test, { ...opts, attacks: 'fgsm', restarts: 4 });
    const [a, b] = [one.attacks[0], four.attacks[0]];
    console.log(`natural SmallCNN, eps 0.3, n 200: fgsm ${a.robustAccuracy}, fgsm with 4 restarts ${b.robustAccuracy}`);
    expect(a.robustAccuracy).toBeGreaterThan(0); // FGSM alone leaves some points (docs/EVAL.md)
    expect(b.params).toEqual({ restarts: 4 });
    expect(b.gradientRuns).toBeGreaterThan(a.gradientRuns);
    expect(b.gradientRuns).toBeLessThanOrEqual(4 * a.gradientRuns);
    // Restart 0 is the textbook attack: everything it fooled stays fooled, and more may fall.
    const r1 = one.perExample.robust.fgsm, r4 = four.perExample.robust.fgsm;
    for (let i = 0; i < 200; i++) if (!r1[i]) expect(r4[i], `example ${i}`).toBe(0);
    expect(b.robustCorrect).toBeLessThan(a.robustCorrect);
    expectInvariantsChecked(four);
  }, 600_000);

  it('Square beats a gradient-masking model (quantized input, zero gradient) that PGD and APGD cannot', async () => {
    const masked = quantized(natural, 16);
    const am = await AttackModel.create(masked);
    const x = Float32Array.from(data().test.images.subarray(0, 8 * 784), (v) => v / 255);
    const g = await am.gradient('ce', x, Array.from(data().test.labels.subarray(0, 8)), 8);
    expect(g.grad.every((v) => v === 0)).toBe(true);
    expect(g.loss.every((v) => v > 0)).toBe(true);

    const t = performance.now();
    const r = await evaluateRobustness(am, data().test, { eps: 0.3, attacks: 'pgd20,apgd-ce20,square1000', n: 200, seed: 0 });
    console.log(`quantized SmallCNN, eps 0.3, n 200 (${((performance.now() - t) / 1000).toFixed(1)} s):`, summary(r), 'square queries', r.attacks[2].queries);
    expect(r.cleanAccuracy).toBeGreaterThan(0.9);
    expect(acc(r, 'pgd20')).toBeGreaterThan(r.cleanAccuracy - 0.05);
    expect(acc(r, 'apgd-ce20')).toBeGreaterThan(r.cleanAccuracy - 0.05);
    expect(acc(r, 'square1000')).toBeLessThan(0.05);
    expectEnsembleWorstCase(r);
    expectInvariantsChecked(r);
  }, 600_000);
});

describe('adversarially trained small CNN, MNIST, eps = 0.2', () => {
  let robust: Model;
  let report: RobustnessReport;
  const eps = 0.2;
  beforeAll(async () => {
    const t = performance.now();
    robust = await trainModel(tinyCnn(3), { n: 10000, batchSize: 50, lr: 2e-3, seed: 1, adversarial: { eps, steps: 5 } });
    console.log(`PGD-5 adversarially trained small CNN in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const t1 = performance.now();
    report = await evaluateRobustness(robust, data().test, {
      eps, attacks: 'fgsm,pgd20,apgd-ce20,pgd100,apgd-ce100,cw20,autoattack', n: 500, seed: 0,
      apgdSteps: 20, squareQueries: 500, modelSource: 'tiny cnn (PGD-AT)',
    });
    console.log(`adversarially trained small CNN, eps ${eps}, n 500 (${((performance.now() - t1) / 1000).toFixed(1)} s):`, summary(report),
      'autoattack stages', report.attacks.at(-1)!.components!.map((c) => [c.name, c.robustAccuracy]));
  }, 600_000);

  it('APGD-CE at a fixed budget is at least as strong as PGD with the same number of gradient steps', () => {
    expect(report.cleanAccuracy).toBeGreaterThan(0.85);
    // A meaningful comparison: the model resists both attacks on a good share of the points.
    expect(acc(report, 'pgd20')).toBeGreaterThan(0.4);
    expect(acc(report, 'apgd-ce20')).toBeLessThanOrEqual(acc(report, 'pgd20'));
    expect(acc(report, 'apgd-ce100')).toBeLessThanOrEqual(acc(report, 'pgd100'));
    const a20 = report.attacks.find((a) => a.name === 'apgd-ce20')!;
    const p20 = report.attacks.find((a) => a.name === 'pgd20')!;
    // Budget: APGD's 20 iterations use 21 gradient evaluations (the start point too), PGD-20 20 plus a forward.
    expect(a20.gradientRuns).toBeLessThanOrEqual(21);
    expect(p20.gradientRuns).toBeLessThanOrEqual(20);
  });

  it('the ensemble is never weaker than its strongest member; AutoAttack stages only remove points', () => {
    expectEnsembleWorstCase(report);
    expectInvariantsChecked(report);
    const aa = report.attacks.find((a) => a.name === 'autoattack')!;
    const stages = aa.components!;
    expect(stages.map((c) => c.name)).toEqual(['apgd-ce', 'apgd-t', 'square']);
    for (let k = 1; k < stages.length; k++) {
      expect(stages[k].robustCorrect).toBeLessThanOrEqual(stages[k - 1].robustCorrect);
      expect(stages[k].attacked).toBe(stages[k - 1].robustCorrect);
    }
    expect(aa.robustCorrect).toBe(stages.at(-1)!.robustCorrect);
    expect(stages[0].attacked).toBe(report.cleanCorrect);
    expect(aa.queries!.mean).toBeGreaterThan(0);
  });

  it('input gradients match finite differences of the forward graph', async () => {
    const am = await AttackModel.create(robust);
    const n = 16, D = 784;
    const x = Float32Array.from(data().test.images.subarray(0, n * D), (v) => v / 255);
    const y = Array.from(data().test.labels.subarray(0, n));
    const { grad, loss } = await am.gradient('ce', x, y, n);
    const ce = (logits: Float32Array) => {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let m = -Infinity;
        for (let c = 0; c < 10; c++) m = Math.max(m, logits[i * 10 + c]);
        let s = 0;
        for (let c = 0; c < 10; c++) s += Math.exp(logits[i * 10 + c] - m);
        out[i] = Math.log(s) + m - logits[i * 10 + y[i]];
      }
      return out;
    };
    const l0 = ce(await am.logits(x, n));
    for (let i = 0; i < n; i++) expect(loss[i]).toBeCloseTo(l0[i], 4);
    const d = new Rng(5).fillUniform(new Float32Array(n * D), -1, 1);
    const h = 1e-3;
    const lp = ce(await am.logits(x.map((v, k) => v + h * d[k]), n));
    const lm = ce(await am.logits(x.map((v, k) => v - h * d[k]), n));
    // A ReLU kink within h of x on one side spoils the central difference (and that side's
    // one-sided one) while the other side's one-sided difference stays exact up to the softmax's
    // curvature. So each example matches the central difference, or, for at most 2 of the 16
    // (kinks are rare but weights trained to float32 rounding decide where they fall), one of the
    // one-sided differences.
    const close = (fd: number, dot: number) => Math.abs(fd - dot) < 0.02 * Math.abs(dot) + 2e-3;
    let oneSided = 0;
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let k = i * D; k < (i + 1) * D; k++) dot += grad[k] * d[k];
      if (close((lp[i] - lm[i]) / (2 * h), dot)) continue;
      expect(close((lp[i] - l0[i]) / h, dot) || close((l0[i] - lm[i]) / h, dot), `example ${i}`).toBe(true);
      oneSided++;
    }
    expect(oneSided).toBeLessThanOrEqual(2);
  });

  it('works on a model written with the raw protobuf API (Shape/Gather/Reshape flatten, Constant nodes)', async () => {
    const bytes = rawProtobufModel(robust);
    const raw = await AttackModel.create(bytes);
    const ref = await AttackModel.create(robust);
    expect(raw.hash).not.toBe(ref.hash);
    expect(raw.inputShape).toEqual([1, 28, 28]);
    expect(raw.classes).toBe(10);
    const n = 32;
    const x = new Rng(9).fillUniform(new Float32Array(n * 784), 0, 1);
    const y = Array.from({ length: n }, (_, i) => i % 10);
    const t = y.map((v) => (v + 3) % 10);
    for (const kind of ['ce', 'cw', 'dlr', 'dlr-t'] as const) {
      const a = await raw.gradient(kind, x, y, n, t);
      const b = await ref.gradient(kind, x, y, n, t);
      for (let k = 0; k < a.logits.length; k++) expect(Math.abs(a.logits[k] - b.logits[k])).toBeLessThan(1e-4);
      let diff = 0, scale = 0;
      for (let k = 0; k < a.grad.length; k++) { diff = Math.max(diff, Math.abs(a.grad[k] - b.grad[k])); scale = Math.max(scale, Math.abs(b.grad[k])); }
      expect(diff, kind).toBeLessThanOrEqual(1e-4 * scale);
    }
    // Built once, then cached by the model bytes.
    expect(await AttackModel.create(bytes)).toBe(raw);
    const file = join(tmp, 'raw.onnx');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, bytes);
    const r = await evaluateRobustness(file, data().test, { eps, attacks: 'pgd20,apgd-t20', n: 200, seed: 0 });
    const r0 = await evaluateRobustness(robust, data().test, { eps, attacks: 'pgd20,apgd-t20', n: 200, seed: 0 });
    expect(r.model.source).toBe(file);
    expect(r.cleanCorrect).toBe(r0.cleanCorrect);
    for (const name of ['pgd20', 'apgd-t20']) {
      expect(Math.abs(r.attacks.find((a) => a.name === name)!.robustCorrect - r0.attacks.find((a) => a.name === name)!.robustCorrect)).toBeLessThanOrEqual(3);
    }
  });

  it('rejects attacks that lie about success, leave the eps-ball or [0, 1]', async () => {
    const am = await AttackModel.create(robust);
    const opts = { eps, n: 50, seed: 0 };
    const liar: Attack = async (_c, b) => ({ xAdv: b.x.slice(), fooled: new Uint8Array(b.n).fill(1) });
    await expect(evaluateRobustness(am, data().test, { ...opts, attacks: [{ name: 'liar', kind: 'custom', run: liar }] }))
      .rejects.toThrow(/claims example \d+ is misclassified, but a fresh forward pass classifies it correctly/);
    const escapee: Attack = async (c, b) => ({ xAdv: b.x.map((v) => (v < 0.5 ? v + 2 * c.eps : v - 2 * c.eps)), fooled: new Uint8Array(b.n) });
    await expect(evaluateRobustness(am, data().test, { ...opts, attacks: [{ name: 'escapee', kind: 'custom', run: escapee }] }))
      .rejects.toThrow(/outside the eps-ball/);
    const overflow: Attack = async (_c, b) => ({ xAdv: b.x.map((v) => v + 0.1), fooled: new Uint8Array(b.n) });
    await expect(evaluateRobustness(am, data().test, { ...opts, attacks: [{ name: 'overflow', kind: 'custom', run: overflow }] }))
      .rejects.toThrow(/outside \[0, 1\]/);
    // An honest custom attack (no claims) is counted by the fresh forward pass alone.
    const flip: Attack = async (c, b) => ({ xAdv: b.x.map((v) => (v < 0.5 ? v + c.eps : v - c.eps)), fooled: new Uint8Array(b.n) });
    const r = await evaluateRobustness(am, data().test, { ...opts, attacks: [{ name: 'flip', kind: 'custom', run: flip }] });
    expect(r.attacks[0].robustCorrect).toBeLessThanOrEqual(r.cleanCorrect);
    expect(r.invariants.examplesChecked).toBe(r.cleanCorrect);
  });

  it('generalist eval: table, JSON report, adversarial .npy, progress on stderr, usage errors', async () => {
    const modelFile = join(tmp, 'robust.onnx');
    saveModelFile(robust, modelFile);
    const out: string[] = [], err: string[] = [];
    const io = { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) };
    const json = join(tmp, 'report.json'), advFile = join(tmp, 'adv.npy');
    const code = await main(['eval', '--model', modelFile, '--dataset', 'mnist', '--n', '60', '--eps', '0.2', '--attacks', 'fgsm,pgd5',
      '--json', json, '--save-adv', advFile, '--seed', '3', '--batch-size', '25'], io);
    expect(err.join('\n')).not.toMatch(/error/);
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/\(clean\)/);
    expect(text).toMatch(/pgd5/);
    expect(text).toMatch(/ensemble \(worst case\)/);
    expect(err.join('\n')).toMatch(/ETA/);
    const rep = JSON.parse(readFileSync(json, 'utf8')) as RobustnessReport;
    expect(rep.schema).toBe('onnx-generalist/robustness-report@1');
    expect(rep.n).toBe(60);
    expect(rep.seed).toBe(3);
    expect(rep.batchSize).toBe(25);
    expect(rep.dataset).toBe('mnist/test');
    expect(rep.attacks.map((a) => a.name)).toEqual(['fgsm', 'pgd5']);
    expect(rep.perExample.label).toHaveLength(60);
    expect(readNpy(advFile).shape).toEqual([60, 1, 28, 28]);

    const bad = async (args: string[], pattern: RegExp) => {
      const e: string[] = [];
      const c = await main(['eval', ...args], { out: () => {}, err: (s) => void e.push(s) });
      expect(c).toBe(2);
      expect(e.join('\n')).toMatch(pattern);
    };
    await bad(['--model', modelFile, '--dataset', 'mnist', '--eps', '0.2', '--attacks', 'pgd'], /needs a step count.*valid forms/);
    await bad(['--model', modelFile, '--dataset', 'mnist', '--eps', '0.2', '--attacks', 'pgd20,xyz'], /unknown attack "xyz"/);
    await bad(['--model', modelFile, '--dataset', 'mnist'], /--eps is required/);
    await bad(['--model', modelFile, '--dataset', 'svhn', '--eps', '0.1'], /unknown dataset "svhn"/);
  }, 300_000);
});
