import { describe, expect, it } from 'vitest';
import { checkGradient, opCase } from './fd.js';

describe('gradient rules: arithmetic, matmul, reshape', () => {
  for (const seed of [1, 2, 3]) {
    it(`Add/Sub/Mul/Div with broadcasting (seed ${seed})`, async () => {
      for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
        const r = await checkGradient(opCase(op, [
          { name: 'a', shape: [2, 3, 4] },
          { name: 'b', shape: [3, 1], range: [0.5, 2] },
        ], {}, { seed }));
        expect(r.dtype).toBe('float64');
      }
    });
    it(`MatMul batched and Gemm with transposes (seed ${seed})`, async () => {
      await checkGradient(opCase('MatMul', [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [4, 5] }], {}, { seed }));
      await checkGradient(opCase('MatMul', [{ name: 'a', shape: [4] }, { name: 'b', shape: [2, 4, 5] }], {}, { seed }));
      await checkGradient(opCase('MatMul', [{ name: 'a', shape: [3, 4] }, { name: 'b', shape: [4] }], {}, { seed }));
      for (const [transA, transB] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const aShape = transA ? [4, 3] : [3, 4];
        const bShape = transB ? [5, 4] : [4, 5];
        await checkGradient(opCase('Gemm', [{ name: 'a', shape: aShape }, { name: 'b', shape: bShape }, { name: 'c', shape: [5] }], { transA, transB, alpha: 0.7, beta: 1.3 }, { seed }));
      }
    });
  }
  it('Relu, Neg, Identity, Reshape, Flatten', async () => {
    await checkGradient(opCase('Relu', [{ name: 'x', shape: [3, 5] }]));
    await checkGradient(opCase('Neg', [{ name: 'x', shape: [3, 5] }]));
    await checkGradient(opCase('Identity', [{ name: 'x', shape: [3, 5] }]));
    await checkGradient(opCase('Flatten', [{ name: 'x', shape: [2, 3, 2, 2] }], { axis: 2 }));
    await checkGradient(opCase('Reshape', [{ name: 'x', shape: [2, 6] }, { name: 's', shape: [3], kind: 'int64', values: [3, 2, 2], constant: true }]));
  });
});
