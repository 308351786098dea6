// Shape and dtype inference for the ops this project builds or differentiates, plus constant
// folding of small int64 tensors so exporter-style shape subgraphs (Shape -> Gather -> Concat ->
// Reshape) resolve to static shapes. Unknown ops leave their outputs unknown rather than failing.
import { OnnxError } from './errors.js';
import { DataType, isDefaultDomain, isStatic, numel, tensor, type Dim, type Graph, type Node, type Shape, type Tensor } from './ir.js';
import { normAxis } from '../util/dims.js';
import { attrInt, attrInts, attrString, windowAttrs } from './attrs.js';

export interface ValueFact {
  dtype: DataType;
  shape: Shape;
  /** Known value for small constant tensors (initializers, Constant, folded shape arithmetic). */
  value?: Tensor;
  /**
   * Elements of a small int tensor known only as dims, some symbolic (Shape of a [batch, 16]
   * tensor is ['batch', 16]): shape arithmetic over a dynamic batch still resolves Expand/Reshape.
   */
  dims?: Dim[];
}
export type Facts = Map<string, ValueFact>;

interface Ctx {
  fact(name: string): ValueFact | undefined;
  opset: number;
}
type Infer = (n: Node, c: Ctx) => ValueFact[];

const FOLD_LIMIT = 64; // only fold small tensors (shape arithmetic), never weights

/** The integer values of a known int tensor, or undefined. */
export function intValues(f: ValueFact | undefined): number[] | undefined {
  if (!f?.value || (f.value.dtype !== DataType.INT64 && f.value.dtype !== DataType.INT32)) return undefined;
  return Array.from(f.value.data as ArrayLike<number | bigint>, (v) => Number(v));
}
/** The elements of an int tensor as dims: its known values, or its symbolic dims. */
export function dimValues(f: ValueFact | undefined): Dim[] | undefined {
  return intValues(f) ?? f?.dims;
}
/** A 1-D (or scalar, `shape` []) int64 fact whose elements are the given dims. */
function symbolicInts(dims: Dim[], shape: number[] = [dims.length], dtype = DataType.INT64): ValueFact {
  if (isStatic(dims)) return foldInts(dtype, shape, dims);
  return { dtype, shape, dims };
}
export function floatValues(f: ValueFact | undefined): number[] | undefined {
  if (!f?.value) return undefined;
  return Array.from(f.value.data as ArrayLike<number | bigint>, (v) => Number(v));
}

const mulDim = (a: Dim, b: Dim): Dim => (typeof a === 'number' && typeof b === 'number' ? a * b : null);

export function broadcastShapes(shapes: Shape[]): Shape {
  if (shapes.some((s) => s === undefined)) return undefined;
  const rank = Math.max(...shapes.map((s) => s!.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = s!.length - rank + i;
      if (k < 0) continue;
      const e = s![k];
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (typeof d === 'number' && typeof e === 'number' && d !== e) throw new OnnxError('SHAPE', `cannot broadcast shapes ${shapes.map((x) => `[${x}]`).join(' and ')}`);
      else if (d !== e && typeof e === 'number') d = e;
      else if (d !== e) d = typeof d === 'number' ? d : null;
    }
    out.push(d);
  }
  return out;
}

const staticShape = (s: Shape): number[] | undefined => (isStatic(s) ? s : undefined);

/**
 * The dim a Reshape's -1 stands for: what is left of the input once the other target dims are
 * cancelled against it (equal numbers or the same symbol). Numbers divide; a single symbol left
 * over against equal numeric sizes (the dynamic batch of [-1, C*H*W]) is that symbol; else unknown.
 */
function minusOneDim(input: Dim[], out: Dim[], neg: number): Dim {
  const restIn = [...input];
  const restOut: Dim[] = [];
  out.forEach((d, i) => {
    if (i === neg) return;
    const k = d === null ? -1 : restIn.indexOf(d);
    if (k >= 0) restIn.splice(k, 1);
    else restOut.push(d);
  });
  const o = staticShape(restOut);
  if (!o || numel(o) === 0) return null;
  const symbols = restIn.filter((d) => typeof d !== 'number');
  const known = numel(restIn.filter((d) => typeof d === 'number') as number[]);
  if (symbols.length === 0) return known % numel(o) === 0 ? known / numel(o) : null;
  return symbols.length === 1 && symbols[0] !== null && known === numel(o) ? symbols[0] : null;
}

function foldInts(dtype: DataType, dims: number[], vals: number[]): ValueFact {
  const t = tensor('', dtype === DataType.INT32 ? DataType.INT32 : DataType.INT64, dims, vals);
  return { dtype: t.dtype, shape: dims, value: t };
}

