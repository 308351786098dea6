// Artifacts are written at opset 17 or newer (their backward needs ops like ScatterElements with
// reduction, opset 16), whatever opset the source model was exported at. Forward nodes copied
// from an older model are rewritten into their opset-17 form here, so opset 9..16 exports (old
// torch.onnx defaults, the ONNX model zoo) train and are attacked like new ones:
//   Reduce*, Squeeze, Unsqueeze, Split (< 13): axes/split attributes become inputs
//   Softmax, LogSoftmax, Hardmax (< 13): "flatten from axis" semantics kept with Flatten + Reshape
//   Clip, Pad (< 11): min/max, pads/value attributes become inputs
//   Slice, TopK (< 10): starts/ends/axes/steps, k attributes become inputs
//   BatchNormalization: the removed `spatial` attribute (< 9) is dropped when it is 1
import { attrFloat, attrInt, attrInts } from '../onnx/attrs.js';
import { OnnxError } from '../onnx/errors.js';
import { normAxis } from '../util/dims.js';
import type { AttrInput, GraphBuilder } from '../onnx/builder.js';
import { DataType, isDefaultDomain, tensor, type Attribute, type Node } from '../onnx/ir.js';

/** The opset artifacts are built at, at least. */
export const ARTIFACT_OPSET = 17;
/** The oldest source opset whose nodes are upgraded (older exports: re-export them). */
export const OLDEST_SOURCE_OPSET = 9;

const REDUCE_AXES_INPUT_FROM: Record<string, number> = { ReduceSum: 13 };
for (const op of ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']) REDUCE_AXES_INPUT_FROM[op] = 18;

type Attrs = Record<string, Attribute>;

/**
 * Emits node `n` (its inputs already renamed to `inputs`) into `b`, rewritten from opset `from` to
 * `b.opset`, writing to `outputs`. Returns false when no rewrite applies (emit it as it is).
 */
export function emitUpgraded(b: GraphBuilder, n: Node, inputs: string[], attrs: Attrs, outputs: string[], from: number, name: string): boolean {
  const to = b.opset;
  if (from >= to) return false;
  if (from < OLDEST_SOURCE_OPSET) {
    throw new OnnxError('UNSUPPORTED_OPSET', `the model uses opset ${from}; opset ${OLDEST_SOURCE_OPSET} or newer is needed (re-export it, e.g. torch.onnx.export(..., opset_version=17))`);
  }
  const emit = (ins: string[], at: Attrs) => {
    b.node(n.opType, ins, at as Record<string, AttrInput>, { outputs, name, domain: n.domain });
    return true;
  };
  const at = { attributes: attrs };
  const without = (...keys: string[]) => Object.fromEntries(Object.entries(attrs).filter(([k]) => !keys.includes(k))) as Attrs;
  const i64 = (v: number[]) => b.constI64(v);
  const op = n.opType;
  if (!isDefaultDomain(n.domain)) return false;

  const axesFrom = REDUCE_AXES_INPUT_FROM[op];
  if (axesFrom !== undefined && from < axesFrom && to >= axesFrom) {
    const axes = attrInts(at, 'axes');
    return emit(axes ? [inputs[0], i64(axes)] : [inputs[0]], without('axes'));
  }
  if ((op === 'Squeeze' || op === 'Unsqueeze') && from < 13) {
    const axes = attrInts(at, 'axes');
    return emit(axes ? [inputs[0], i64(axes)] : [inputs[0]], without('axes'));
  }
  if (op === 'Split' && from < 13) {
    const split = attrInts(at, 'split');
    return emit(split ? [inputs[0], i64(split)] : [inputs[0]], without('split'));
  }
  if ((op === 'Softmax' || op === 'LogSoftmax' || op === 'Hardmax') && from < 13) {
    const rank = b.rank(inputs[0]);
    const axis = normAxis(attrInt(at, 'axis', 1), rank);
    if (axis === rank - 1) return emit(inputs, { ...attrs, axis: { type: 'int', value: -1 } });
    // Normalise over every axis from `axis` on: flatten them into one, then restore the shape.
    const flat = b.op('Flatten', [inputs[0]], { axis });
    const y = b.op(op, [flat], { axis: -1 });
    b.node('Reshape', [y, b.shapeOf(inputs[0])], {}, { outputs, name });
    return true;
  }
  if (op === 'Clip' && from < 11) {
    const lo = attrs.min ? attrFloat(at, 'min', 0) : undefined, hi = attrs.max ? attrFloat(at, 'max', 0) : undefined;
    const c = (v: number) => b.constant(tensor('', b.dtype(inputs[0]) || DataType.FLOAT, [], [v]));
    return emit([inputs[0], lo === undefined ? '' : c(lo), hi === undefined ? '' : c(hi)], without('min', 'max'));
  }
  if (op === 'Pad' && from < 11) {
    const pads = attrInts(at, 'pads') ?? [];
    const value = attrFloat(at, 'value', 0);
    return emit([inputs[0], i64(pads), b.constant(tensor('', b.dtype(inputs[0]) || DataType.FLOAT, [], [value]))], without('pads', 'value'));
  }
  if (op === 'Slice' && from < 10) {
    const starts = attrInts(at, 'starts') ?? [], ends = attrInts(at, 'ends') ?? [];
    const axes = attrInts(at, 'axes');
    return emit([inputs[0], i64(starts), i64(ends), ...(axes ? [i64(axes)] : [])], without('starts', 'ends', 'axes'));
  }
  if (op === 'TopK' && from < 10) {
    const k = attrInt(at, 'k', 1);
    return emit([inputs[0], i64([k])], without('k'));
  }
  if (op === 'BatchNormalization' && attrs.spatial) {
    if (attrInt(at, 'spatial', 1) !== 1) throw new OnnxError('UNSUPPORTED_OP', `BatchNormalization "${n.name}" uses spatial=0, which later opsets removed; re-export the model`);
    return emit(inputs, without('spatial'));
  }
  return false;
}
