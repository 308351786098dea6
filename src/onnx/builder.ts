// GraphBuilder: the typed way every graph in this project is written (zoo models, gradient graphs,
// training artifacts). It names values uniquely, keeps shape facts current as nodes are added, and
// emits a Model at the end. Attribute values are plain JS: integers become INT unless the attribute
// is one ONNX defines as a float (FLOAT_ATTRS).
import { DEFAULT_EPSILON } from './attrs.js';
import { OnnxError } from './errors.js';
import { DataType, isStatic, numel, tensor, type Attribute, type Dim, type Graph, type Model, type Node, type Shape, type Tensor, type TensorData, type ValueInfo } from './ir.js';
import { inferNode, type Facts, type ValueFact } from './shapes.js';

export const OPSET = 17;

export type AttrInput = number | number[] | string | string[] | Tensor | Graph | Attribute | boolean | undefined;
const FLOAT_ATTRS = new Set(['alpha', 'beta', 'epsilon', 'momentum', 'gamma', 'ratio', 'bias', 'lambd', 'min', 'max', 'value_float', 'value_floats', 'scale', 'high', 'low', 'mean', 'extrapolation_value', 'cubic_coeff_a']);
const isAttribute = (v: unknown): v is Attribute => typeof v === 'object' && v !== null && 'type' in v && 'value' in v && typeof (v as { type: unknown }).type === 'string';
const isTensor = (v: unknown): v is Tensor => typeof v === 'object' && v !== null && 'dims' in v && 'data' in v;
const isGraph = (v: unknown): v is Graph => typeof v === 'object' && v !== null && 'nodes' in v && 'initializers' in v;

export function toAttribute(key: string, v: Exclude<AttrInput, undefined>): Attribute {
  if (isAttribute(v)) return v;
  if (isTensor(v)) return { type: 'tensor', value: v };
  if (isGraph(v)) return { type: 'graph', value: v };
  if (typeof v === 'boolean') return { type: 'int', value: v ? 1 : 0 };
  if (typeof v === 'string') return { type: 'string', value: v };
  if (typeof v === 'number') return FLOAT_ATTRS.has(key) || !Number.isInteger(v) ? { type: 'float', value: v } : { type: 'int', value: v };
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return { type: 'strings', value: v as string[] };
  const nums = v as number[];
  return FLOAT_ATTRS.has(key) || nums.some((x) => !Number.isInteger(x)) ? { type: 'floats', value: nums } : { type: 'ints', value: nums };
}

export interface ConvAttrs { strides?: number[]; pads?: number[]; dilations?: number[]; group?: number; auto_pad?: string; kernel_shape?: number[] }
export interface PoolAttrs { kernel_shape: number[]; strides?: number[]; pads?: number[]; ceil_mode?: number; dilations?: number[]; count_include_pad?: number; auto_pad?: string }

export class GraphBuilder {
  readonly graph: Graph;
  readonly facts: Facts = new Map();
  readonly opset: number;
  private used = new Set<string>();
  private counter = new Map<string, number>();
  /** Prefix for generated names (lets a gradient pass keep its names apart). */
  prefix = '';

  constructor(opts: { name?: string; opset?: number; from?: Graph; facts?: Facts } = {}) {
    this.opset = opts.opset ?? OPSET;
    this.graph = opts.from ?? { name: opts.name ?? 'graph', nodes: [], inputs: [], outputs: [], initializers: new Map(), valueInfo: [] };
    if (opts.facts) for (const [k, v] of opts.facts) this.facts.set(k, v);
    for (const v of this.graph.inputs) { this.used.add(v.name); if (!this.facts.has(v.name)) this.facts.set(v.name, { dtype: v.dtype, shape: v.shape }); }
    for (const [k, t] of this.graph.initializers) { this.used.add(k); if (!this.facts.has(k)) this.facts.set(k, { dtype: t.dtype, shape: t.dims, value: numel(t.dims) <= 64 ? t : undefined }); }
    for (const n of this.graph.nodes) { this.used.add(n.name); n.outputs.forEach((o) => this.used.add(o)); }
  }

