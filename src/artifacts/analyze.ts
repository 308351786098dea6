// Reads an inference classifier and decides what is what: the image input, the logits output,
// the trainable parameters, the BatchNorm running statistics, and the fixed constants.
// Exporters differ in two ways that matter for training and attacks, both handled here:
//   - Keras/TF classifiers often end in Softmax: training and attacks use its input as the logits
//     (cross-entropy on probabilities trains badly and masks gradients); exports keep the Softmax.
//   - TF models take NHWC images: the artifacts take NCHW images like every other model and
//     transpose them in the graph, so data, attacks and checkpoints never see the difference.
import { attrInt } from '../onnx/attrs.js';
import { OnnxError } from '../onnx/errors.js';
import { DataType, defaultOpset, isDefaultDomain, isFloatType, numel, type Graph, type Model, type Tensor, type ValueInfo } from '../onnx/ir.js';
import { inferShapes } from '../onnx/shapes.js';
import { normalizeImport } from './import.js';
import { isBnStatisticSlot } from './statistics.js';
import { matchingPattern, trainingChoice, type TrainingChoice } from './trainable.js';
import { ARTIFACT_OPSET, OLDEST_SOURCE_OPSET } from './upgrade.js';

export interface ModelAnalysis {
  /** The image input [N, C, H, W] (or any rank; first dim is the batch). */
  input: ValueInfo;
  /** The model's first output: logits, or probabilities when `outputKind` says so. */
  output: ValueInfo;
  /** The value trained and attacked as logits [N, classes]: the output, or the input of a final Softmax. */
  logits: string;
  outputKind: OutputKind;
  /** 'nhwc': the model takes channels-last images; its forward copies transpose NCHW images first. */
  inputLayout: InputLayout;
  classes: number;
  /** Trainable float initializers, in file order. */
  params: Tensor[];
  /** BatchNorm running means and variances, in file order. */
  stats: Tensor[];
  /** Other initializers (shape constants, frozen normalisation constants), copied as they are. */
  constants: Tensor[];
  /** The float initializers among the constants, each with why it stays fixed. */
  frozen: FrozenTensor[];
  /** Opset the artifacts are built at: the source's, at least ARTIFACT_OPSET (see upgrade.ts). */
  opset: number;
  /** Opset the source model was exported at. */
  sourceOpset: number;
}

/** Op inputs that hold learned weights when fed by an initializer. */
const WEIGHT_SLOTS: Record<string, number[]> = {
  Conv: [1, 2], ConvTranspose: [1, 2], Gemm: [1, 2], MatMul: [0, 1], BatchNormalization: [1, 2],
  InstanceNormalization: [1, 2], LayerNormalization: [1, 2], PRelu: [1],
};

export const MIN_OPSET = OLDEST_SOURCE_OPSET;

/** 'probabilities': the output is a Softmax over the classes (its input is used as the logits). */
export type OutputKind = 'logits' | 'probabilities';

/** The logits behind a classifier's first output: through Identity nodes, past a final Softmax over the last axis. */
export function findLogits(g: Graph, opset: number): { logits: string; outputKind: OutputKind; softmaxNode?: string } {
  const output = g.outputs[0].name;
  const producer = new Map<string, Graph['nodes'][number]>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const standard = (n: Graph['nodes'][number] | undefined, op: string) => n?.opType === op && isDefaultDomain(n.domain);
  let v = output;
  for (let n = producer.get(v); standard(n, 'Identity'); n = producer.get(v)) v = n!.inputs[0];
  const n = producer.get(v);
  if (n && standard(n, 'Softmax')) {
    const rank = g.outputs[0].shape?.length ?? 2;
    const axis = attrInt(n, 'axis', opset >= 13 ? -1 : 1);
    // Before opset 13 Softmax normalises over all axes from `axis` on: the last axis alone when axis = rank - 1.
    if (axis === -1 || axis === rank - 1) return { logits: n.inputs[0], outputKind: 'probabilities', softmaxNode: n.name || n.outputs[0] };
  }
  return { logits: output, outputKind: 'logits' };
}

