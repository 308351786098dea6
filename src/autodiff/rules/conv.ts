// Conv (1-D/2-D/3-D, groups incl. depthwise, strides, pads, auto_pad, dilations, optional bias).
//   dX: a Conv of dY with the kernel flipped and in/out channels swapped (strided 2-D convs: one
//       Conv over all stride phases, then DepthToSpace), see conv_input_grad.ts. Where that form
//       does not apply: ConvTranspose with the same weights, pads chosen so its output is exactly
//       the input shape (ORT's CPU ConvTranspose runs image by image: 1.5-2x slower).
//   dW: im2col by a grouped one-hot Conv (one output channel per input channel and kernel tap,
//       same strides/pads/dilations as the forward), then a batched MatMul with dY and a ReduceSum
//       over the batch. On ORT CPU this was the fastest correct formulation we measured (about
//       1.5-3x faster than "transpose N<->C, Conv, transpose" on a 128x32x26x26 3x3 layer).
//       Where a layer has more output channels per group than output positions, the batch moves
//       into the MatMul's inner dimension instead (one [Cog, N*L] x [N*L, Cig*K] product): the
//       per-image products would be larger than the columns themselves.
//       forms.convWeight 'batched' computes the same columns with the channels as a batch of
//       one-channel images ([N*C, 1, ...] through a group-1 Conv with K one-hot kernels): WebGPU's
//       grouped Conv is wrong for K = 9 outputs per group; on the CPU it is 1.3-2.4x slower.
//   dB: ReduceSum of dY over batch and spatial axes.
// Only the gradients in `needs` are built (a first layer needs no dX, an attack needs no dW).
import { attrInt, spatialGeometry, type SpatialGeometry } from '../../onnx/attrs.js';
import { OnnxError } from '../../onnx/errors.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { isStatic, numel, tensor, type Node } from '../../onnx/ir.js';
import { registerGrad } from '../rule.js';
import { convInputGrad } from './conv_input_grad.js';

/** Spatial dims of `x` (NC...), which must be static for a conv/pool gradient. */
export function staticSpatial(b: GraphBuilder, x: string, node: Node): number[] {
  const s = b.shape(x);
  const sp = s?.slice(2);
  if (!isStatic(sp)) {
    throw new OnnxError('SHAPE', `${node.opType} "${node.name}": the gradient needs static spatial dims of "${x}", got [${s ?? '?'}]`);
  }
  return sp;
}

/**
 * Attributes for a ConvTranspose that maps a gradient of spatial dims `outDims` back onto exactly
 * the input dims of `g` (the adjoint of the strided/padded/dilated window map). Where the forward
 * windows do not reach the input's end (floor division, or ceil_mode pooling that reaches past it),
 * the end pad is grown or output_padding (< stride) is added.
 */
export function transposeAttrs(g: SpatialGeometry, outDims: number[]): { strides: number[]; dilations: number[]; pads: number[]; output_padding: number[] } {
  const sp = g.in.length;
  const padsEnd: number[] = [];
  const outputPadding: number[] = [];
  for (let i = 0; i < sp; i++) {
    const ek = (g.kernel[i] - 1) * g.dilations[i] + 1;
    const full = g.strides[i] * (outDims[i] - 1) + ek; // length covered by the windows, from -padsBegin
    const end = full - g.padsBegin[i] - g.in[i];
    padsEnd.push(Math.max(0, end));
    outputPadding.push(Math.max(0, -end));
  }
  return { strides: g.strides, dilations: g.dilations, pads: [...g.padsBegin, ...padsEnd], output_padding: outputPadding };
}

/** One-hot weights [C*K, 1, ...kernel] that turn a group=C Conv into im2col (channel-major, then tap); C = 1 for the batched form. */
function im2colWeights(b: GraphBuilder, channels: number, kernel: number[], like: string): string {
  const K = numel(kernel);
  const dt = b.dtype(like);
  const t = tensor('', dt, [channels * K, 1, ...kernel]);
  const data = t.data as Float32Array | Float64Array;
  for (let c = 0; c < channels; c++) for (let j = 0; j < K; j++) data[(c * K + j) * K + j] = 1;
  return b.constant(t, 'im2col_w');
}