  /** A fresh value/node name based on `base`. */
  fresh(base: string): string {
    const stem = this.prefix + base;
    if (!this.used.has(stem)) { this.used.add(stem); return stem; }
    let k = this.counter.get(stem) ?? 1;
    while (this.used.has(`${stem}_${k}`)) k++;
    this.counter.set(stem, k + 1);
    const name = `${stem}_${k}`;
    this.used.add(name);
    return name;
  }
  reserve(name: string): string {
    if (this.used.has(name)) throw new OnnxError('DUPLICATE_NAME', `value "${name}" already exists in the graph being built`);
    this.used.add(name);
    return name;
  }

  fact(name: string): ValueFact | undefined { return this.facts.get(name); }
  shape(name: string): Shape { return this.facts.get(name)?.shape; }
  rank(name: string): number {
    const s = this.shape(name);
    if (!s) throw new OnnxError('SHAPE', `the rank of "${name}" is unknown`);
    return s.length;
  }
  dtype(name: string): DataType { return this.facts.get(name)?.dtype ?? DataType.UNDEFINED; }
  /** The static shape of `name`, or undefined when a dim (or the rank) is unknown. */
  staticDims(name: string): number[] | undefined {
    const s = this.shape(name);
    return isStatic(s) ? s : undefined;
  }
  /** The static shape of `name`; a SHAPE error when it is not static. */
  staticShape(name: string): number[] {
    const s = this.staticDims(name);
    if (!s) throw new OnnxError('SHAPE', `the shape of "${name}" is not static: [${this.shape(name) ?? '?'}]`);
    return s;
  }
  /** `name`'s shape as a Reshape/Expand target: a constant when static, else a Shape node. */
  shapeTarget(name: string): number[] | string {
    return this.staticDims(name) ?? this.shapeOf(name);
  }

  input(name: string, dtype: DataType, shape: Dim[]): string {
    this.reserve(name);
    this.graph.inputs.push({ name, dtype, shape });
    this.facts.set(name, { dtype, shape });
    return name;
  }
  output(name: string, as?: string): string {
    let out = name;
    if (as && as !== name) { out = this.reserve(as); this.op('Identity', [name], {}, { outputs: [out] }); }
    const f = this.facts.get(out);
    this.graph.outputs.push({ name: out, dtype: f?.dtype ?? DataType.FLOAT, shape: f?.shape });
    return out;
  }
  /** Adds an initializer (a trainable parameter or fixed constant of the model). */
  initializer(name: string, t: Omit<Tensor, 'name'>): string {
    this.reserve(name);
    const full = { ...t, name };
    this.graph.initializers.set(name, full);
    this.facts.set(name, { dtype: t.dtype, shape: t.dims, value: numel(t.dims) <= 64 ? full : undefined });
    return name;
  }
  /** A Constant node holding the tensor (kept out of the parameter list). */
  constant(t: Omit<Tensor, 'name'>, base = 'const'): string {
    return this.op('Constant', [], { value: { ...t, name: '' } }, { name: base });
  }
  constF(values: number[] | number, dims?: number[], dtype: DataType = DataType.FLOAT): string {
    const vals = Array.isArray(values) ? values : [values];
    return this.constant(tensor('', dtype, dims ?? (Array.isArray(values) ? [vals.length] : []), vals), 'c');
  }
  constI64(values: number[] | number, dims?: number[]): string {
    const vals = Array.isArray(values) ? values : [values];
    return this.constant(tensor('', DataType.INT64, dims ?? (Array.isArray(values) ? [vals.length] : []), vals), 'shape');
  }

