// The central finite-difference check every gradient rule is tested with.
// Builds a one-op (or small) graph, loss = sum_i <R_i, Y_i> with fixed random R_i, differentiates
// it with our autodiff, and compares against central differences: directional derivatives along
// random directions plus single-coordinate probes. Runs in float64 when ORT's CPU kernels take the
// op in double, else float32 with looser tolerances (the result says which).
import { expect } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, tensor, type Tensor } from '../../src/onnx/ir.js';
import { buildGradient } from '../../src/autodiff/gradient.js';
import type { GradForms } from '../../src/autodiff/rule.js';
import { createSession, ort, toOrt } from '../../src/runtime/ort.js';
import { Rng } from '../../src/util/rng.js';

export interface FdInput {
  name: string;
  shape: number[];
  /** 'float' (the tested dtype), or a fixed integer tensor. Default float. */
  kind?: 'float' | 'int64' | 'bool';
  /** Fixed values (ints, or floats to avoid kinks); default random normal. */
  values?: number[];
  /** Range for random uniform float values instead of normal. */
  range?: [number, number];
  /** Feed as a constant initializer instead of a graph input (e.g. shape args). */
  constant?: boolean;
}

export interface FdCase {
  inputs: FdInput[];
  /**
   * Builds the forward graph from the input names; returns the outputs that enter the loss, or
   * those and the values the gradient must not flow through (buildGradient's stopGradient).
   */
  build: (b: GraphBuilder, names: Record<string, string>) => string[] | { outputs: string[]; constants: string[] };
  /** Names of inputs to differentiate with respect to (default all float inputs). */
  wrt?: string[];
  seed?: number;
  /** Opset of the graph (default the builder's, 17). */
  opset?: number;
  /** Force a dtype; default tries float64 then falls back to float32. */
  dtype?: 'float64' | 'float32';
  /** Number of random directions and of coordinate probes per wrt tensor. */
  directions?: number;
  probes?: number;
  /** Relative step for float64 / float32. */
  eps?: number;
  rtol?: number;
  atol?: number;
  /** Backward formulations to build (autodiff GradForms; default each rule's first). */
  forms?: GradForms;
}

export interface FdResult { dtype: 'float64' | 'float32'; maxRelErr: number; checks: number }

const floatDT = (d: 'float64' | 'float32') => (d === 'float64' ? DataType.DOUBLE : DataType.FLOAT);

async function buildCase(c: FdCase, dtype: 'float64' | 'float32', rng: Rng) {
  const b = new GraphBuilder({ name: 'fd', opset: c.opset });
  const dt = floatDT(dtype);
  const names: Record<string, string> = {};
  const feeds: Record<string, Tensor> = {};
  for (const inp of c.inputs) {
    const kind = inp.kind ?? 'float';
    const n = inp.shape.reduce((a, v) => a * v, 1);
    let t: Tensor;
    if (kind === 'int64') t = tensor(inp.name, DataType.INT64, inp.shape, inp.values ?? new Array(n).fill(0));
    else if (kind === 'bool') t = tensor(inp.name, DataType.BOOL, inp.shape, inp.values ?? new Array(n).fill(0));
    else {
      const vals = inp.values ?? Array.from({ length: n }, () => (inp.range ? rng.uniform(inp.range[0], inp.range[1]) : rng.normal()));
      t = tensor(inp.name, dt, inp.shape, vals);
    }
    if (inp.constant) names[inp.name] = b.initializer(inp.name, t);
    else {
      names[inp.name] = b.input(inp.name, t.dtype, inp.shape);
      feeds[inp.name] = t;
    }
  }
  const built = c.build(b, names);
  const [outs, constants] = Array.isArray(built) ? [built, []] : [built.outputs, built.constants];
  // loss = sum_i sum(Y_i * R_i)
  const terms: string[] = [];
  for (const y of outs) {
    const s = b.staticShape(y);
    const n = s.reduce((a, v) => a * v, 1);
    const r = b.initializer(`fd_R${terms.length}`, tensor('', b.dtype(y), s, Array.from({ length: n }, () => rng.normal())));
    terms.push(b.reduceSum(b.mul(y, r), undefined, 0));
  }
  const loss = terms.length === 1 ? terms[0] : b.op('Sum', terms);
  b.output(loss, 'loss');
  const wrt = c.wrt ?? c.inputs.filter((i) => (i.kind ?? 'float') === 'float' && !i.constant).map((i) => i.name);
  const grads = buildGradient(b, { loss: 'loss', wrt, stopGradient: constants, forms: c.forms });
  for (const w of wrt) b.output(grads.get(w)!, `d_${w}`);
  const session = await createSession(b.build(), { optimization: 'disabled', threads: 1 });
  return { session, feeds, wrt };
}