/** A classifier's image input and what is trained and attacked as its logits. */
export interface ClassifierIo {
  input: ValueInfo;
  /** The first output: logits, or probabilities when `outputKind` says so. */
  output: ValueInfo;
  /** The value used as the logits: the output, or the input of a final Softmax. */
  logits: string;
  outputKind: OutputKind;
  /** The default-domain opset the model imports. */
  opset: number;
}

/** The classifier I/O of a model, checked: exactly one float image input, a first output of float logits (or undeclared type). */
export function classifierIo(model: Model): ClassifierIo {
  const g = model.graph;
  const opset = defaultOpset(model);
  const inputs = g.inputs.filter((v) => !g.initializers.has(v.name));
  if (inputs.length !== 1) {
    throw new OnnxError('SHAPE', `expected a classifier with exactly one image input; the model has ${inputs.length} (${inputs.map((v) => v.name).join(', ') || 'none'})`);
  }
  const input = inputs[0];
  if (!isFloatType(input.dtype)) throw new OnnxError('SHAPE', `the image input "${input.name}" must be a float tensor, not ${DataType[input.dtype] ?? input.dtype}`);
  if (g.outputs.length < 1) throw new OnnxError('SHAPE', 'the model has no output');
  const output = g.outputs[0];
  if (output.dtype !== DataType.UNDEFINED && !isFloatType(output.dtype)) {
    throw new OnnxError('SHAPE', `the first output "${output.name}" must be float logits, not ${DataType[output.dtype] ?? output.dtype}`);
  }
  const { logits, outputKind } = findLogits(g, opset);
  return { input, output, logits, outputKind, opset };
}

/** Layout of a model's image input relative to [C, H, W] images: 'nhwc' when it takes [N, H, W, C]. */
export type InputLayout = 'nchw' | 'nhwc';

/**
 * Which layout the model's input expects for images of `image` = [C, H, W] (or any per-example
 * shape): the same dims ('nchw'), or the channels last ('nhwc', rank-4 inputs only). Symbolic dims
 * match anything. Throws a SHAPE error naming both shapes when neither fits.
 */
export function inputLayoutFor(input: ValueInfo, image: readonly number[]): InputLayout {
  const s = input.shape;
  if (!s) return 'nchw';
  const per = s.slice(1);
  const fits = (want: readonly number[]) => per.length === want.length && per.every((d, i) => typeof d !== 'number' || d === want[i]);
  if (fits(image)) return 'nchw';
  if (image.length === 3 && fits([image[1], image[2], image[0]])) return 'nhwc';
  const dims = (d: readonly (string | number | null)[]) => d.map((x) => (typeof x === 'number' ? x : x ?? '?')).join(', ');
  throw new OnnxError('SHAPE', `the model's input "${input.name}" is [${dims(s)}] but the images are [N, ${image.join(', ')}]` +
    (image.length === 3 ? ` (channels-last would be [N, ${image[1]}, ${image[2]}, ${image[0]}])` : ''));
}

/**
 * Training feeds batches of any size. A model exported with a fixed batch (often 1) may hard-code
 * it (a Reshape to [1, -1]); shape inference with a symbolic batch shows whether the logits keep
 * it. Returns what is wrong and how to fix it, or null.
 */
export function fixedBatchProblem(model: Model, a: Pick<ModelAnalysis, 'input' | 'logits' | 'sourceOpset'>): string | null {
  const b0 = a.input.shape?.[0];
  if (typeof b0 !== 'number') return null;
  const inputs = model.graph.inputs.map((v) => (v.name === a.input.name ? { ...v, shape: ['batch', ...(v.shape ?? []).slice(1)] } : v));
  const out = inferShapes({ ...model.graph, inputs }, a.sourceOpset).get(a.logits)?.shape;
  if (!out || out[0] === undefined || out[0] === null || out[0] === 'batch') return null;
  return `it was exported with a fixed batch of ${b0} and keeps it (its logits are [${out.join(', ')}] for a batch of N images); ` +
    "re-export it with a dynamic batch, e.g. torch.onnx.export(..., dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}})";
}

