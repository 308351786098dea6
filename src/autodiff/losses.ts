// Loss subgraphs appended to a GraphBuilder, written only with ops that have gradient rules, so the
// result can be differentiated with buildGradient. Logits are [N, C] (float32 or float64; the loss
// has the logits' dtype), labels are int64 (or int32) [N]. N may be symbolic.
//
//   crossEntropy   torch.nn.CrossEntropyLoss(label_smoothing=...)             default: mean
//   klDivergence   TRADES' KL(softmax(p) || softmax(q)), torch KLDivLoss        default: batchmean
//   cwMargin       max_{j != y} z_j - z_y (CW-inf PGD's loss to maximise)       default: per example
//   dlr            AutoAttack's DLR loss                                        default: per example
//   dlrTargeted    AutoAttack's targeted DLR loss                               default: per example
//   correctCount   number of examples with argmax == label                     (no gradient)
import { OnnxError } from '../onnx/errors.js';
import type { GraphBuilder } from '../onnx/builder.js';
import { DataType, tensor } from '../onnx/ir.js';
import { scalarLike } from './helpers.js';

export type Reduction = 'mean' | 'sum' | 'none';

/** Mean or sum over the batch axis of a per-example [N] value; 'none' returns it unchanged. */
export function reduceBatch(b: GraphBuilder, perExample: string, reduction: Reduction): string {
  if (reduction === 'none') return perExample;
  if (reduction === 'sum') return b.reduceSum(perExample, [0], 0);
  if (reduction === 'mean') return b.reduceMean(perExample, [0], 0);
  throw new OnnxError('BAD_ATTRIBUTE', `unknown loss reduction "${reduction as string}" (mean, sum or none)`);
}

function checkLogits(b: GraphBuilder, logits: string, what: string): void {
  const s = b.shape(logits);
  if (s && s.length !== 2) throw new OnnxError('SHAPE', `${what}: logits "${logits}" must be [N, C], got [${s.join(', ')}]`);
}

function int64Labels(b: GraphBuilder, labels: string): string {
  const dt = b.dtype(labels);
  return dt === DataType.INT64 ? labels : b.cast(labels, DataType.INT64);
}

/** Bool [N, C]: column j is true where labels == j. */
export function labelMask(b: GraphBuilder, logits: string, labels: string): string {
  const c = b.shape(logits)?.[1];
  let classes: string;
  if (typeof c === 'number') classes = b.constI64(Array.from({ length: c }, (_, i) => i), [1, c]);
  else {
    const count = b.op('Gather', [b.shapeOf(logits), b.constI64(1, [])], { axis: 0 });
    classes = b.unsqueeze(b.op('Range', [b.constI64(0, []), count, b.constI64(1, [])]), [0]);
  }
  return b.op('Equal', [b.unsqueeze(int64Labels(b, labels), [1]), classes]);
}

/** One-hot [N, C] in the logits' float dtype. */
export function oneHot(b: GraphBuilder, logits: string, labels: string): string {
  return b.cast(labelMask(b, logits, labels), b.dtype(logits));
}

/** z[n, labels[n]] as [N] (gradient flows to the logits). */
export function pickClass(b: GraphBuilder, logits: string, labels: string): string {
  return b.reduceSum(b.mul(logits, oneHot(b, logits, labels)), [1], 0);
}

export interface CrossEntropyOptions {
  /** torch's label_smoothing: target = (1 - s) * onehot + s / C. Default 0. */
  labelSmoothing?: number;
  /** Default 'mean'. */
  reduction?: Reduction;
}

/** torch.nn.CrossEntropyLoss on logits [N, C] and class labels [N]. */
export function crossEntropy(b: GraphBuilder, logits: string, labels: string, opts: CrossEntropyOptions = {}): string {
  checkLogits(b, logits, 'crossEntropy');
  const s = opts.labelSmoothing ?? 0;
  if (!(s >= 0 && s <= 1)) throw new OnnxError('BAD_ATTRIBUTE', `crossEntropy: labelSmoothing must be in [0, 1], got ${s}`);
  const logp = b.logSoftmax(logits, 1);
  const nll = b.neg(pickClass(b, logp, labels));
  let per = nll;
  if (s > 0) {
    // (1 - s) * nll + s * mean_c(-logp): torch's smoothed loss without class weights.
    const smooth = b.neg(b.reduceMean(logp, [1], 0));
    per = b.add(b.mul(nll, scalarLike(b, 1 - s, logits)), b.mul(smooth, scalarLike(b, s, logits)));
  }
  return reduceBatch(b, per, opts.reduction ?? 'mean');
}

export interface KlOptions {
  /**
   * 'batchmean' (default): sum over classes and batch / N (TRADES: (1/N) * KLDivLoss(sum));
   * 'sum'; 'mean': / (N*C) like torch's KLDivLoss(reduction='mean'); 'none': per example [N].
   */
  reduction?: 'batchmean' | 'sum' | 'mean' | 'none';
}

/**
 * KL(softmax(p) || softmax(q)) = sum_c softmax(p) * (log_softmax(p) - log_softmax(q)).
 * TRADES calls KLDivLoss(log_softmax(model(x_adv)), softmax(model(x_natural))), i.e. p = natural
 * logits, q = adversarial logits. Both get gradients; stop p's with stopGradient where wanted.
 */
