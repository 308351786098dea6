// Ops that only move data: the gradient is the inverse movement.
import { registerGrad } from '../rule.js';

registerGrad({
  op: 'Reshape', saves: 'the input shape',
  grad: ({ b, node, dy: [g] }) => [b.reshape(g!, b.shapeOf(node.inputs[0])), null],
});
registerGrad({
  op: 'Flatten', saves: 'the input shape',
  grad: ({ b, node, dy: [g] }) => {
    const s = b.shape(node.inputs[0]);
    return [b.reshape(g!, s && s.every((d) => typeof d === 'number') ? (s as number[]) : b.shapeOf(node.inputs[0]))];
  },
});