export interface FrozenTensor { name: string; elements: number; reason: string }

/**
 * The class count an output declares against the one its graph computes (a model edited to say 7
 * classes where its Gemm gives 10). Returns what is wrong, or null when they agree or either is unknown.
 */
export function declaredClassesProblem(model: Model, a: Pick<ModelAnalysis, 'output' | 'logits' | 'classes' | 'sourceOpset'>): string | null {
  if (!a.classes) return null;
  const out = inferShapes(model.graph, a.sourceOpset).get(a.logits)?.shape;
  const computed = out?.[out.length - 1];
  if (typeof computed !== 'number' || computed === a.classes) return null;
  return `its output "${a.output.name}" is declared with ${a.classes} classes, but the graph computes ${computed}; fix the output's declared shape (or the last layer)`;
}

export interface AnalyzeOptions {
  /** Name patterns of what trains and what stays frozen (default: the model's recorded choice, see trainable.ts). */
  choice?: TrainingChoice;
  /** The model's input layout (default 'nchw': the images are fed as they are). */
  inputLayout?: InputLayout;
}

/** Ops whose non-scalar float initializer operands are learned when they act on features. */
const FEATURE_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Concat']);
/**
 * Ops whose first input's value reaches their output unchanged in value (moved, reshaped,
 * replicated, cast): a parameter read through them is still the parameter. Concat is one when every
 * input is (it joins parameters).
 */
