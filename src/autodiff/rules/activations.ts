// Smooth activations: Sigmoid, Tanh, Softplus, Softsign, Gelu (exact and tanh forms; ViT,
// ConvNeXt) and Mish. Each backward is g times the derivative, written on the saved input or
// output:
//   sigmoid' = y (1 - y);  tanh' = 1 - y^2;  softplus' = sigmoid(x);  softsign' = 1 / (1 + |x|)^2
//   gelu' = Phi(x) + x phi(x) (tanh form: below);  mish' = tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x), sp = softplus(x)
import { attrString } from '../../onnx/attrs.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { registerGrad } from '../rule.js';
import { pointwise, scalarLike } from '../helpers.js';

/** Standard normal density exp(-x^2/2) / sqrt(2 pi). */
const normalPdf = (b: GraphBuilder, x: string): string =>
  b.mul(b.op('Exp', [b.mul(b.mul(x, x), scalarLike(b, -0.5, x))]), scalarLike(b, 1 / Math.sqrt(2 * Math.PI), x));

pointwise('Sigmoid', (b, _x, y) => b.mul(y, b.sub(scalarLike(b, 1, y), y)));
pointwise('Tanh', (b, _x, y) => b.sub(scalarLike(b, 1, y), b.mul(y, y)));
pointwise('Softplus', (b, x) => b.op('Sigmoid', [x]));

registerGrad({
  op: 'Softsign',
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    const d = b.add(scalarLike(b, 1, x), b.op('Abs', [x]));
    return [b.div(g, b.mul(d, d))];
  },
});

// tanh form: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 k x^2), t = tanh(sqrt(2/pi) (x + k x^3))
pointwise('Gelu', (b, x, _y, node) => {
  const s = (v: number) => scalarLike(b, v, x);
  if (attrString(node, 'approximate', 'none') === 'tanh') {
    const k = 0.044715, c = Math.sqrt(2 / Math.PI);
    const x2 = b.mul(x, x);
    const t = b.op('Tanh', [b.mul(s(c), b.add(x, b.mul(s(k), b.mul(x2, x))))]);
    const left = b.mul(s(0.5), b.add(s(1), t));
    const right = b.mul(b.mul(s(0.5 * c), x), b.mul(b.sub(s(1), b.mul(t, t)), b.add(s(1), b.mul(s(3 * k), x2))));
    return b.add(left, right);
  }
  const cdf = b.mul(s(0.5), b.add(s(1), b.op('Erf', [b.mul(x, s(Math.SQRT1_2))])));
  return b.add(cdf, b.mul(x, normalPdf(b, x)));
});

pointwise('Mish', (b, x) => {
  const t = b.op('Tanh', [b.op('Softplus', [x])]);
  return b.add(t, b.mul(b.mul(x, b.sub(scalarLike(b, 1, x), b.mul(t, t))), b.op('Sigmoid', [x])));
});
