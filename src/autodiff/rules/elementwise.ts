// Binary arithmetic with broadcasting, and the simplest unary ops.
import { registerGrad } from '../rule.js';
import { scalarLike, unbroadcast } from '../helpers.js';

registerGrad({
  op: 'Add', saves: 'input shapes',
  grad: ({ b, node, dy: [g], needs }) => node.inputs.map((x, i) => (needs[i] ? unbroadcast(b, g!, x) : null)),
});
registerGrad({
  op: 'Sub', saves: 'input shapes',
  grad: ({ b, node, dy: [g], needs }) => [needs[0] ? unbroadcast(b, g!, node.inputs[0]) : null, needs[1] ? unbroadcast(b, b.neg(g!), node.inputs[1]) : null],
});
registerGrad({
  op: 'Mul', saves: 'both inputs',
  grad: ({ b, node, dy: [g], needs }) => {
    const [x, y] = node.inputs;
    return [needs[0] ? unbroadcast(b, b.mul(g!, y), x) : null, needs[1] ? unbroadcast(b, b.mul(g!, x), y) : null];
  },
});
registerGrad({
  op: 'Div', saves: 'both inputs and the output',
  grad: ({ b, node, dy: [g], needs }) => {
    const [x, y] = node.inputs;
    const dx = needs[0] ? unbroadcast(b, b.div(g!, y), x) : null;
    // d(x/y)/dy = -(x/y)/y
    const dyv = needs[1] ? unbroadcast(b, b.neg(b.div(b.mul(g!, node.outputs[0]), y)), y) : null;
    return [dx, dyv];
  },
});
registerGrad({ op: 'Neg', saves: 'nothing', grad: ({ b, dy: [g] }) => [b.neg(g!)] });
registerGrad({ op: 'Identity', saves: 'nothing', grad: ({ dy: [g] }) => [g] });
registerGrad({
  op: 'Relu', saves: 'the output',
  // Gradient passes where the output is positive (0 at the kink, as PyTorch). Mul by the cast mask
  // is the fastest exact form on ORT CPU (Where with a scalar branch is ~10x slower, Sign ~2x).
  grad: ({ b, node, dy: [g] }) => {
    const y = node.outputs[0];
    return [b.mul(g!, b.cast(b.op('Greater', [y, scalarLike(b, 0, y)]), b.dtype(y)))];
  },
});
