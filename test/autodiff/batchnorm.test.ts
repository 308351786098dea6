import { describe, expect, it } from 'vitest';
import { checkGradient, opCase, type FdInput } from './fd.js';
import { Rng } from '../../src/util/rng.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, tensor } from '../../src/onnx/ir.js';
import { createSession, toOrt } from '../../src/runtime/ort.js';

/** x of rank 2..4 (N, C, spatial...) with random sizes. */
function bnShape(rng: Rng): number[] {
  const rank = 2 + rng.int(3);
  const shape = [2 + rng.int(3), 1 + rng.int(3)];
  while (shape.length < rank) shape.push(1 + rng.int(3));
  return shape;
}
function bnInputs(x: number[]): FdInput[] {
  const C = x[1];
  return [
    { name: 'x', shape: x },
    { name: 'scale', shape: [C] },
    { name: 'bias', shape: [C] },
    { name: 'mean', shape: [C] },
    { name: 'var', shape: [C], range: [0.5, 2] },
  ];
}

describe('BatchNormalization gradient', () => {
  for (let seed = 1; seed <= 6; seed++) {
    const rng = new Rng(seed);
    const x = bnShape(rng);
    const epsilon = [1e-5, 1e-3, 0.1][rng.int(3)];
    it(`inference mode, seed ${seed}: x[${x}] eps ${epsilon} (wrt x, scale, bias, mean, var)`, async () => {
      const r = await checkGradient(opCase('BatchNormalization', bnInputs(x), { epsilon }, { seed }));
      expect(r.dtype).toBe('float64');
    });
    it(`training mode, seed ${seed}: x[${x}] eps ${epsilon} (wrt x, scale, bias)`, async () => {
      // Y only enters the loss; running_mean/var outputs (ORT requires all 3 in training mode) carry no gradient.
      const r = await checkGradient(opCase('BatchNormalization', bnInputs(x), { epsilon, momentum: 0.9, training_mode: 1 }, { seed, outputs: 3, use: [0], wrt: ['x', 'scale', 'bias'] }));
      expect(r.dtype).toBe('float64');
    });
  }
  it('training mode with only the input gradient asked for (scale/bias fixed)', async () => {
    await checkGradient(opCase('BatchNormalization', bnInputs([4, 3, 2, 2]), { training_mode: 1 }, { seed: 20, outputs: 3, use: [0], wrt: ['x'] }));
  });
});

describe('BatchNormalization training-mode running statistics in ORT', () => {
  it('running_var is updated with the BIASED batch variance (PyTorch uses the unbiased one)', async () => {
    const shape = [3, 2, 2];
    const b = new GraphBuilder();
    const x = b.input('x', DataType.DOUBLE, shape);
    const c = (v: number[]) => b.constant(tensor('', DataType.DOUBLE, [2], v));
    const momentum = 0.9;
    const [y, rm, rv] = b.node('BatchNormalization', [x, c([1, 1]), c([0, 0]), c([0.5, -0.5]), c([1, 2])], { training_mode: 1, momentum, epsilon: 1e-5 }, { outputs: 3 });
    b.output(y, 'y'); b.output(rm, 'rm'); b.output(rv, 'rv');
    const session = await createSession(b.build(), { optimization: 'disabled' });
    const xv = Array.from({ length: 12 }, (_, i) => Math.sin(i * 1.7) * 3);
    const r = await session.run({ x: toOrt(tensor('x', DataType.DOUBLE, shape, xv)) });
    for (let ch = 0; ch < 2; ch++) {
      const vals = [0, 1, 2].flatMap((n) => [0, 1].map((j) => xv[n * 4 + ch * 2 + j]));
      const m = vals.reduce((a, v) => a + v, 0) / vals.length;
      const ss = vals.reduce((a, v) => a + (v - m) ** 2, 0);
      const biased = ss / vals.length;
      const unbiased = ss / (vals.length - 1);
      const inMean = [0.5, -0.5][ch];
      const inVar = [1, 2][ch];
      // ONNX convention: running = input * momentum + batch * (1 - momentum) (PyTorch's momentum is 1 - this).
      expect((r.rm.data as Float64Array)[ch]).toBeCloseTo(inMean * momentum + m * (1 - momentum), 5);
      expect((r.rv.data as Float64Array)[ch]).toBeCloseTo(inVar * momentum + biased * (1 - momentum), 5);
      expect(Math.abs((r.rv.data as Float64Array)[ch] - (inVar * momentum + unbiased * (1 - momentum)))).toBeGreaterThan(1e-3);
      // Y is normalised with the biased variance too.
      const y0 = (r.y.data as Float64Array)[ch * 2];
      expect(y0).toBeCloseTo((xv[ch * 2] - m) / Math.sqrt(biased + 1e-5), 8);
    }
    await session.release();
  });
});
