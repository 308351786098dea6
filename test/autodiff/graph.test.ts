// Engine-level behaviour of buildGradient: fan-out, unreachable parameters, stopGradient, integer
// shape subgraphs on the path, missing rules, and initializers that are also graph inputs.
import { describe, expect, it } from 'vitest';
import { checkGradient } from './fd.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, tensor, type Tensor } from '../../src/onnx/ir.js';
import { loadModel } from '../../src/onnx/load.js';
import { saveModel } from '../../src/onnx/save.js';
import { inferShapes } from '../../src/onnx/shapes.js';
import { buildGradient } from '../../src/autodiff/gradient.js';
import { hasGradRule, registerGrad } from '../../src/autodiff/rule.js';
import { createSession, ort, toOrt } from '../../src/runtime/ort.js';
import { Rng } from '../../src/util/rng.js';

const rand = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.normal());
const f64 = (name: string, dims: number[], vals: number[]): Tensor => tensor(name, DataType.DOUBLE, dims, vals);
async function run(b: GraphBuilder, feeds: Record<string, Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await createSession(b.build(), { optimization: 'disabled' });
  try {
    return await s.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, toOrt(t)])));
  } finally {
    await s.release();
  }
}
const values = (t: ort.Tensor) => Array.from(t.data as Float64Array);