const VALUE_PRESERVING = new Set(['Identity', 'Transpose', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Cast', 'Expand', 'Tile']);

/**
 * For each value computed from float initializers only through value-preserving ops, the
 * initializers it carries (a Transpose of a Linear weight into a MatMul, a reshaped layer scale, a
 * Concat of a class token and position embeddings).
 */
export function initializerOrigins(g: Graph): Map<string, string[]> {
  const origin = new Map<string, string[]>();
  for (const [name, t] of g.initializers) if (isFloatType(t.dtype)) origin.set(name, [name]);
  for (const n of g.nodes) {
    if (!isDefaultDomain(n.domain)) continue;
    let from: string[] | undefined;
    if (VALUE_PRESERVING.has(n.opType)) from = origin.get(n.inputs[0]);
    else if (n.opType === 'Concat' && n.inputs.every((i) => origin.has(i))) from = n.inputs.flatMap((i) => origin.get(i)!);
    if (from && n.outputs[0]) origin.set(n.outputs[0], from);
  }
  return origin;
}

/**
 * Initializers that are learned although no weight slot takes them: operands of Add/Sub/Mul/Div or
 * Concat with more than one element, applied to features downstream of a weighted op, directly or
 * through value-preserving ops. That covers a MatMul's bias exported as MatMul + Add, a ViT's
 * position embedding and (expanded) class token, ConvNeXt's layer scale and BatchNorm folded into
 * Mul + Add, while input normalisation constants (applied before the first weighted op) and scalar
 * constants (0.5 in GELU, attention's 1/sqrt(d)) stay fixed.
 */
function learnedOperands(g: Graph, weights: Set<string>, origin: Map<string, string[]>): Set<string> {
  const downstream = new Set<string>();
  // Nodes are in topological order (the loader sorts them).
  for (const n of g.nodes) {
    const fromWeights = n.inputs.some((i) => downstream.has(i) || (origin.get(i) ?? []).some((o) => weights.has(o)));
    if (fromWeights) for (const o of n.outputs) if (o) downstream.add(o);
  }
  const out = new Set<string>();
  for (const n of g.nodes) {
    if (!FEATURE_OPS.has(n.opType) || !n.inputs.some((i) => downstream.has(i) && !origin.has(i))) continue;
    for (const i of n.inputs) {
      for (const name of origin.get(i) ?? []) {
        const t = g.initializers.get(name)!;
        if (numel(t.dims) > 1) out.add(name);
      }
    }
  }
  return out;
}

/** Why a float initializer stays fixed (null: it trains), under the configured patterns and discovery. */
function frozenReason(g: Graph, weights: Set<string>, origin: Map<string, string[]>, choice: TrainingChoice): (t: Tensor) => string | null {
  const operands = new Set<string>();
  for (const n of g.nodes) if (FEATURE_OPS.has(n.opType)) for (const i of n.inputs) for (const o of origin.get(i) ?? []) operands.add(o);
  return (t) => {
    const frozenBy = matchingPattern(choice.frozen, t.name);
    if (frozenBy) return `model.frozen "${frozenBy}"`;
    if (choice.trainable.length) return matchingPattern(choice.trainable, t.name) ? null : 'matches no model.trainable pattern';
    if (weights.has(t.name)) return null;
    if (numel(t.dims) <= 1) return 'a scalar';
    if (operands.has(t.name)) return 'applied before any weighted op (input normalisation)';
    return 'reaches no weight slot or learned operand';
  };
}

export function analyzeModel(model: Model, opts: AnalyzeOptions = {}): ModelAnalysis {
  const g = model.graph;
  const opset = defaultOpset(model);
  if (opset < MIN_OPSET) throw new OnnxError('UNSUPPORTED_OPSET', `the model uses opset ${opset}; training artifacts need opset ${MIN_OPSET} or newer (re-export it, e.g. torch.onnx.export(..., opset_version=17))`);
  const { input, output, logits, outputKind } = classifierIo(model);
  const last = output.shape?.[output.shape.length - 1];
  const classes = typeof last === 'number' ? last : 0;

  const statNames = new Set<string>();
  const weightNames = new Set<string>();
  const origin = initializerOrigins(g);
  for (const n of g.nodes) {
    n.inputs.forEach((name, k) => {
      if (isBnStatisticSlot(n, k)) { if (g.initializers.has(name)) statNames.add(name); }
      else if (WEIGHT_SLOTS[n.opType]?.includes(k)) for (const o of origin.get(name) ?? []) weightNames.add(o);
    });
  }
  for (const name of learnedOperands(g, weightNames, origin)) weightNames.add(name);
  const choice = opts.choice ?? trainingChoice(model);
  const params: Tensor[] = [];
  const stats: Tensor[] = [];
  const constants: Tensor[] = [];
  const frozen: FrozenTensor[] = [];
  const why = frozenReason(g, weightNames, origin, choice);
  for (const t of g.initializers.values()) {
    if (statNames.has(t.name)) { stats.push(t); continue; }
    const reason = isFloatType(t.dtype) ? why(t) : 'not a float tensor';
    if (!reason) { params.push(t); continue; }
    constants.push(t);
    if (isFloatType(t.dtype)) frozen.push({ name: t.name, elements: numel(t.dims), reason });
  }
  if (!params.length) throw new OnnxError('SHAPE', 'found no trainable parameters (no initializer feeds a Conv, Gemm, MatMul or normalisation weight)');
  const inputLayout = opts.inputLayout ?? 'nchw';
  if (inputLayout === 'nhwc' && input.shape && input.shape.length !== 4) throw new OnnxError('SHAPE', `inputLayout 'nhwc' needs a rank-4 image input; "${input.name}" has rank ${input.shape.length}`);
  return { input, output, logits, outputKind, inputLayout, classes, params, stats, constants, frozen, opset: Math.max(opset, ARTIFACT_OPSET), sourceOpset: opset };
}

/**
 * One line naming the float initializers of more than 1,000 elements that stay frozen (and why),
 * or null: a weight the analysis missed would otherwise stay at its initial value silently.
 */
export function largeFrozenNote(model: Model): string | null {
  const big = analyzeModel(normalizeImport(model)).frozen.filter((t) => t.elements > 1000);
  if (!big.length) return null;
  const list = big.slice(0, 4).map((t) => `${t.name} (${t.elements} elements: ${t.reason})`).join(', ');
  return `${big.length} float initializer${big.length > 1 ? 's' : ''} of more than 1k elements stay${big.length > 1 ? '' : 's'} frozen: ${list}${big.length > 4 ? `, and ${big.length - 4} more` : ''}; set model.trainable or model.frozen to choose, \`generalist inspect\` lists every frozen tensor`;
}
