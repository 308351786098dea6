// Reads an inference classifier and decides what is what: the image input, the logits output,
// the trainable parameters, the BatchNorm running statistics, and the fixed constants.
import { OnnxError } from '../onnx/errors.js';
import { DataType, defaultOpset, isFloatType, type Model, type Tensor, type ValueInfo } from '../onnx/ir.js';

export interface ModelAnalysis {
  /** The image input [N, C, H, W] (or any rank; first dim is the batch). */
  input: ValueInfo;
  /** The logits output [N, classes]. */
  output: ValueInfo;
  classes: number;
  /** Trainable float initializers, in file order. */
  params: Tensor[];
  /** BatchNorm running means and variances, in file order. */
  stats: Tensor[];
  /** Other initializers (shape constants, frozen normalisation constants), copied as they are. */
  constants: Tensor[];
  opset: number;
}

/** Op inputs that hold learned weights when fed by an initializer. */
const WEIGHT_SLOTS: Record<string, number[]> = {
  Conv: [1, 2], ConvTranspose: [1, 2], Gemm: [1, 2], MatMul: [0, 1], BatchNormalization: [1, 2],
  InstanceNormalization: [1, 2], LayerNormalization: [1, 2], PRelu: [1],
};

export const MIN_OPSET = 13;

export function analyzeModel(model: Model, opts: { trainable?: (name: string) => boolean } = {}): ModelAnalysis {
  const g = model.graph;
  const opset = defaultOpset(model);
  if (opset < MIN_OPSET) throw new OnnxError('UNSUPPORTED_OPSET', `the model uses opset ${opset}; training artifacts need opset ${MIN_OPSET} or newer (re-export it, e.g. torch.onnx.export(..., opset_version=17))`);
  const realInputs = g.inputs.filter((v) => !g.initializers.has(v.name));
  if (realInputs.length !== 1) throw new OnnxError('SHAPE', `expected a classifier with one image input; the model has ${realInputs.length} (${realInputs.map((v) => v.name).join(', ')})`);
  if (g.outputs.length < 1) throw new OnnxError('SHAPE', 'the model has no output');
  const input = realInputs[0];
  if (!isFloatType(input.dtype)) throw new OnnxError('SHAPE', `the image input "${input.name}" must be a float tensor, not ${DataType[input.dtype]}`);
  const output = g.outputs[0];
  const last = output.shape?.[output.shape.length - 1];
  const classes = typeof last === 'number' ? last : 0;

  const statNames = new Set<string>();
  const weightNames = new Set<string>();
  const initializerConsumers = new Map<string, string[]>();
  for (const n of g.nodes) {
    n.inputs.forEach((name, k) => {
      if (!g.initializers.has(name)) return;
      if (n.opType === 'BatchNormalization' && (k === 3 || k === 4)) statNames.add(name);
      else if (WEIGHT_SLOTS[n.opType]?.includes(k)) weightNames.add(name);
      initializerConsumers.set(name, [...(initializerConsumers.get(name) ?? []), n.opType]);
    });
  }
  // Bias of a MatMul exported as MatMul + Add.
  for (const n of g.nodes) {
    if (n.opType !== 'Add') continue;
    const producer = g.nodes.find((m) => m.outputs.includes(n.inputs[0]) || m.outputs.includes(n.inputs[1]));
    if (producer && (producer.opType === 'MatMul' || producer.opType === 'Gemm' || producer.opType === 'Conv')) {
      for (const i of n.inputs) if (g.initializers.has(i)) weightNames.add(i);
    }
  }
  const params: Tensor[] = [];
  const stats: Tensor[] = [];
  const constants: Tensor[] = [];
  for (const t of g.initializers.values()) {
    const trainable = opts.trainable ? opts.trainable(t.name) : weightNames.has(t.name);
    if (statNames.has(t.name)) stats.push(t);
    else if (trainable && isFloatType(t.dtype) && !statNames.has(t.name)) params.push(t);
    else constants.push(t);
  }
  if (!params.length) throw new OnnxError('SHAPE', 'found no trainable parameters (no initializer feeds a Conv, Gemm, MatMul or normalisation weight)');
  return { input, output, classes, params, stats, constants, opset };
}
