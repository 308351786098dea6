// Weight gradient of Conv: dW[co, ci, t] = sum over images n and output positions o of
// dY[n, co, o] * x[n, ci, o*s - p + t*d] (zero in the padding), per group.
//
// The columns ("im2col") cols[n, ci*K + t, o] = x[n, ci, o*s - p + t*d] come from a grouped Conv
// with one-hot kernels (one output channel per input channel and tap, the forward's strides, pads
// and dilations); dW is then a MatMul of the columns with dY.
// - Per image (the usual case): [N, G, Cig*K, L] x [N, G, L, Cog], summed over the batch.
// - Batch folded into the inner dimension where a group has more output channels than positions
//   (deep layers, 512 channels on 4x4): the per-image products would be Cog/L times the columns
//   (288 MiB for PreAct ResNet-18's layer4 at batch 32), so one [G, Cog, N*L] x [G, N*L, Cig*K].
// - Depthwise (one output channel per group): an elementwise product and a ReduceSum beat G tiny
//   MatMuls.
// - Chunked by input channels (group 1, either product): the columns are K times the input, 81 MiB for
//   SmallCNN's conv2 at batch 128, the largest tensor of the whole train step; allocated at once, it
//   set the train step's memory peak. Taken a few input channels at a time, with the MatMul and the
//   batch sum right after each slice's columns, no more than COLS_PER_IMAGE floats per image are
//   live (but at least MIN_ROWS rows per MatMul). The channels are static, so the chunks are too
//   (the batch is symbolic in the artifacts).
//   Each chunk's rows of dW are the same sums over the same products as the unchunked form's.
// forms.convWeight 'batched' computes the columns with the channels as a batch of one-channel
// images ([N*C, 1, ...] through a group-1 Conv with K one-hot kernels): WebGPU's grouped Conv is
// wrong for K = 9 outputs per group; on the CPU it is 1.3-2.4x slower. forms.convWeightFold
// 'per-image' and forms.convWeightCols 'whole' keep the earlier forms, for comparison.
import type { GraphBuilder } from '../../onnx/builder.js';
import type { SpatialGeometry } from '../../onnx/attrs.js';
import { numel, tensor } from '../../onnx/ir.js';
import type { GradForms } from '../rule.js';

/** Columns per image (floats) that one chunk of the chunked form may hold: 64 KiB. */
export const COLS_PER_IMAGE = 1 << 14;
/**
 * Rows of a chunk's MatMul (channels x taps) at the least: with one channel (9 rows) per chunk
 * PreAct ResNet-18's train step took 5% longer at one thread than with all columns at once, with
 * 8 channels (72 rows) 3% less.
 */
const MIN_ROWS = 64;

/** One-hot weights [C*K, 1, ...kernel] that turn a group=C Conv into im2col (channel-major, then tap); C = 1 for the batched form. */
function im2colWeights(b: GraphBuilder, channels: number, kernel: number[], like: string): string {
  const K = numel(kernel);
  const t = tensor('', b.dtype(like), [channels * K, 1, ...kernel]);
  const data = t.data as Float32Array | Float64Array;
  for (let c = 0; c < channels; c++) for (let j = 0; j < K; j++) data[(c * K + j) * K + j] = 1;
  return b.constant(t, 'im2col_w');
}

export interface WeightGradShape {
  /** W's shape [Co, Cig, ...kernel]. */
  ws: number[];
  group: number;
  geo: SpatialGeometry;
  inDims: number[];
  outDims: number[];
}

