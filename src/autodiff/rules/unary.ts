// Elementary functions of one tensor: Exp, Log, Sqrt, Abs, Erf. Each backward is g times the
// derivative, written on the saved input or output:
//   d exp = g y;  d log = g / x;  d sqrt = g / (2 y);  d |x| = g sign(x) (0 at 0, as torch);
//   d erf = g 2/sqrt(pi) exp(-x^2)
import { registerGrad } from '../rule.js';
import { pointwise, scalarLike } from '../helpers.js';

pointwise('Exp', (_b, _x, y) => y);
registerGrad({ op: 'Log', grad: ({ b, node, g }) => [b.div(g, node.inputs[0])] });
registerGrad({
  op: 'Sqrt',
  grad: ({ b, node, g }) => {
    const y = node.outputs[0];
    return [b.div(b.mul(g, scalarLike(b, 0.5, y)), y)];
  },
});
pointwise('Abs', (b, x) => b.op('Sign', [x]));
pointwise('Erf', (b, x) => b.mul(b.op('Exp', [b.neg(b.mul(x, x))]), scalarLike(b, 2 / Math.sqrt(Math.PI), x)));
