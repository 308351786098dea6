// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceSumSquare, ReduceL2 and
// ReduceLogSumExp. The incoming gradient gets the reduced axes back (Unsqueeze when keepdims=0)
// and is broadcast over them:
//   Sum: g;  Mean: g / count;  Max/Min: g to the inputs equal to the result, split evenly between
//   ties (like torch.amax);  SumSquare: 2 x g;  L2: x g / y (0 where y = 0);  LogSumExp: exp(x - y) g
import { attrInt, attrInts } from '../../onnx/attrs.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { isStatic, numel, type Node } from '../../onnx/ir.js';
import { intValues } from '../../onnx/shapes.js';
import { registerGrad } from '../rule.js';
import { normAxis, scalarLike } from '../helpers.js';

/** The reduced axes of a Reduce* node (attribute or input form), normalised; all axes when absent. */
export function reducedAxes(b: GraphBuilder, n: Node): number[] | 'noop' {
  const rank = b.rank(n.inputs[0]);
  let axes = attrInts(n, 'axes');
  if (n.inputs[1]) {
    const v = intValues(b.fact(n.inputs[1]));
    if (!v) throw new Error(`${n.opType} "${n.name}": axes input must be constant to differentiate`);
    axes = v;
  }
  if (!axes || axes.length === 0) {
    if (attrInt(n, 'noop_with_empty_axes', 0) === 1) return 'noop';
    return [...Array(rank).keys()];
  }
  return axes.map((a) => normAxis(a, rank)).sort((a, c) => a - c);
}

/** Gradient of a reduction's output, given back the input's full shape. */
function expandBack(b: GraphBuilder, n: Node, g: string, axes: number[]): string {
  const keep = attrInt(n, 'keepdims', 1) === 1;
  const gk = keep ? g : b.unsqueeze(g, axes);
  return b.op('Expand', [gk, b.shapeOf(n.inputs[0])]);
}

registerGrad({
  op: 'ReduceSum',
  grad: ({ b, node, g }) => {
    const axes = reducedAxes(b, node);
    return [axes === 'noop' ? g : expandBack(b, node, g, axes), null];
  },
});

registerGrad({
  op: 'ReduceMean',
  grad: ({ b, node, g }) => {
    const axes = reducedAxes(b, node);
    if (axes === 'noop') return [g, null];
    const x = node.inputs[0];
    const s = b.shape(x)!;
    const dims = axes.map((a) => s[a]);
    let count: string;
    if (isStatic(dims)) count = scalarLike(b, numel(dims), x);
    else count = b.cast(b.op('ReduceProd', [b.op('Gather', [b.shapeOf(x), b.constI64(axes)])], { keepdims: 0 }), b.dtype(x));
    return [b.div(expandBack(b, node, g, axes), count), null];
  },
});

/** Output (or its gradient) with the reduced axes restored as size-1 dims. */
export const keepReduced = (b: GraphBuilder, n: Node, v: string, axes: number[]): string =>
  attrInt(n, 'keepdims', 1) === 1 ? v : b.unsqueeze(v, axes);

/**
 * The input gradient of a max (or min) over `axes`, given the result `y` and its gradient `g` with
 * the reduced axes kept as size 1: it goes to the inputs equal to the result, split evenly between
 * ties (like torch.amax / amin). Shared with GlobalMaxPool.
 */
export function extremumGrad(b: GraphBuilder, x: string, y: string, g: string, axes: number[]): string {
  const mask = b.cast(b.op('Equal', [x, y]), b.dtype(x));
  return b.mul(mask, b.div(g, b.reduceSum(mask, axes, 1)));
}

for (const op of ['ReduceMax', 'ReduceMin']) {
  registerGrad({
    op,
    grad: ({ b, node, g }) => {
      const axes = reducedAxes(b, node);
      if (axes === 'noop') return [g, null];
      return [extremumGrad(b, node.inputs[0], keepReduced(b, node, node.outputs[0], axes), keepReduced(b, node, g, axes), axes), null];
    },
  });
}

registerGrad({
  op: 'ReduceSumSquare',
  grad: ({ b, node, g }) => {
    const axes = reducedAxes(b, node);
    const x = node.inputs[0];
    if (axes === 'noop') return [b.mul(g, b.mul(x, scalarLike(b, 2, x))), null];
    return [b.mul(b.mul(x, scalarLike(b, 2, x)), keepReduced(b, node, g, axes)), null];
  },
});

registerGrad({
  op: 'ReduceL2',
  // dx = g * x / y, and 0 where y = 0 (torch.norm's subgradient).
  grad: ({ b, node, g }) => {
    const axes = reducedAxes(b, node);
    const x = node.inputs[0];
    if (axes === 'noop') return [b.mul(g, b.op('Sign', [x])), null];
    const y = keepReduced(b, node, node.outputs[0], axes);
    // y = 0 only where every x of the slice is 0, so x * g / (y + [y = 0]) is already 0 there.
    const safe = b.add(y, b.cast(b.op('Equal', [y, scalarLike(b, 0, x)]), b.dtype(x)));
    return [b.mul(x, b.div(keepReduced(b, node, g, axes), safe)), null];
  },
});

registerGrad({
  op: 'ReduceLogSumExp',
  // dx = g * exp(x - y)
  grad: ({ b, node, g }) => {
    const axes = reducedAxes(b, node);
    if (axes === 'noop') return [g, null];
    const x = node.inputs[0];
    const y = keepReduced(b, node, node.outputs[0], axes);
    return [b.mul(b.op('Exp', [b.sub(x, y)]), keepReduced(b, node, g, axes)), null];
  },
});
