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

/** Output (or its gradient) with the reduced axes restored as size-1 dims. */
export const keepReduced = (b: GraphBuilder, n: Node, v: string, axes: number[]): string =>
  attrInt(n, 'keepdims', 1) === 1 ? v : b.unsqueeze(v, axes);

/** Gradient of a reduction's output, given back the input's full shape. */
const expandBack = (b: GraphBuilder, n: Node, g: string, axes: number[]): string => b.op('Expand', [keepReduced(b, n, g, axes), b.shapeOf(n.inputs[0])]);

/**
 * The input gradient of a max (or min) over `axes`, given the result `y` and its gradient `g` with
 * the reduced axes kept as size 1: it goes to the inputs equal to the result, split evenly between
 * ties (like torch.amax / amin). Shared with GlobalMaxPool.
 */
export function extremumGrad(b: GraphBuilder, x: string, y: string, g: string, axes: number[]): string {
  const mask = b.cast(b.op('Equal', [x, y]), b.dtype(x));
  return b.mul(mask, b.div(g, b.reduceSum(mask, axes, 1)));
}

/** What a reduction's gradient is written from; `kept` restores the reduced axes as size-1 dims (keepdims=0). */
interface Reduction { b: GraphBuilder; node: Node; x: string; y: string; g: string; axes: number[]; kept: (v: string) => string }

/**
 * Registers the rule of a reduction: `grad` writes dx from the reduced axes; `noop` is dx when
 * noop_with_empty_axes leaves x as it is (default: g itself).
 */
function reduction(op: string, grad: (r: Reduction) => string, noop: (b: GraphBuilder, x: string, g: string) => string = (_b, _x, g) => g): void {
  registerGrad({
    op,
    grad: ({ b, node, g }) => {
      const axes = reducedAxes(b, node);
      const x = node.inputs[0];
      if (axes === 'noop') return [noop(b, x, g), null];
      return [grad({ b, node, x, y: node.outputs[0], g, axes, kept: (v) => keepReduced(b, node, v, axes) }), null];
    },
  });
}

reduction('ReduceSum', ({ b, node, g, axes }) => expandBack(b, node, g, axes));

reduction('ReduceMean', ({ b, node, x, g, axes }) => {
  const s = b.shape(x)!;
  const dims = axes.map((a) => s[a]);
  let count: string;
  if (isStatic(dims)) count = scalarLike(b, numel(dims), x);
  else count = b.cast(b.op('ReduceProd', [b.op('Gather', [b.shapeOf(x), b.constI64(axes)])], { keepdims: 0 }), b.dtype(x));
  return b.div(expandBack(b, node, g, axes), count);
});

for (const op of ['ReduceMax', 'ReduceMin']) reduction(op, ({ b, x, y, g, axes, kept }) => extremumGrad(b, x, kept(y), kept(g), axes));

reduction('ReduceSumSquare', ({ b, x, g, kept }) => b.mul(b.mul(x, scalarLike(b, 2, x)), kept(g)), (b, x, g) => b.mul(g, b.mul(x, scalarLike(b, 2, x))));

// dx = g * x / y, and 0 where y = 0 (torch.norm's subgradient).
reduction('ReduceL2', ({ b, x, y, g, kept }) => {
  const yk = kept(y);
  // y = 0 only where every x of the slice is 0, so x * g / (y + [y = 0]) is already 0 there.
  const safe = b.add(yk, b.cast(b.op('Equal', [yk, scalarLike(b, 0, x)]), b.dtype(x)));
  return b.mul(x, b.div(kept(g), safe));
}, (b, x, g) => b.mul(g, b.op('Sign', [x])));

// dx = g * exp(x - y)
reduction('ReduceLogSumExp', ({ b, x, y, g, kept }) => b.mul(b.op('Exp', [b.sub(x, kept(y))]), kept(g)));
