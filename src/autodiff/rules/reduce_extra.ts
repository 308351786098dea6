// ReduceL2, ReduceSumSquare, ReduceLogSumExp (ReduceMin lives with ReduceMax in reduce.ts). The
// incoming gradient is unsqueezed back over the reduced axes (keepdims=0) and broadcast against
// the input by the pointwise backward ops.
import { registerGrad } from '../rule.js';
import { scalarLike } from '../helpers.js';
import { keepReduced, reducedAxes } from './reduce.js';

registerGrad({
  op: 'ReduceSumSquare', saves: 'the input',
  grad: ({ b, node, dy: [g] }) => {
    const axes = reducedAxes(b, node);
    const x = node.inputs[0];
    if (axes === 'noop') return [b.mul(g!, b.mul(x, scalarLike(b, 2, x))), null];
    return [b.mul(b.mul(x, scalarLike(b, 2, x)), keepReduced(b, node, g!, axes)), null];
  },
});

registerGrad({
  op: 'ReduceL2', saves: 'the input and the output',
  // dx = g * x / y, and 0 where y = 0 (torch.norm's subgradient).
  grad: ({ b, node, dy: [g] }) => {
    const axes = reducedAxes(b, node);
    const x = node.inputs[0];
    if (axes === 'noop') return [b.mul(g!, b.op('Sign', [x])), null];
    const y = keepReduced(b, node, node.outputs[0], axes);
    // y = 0 only where every x of the slice is 0, so x * g / (y + [y = 0]) is already 0 there.
    const safe = b.add(y, b.cast(b.op('Equal', [y, scalarLike(b, 0, x)]), b.dtype(x)));
    return [b.mul(x, b.div(keepReduced(b, node, g!, axes), safe)), null];
  },
});

registerGrad({
  op: 'ReduceLogSumExp', saves: 'the input and the output',
  // dx = g * exp(x - y)
  grad: ({ b, node, dy: [g] }) => {
    const axes = reducedAxes(b, node);
    if (axes === 'noop') return [g, null];
    const x = node.inputs[0];
    const y = keepReduced(b, node, node.outputs[0], axes);
    return [b.mul(b.op('Exp', [b.sub(x, y)]), keepReduced(b, node, g!, axes)), null];
  },
});
