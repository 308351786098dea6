// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool.
//   MaxPool, two exact forms that route dY to the first maximum of each window (ORT's choice on ties):
//   - 'indices' (when the forward node emits its Indices output, storage_order 0; the artifacts do
//     so on the CPU): ScatterElements(reduction='add') of dY at the flat Indices into a flat zero
//     tensor, so overlapping windows that pick the same element add up.
//     Before opset 11 a node without Indices gets them from a recomputed two-output MaxPool.
//   - 'windows' (otherwise; ORT's WebGPU MaxPool has no Indices output): the input padded with the
//     lowest float, one strided Slice per kernel tap stacked into windows W [N, C, K, ...out];
//     M = (W == max_k W), first tap only: F = (s == max_k s) with s = M * (K - k); then
//     dX = ConvTranspose of F * dY (as [N*C, K, ...out] planes) with a one-hot kernel per tap,
//     which adds overlapping windows' contributions back onto the input.
//   - 'tiled' (2-D square windows that tile the input: kernel = strides, no padding or dilation,
//     each dim a multiple of the kernel; SmallCNN's 2x2 pools): the forward keeps its single
//     output, which ORT runs on its fast (NCHWc) pooling kernel: SmallCNN's PGD-10 attack spent
//     102 ms of 872 (one thread) in MaxPool with Indices and 50 in the scatter, against 4 ms for
//     the plain MaxPool. SpaceToDepth lays the taps out as [N, K, C, Ho, Wo]; M = (taps == y),
//     the first tap of each window by the same score as 'windows', dX = DepthToSpace(F * dY).
//   AveragePool: the adjoint of "window sum, divided by a per-position count": dY is scaled by the
//     per-position weight and spread back by a ones-kernel ConvTranspose. The weight is 1/(number of
//     in-bounds elements) for count_include_pad=0; for count_include_pad=1 it is ORT's own
//     AveragePool of a ones image divided by that number, so ORT's divisor convention at padded and
//     ceil_mode edges is matched exactly without restating it.
//   GlobalAveragePool: dY / (spatial size), expanded.
import { attrInt, attrInts, spatialGeometry, type SpatialGeometry } from '../../onnx/attrs.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { isStatic, numel, tensor, type Node } from '../../onnx/ir.js';
import { registerGrad } from '../rule.js';
import { scalarLike } from '../helpers.js';
import { extremumGrad } from './reductions.js';
import { staticSpatial, transposeAttrs } from './conv.js';

/** Flat zero tensor with as many elements as `x`. */
function flatZeros(b: GraphBuilder, x: string): string {
  const s = b.staticDims(x);
  return b.zeros(s ? [numel(s)] : b.op('ReduceProd', [b.shapeOf(x)], { keepdims: 1 }), b.dtype(x));
}

const POOL_ATTRS = ['auto_pad', 'ceil_mode', 'dilations', 'kernel_shape', 'pads', 'strides'];

/** The lowest float32: a padded position never wins a window (MaxPool ignores padding). */
const LOWEST_F32 = -3.4028234663852886e38;

/** Row-major multi-index of tap `t` in a kernel of dims `kernel`. */
function tapIndex(t: number, kernel: number[]): number[] {
  const idx: number[] = [];
  for (let i = kernel.length - 1; i >= 0; i--) { idx.unshift(t % kernel[i]); t = Math.floor(t / kernel[i]); }
  return idx;
}

/** The MaxPool backward without Indices ('windows' form, see the header). */
function maxPoolWindowsGrad(b: GraphBuilder, node: Node, x: string, g: string): string {
  const inDims = staticSpatial(b, x, node);
  const outDims = staticSpatial(b, g, node);
  const kernel = attrInts(node, 'kernel_shape')!;
  const geo = spatialGeometry(node, inDims, kernel);
  const sp = inDims.length;
  const K = numel(kernel);
  const reach = outDims.map((o, i) => geo.strides[i] * (o - 1) + 1);
  const padsEnd = outDims.map((_, i) => Math.max(0, reach[i] + (kernel[i] - 1) * geo.dilations[i] - geo.padsBegin[i] - inDims[i]));
  const pads = [0, 0, ...geo.padsBegin, 0, 0, ...padsEnd];
  const padded = pads.some((p) => p > 0) ? b.op('Pad', [x, b.constI64(pads), scalarLike(b, LOWEST_F32, x)], { mode: 'constant' }, { name: 'maxpool_pad' }) : x;
  const axes = b.constI64(Array.from({ length: sp }, (_, i) => i + 2));
  const steps = b.constI64(geo.strides);
  const taps: string[] = [];
  for (let t = 0; t < K; t++) {
    const starts = tapIndex(t, kernel).map((k, i) => k * geo.dilations[i]);
    const tap = b.op('Slice', [padded, b.constI64(starts), b.constI64(starts.map((s, i) => s + reach[i])), axes, steps], {}, { name: 'maxpool_tap' });
    taps.push(b.unsqueeze(tap, [2]));
  }
  const windows = K === 1 ? taps[0] : b.op('Concat', taps, { axis: 2 }, { name: 'maxpool_windows' });
  const dt = b.dtype(x);
  const isMax = b.cast(b.op('Equal', [windows, b.reduceMax(windows, [2])]), dt);
  const order = b.constant(tensor('', dt, [1, 1, K, ...new Array<number>(sp).fill(1)], Array.from({ length: K }, (_, t) => K - t)), 'maxpool_order');
  const score = b.mul(isMax, order);
  const first = b.cast(b.op('Equal', [score, b.reduceMax(score, [2])]), dt);
  const planes = b.reshape(b.mul(first, b.unsqueeze(g, [2])), [-1, K, ...outDims]);
  const onehot = new Array<number>(K * K).fill(0);
  for (let t = 0; t < K; t++) onehot[t * K + t] = 1;
  const w = b.constant(tensor('', dt, [K, 1, ...kernel], onehot), 'maxpool_onehot');
  const spread = b.op('ConvTranspose', [planes, w], { ...transposeAttrs(geo, outDims), kernel_shape: kernel }, { name: 'maxpool_dx' });
  return b.reshapeLike(spread, x);
}