  /** Appends a node; returns its output names. */
  node(opType: string, inputs: string[], attrs: Record<string, AttrInput> = {}, opts: { outputs?: number | string[]; name?: string; domain?: string } = {}): string[] {
    const base = opts.name ?? opType.toLowerCase();
    const outputs = Array.isArray(opts.outputs) ? opts.outputs : Array.from({ length: opts.outputs ?? 1 }, (_, i) => this.fresh(i === 0 ? base : `${base}_out${i}`));
    const attributes: Record<string, Attribute> = {};
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined) attributes[k] = toAttribute(k, v);
    const node: Node = { name: this.fresh(`${base}_node`), opType, domain: opts.domain ?? '', inputs, outputs, attributes };
    for (const i of inputs) if (i && !this.facts.has(i) && !this.graph.initializers.has(i)) throw new OnnxError('DANGLING_INPUT', `${opType}: input "${i}" does not exist in the graph being built`);
    const inferred = inferNode(node, { fact: (n) => this.facts.get(n), opset: this.opset });
    outputs.forEach((o, i) => o && this.facts.set(o, inferred[i] ?? { dtype: DataType.UNDEFINED, shape: undefined }));
    this.graph.nodes.push(node);
    return outputs;
  }
  /** Single-output node. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrInput> = {}, opts: { outputs?: string[]; name?: string } = {}): string {
    return this.node(opType, inputs, attrs, opts)[0];
  }

  // --- ergonomic helpers for common ops ---
  conv(x: string, w: string, bias?: string, a: ConvAttrs = {}): string { return this.op('Conv', bias ? [x, w, bias] : [x, w], { ...a }); }
  batchNorm(x: string, scale: string, bias: string, mean: string, variance: string, a: { epsilon?: number; momentum?: number } = {}): string {
    return this.op('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: a.epsilon ?? DEFAULT_EPSILON, momentum: a.momentum ?? 0.9 });
  }
  relu(x: string): string { return this.op('Relu', [x]); }
  add(a: string, b: string): string { return this.op('Add', [a, b]); }
  sub(a: string, b: string): string { return this.op('Sub', [a, b]); }
  mul(a: string, b: string): string { return this.op('Mul', [a, b]); }
  div(a: string, b: string): string { return this.op('Div', [a, b]); }
  neg(x: string): string { return this.op('Neg', [x]); }
  matmul(a: string, b: string): string { return this.op('MatMul', [a, b]); }
  gemm(a: string, b: string, c?: string, attrs: { transA?: number; transB?: number; alpha?: number; beta?: number } = {}): string {
    return this.op('Gemm', c ? [a, b, c] : [a, b], attrs);
  }
  maxPool(x: string, a: PoolAttrs): string { return this.op('MaxPool', [x], { ...a }); }
  averagePool(x: string, a: PoolAttrs): string { return this.op('AveragePool', [x], { ...a }); }
  globalAveragePool(x: string): string { return this.op('GlobalAveragePool', [x]); }
  flatten(x: string, axis = 1): string { return this.op('Flatten', [x], { axis }); }
  reshape(x: string, shape: number[] | string): string { return this.op('Reshape', [x, typeof shape === 'string' ? shape : this.constI64(shape)]); }
  /** `x` reshaped to the shape of `like` (a constant shape when static). */
  reshapeLike(x: string, like: string): string { return this.reshape(x, this.shapeTarget(like)); }
  /** A tensor of zeros of `dtype` with the given shape (a constant or a 1-D int64 value). */
  zeros(shape: number[] | string, dtype: DataType): string {
    return this.op('ConstantOfShape', [typeof shape === 'string' ? shape : this.constI64(shape)], { value: tensor('', dtype, [1], [0]) }, { name: 'zeros' });
  }
  transpose(x: string, perm: number[]): string { return this.op('Transpose', [x], { perm }); }
  identity(x: string): string { return this.op('Identity', [x]); }
  /**
   * `x`'s shape as a 1-D int64 value. Where every dim is static or a symbolic dim of a graph input
   * (the batch N of the artifacts), it is built from constants and the inputs' own shapes, not from
   * `x`: a Shape node of a forward activation written into the backward pass keeps that activation
   * alive until the backward reaches it (124 MiB of PreAct ResNet-18's train step at batch 32 were
   * held only for that). Otherwise a Shape node of `x`.
   */
  shapeOf(x: string): string {
    const s = this.shape(x);
    const parts = s?.length ? s.map((d) => (typeof d === 'number' ? d : typeof d === 'string' ? this.inputDim(d) : undefined)) : undefined;
    if (!parts || parts.some((p) => p === undefined)) return this.op('Shape', [x]);
    if (isStatic(s)) return this.constI64(s);
    const pieces: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      if (typeof parts[i] === 'string') { pieces.push(parts[i] as string); continue; }
      let j = i;
      while (j + 1 < parts.length && typeof parts[j + 1] === 'number') j++;
      pieces.push(this.constI64(parts.slice(i, j + 1) as number[]));
      i = j;
    }
    return pieces.length === 1 ? pieces[0] : this.op('Concat', pieces, { axis: 0 }, { name: 'shape_of' });
  }
  /** Symbolic dim `sym` as a [1] int64 value read from the first graph input that has it, or undefined. */
  private inputDim(sym: string): string | undefined {
    const cached = this.inputDims.get(sym);
    if (cached) return cached;
    for (const v of this.graph.inputs) {
      const axis = v.shape?.indexOf(sym) ?? -1;
      if (axis < 0) continue;
      const d = this.op('Gather', [this.op('Shape', [v.name]), this.constI64([axis])], { axis: 0 }, { name: 'input_dim' });
      this.inputDims.set(sym, d);
      return d;
    }
    return undefined;
  }
  private readonly inputDims = new Map<string, string>();
  cast(x: string, to: DataType): string { return this.op('Cast', [x], { to }); }
  reduceSum(x: string, axes?: number[], keepdims = 1): string {
    return this.opset >= 13 ? this.op('ReduceSum', axes ? [x, this.constI64(axes)] : [x], { keepdims }) : this.op('ReduceSum', [x], { axes, keepdims });
  }
  reduceMean(x: string, axes?: number[], keepdims = 1): string {
    return this.opset >= 18 ? this.op('ReduceMean', axes ? [x, this.constI64(axes)] : [x], { keepdims }) : this.op('ReduceMean', [x], { axes, keepdims });
  }
  reduceMax(x: string, axes?: number[], keepdims = 1): string {
    return this.opset >= 18 ? this.op('ReduceMax', axes ? [x, this.constI64(axes)] : [x], { keepdims }) : this.op('ReduceMax', [x], { axes, keepdims });
  }
  unsqueeze(x: string, axes: number[]): string { return this.opset >= 13 ? this.op('Unsqueeze', [x, this.constI64(axes)]) : this.op('Unsqueeze', [x], { axes }); }
  squeeze(x: string, axes: number[]): string { return this.opset >= 13 ? this.op('Squeeze', [x, this.constI64(axes)]) : this.op('Squeeze', [x], { axes }); }
  softmax(x: string, axis = -1): string { return this.op('Softmax', [x], { axis }); }
  logSoftmax(x: string, axis = -1): string { return this.op('LogSoftmax', [x], { axis }); }
  clip(x: string, lo: string, hi: string): string { return this.op('Clip', [x, lo, hi]); }

  /** The finished model (graph shared, not copied). */
  build(opts: { producer?: string; metadata?: Record<string, string>; opsetImports?: { domain: string; version: number }[] } = {}): Model {
    return {
      irVersion: 8,
      opsetImports: opts.opsetImports ?? [{ domain: '', version: this.opset }],
      producerName: opts.producer ?? 'onnx-generalist',
      producerVersion: '0.1.0',
      metadata: opts.metadata ?? {},
      graph: this.graph,
    };
  }
}

/** Float32 tensor helper. */
export const f32 = (dims: number[], data?: Float32Array | number[]): Omit<Tensor, 'name'> => {
  const t = tensor('', DataType.FLOAT, dims, data as TensorData | number[] | undefined);
  return { dtype: t.dtype, dims: t.dims, data: t.data };
};
export type { ValueInfo };
