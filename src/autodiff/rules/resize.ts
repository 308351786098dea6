// Resize (opset 11+) over the spatial axes of an [N, C, H, W] tensor, modes 'nearest' and 'linear'.
// Both are separable linear maps, y = A_h x A_w^T, so the backward is dx = A_h^T dy A_w with the
// interpolation matrices written here as constants from the spec's coordinate transforms
// (half_pixel, pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn) and nearest
// rounding modes. Models that resize their input (e.g. 28 -> 32 before a CIFAR-shaped network)
// need this for attacks and training; the finite-difference tests check the matrices against
// ORT's own Resize.
import { attrInt, attrString } from '../../onnx/attrs.js';
import { OnnxError } from '../../onnx/errors.js';
import { isStatic, tensor, type Node } from '../../onnx/ir.js';
import { floatValues, intValues } from '../../onnx/shapes.js';
import { registerGrad } from '../rule.js';

/** Source coordinate of output index o (spec: coordinate_transformation_mode). */
function sourceCoordinate(mode: string, o: number, scale: number, inLen: number, outLen: number): number {
  switch (mode) {
    case 'half_pixel': return (o + 0.5) / scale - 0.5;
    case 'pytorch_half_pixel': return outLen > 1 ? (o + 0.5) / scale - 0.5 : 0;
    case 'align_corners': return outLen === 1 ? 0 : (o * (inLen - 1)) / (outLen - 1);
    case 'asymmetric': return o / scale;
    case 'tf_half_pixel_for_nn': return (o + 0.5) / scale;
    default: throw new Error(`coordinate_transformation_mode "${mode}"`);
  }
}

function nearestIndex(mode: string, x: number): number {
  switch (mode) {
    case 'round_prefer_floor': return x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x);
    case 'round_prefer_ceil': return Math.round(x);
    case 'floor': return Math.floor(x);
    case 'ceil': return Math.ceil(x);
    default: throw new Error(`nearest_mode "${mode}"`);
  }
}

/** The [outLen, inLen] interpolation matrix of one axis, row-major. */
export function resizeMatrix(opts: { mode: string; coord: string; nearest: string; inLen: number; outLen: number; scale: number }): number[] {
  const { mode, coord, nearest, inLen, outLen, scale } = opts;
  const m = new Array<number>(outLen * inLen).fill(0);
  for (let o = 0; o < outLen; o++) {
    const x = sourceCoordinate(coord, o, scale, inLen, outLen);
    if (mode === 'nearest') {
      const i = Math.min(inLen - 1, Math.max(0, nearestIndex(nearest, x)));
      m[o * inLen + i] = 1;
    } else {
      const c = Math.min(inLen - 1, Math.max(0, x));
      const i0 = Math.floor(c), i1 = Math.min(i0 + 1, inLen - 1);
      const w1 = c - i0;
      m[o * inLen + i0] += 1 - w1;
      m[o * inLen + i1] += w1;
    }
  }
  return m;
}

function unsupported(node: Node, what: string): OnnxError {
  return new OnnxError('UNSUPPORTED_OP', `cannot differentiate Resize "${node.name}": ${what}`);
}

registerGrad({
  op: 'Resize',
  grad: ({ b, node, g }) => {
    if (b.opset < 11) throw unsupported(node, 'opset 10 Resize is not supported (re-export at opset 11 or newer)');
    const [x, , scalesIn, sizesIn] = node.inputs;
    const mode = attrString(node, 'mode', 'nearest');
    if (mode !== 'nearest' && mode !== 'linear') throw unsupported(node, `mode "${mode}" (nearest and linear are supported)`);
    const coord = attrString(node, 'coordinate_transformation_mode', 'half_pixel');
    if (coord === 'tf_crop_and_resize') throw unsupported(node, 'coordinate_transformation_mode tf_crop_and_resize');
    if (attrInt(node, 'exclude_outside', 0) !== 0) throw unsupported(node, 'exclude_outside');
    if (node.attributes.axes || attrString(node, 'keep_aspect_ratio_policy', 'stretch') !== 'stretch') throw unsupported(node, 'axes / keep_aspect_ratio_policy');
    const xs = b.shape(x), ys = b.shape(node.outputs[0]);
    if (!xs || xs.length !== 4 || !ys || ys.length !== 4) throw unsupported(node, 'only 4-D [N, C, H, W] inputs with a known output shape are supported');
    const dims = [xs[2], xs[3], ys[2], ys[3]];
    if (!isStatic(dims)) throw unsupported(node, 'the spatial dims must be static');
    const [hIn, wIn, hOut, wOut] = dims;
    const scales = scalesIn ? floatValues(b.fact(scalesIn)) : undefined;
    const sizes = sizesIn ? intValues(b.fact(sizesIn)) : undefined;
    if (scales?.length === 4 && (scales[0] !== 1 || scales[1] !== 1)) throw unsupported(node, 'resizing the batch or channel axis');
    if (sizes?.length === 4 && (sizes[1] !== xs[1])) throw unsupported(node, 'resizing the channel axis');
    const nearest = attrString(node, 'nearest_mode', 'round_prefer_floor');
    const axis = (i: 0 | 1, inLen: number, outLen: number) => {
      const scale = scales?.length === 4 ? scales[i + 2] : outLen / inLen;
      return resizeMatrix({ mode, coord, nearest, inLen, outLen, scale });
    };
    const ah = axis(0, hIn, hOut); // [hOut, hIn]
    const aw = axis(1, wIn, wOut); // [wOut, wIn]
    const dt = b.dtype(x);
    const transposed = (m: number[], rows: number, cols: number) => Array.from({ length: rows * cols }, (_, k) => m[(k % rows) * cols + Math.floor(k / rows)]);
    const awC = b.constant(tensor('', dt, [wOut, wIn], aw), 'resize_aw');
    const ahT = b.constant(tensor('', dt, [hIn, hOut], transposed(ah, hOut, hIn)), 'resize_ahT');
    // dx = A_h^T (dy A_w): [hIn, hOut] @ [N, C, hOut, wIn]
    return [b.matmul(ahT, b.matmul(g, awC)), null, null, null];
  },
});
