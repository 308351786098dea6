// Cast between float types: the gradient is cast back to the input's dtype. (Casts to or from
// integer/bool types carry no gradient: the engine never asks for one there.)
import { DataType, isFloatType } from '../../onnx/ir.js';
import { registerGrad } from '../rule.js';

registerGrad({
  op: 'Cast',
  grad: ({ b, node, g, needs }) => {
    const x = node.inputs[0];
    if (!needs[0]) return [null];
    // Input of unknown dtype (its producer has no shape rule): pass the gradient on, so that the
    // producer's rule (or its absence) decides.
    if (b.dtype(x) === DataType.UNDEFINED) return [g];
    if (!isFloatType(b.dtype(x))) return [null];
    return [b.dtype(x) === b.dtype(g) ? g : b.cast(g, b.dtype(x))];
  },
});