const same: Infer = (n, c) => { const x = c.fact(n.inputs[0]); return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: x?.shape }]; };
const boolOut: Infer = (n, c) => [{ dtype: DataType.BOOL, shape: broadcastShapes(n.inputs.map((i) => c.fact(i)?.shape)) }];

function arith(op: (a: number, b: number) => number): Infer {
  return (n, c) => {
    const fs = n.inputs.map((i) => c.fact(i));
    const shape = broadcastShapes(fs.map((f) => f?.shape));
    const dtype = fs[0]?.dtype ?? DataType.FLOAT;
    const vals = fs.map(intValues);
    const st = staticShape(shape);
    if ((dtype === DataType.INT64 || dtype === DataType.INT32) && vals.every((v) => v) && st && numel(st) <= FOLD_LIMIT && fs.every((f) => numel(staticShape(f!.shape) ?? [0]) <= 1 || numel(staticShape(f!.shape)!) === numel(st))) {
      const len = numel(st);
      const out = Array.from({ length: len }, (_, i) => vals.map((v) => v![v!.length === 1 ? 0 : i]).reduce(op));
      return [foldInts(dtype, st, out)];
    }
    return [{ dtype, shape }];
  };
}

/** Conv's group against its input and weight channels. */
function checkGroups(n: Node, x: Shape, w: Shape): void {
  const group = attrInt(n, 'group', 1);
  if (!Number.isSafeInteger(group) || group < 1) throw new OnnxError('SHAPE', `group ${group} must be an integer >= 1`);
  const cin = x?.[1];
  const wc = w?.[1];
  const cout = w?.[0];
  if (typeof cin === 'number' && typeof wc === 'number' && wc * group !== cin) {
    throw new OnnxError('SHAPE', `the input has ${cin} channels, but the weight's ${wc} input channels x group ${group} make ${wc * group}`);
  }
  if (typeof cout === 'number' && cout % group !== 0) throw new OnnxError('SHAPE', `group ${group} does not divide the ${cout} output channels`);
}

function poolLike(n: Node, x: Shape, kernel: number[] | undefined, outChannels: Dim | undefined): Shape {
  if (!x) return undefined;
  const sp = x.length - 2;
  if (sp < 1) throw new OnnxError('SHAPE', `the input has rank ${x.length}; ${n.opType} needs [N, C, spatial...]`);
  const k = kernel ?? [];
  if (kernel && (kernel.length !== sp || !kernel.every((e) => Number.isSafeInteger(e) && e >= 1))) {
    throw new OnnxError('SHAPE', `kernel [${kernel.join(', ')}] must hold ${sp} integers >= 1 for an input of rank ${x.length}`);
  }
  const { strides, dilations: dil, pads, autoPad } = windowAttrs(n, sp);
  const ceil = attrInt(n, 'ceil_mode', 0) === 1;
  const out: Dim[] = [x[0], outChannels === undefined ? x[1] : outChannels];
  for (let i = 0; i < sp; i++) {
    const d = x[2 + i];
    if (typeof d !== 'number' || k[i] === undefined) { out.push(null); continue; }
    const ek = (k[i] - 1) * dil[i] + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out.push(Math.ceil(d / strides[i]));
    else if (autoPad === 'VALID') out.push(Math.floor((d - ek) / strides[i]) + 1);
    else {
      const num = d + pads[i] + pads[i + sp] - ek;
      let o = (ceil ? Math.ceil(num / strides[i]) : Math.floor(num / strides[i])) + 1;
      // ceil_mode: a last window that would start inside the end padding is dropped (ONNX, ORT, PyTorch).
      if (ceil && (o - 1) * strides[i] >= d + pads[i]) o--;
      if (o < 1) throw new OnnxError('SHAPE', `the input is too small: the kernel (${ek} wide with dilation) is larger than the padded input (${d + pads[i] + pads[i + sp]}) on spatial axis ${i}`);
      out.push(o);
    }
  }
  return out;
}

function reduce(n: Node, c: Ctx, axesFromInput: boolean): ValueFact[] {
  const x = c.fact(n.inputs[0]);
  const keep = attrInt(n, 'keepdims', 1) === 1;
  let axes = axesFromInput ? (n.inputs[1] ? intValues(c.fact(n.inputs[1])) : undefined) : attrInts(n, 'axes');
  const noop = attrInt(n, 'noop_with_empty_axes', 0) === 1;
  if (!x?.shape) return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: undefined }];
  const rank = x.shape.length;
  if (axesFromInput && n.inputs[1] && !axes) return [{ dtype: x.dtype, shape: keep ? x.shape.map(() => null) : undefined }];
  if (!axes || axes.length === 0) {
    if (noop) return [{ dtype: x.dtype, shape: x.shape }];
    axes = x.shape.map((_, i) => i);
  }
  const set = new Set(axes.map((a) => normAxis(a, rank)));
  const shape = keep ? x.shape.map((d, i) => (set.has(i) ? 1 : d)) : x.shape.filter((_, i) => !set.has(i));
  return [{ dtype: x.dtype, shape }];
}

