// Finite-difference checks of the pointwise, selection, cast, reduction and no-gradient rules,
// on random shapes and attributes drawn from seeded generators.
import { describe, expect, it } from 'vitest';
import { checkGradient, opCase, type FdInput } from './fd.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, tensor } from '../../src/onnx/ir.js';
import { buildGradient } from '../../src/autodiff/gradient.js';
import { createSession, toOrt } from '../../src/runtime/ort.js';
import { Rng } from '../../src/util/rng.js';

const SEEDS = [1, 2, 3];
const randShape = (rng: Rng, minRank = 1, maxRank = 3, maxDim = 4): number[] =>
  Array.from({ length: minRank + rng.int(maxRank - minRank + 1) }, () => 1 + rng.int(maxDim));
/** A shape that broadcasts to `s`: a suffix of it with some dims set to 1. */
const broadcastable = (rng: Rng, s: number[]): number[] => s.slice(rng.int(s.length + 1)).map((d) => (rng.next() < 0.4 ? 1 : d));

describe('pointwise activations', () => {
  for (const seed of SEEDS) {
    it(`LeakyRelu, Sigmoid, Tanh, Softplus, Exp, Abs (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      await checkGradient(opCase('LeakyRelu', [{ name: 'x', shape: randShape(rng) }], { alpha: rng.uniform(0.01, 0.3) }, { seed }));
      await checkGradient(opCase('LeakyRelu', [{ name: 'x', shape: randShape(rng) }], {}, { seed }));
      for (const op of ['Sigmoid', 'Tanh', 'Softplus', 'Exp', 'Abs']) {
        const r = await checkGradient(opCase(op, [{ name: 'x', shape: randShape(rng) }], {}, { seed }));
        if (op !== 'Softplus') expect(r.dtype, op).toBe('float64');
      }
    });
    it(`Log, Sqrt on positive inputs; Pow with constant exponents (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      for (const op of ['Log', 'Sqrt']) {
        const r = await checkGradient(opCase(op, [{ name: 'x', shape: randShape(rng), range: [0.3, 3] }], {}, { seed }));
        expect(r.dtype).toBe('float64');
      }
      for (const p of [2, 3, 1, 0.5, -1.5, rng.uniform(-2, 3)]) {
        await checkGradient(opCase('Pow', [{ name: 'x', shape: randShape(rng), range: [0.3, 2] }, { name: 'p', shape: [], values: [p], constant: true }], {}, { seed }));
      }
      // Exponent as an int64 tensor and as a broadcast float tensor.
      await checkGradient(opCase('Pow', [{ name: 'x', shape: [2, 3] }, { name: 'p', shape: [], kind: 'int64', values: [3], constant: true }], {}, { seed }));
      await checkGradient(opCase('Pow', [{ name: 'x', shape: [3], range: [0.3, 2] }, { name: 'p', shape: [2, 3], values: [0.5, 2, -1, 1.5, 3, 0.2], constant: true }], {}, { seed }));
    });
    it(`Clip with min/max inputs, attributes absent or partial (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const lo = rng.uniform(-1, -0.2);
      const hi = rng.uniform(0.2, 1);
      const x = (): FdInput => ({ name: 'x', shape: randShape(rng, 2, 3, 5) });
      await checkGradient(opCase('Clip', [x(), { name: 'lo', shape: [], values: [lo], constant: true }, { name: 'hi', shape: [], values: [hi], constant: true }], {}, { seed }));
      await checkGradient(opCase('Clip', [x(), { name: 'lo', shape: [], values: [lo], constant: true }], {}, { seed }));
      await checkGradient(opCase('Clip', [x()], {}, { seed }));
      // Max only: omitted min is ''.
      await checkGradient({
        seed, inputs: [x(), { name: 'hi', shape: [], values: [hi], constant: true }],
        build: (b, n) => [b.op('Clip', [n.x, '', n.hi])],
      });
      // Bounds as differentiated inputs receive the gradient of the positions they clip.
      await checkGradient(opCase('Clip', [x(), { name: 'lo', shape: [], values: [lo] }, { name: 'hi', shape: [], values: [hi] }], {}, { seed }));
    });
  }

  it('Clip gives exactly zero gradient outside (min, max) and at the bounds (torch\'s ReLU6/hardtanh)', async () => {
    // At x = min or max the gradient is 0, as torch's hardtanh/ReLU6 and TF's relu6 have it (and
    // Relu's at 0): a fresh torchvision MobileNet-V2 exported with folded BN feeds ReLU6 exact zeros.
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [7]);
    const y = b.clip(x, b.constF(-1), b.constF(1));
    const loss = b.reduceSum(b.mul(y, b.constF([1, 2, 3, 4, 5, 6, 7])), undefined, 0);
    b.output(loss, 'loss');
    b.output(buildGradient(b, { loss, wrt: [x] }).get(x)!, 'dx');
    const s = await createSession(b.build());
    const r = await s.run({ x: toOrt(tensor('x', DataType.FLOAT, [7], [-3, -1, -0.5, 0, 0.5, 1, 2])) });
    expect(Array.from(r.dx.data as Float32Array)).toEqual([0, 0, 3, 4, 5, 0, 0]);
    await s.release();
  });

  it('Pow with an exponent that needs a gradient is an error naming the node', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [3]);
    const p = b.input('p', DataType.FLOAT, []);
    const y = b.op('Pow', [x, p], {}, { name: 'my_pow' });
    const loss = b.reduceSum(y, undefined, 0);
    expect(() => buildGradient(b, { loss, wrt: [x, p] })).toThrow(/my_pow_node.*Pow.*exponent/);
    // Differentiating only w.r.t. the base is fine when the exponent is a plain input.
    expect(buildGradient(b, { loss, wrt: [x], prefix: 'g2/' }).get(x)).toBeTruthy();
  });
});

describe('Dropout', () => {
  it('inference mode (no training_mode, or constant false) is the identity', async () => {
    await checkGradient(opCase('Dropout', [{ name: 'x', shape: [3, 4] }]));
    await checkGradient(opCase('Dropout', [
      { name: 'x', shape: [2, 5] },
      { name: 'r', shape: [], values: [0.3], constant: true },
      { name: 't', shape: [], kind: 'bool', values: [0], constant: true },
    ], {}, { outputs: 2 }));
  });

  // ORT draws the mask from its own RNG on every run, so finite differences cannot be used; check
  // in one run that y = x * mask / (1 - ratio) and dx = R * mask / (1 - ratio) for loss = sum(R * y).
  for (const [ratio, training] of [[0.3, 'const'], [0.6, 'input'], [0.5, 'default-ratio']] as const) {
    it(`training mode uses the mask output (ratio ${ratio}, training_mode ${training})`, async () => {
      const b = new GraphBuilder();
      const n = 200;
      const x = b.input('x', DataType.DOUBLE, [n]);
      const R = b.input('R', DataType.DOUBLE, [n]);
      const t = training === 'input' ? b.input('t', DataType.BOOL, []) : b.constant(tensor('', DataType.BOOL, [], [1]), 'train');
      const r = training === 'default-ratio' ? '' : b.constant(tensor('', DataType.FLOAT, [], [ratio]), 'ratio');
      const [y, mask] = b.node('Dropout', [x, r, t], { seed: { type: 'int', value: 7 } }, { outputs: 2 });
      const loss = b.reduceSum(b.mul(y, R), undefined, 0);
      b.output(loss, 'loss');
      b.output(y, 'y');
      b.output(mask, 'mask');
      b.output(buildGradient(b, { loss, wrt: [x] }).get(x)!, 'dx');
      const s = await createSession(b.build(), { optimization: 'disabled' });
      const rng = new Rng(5);
      const xv = Float64Array.from({ length: n }, () => rng.normal());
      const Rv = Float64Array.from({ length: n }, () => rng.normal());
      for (const tv of training === 'input' ? [1, 0] : [1]) {
        const feeds: Record<string, ReturnType<typeof toOrt>> = { x: toOrt(tensor('x', DataType.DOUBLE, [n], xv)), R: toOrt(tensor('R', DataType.DOUBLE, [n], Rv)) };
        if (training === 'input') feeds.t = toOrt(tensor('t', DataType.BOOL, [], [tv]));
        const out = await s.run(feeds);
        const m = out.mask.data as Uint8Array;
        const dx = out.dx.data as Float64Array;
        const yv = out.y.data as Float64Array;
        const scale = tv ? 1 / (1 - Math.fround(ratio)) : 1;
        let kept = 0;
        for (let i = 0; i < n; i++) {
          const mi = tv ? (m[i] ? 1 : 0) : 1;
          kept += mi;
          expect(yv[i]).toBeCloseTo(xv[i] * mi * scale, 12);
          expect(dx[i]).toBeCloseTo(Rv[i] * mi * scale, 12);
        }
        if (tv) expect(kept).toBeGreaterThan(0);
        if (tv) expect(kept).toBeLessThan(n);
      }
      await s.release();
    });
  }

  it('training mode without a mask output is an error naming the node', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [4]);
    const y = b.op('Dropout', [x, b.constF(0.5), b.constant(tensor('', DataType.BOOL, [], [1]))], {}, { name: 'drop' });
    const loss = b.reduceSum(y, undefined, 0);
    expect(() => buildGradient(b, { loss, wrt: [x] })).toThrow(/"drop_node" \(Dropout\).*mask/);
  });
});

describe('selection ops', () => {
  for (const seed of SEEDS) {
    it(`Where to both value inputs, with broadcasting (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const s = randShape(rng, 1, 3);
      const cs = broadcastable(rng, s);
      const cn = cs.reduce((a, d) => a * d, 1);
      const r = await checkGradient(opCase('Where', [
        { name: 'c', shape: cs, kind: 'bool', values: Array.from({ length: cn }, () => rng.int(2)) },
        { name: 'a', shape: s },
        { name: 'b', shape: broadcastable(rng, s) },
      ], {}, { seed }));
      expect(r.dtype).toBe('float64');
    });
    it(`Max/Min variadic with broadcasting (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      for (const op of ['Max', 'Min']) {
        for (const k of [1, 2, 3]) {
          const s = randShape(rng, 1, 3);
          const inputs: FdInput[] = Array.from({ length: k }, (_, i) => ({ name: `x${i}`, shape: i === 0 ? s : broadcastable(rng, s) }));
          await checkGradient(opCase(op, inputs, {}, { seed }));
        }
      }
    });
    it(`TopK values scatter back to the input (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const s = randShape(rng, 1, 3, 5);
      const axis = rng.int(s.length) - (rng.next() < 0.5 ? s.length : 0);
      const d = s[axis < 0 ? axis + s.length : axis];
      const k = 1 + rng.int(d);
      const r = await checkGradient(opCase('TopK', [{ name: 'x', shape: s }, { name: 'k', shape: [1], kind: 'int64', values: [k], constant: true }], { axis, largest: rng.int(2), sorted: 1 }, { seed, outputs: 2 }));
      expect(r.dtype).toBe('float64');
    });
  }

  it('Max splits the gradient evenly between tied inputs, as torch.maximum', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [3]);
    const z = b.input('z', DataType.FLOAT, [3]);
    const loss = b.reduceSum(b.op('Max', [x, z]), undefined, 0);
    b.output(loss, 'loss');
    const gr = buildGradient(b, { loss, wrt: [x, z] });
    b.output(gr.get(x)!, 'dx');
    b.output(gr.get(z)!, 'dz');
    const s = await createSession(b.build());
    const r = await s.run({ x: toOrt(tensor('x', DataType.FLOAT, [3], [1, 2, 3])), z: toOrt(tensor('z', DataType.FLOAT, [3], [0, 2, 4])) });
    expect(Array.from(r.dx.data as Float32Array)).toEqual([1, 0.5, 0]);
    expect(Array.from(r.dz.data as Float32Array)).toEqual([0, 0.5, 1]);
    await s.release();
  });
});