/** Whether a 2-D MaxPool's square windows tile its input `inDims` exactly (the 'tiled' backward applies). */
export function isTiledPool(node: Node, inDims: number[]): boolean {
  const kernel = attrInts(node, 'kernel_shape');
  if (!kernel || kernel.length !== 2 || inDims.length !== 2 || kernel[0] !== kernel[1] || attrInt(node, 'storage_order', 0) !== 0) return false;
  const geo = spatialGeometry(node, inDims, kernel);
  return kernel.every((k, i) => geo.strides[i] === k && geo.dilations[i] === 1 && geo.padsBegin[i] === 0 && geo.padsEnd[i] === 0 && inDims[i] % k === 0);
}

/** The MaxPool backward for square windows that tile the input ('tiled' form, see the header). */
function maxPoolTiledGrad(b: GraphBuilder, node: Node, x: string, y: string, g: string): string {
  const [H, W] = staticSpatial(b, x, node);
  const k = attrInts(node, 'kernel_shape')![0];
  const K = k * k;
  const C = b.shape(x)![1] as number;
  const [Ho, Wo] = [H / k, W / k];
  // SpaceToDepth puts tap t = row * k + col of every window at channels [t*C, (t+1)*C): as
  // [N, K, C, Ho, Wo] each comparison below broadcasts over whole [C, Ho, Wo] blocks.
  const taps = b.reshape(b.op('SpaceToDepth', [x], { blocksize: k }), [0, K, C, Ho, Wo]);
  const dt = b.dtype(x);
  const isMax = b.cast(b.op('Equal', [taps, b.unsqueeze(y, [1])]), dt);
  // A maximum at tap t scores K - t: the first maximum of a window (ORT's index order) scores highest.
  const order = b.constant(tensor('', dt, [1, K, 1, 1, 1], Array.from({ length: K }, (_, t) => K - t)), 'maxpool_order');
  const score = b.mul(isMax, order);
  const first = b.cast(b.op('Equal', [score, b.reduceMax(score, [1])]), dt);
  const dTaps = b.reshape(b.mul(first, b.unsqueeze(g, [1])), [0, K * C, Ho, Wo]);
  return b.op('DepthToSpace', [dTaps], { blocksize: k, mode: 'DCR' }, { name: 'maxpool_dx' });
}

registerGrad({
  op: 'MaxPool',
  grad: ({ b, node, g, forms }) => {
    const x = node.inputs[0];
    let indices = node.outputs[1];
    const inDims = b.shape(x)?.slice(2);
    if (!indices && forms.maxPool !== 'windows' && isStatic(inDims) && isTiledPool(node, inDims) && typeof b.shape(x)![1] === 'number') return [maxPoolTiledGrad(b, node, x, node.outputs[0], g)];
    if (!indices || attrInt(node, 'storage_order', 0) !== 0) {
      if (b.opset >= 11) return [maxPoolWindowsGrad(b, node, x, g)];
      // Before opset 11 (Pad's value input): recompute the Indices.
      const attrs = Object.fromEntries(POOL_ATTRS.filter((k) => node.attributes[k]).map((k) => [k, node.attributes[k]]));
      indices = b.node('MaxPool', [x], attrs, { outputs: 2, name: 'maxpool_idx' })[1];
    }
    const flat = b.op('ScatterElements', [flatZeros(b, x), b.reshape(indices, [-1]), b.reshape(g, [-1])], { axis: 0, reduction: 'add' }, { name: 'maxpool_dx' });
    return [b.reshapeLike(flat, x)];
  },
});

registerGrad({
  op: 'GlobalMaxPool',
  // Like ReduceMax over the spatial axes: the gradient goes to the maxima, split evenly between ties.
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    return [extremumGrad(b, x, node.outputs[0], g, Array.from({ length: b.rank(x) - 2 }, (_, i) => i + 2))];
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
  const includePad = attrInt(node, 'count_include_pad', 0) === 1;
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
  op: 'AveragePool',
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    const inDims = staticSpatial(b, x, node);
    const outDims = staticSpatial(b, g, node);
    const kernel = attrInts(node, 'kernel_shape')!;
    const geo = spatialGeometry(node, inDims, kernel);
    const scaled = b.mul(g, averageWeights(b, node, geo, outDims, x));
    // Spread each scaled gradient over its window: ConvTranspose of the (N*C, 1, ...) planes with a ones kernel.
    const planes = b.reshape(scaled, [-1, 1, ...outDims]);
    const ones = b.constant(tensor('', b.dtype(x), [1, 1, ...kernel], new Array(numel(kernel)).fill(1)), 'ones_kernel');
    const spread = b.op('ConvTranspose', [planes, ones], { ...transposeAttrs(geo, outDims), kernel_shape: kernel }, { name: 'avgpool_dx' });
    return [b.reshapeLike(spread, x)];
  },
});

registerGrad({
  op: 'GlobalAveragePool',
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    const s = b.shape(x);
    const sp = s?.slice(2);
    const count = isStatic(sp)
      ? scalarLike(b, numel(sp), x)
      : b.cast(b.op('ReduceProd', [b.op('Slice', [b.shapeOf(x), b.constI64([2]), b.constI64([1 << 30])])], { keepdims: 0 }), b.dtype(x));
    return [b.op('Expand', [b.div(g, count), b.shapeOf(x)])];
  },
});