const castTarget = (n: Node): DataType => attrInt(n, 'to', DataType.FLOAT);

const RULES: Record<string, Infer> = {
  Identity: (n, c) => { const x = c.fact(n.inputs[0]); return [x ? { ...x } : { dtype: DataType.FLOAT, shape: undefined }]; },
  Relu: same, LeakyRelu: same, Sigmoid: same, Tanh: same, Softplus: same, Neg: same, Exp: same, Log: same,
  Sqrt: same, Abs: same, Sign: same, Reciprocal: same, Floor: same, Ceil: same, Round: same, Erf: same, ThresholdedRelu: same, Softsign: same,
  Elu: same, Selu: same, HardSigmoid: same, Celu: same, Gelu: same, Mish: same, HardSwish: same, PRelu: (n, c) => [{ dtype: c.fact(n.inputs[0])?.dtype ?? DataType.FLOAT, shape: broadcastShapes([c.fact(n.inputs[0])?.shape, c.fact(n.inputs[1])?.shape]) }],
  Softmax: same, LogSoftmax: same, Clip: same, LRN: same, Not: same, IsNaN: (n, c) => [{ dtype: DataType.BOOL, shape: c.fact(n.inputs[0])?.shape }],
  Add: arith((a, b) => a + b), Sub: arith((a, b) => a - b), Mul: arith((a, b) => a * b),
  Div: arith((a, b) => Math.trunc(a / b)), Pow: (n, c) => [{ dtype: c.fact(n.inputs[0])?.dtype ?? DataType.FLOAT, shape: broadcastShapes([c.fact(n.inputs[0])?.shape, c.fact(n.inputs[1])?.shape]) }],
  Max: arith(Math.max), Min: arith(Math.min), Sum: arith((a, b) => a + b), Mean: (n, c) => [{ dtype: c.fact(n.inputs[0])?.dtype ?? DataType.FLOAT, shape: broadcastShapes(n.inputs.map((i) => c.fact(i)?.shape)) }], // float only: never folded,
  Equal: boolOut, Less: boolOut, Greater: boolOut, LessOrEqual: boolOut, GreaterOrEqual: boolOut, And: boolOut, Or: boolOut, Xor: boolOut,
  Where: (n, c) => [{ dtype: c.fact(n.inputs[1])?.dtype ?? DataType.FLOAT, shape: broadcastShapes(n.inputs.map((i) => c.fact(i)?.shape)) }],
  Cast: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const to = castTarget(n);
    const v = intValues(x);
    if (v && x?.shape && (to === DataType.INT64 || to === DataType.INT32)) return [foldInts(to, staticShape(x.shape)!, v)];
    if (x?.dims && (to === DataType.INT64 || to === DataType.INT32)) return [{ dtype: to, shape: x.shape, dims: x.dims }];
    return [{ dtype: to, shape: x?.shape }];
  },
  CastLike: (n, c) => [{ dtype: c.fact(n.inputs[1])?.dtype ?? DataType.FLOAT, shape: c.fact(n.inputs[0])?.shape }],
  Constant: (n) => {
    const a = n.attributes;
    if (a.value?.type === 'tensor') { const t = a.value.value; return [{ dtype: t.dtype, shape: t.dims, value: numel(t.dims) <= FOLD_LIMIT || t.dtype === DataType.FLOAT ? t : undefined }]; }
    if (a.value_float?.type === 'float') return [{ dtype: DataType.FLOAT, shape: [], value: tensor('', DataType.FLOAT, [], [a.value_float.value]) }];
    if (a.value_floats?.type === 'floats') return [{ dtype: DataType.FLOAT, shape: [a.value_floats.value.length], value: tensor('', DataType.FLOAT, [a.value_floats.value.length], a.value_floats.value) }];
    if (a.value_int?.type === 'int') return [foldInts(DataType.INT64, [], [a.value_int.value])];
    if (a.value_ints?.type === 'ints') return [foldInts(DataType.INT64, [a.value_ints.value.length], a.value_ints.value)];
    return [{ dtype: DataType.FLOAT, shape: undefined }];
  },
  ConstantOfShape: (n, c) => {
    const s = dimValues(c.fact(n.inputs[0]));
    const v = n.attributes.value;
    const dtype = v?.type === 'tensor' ? v.value.dtype : DataType.FLOAT;
    const len = c.fact(n.inputs[0])?.shape?.[0];
    return [{ dtype, shape: s ?? (typeof len === 'number' ? new Array(len).fill(null) : undefined) }];
  },
  Shape: (n, c) => {
    const x = c.fact(n.inputs[0]);
    if (!x?.shape) return [{ dtype: DataType.INT64, shape: [null] }];
    const r = x.shape.length;
    const start = normAxis(Math.max(-r, Math.min(r, attrInt(n, 'start', 0))), r);
    const endRaw = n.attributes.end ? attrInt(n, 'end', r) : r;
    const end = Math.max(0, Math.min(r, normAxis(endRaw, r)));
    const dims = x.shape.slice(start, end);
    return [symbolicInts(dims)];
  },
  Size: (n, c) => { const s = staticShape(c.fact(n.inputs[0])?.shape); return [s ? foldInts(DataType.INT64, [], [numel(s)]) : { dtype: DataType.INT64, shape: [] }]; },
  Gather: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const idx = c.fact(n.inputs[1]);
    if (!x?.shape || !idx?.shape) return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: undefined }];
    const axis = normAxis(attrInt(n, 'axis', 0), x.shape.length);
    const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
    const xv = dimValues(x);
    const iv = intValues(idx);
    if (xv && iv && x.shape.length === 1 && staticShape(shape)) {
      const len = xv.length;
      const picked = iv.map((i) => xv[i < 0 ? i + len : i]);
      if (isStatic(picked)) return [foldInts(x.dtype, staticShape(shape)!, picked)];
      return [{ dtype: x.dtype, shape, dims: picked }];
    }
    return [{ dtype: x.dtype, shape }];
  },
  Unsqueeze: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const axes = c.opset >= 13 ? intValues(c.fact(n.inputs[1])) : attrInts(n, 'axes');
    if (!x?.shape || !axes) return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: undefined }];
    const r = x.shape.length + axes.length;
    const set = new Set(axes.map((a) => normAxis(a, r)));
    const out: Dim[] = [];
    let k = 0;
    for (let i = 0; i < r; i++) out.push(set.has(i) ? 1 : x.shape[k++]);
    const v = intValues(x);
    if (v) return [foldInts(x.dtype, out as number[], v)];
    return [{ dtype: x.dtype, shape: out, dims: x.dims }];
  },
  Squeeze: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const axes = c.opset >= 13 ? (n.inputs[1] ? intValues(c.fact(n.inputs[1])) : undefined) : attrInts(n, 'axes');
    if (!x?.shape) return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: undefined }];
    const r = x.shape.length;
    const set = axes ? new Set(axes.map((a) => normAxis(a, r))) : new Set(x.shape.flatMap((d, i) => (d === 1 ? [i] : [])));
    const out = x.shape.filter((_, i) => !set.has(i));
    const v = intValues(x);
    if (v) return [foldInts(x.dtype, out as number[], v)];
    return [{ dtype: x.dtype, shape: out, dims: x.dims }];
  },
  Concat: (n, c) => {
    const fs = n.inputs.filter(Boolean).map((i) => c.fact(i));
    if (fs.some((f) => !f?.shape)) return [{ dtype: fs[0]?.dtype ?? DataType.FLOAT, shape: undefined }];
    const r = fs[0]!.shape!.length;
    const axis = normAxis(attrInt(n, 'axis', 0), r);
    const shape = fs[0]!.shape!.map((d, i) => (i === axis ? fs.reduce<Dim>((acc, f) => (typeof acc === 'number' && typeof f!.shape![i] === 'number' ? acc + (f!.shape![i] as number) : null), 0) : d));
    const vals = fs.map(dimValues);
    if (r === 1 && vals.every(Boolean)) {
      const all = vals.flat() as Dim[];
      if (isStatic(all)) return [foldInts(fs[0]!.dtype, [all.length], all)];
      return [{ dtype: fs[0]!.dtype, shape: [all.length], dims: all }];
    }
    return [{ dtype: fs[0]!.dtype, shape }];
  },
  Reshape: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const dtype = x?.dtype ?? DataType.FLOAT;
    // The target's elements: known values, or dims of which some are symbolic ([batch, -1] from
    // Shape -> Gather -> Concat over a dynamic batch).
    const target = dimValues(c.fact(n.inputs[1]));
    if (!target) {
      const len = c.fact(n.inputs[1])?.shape?.[0];
      return [{ dtype, shape: typeof len === 'number' ? new Array(len).fill(null) : undefined }];
    }
    const allowZero = attrInt(n, 'allowzero', 0) === 1;
    const out: Dim[] = target.map((d, i) => (d === 0 && !allowZero ? x?.shape?.[i] ?? null : d === -1 ? null : d));
    const neg = target.indexOf(-1);
    if (neg >= 0 && x?.shape) out[neg] = minusOneDim(x.shape, out, neg);
    const v = intValues(x);
    if (v && isStatic(out)) return [foldInts(x!.dtype, out, v)];
    return [{ dtype, shape: out }];
  },
  Flatten: (n, c) => {
    const x = c.fact(n.inputs[0]);
    if (!x?.shape) return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: [null, null] }];
    const axis = normAxis(attrInt(n, 'axis', 1), x.shape.length);
    const prod = (ds: Dim[]) => ds.reduce<Dim>((a, d) => mulDim(a, d), 1);
    const a = axis === 1 ? x.shape[0] : prod(x.shape.slice(0, axis));
    return [{ dtype: x.dtype, shape: [a, prod(x.shape.slice(axis))] }];
  },
  Transpose: (n, c) => {
    const x = c.fact(n.inputs[0]);
    if (!x?.shape) return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: undefined }];
    const perm = attrInts(n, 'perm') ?? x.shape.map((_, i) => x.shape!.length - 1 - i);
    return [{ dtype: x.dtype, shape: perm.map((p) => x.shape![p]) }];
  },
  Expand: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const s = dimValues(c.fact(n.inputs[1]));
    const len = c.fact(n.inputs[1])?.shape?.[0];
    const unknown = typeof len === 'number' && x?.shape ? new Array(Math.max(len, x.shape.length)).fill(null) : undefined;
    return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: s ? broadcastShapes([x?.shape, s]) : unknown }];
  },
  Tile: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const r = intValues(c.fact(n.inputs[1]));
    return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: x?.shape && r ? x.shape.map((d, i) => mulDim(d, r[i])) : undefined }];
  },
  Slice: (n, c) => {
    const x = c.fact(n.inputs[0]);
    if (!x?.shape) return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: undefined }];
    const r = x.shape.length;
    const starts = c.opset >= 10 ? intValues(c.fact(n.inputs[1])) : attrInts(n, 'starts');
    const ends = c.opset >= 10 ? intValues(c.fact(n.inputs[2])) : attrInts(n, 'ends');
    const axes = (c.opset >= 10 ? (n.inputs[3] ? intValues(c.fact(n.inputs[3])) : undefined) : attrInts(n, 'axes')) ?? starts?.map((_, i) => i);
    const steps = (c.opset >= 10 && n.inputs[4] ? intValues(c.fact(n.inputs[4])) : undefined) ?? starts?.map(() => 1);
    if (!starts || !ends || !axes || !steps) return [{ dtype: x.dtype, shape: x.shape.map(() => null) }];
    const out = [...x.shape];
    axes.forEach((a0, i) => {
      const a = normAxis(a0, r);
      const d = x.shape![a];
      if (typeof d !== 'number') { out[a] = null; return; }
      const [lo, hi] = sliceRange(starts[i], ends[i], steps[i], d);
      out[a] = steps[i] > 0 ? Math.max(0, Math.ceil((hi - lo) / steps[i])) : Math.max(0, Math.ceil((lo - hi) / -steps[i]));
    });
    const v = dimValues(x);
    if (v && r === 1 && axes.length === 1 && typeof out[0] === 'number') {
      const [lo] = sliceRange(starts[0], ends[0], steps[0], v.length);
      const vals = Array.from({ length: out[0] as number }, (_, i) => v[lo + i * steps[0]]);
      return [symbolicInts(vals, [vals.length], x.dtype)];
    }
    return [{ dtype: x.dtype, shape: out }];
  },
  Split: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const k = n.outputs.length;
    if (!x?.shape) return n.outputs.map(() => ({ dtype: x?.dtype ?? DataType.FLOAT, shape: undefined }));
    const axis = normAxis(attrInt(n, 'axis', 0), x.shape.length);
    const split = (c.opset >= 13 ? (n.inputs[1] ? intValues(c.fact(n.inputs[1])) : undefined) : attrInts(n, 'split'));
    const d = x.shape[axis];
    return n.outputs.map((_, i) => {
      let size: Dim = null;
      if (split) size = split[i];
      else if (typeof d === 'number') size = Math.ceil(d / k) * (i + 1) <= d ? Math.ceil(d / k) : d - Math.ceil(d / k) * i;
      return { dtype: x.dtype, shape: x.shape!.map((e, j) => (j === axis ? size : e)) };
    });
  },
  Pad: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const pads = c.opset >= 11 ? intValues(c.fact(n.inputs[1])) : attrInts(n, 'pads');
    if (!x?.shape || !pads) return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: x?.shape?.map(() => null) }];
    const r = x.shape.length;
    let axes = n.inputs[3] ? intValues(c.fact(n.inputs[3])) : undefined;
    axes = (axes ?? x.shape.map((_, i) => i)).map((a) => normAxis(a, r));
    const out = [...x.shape];
    axes.forEach((a, i) => { const d = out[a]; out[a] = typeof d === 'number' ? d + pads[i] + pads[i + axes!.length] : null; });
    return [{ dtype: x.dtype, shape: out }];
  },
  Conv: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const w = c.fact(n.inputs[1]);
    const kernel = attrInts(n, 'kernel_shape') ?? (w?.shape?.slice(2) as number[] | undefined);
    checkGroups(n, x?.shape, w?.shape);
    return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: poolLike(n, x?.shape, kernel, w?.shape?.[0] ?? null) }];
  },
  ConvTranspose: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const w = c.fact(n.inputs[1]);
    if (!x?.shape || !w?.shape) return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: undefined }];
    const sp = x.shape.length - 2;
    const group = attrInt(n, 'group', 1);
    if (!Number.isSafeInteger(group) || group < 1) throw new OnnxError('SHAPE', `group ${group} must be an integer >= 1`);
    const k = attrInts(n, 'kernel_shape') ?? (w.shape.slice(2) as number[]);
    const { strides, dilations: dil, pads } = windowAttrs(n, sp);
    const opad = attrInts(n, 'output_padding') ?? new Array(sp).fill(0);
    const os = attrInts(n, 'output_shape');
    const cout = mulDim(w.shape[1], group);
    const out: Dim[] = [x.shape[0], cout];
    for (let i = 0; i < sp; i++) {
      const d = x.shape[2 + i];
      if (os) out.push(os[os.length - sp + i]);
      else out.push(typeof d === 'number' ? strides[i] * (d - 1) + opad[i] + ((k[i] - 1) * dil[i] + 1) - pads[i] - pads[i + sp] : null);
    }
    return [{ dtype: x.dtype, shape: out }];
  },
  MaxPool: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const shape = poolLike(n, x?.shape, attrInts(n, 'kernel_shape'), undefined);
    return [{ dtype: x?.dtype ?? DataType.FLOAT, shape }, { dtype: DataType.INT64, shape }];
  },
  DepthToSpace: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const k = attrInt(n, 'blocksize', 1);
    const s = x?.shape;
    const scale = (d: Dim, f: number): Dim => (typeof d === 'number' ? d * f : null);
    return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: s?.length === 4 ? [s[0], typeof s[1] === 'number' ? s[1] / (k * k) : null, scale(s[2], k), scale(s[3], k)] : undefined }];
  },
  SpaceToDepth: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const k = attrInt(n, 'blocksize', 1);
    const s = x?.shape;
    const div = (d: Dim): Dim => (typeof d === 'number' && d % k === 0 ? d / k : null);
    return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: s?.length === 4 ? [s[0], typeof s[1] === 'number' ? s[1] * k * k : null, div(s[2]), div(s[3])] : undefined }];
  },
  AveragePool: (n, c) => { const x = c.fact(n.inputs[0]); return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: poolLike(n, x?.shape, attrInts(n, 'kernel_shape'), undefined) }]; },
  GlobalAveragePool: (n, c) => { const x = c.fact(n.inputs[0]); return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: x?.shape?.map((d, i) => (i < 2 ? d : 1)) }]; },
  GlobalMaxPool: (n, c) => { const x = c.fact(n.inputs[0]); return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: x?.shape?.map((d, i) => (i < 2 ? d : 1)) }]; },
  BatchNormalization: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const s = c.fact(n.inputs[1]);
    const out: ValueFact[] = [{ dtype: x?.dtype ?? DataType.FLOAT, shape: x?.shape }];
    for (let i = 1; i < n.outputs.length; i++) out.push({ dtype: s?.dtype ?? DataType.FLOAT, shape: s?.shape });
    return out;
  },
  InstanceNormalization: same,
  LayerNormalization: (n, c) => { const x = c.fact(n.inputs[0]); return n.outputs.map((_, i) => (i === 0 ? { dtype: x?.dtype ?? DataType.FLOAT, shape: x?.shape } : { dtype: DataType.FLOAT, shape: undefined })); },
  Dropout: (n, c) => { const x = c.fact(n.inputs[0]); return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: x?.shape }, { dtype: DataType.BOOL, shape: x?.shape }]; },
  MatMul: (n, c) => {
    const a = c.fact(n.inputs[0]);
    const b = c.fact(n.inputs[1]);
    if (!a?.shape || !b?.shape) return [{ dtype: a?.dtype ?? DataType.FLOAT, shape: undefined }];
    const as = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
    const bs = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
    const batch = broadcastShapes([as.slice(0, -2), bs.slice(0, -2)])!;
    const out: Dim[] = [...batch];
    if (a.shape.length > 1) out.push(as[as.length - 2]);
    if (b.shape.length > 1) out.push(bs[bs.length - 1]);
    return [{ dtype: a.dtype, shape: out }];
  },
  Gemm: (n, c) => {
    const a = c.fact(n.inputs[0]);
    const b = c.fact(n.inputs[1]);
    const m = a?.shape ? a.shape[attrInt(n, 'transA', 0) ? 1 : 0] : null;
    const nn = b?.shape ? b.shape[attrInt(n, 'transB', 0) ? 0 : 1] : null;
    return [{ dtype: a?.dtype ?? DataType.FLOAT, shape: [m ?? null, nn ?? null] }];
  },
  ReduceMean: (n, c) => reduce(n, c, c.opset >= 18), ReduceSum: (n, c) => reduce(n, c, c.opset >= 13),
  ReduceMax: (n, c) => reduce(n, c, c.opset >= 18), ReduceMin: (n, c) => reduce(n, c, c.opset >= 18),
  ReduceProd: (n, c) => {
    // Folded over a known 1-D int tensor (an element count from a shape).
    const r = reduce(n, c, c.opset >= 18)[0];
    const v = intValues(c.fact(n.inputs[0]));
    const shape = staticShape(r.shape);
    return [v && c.fact(n.inputs[0])!.shape!.length === 1 && shape && numel(shape) === 1 ? foldInts(r.dtype, shape, [v.reduce((a, b) => a * b, 1)]) : r];
  },
  ReduceL2: (n, c) => reduce(n, c, c.opset >= 18),
  ReduceLogSumExp: (n, c) => reduce(n, c, c.opset >= 18), ReduceSumSquare: (n, c) => reduce(n, c, c.opset >= 18),
  ArgMax: (n, c) => { const r = reduce({ ...n, attributes: { ...n.attributes, axes: { type: 'ints', value: [attrInt(n, 'axis', 0)] } } }, c, false)[0]; return [{ dtype: DataType.INT64, shape: r.shape }]; },
  ArgMin: (n, c) => { const r = reduce({ ...n, attributes: { ...n.attributes, axes: { type: 'ints', value: [attrInt(n, 'axis', 0)] } } }, c, false)[0]; return [{ dtype: DataType.INT64, shape: r.shape }]; },
  TopK: (n, c) => {
    const x = c.fact(n.inputs[0]);
    const k = intValues(c.fact(n.inputs[1]));
    if (!x?.shape) return [{ dtype: x?.dtype ?? DataType.FLOAT, shape: undefined }, { dtype: DataType.INT64, shape: undefined }];
    const axis = normAxis(attrInt(n, 'axis', -1), x.shape.length);
    const shape = x.shape.map((d, i) => (i === axis ? (k ? k[0] : null) : d));
    return [{ dtype: x.dtype, shape }, { dtype: DataType.INT64, shape }];
  },
  OneHot: (n, c) => {
    const idx = c.fact(n.inputs[0]);
    const depth = floatValues(c.fact(n.inputs[1]));
    const vals = c.fact(n.inputs[2]);
    if (!idx?.shape) return [{ dtype: vals?.dtype ?? DataType.FLOAT, shape: undefined }];
    const r = idx.shape.length + 1;
    const axis = normAxis(attrInt(n, 'axis', -1), r);
    const out = [...idx.shape];
    out.splice(axis, 0, depth ? depth[0] : null);
    return [{ dtype: vals?.dtype ?? DataType.FLOAT, shape: out }];
  },
  ScatterElements: same, ScatterND: same, GatherElements: (n, c) => [{ dtype: c.fact(n.inputs[0])?.dtype ?? DataType.FLOAT, shape: c.fact(n.inputs[1])?.shape }],
  Range: (n, c) => {
    const [s, l, d] = [0, 1, 2].map((i) => floatValues(c.fact(n.inputs[i]))?.[0]);
    const dtype = c.fact(n.inputs[0])?.dtype ?? DataType.INT64;
    if (s === undefined || l === undefined || d === undefined) return [{ dtype, shape: [null] }];
    const len = Math.max(0, Math.ceil((l - s) / d));
    if (dtype === DataType.INT64 && len <= FOLD_LIMIT) return [foldInts(dtype, [len], Array.from({ length: len }, (_, i) => s + i * d))];
    return [{ dtype, shape: [len] }];
  },
  RandomUniformLike: (n, c) => [{ dtype: attrInt(n, 'dtype', c.fact(n.inputs[0])?.dtype ?? DataType.FLOAT), shape: c.fact(n.inputs[0])?.shape }],
  RandomNormalLike: (n, c) => [{ dtype: attrInt(n, 'dtype', c.fact(n.inputs[0])?.dtype ?? DataType.FLOAT), shape: c.fact(n.inputs[0])?.shape }],
  Resize: (n, c) => {
    // Opset 11+: (X, roi, scales, sizes); output dims from constant sizes, or floor(dim * scale).
    const x = c.fact(n.inputs[0]);
    const dtype = x?.dtype ?? DataType.FLOAT;
    if (!x?.shape) return [{ dtype, shape: undefined }];
    const sizes = n.inputs[3] ? intValues(c.fact(n.inputs[3])) : undefined;
    if (sizes && sizes.length === x.shape.length) return [{ dtype, shape: sizes.map((d, i) => (i < 2 && typeof x.shape![i] !== 'number' ? x.shape![i] : d)) }];
    const scales = c.opset >= 11 ? (n.inputs[2] ? floatValues(c.fact(n.inputs[2])) : undefined) : floatValues(c.fact(n.inputs[1]));
    if (scales && scales.length === x.shape.length) return [{ dtype, shape: x.shape.map((d, i) => (scales[i] === 1 ? d : typeof d === 'number' ? Math.floor(d * scales[i]) : null)) }];
    return [{ dtype, shape: x.shape.map(() => null) }];
  },
  // Loop: the loop-carried outputs have their initial values' facts (scan outputs stay unknown).
  Loop: (n, c) => n.outputs.map((_, i) => { const f = c.fact(n.inputs[i + 2]); return f ? { dtype: f.dtype, shape: f.shape } : { dtype: DataType.UNDEFINED, shape: undefined }; }),
  Einsum: (n, c) => {
    // Explicit output subscripts without ellipsis: each output letter takes its dim from an operand.
    const dtype = c.fact(n.inputs[0])?.dtype ?? DataType.FLOAT;
    const eq = attrString(n, 'equation', '').replace(/\s+/g, '');
    const [lhs, out] = eq.split('->');
    if (out === undefined || eq.includes('.')) return [{ dtype, shape: undefined }];
    const dims = new Map<string, Dim>();
    lhs.split(',').forEach((t, i) => {
      const sh = c.fact(n.inputs[i])?.shape;
      if (sh && sh.length === t.length) [...t].forEach((ch, k) => { const d = sh[k]; if (!dims.has(ch) || (typeof d === 'number' && d !== 1)) dims.set(ch, d); });
    });
    const shape = [...out].map((ch) => dims.get(ch));
    return [{ dtype, shape: shape.every((d) => d !== undefined) ? (shape as Dim[]) : undefined }];
  },
};

