// BatchNormalization in training mode as the train step writes it (artifacts/batchnorm-train.ts):
// two-pass statistics for the values, and a surrogate for the variance's gradient that reads the
// centred x - mu instead of the shifted d. The gradient is checked against central differences in
// float64; the forward values against the two-pass form written out here, bit for bit.
import { describe, expect, it } from 'vitest';
import { checkGradient, type FdInput } from './fd.js';
import { batchNormTraining } from '../../src/artifacts/batchnorm-train.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, type Node } from '../../src/onnx/ir.js';
import { createSession, ort } from '../../src/runtime/ort.js';
import { Rng } from '../../src/util/rng.js';

const bnNode = (epsilon: number): Node => ({
  name: 'bn', opType: 'BatchNormalization', domain: '', inputs: ['x', 'scale', 'bias', 'mean', 'var'], outputs: ['y'],
  attributes: { epsilon: { type: 'float', value: epsilon }, momentum: { type: 'float', value: 0.9 } },
});

const inputs = (x: number[]): FdInput[] => [
  { name: 'x', shape: x },
  { name: 'scale', shape: [x[1]] },
  { name: 'bias', shape: [x[1]] },
  { name: 'mean', shape: [x[1]] },
  { name: 'var', shape: [x[1]], range: [0.5, 2] },
];

describe('BatchNormalization training form of the train step', () => {
  const shapes = [[4, 3, 2, 2], [5, 2, 3], [6, 4], [3, 2, 2, 3]];
  shapes.forEach((x, k) => {
    const epsilon = [1e-5, 1e-3][k % 2];
    it(`gradient of y wrt x, scale and bias matches central differences (float64), x[${x}] eps ${epsilon}`, async () => {
      const r = await checkGradient({
        inputs: inputs(x), seed: k + 1, dtype: 'float64', wrt: ['x', 'scale', 'bias'],
        build: (b, n) => {
          const bn = batchNormTraining(b, bnNode(epsilon), [n.x, n.scale, n.bias, n.mean, n.var]);
          return { outputs: [bn.y], constants: bn.constants };
        },
      });
      expect(r.checks).toBeGreaterThan(0);
    });
  });

  it('the check sees a missing variance term: with v - v_c not held, its gradient cancels', async () => {
    await expect(checkGradient({
      inputs: inputs([4, 3, 2, 2]), seed: 1, dtype: 'float64', wrt: ['x'],
      build: (b, n) => {
        const bn = batchNormTraining(b, bnNode(1e-5), [n.x, n.scale, n.bias, n.mean, n.var]);
        return { outputs: [bn.y], constants: bn.constants.slice(0, 1) };
      },
    })).rejects.toThrow(/analytic/);
  });

  it('y is bit for bit that of the two-pass form, near-constant channels included, and the running variance moves with its variance', async () => {
    const [N, C, H, W] = [8, 3, 5, 5];
    const b = new GraphBuilder({ name: 'bn-forward' });
    const x = b.input('x', DataType.FLOAT, [N, C, H, W]);
    const [scale, bias, mean, variance] = ['scale', 'bias', 'mean', 'var'].map((s) => b.input(s, DataType.FLOAT, [C]));
    const bn = batchNormTraining(b, bnNode(1e-5), [x, scale, bias, mean, variance]);
    b.output(bn.y, 'y'); b.output(bn.mean, 'running_mean'); b.output(bn.variance, 'running_var');
    // The two-pass form itself: var = mean(d^2) - c^2 with d = x - mean(x), c = mean(d).
    const axes = [0, 2, 3];
    const m0 = b.reduceMean(x, axes, 1);
    const d = b.sub(x, m0);
    const c = b.reduceMean(d, axes, 1);
    const mu = b.add(m0, c);
    const v = b.sub(b.reduceMean(b.mul(d, d), axes, 1), b.mul(c, c));
    const k = b.reshape(b.mul(scale, b.op('Reciprocal', [b.op('Sqrt', [b.add(b.reshape(v, [-1]), b.constF(1e-5))])])), [C, 1, 1]);
    b.output(b.add(b.mul(b.sub(x, mu), k), b.reshape(bias, [C, 1, 1])), 'y_ref');
    b.output(b.reshape(v, [-1]), 'batch_var_ref');

    const rng = new Rng(3);
    const xs = new Float32Array(N * C * H * W);
    for (let i = 0; i < xs.length; i++) {
      const ch = Math.floor(i / (H * W)) % C;
      // channel 0: ordinary; 1: large offset, small spread; 2: near-constant (variance ~1e-12)
      xs[i] = ch === 0 ? rng.normal() : ch === 1 ? 1000 + 0.01 * rng.normal() : 3 + 1e-6 * rng.normal();
    }
    const f = (a: number[]) => new ort.Tensor('float32', Float32Array.from(a), [C]);
    const session = await createSession(b.build());
    const out = await session.run({ x: new ort.Tensor('float32', xs, [N, C, H, W]), scale: f([1, 2, 0.5]), bias: f([0, 1, -1]), mean: f([0, 0, 0]), var: f([1, 1, 1]) });
    await session.release();
    expect(Array.from(out.y.data as Float32Array)).toEqual(Array.from(out.y_ref.data as Float32Array));
    // running_var = 0.9 * 1 + 0.1 * unbiased batch variance, from the same batch variance.
    const n = N * H * W;
    const want = Array.from(out.batch_var_ref.data as Float32Array, (bv) => 0.9 + (0.1 * bv * n) / (n - 1));
    Array.from(out.running_var.data as Float32Array).forEach((g, i) => expect(Math.abs(g - want[i])).toBeLessThanOrEqual(1e-6 * want[i]));
  });
});
