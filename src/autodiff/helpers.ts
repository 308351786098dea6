// Small building blocks gradient rules share: dtype-matched constants, broadcasting reduction,
// zeros. Everything here emits standard ONNX ops through the builder.
import { OnnxError } from '../onnx/errors.js';
import type { GraphBuilder } from '../onnx/builder.js';
import { DataType, isStatic, numel, tensor, type Node } from '../onnx/ir.js';
import { intValues } from '../onnx/shapes.js';
import { registerGrad } from './rule.js';

/** A scalar constant with the same float dtype as `like` (float64 graphs must stay float64). */
export function scalarLike(b: GraphBuilder, value: number, like: string): string {
  const dt = b.dtype(like) || DataType.FLOAT;
  return b.constant(tensor('', dt, [], [value]), 'c');
}
/** A 1-D constant of `like`'s float dtype. */
export function vectorLike(b: GraphBuilder, values: number[], like: string): string {
  const dt = b.dtype(like) || DataType.FLOAT;
  return b.constant(tensor('', dt, [values.length], values), 'c');
}

/** Zeros with the dtype and shape of `x`. */
export function zerosLike(b: GraphBuilder, x: string): string {
  return b.zeros(b.shapeTarget(x), b.dtype(x) || DataType.FLOAT);
}

/**
 * Sums gradient `g` (shaped like a broadcast result) back to the shape of `target`.
 * Leading axes are summed away; axes where target has a static 1 and g does not are summed with
 * keepdims. Symbolic dims are assumed to match (broadcasting in real models comes from static 1s).
 */
export function unbroadcast(b: GraphBuilder, g: string, target: string): string {
  const gs = b.shape(g);
  const ts = b.shape(target);
  if (!gs || !ts) throw new OnnxError('SHAPE', `cannot reduce gradient to the shape of "${target}": rank unknown`);
  const lead = gs.length - ts.length;
  const axes: number[] = [];
  for (let i = 0; i < gs.length; i++) {
    if (i < lead) axes.push(i);
    else if (ts[i - lead] === 1 && gs[i] !== 1) axes.push(i);
  }
  if (!axes.length) return g;
  let r = b.reduceSum(g, axes, 1);
  if (lead > 0) r = b.reshapeLike(r, target);
  return r;
}

/**
 * The number of elements of `x` that each element of x reduced over `axes` summarises, as a scalar
 * of x's dtype: a constant when those dims are static, else the product of those dims of x's shape.
 */
export function elementCount(b: GraphBuilder, x: string, axes: number[]): string {
  const s = b.shape(x);
  const dims = s && axes.map((a) => s[a]);
  if (isStatic(dims)) return scalarLike(b, numel(dims), x);
  // GraphBuilder.shapeOf reads a symbolic batch from the graph input, so x need not stay alive for this.
  return b.cast(b.op('ReduceProd', [b.op('Gather', [b.shapeOf(x), b.constI64(axes)], { axis: 0 })], { keepdims: 0 }), b.dtype(x));
}

/**
 * Sums a list of gradient contributions (fan-out), left to right, with Add: ORT's WebGPU EP has no
 * Sum and would run it on the CPU, copying weight-sized tensors both ways (same values as Sum).
 */
export function accumulate(b: GraphBuilder, parts: string[]): string {
  return parts.slice(1).reduce((acc, p) => b.op('Add', [acc, p], {}, { name: 'grad_sum' }), parts[0]);
}

/**
 * sign(x) as (x > 0) - (x < 0): the same values as Sign (0 at 0, NaN becomes 0), in ops ORT's
 * WebGPU EP runs (it has no Sign, so the PGD step's image-sized gradient would cross to the CPU).
 */
export function signOf(b: GraphBuilder, x: string): string {
  const dt = b.dtype(x) || DataType.FLOAT;
  const zero = scalarLike(b, 0, x);
  return b.sub(b.cast(b.op('Greater', [x, zero]), dt), b.cast(b.op('Less', [x, zero]), dt));
}

export { normAxis } from '../util/dims.js';

/**
 * Registers the rule of a one-input pointwise op whose gradient is g times its derivative, written
 * by `derivative` on the input x, the output y and the node (for attributes).
 */
export function pointwise(op: string, derivative: (b: GraphBuilder, x: string, y: string, node: Node) => string): void {
  registerGrad({ op, grad: ({ b, node, g }) => [b.mul(g, derivative(b, node.inputs[0], node.outputs[0], node))] });
}

/** Reshape target for static dims with at most one unknown dim (written as -1). */
export function reshapeTarget(dims: (number | string | null)[], what: string): number[] {
  let unknown = 0;
  const out = dims.map((d) => {
    if (typeof d === 'number') return d;
    unknown++;
    return -1;
  });
  if (unknown > 1) throw new OnnxError('SHAPE', `${what}: more than one non-static dim in [${dims}]`);
  return out;
}

/** A constant int input of `node` (or undefined when absent); throws when it is not constant. */
export function constInts(b: GraphBuilder, node: Node, i: number, what: string): number[] | undefined {
  const name = node.inputs[i];
  if (!name) return undefined;
  const v = intValues(b.fact(name));
  if (!v) throw new OnnxError('UNSUPPORTED_OP', `${node.opType} "${node.name}": the ${what} input must be constant to differentiate`);
  return v;
}

/** Static length of `x` along `axis`, or an error naming the node. */
export function staticDim(b: GraphBuilder, node: Node, x: string, axis: number): number {
  const d = b.shape(x)?.[axis];
  if (typeof d !== 'number') throw new OnnxError('SHAPE', `${node.opType} "${node.name}": the gradient needs a static dim ${axis} of "${x}"`);
  return d;
}