/** dW of a Conv with input `x` and output gradient `g`, in W's layout. */
export function convWeightGrad(b: GraphBuilder, x: string, g: string, s: WeightGradShape, forms: GradForms): string {
  const { ws, group, geo, inDims } = s;
  const [Co, Cig] = ws;
  const kernel = ws.slice(2);
  const Ci = Cig * group, Cog = Co / group, L = numel(s.outDims), K = numel(kernel);
  const pads = [...geo.padsBegin, ...geo.padsEnd];
  const attrs = { strides: geo.strides, dilations: geo.dilations, pads, kernel_shape: kernel };
  const identity = K === 1 && geo.strides.every((v) => v === 1) && pads.every((v) => v === 0);
  const perImage = Cog > 1 && (Cog <= L || forms.convWeightFold === 'per-image');
  const chunk = Math.max(Math.ceil(MIN_ROWS / K), Math.floor(COLS_PER_IMAGE / (K * L)));
  if (!identity && group === 1 && Cog > 1 && forms.convWeight !== 'batched' && forms.convWeightCols !== 'whole' && chunk < Ci) {
    return chunked(b, x, g, { Ci, Co, K, L, chunk, attrs, ws, kernel, perImage });
  }

  // cols[n, ci*K + tap, o] = x[n, ci, o*stride - pad + tap*dilation] (0 in the padding).
  const cols = identity ? x // 1x1, stride 1, unpadded: the columns are x itself
    : forms.convWeight === 'batched'
      ? b.op('Conv', [b.reshape(x, [-1, 1, ...inDims]), im2colWeights(b, 1, kernel, x)], attrs, { name: 'conv_im2col' }) // [N*Ci, K, ...out]
      : b.op('Conv', [x, im2colWeights(b, Ci, kernel, x)], { ...attrs, group: Ci }, { name: 'conv_im2col' });
  const cols4 = b.reshape(cols, [-1, group, Cig * K, L]);
  const g4 = b.reshape(g, [0, group, Cog, L]);
  if (Cog === 1) {
    const sum = b.reduceSum(b.mul(cols4, g4), [0, 3], 0); // [G, Cig*K]
    return b.reshape(sum, ws);
  }
  if (perImage) {
    const prod = b.matmul(cols4, b.transpose(g4, [0, 1, 3, 2])); // [N, G, Cig*K, Cog]
    const sum = b.reduceSum(prod, [0], 0); // [G, Cig*K, Cog]
    return b.reshape(b.transpose(sum, [0, 2, 1]), ws);
  }
  const gT = b.reshape(b.transpose(g4, [1, 2, 0, 3]), [group, Cog, -1]); // [G, Cog, N*L]
  const colsT = b.reshape(b.transpose(cols4, [1, 0, 3, 2]), [group, -1, Cig * K]); // [G, N*L, Cig*K]
  return b.reshape(b.matmul(gT, colsT), ws); // [G, Cog, Cig*K] is W's layout
}

/**
 * Either product (group 1) over `chunk` input channels at a time, each chunk's columns used up
 * before the next chunk's are made: dW's columns [Co, n*K] per chunk, concatenated in channel order.
 */
function chunked(b: GraphBuilder, x: string, g: string, c: { Ci: number; Co: number; K: number; L: number; chunk: number; attrs: Record<string, number[]>; ws: number[]; kernel: number[]; perImage: boolean }): string {
  const g3 = b.reshape(g, [0, c.Co, c.L]);
  const gT = c.perImage ? b.transpose(g3, [0, 2, 1]) : b.reshape(b.transpose(g3, [1, 0, 2]), [c.Co, -1]); // [N, L, Co] or [Co, N*L]
  const parts: string[] = [];
  for (let lo = 0; lo < c.Ci; lo += c.chunk) {
    const n = Math.min(c.chunk, c.Ci - lo);
    const xs = b.op('Slice', [x, b.constI64([lo]), b.constI64([lo + n]), b.constI64([1])], {}, { name: 'conv_dw_channels' });
    const cols = b.reshape(b.op('Conv', [xs, im2colWeights(b, n, c.kernel, x)], { ...c.attrs, group: n }, { name: 'conv_im2col' }), [0, n * c.K, c.L]);
    parts.push(c.perImage
      ? b.transpose(b.reduceSum(b.matmul(cols, gT), [0], 0), [1, 0]) // sum over n of [n*K, Co] products, as [Co, n*K]
      : b.matmul(gT, b.reshape(b.transpose(cols, [0, 2, 1]), [-1, n * c.K]))); // [Co, N*L] x [N*L, n*K]
  }
  return b.reshape(b.op('Concat', parts, { axis: 1 }), c.ws); // [Co, Ci*K] is W's layout
}
