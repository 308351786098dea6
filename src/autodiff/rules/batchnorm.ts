// BatchNormalization, inference and training mode (x is N, C, ...; scale/bias/mean/var are [C]).
//   Inference (training_mode=0): y = scale * (x - mean) / sqrt(var + eps) + bias, an affine map of x;
//     gradients w.r.t. x, scale, bias, and (when asked for) the mean and var inputs.
//   Training (training_mode=1): normalises with the batch statistics (biased variance), which the
//     backward recomputes from x (ORT's BatchNormalization has no saved-mean/inv-std outputs):
//       dx = scale * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat))   (normalization.ts, shared)
//     The running_mean/running_var outputs are state updates, not differentiated (their incoming
//     gradients are ignored), and the mean/var inputs do not affect Y, so they get no gradient.
import { attrInt, epsilonOf } from '../../onnx/attrs.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { registerGrad } from '../rule.js';
import { normalise, normaliseBackward } from './normalization.js';
import { scalarLike } from '../helpers.js';

/** A [C] vector shaped to broadcast against x (N, C, d1..dk): [C, 1, ..., 1]. */
function perChannel(b: GraphBuilder, v: string, rank: number): string {
  return rank > 2 ? b.unsqueeze(v, Array.from({ length: rank - 2 }, (_, i) => i + 1)) : v;
}

registerGrad({
  op: 'BatchNormalization',
  grad: ({ b, node, g, needs }) => {
    const [x, scale, , mean, variance] = node.inputs;
    const rank = b.rank(x);
    const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
    const epsilon = epsilonOf(node);
    // Opset < 14 (BatchNormalization-9) has no training_mode attribute: its training form is the one with more than one output.
    const training = attrInt(node, 'training_mode', 0) === 1 || (b.opset < 14 && node.outputs.filter(Boolean).length > 1);
    const out: (string | null)[] = [null, null, null, null, null];

    if (!training) {
      const inv = b.op('Reciprocal', [b.op('Sqrt', [b.add(variance, scalarLike(b, epsilon, x))])]); // [C]
      const k = b.mul(scale, inv);
      if (needs[0]) out[0] = b.mul(g, perChannel(b, k, rank));
      const sumG = needs[2] || needs[3] ? b.reduceSum(g, axes, 0) : null;
      const sumGXc = needs[1] || needs[4] ? b.reduceSum(b.mul(g, b.sub(x, perChannel(b, mean, rank))), axes, 0) : null;
      if (needs[1]) out[1] = b.mul(sumGXc!, inv);
      if (needs[2]) out[2] = sumG;
      if (needs[3]) out[3] = b.neg(b.mul(sumG!, k));
      // d/dvar of (var+eps)^(-1/2) = -1/2 (var+eps)^(-3/2)
      if (needs[4]) out[4] = b.mul(b.mul(sumGXc!, k), b.mul(b.mul(inv, inv), scalarLike(b, -0.5, x)));
      return out;
    }

    if (!needs[0] && !needs[1] && !needs[2]) return out;
    // The per-channel scale factors out of the shared normalisation backward (normalization.ts).
    const n = normalise(b, x, axes, epsilon);
    const { dx, sum, sumXhat } = normaliseBackward(b, n, g, axes, needs[0]);
    const toC = (v: string) => b.reshapeLike(v, scale);
    if (needs[1]) out[1] = toC(sumXhat);
    if (needs[2]) out[2] = toC(sum);
    if (dx) out[0] = b.mul(dx, perChannel(b, scale, rank));
    return out;
  },
});
