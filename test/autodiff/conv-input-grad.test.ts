// Conv's input gradient written as a Conv of dY (stride phases + DepthToSpace when strided):
// finite-difference checks on the geometries it takes, and equality with the ConvTranspose form
// it replaces, to float32 rounding, on a grid of geometries.
import { describe, expect, it } from 'vitest';
import { checkGradient, opCase } from './fd.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, tensor } from '../../src/onnx/ir.js';
import { buildGradient } from '../../src/autodiff/gradient.js';
import type { GradForms } from '../../src/autodiff/rule.js';
import { axisPlan } from '../../src/autodiff/rules/conv_input_grad.js';
import { createSession, toOrt } from '../../src/runtime/ort.js';
import { Rng } from '../../src/util/rng.js';
import '../../src/autodiff/rules/index.js';

interface Geometry { x: number[]; w: number[]; attrs: Record<string, number | number[] | string> }

/** The gradient graph of sum(Conv(x, w) * R) w.r.t. x: its ops and dX for fixed x, w, R. */
async function inputGrad(g: Geometry, seed: number, forms: GradForms = {}): Promise<{ ops: string[]; dx: Float32Array }> {
  const rng = new Rng(seed);
  const b = new GraphBuilder();
  const rand = (dims: number[]) => tensor('', DataType.FLOAT, dims, Array.from({ length: dims.reduce((a, v) => a * v, 1) }, () => rng.normal()));
  const x = b.input('x', DataType.FLOAT, g.x);
  const w = b.input('w', DataType.FLOAT, g.w);
  const y = b.op('Conv', [x, w], g.attrs);
  const r = b.initializer('R', rand(b.staticShape(y)));
  b.output(b.reduceSum(b.mul(y, r), undefined, 0), 'loss');
  b.output(buildGradient(b, { loss: 'loss', wrt: ['x'], forms }).get('x')!, 'dx');
  const ops = b.graph.nodes.map((n) => n.opType);
  const s = await createSession(b.build(), { optimization: 'disabled', threads: 1 });
  const out = await s.run({ x: toOrt(rand(g.x)), w: toOrt(rand(g.w)) });
  await s.release();
  return { ops, dx: out.dx.data as Float32Array };
}

/** The geometries the Conv form takes, as in the zoo's models and beyond. */
const TAKEN: [string, Geometry][] = [
  ['3x3 stride 1 pad 1', { x: [2, 3, 6, 5], w: [4, 3, 3, 3], attrs: { pads: [1, 1, 1, 1] } }],
  ['3x3 stride 1 unpadded (SmallCNN)', { x: [2, 2, 7, 7], w: [3, 2, 3, 3], attrs: {} }],
  ['3x2 dilated, grouped, asymmetric pads', { x: [2, 4, 8, 7], w: [6, 2, 3, 2], attrs: { group: 2, dilations: [2, 1], pads: [1, 0, 2, 1] } }],
  ['1-D stride 1', { x: [2, 2, 9], w: [3, 2, 4], attrs: { pads: [2, 1] } }],
  ['3-D stride 1', { x: [1, 2, 4, 5, 4], w: [3, 2, 2, 3, 2], attrs: { pads: [1, 0, 1, 0, 1, 0] } }],
  ['3x3 stride 2 pad 1 (ResNet downsampling)', { x: [2, 3, 8, 8], w: [4, 3, 3, 3], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } }],
  ['3x3 stride 2 pad 1, odd input (crop)', { x: [2, 3, 7, 9], w: [4, 3, 3, 3], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } }],
  ['2x2 stride 3 (phases without taps)', { x: [2, 2, 8, 7], w: [3, 2, 2, 2], attrs: { strides: [3, 3] } }],
  ['depthwise 3x3 stride 2 SAME_UPPER', { x: [2, 4, 7, 6], w: [4, 1, 3, 3], attrs: { group: 4, strides: [2, 2], auto_pad: 'SAME_UPPER' } }],
  ['4x4 stride 2 pad 1, groups', { x: [1, 4, 8, 6], w: [6, 2, 4, 4], attrs: { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] } }],
];