registerGrad({
  op: 'Conv',
  grad: ({ b, node, g, needs, forms }) => {
    const [x, w, bias] = node.inputs;
    const inDims = staticSpatial(b, x, node);
    const ws = b.staticShape(w);
    const kernel = ws.slice(2);
    const group = attrInt(node, 'group', 1);
    const geo = spatialGeometry(node, inDims, kernel);
    const outDims = staticSpatial(b, g, node);
    const sp = inDims.length;
    const [Co, Cig] = ws;
    const Ci = Cig * group;
    const Cog = Co / group;
    const L = numel(outDims);
    const K = numel(kernel);
    const pads = [...geo.padsBegin, ...geo.padsEnd];

    let dx: string | null = null;
    if (needs[0]) {
      dx = forms.convInput !== 'convtranspose' ? convInputGrad(b, g, w, ws, group, geo, outDims) : null;
      dx ??= b.op('ConvTranspose', [g, w], { ...transposeAttrs(geo, outDims), group, kernel_shape: kernel }, { name: 'conv_dx' });
    }

    let dw: string | null = null;
    if (needs[1]) {
      // cols[n, ci*K + tap, o] = x[n, ci, o*stride - pad + tap*dilation] (0 in the padding).
      const identity = K === 1 && geo.strides.every((v) => v === 1) && pads.every((v) => v === 0);
      const attrs = { strides: geo.strides, dilations: geo.dilations, pads, kernel_shape: kernel };
      const cols = identity ? x // 1x1, stride 1, unpadded: the columns are x itself
        : forms.convWeight === 'batched'
          ? b.op('Conv', [b.reshape(x, [-1, 1, ...inDims]), im2colWeights(b, 1, kernel, x)], attrs, { name: 'conv_im2col' }) // [N*Ci, K, ...out]
          : b.op('Conv', [x, im2colWeights(b, Ci, kernel, x)], { ...attrs, group: Ci }, { name: 'conv_im2col' });
      const cols4 = b.reshape(cols, [-1, group, Cig * K, L]);
      const g4 = b.reshape(g, [0, group, Cog, L]);
      if (Cog === 1) {
        // One output channel per group (depthwise): an elementwise product beats G tiny matmuls.
        const s = b.reduceSum(b.mul(cols4, g4), [0, 3], 0); // [G, Cig*K]
        dw = b.reshape(s, ws);
      } else if (Cog <= L || forms.convWeightFold === 'per-image') {
        const prod = b.matmul(cols4, b.transpose(g4, [0, 1, 3, 2])); // [N, G, Cig*K, Cog]
        const s = b.reduceSum(prod, [0], 0); // [G, Cig*K, Cog]
        dw = b.reshape(b.transpose(s, [0, 2, 1]), ws);
      } else {
        // More output channels than positions (deep layers: 512 channels on 4x4): the per-image
        // products above would be Cog/L times the columns (288 MiB for PreAct ResNet-18's layer4
        // at batch 32) with an inner dimension of only L. Fold the batch into the inner dimension.
        const gT = b.reshape(b.transpose(g4, [1, 2, 0, 3]), [group, Cog, -1]); // [G, Cog, N*L]
        const colsT = b.reshape(b.transpose(cols4, [1, 0, 3, 2]), [group, -1, Cig * K]); // [G, N*L, Cig*K]
        dw = b.reshape(b.matmul(gT, colsT), ws); // [G, Cog, Cig*K] is W's layout
      }
    }

    let db: string | null = null;
    if (bias && needs[2]) db = b.reduceSum(g, [0, ...Array.from({ length: sp }, (_, i) => i + 2)], 0);
    return [dx, dw, db];
  },
});
