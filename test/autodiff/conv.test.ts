import { describe, expect, it } from 'vitest';
import { checkGradient, opCase, type FdInput } from './fd.js';
import { Rng } from '../../src/util/rng.js';
import { getGradRule, type GradForms } from '../../src/autodiff/rule.js';
import { buildGradient } from '../../src/autodiff/gradient.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, tensor, type Dim } from '../../src/onnx/ir.js';
import { createSession, toOrt } from '../../src/runtime/ort.js';
import '../../src/autodiff/rules/index.js';
import { COLS_PER_IMAGE } from '../../src/autodiff/rules/conv_weight_grad.js';

interface ConvConfig {
  x: number[]; w: number[]; bias: boolean;
  attrs: { group: number; strides: number[]; dilations: number[]; pads?: number[]; auto_pad?: string };
}

/** A random small Conv: 1-D or 2-D (3-D now and then), dense / grouped / depthwise, any padding. */
function convConfig(seed: number): ConvConfig {
  const rng = new Rng(seed);
  const sp = seed % 7 === 0 ? 3 : 1 + rng.int(2);
  const kind = rng.int(3); // 0 dense, 1 grouped, 2 depthwise
  const group = kind === 0 ? 1 : kind === 1 ? 2 : 2 + rng.int(2);
  const cig = kind === 2 ? 1 : 1 + rng.int(2);
  const cog = 1 + rng.int(kind === 2 ? 2 : 3);
  const kernel = Array.from({ length: sp }, () => 1 + rng.int(3));
  const strides = Array.from({ length: sp }, () => 1 + rng.int(3));
  const autoPad = ['NOTSET', 'NOTSET', 'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'][rng.int(6)];
  // ORT's Conv rejects dilations with SAME_* auto_pad.
  const dilations = Array.from({ length: sp }, () => (autoPad.startsWith('SAME') ? 1 : 1 + rng.int(2)));
  const ek = kernel.map((k, i) => (k - 1) * dilations[i] + 1);
  const pads = [...ek, ...ek].map((e) => rng.int(e));
  const spatial = ek.map((e) => e + rng.int(sp === 3 ? 3 : 6));
  const attrs: ConvConfig['attrs'] = { group, strides, dilations };
  if (autoPad === 'NOTSET') attrs.pads = pads; else attrs.auto_pad = autoPad;
  return { x: [1 + rng.int(2), cig * group, ...spatial], w: [cog * group, cig, ...kernel], bias: rng.next() < 0.6, attrs };
}

const describeConfig = (c: ConvConfig) =>
  `x[${c.x}] w[${c.w}] g${c.attrs.group} s[${c.attrs.strides}] d[${c.attrs.dilations}] ${c.attrs.auto_pad ?? `p[${c.attrs.pads}]`}${c.bias ? ' +bias' : ''}`;

function convCase(c: ConvConfig, seed: number, wrt?: string[], forms?: GradForms) {
  const inputs: FdInput[] = [{ name: 'x', shape: c.x }, { name: 'w', shape: c.w }];
  if (c.bias) inputs.push({ name: 'b', shape: [c.w[0]] });
  // Conv is linear in each input, so a large step is exact and keeps float32 rounding small.
  return opCase('Conv', inputs, c.attrs, { seed, eps: 1e-2, wrt, forms });
}