describe('buildGradient engine', () => {
  it('fan-out: a value used several times (and twice by one node) gets the sum of its gradients', async () => {
    // Finite differences on h = tanh(x); y = h*h + h*w + exp(h).
    for (const seed of [1, 2]) {
      await checkGradient({
        seed, inputs: [{ name: 'x', shape: [3, 4] }, { name: 'w', shape: [4] }],
        build: (b, n) => { const h = b.op('Tanh', [n.x]); return [b.add(b.add(b.mul(h, h), b.mul(h, n.w)), b.op('Exp', [h]))]; },
      });
    }
    // Exact: d/dx sum(x*x + x) = 2x + 1.
    const b = new GraphBuilder();
    const x = b.input('x', DataType.DOUBLE, [4]);
    const loss = b.reduceSum(b.add(b.mul(x, x), x), undefined, 0);
    b.output(buildGradient(b, { loss, wrt: [x] }).get(x)!, 'dx');
    const out = await run(b, { x: f64('x', [4], [1, -2, 0.5, 3]) });
    expect(values(out.dx)).toEqual([3, -3, 2, 7]);
  });

  it('a parameter (or input) that does not reach the loss gets zeros of its shape', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.DOUBLE, ['N', 3]);
    const p = b.input('p', DataType.DOUBLE, ['N', 2]);
    const w = b.initializer('w', { dtype: DataType.DOUBLE, dims: [2, 5], data: new Float64Array(10).fill(1) });
    const other = b.matmul(p, w); // uses w and p, but not on the loss's path
    b.output(other, 'other');
    const loss = b.reduceSum(b.mul(x, x), undefined, 0);
    const g = buildGradient(b, { loss, wrt: [x, p, w] });
    b.output(g.get(x)!, 'dx');
    b.output(g.get(p)!, 'dp');
    b.output(g.get(w)!, 'dw');
    const out = await run(b, { x: f64('x', [3, 3], rand(new Rng(1), 9)), p: f64('p', [3, 2], rand(new Rng(2), 6)) });
    expect(out.dw.dims).toEqual([2, 5]);
    expect(values(out.dw)).toEqual(new Array(10).fill(0));
    expect(out.dp.dims).toEqual([3, 2]);
    expect(values(out.dp)).toEqual(new Array(6).fill(0));
    expect(out.dx.type).toBe('float64');
  });

  it('stopGradient on an intermediate removes exactly that path', async () => {
    // loss = sum(R * h * x) with h = exp(x * w). Stopping h must equal the graph where h is a fed
    // constant, and must differ from the full gradient.
    const rng = new Rng(3);
    const xv = rand(rng, 6);
    const wv = rand(rng, 3);
    const Rv = rand(rng, 6);
    const hv = xv.map((v, i) => Math.exp(v * wv[i % 3]));
    const build = (mode: 'stop' | 'full' | 'fed') => {
      const b = new GraphBuilder();
      const x = b.input('x', DataType.DOUBLE, [2, 3]);
      const w = b.input('w', DataType.DOUBLE, [3]);
      const R = b.initializer('R', { dtype: DataType.DOUBLE, dims: [2, 3], data: Float64Array.from(Rv) });
      const h = mode === 'fed' ? b.input('h', DataType.DOUBLE, [2, 3]) : b.op('Exp', [b.mul(x, w)]);
      const loss = b.reduceSum(b.mul(R, b.mul(h, x)), undefined, 0);
      const g = buildGradient(b, { loss, wrt: [x, w], stopGradient: mode === 'stop' ? [h] : [] });
      b.output(g.get(x)!, 'dx');
      b.output(g.get(w)!, 'dw');
      return b;
    };
    const feeds = { x: f64('x', [2, 3], xv), w: f64('w', [3], wv) };
    const stop = await run(build('stop'), feeds);
    const fed = await run(build('fed'), { ...feeds, h: f64('h', [2, 3], hv) });
    const full = await run(build('full'), feeds);
    values(stop.dx).forEach((v, i) => expect(v).toBeCloseTo(values(fed.dx)[i], 12));
    values(stop.dx).forEach((v, i) => expect(v).toBeCloseTo(Rv[i] * hv[i], 12));
    expect(values(stop.dw)).toEqual([0, 0, 0]);
    expect(values(fed.dw)).toEqual([0, 0, 0]);
    expect(Math.max(...values(full.dx).map((v, i) => Math.abs(v - values(stop.dx)[i])))).toBeGreaterThan(1e-3);
  });

  it('an exporter-style flatten (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) differentiates', async () => {
    const flatten = (b: GraphBuilder, x: string): string => {
      const n = b.op('Gather', [b.shapeOf(x), b.constI64(0, [])], { axis: 0 });
      const target = b.op('Concat', [b.unsqueeze(n, [0]), b.constI64([-1])], { axis: 0 });
      return b.reshape(x, target);
    };
    for (const seed of [1, 2]) {
      await checkGradient({
        seed, inputs: [{ name: 'x', shape: [2, 3, 2] }, { name: 'w', shape: [6, 4] }],
        build: (b, n) => [b.op('Tanh', [b.matmul(flatten(b, b.op('Sigmoid', [n.x])), n.w)])],
      });
    }
    // Same with a symbolic batch: the reshape target is only known at run time.
    const rng = new Rng(5);
    const xv = rand(rng, 12);
    const wv = rand(rng, 24);
    const grads = async (batch: 'N' | 2) => {
      const b = new GraphBuilder();
      const x = b.input('x', DataType.DOUBLE, [batch, 3, 2]);
      const w = b.input('w', DataType.DOUBLE, [6, 4]);
      const loss = b.reduceSum(b.op('Tanh', [b.matmul(flatten(b, b.op('Sigmoid', [x])), w)]), undefined, 0);
      const g = buildGradient(b, { loss, wrt: [x, w] });
      b.output(g.get(x)!, 'dx');
      b.output(g.get(w)!, 'dw');
      return run(b, { x: f64('x', [2, 3, 2], xv), w: f64('w', [6, 4], wv) });
    };
    const [dyn, stat] = [await grads('N'), await grads(2)];
    expect(dyn.dx.dims).toEqual([2, 3, 2]);
    values(dyn.dx).forEach((v, i) => expect(v).toBeCloseTo(values(stat.dx)[i], 12));
    values(dyn.dw).forEach((v, i) => expect(v).toBeCloseTo(values(stat.dw)[i], 12));
  });

  it('an op without a rule is an error naming the op and the node and listing supported ops', () => {
    const op = ['ReduceProd', 'CumSum', 'Hardmax'].find((o) => !hasGradRule(o));
    expect(op).toBeDefined();
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const y = b.op(op!, [b.op('Tanh', [x])], {}, { name: 'mystery' });
    const loss = b.reduceSum(y, undefined, 0);
    let msg = '';
    try { buildGradient(b, { loss, wrt: [x] }); } catch (e) { msg = (e as Error).message; }
    expect(msg).toContain('"mystery_node"');
    expect(msg).toContain(`op ${op} has no gradient rule`);
    expect(msg).toMatch(/Supported ops: .*\bMatMul\b.*\bSoftmax\b/);
    expect(msg).not.toMatch(new RegExp(`Supported ops: .*\\b${op}\\b`));
  });

  it('an op of another domain, or with no shape inference, is an error too (not a silent zero gradient)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    // Its output's dtype is unknown to shape inference; the engine must still treat it as a float path.
    const [loss] = b.node('FusedThing', [b.op('Tanh', [x])], {}, { name: 'custom', domain: 'com.example' });
    expect(b.dtype(loss)).toBe(DataType.UNDEFINED);
    expect(() => buildGradient(b, { loss, wrt: [x] })).toThrow(/"custom_node": op com\.example\.FusedThing has no gradient rule/);
  });

  it('a rule that returns fewer gradients than the inputs needing one is an error naming the op', () => {
    registerGrad({ op: 'TestShortRule', grad: () => [] });
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const [loss] = b.node('TestShortRule', [b.op('Tanh', [x])], {}, { name: 'short' });
    expect(() => buildGradient(b, { loss, wrt: [x] })).toThrow(/gradient rule of TestShortRule returned 0 gradients for node "short_node" with 1 inputs \(none for input 0/);
  });

  it('initializers also listed as graph inputs (IR < 4 style) differentiate as parameters', async () => {
    const rng = new Rng(7);
    const wv = rand(rng, 12);
    const xv = rand(rng, 6);
    const make = (wMode: 'initializer+input' | 'input') => {
      const b0 = new GraphBuilder();
      const x = b0.input('x', DataType.DOUBLE, [2, 3]);
      const w = wMode === 'input' ? b0.input('W', DataType.DOUBLE, [3, 4]) : b0.initializer('W', { dtype: DataType.DOUBLE, dims: [3, 4], data: Float64Array.from(wv) });
      if (wMode === 'initializer+input') b0.graph.inputs.push({ name: 'W', dtype: DataType.DOUBLE, shape: [3, 4] });
      b0.output(b0.reduceSum(b0.op('Tanh', [b0.matmul(x, w)]), undefined, 0), 'loss');
      // Through the wire format, as an older exporter's file would arrive.
      const model = loadModel(saveModel({ ...b0.build(), irVersion: 3 }));
      const b = new GraphBuilder({ from: model.graph, opset: 17, facts: inferShapes(model.graph, 17) });
      b.output(buildGradient(b, { loss: 'loss', wrt: ['W', 'x'] }).get('W')!, 'dW');
      return b;
    };
    const b = make('initializer+input');
    expect(b.graph.inputs.map((v) => v.name)).toContain('W');
    expect(b.graph.initializers.has('W')).toBe(true);
    const ref = await run(make('input'), { x: f64('x', [2, 3], xv), W: f64('W', [3, 4], wv) });
    const got = await run(b, { x: f64('x', [2, 3], xv) });
    expect(got.dW.dims).toEqual([3, 4]);
    values(got.dW).forEach((v, i) => expect(v).toBeCloseTo(values(ref.dW)[i], 12));
    // (onnxruntime-node leaves initializers out of session.inputNames and ignores a feed for them,
    // so the initializer's value is what the gradient is computed at.)
  });
});
