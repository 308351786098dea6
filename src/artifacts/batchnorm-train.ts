// BatchNormalization in training mode, written out in standard ops for the forward copies of the
// train step (x is [N, C, d1..dk]; scale, bias and the statistics are [C]; sums over N, d1..dk):
//   m0 = mean(x);  d = x - m0;  c = mean(d)          corrected two-pass statistics: the second pass
//   mu = m0 + c;   var = mean(d^2) - c^2              removes the rounding of the first mean, and the
//                                                     variance comes from centred values (no
//                                                     E[x^2] - E[x]^2 cancellation)
//   y  = (x - mu) * (scale / sqrt(var + eps)) + bias  centred before scaling: no x*k - mu*k cancellation
// torch's CPU kernels accumulate these statistics in double; ORT's BatchNormalization kernel does
// not, and folds y = x*k + (bias - mu*k), which on MNASNet-0.5 left our float32 gradients 100x
// further from float64 than torch's.
// The gradient is the training-mode one (through mu and var), taken from a surrogate of the same
// value: with the shifted values d held constant (`constants`, no gradient through them), mu's
// gradient flows through m0 = mean(x), and var's through
//   var = var2 + (v - v_c),  v = mean(xc^2),  xc = x - mu,  v_c = v held constant
// where v - v_c is exactly 0, so the forward values stay bit for bit those of the two-pass form.
// The backward then reads xc, which y's product keeps anyway, instead of d too: one activation-sized
// tensor fewer per BN held from the forward pass to the backward (PreAct ResNet-18's train step at
// batch 32: static peak 238.6 -> 174.6 MiB, 4695 -> 4440 nodes, 1023 -> 867 ms at 2 threads), and
// the variance is differentiated as torch does it, d var / dx = 2 xc / n. Running statistics move
// as torch's do:
//   mean' = m * mean + (1 - m) * mu,   var' = m * var + (1 - m) * var * n / (n - 1)
// with m the node's momentum (torch's 1 - momentum) and n the elements per channel: torch keeps the
// unbiased batch variance in its running variance (the normalisation uses the biased one), while
// ONNX's training outputs keep the biased one.
import { attrFloat, epsilonOf } from '../onnx/attrs.js';
import type { GraphBuilder } from '../onnx/builder.js';
import { elementCount } from '../autodiff/helpers.js';
import { DataType, type Node } from '../onnx/ir.js';

/** The node's momentum (0.9 by default), read as the decimal its float32 rounds (exporters write 1 - 0.1 as 0.89999998). */
const momentumOf = (n: Node): number => Number(attrFloat(n, 'momentum', 0.9).toPrecision(7));

export interface BatchNormTraining {
  y: string;
  /** Values the gradient must not flow through (the shifted values d and the surrogate's constant copy). */
  constants: string[];
  /** The updated running mean and variance ([C]). */
  mean: string;
  variance: string;
}

/** Emits BN node `n` in training mode on the renamed `inputs` (x, scale, bias, running mean, running var). */
export function batchNormTraining(b: GraphBuilder, n: Node, inputs: string[]): BatchNormTraining {
  const [x, scale, bias, runningMean, runningVar] = inputs;
  const dt = b.dtype(x) || DataType.FLOAT;
  const k = (v: number) => b.constF(v, [], dt);
  const rank = b.rank(x);
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const perChannel = (v: string) => (rank > 2 ? b.unsqueeze(v, Array.from({ length: rank - 2 }, (_, i) => i + 1)) : v);
  const m0 = b.reduceMean(x, axes, 1);
  const d = b.sub(x, m0);
  const c = b.reduceMean(d, axes, 1);
  const mu = b.add(m0, c);
  const xc = b.sub(x, mu);
  const v = b.reduceMean(b.mul(xc, xc), axes, 1);
  const vConst = b.op('Identity', [v]);
  const variance = b.add(b.sub(b.reduceMean(b.mul(d, d), axes, 1), b.mul(c, c)), b.sub(v, vConst));
  const flat = (t: string) => b.reshape(t, [-1]);
  const r = b.op('Reciprocal', [b.op('Sqrt', [b.add(flat(variance), k(epsilonOf(n)))])]);
  const y = b.add(b.mul(xc, perChannel(b.mul(scale, r))), perChannel(bias));

  const count = elementCount(b, x, axes);
  const unbiased = b.div(b.mul(flat(variance), count), b.op('Max', [b.sub(count, k(1)), k(1)]));
  const m = momentumOf(n);
  const blend = (old: string, batch: string) => b.add(b.mul(k(m), old), b.mul(k(1 - m), batch));
  return { y, constants: [d, vConst], mean: blend(runningMean, flat(mu)), variance: blend(runningVar, unbiased) };
}
