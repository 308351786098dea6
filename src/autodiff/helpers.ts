// Small building blocks gradient rules share: dtype-matched constants, broadcasting reduction,
// zeros. Everything here emits standard ONNX ops through the builder.
import { OnnxError } from '../onnx/errors.js';
import type { GraphBuilder } from '../onnx/builder.js';
import { DataType, tensor } from '../onnx/ir.js';

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

export function zerosLike(b: GraphBuilder, x: string): string {
  const s = b.shape(x);
  const dt = b.dtype(x) || DataType.FLOAT;
  if (s && s.every((d) => typeof d === 'number')) {
    return b.op('ConstantOfShape', [b.constI64(s as number[])], { value: tensor('', dt, [1], [0]) }, { name: 'zeros' });
  }
  return b.op('ConstantOfShape', [b.shapeOf(x)], { value: tensor('', dt, [1], [0]) }, { name: 'zeros' });
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
  if (lead > 0) r = b.reshape(r, ts.every((d) => typeof d === 'number') ? (ts as number[]) : b.shapeOf(target));
  return r;
}

/** Sums a list of gradient contributions (fan-out). */
export function accumulate(b: GraphBuilder, parts: string[]): string {
  if (parts.length === 1) return parts[0];
  return b.op('Sum', parts, {}, { name: 'grad_sum' });
}

export { normAxis } from '../util/dims.js';