describe('Cast between float types', () => {
  it('float32 -> float64 -> float32 passes the gradient back in the input dtype', async () => {
    const r = await checkGradient({
      dtype: 'float32',
      inputs: [{ name: 'x', shape: [3, 4] }],
      build: (b, n) => [b.cast(b.op('Sigmoid', [b.cast(n.x, DataType.DOUBLE)]), DataType.FLOAT)],
    });
    expect(r.dtype).toBe('float32');
    const r64 = await checkGradient({
      inputs: [{ name: 'x', shape: [2, 3] }],
      build: (b, n) => [b.op('Tanh', [b.cast(n.x, DataType.DOUBLE)])],
    });
    expect(r64.dtype).toBe('float64');
  });
});

describe('more reductions', () => {
  for (const seed of SEEDS) {
    it(`ReduceMin, ReduceL2, ReduceSumSquare, ReduceLogSumExp with random axes/keepdims (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      for (const op of ['ReduceMin', 'ReduceL2', 'ReduceSumSquare', 'ReduceLogSumExp']) {
        const s = randShape(rng, 1, 3, 4);
        const axes = [...Array(s.length).keys()].filter(() => rng.next() < 0.5).map((a) => (rng.next() < 0.5 ? a - s.length : a));
        const attrs: Record<string, unknown> = { keepdims: rng.int(2) };
        if (axes.length) attrs.axes = axes;
        const r = await checkGradient(opCase(op, [{ name: 'x', shape: s }], attrs, { seed }));
        expect(r.dtype, op).toBe('float64');
      }
    });
  }
  it('ReduceMin splits ties evenly; ReduceL2 of zeros has zero gradient', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const l1 = b.reduceSum(b.op('ReduceMin', [x], { axes: [1], keepdims: 0 }), undefined, 0);
    const l2 = b.reduceSum(b.op('ReduceL2', [x], { axes: [1], keepdims: 1 }), undefined, 0);
    b.output(buildGradient(b, { loss: l1, wrt: [x], prefix: 'a/' }).get(x)!, 'd1');
    b.output(buildGradient(b, { loss: l2, wrt: [x], prefix: 'b/' }).get(x)!, 'd2');
    const s = await createSession(b.build());
    const r = await s.run({ x: toOrt(tensor('x', DataType.FLOAT, [2, 3], [1, 1, 2, 0, 0, 0])) });
    expect(Array.from(r.d1.data as Float32Array)).toEqual([0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3].map(Math.fround));
    const d2 = Array.from(r.d2.data as Float32Array);
    expect(d2.slice(3)).toEqual([0, 0, 0]);
    expect(d2[2]).toBeCloseTo(2 / Math.sqrt(6), 6);
    await s.release();
  });
});

describe('ops without gradient', () => {
  it('Sign, Floor, Round, Ceil on a float path contribute nothing; the rest of the path still differentiates', async () => {
    for (const op of ['Sign', 'Floor', 'Round', 'Ceil']) {
      // y = x * op(x): gradient is op(x) (op's own derivative is zero almost everywhere).
      await checkGradient({ inputs: [{ name: 'x', shape: [3, 4], range: [-3, 3] }], build: (b, n) => [b.mul(n.x, b.op(op, [n.x]))] });
    }
  });
  it('a loss reached only through no-gradient ops gives zeros', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const sgn = b.op('Sign', [x]);
    const cmp = b.cast(b.op('Greater', [x, b.constF(0)]), DataType.FLOAT);
    const am = b.cast(b.op('ArgMax', [x], { axis: 1, keepdims: 0 }), DataType.FLOAT);
    const sz = b.cast(b.op('Size', [x]), DataType.FLOAT);
    const loss = b.add(b.add(b.reduceSum(b.add(sgn, cmp), undefined, 0), b.reduceSum(am, undefined, 0)), sz);
    b.output(buildGradient(b, { loss, wrt: [x] }).get(x)!, 'dx');
    const s = await createSession(b.build());
    const r = await s.run({ x: toOrt(tensor('x', DataType.FLOAT, [2, 3], [1, -2, 3, -4, 5, -6])) });
    expect(Array.from(r.dx.data as Float32Array)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(r.dx.dims).toEqual([2, 3]);
    await s.release();
  });
  it('OneHot passes a gradient to its [off, on] values input', async () => {
    await checkGradient(opCase('OneHot', [
      { name: 'i', shape: [2, 3], kind: 'int64', values: [0, 3, 1, 2, -1, 0], constant: true },
      { name: 'depth', shape: [], kind: 'int64', values: [4], constant: true },
      { name: 'v', shape: [2] },
    ], { axis: 1 }));
  });
});
