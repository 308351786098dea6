// Ops that carry no gradient: shape queries, comparisons and logic, index-valued ops, ops that
// are piecewise constant (Floor/Ceil/Round/Sign: zero gradient almost everywhere), constants and
// random draws. They may sit on float paths (Sign in FGSM, Floor in quantisers), so they are
// registered with a rule that returns no gradient for any input instead of being an error.
// OneHot is the exception with a real rule: its values input ([off, on]) does get a gradient.
import { attrInt } from '../../onnx/attrs.js';
import { registerGrad } from '../rule.js';
import { tensor } from '../../onnx/ir.js';

const NO_GRADIENT = [
  'Shape', 'Size', 'Constant', 'ConstantOfShape', 'EyeLike', 'Range', 'NonZero',
  'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf',
  'ArgMax', 'ArgMin', 'Floor', 'Ceil', 'Round', 'Sign',
  'RandomUniform', 'RandomNormal', 'RandomUniformLike', 'RandomNormalLike', 'Bernoulli', 'Multinomial',
];

for (const op of NO_GRADIENT) {
  registerGrad({ op, grad: ({ node }) => node.inputs.map(() => null) });
}

registerGrad({
  op: 'OneHot',
  // y = off + (on - off) * onehot(indices): d off = sum(g * (1 - onehot)), d on = sum(g * onehot).
  grad: ({ b, node, g, needs }) => {
    const [indices, depth, values] = node.inputs;
    if (!needs[2]) return [null, null, null];
    const dt = b.dtype(values);
    const unit = b.constant(tensor('', dt, [2], [0, 1]), 'onehot_unit');
    const mask = b.op('OneHot', [indices, depth, unit], { axis: attrInt(node, 'axis', -1) });
    const on = b.reduceSum(b.mul(g, mask), undefined, 0);
    const all = b.reduceSum(g, undefined, 0);
    const off = b.sub(all, on);
    return [null, null, b.op('Concat', [b.unsqueeze(off, [0]), b.unsqueeze(on, [0])], { axis: 0 })];
  },
});