describe('Conv input gradient as a Conv of dY', () => {
  for (const [name, g] of TAKEN) {
    it(`${name}: no ConvTranspose, finite differences agree`, async () => {
      const { ops } = await inputGrad(g, 1, { convInput: 'conv' });
      expect(ops).not.toContain('ConvTranspose');
      const inputs = [{ name: 'x', shape: g.x }, { name: 'w', shape: g.w }];
      await checkGradient(opCase('Conv', inputs, g.attrs, { seed: 7, eps: 1e-2, wrt: ['x'], forms: { convInput: 'conv' } }));
    });
  }

  it("'auto' (the default) takes the Conv form for padded layers only", async () => {
    const forms = await Promise.all(TAKEN.map(([, g]) => inputGrad(g, 1)));
    // SAME_UPPER pads the depthwise case (3x3 stride 2 on 7x6).
    const padded = TAKEN.map(([, g]) => ((g.attrs.pads as number[] | undefined) ?? []).some((p) => p > 0) || g.attrs.auto_pad === 'SAME_UPPER');
    expect(forms.map((f) => !f.ops.includes('ConvTranspose'))).toEqual(padded);
    expect(padded.filter((p) => !p).length).toBe(2); // SmallCNN's 3x3 stride 1 and the 2x2 stride 3, both unpadded
  });

  it('equals the ConvTranspose form to float32 rounding on a grid of geometries', async () => {
    let compared = 0;
    for (const k of [1, 2, 3]) for (const s of [1, 2, 3]) for (const p of [0, 1]) for (const group of [1, 2]) {
      if (p >= k) continue;
      const g: Geometry = { x: [2, 2 * group, 7, 8], w: [3 * group, 2, k, k], attrs: { group, strides: [s, s], pads: [p, p, 0, p] } };
      const old = await inputGrad(g, 11, { convInput: 'convtranspose' });
      const now = await inputGrad(g, 11, { convInput: 'conv' });
      expect(now.ops.includes('ConvTranspose'), JSON.stringify(g)).toBe(k === 1 && s > 1); // 1x1 strided: kept
      const scale = Math.max(...Array.from(old.dx, Math.abs));
      for (let i = 0; i < old.dx.length; i++) expect(Math.abs(now.dx[i] - old.dx[i]), `${JSON.stringify(g)} [${i}]`).toBeLessThanOrEqual(1e-5 * scale);
      compared++;
    }
    expect(compared).toBe(30);
  });

  it('keeps ConvTranspose where the Conv form does not fit or does not pay (mixed or dilated strides, 1x1 strided)', async () => {
    for (const [w, attrs] of [
      [[4, 3, 3, 3], { strides: [2, 1], pads: [1, 1, 1, 1] }], [[4, 3, 3, 3], { strides: [2, 2], dilations: [2, 2] }], [[5, 3, 1, 1], { strides: [2, 2] }],
    ] as [number[], Geometry['attrs']][]) {
      const g: Geometry = { x: [2, 3, 9, 8], w, attrs };
      expect((await inputGrad(g, 3)).ops).toContain('ConvTranspose');
      await checkGradient(opCase('Conv', [{ name: 'x', shape: g.x }, { name: 'w', shape: w }], attrs, { seed: 9, eps: 1e-2, wrt: ['x'] }));
    }
  });

  it('plans each stride phase with the taps that reach it', () => {
    // 3 taps, stride 2, pad 1: even outputs take tap 1, odd ones taps 2 then 0 (kernel flipped).
    const p = axisPlan(3, 2, 1, 1, 8, 4)!;
    expect(p.index).toEqual([[1, 3], [2, 0]]); // 3 = the appended zero tap
    expect([p.window, p.padBegin, p.padEnd, p.outLen]).toEqual([2, 0, 1, 4]);
    // Stride 1: the whole kernel flipped, pads (k-1)d - p.
    expect(axisPlan(3, 1, 2, 1, 10, 7)).toMatchObject({ index: [[2, 1, 0]], padBegin: 3, padEnd: 4 });
    expect(axisPlan(3, 2, 2, 0, 9, 3)).toBeNull(); // strided and dilated: ConvTranspose
  });
});
