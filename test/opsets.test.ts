// Models exported at old opsets (torch.onnx's old defaults, the ONNX model zoo) train and are
// attacked exactly like the same network written at opset 17: the artifacts are built at opset 17
// and the copied forward nodes are rewritten (Clip/Pad/Slice attributes, Squeeze/Unsqueeze/
// ReduceMean axes, Softmax's flatten-from-axis) by src/artifacts/upgrade.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeModel } from '../src/artifacts/analyze.js';
import { buildArtifacts, initialState } from '../src/artifacts/build.js';
import { writeArtifacts } from '../src/artifacts/store.js';
import { AttackModel } from '../src/attacks/index.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { DataType, tensor, type Model } from '../src/onnx/ir.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { ort } from '../src/runtime/ort.js';
import { Rng } from '../src/util/rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'opsets-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * Pad - Conv - ReLU6 (Clip) - Slice crop - MaxPool - Unsqueeze/Squeeze - ReduceMean over width -
 * Flatten - Gemm - Softmax, written in the node forms of `opset` (attributes before 10/11/13, inputs
 * after), with the same seeded weights whatever the opset.
 */
function network(opset: number): Model {
  const rng = new Rng(11);
  const b = new GraphBuilder({ name: `net_op${opset}`, opset });
  const w = (name: string, dims: number[], bound: number) => b.initializer(name, tensor('', DataType.FLOAT, dims, rng.fillUniform(new Float32Array(dims.reduce((a, d) => a * d, 1)), -bound, bound)));
  const x = b.input('image', DataType.FLOAT, ['N', 1, 12, 12]);
  const i64 = (v: number[]) => b.constI64(v);
  const f = (v: number) => b.constant(tensor('', DataType.FLOAT, [], [v]));
  const pads = [0, 0, 1, 1, 0, 0, 1, 1];
  let h = opset < 11 ? b.op('Pad', [x], { pads, value: 0 }) : b.op('Pad', [x, i64(pads), f(0)]);
  h = b.conv(h, w('conv.weight', [6, 1, 3, 3], 0.6), w('conv.bias', [6], 0.3), { kernel_shape: [3, 3] }); // [N, 6, 12, 12]
  h = opset < 11 ? b.op('Clip', [h], { min: 0, max: 6 }) : b.op('Clip', [h, f(0), f(6)]);
  h = opset < 10 ? b.op('Slice', [h], { starts: [1, 1], ends: [11, 11], axes: [2, 3] }) : b.op('Slice', [h, i64([1, 1]), i64([11, 11]), i64([2, 3])]);
  h = b.maxPool(h, { kernel_shape: [2, 2], strides: [2, 2] }); // [N, 6, 5, 5]
  h = opset < 13 ? b.op('Unsqueeze', [h], { axes: [1] }) : b.op('Unsqueeze', [h, i64([1])]);
  h = opset < 13 ? b.op('Squeeze', [h], { axes: [1] }) : b.op('Squeeze', [h, i64([1])]);
  h = opset < 18 ? b.op('ReduceMean', [h], { axes: [3], keepdims: 0 }) : b.op('ReduceMean', [h, i64([3])], { keepdims: 0 }); // [N, 6, 5]
  h = b.flatten(h, 1);
  const logits = b.gemm(h, w('fc.weight', [10, 30], 0.2), w('fc.bias', [10], 0.2), { transB: 1 });
  // A Softmax over a 2-D tensor means the same at every opset.
  b.output(b.softmax(logits, 1), 'probs');
  return b.build();
}

