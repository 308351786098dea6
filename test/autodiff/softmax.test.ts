// Softmax / LogSoftmax gradients on random shapes and axes (opset 13+ semantics: one axis).
import { describe, expect, it } from 'vitest';
import { checkGradient, opCase } from './fd.js';
import { Rng } from '../../src/util/rng.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, tensor } from '../../src/onnx/ir.js';
import { buildGradient } from '../../src/autodiff/gradient.js';
import { createSession, toOrt } from '../../src/runtime/ort.js';

describe('Softmax and LogSoftmax', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`any axis, random shapes (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      for (const op of ['Softmax', 'LogSoftmax']) {
        const shape = Array.from({ length: 1 + rng.int(4) }, () => 1 + rng.int(4));
        const axis = rng.int(2 * shape.length) - shape.length;
        // Inputs scaled up so the distributions are far from uniform.
        const r = await checkGradient(opCase(op, [{ name: 'x', shape, range: [-4, 4] }], { axis }, { seed }));
        expect(r.dtype).toBe('float64');
      }
    });
  }
  it('default axis is the last one', async () => {
    await checkGradient(opCase('Softmax', [{ name: 'x', shape: [2, 3, 4] }]));
    await checkGradient(opCase('LogSoftmax', [{ name: 'x', shape: [3, 5] }]));
  });
  it('composed: log(softmax(x)) matches LogSoftmax and chains with other ops', async () => {
    await checkGradient({
      inputs: [{ name: 'x', shape: [3, 4] }, { name: 'w', shape: [4, 4] }],
      build: (b, n) => [b.op('Log', [b.softmax(b.matmul(n.x, n.w), 1)]), b.logSoftmax(n.x, 0)],
    });
  });
  it('opset 11: normalises over all axes from `axis` (coerced to 2-D), gradient matches the explicit 2-D form', async () => {
    for (const op of ['Softmax', 'LogSoftmax']) {
      const b = new GraphBuilder({ opset: 11 });
      const x = b.input('x', DataType.DOUBLE, [2, 3, 4]);
      const R = b.input('R', DataType.DOUBLE, [2, 3, 4]);
      const direct = b.op(op, [x], { axis: 1 });
      const via2d = b.reshape(b.op(op, [b.reshape(x, [2, 12])], { axis: 1 }), [2, 3, 4]);
      const l1 = b.reduceSum(b.mul(direct, R), undefined, 0);
      const l2 = b.reduceSum(b.mul(via2d, R), undefined, 0);
      b.output(buildGradient(b, { loss: l1, wrt: [x], prefix: 'g1/' }).get(x)!, 'd1');
      b.output(buildGradient(b, { loss: l2, wrt: [x], prefix: 'g2/' }).get(x)!, 'd2');
      const s = await createSession(b.build());
      const rng = new Rng(9);
      const rnd = () => Array.from({ length: 24 }, () => rng.normal());
      const out = await s.run({ x: toOrt(tensor('x', DataType.DOUBLE, [2, 3, 4], rnd())), R: toOrt(tensor('R', DataType.DOUBLE, [2, 3, 4], rnd())) });
      const d1 = out.d1.data as Float64Array;
      const d2 = out.d2.data as Float64Array;
      for (let i = 0; i < 24; i++) expect(d1[i]).toBeCloseTo(d2[i], 12);
      await s.release();
    }
  });
});
