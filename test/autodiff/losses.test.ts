// Loss subgraphs: values against plain-TypeScript references (torch's formulas), gradients w.r.t.
// the logits by finite differences, and a run at opset 11 with a symbolic batch.
import { describe, expect, it } from 'vitest';
import { checkGradient } from './fd.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, tensor } from '../../src/onnx/ir.js';
import { buildGradient } from '../../src/autodiff/gradient.js';
import { correctCount, crossEntropy, cwMargin, dlr, dlrTargeted, klDivergence } from '../../src/autodiff/losses.js';
import { createSession, ort, toOrt } from '../../src/runtime/ort.js';
import { Rng } from '../../src/util/rng.js';

// ---- references -------------------------------------------------------------------------------
type Rows = number[][];
const logSoftmax = (z: number[]): number[] => { const m = Math.max(...z); const l = Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0)) + m; return z.map((v) => v - l); };
const mean = (v: number[]) => v.reduce((a, x) => a + x, 0) / v.length;
const refCE = (z: Rows, y: number[], s = 0) => z.map((row, i) => { const lp = logSoftmax(row); return (1 - s) * -lp[y[i]] + s * -mean(lp); });
const refKL = (p: Rows, q: Rows) => p.map((row, i) => { const lp = logSoftmax(row); const lq = logSoftmax(q[i]); return lp.reduce((a, v, c) => a + Math.exp(v) * (v - lq[c]), 0); });
const maxOther = (row: number[], y: number) => Math.max(...row.filter((_, j) => j !== y));
const refCW = (z: Rows, y: number[], kappa?: number) => z.map((row, i) => {
  const m = maxOther(row, y[i]) - row[y[i]];
  return kappa === undefined ? m : -Math.max(row[y[i]] - maxOther(row, y[i]) + kappa, 0);
});
const sortDesc = (row: number[]) => [...row].sort((a, b) => b - a);
const refDLR = (z: Rows, y: number[]) => z.map((row, i) => {
  const s = sortDesc(row);
  const top = row.indexOf(s[0]);
  return -(row[y[i]] - (top === y[i] ? s[1] : s[0])) / (s[0] - s[2] + 1e-12);
});
const refDLRT = (z: Rows, y: number[], t: number[]) => z.map((row, i) => {
  const s = sortDesc(row);
  return -(row[y[i]] - row[t[i]]) / (s[0] - 0.5 * (s[2] + s[3]) + 1e-12);
});

const randRows = (rng: Rng, n: number, c: number, scale = 2): Rows => Array.from({ length: n }, () => Array.from({ length: c }, () => scale * rng.normal()));
const randLabels = (rng: Rng, n: number, c: number) => Array.from({ length: n }, () => rng.int(c));

/** Builds `make` on [N, C] logits inputs (float64, N symbolic), runs it, returns the output values. */
async function evalLoss(make: (b: GraphBuilder, z: string, z2: string, y: string, t: string) => string, z: Rows, z2: Rows, y: number[], t: number[], opts: { opset?: number; dtype?: DataType } = {}): Promise<number[]> {
  const dt = opts.dtype ?? DataType.DOUBLE;
  const b = new GraphBuilder({ opset: opts.opset });
  const c = z[0].length;
  const zi = b.input('z', dt, ['N', c]);
  const z2i = b.input('z2', dt, ['N', c]);
  const yi = b.input('y', DataType.INT64, ['N']);
  const ti = b.input('t', DataType.INT64, ['N']);
  b.output(make(b, zi, z2i, yi, ti), 'out');
  const s = await createSession(b.build());
  const n = z.length;
  const r = await s.run({
    z: toOrt(tensor('z', dt, [n, c], z.flat())), z2: toOrt(tensor('z2', dt, [n, c], z2.flat())),
    y: toOrt(tensor('y', DataType.INT64, [n], y)), t: toOrt(tensor('t', DataType.INT64, [n], t)),
  });
  await s.release();
  return Array.from(r.out.data as ArrayLike<number | bigint>, Number);
}

const close = (a: number[], b: number[], digits = 10) => { expect(a.length).toBe(b.length); a.forEach((v, i) => expect(v, `element ${i}`).toBeCloseTo(b[i], digits)); };
const sum = (v: number[]) => v.reduce((a, x) => a + x, 0);