export function klDivergence(b: GraphBuilder, logitsP: string, logitsQ: string, opts: KlOptions = {}): string {
  checkLogits(b, logitsP, 'klDivergence');
  checkLogits(b, logitsQ, 'klDivergence');
  const lp = b.logSoftmax(logitsP, 1);
  const lq = b.logSoftmax(logitsQ, 1);
  const pr = b.softmax(logitsP, 1);
  const terms = b.mul(pr, b.sub(lp, lq));
  const r = opts.reduction ?? 'batchmean';
  if (r === 'sum') return b.reduceSum(terms, undefined, 0);
  if (r === 'mean') return b.reduceMean(terms, undefined, 0);
  const per = b.reduceSum(terms, [1], 0);
  if (r === 'none') return per;
  if (r === 'batchmean') return b.reduceMean(per, [0], 0);
  throw new OnnxError('BAD_ATTRIBUTE', `klDivergence: unknown reduction "${r as string}"`);
}

/** max over j != label of z_j, as [N]. */
export function maxOther(b: GraphBuilder, logits: string, labels: string): string {
  const masked = b.op('Where', [labelMask(b, logits, labels), scalarLike(b, -Infinity, logits), logits]);
  return b.reduceMax(masked, [1], 0);
}

export interface MarginOptions {
  /**
   * Without kappa: the raw margin max_{j != y} z_j - z_y. With kappa: the CW-inf PGD loss
   * -clamp(z_y - max_{j != y} z_j + kappa, min=0) (0 once misclassified by at least kappa).
   */
  kappa?: number;
  /** Default 'none' (per example [N]). */
  reduction?: Reduction;
}

/** Carlini-Wagner margin per example (a loss to maximise in an attack). */
export function cwMargin(b: GraphBuilder, logits: string, labels: string, opts: MarginOptions = {}): string {
  checkLogits(b, logits, 'cwMargin');
  const margin = b.sub(maxOther(b, logits, labels), pickClass(b, logits, labels));
  let per = margin;
  if (opts.kappa !== undefined) {
    per = b.neg(b.op('Clip', [b.sub(scalarLike(b, opts.kappa, logits), margin), scalarLike(b, 0, logits)]));
  }
  return reduceBatch(b, per, opts.reduction ?? 'none');
}

/** The k largest logits per row, sorted descending: [N, k] values and int64 indices. */
function topK(b: GraphBuilder, logits: string, k: number, what: string): [string, string] {
  const c = b.shape(logits)?.[1];
  if (typeof c === 'number' && c < k) throw new OnnxError('SHAPE', `${what} needs at least ${k} classes, the logits have ${c}`);
  const attrs = { axis: 1, largest: 1, sorted: 1 };
  const [v, i] = b.opset >= 10
    ? b.node('TopK', [logits, b.constI64([k])], attrs, { outputs: 2 })
    : b.node('TopK', [logits], { axis: 1, k }, { outputs: 2 });
  return [v, i];
}

/** Column j of a [N, K] float tensor as [N] (Mul by a constant one-hot and ReduceSum, so it differentiates). */
function column(b: GraphBuilder, v: string, j: number, k: number): string {
  const e = b.constant(tensor('', b.dtype(v), [1, k], Array.from({ length: k }, (_, i) => (i === j ? 1 : 0))), 'col');
  return b.reduceSum(b.mul(v, e), [1], 0);
}

/**
 * AutoAttack's DLR loss per example:
 *   -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3 + 1e-12), pi sorting the logits descending.
 * Written as AutoAttack does (the runner-up is the 2nd sorted logit when the top one is y).
 */
export function dlr(b: GraphBuilder, logits: string, labels: string, opts: { reduction?: Reduction } = {}): string {
  checkLogits(b, logits, 'dlr');
  const [v, idx] = topK(b, logits, 3, 'dlr');
  const [v1, v2, v3] = [0, 1, 2].map((j) => column(b, v, j, 3));
  const top = b.op('Gather', [idx, b.constI64(0, [])], { axis: 1 });
  const ind = b.cast(b.op('Equal', [top, int64Labels(b, labels)]), b.dtype(logits));
  const one = scalarLike(b, 1, logits);
  const other = b.add(b.mul(v2, ind), b.mul(v1, b.sub(one, ind)));
  const num = b.sub(pickClass(b, logits, labels), other);
  const den = b.add(b.sub(v1, v3), scalarLike(b, 1e-12, logits));
  return reduceBatch(b, b.neg(b.div(num, den)), opts.reduction ?? 'none');
}

/** AutoAttack's targeted DLR: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12), per example. */
export function dlrTargeted(b: GraphBuilder, logits: string, labels: string, targets: string, opts: { reduction?: Reduction } = {}): string {
  checkLogits(b, logits, 'dlrTargeted');
  const [v] = topK(b, logits, 4, 'dlrTargeted');
  const [v1, , v3, v4] = [0, 1, 2, 3].map((j) => column(b, v, j, 4));
  const num = b.sub(pickClass(b, logits, labels), pickClass(b, logits, targets));
  const den = b.add(b.sub(v1, b.mul(b.add(v3, v4), scalarLike(b, 0.5, logits))), scalarLike(b, 1e-12, logits));
  return reduceBatch(b, b.neg(b.div(num, den)), opts.reduction ?? 'none');
}

/**
 * Count of examples whose argmax (first maximum on ties, as torch) equals the label: an int64
 * scalar by default, or a float32 scalar with { dtype: 'float' }. Per-example bools with
 * reduction 'none'.
 */
export function correctCount(b: GraphBuilder, logits: string, labels: string, opts: { dtype?: 'int64' | 'float'; reduction?: 'sum' | 'none' } = {}): string {
  checkLogits(b, logits, 'correctCount');
  const pred = b.op('ArgMax', [logits], { axis: 1, keepdims: 0 });
  const hit = b.op('Equal', [pred, int64Labels(b, labels)]);
  if (opts.reduction === 'none') return hit;
  const asNum = b.cast(hit, opts.dtype === 'float' ? DataType.FLOAT : DataType.INT64);
  return b.reduceSum(asNum, [0], 0);
}
