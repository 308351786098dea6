// Smooth activations: Sigmoid, Tanh, Softplus, Softsign, Gelu (exact and tanh forms; ViT,
// ConvNeXt) and Mish. Each backward is g times the derivative, written on the saved input or
// output:
//   sigmoid' = y (1 - y);  tanh' = 1 - y^2;  softplus' = sigmoid(x);  softsign' = 1 / (1 + |x|)^2
import { attrString } from '../../onnx/attrs.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { registerGrad } from '../rule.js';
import { scalarLike } from '../helpers.js';

/** Standard normal density exp(-x^2/2) / sqrt(2 pi). */
const normalPdf = (b: GraphBuilder, x: string): string =>
  b.mul(b.op('Exp', [b.mul(b.mul(x, x), scalarLike(b, -0.5, x))]), scalarLike(b, 1 / Math.sqrt(2 * Math.PI), x));

registerGrad({
  op: 'Sigmoid',
  grad: ({ b, node, g }) => {
    const y = node.outputs[0];
    return [b.mul(g, b.mul(y, b.sub(scalarLike(b, 1, y), y)))];
  },
});

registerGrad({
  op: 'Tanh',
  grad: ({ b, node, g }) => {
    const y = node.outputs[0];
    return [b.mul(g, b.sub(scalarLike(b, 1, y), b.mul(y, y)))];
  },
});

registerGrad({
  op: 'Softplus',
  grad: ({ b, node, g }) => [b.mul(g, b.op('Sigmoid', [node.inputs[0]]))],
});

registerGrad({
  op: 'Softsign',
  // 1 / (1 + |x|)^2
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    const d = b.add(scalarLike(b, 1, x), b.op('Abs', [x]));
    return [b.div(g, b.mul(d, d))];
  },
});

registerGrad({
  op: 'Gelu',
  // exact: Phi(x) + x phi(x); tanh: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 k x^2), t = tanh(sqrt(2/pi) (x + k x^3))
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    const s = (v: number) => scalarLike(b, v, x);
    if (attrString(node, 'approximate', 'none') === 'tanh') {
      const k = 0.044715, c = Math.sqrt(2 / Math.PI);
      const x2 = b.mul(x, x);
      const t = b.op('Tanh', [b.mul(s(c), b.add(x, b.mul(s(k), b.mul(x2, x))))]);
      const left = b.mul(s(0.5), b.add(s(1), t));
      const right = b.mul(b.mul(s(0.5 * c), x), b.mul(b.sub(s(1), b.mul(t, t)), b.add(s(1), b.mul(s(3 * k), x2))));
      return [b.mul(g, b.add(left, right))];
    }
    const cdf = b.mul(s(0.5), b.add(s(1), b.op('Erf', [b.mul(x, s(Math.SQRT1_2))])));
    return [b.mul(g, b.add(cdf, b.mul(x, normalPdf(b, x))))];
  },
});

registerGrad({
  op: 'Mish',
  // y = x tanh(sp), sp = softplus(x): dy = tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x)
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    const t = b.op('Tanh', [b.op('Softplus', [x])]);
    const d = b.add(t, b.mul(b.mul(x, b.sub(scalarLike(b, 1, x), b.mul(t, t))), b.op('Sigmoid', [x])));
    return [b.mul(g, d)];
  },
});
