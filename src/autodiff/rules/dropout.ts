// Dropout. Inference mode (no training_mode input, a constant false one, or opset < 12) is the
// identity. Training mode computes y = x * mask / (1 - ratio); ORT draws the mask with its own
// RNG, so the backward reads the node's mask output (output 1) rather than redrawing it. A
// training_mode fed at run time selects between the two with Where.
import { OnnxError } from '../../onnx/errors.js';
import { floatValues } from '../../onnx/shapes.js';
import { registerGrad } from '../rule.js';
import { scalarLike } from '../helpers.js';

registerGrad({
  op: 'Dropout',
  grad: ({ b, node, g }) => {
    const [x, ratio, training] = node.inputs;
    if (b.opset < 12 || !training) return [g, null, null];
    const tv = floatValues(b.fact(training));
    if (tv && tv[0] === 0) return [g, null, null];
    const mask = node.outputs[1];
    if (!mask) {
      throw new OnnxError('UNSUPPORTED_OP', `cannot differentiate node "${node.name}" (Dropout) in training mode: it has no mask output (output 1), and the gradient needs the mask ONNX Runtime drew. Add a mask output, or apply a mask fed from a seeded input with Mul.`);
    }
    const dt = b.dtype(x);
    let scale: string;
    const rv = ratio ? floatValues(b.fact(ratio)) : [0.5];
    if (rv) scale = scalarLike(b, 1 / (1 - rv[0]), x);
    else {
      const r = b.dtype(ratio) === dt ? ratio : b.cast(ratio, dt);
      scale = b.div(scalarLike(b, 1, x), b.sub(scalarLike(b, 1, x), r));
    }
    const dTrain = b.mul(b.mul(g, b.cast(mask, dt)), scale);
    if (tv) return [dTrain, null, null];
    return [b.op('Where', [training, dTrain, g]), null, null];
  },
});
