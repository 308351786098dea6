// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool.
//   MaxPool: exact routing through MaxPool's Indices output (flat over the whole N,C,spatial tensor,
//     row-major) and ScatterElements(reduction='add') into a flat zero tensor, so overlapping windows
//     that pick the same element add up. The forward node's Indices output is reused when present
//     (storage_order 0); otherwise the backward recomputes MaxPool with both outputs.
//   AveragePool: the adjoint of "window sum, divided by a per-position count": dY is scaled by the
//     per-position weight and spread back by a ones-kernel ConvTranspose. The weight is 1/(number of
//     in-bounds elements) for count_include_pad=0; for count_include_pad=1 it is ORT's own
//     AveragePool of a ones image divided by that number, so ORT's divisor convention at padded and
//     ceil_mode edges is matched exactly without restating it.
//   GlobalAveragePool: dY / (spatial size), expanded.
import type { GraphBuilder } from '../../onnx/builder.js';
import { numel, tensor, type Node } from '../../onnx/ir.js';
import { shapeAttr } from '../../onnx/shapes.js';
import { registerGrad } from '../rule.js';
import { scalarLike } from '../helpers.js';
import { extremumGrad } from './reduce.js';
import { spatialGeometry, staticSpatial, transposeAttrs, type SpatialGeometry } from './conv.js';

/** Flat zero tensor with as many elements as `x`. */
function flatZeros(b: GraphBuilder, x: string): string {
  const s = b.shape(x);
  const dt = b.dtype(x);
  const len = s && s.every((d) => typeof d === 'number') ? b.constI64([numel(s as number[])]) : b.reshape(b.op('Size', [x]), [1]);
  return b.op('ConstantOfShape', [len], { value: tensor('', dt, [1], [0]) }, { name: 'zeros' });
}
/** `v` reshaped to the shape of `x` (static when known). */
function reshapeLike(b: GraphBuilder, v: string, x: string): string {
  const s = b.shape(x);
  return b.reshape(v, s && s.every((d) => typeof d === 'number') ? (s as number[]) : b.shapeOf(x));
}

const POOL_ATTRS = ['auto_pad', 'ceil_mode', 'dilations', 'kernel_shape', 'pads', 'strides'];

registerGrad({
  op: 'MaxPool', saves: 'the Indices output (or the input, to recompute it)',
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    let indices = node.outputs[1];
    if (!indices || shapeAttr.attrI(node, 'storage_order', 0) !== 0) {
      const attrs = Object.fromEntries(POOL_ATTRS.filter((k) => node.attributes[k]).map((k) => [k, node.attributes[k]]));
      indices = b.node('MaxPool', [x], attrs, { outputs: 2, name: 'maxpool_idx' })[1];
    }
    const flat = b.op('ScatterElements', [flatZeros(b, x), b.reshape(indices, [-1]), b.reshape(g!, [-1])], { axis: 0, reduction: 'add' }, { name: 'maxpool_dx' });
    return [reshapeLike(b, flat, x)];
  },
});

registerGrad({
  op: 'GlobalMaxPool', saves: 'the input and the output',
  // Like ReduceMax over the spatial axes: the gradient goes to the maxima, split evenly between ties.
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    return [extremumGrad(b, x, node.outputs[0], g!, Array.from({ length: b.rank(x) - 2 }, (_, i) => i + 2))];
  },
});

/** Number of in-bounds elements of each window along one spatial axis. */
function validCounts(geo: SpatialGeometry, axis: number, out: number): number[] {
  const res: number[] = [];
  for (let o = 0; o < out; o++) {
    let n = 0;
    for (let j = 0; j < geo.kernel[axis]; j++) {
      const p = o * geo.strides[axis] - geo.padsBegin[axis] + j * geo.dilations[axis];
      if (p >= 0 && p < geo.in[axis]) n++;
    }
    res.push(n);
  }
  return res;
}

/** Per output position weight 1/divisor, shaped [1, 1, ...out] (or a scalar when uniform). */
function averageWeights(b: GraphBuilder, node: Node, geo: SpatialGeometry, outDims: number[], like: string): string {
  const sp = outDims.length;
  const per = outDims.map((o, i) => validCounts(geo, i, o));
  const valid = new Array<number>(numel(outDims)).fill(1);
  // Outer product of the per-axis counts, row-major over the output positions.
  let stride = numel(outDims);
  for (let i = 0; i < sp; i++) {
    stride /= outDims[i];
    for (let k = 0; k < valid.length; k++) valid[k] *= per[i][Math.floor(k / stride) % outDims[i]];
  }
  const K = numel(geo.kernel);
  const includePad = shapeAttr.attrI(node, 'count_include_pad', 0) === 1;
  const dt = b.dtype(like);
  if (!includePad) {
    if (valid.every((v) => v === valid[0])) return scalarLike(b, 1 / Math.max(valid[0], 1), like);
    return b.constant(tensor('', dt, [1, 1, ...outDims], valid.map((v) => 1 / Math.max(v, 1))), 'avgpool_w');
  }
  if (valid.every((v) => v === K)) return scalarLike(b, 1 / K, like);
  // AveragePool(ones) = valid / divisor at each position, so weight = AveragePool(ones) / valid.
  const ones = b.constant(tensor('', dt, [1, 1, ...geo.in], new Array(numel(geo.in)).fill(1)), 'ones');
  // Explicit pads (auto_pad resolved): ORT rejects SAME_* when the needed padding is negative.
  const attrs = Object.fromEntries(['ceil_mode', 'dilations', 'kernel_shape', 'strides', 'count_include_pad'].filter((k) => node.attributes[k]).map((k) => [k, node.attributes[k]]));
  const ratio = b.op('AveragePool', [ones], { ...attrs, pads: [...geo.padsBegin, ...geo.padsEnd] }, { name: 'avgpool_ones' });
  return b.div(ratio, b.constant(tensor('', dt, [1, 1, ...outDims], valid.map((v) => Math.max(v, 1))), 'avgpool_valid'));
}

registerGrad({
  op: 'AveragePool', saves: 'the input shape',
  grad: ({ b, node, dy: [gy] }) => {
    const x = node.inputs[0];
    const g = gy!;
    const inDims = staticSpatial(b, x, node);
    const outDims = staticSpatial(b, g, node);
    const kernel = shapeAttr.attrIs(node, 'kernel_shape')!;
    const geo = spatialGeometry(node, inDims, kernel);
    const scaled = b.mul(g, averageWeights(b, node, geo, outDims, x));
    // Spread each scaled gradient over its window: ConvTranspose of the (N*C, 1, ...) planes with a ones kernel.
    const planes = b.reshape(scaled, [-1, 1, ...outDims]);
    const ones = b.constant(tensor('', b.dtype(x), [1, 1, ...kernel], new Array(numel(kernel)).fill(1)), 'ones_kernel');
    const spread = b.op('ConvTranspose', [planes, ones], { ...transposeAttrs(geo, outDims), kernel_shape: kernel }, { name: 'avgpool_dx' });
    return [reshapeLike(b, spread, x)];
  },
});

registerGrad({
  op: 'GlobalAveragePool', saves: 'the input shape',
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    const s = b.shape(x);
    const sp = s?.slice(2);
    const count = sp && sp.every((d) => typeof d === 'number')
      ? scalarLike(b, numel(sp as number[]), x)
      : b.cast(b.op('ReduceProd', [b.op('Slice', [b.shapeOf(x), b.constI64([2]), b.constI64([1 << 30])])], { keepdims: 0 }), b.dtype(x));
    return [b.op('Expand', [b.div(g!, count), b.shapeOf(x)])];
  },
});
