import { describe, expect, it } from 'vitest';
import { checkGradient, opCase, type FdInput } from './fd.js';
import { Rng } from '../../src/util/rng.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, tensor } from '../../src/onnx/ir.js';
import { createSession, toOrt } from '../../src/runtime/ort.js';
import { buildGradient } from '../../src/autodiff/gradient.js';

interface PoolConfig { x: number[]; attrs: Record<string, number | number[] | string> }

/** A random small pooling config: 1-D or 2-D, kernel/stride/pads/ceil_mode (+ dilations for MaxPool). */
function poolConfig(seed: number, op: 'MaxPool' | 'AveragePool'): PoolConfig {
  const rng = new Rng(seed * 31 + (op === 'MaxPool' ? 1 : 2));
  const sp = 1 + rng.int(2);
  const kernel = Array.from({ length: sp }, () => 1 + rng.int(3));
  const strides = Array.from({ length: sp }, () => 1 + rng.int(3));
  const dilations = Array.from({ length: sp }, () => (op === 'MaxPool' ? 1 + rng.int(2) : 1));
  const ek = kernel.map((k, i) => (k - 1) * dilations[i] + 1);
  const pads = [...kernel, ...kernel].map((k) => rng.int(k)); // ORT: pads must be smaller than the kernel
  const spatial = ek.map((e) => e + rng.int(5));
  const attrs: PoolConfig['attrs'] = { kernel_shape: kernel, strides };
  if (op === 'MaxPool' && dilations.some((d) => d > 1)) attrs.dilations = dilations;
  let autoPad = ['NOTSET', 'NOTSET', 'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'][rng.int(6)];
  // ORT's AveragePool, and its float32 or two-output MaxPool, fail ("padding values must be
  // non-negative") for SAME_* when a stride exceeds the window so the needed padding is negative.
  const samePadNegative = spatial.some((d, i) => (Math.ceil(d / strides[i]) - 1) * strides[i] + ek[i] - d < 0);
  if (autoPad.startsWith('SAME') && samePadNegative) autoPad = 'VALID';
  if (autoPad === 'NOTSET' || attrs.dilations) {
    attrs.pads = pads;
    attrs.ceil_mode = rng.int(2);
  } else attrs.auto_pad = autoPad;
  if (op === 'AveragePool') attrs.count_include_pad = rng.int(2);
  if (attrs.ceil_mode && ceilDropsWindow(spatial, ek, strides, pads)) attrs.ceil_mode = 0;
  return { x: [1 + rng.int(2), 1 + rng.int(3), ...spatial], attrs };
}
/**
 * ceil_mode cases where the last window would start inside the end padding and is dropped. ORT's
 * kernels drop it (as ONNX and PyTorch define), but the ONNX shape inference ORT runs at load time
 * (opset 17) does not, so any graph combining such an output with a static-shaped tensor fails to
 * load ("Incompatible dimensions"). The FD harness multiplies each output by a static tensor, so
 * these configurations are avoided here (see the shape test below).
 */
function ceilDropsWindow(spatial: number[], ek: number[], strides: number[], pads: number[]): boolean {
  const sp = spatial.length;
  return spatial.some((d, i) => {
    const o = Math.ceil((d + pads[i] + pads[i + sp] - ek[i]) / strides[i]) + 1;
    return (o - 1) * strides[i] >= d + pads[i];
  });
}
const describeConfig = (c: PoolConfig) => `x[${c.x}] ${Object.entries(c.attrs).map(([k, v]) => `${k}=${v}`).join(' ')}`;

/** Distinct, well-spaced values (a shuffled ramp), so no FD step crosses a max/argmax tie. */
function distinct(shape: number[], seed: number): FdInput {
  const n = shape.reduce((a, b) => a * b, 1);
  const perm = new Rng(seed + 500).permutation(n);
  return { name: 'x', shape, values: Array.from(perm, (p) => (p - n / 2) * 0.1) };
}

