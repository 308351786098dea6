// Softmax and LogSoftmax. Opset 13+ normalises over one axis (default -1); before 13 the input is
// coerced to 2-D at `axis` (default 1), i.e. normalised over all axes from `axis` on.
import { attrInt } from '../../onnx/attrs.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import type { Node } from '../../onnx/ir.js';
import { registerGrad } from '../rule.js';
import { normAxis } from '../helpers.js';

function softmaxAxes(b: GraphBuilder, n: Node): number[] {
  const r = b.rank(n.inputs[0]);
  const axis = normAxis(attrInt(n, 'axis', b.opset >= 13 ? -1 : 1), r);
  return b.opset >= 13 ? [axis] : Array.from({ length: r - axis }, (_, i) => axis + i);
}

registerGrad({
  op: 'Softmax',
  // dx = y * (g - sum(g * y))
  grad: ({ b, node, g }) => {
    const y = node.outputs[0];
    const s = b.reduceSum(b.mul(g, y), softmaxAxes(b, node), 1);
    return [b.mul(y, b.sub(g, s))];
  },
});

registerGrad({
  op: 'LogSoftmax',
  // dx = g - exp(y) * sum(g)
  grad: ({ b, node, g }) => {
    const y = node.outputs[0];
    const s = b.reduceSum(g, softmaxAxes(b, node), 1);
    return [b.sub(g, b.mul(b.op('Exp', [y]), s))];
  },
});