export async function checkGradient(c: FdCase): Promise<FdResult> {
  const seed = c.seed ?? 1;
  let dtype: 'float64' | 'float32' = c.dtype ?? 'float64';
  let built;
  try {
    built = await buildCase(c, dtype, new Rng(seed));
  } catch (e) {
    const msg = String((e as Error).message);
    if (c.dtype || !/Could not find an implementation|NOT_IMPLEMENTED/i.test(msg)) throw e;
    dtype = 'float32';
    built = await buildCase(c, dtype, new Rng(seed));
  }
  const { session, feeds, wrt } = built;
  const rng = new Rng(seed + 1000);
  const is64 = dtype === 'float64';
  const eps = c.eps ?? (is64 ? 1e-6 : 1e-3);
  const rtol = c.rtol ?? (is64 ? 1e-5 : 2e-2);
  const atol = c.atol ?? (is64 ? 1e-8 : 2e-3);
  const ortFeeds = (over: Record<string, Tensor> = {}) => Object.fromEntries(Object.entries({ ...feeds, ...over }).map(([k, t]) => [k, toOrt(t)]));
  const base = await session.run(ortFeeds());
  const lossAt = async (name: string, data: Float64Array | Float32Array): Promise<number> => {
    const r = await session.run(ortFeeds({ [name]: { ...feeds[name], data } }));
    return Number((r.loss as ort.Tensor).data[0]);
  };
  let maxRel = 0;
  let checks = 0;
  const compare = (analytic: number, numeric: number, what: string) => {
    const err = Math.abs(analytic - numeric);
    const rel = err / Math.max(Math.abs(numeric), Math.abs(analytic), 1e-12);
    maxRel = Math.max(maxRel, err <= atol ? 0 : rel);
    checks++;
    expect(err, `${what}: analytic ${analytic} vs numeric ${numeric} (${dtype})`).toBeLessThanOrEqual(atol + rtol * Math.max(Math.abs(numeric), Math.abs(analytic)));
  };
  for (const w of wrt) {
    const x = feeds[w].data as Float64Array | Float32Array;
    const grad = base[`d_${w}`].data as Float64Array | Float32Array;
    expect(grad.length, `gradient of ${w} has the input's size`).toBe(x.length);
    const Ctor = x.constructor as Float64ArrayConstructor | Float32ArrayConstructor;
    const scale = Math.max(1, ...Array.from(x, Math.abs).slice(0, 64));
    const h = eps * scale;
    for (let d = 0; d < (c.directions ?? 3); d++) {
      const v = Array.from({ length: x.length }, () => rng.normal());
      const plus = new Ctor(x.length);
      const minus = new Ctor(x.length);
      for (let i = 0; i < x.length; i++) { plus[i] = x[i] + h * v[i]; minus[i] = x[i] - h * v[i]; }
      const numeric = ((await lossAt(w, plus)) - (await lossAt(w, minus))) / (2 * h);
      const analytic = v.reduce((a, vi, i) => a + vi * grad[i], 0);
      compare(analytic, numeric, `d loss / d ${w} along random direction ${d}`);
    }
    for (let p = 0; p < Math.min(c.probes ?? 4, x.length); p++) {
      const i = rng.int(x.length);
      const plus = new Ctor(x); plus[i] += h;
      const minus = new Ctor(x); minus[i] -= h;
      const numeric = ((await lossAt(w, plus)) - (await lossAt(w, minus))) / (2 * h);
      compare(grad[i], numeric, `d loss / d ${w}[${i}]`);
    }
  }
  await session.release();
  return { dtype, maxRelErr: maxRel, checks };
}

/** Convenience for a single op with graph inputs in order. */
export function opCase(op: string, inputs: FdInput[], attrs: Record<string, unknown> = {}, extra: Partial<FdCase> & { outputs?: number; use?: number[] } = {}): FdCase {
  return {
    ...extra,
    inputs,
    build: (b, names) => {
      const outs = b.node(op, inputs.map((i) => names[i.name]), attrs as never, { outputs: extra.outputs ?? 1 });
      return (extra.use ?? [0]).map((k) => outs[k]);
    },
  };
}