export function inferNode(n: Node, ctx: Ctx): ValueFact[] {
  const rule = RULES[n.opType];
  if (!rule || !isDefaultDomain(n.domain)) return n.outputs.map(() => ({ dtype: DataType.UNDEFINED, shape: undefined }));
  try {
    return rule(n, ctx);
  } catch (e) {
    if (e instanceof OnnxError) throw new OnnxError('SHAPE', `node "${n.name}" (${n.opType}): ${e.message}`);
    throw e;
  }
}


/** Infers every value of a graph; declared value_info/outputs fill gaps the rules leave. */
export function inferShapes(g: Graph, opset: number, outer?: Facts): Facts {
  const facts: Facts = new Map(outer);
  for (const v of g.inputs) if (!g.initializers.has(v.name)) facts.set(v.name, { dtype: v.dtype, shape: v.shape });
  for (const [name, t] of g.initializers) facts.set(name, { dtype: t.dtype, shape: t.dims, value: numel(t.dims) <= FOLD_LIMIT ? t : undefined });
  const declared = new Map([...g.valueInfo, ...g.outputs].map((v) => [v.name, v]));
  const ctx: Ctx = { fact: (name) => facts.get(name), opset };
  for (const n of g.nodes) {
    const out = inferNode(n, ctx);
    n.outputs.forEach((o, i) => {
      if (!o) return;
      let f = out[i] ?? { dtype: DataType.UNDEFINED, shape: undefined };
      const d = declared.get(o);
      if (d && (f.shape === undefined || f.dtype === DataType.UNDEFINED)) f = { dtype: f.dtype || d.dtype, shape: f.shape ?? d.shape, value: f.value };
      facts.set(o, f);
    });
  }
  return facts;
}

function sliceRange(start: number, end: number, step: number, d: number): [number, number] {
  const clampV = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
  let s = start < 0 ? start + d : start;
  let e = end < 0 ? end + d : end;
  if (step > 0) { s = clampV(s, 0, d); e = clampV(e, 0, d); } else { s = clampV(s, -1, d - 1); e = clampV(e, -1, d - 1); }
  return [s, e];
}