describe('Conv gradient', () => {
  for (let seed = 1; seed <= 14; seed++) {
    const c = convConfig(seed);
    it(`seed ${seed}: ${describeConfig(c)}`, async () => {
      const r = await checkGradient(convCase(c, seed));
      expect(r.dtype).toBe('float32'); // ORT CPU has no double Conv/ConvTranspose
    });
  }

  // The WebGPU form of dW (im2col with the channels as a batch, group-1 Conv): the same random
  // geometries (1-D, 2-D, 3-D; dense, grouped, depthwise; strides, dilations, auto_pad).
  for (let seed = 1; seed <= 14; seed++) {
    const c = convConfig(seed);
    it(`dW by batched im2col, seed ${seed}: ${describeConfig(c)}`, async () => {
      await checkGradient(convCase(c, 100 + seed, ['w'], { convWeight: 'batched' }));
    });
  }

  it('strided convs whose windows miss the input end (output_padding case)', async () => {
    // (H + pads - k) % stride != 0 along both axes, and with asymmetric pads.
    for (const [i, attrs] of [
      { strides: [2, 3], pads: [0, 0, 0, 0] },
      { strides: [3, 2], pads: [1, 0, 0, 1] },
      { strides: [2, 2], pads: [0, 1, 1, 0], dilations: [2, 1] },
    ].entries()) {
      await checkGradient(opCase('Conv', [{ name: 'x', shape: [2, 3, 8, 7] }, { name: 'w', shape: [4, 3, 3, 2] }], attrs, { seed: 50 + i, eps: 1e-2 }));
    }
  });

  it('builds only the gradients asked for (input only, weights only)', async () => {
    const c: ConvConfig = { x: [2, 4, 7, 6], w: [6, 2, 3, 3], bias: true, attrs: { group: 2, strides: [2, 1], dilations: [1, 2], pads: [1, 2, 0, 1] } };
    await checkGradient(convCase(c, 61, ['x']));
    await checkGradient(convCase(c, 62, ['w', 'b']));
  });

  it('1x1 stride-1 conv (im2col is x itself)', async () => {
    await checkGradient(opCase('Conv', [{ name: 'x', shape: [2, 3, 4, 3] }, { name: 'w', shape: [5, 3, 1, 1] }, { name: 'b', shape: [5] }], {}, { seed: 65, eps: 1e-2 }));
    await checkGradient(opCase('Conv', [{ name: 'x', shape: [2, 4, 5] }, { name: 'w', shape: [4, 2, 1] }], { group: 2 }, { seed: 66, eps: 1e-2 }));
  });

  it('more output channels than output positions (the batch folded into the weight-gradient MatMul)', async () => {
    // Cog > L: 6 channels on 2x2 outputs, grouped 5 per group on 2x1, strided 4 on 1x2, with bias.
    await checkGradient(opCase('Conv', [{ name: 'x', shape: [3, 2, 2, 2] }, { name: 'w', shape: [6, 2, 3, 3] }], { pads: [1, 1, 1, 1] }, { seed: 67, eps: 1e-2 }));
    await checkGradient(opCase('Conv', [{ name: 'x', shape: [2, 4, 3, 1] }, { name: 'w', shape: [10, 2, 2, 1] }, { name: 'b', shape: [10] }], { group: 2 }, { seed: 68, eps: 1e-2 }));
    await checkGradient(opCase('Conv', [{ name: 'x', shape: [2, 3, 3, 4] }, { name: 'w', shape: [4, 3, 3, 3] }], { strides: [2, 2] }, { seed: 69, eps: 1e-2, wrt: ['w'] }));
  });

  it('the batch-folded weight gradient equals the per-image form to float32 rounding', async () => {
    // A deep-layer shape (64 channels on 4x4 outputs, as PreAct ResNet's layer4 at 32x32 inputs).
    const dw = async (form: GradForms['convWeightFold']) => {
      const rng = new Rng(70);
      const rand = (dims: number[]) => tensor('', DataType.FLOAT, dims, Array.from({ length: dims.reduce((a, v) => a * v, 1) }, () => rng.normal()));
      const b = new GraphBuilder();
      const x = b.input('x', DataType.FLOAT, [8, 32, 8, 8]);
      const w = b.input('w', DataType.FLOAT, [64, 32, 3, 3]);
      const y = b.op('Conv', [x, w], { strides: [2, 2], pads: [1, 1, 1, 1] });
      b.output(b.reduceSum(b.mul(y, b.initializer('R', rand([8, 64, 4, 4]))), undefined, 0), 'loss');
      b.output(buildGradient(b, { loss: 'loss', wrt: ['w'], forms: { convWeightFold: form } }).get('w')!, 'dw');
      const ops = b.graph.nodes.map((n) => n.opType);
      const sess = await createSession(b.build(), { optimization: 'disabled', threads: 1 });
      const out = await sess.run({ x: toOrt(rand([8, 32, 8, 8])), w: toOrt(rand([64, 32, 3, 3])) });
      await sess.release();
      return { ops, dw: out.dw.data as Float32Array };
    };
    const [now, before] = [await dw('auto'), await dw('per-image')];
    // The earlier form sums per-image products over the batch; the new one has no such ReduceSum.
    expect(before.ops.filter((o) => o === 'ReduceSum').length).toBe(now.ops.filter((o) => o === 'ReduceSum').length + 1);
    let worst = 0;
    for (let i = 0; i < now.dw.length; i++) worst = Math.max(worst, Math.abs(now.dw[i] - before.dw[i]) / (1 + Math.abs(before.dw[i])));
    expect(worst).toBeLessThan(1e-5);
  });

  it('large im2col columns are taken a few input channels at a time (finite differences, and equal to the whole columns)', async () => {
    // K * L = 9 * 43 * 43 > COLS_PER_IMAGE floats per image: chunks of 8 channels (the least), 8 + 2.
    expect(9 * 43 * 43).toBeGreaterThan(COLS_PER_IMAGE);
    await checkGradient(opCase('Conv', [{ name: 'x', shape: [2, 10, 45, 45] }, { name: 'w', shape: [3, 10, 3, 3] }], {}, { seed: 71, eps: 1e-2, wrt: ['w'] }));
    // Against the whole columns, batch symbolic: (a) padded and strided, 30 x 30 outputs, per-image
    // products over 8 + 8 + 4 channels; (b) more output channels than the 4 x 4 positions, the batch
    // folded into the product, 113 + 7 channels.
    const dw = async (cols: GradForms['convWeightCols'], xs: number[], ws: number[], attrs: Record<string, number[]>, ys: number[]) => {
      const rng = new Rng(72);
      const rand = (dims: number[]) => tensor('', DataType.FLOAT, dims, Array.from({ length: dims.reduce((a, v) => a * v, 1) }, () => rng.normal()));
      const b = new GraphBuilder();
      const x = b.input('x', DataType.FLOAT, ['N', ...xs.slice(1)]);
      const w = b.input('w', DataType.FLOAT, ws);
      const y = b.op('Conv', [x, w], attrs);
      b.output(b.reduceSum(b.mul(y, b.initializer('R', rand(ys))), undefined, 0), 'loss');
      b.output(buildGradient(b, { loss: 'loss', wrt: ['w'], forms: { convWeightCols: cols } }).get('w')!, 'dw');
      const ims = b.graph.nodes.filter((n) => n.name.includes('conv_im2col')).length;
      const sess = await createSession(b.build(), { optimization: 'disabled', threads: 1 });
      const out = await sess.run({ x: toOrt(rand(xs)), w: toOrt(rand(ws)) });
      await sess.release();
      return { ims, dw: out.dw.data as Float32Array };
    };
    const cases: { x: number[]; w: number[]; attrs: Record<string, number[]>; y: number[]; chunks: number }[] = [
      { x: [3, 20, 60, 60], w: [6, 20, 3, 3], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, y: [3, 6, 30, 30], chunks: 3 },
      { x: [3, 120, 4, 4], w: [24, 120, 3, 3], attrs: { pads: [1, 1, 1, 1] }, y: [3, 24, 4, 4], chunks: 2 },
    ];
    for (const c of cases) {
      const [chunked, whole] = [await dw('chunked', c.x, c.w, c.attrs, c.y), await dw('whole', c.x, c.w, c.attrs, c.y)];
      expect([chunked.ims, whole.ims]).toEqual([c.chunks, 1]);
      let worst = 0;
      for (let i = 0; i < whole.dw.length; i++) worst = Math.max(worst, Math.abs(chunked.dw[i] - whole.dw[i]) / (1 + Math.abs(whole.dw[i])));
      expect(worst).toBeLessThan(1e-5);
    }
  });

  it('a small CNN with a symbolic batch dim gives the same gradients as with a static one', async () => {
    // conv+bias -> BN (training) -> relu -> maxpool -> depthwise strided SAME conv -> avgpool -> GAP -> gemm
    const rng = new Rng(3);
    const N = 3;
    const params = new Map<string, Float32Array>();
    const xv = Float32Array.from({ length: N * 2 * 9 * 9 }, () => rng.normal());
    const run = async (batch: Dim) => {
      const b = new GraphBuilder();
      const x = b.input('x', DataType.FLOAT, [batch, 2, 9, 9]);
      const p = (name: string, dims: number[]) => {
        if (!params.has(name)) params.set(name, Float32Array.from({ length: dims.reduce((a, v) => a * v, 1) }, () => 0.3 * rng.normal()));
        return b.initializer(name, { dtype: DataType.FLOAT, dims, data: params.get(name)! });
      };
      let h = b.conv(x, p('w1', [4, 2, 3, 3]), p('b1', [4]), { pads: [1, 1, 1, 1] });
      h = b.relu(b.node('BatchNormalization', [h, p('s1', [4]), p('o1', [4]), p('m1', [4]), p('v1', [4])], { training_mode: 1 }, { outputs: 3 })[0]);
      h = b.maxPool(h, { kernel_shape: [2, 2], strides: [2, 2] });
      h = b.conv(h, p('w2', [8, 1, 3, 3]), undefined, { group: 4, strides: [2, 2], auto_pad: 'SAME_UPPER' });
      h = b.flatten(b.globalAveragePool(b.averagePool(h, { kernel_shape: [2, 2], pads: [1, 1, 0, 0] })));
      const logits = b.gemm(h, p('fc', [5, 8]), undefined, { transB: 1 });
      b.output(b.reduceSum(b.mul(logits, logits), undefined, 0), 'loss');
      const wrt = ['x', 'w1', 'b1', 's1', 'o1', 'w2', 'fc'];
      const grads = buildGradient(b, { loss: 'loss', wrt });
      for (const w of wrt) b.output(grads.get(w)!, `d_${w}`);
      const session = await createSession(b.build(), { optimization: 'all', threads: 1 });
      const r = await session.run({ x: toOrt(tensor('x', DataType.FLOAT, [N, 2, 9, 9], xv)) });
      await session.release();
      return r;
    };
    const fixed = await run(N);
    const symbolic = await run('N');
    for (const k of Object.keys(fixed)) {
      expect(symbolic[k].dims, k).toEqual(fixed[k].dims);
      expect(Array.from(symbolic[k].data as Float32Array), k).toEqual(Array.from(fixed[k].data as Float32Array));
    }
    // The bias before a training-mode BN has (numerically) zero gradient: a cheap sanity check.
    expect(Math.max(...Array.from(fixed.d_b1.data as Float32Array, Math.abs))).toBeLessThan(1e-5);
  });

  it('the harness rejects a wrong Conv rule (sign of dW flipped, or dX spatially shifted)', async () => {
    const rule = getGradRule('Conv')!;
    const original = rule.grad;
    const c: ConvConfig = { x: [2, 3, 6, 6], w: [4, 3, 3, 3], bias: false, attrs: { group: 1, strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1] } };
    try {
      rule.grad = (ctx) => { const r = original(ctx); return [r[0], r[1] && ctx.b.neg(r[1]), r[2]]; };
      await expect(checkGradient(convCase(c, 71, ['w']))).rejects.toThrow(/analytic/);
      // A plausible bug: the transposed conv's pads off by one (gradient shifted by a pixel).
      rule.grad = (ctx) => {
        const r = original(ctx);
        const n = ctx.b.graph.nodes.find((k) => k.outputs[0] === r[0]);
        if (n?.attributes.pads?.type === 'ints') n.attributes.pads = { type: 'ints', value: [0, 0, 2, 2] };
        return r;
      };
      await expect(checkGradient(convCase(c, 72, ['x']))).rejects.toThrow(/analytic/);
    } finally {
      rule.grad = original;
    }
    await checkGradient(convCase(c, 73)); // and the real rule passes on the same case
  });
});
