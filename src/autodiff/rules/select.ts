// Ops that select among their inputs: Where (to the two value inputs), elementwise variadic
// Max/Min (to the selected input; ties share the gradient evenly, as torch.maximum), and TopK
// (the values output's gradient is scattered back to the positions its indices name).
import { attrInt } from '../../onnx/attrs.js';
import { registerGrad, type GradContext } from '../rule.js';
import { accumulate, unbroadcast, zerosLike } from '../helpers.js';

registerGrad({
  op: 'Where',
  // g masked by the condition (Mul by the cast mask: faster than Where with a zero branch on ORT CPU).
  grad: ({ b, node, g, needs }) => {
    const [c, x, y] = node.inputs;
    const dt = b.dtype(g);
    return [
      null,
      needs[1] ? unbroadcast(b, b.mul(g, b.cast(c, dt)), x) : null,
      needs[2] ? unbroadcast(b, b.mul(g, b.cast(b.op('Not', [c]), dt)), y) : null,
    ];
  },
});

function selectGrad({ b, node, g, needs }: GradContext): (string | null)[] {
  const ins = node.inputs;
  if (ins.length === 1) return [g];
  const y = node.outputs[0];
  const dt = b.dtype(y);
  const masks = ins.map((x) => b.cast(b.op('Equal', [x, y]), dt));
  const count = accumulate(b, masks);
  const share = b.div(g, count);
  return ins.map((x, i) => (needs[i] ? unbroadcast(b, b.mul(share, masks[i]), x) : null));
}
registerGrad({ op: 'Max', grad: selectGrad });
registerGrad({ op: 'Min', grad: selectGrad });

registerGrad({
  op: 'TopK',
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    const axis = attrInt(node, 'axis', -1);
    return [b.op('ScatterElements', [zerosLike(b, x), node.outputs[1], g], { axis }), null];
  },
});
