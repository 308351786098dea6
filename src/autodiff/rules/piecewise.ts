// Piecewise activations: Relu, LeakyRelu, PRelu, ThresholdedRelu, Elu, Selu, Celu, HardSigmoid,
// HardSwish and Clip. Each backward is g times the slope of the piece x lies on, chosen by a
// comparison mask; slopes at the kinks follow PyTorch's backward (noted per op).
import { attrFloat } from '../../onnx/attrs.js';
import { isFloatType } from '../../onnx/ir.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { registerGrad } from '../rule.js';
import { pointwise, scalarLike, unbroadcast } from '../helpers.js';

const where = (b: GraphBuilder, c: string, t: string, f: string): string => b.op('Where', [c, t, f]);
const greater = (b: GraphBuilder, x: string, v: number): string => b.op('Greater', [x, scalarLike(b, v, x)]);
const less = (b: GraphBuilder, x: string, v: number): string => b.op('Less', [x, scalarLike(b, v, x)]);
const mask = (b: GraphBuilder, cond: string, like: string): string => b.cast(cond, b.dtype(like));

// Gradient passes where the output is positive (0 at the kink, as PyTorch). Mul by the cast mask
// is the fastest exact form on ORT CPU (Where with a scalar branch is ~10x slower, Sign ~2x).
pointwise('Relu', (b, _x, y) => b.cast(b.op('Greater', [y, scalarLike(b, 0, y)]), b.dtype(y)));

registerGrad({
  op: 'LeakyRelu',
  // x > 0 ? g : alpha * g (the slope at 0 is alpha, as torch).
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    const alpha = attrFloat(node, 'alpha', 0.01);
    const zero = scalarLike(b, 0, x);
    return [b.op('Where', [b.op('Greater', [x, zero]), g, b.mul(g, scalarLike(b, alpha, x))])];
  },
});

registerGrad({
  op: 'PRelu',
  // x > 0: g, else slope g; the slope gets x g where x <= 0, summed over its broadcast axes.
  grad: ({ b, node, g, needs }) => {
    const [x, slope] = node.inputs;
    const pos = greater(b, x, 0);
    const dx = needs[0] ? where(b, pos, g, b.mul(g, slope)) : null;
    const dslope = needs[1] ? unbroadcast(b, where(b, pos, scalarLike(b, 0, x), b.mul(g, x)), slope) : null;
    return [dx, dslope];
  },
});

pointwise('ThresholdedRelu', (b, x, _y, node) => mask(b, greater(b, x, attrFloat(node, 'alpha', 1)), x));

registerGrad({
  op: 'Elu',
  // x > 0: 1, else y + alpha (= alpha e^x)
  grad: ({ b, node, g }) => {
    const x = node.inputs[0], y = node.outputs[0];
    const alpha = attrFloat(node, 'alpha', 1);
    return [where(b, greater(b, x, 0), g, b.mul(g, b.add(y, scalarLike(b, alpha, y))))];
  },
});

registerGrad({
  op: 'Selu',
  // x > 0: gamma, else y + gamma alpha (= gamma alpha e^x)
  grad: ({ b, node, g }) => {
    const x = node.inputs[0], y = node.outputs[0];
    const alpha = attrFloat(node, 'alpha', 1.67326319217681884765625);
    const gamma = attrFloat(node, 'gamma', 1.05070102214813232421875);
    return [where(b, greater(b, x, 0), b.mul(g, scalarLike(b, gamma, x)), b.mul(g, b.add(y, scalarLike(b, gamma * alpha, y))))];
  },
});

registerGrad({
  op: 'Celu',
  // x > 0: 1, else exp(x / alpha)
  grad: ({ b, node, g }) => {
    const x = node.inputs[0];
    const alpha = attrFloat(node, 'alpha', 1);
    return [where(b, greater(b, x, 0), g, b.mul(g, b.op('Exp', [b.mul(x, scalarLike(b, 1 / alpha, x))])))];
  },
});

// alpha where 0 < alpha x + beta < 1, else 0 (torch: hardsigmoid_backward uses the open interval).
pointwise('HardSigmoid', (b, x, _y, node) => {
  const alpha = attrFloat(node, 'alpha', 0.2), beta = attrFloat(node, 'beta', 0.5);
  const z = b.add(b.mul(x, scalarLike(b, alpha, x)), scalarLike(b, beta, x));
  const inside = b.op('And', [greater(b, z, 0), less(b, z, 1)]);
  return b.mul(mask(b, inside, x), scalarLike(b, alpha, x));
});

// x < -3: 0; -3 <= x <= 3: x/3 + 1/2; x > 3: 1 (torch's hardswish_backward).
pointwise('HardSwish', (b, x) => {
  const mid = b.add(b.mul(x, scalarLike(b, 1 / 3, x)), scalarLike(b, 0.5, x));
  return where(b, less(b, x, -3), scalarLike(b, 0, x), where(b, greater(b, x, 3), scalarLike(b, 1, x), mid));
});

registerGrad({
  op: 'Clip',
  // Gradient passes where min < x < max, is zero outside and at the bounds themselves: the
  // convention of torch's hardtanh/ReLU6 and TF's relu6 (the Clips classifiers export) and of Relu
  // here (0 at the kink). (torch.clamp passes it at the bounds too; a fresh export with folded
  // BatchNorm puts exact zeros on ReLU6's kink: depthwise windows of zeros plus a zero bias.)
  // A tensor bound gets the gradient of the positions it clipped.
  grad: ({ b, node, g, needs }) => {
    const x = node.inputs[0];
    const dt = b.dtype(x);
    let lo: string | undefined = node.inputs[1] || undefined;
    let hi: string | undefined = node.inputs[2] || undefined;
    if (b.opset < 11) {
      // Clip-6: bounds are attributes.
      const a = node.attributes;
      if (a.min) lo = scalarLike(b, attrFloat(node, 'min', 0), x);
      if (a.max) hi = scalarLike(b, attrFloat(node, 'max', 0), x);
    }
    if (!lo && !hi) return [g, null, null];
    // Masks multiply (Mul by a cast comparison beats Where with a scalar branch on ORT CPU).
    const masked = (cond: string) => b.mul(g, b.cast(cond, dt));
    let dx: string | null = null;
    if (needs[0]) {
      const above = lo ? b.op('Greater', [x, lo]) : undefined;
      const below = hi ? b.op('Less', [x, hi]) : undefined;
      dx = masked(above && below ? b.op('And', [above, below]) : (above ?? below)!);
    }
    const bound = (op: 'Less' | 'Greater', v: string | undefined, k: number): string | null => {
      if (!needs[k] || !v) return null;
      if (!isFloatType(b.dtype(v)) || b.dtype(v) !== dt) return null;
      return unbroadcast(b, masked(b.op(op, [x, v])), v);
    };
    // (min > max, where ONNX outputs max everywhere, is not given special treatment for the bounds.)
    return [dx, bound('Less', lo, 1), bound('Greater', hi, 2)];
  },
});
