// The activations modern classifier exports add to the basic set: Erf and Gelu (ViT, ConvNeXt),
// HardSigmoid and HardSwish (MobileNetV3), Mish, Elu, Selu, Celu, Softsign, ThresholdedRelu,
// PRelu, Reciprocal. Slopes at kinks follow PyTorch's backward (noted per op).
import { shapeAttr } from '../../onnx/shapes.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { registerGrad } from '../rule.js';
import { scalarLike, unbroadcast } from '../helpers.js';

const where = (b: GraphBuilder, c: string, t: string, f: string): string => b.op('Where', [c, t, f]);
const greater = (b: GraphBuilder, x: string, v: number): string => b.op('Greater', [x, scalarLike(b, v, x)]);
const less = (b: GraphBuilder, x: string, v: number): string => b.op('Less', [x, scalarLike(b, v, x)]);
const mask = (b: GraphBuilder, cond: string, like: string): string => b.cast(cond, b.dtype(like));

/** Standard normal density exp(-x^2/2) / sqrt(2 pi). */
const normalPdf = (b: GraphBuilder, x: string): string =>
  b.mul(b.op('Exp', [b.mul(b.mul(x, x), scalarLike(b, -0.5, x))]), scalarLike(b, 1 / Math.sqrt(2 * Math.PI), x));

registerGrad({
  op: 'Erf', saves: 'the input',
  // d erf(x) = 2/sqrt(pi) exp(-x^2)
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    return [b.mul(g!, b.mul(b.op('Exp', [b.neg(b.mul(x, x))]), scalarLike(b, 2 / Math.sqrt(Math.PI), x)))];
  },
});

registerGrad({
  op: 'Gelu', saves: 'the input',
  // exact: Phi(x) + x phi(x); tanh: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 k x^2), t = tanh(sqrt(2/pi) (x + k x^3))
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    const s = (v: number) => scalarLike(b, v, x);
    if (shapeAttr.attrS(node, 'approximate', 'none') === 'tanh') {
      const k = 0.044715, c = Math.sqrt(2 / Math.PI);
      const x2 = b.mul(x, x);
      const t = b.op('Tanh', [b.mul(s(c), b.add(x, b.mul(s(k), b.mul(x2, x))))]);
      const left = b.mul(s(0.5), b.add(s(1), t));
      const right = b.mul(b.mul(s(0.5 * c), x), b.mul(b.sub(s(1), b.mul(t, t)), b.add(s(1), b.mul(s(3 * k), x2))));
      return [b.mul(g!, b.add(left, right))];
    }
    const cdf = b.mul(s(0.5), b.add(s(1), b.op('Erf', [b.mul(x, s(Math.SQRT1_2))])));
    return [b.mul(g!, b.add(cdf, b.mul(x, normalPdf(b, x))))];
  },
});

registerGrad({
  op: 'HardSigmoid', saves: 'the input',
  // alpha where 0 < alpha x + beta < 1, else 0 (torch: hardsigmoid_backward uses the open interval).
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    const alpha = shapeAttr.attrF(node, 'alpha', 0.2), beta = shapeAttr.attrF(node, 'beta', 0.5);
    const z = b.add(b.mul(x, scalarLike(b, alpha, x)), scalarLike(b, beta, x));
    const inside = b.op('And', [greater(b, z, 0), less(b, z, 1)]);
    return [b.mul(g!, b.mul(mask(b, inside, x), scalarLike(b, alpha, x)))];
  },
});

registerGrad({
  op: 'HardSwish', saves: 'the input',
  // x < -3: 0; -3 <= x <= 3: x/3 + 1/2; x > 3: 1 (torch's hardswish_backward).
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    const mid = b.add(b.mul(x, scalarLike(b, 1 / 3, x)), scalarLike(b, 0.5, x));
    const d = where(b, less(b, x, -3), scalarLike(b, 0, x), where(b, greater(b, x, 3), scalarLike(b, 1, x), mid));
    return [b.mul(g!, d)];
  },
});

registerGrad({
  op: 'Mish', saves: 'the input',
  // y = x tanh(sp), sp = softplus(x): dy = tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x)
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    const t = b.op('Tanh', [b.op('Softplus', [x])]);
    const d = b.add(t, b.mul(b.mul(x, b.sub(scalarLike(b, 1, x), b.mul(t, t))), b.op('Sigmoid', [x])));
    return [b.mul(g!, d)];
  },
});

registerGrad({
  op: 'Elu', saves: 'the input and the output',
  // x > 0: 1, else y + alpha (= alpha e^x)
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0], y = node.outputs[0];
    const alpha = shapeAttr.attrF(node, 'alpha', 1);
    return [where(b, greater(b, x, 0), g!, b.mul(g!, b.add(y, scalarLike(b, alpha, y))))];
  },
});

registerGrad({
  op: 'Selu', saves: 'the input and the output',
  // x > 0: gamma, else y + gamma alpha (= gamma alpha e^x)
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0], y = node.outputs[0];
    const alpha = shapeAttr.attrF(node, 'alpha', 1.67326319217681884765625);
    const gamma = shapeAttr.attrF(node, 'gamma', 1.05070102214813232421875);
    return [where(b, greater(b, x, 0), b.mul(g!, scalarLike(b, gamma, x)), b.mul(g!, b.add(y, scalarLike(b, gamma * alpha, y))))];
  },
});

registerGrad({
  op: 'Celu', saves: 'the input',
  // x > 0: 1, else exp(x / alpha)
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    const alpha = shapeAttr.attrF(node, 'alpha', 1);
    return [where(b, greater(b, x, 0), g!, b.mul(g!, b.op('Exp', [b.mul(x, scalarLike(b, 1 / alpha, x))])))];
  },
});

registerGrad({
  op: 'Softsign', saves: 'the input',
  // 1 / (1 + |x|)^2
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    const d = b.add(scalarLike(b, 1, x), b.op('Abs', [x]));
    return [b.div(g!, b.mul(d, d))];
  },
});

registerGrad({
  op: 'ThresholdedRelu', saves: 'the input',
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    return [b.mul(g!, mask(b, greater(b, x, shapeAttr.attrF(node, 'alpha', 1)), x))];
  },
});

registerGrad({
  op: 'PRelu', saves: 'the input and the slope',
  // x > 0: g, else slope g; the slope gets x g where x <= 0, summed over its broadcast axes.
  grad: ({ b, node, dy: [g], needs }) => {
    const [x, slope] = node.inputs;
    const pos = greater(b, x, 0);
    const dx = needs[0] ? where(b, pos, g!, b.mul(g!, slope)) : null;
    const dslope = needs[1] ? unbroadcast(b, where(b, pos, scalarLike(b, 0, x), b.mul(g!, x)), slope) : null;
    return [dx, dslope];
  },
});

registerGrad({
  op: 'Reciprocal', saves: 'the output',
  // -y^2
  grad: ({ b, node, dy: [g] }) => {
    const y = node.outputs[0];
    return [b.neg(b.mul(g!, b.mul(y, y)))];
  },
});