async function oneStep(model: Model) {
  const dir = mkdtempSync(join(tmp, 'art-'));
  writeArtifacts(buildArtifacts(model, { optimizer: 'adam', pgdSteps: 3 }), dir);
  const rt = await ArtifactRuntime.open(dir, { threads: 1 });
  try {
    const rng = new Rng(5);
    const n = 6;
    const x = new ort.Tensor('float32', rng.fillUniform(new Float32Array(n * 144), 0, 1), [n, 1, 12, 12]);
    const y = new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 10)), [n]);
    const noise = new ort.Tensor('float32', rng.fillUniform(new Float32Array(n * 144), -1, 1), [n, 1, 12, 12]);
    const state = { weights: ArtifactRuntime.weightsFrom(initialState(model).values()), slots: rt.initialSlots() };
    const adv = await rt.attack(state.weights, x, y, noise, 0.1, 0.05);
    const r = await rt.trainStep(state, adv, y, { lr: 1e-2, weightDecay: 0, step: 1 });
    return { adv: Array.from(adv.data as Float32Array), loss: r.loss, weights: Object.fromEntries(Object.entries(r.state.weights).map(([k, t]) => [k, Array.from(t.data as Float32Array)])) };
  } finally {
    await rt.release();
  }
}

describe('models exported at opsets 9 to 17', () => {
  it('the same network at opset 9, 10, 11, 13 and 17 gives the same attack, loss and updated weights', async () => {
    const ref = await oneStep(network(17));
    expect(ref.loss).toBeGreaterThan(0);
    for (const opset of [9, 10, 11, 13]) {
      const m = network(opset);
      expect(analyzeModel(m)).toMatchObject({ sourceOpset: opset, opset: 17, outputKind: 'probabilities' });
      const r = await oneStep(m);
      expect(r.loss, `opset ${opset}`).toBeCloseTo(ref.loss!, 6);
      for (let i = 0; i < ref.adv.length; i++) expect(r.adv[i], `opset ${opset} adv[${i}]`).toBeCloseTo(ref.adv[i], 6);
      for (const [k, v] of Object.entries(ref.weights)) for (let i = 0; i < v.length; i++) expect(r.weights[k][i], `opset ${opset} ${k}[${i}]`).toBeCloseTo(v[i], 6);
    }
  });

  it('attacks compute the same input gradients on the opset 9 export as on the opset 17 one', async () => {
    const rng = new Rng(9);
    const n = 4;
    const x = rng.fillUniform(new Float32Array(n * 144), 0, 1);
    const y = [3, 1, 4, 1];
    const [old, cur] = [await AttackModel.create(network(9), { cache: false }), await AttackModel.create(network(17), { cache: false })];
    const [a, b] = [await old.gradient('ce', x, y, n), await cur.gradient('ce', x, y, n)];
    expect(old.outputKind).toBe('probabilities');
    for (let i = 0; i < b.grad.length; i++) expect(a.grad[i]).toBeCloseTo(b.grad[i], 6);
    expect(b.grad.some((v) => v !== 0)).toBe(true);
    await old.release();
    await cur.release();
  });

  it('an opset older than 9 is refused with a message that says how to re-export', () => {
    const m = network(9);
    m.opsetImports = [{ domain: '', version: 8 }];
    expect(() => buildArtifacts(m)).toThrow(/opset 8.*opset_version=17/);
  });

  it('Softmax before opset 13 normalises over every axis from `axis` on, and the upgrade keeps that', async () => {
    const build = (opset: number) => {
      const b = new GraphBuilder({ opset });
      const x = b.input('x', DataType.FLOAT, ['N', 2, 3, 4]);
      b.output(b.flatten(b.op('Softmax', [x], { axis: 1 }), 1), 'y');
      return b.build();
    };
    // Through the attack graphs (forward copy at opset 17) the opset-11 model must still sum to 1
    // over C*H*W, not over the last axis.
    const am = await AttackModel.create(build(11), { cache: false });
    const x = new Rng(3).fillUniform(new Float32Array(2 * 24), -2, 2);
    const out = await am.logits(x, 2);
    for (let i = 0; i < 2; i++) expect(out.subarray(i * 24, (i + 1) * 24).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
    await am.release();
  });
});
