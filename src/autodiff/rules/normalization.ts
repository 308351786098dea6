// LayerNormalization (opset 17; ViT, ConvNeXt) and InstanceNormalization. Both normalise x over a
// set of axes with its own (biased) statistics, then scale and shift:
//   xhat = (x - mean) * r,  r = 1 / sqrt(var + eps),  y = scale * xhat + bias
//   dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = dy * scale
// The statistics are recomputed in the backward (the optional Mean / InvStdDev outputs are not
// relied on, since exporters usually drop them).
import type { GraphBuilder } from '../../onnx/builder.js';
import { numel } from '../../onnx/ir.js';
import { shapeAttr } from '../../onnx/shapes.js';
import { registerGrad } from '../rule.js';
import { normAxis, scalarLike, unbroadcast } from '../helpers.js';

interface Normalised { xhat: string; r: string; count: string }

/** xhat, 1/std (keepdims) and the element count over `axes`, recomputed from x. */
function normalise(b: GraphBuilder, x: string, axes: number[], eps: number): Normalised {
  const mu = b.reduceMean(x, axes, 1);
  const xc = b.sub(x, mu);
  const v = b.reduceMean(b.mul(xc, xc), axes, 1);
  const r = b.op('Reciprocal', [b.op('Sqrt', [b.add(v, scalarLike(b, eps, x))])]);
  const s = b.shape(x);
  const dims = axes.map((a) => s?.[a]);
  const count = dims.every((d) => typeof d === 'number')
    ? scalarLike(b, numel(dims as number[]), x)
    : b.div(b.cast(b.op('Size', [x]), b.dtype(x)), b.cast(b.op('Size', [mu]), b.dtype(x)));
  return { xhat: b.mul(xc, r), r, count };
}

/** The input gradient of a normalisation, given dxhat = dy * scale. */
function normaliseBackward(b: GraphBuilder, n: Normalised, dxhat: string, axes: number[]): string {
  const meanD = b.div(b.reduceSum(dxhat, axes, 1), n.count);
  const meanDX = b.div(b.reduceSum(b.mul(dxhat, n.xhat), axes, 1), n.count);
  return b.mul(n.r, b.sub(b.sub(dxhat, meanD), b.mul(n.xhat, meanDX)));
}

registerGrad({
  op: 'LayerNormalization', saves: 'x and scale (the statistics are recomputed)',
  grad: ({ b, node, dy: [g], needs }) => {
    if (!g) return [null, null, null];
    const [x, scale, bias] = node.inputs;
    const rank = b.rank(x);
    const axis = normAxis(shapeAttr.attrI(node, 'axis', -1), rank);
    const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
    const n = normalise(b, x, axes, shapeAttr.attrF(node, 'epsilon', 1e-5));
    return [
      needs[0] ? normaliseBackward(b, n, b.mul(g, scale), axes) : null,
      needs[1] ? unbroadcast(b, b.mul(g, n.xhat), scale) : null,
      bias && needs[2] ? unbroadcast(b, g, bias) : null,
    ];
  },
});

registerGrad({
  op: 'InstanceNormalization', saves: 'x and scale (the statistics are recomputed)',
  // x is [N, C, d1..dk]; statistics per (n, c) over d1..dk; scale and bias are [C].
  grad: ({ b, node, dy: [g], needs }) => {
    if (!g) return [null, null, null];
    const [x, scale] = node.inputs;
    const rank = b.rank(x);
    const spatial = Array.from({ length: rank - 2 }, (_, i) => i + 2);
    const perChannel = (v: string) => b.unsqueeze(v, spatial.map((_, i) => i + 1));
    const n = normalise(b, x, spatial, shapeAttr.attrF(node, 'epsilon', 1e-5));
    return [
      needs[0] ? normaliseBackward(b, n, b.mul(g, perChannel(scale)), spatial) : null,
      needs[1] ? b.reduceSum(b.mul(g, n.xhat), [0, ...spatial], 0) : null,
      needs[2] ? b.reduceSum(g, [0, ...spatial], 0) : null,
    ];
  },
});
