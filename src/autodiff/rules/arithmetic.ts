// Arithmetic with broadcasting: Add, Sub, Mul, Div, Neg, Reciprocal, Pow (constant exponent), and
// the variadic Sum and Mean. Each input gradient is the local derivative times g, summed back over
// the axes that input was broadcast along (unbroadcast).
//   d(x + y) = g, g;  d(x - y) = g, -g;  d(x y) = g y, g x;  d(x / y) = g / y, -(x / y) g / y
//   d(1 / x) = -g y^2;  d(x^p) = g p x^(p-1);  d Sum = g per input;  d Mean = g / n per input
import { OnnxError } from '../../onnx/errors.js';
import { floatValues } from '../../onnx/shapes.js';
import { registerGrad } from '../rule.js';
import { scalarLike, unbroadcast } from '../helpers.js';

registerGrad({
  op: 'Add',
  grad: ({ b, node, g, needs }) => node.inputs.map((x, i) => (needs[i] ? unbroadcast(b, g, x) : null)),
});
registerGrad({
  op: 'Sub',
  grad: ({ b, node, g, needs }) => [needs[0] ? unbroadcast(b, g, node.inputs[0]) : null, needs[1] ? unbroadcast(b, b.neg(g), node.inputs[1]) : null],
});
registerGrad({
  op: 'Mul',
  grad: ({ b, node, g, needs }) => {
    const [x, y] = node.inputs;
    return [needs[0] ? unbroadcast(b, b.mul(g, y), x) : null, needs[1] ? unbroadcast(b, b.mul(g, x), y) : null];
  },
});
registerGrad({
  op: 'Div',
  grad: ({ b, node, g, needs }) => {
    const [x, y] = node.inputs;
    const dx = needs[0] ? unbroadcast(b, b.div(g, y), x) : null;
    // d(x/y)/dy = -(x/y)/y
    const dyv = needs[1] ? unbroadcast(b, b.neg(b.div(b.mul(g, node.outputs[0]), y)), y) : null;
    return [dx, dyv];
  },
});
registerGrad({ op: 'Neg', grad: ({ b, g }) => [b.neg(g)] });

registerGrad({
  op: 'Reciprocal',
  // -y^2
  grad: ({ b, node, g }) => {
    const y = node.outputs[0];
    return [b.neg(b.mul(g, b.mul(y, y)))];
  },
});

registerGrad({
  op: 'Pow',
  // y = x^p with p constant (no gradient flows to it): dx = g * p * x^(p-1).
  grad: ({ b, node, g, needs }) => {
    const [x, p] = node.inputs;
    if (needs[1]) {
      throw new OnnxError('UNSUPPORTED_OP', `cannot differentiate node "${node.name}" (Pow) with respect to its exponent "${p}": only a constant exponent is supported`);
    }
    if (!needs[0]) return [null, null];
    const dt = b.dtype(x);
    const pv = floatValues(b.fact(p));
    let local: string;
    if (pv && pv.length === 1 && pv[0] === 1) local = g;
    else if (pv && pv.length === 1 && pv[0] === 2) local = b.mul(g, b.mul(x, scalarLike(b, 2, x)));
    else if (pv && pv.length === 1 && pv[0] === 0) local = b.mul(g, scalarLike(b, 0, x));
    else {
      const pf = b.dtype(p) === dt ? p : b.cast(p, dt);
      local = b.mul(g, b.mul(pf, b.op('Pow', [x, b.sub(pf, scalarLike(b, 1, x))])));
    }
    return [unbroadcast(b, local, x), null];
  },
});

registerGrad({
  op: 'Sum',
  grad: ({ b, node, g, needs }) => node.inputs.map((x, i) => (needs[i] ? unbroadcast(b, g, x) : null)),
});

registerGrad({
  op: 'Mean',
  grad: ({ b, node, g, needs }) => {
    const share = b.mul(g, scalarLike(b, 1 / node.inputs.length, g));
    return node.inputs.map((x, i) => (needs[i] ? unbroadcast(b, share, x) : null));
  },
});