describe('loss values against references', () => {
  const rng = new Rng(11);
  const N = 5;
  const C = 6;
  const z = randRows(rng, N, C);
  const z2 = randRows(rng, N, C);
  const y = randLabels(rng, N, C);
  const t = y.map((v) => (v + 1 + rng.int(C - 1)) % C);

  it('cross-entropy on 3 examples equals the manual log-softmax computation', async () => {
    const z3 = [[1, 2, 3], [0.5, -1, 0], [-2, 4, 1]];
    const y3 = [2, 0, 1];
    const manual = z3.map((row, i) => Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[y3[i]]);
    const got = await evalLoss((b, zz, _z2, yy) => crossEntropy(b, zz, yy, { reduction: 'none' }), z3, z3, y3, y3);
    close(got, manual, 6);
    close(await evalLoss((b, zz, _z2, yy) => crossEntropy(b, zz, yy), z3, z3, y3, y3), [mean(manual)], 6);
  });
  it('cross-entropy: reductions and label smoothing as torch', async () => {
    close(await evalLoss((b, zz, _z2, yy) => crossEntropy(b, zz, yy, { reduction: 'none' }), z, z2, y, t), refCE(z, y));
    close(await evalLoss((b, zz, _z2, yy) => crossEntropy(b, zz, yy, { reduction: 'sum' }), z, z2, y, t), [sum(refCE(z, y))]);
    for (const s of [0.1, 0.3]) {
      close(await evalLoss((b, zz, _z2, yy) => crossEntropy(b, zz, yy, { labelSmoothing: s }), z, z2, y, t), [mean(refCE(z, y, s))]);
    }
    // Smoothed target (1 - s) * onehot + s / C written out, for s = 0.2.
    const s = 0.2;
    const viaTarget = z.map((row, i) => { const lp = logSoftmax(row); return -lp.reduce((a, v, c) => a + ((c === y[i] ? 1 - s : 0) + s / C) * v, 0); });
    close(await evalLoss((b, zz, _z2, yy) => crossEntropy(b, zz, yy, { labelSmoothing: s, reduction: 'none' }), z, z2, y, t), viaTarget);
  });
  it('KL divergence: TRADES batchmean, sum, none, mean', async () => {
    const per = refKL(z, z2);
    close(await evalLoss((b, p, q) => klDivergence(b, p, q), z, z2, y, t), [sum(per) / N]);
    close(await evalLoss((b, p, q) => klDivergence(b, p, q, { reduction: 'sum' }), z, z2, y, t), [sum(per)]);
    close(await evalLoss((b, p, q) => klDivergence(b, p, q, { reduction: 'none' }), z, z2, y, t), per);
    close(await evalLoss((b, p, q) => klDivergence(b, p, q, { reduction: 'mean' }), z, z2, y, t), [sum(per) / (N * C)]);
    close(await evalLoss((b, p) => klDivergence(b, p, p), z, z2, y, t), [0]);
  });
  it('CW margin, with and without kappa', async () => {
    close(await evalLoss((b, zz, _z2, yy) => cwMargin(b, zz, yy), z, z2, y, t), refCW(z, y));
    for (const kappa of [0, 0.5, 5]) close(await evalLoss((b, zz, _z2, yy) => cwMargin(b, zz, yy, { kappa }), z, z2, y, t), refCW(z, y, kappa));
    close(await evalLoss((b, zz, _z2, yy) => cwMargin(b, zz, yy, { reduction: 'mean' }), z, z2, y, t), [mean(refCW(z, y))]);
  });
  it('DLR and targeted DLR as AutoAttack', async () => {
    // Make some examples correctly classified so both branches of the DLR numerator are used.
    const zc = z.map((row, i) => (i % 2 ? row.map((v, j) => (j === y[i] ? v + 10 : v)) : row));
    close(await evalLoss((b, zz, _z2, yy) => dlr(b, zz, yy), zc, z2, y, t), refDLR(zc, y));
    close(await evalLoss((b, zz, _z2, yy, tt) => dlrTargeted(b, zz, yy, tt), zc, z2, y, t), refDLRT(zc, y, t));
  });
  it('correct count (int64 and float), first maximum wins ties as torch.argmax', async () => {
    const zc = z.map((row, i) => (i % 2 ? row.map((v, j) => (j === y[i] ? v + 10 : v)) : row));
    const expected = zc.filter((row, i) => row.indexOf(Math.max(...row)) === y[i]).length;
    expect(await evalLoss((b, zz, _z2, yy) => correctCount(b, zz, yy), zc, z2, y, t)).toEqual([expected]);
    expect(await evalLoss((b, zz, _z2, yy) => correctCount(b, zz, yy, { dtype: 'float' }), zc, z2, y, t)).toEqual([expected]);
    expect(await evalLoss((b, zz, _z2, yy) => correctCount(b, zz, yy), [[1, 3, 3], [2, 2, 0]], [[0, 0, 0], [0, 0, 0]], [2, 0], [0, 0])).toEqual([1]);
  });
});

