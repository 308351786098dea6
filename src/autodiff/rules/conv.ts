// Conv (1-D/2-D/3-D, groups incl. depthwise, strides, pads, auto_pad, dilations, optional bias).
//   dX: for a padded layer, a Conv of dY with the kernel flipped and in/out channels swapped
//       (strided 2-D convs: one Conv over all stride phases, then DepthToSpace), see
//       conv_input_grad.ts. For an unpadded layer, or where that form does not apply, ConvTranspose
//       with the same weights, pads chosen so its output is exactly the input shape. ORT's CPU
//       ConvTranspose runs image by image with a single-threaded Col2im, which costs with two
//       threads on padded layers (PreAct ResNet-18); on unpadded ones the Conv form correlates a
//       dY padded by k-1 on every side and is the slower one, most at one thread, where the
//       parallel iteration runs each attack half: SmallCNN's bench 314 against 255 images/s.
//   dW: im2col by a grouped one-hot Conv, then a MatMul with dY (per image, batch-folded on deep
//       layers, chunked by input channels where the columns are large), see conv_weight_grad.ts.
//   dB: ReduceSum of dY over batch and spatial axes.
// Only the gradients in `needs` are built (a first layer needs no dX, an attack needs no dW).
import { attrInt, spatialGeometry, type SpatialGeometry } from '../../onnx/attrs.js';
import { OnnxError } from '../../onnx/errors.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { isStatic, numel, type Node } from '../../onnx/ir.js';
import { registerGrad } from '../rule.js';
import { convInputGrad } from './conv_input_grad.js';
import { convWeightGrad } from './conv_weight_grad.js';

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

    // Of dX and dW, the one computed first stays live while the other is built (dW's im2col
    // columns, dX's rearranged kernel). So dW goes first when it is the smaller result, as in early
    // layers where one image's dX already outweighs the kernel: SmallCNN's static train-step peak at
    // batch 128 falls from 63.2 to 52.6 MiB. Deep layers keep dX first: with dW first everywhere,
    // PreAct ResNet-18's peak (batch 32) rose from 238.6 to 243.6 MiB, its layer4 kernel gradients
    // waiting beside the rearranged kernels. Same nodes, another order: the same numbers.
    const dxFirst = ws[1] * group * numel(inDims) < numel(ws); // one image's dX against dW
    const inputGrad = (): string => {
      const padded = [...geo.padsBegin, ...geo.padsEnd].some((p) => p > 0);
      const convForm = forms.convInput === 'conv' || ((forms.convInput ?? 'auto') === 'auto' && padded);
      return (convForm ? convInputGrad(b, g, w, ws, group, geo, outDims) : null)
        ?? b.op('ConvTranspose', [g, w], { ...transposeAttrs(geo, outDims), group, kernel_shape: kernel }, { name: 'conv_dx' });
    };
    let dx = needs[0] && dxFirst ? inputGrad() : null;
    const dw = needs[1] ? convWeightGrad(b, x, g, { ws, group, geo, inDims, outDims }, forms) : null;
    const db = bias && needs[2] ? b.reduceSum(g, [0, ...Array.from({ length: sp }, (_, i) => i + 2)], 0) : null;
    if (needs[0] && !dxFirst) dx = inputGrad();
    return [dx, dw, db];
  },
});
