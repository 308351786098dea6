// Layout: ops that keep every value and change where it sits: Identity, Reshape, Flatten,
// Transpose, Squeeze, Unsqueeze, Expand, Tile, Concat and Split. Each gradient is the adjoint
// movement: the inverse reshape or permutation, a sum over the axes Expand broadcast or Tile
// repeated, Split for Concat and Concat for Split. Shape and axis arguments must be constant.
import { attrInt, attrInts } from '../../onnx/attrs.js';
import { OnnxError } from '../../onnx/errors.js';
import { registerGrad } from '../rule.js';
import { constInts, normAxis, reshapeTarget, staticDim, unbroadcast } from '../helpers.js';

registerGrad({ op: 'Identity', grad: ({ g }) => [g] });

registerGrad({
  op: 'Reshape',
  grad: ({ b, node, g }) => [b.reshape(g, b.shapeOf(node.inputs[0])), null],
});

registerGrad({
  op: 'Flatten',
  grad: ({ b, node, g }) => [b.reshapeLike(g, node.inputs[0])],
});

registerGrad({
  op: 'Transpose',
  grad: ({ b, node, g }) => {
    const r = b.rank(node.inputs[0]);
    const perm = attrInts(node, 'perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    const inv = new Array<number>(r);
    perm.forEach((p, i) => (inv[p] = i));
    return [b.transpose(g, inv)];
  },
});

for (const op of ['Squeeze', 'Unsqueeze']) {
  registerGrad({
    op,
    grad: ({ b, node, g }) => [b.reshapeLike(g, node.inputs[0]), null],
  });
}

registerGrad({
  op: 'Expand',
  grad: ({ b, node, g }) => [unbroadcast(b, g, node.inputs[0]), null],
});

registerGrad({
  op: 'Tile',
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    const xs = b.shape(x);
    const reps = constInts(b, node, 1, 'repeats')!;
    if (!xs) throw new OnnxError('SHAPE', `Tile "${node.name}": the rank of "${x}" is unknown`);
    if (reps.every((v) => v === 1)) return [g, null];
    // Output axis i is laid out [repeat, d_i]: view as [r0, d0, r1, d1, ...] and sum the repeat axes.
    const view = xs.flatMap((dim, i) => [reps[i], dim]);
    const summed = b.reduceSum(b.reshape(g, reshapeTarget(view, `Tile "${node.name}" gradient`)), xs.map((_, i) => 2 * i), 0);
    return [summed, null];
  },
});

registerGrad({
  op: 'Concat',
  grad: ({ b, node, g, needs }) => {
    const r = b.rank(node.inputs[0]);
    const axis = normAxis(attrInt(node, 'axis', 0), r);
    const sizes = node.inputs.map((x) => staticDim(b, node, x, axis));
    if (!needs.some(Boolean)) return node.inputs.map(() => null);
    if (node.inputs.length === 1) return [g];
    const parts = b.node('Split', [g, b.constI64(sizes)], { axis }, { outputs: sizes.length, name: 'concat_dx' });
    return parts.map((p, i) => (needs[i] ? p : null));
  },
});

registerGrad({
  op: 'Split',
  allOutputs: true,
  grad: ({ b, node, dy: parts }) => {
    const r = b.rank(node.inputs[0]);
    const axis = normAxis(attrInt(node, 'axis', 0), r);
    return [parts.length === 1 ? parts[0] : b.op('Concat', parts, { axis }, { name: 'split_dx' }), null];
  },
});