describe('loss gradients w.r.t. the logits (finite differences)', () => {
  for (const seed of [1, 2, 3]) {
    const rng = new Rng(seed);
    const N = 2 + rng.int(3);
    const C = 4 + rng.int(4);
    const y = randLabels(rng, N, C);
    const t = y.map((v) => (v + 1 + rng.int(C - 1)) % C);
    const logits = { name: 'z', shape: [N, C], range: [-3, 3] as [number, number] };
    const labels = { name: 'y', shape: [N], kind: 'int64' as const, values: y };
    const smoothing = rng.uniform(0.05, 0.3);
    it(`cross-entropy (plain, smoothed; mean/sum/none) (seed ${seed})`, async () => {
      const r = await checkGradient({ seed, inputs: [logits, labels], build: (b, n) => [crossEntropy(b, n.z, n.y)] });
      expect(r.dtype).toBe('float64');
      await checkGradient({ seed, inputs: [logits, labels], build: (b, n) => [crossEntropy(b, n.z, n.y, { labelSmoothing: smoothing, reduction: 'sum' })] });
      await checkGradient({ seed, inputs: [logits, labels], build: (b, n) => [crossEntropy(b, n.z, n.y, { labelSmoothing: smoothing, reduction: 'none' })] });
    });
    it(`KL divergence w.r.t. both logits (seed ${seed})`, async () => {
      const r = await checkGradient({ seed, inputs: [logits, { name: 'q', shape: [N, C] }], build: (b, n) => [klDivergence(b, n.z, n.q), klDivergence(b, n.z, n.q, { reduction: 'none' })] });
      expect(r.dtype).toBe('float64');
    });
    it(`CW margin, DLR, targeted DLR (seed ${seed})`, async () => {
      await checkGradient({ seed, inputs: [logits, labels], build: (b, n) => [cwMargin(b, n.z, n.y)] });
      await checkGradient({ seed, inputs: [logits, labels], build: (b, n) => [cwMargin(b, n.z, n.y, { kappa: 0.3, reduction: 'sum' })] });
      const r = await checkGradient({ seed, inputs: [logits, labels], build: (b, n) => [dlr(b, n.z, n.y)] });
      expect(r.dtype).toBe('float64');
      await checkGradient({ seed, inputs: [logits, labels, { name: 't', shape: [N], kind: 'int64', values: t }], build: (b, n) => [dlrTargeted(b, n.z, n.y, n.t, { reduction: 'mean' })] });
    });
  }
});

describe('losses in older opsets, float32, symbolic batch', () => {
  it('opset 11: every loss builds, runs and differentiates', async () => {
    const b = new GraphBuilder({ opset: 11 });
    const z = b.input('z', DataType.FLOAT, ['N', 5]);
    const q = b.input('q', DataType.FLOAT, ['N', 5]);
    const y = b.input('y', DataType.INT64, ['N']);
    const losses = [
      crossEntropy(b, z, y, { labelSmoothing: 0.1 }),
      klDivergence(b, q, z),
      b.reduceSum(cwMargin(b, z, y, { kappa: 1 }), undefined, 0),
      dlr(b, z, y, { reduction: 'mean' }),
      dlrTargeted(b, z, y, b.op('ArgMin', [z], { axis: 1, keepdims: 0 }), { reduction: 'sum' }),
    ];
    const total = b.op('Sum', losses);
    b.output(total, 'total');
    b.output(correctCount(b, z, y), 'correct');
    const g = buildGradient(b, { loss: total, wrt: [z] }).get(z)!;
    b.output(g, 'dz');
    const s = await createSession(b.build(), { optimization: 'all' });
    const rng = new Rng(4);
    const zr = randRows(rng, 3, 5);
    const qr = randRows(rng, 3, 5);
    const yr = [0, 4, 2];
    const out = await s.run({ z: toOrt(tensor('z', DataType.FLOAT, [3, 5], zr.flat())), q: toOrt(tensor('q', DataType.FLOAT, [3, 5], qr.flat())), y: toOrt(tensor('y', DataType.INT64, [3], yr)) });
    const tr = zr.map((row) => row.indexOf(Math.min(...row)));
    const expected = mean(refCE(zr, yr, 0.1)) + sum(refKL(qr, zr)) / 3 + sum(refCW(zr, yr, 1)) + mean(refDLR(zr, yr)) + sum(refDLRT(zr, yr, tr));
    expect(Number((out.total as ort.Tensor).data[0])).toBeCloseTo(expected, 4);
    expect(out.dz.dims).toEqual([3, 5]);
    expect(Array.from(out.dz.data as Float32Array).every(Number.isFinite)).toBe(true);
    expect(out.correct.type).toBe('int64');
    await s.release();
  });
});