describe('MaxPool gradient, both forms: Indices + ScatterElements add, and windows (no Indices, for WebGPU)', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const c = poolConfig(seed, 'MaxPool');
    it(`seed ${seed}: ${describeConfig(c)}`, async () => {
      // A node with its Indices output takes the 'indices' form; one without, the 'windows' form.
      const withIndices = await checkGradient(opCase('MaxPool', [distinct(c.x, seed)], c.attrs, { seed, outputs: 2, use: [0] }));
      expect(withIndices.dtype).toBe('float64');
      const windows = await checkGradient(opCase('MaxPool', [distinct(c.x, seed)], c.attrs, { seed }));
      expect(windows.dtype).toBe('float32'); // ORT's CPU ConvTranspose has no double kernel
    });
  }
  it('overlapping windows add up; storage_order=1 Indices are not reused', async () => {
    const attrs = { kernel_shape: [3, 3], strides: [1, 2], pads: [1, 1, 1, 0] };
    await checkGradient(opCase('MaxPool', [distinct([2, 2, 5, 6], 80)], attrs, { seed: 80, outputs: 2, use: [0] }));
    await checkGradient(opCase('MaxPool', [distinct([2, 2, 5, 6], 80)], attrs, { seed: 80 }));
    // storage_order=1 indices are column-major: the rule must not reuse them.
    await checkGradient(opCase('MaxPool', [distinct([2, 2, 5, 6], 81)], { ...attrs, storage_order: 1 }, { seed: 81, outputs: 2, use: [0] }));
    // Constant input: every element is a window's max somewhere, so the gradient sums several dys.
    await checkGradient(opCase('MaxPool', [distinct([1, 1, 4, 4], 82)], { kernel_shape: [3, 3], strides: [1, 1], pads: [2, 2, 2, 2] }, { seed: 82 }));
  });
  it('ties (ReLU zeros): both forms send the gradient to the first maximum of each window, as ORT\'s MaxPool picks it', async () => {
    const values = [0, 0, 1, 1, 0, 0, 1, 1, 2, 0, 0, 0, 0, 2, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3];
    const grads: number[][] = [];
    for (const outputs of [2, 1]) {
      const b = new GraphBuilder();
      const x = b.input('x', DataType.FLOAT, [1, 1, 6, 6]);
      const [y] = b.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, { outputs });
      const loss = b.reduceSum(b.mul(y, b.constF(Array.from({ length: 9 }, (_, i) => i + 1), [1, 1, 3, 3])), undefined, 0);
      b.output(buildGradient(b, { loss, wrt: [x] }).get(x)!, 'dx');
      const s = await createSession(b.build());
      grads.push(Array.from((await s.run({ x: toOrt(tensor('x', DataType.FLOAT, [1, 1, 6, 6], values)) })).dx.data as Float32Array));
      await s.release();
    }
    expect(grads[1]).toEqual(grads[0]);
    expect(grads[0].reduce((a, v) => a + v, 0)).toBe(45);
  });
});

