import { describe, expect, it } from 'vitest';
import { checkGradient, opCase, type FdInput } from './fd.js';
import { Rng } from '../../src/util/rng.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, tensor, type Node } from '../../src/onnx/ir.js';
import { buildGradient } from '../../src/autodiff/gradient.js';
import { batchNormTraining } from '../../src/artifacts/batchnorm-train.js';
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

describe('training-mode BatchNormalization in standard ops (the train step forward)', () => {
  // The form before issue 11 (var = mean(d^2) - c^2, y from x - mu, so the backward kept both d and
  // x - mu), kept here as the reference the current form (batchnorm-train.ts) must agree with.
  function earlierForm(b: GraphBuilder, x: string, scale: string, bias: string, axes: number[]): string {
    const pc = (v: string) => b.unsqueeze(v, [1, 2]);
    const m0 = b.reduceMean(x, axes, 1);
    const d = b.sub(x, m0);
    const c = b.reduceMean(d, axes, 1);
    const mu = b.add(m0, c);
    const variance = b.sub(b.reduceMean(b.mul(d, d), axes, 1), b.mul(c, c));
    const r = b.op('Reciprocal', [b.op('Sqrt', [b.add(b.reshape(variance, [-1]), b.constF(1e-5))])]);
    return b.add(b.mul(b.sub(x, mu), pc(b.mul(scale, r))), pc(bias));
  }

  async function run(form: 'current' | 'earlier') {
    const rng = new Rng(90);
    const rand = (dims: number[], shift = 0) => tensor('', DataType.FLOAT, dims, Array.from({ length: dims.reduce((a, v) => a * v, 1) }, () => shift + rng.normal()));
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['N', 6, 5, 5]);
    const [scale, bias] = [b.input('scale', DataType.FLOAT, [6]), b.input('bias', DataType.FLOAT, [6])];
    const node = { name: 'bn', opType: 'BatchNormalization', domain: '', inputs: [], outputs: [], attributes: { epsilon: { type: 'float', value: 1e-5 }, momentum: { type: 'float', value: 0.9 } } } as unknown as Node;
    const y = form === 'current'
      ? batchNormTraining(b, node, [x, scale, bias, b.constF(new Array(6).fill(0), [6]), b.constF(new Array(6).fill(1), [6])]).y
      : earlierForm(b, x, scale, bias, [0, 2, 3]);
    b.output(y, 'y');
    b.output(b.reduceSum(b.mul(b.mul(y, y), b.initializer('R', rand([4, 6, 5, 5]))), undefined, 0), 'loss');
    const grads = buildGradient(b, { loss: 'loss', wrt: [x, scale, bias] });
    for (const [k, v] of grads) b.output(v, `d_${k}`);
    // Full-size float values that the backward pass reads from the forward (what it keeps alive).
    const backward = b.graph.nodes.filter((n) => n.outputs.some((o) => o.startsWith('grad')));
    const fwdOut = new Set(b.graph.nodes.filter((n) => !backward.includes(n)).flatMap((n) => n.outputs));
    const kept = new Set(backward.flatMap((n) => n.inputs).filter((i) => fwdOut.has(i) && b.shape(i)?.[2] === 5));
    const sess = await createSession(b.build(), { optimization: 'disabled', threads: 1 });
    const out = await sess.run({ x: toOrt(rand([4, 6, 5, 5], 3)), scale: toOrt(rand([6])), bias: toOrt(rand([6])) });
    await sess.release();
    return { kept: [...kept].filter((k) => k !== y), out: Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array])) };
  }

  it('keeps one centred tensor for the backward (the earlier form two) and agrees with the earlier form to float32 rounding', async () => {
    const [now, before] = [await run('current'), await run('earlier')];
    expect([now.kept.length, before.kept.length]).toEqual([1, 2]);
    for (const k of ['y', 'loss', 'd_x', 'd_scale', 'd_bias']) {
      let worst = 0, scale = 0;
      for (let i = 0; i < now.out[k].length; i++) { worst = Math.max(worst, Math.abs(now.out[k][i] - before.out[k][i])); scale = Math.max(scale, Math.abs(before.out[k][i])); }
      expect(worst / scale, k).toBeLessThan(1e-5);
    }
  });
});
