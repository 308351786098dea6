// LayerNormalization (opset 17; ViT, ConvNeXt), InstanceNormalization, and LRN (AlexNet,
// GoogLeNet; at the end). The first two, like BatchNormalization in training mode
// (batchnorm.ts), normalise x over a set of axes with its own (biased) statistics, then scale and
// shift; the shared backward lives here:
//   xhat = (x - mean) * r,  r = 1 / sqrt(var + eps),  y = scale * xhat + bias
//   dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = dy * scale
// When the scale is constant over the normalised axes (per channel: BatchNorm, InstanceNorm) it is
// applied after, and the two sums are also the scale and bias gradients. The statistics are
// recomputed in the backward (the optional Mean / InvStdDev outputs are not relied on, since
// exporters usually drop them).
import { attrFloat, attrInt, epsilonOf } from '../../onnx/attrs.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { OnnxError } from '../../onnx/errors.js';
import { tensor } from '../../onnx/ir.js';
import { registerGrad } from '../rule.js';
import { elementCount, normAxis, scalarLike, unbroadcast } from '../helpers.js';

export interface Normalised { xhat: string; r: string; count: string }

/** xhat, 1/std (keepdims) and the element count over `axes`, recomputed from x. */
export function normalise(b: GraphBuilder, x: string, axes: number[], eps: number): Normalised {
  const mu = b.reduceMean(x, axes, 1);
  const xc = b.sub(x, mu);
  const v = b.reduceMean(b.mul(xc, xc), axes, 1);
  const r = b.op('Reciprocal', [b.op('Sqrt', [b.add(v, scalarLike(b, eps, x))])]);
  const count = elementCount(b, x, axes);
  return { xhat: b.mul(xc, r), r, count };
}

/**
 * Backward of the normalisation for a gradient `dz` w.r.t. xhat: the sums over `axes` of dz and of
 * dz * xhat (kept as size-1 dims), and, when asked, dx = r * (dz - mean(dz) - xhat * mean(dz * xhat)).
 */
export function normaliseBackward(b: GraphBuilder, n: Normalised, dz: string, axes: number[], wantDx = true): { dx: string | null; sum: string; sumXhat: string } {
  const sum = b.reduceSum(dz, axes, 1);
  const sumXhat = b.reduceSum(b.mul(dz, n.xhat), axes, 1);
  if (!wantDx) return { dx: null, sum, sumXhat };
  const inner = b.sub(b.sub(dz, b.div(sum, n.count)), b.mul(n.xhat, b.div(sumXhat, n.count)));
  return { dx: b.mul(n.r, inner), sum, sumXhat };
}

registerGrad({
  op: 'LayerNormalization',
  grad: ({ b, node, g, needs }) => {
    const [x, scale, bias] = node.inputs;
    const rank = b.rank(x);
    const axis = normAxis(attrInt(node, 'axis', -1), rank);
    const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
    const n = normalise(b, x, axes, epsilonOf(node));
    return [
      needs[0] ? normaliseBackward(b, n, b.mul(g, scale), axes).dx : null,
      needs[1] ? unbroadcast(b, b.mul(g, n.xhat), scale) : null,
      bias && needs[2] ? unbroadcast(b, g, bias) : null,
    ];
  },
});

registerGrad({
  op: 'InstanceNormalization',
  // x is [N, C, d1..dk]; statistics per (n, c) over d1..dk; scale and bias are [C].
  grad: ({ b, node, g, needs }) => {
    const [x, scale] = node.inputs;
    const spatial = Array.from({ length: b.rank(x) - 2 }, (_, i) => i + 2);
    const n = normalise(b, x, spatial, epsilonOf(node));
    const { dx, sum, sumXhat } = normaliseBackward(b, n, g, spatial, needs[0]);
    const perChannel = (v: string) => b.unsqueeze(v, spatial.map((_, i) => i + 1));
    return [
      dx && b.mul(dx, perChannel(scale)),
      needs[1] ? b.reduceSum(sumXhat, [0, ...spatial], 0) : null,
      needs[2] ? b.reduceSum(sum, [0, ...spatial], 0) : null,
    ];
  },
});

/**
 * Sums of `v` ([N, C, ...], static C) over a window of channels: out[c] = sum of v[c - lo .. c + hi]
 * (zero outside), as a ones-kernel Conv over the channel axis of v viewed as [N, 1, C, rest].
 */
function channelWindowSum(b: GraphBuilder, v: string, channels: number, lo: number, hi: number): string {
  const flat = b.reshape(v, [0, 1, channels, -1]);
  const ones = b.constant(tensor('', b.dtype(v), [1, 1, lo + hi + 1, 1], new Array(lo + hi + 1).fill(1)));
  const sum = b.conv(flat, ones, undefined, { kernel_shape: [lo + hi + 1, 1], pads: [lo, 0, hi, 0] });
  return b.reshape(sum, b.shapeOf(v));
}

registerGrad({
  op: 'LRN',
  // y = x s^-beta, s = bias + alpha/size * sum_{window(c)} x^2, window(c) = [c - floor((size-1)/2), c + ceil((size-1)/2)]
  // dx_c = g_c s_c^-beta - (2 alpha beta / size) x_c sum_{j : c in window(j)} g_j y_j / s_j
  grad: ({ b, node, g }) => {
    const x = node.inputs[0], y = node.outputs[0];
    const size = attrInt(node, 'size', 1);
    const alpha = attrFloat(node, 'alpha', 1e-4), beta = attrFloat(node, 'beta', 0.75), bias = attrFloat(node, 'bias', 1);
    const channels = b.shape(x)?.[1];
    if (typeof channels !== 'number') throw new OnnxError('SHAPE', `LRN "${node.name}": the gradient needs a static channel count`);
    const lo = Math.floor((size - 1) / 2), hi = Math.ceil((size - 1) / 2);
    const k = (v: number) => scalarLike(b, v, x);
    const s = b.add(k(bias), b.mul(k(alpha / size), channelWindowSum(b, b.mul(x, x), channels, lo, hi)));
    const back = channelWindowSum(b, b.div(b.mul(g, y), s), channels, hi, lo);
    const direct = b.mul(g, b.op('Pow', [s, k(-beta)]));
    return [b.sub(direct, b.mul(k((2 * alpha * beta) / size), b.mul(x, back)))];
  },
});