describe('MaxPool gradient, tiled form (windows that tile the input, no Indices: SpaceToDepth, compare, DepthToSpace)', () => {
  const cases: [number[], number, number[]?][] = [[[2, 3, 8, 6], 2], [[1, 2, 9, 6], 3], [[2, 2, 4, 4], 2, [0, 0, 0, 0]]];
  for (const [shape, k, pads] of cases) {
    it(`x[${shape}] kernel ${k} stride ${k}${pads ? ' (explicit zero pads)' : ''}`, async () => {
      const attrs = { kernel_shape: [k, k], strides: [k, k], ...(pads && { pads }) };
      const b = new GraphBuilder();
      const x = b.input('x', DataType.FLOAT, ['N', ...shape.slice(1)]);
      const y = b.op('MaxPool', [x], attrs);
      b.output(buildGradient(b, { loss: b.reduceSum(y, undefined, 0), wrt: [x] }).get(x)!, 'dx');
      const ops = b.graph.nodes.map((n) => n.opType);
      expect(ops).toContain('SpaceToDepth');
      expect(ops).not.toContain('ScatterElements');
      const r = await checkGradient(opCase('MaxPool', [distinct(shape, k)], attrs, { seed: k }));
      expect(r.dtype).toBe('float64'); // every op of this form has a double kernel on ORT's CPU
    });
  }
  it('ties (ReLU zeros, equal maxima): the same gradient as the Indices form, each window\'s to its first maximum', async () => {
    const rng = new Rng(9);
    // Values from {0, 1, 2}: most 2x2 windows hold their maximum more than once.
    const values = Array.from({ length: 2 * 3 * 6 * 8 }, () => rng.int(3));
    const grads: number[][] = [];
    for (const outputs of [2, 1]) {
      const b = new GraphBuilder();
      const x = b.input('x', DataType.FLOAT, [2, 3, 6, 8]);
      const [y] = b.node('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] }, { outputs });
      const w = b.constF(Array.from({ length: 2 * 3 * 3 * 4 }, (_, i) => i + 1), [2, 3, 3, 4]);
      b.output(buildGradient(b, { loss: b.reduceSum(b.mul(y, w), undefined, 0), wrt: [x] }).get(x)!, 'dx');
      expect(b.graph.nodes.some((n) => n.opType === 'SpaceToDepth')).toBe(outputs === 1);
      const s = await createSession(b.build());
      grads.push(Array.from((await s.run({ x: toOrt(tensor('x', DataType.FLOAT, [2, 3, 6, 8], values)) })).dx.data as Float32Array));
      await s.release();
    }
    expect(grads[1]).toEqual(grads[0]);
    expect(grads[0].filter((v) => v !== 0).length).toBe(2 * 3 * 3 * 4); // one element per window
  });
});

describe('AveragePool gradient (ones-kernel ConvTranspose)', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const c = poolConfig(seed, 'AveragePool');
    it(`seed ${seed}: ${describeConfig(c)}`, async () => {
      // Linear op: a large step is exact and keeps float32 rounding small.
      const r = await checkGradient(opCase('AveragePool', [{ name: 'x', shape: c.x }], c.attrs, { seed, eps: 1e-2 }));
      expect(r.dtype).toBe('float32'); // ORT CPU has no double AveragePool
    });
  }
  it('count_include_pad with ceil_mode windows past the padded end (edge divisors)', async () => {
    for (const cip of [0, 1]) {
      await checkGradient(opCase('AveragePool', [{ name: 'x', shape: [1, 2, 8, 7] }], { kernel_shape: [3, 4], strides: [2, 3], pads: [1, 2, 1, 1], ceil_mode: 1, count_include_pad: cip }, { seed: 90 + cip, eps: 1e-2 }));
    }
  });
});

describe('GlobalAveragePool gradient', () => {
  it('1-D, 2-D and 3-D spatial', async () => {
    for (const [i, shape] of [[2, 3, 5], [2, 3, 4, 5], [1, 2, 2, 3, 2]].entries()) {
      await checkGradient(opCase('GlobalAveragePool', [{ name: 'x', shape }], {}, { seed: 100 + i, eps: 1e-2 }));
    }
  });
});

describe('pooling shape inference', () => {
  it('ceil_mode: a last window starting in the end padding is dropped, as ORT\'s kernels do', async () => {
    for (const op of ['MaxPool', 'AveragePool']) {
      for (const [H, k, s, p, want] of [[4, 1, 2, 0, 2], [5, 3, 3, 1, 2], [8, 3, 3, 1, 3], [3, 2, 2, 1, 2], [7, 3, 2, 1, 4]]) {
        const b = new GraphBuilder();
        const x = b.input('x', DataType.FLOAT, [1, 1, H]);
        const y = b.op(op, [x], { kernel_shape: [k], strides: [s], pads: [p, p], ceil_mode: 1 });
        expect(b.staticShape(y)).toEqual([1, 1, want]);
        b.output(y, 'y');
        b.graph.outputs[0].shape = undefined;
        const session = await createSession(b.build(), { optimization: 'disabled' });
        const r = await session.run({ x: toOrt(tensor('x', DataType.FLOAT, [1, 1, H], new Array(H).fill(1))) });
        expect(r.y.dims, `${op} H=${H} k=${k} s=${s} p=${p}`).toEqual([1, 1, want]);
        await session.release();
      }
    }
  });
});
