// Elementary functions of one tensor: Exp, Log, Sqrt, Abs, Erf. Each backward is g times the
// derivative, written on the saved input or output:
//   d exp = g y;  d log = g / x;  d sqrt = g / (2 y);  d |x| = g sign(x) (0 at 0, as torch);
//   d erf = g 2/sqrt(pi) exp(-x^2)
import { registerGrad } from '../rule.js';
import { scalarLike } from '../helpers.js';

registerGrad({ op: 'Exp', saves: 'the output', grad: ({ b, node, dy: [g] }) => [b.mul(g!, node.outputs[0])] });
registerGrad({ op: 'Log', saves: 'the input', grad: ({ b, node, dy: [g] }) => [b.div(g!, node.inputs[0])] });
registerGrad({
  op: 'Sqrt', saves: 'the output',
  grad: ({ b, node, dy: [g] }) => {
    const y = node.outputs[0];
    return [b.div(b.mul(g!, scalarLike(b, 0.5, y)), y)];
  },
});
registerGrad({
  op: 'Abs', saves: 'the input',
  // sign(x) * g: 0 at x = 0, as torch.
  grad: ({ b, node, dy: [g] }) => [b.mul(g!, b.op('Sign', [node.inputs[0]]))],
});

registerGrad({
  op: 'Erf', saves: 'the input',
  // d erf(x) = 2/sqrt(pi) exp(-x^2)
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    return [b.mul(g!, b.mul(b.op('Exp', [b.neg(b.mul(x, x))]), scalarLike(b, 2 / Math.sqrt(Math.PI), x)))];
  },
});
