// Copies a classifier's forward pass into a graph being built, with its parameters and BN
// statistics read from named values (graph inputs of the artifact) instead of initializers.
// Called once per forward pass an artifact needs (K times in a K-step attack).
import { attrFloat, attrInt } from '../onnx/attrs.js';
import { OnnxError } from '../onnx/errors.js';
import type { GraphBuilder } from '../onnx/builder.js';
import { DataType, isStatic, type Graph, type Node } from '../onnx/ir.js';
import { floatValues } from '../onnx/shapes.js';
import type { ModelAnalysis } from './analyze.js';
import { batchNormTraining } from './batchnorm-train.js';
import { emitUpgraded } from './upgrade.js';
import { isTiledPool } from '../autodiff/rules/pool.js';

export interface ForwardOptions {
  /** Value holding the images. */
  x: string;
  /** 'train': BatchNorm uses batch statistics and emits updated running stats. */
  mode: 'train' | 'eval';
  /** Prefix that keeps this copy's intermediate names apart from other copies. */
  prefix: string;
  /** The copy will be differentiated: let MaxPool emit its Indices for the backward's 'indices' form. */
  forGradient?: boolean;
  /**
   * MaxPool backward form (pool.ts): 'windows' leaves out the Indices output (ORT's WebGPU MaxPool
   * has none); 'tiled' (the default) leaves it out where the windows tile the input, 'indices'
   * never (the earlier CPU form).
   */
  maxPoolGrad?: MaxPoolGrad;
}

/** How a MaxPool is differentiated: through its Indices output, or by comparing windows (no Indices). */
export type MaxPoolGrad = 'tiled' | 'indices' | 'windows';

/** The backward rule's form (autodiff GradForms.maxPool) for a MaxPool written without Indices. */
export const maxPoolForm = (m: MaxPoolGrad): 'tiled' | 'windows' => (m === 'windows' ? 'windows' : 'tiled');

/**
 * Whether a MaxPool copied for differentiation emits its Indices: for the 'indices' backward,
 * except where its windows tile the input under 'tiled' (that backward needs none, and ORT's
 * MaxPool runs faster without them; rules/pool.ts). 'windows' never (WebGPU's MaxPool has none).
 */
function emitsIndices(b: GraphBuilder, n: Node, input: string, m: MaxPoolGrad = 'tiled'): boolean {
  if (m === 'windows' || attrInt(n, 'storage_order', 0) !== 0) return false;
  const dims = b.shape(input)?.slice(2);
  return m === 'indices' || !(isStatic(dims) && isTiledPool(n, dims));
}

/** A dropout mask the caller feeds: [N, ...shape] float32, 0 or 1 / (1 - ratio). */
export interface DropoutMask { name: string; ratio: number; shape: number[] }

export interface ForwardResult {
  logits: string;
  /** In train mode: stat name -> value with its updated running statistic. */
  statUpdates: Map<string, string>;
  /** In train mode: the masks of the model's Dropout nodes, graph inputs of the copy. */
  dropout: DropoutMask[];
  /** In train mode: values the gradient must not flow through (batchnorm-train.ts' surrogate). */
  constants: string[];
}

/** The drop probability of a Dropout node: its constant ratio input (opset 12+) or attribute; 0.5 by default. */
function dropoutRatio(b: GraphBuilder, n: Node, ratioInput: string | undefined, sourceOpset: number): number {
  if (sourceOpset < 12) return attrFloat(n, 'ratio', 0.5);
  if (!ratioInput) return 0.5;
  const v = floatValues(b.fact(ratioInput));
  if (!v) throw new OnnxError('UNSUPPORTED_OP', `Dropout "${n.name}": the ratio must be a constant to train with it`);
  return v[0];
}

/** What a forward copy needs to know of its source model: a ModelAnalysis, or (attacks) a classifier's I/O and layout. */
export type ForwardModel = Pick<ModelAnalysis, 'input' | 'logits' | 'inputLayout' | 'sourceOpset'>;

export function appendForward(b: GraphBuilder, source: Graph, a: ForwardModel, opts: ForwardOptions): ForwardResult {
  // Initializers (parameters, statistics, constants) are read by name: the artifact declares each
  // as one of its inputs or initializers.
  const shared = new Set<string>(source.initializers.keys());
  // NCHW images into a channels-last model: the Transpose is part of the differentiated graph.
  const x = a.inputLayout === 'nhwc' ? b.op('Transpose', [opts.x], { perm: [0, 2, 3, 1] }, { name: `${opts.prefix}to_nhwc` }) : opts.x;
  const rename = new Map<string, string>([[a.input.name, x]]);
  const mapIn = (name: string): string => {
    if (!name) return '';
    if (shared.has(name)) return name;
    const r = rename.get(name);
    if (r === undefined) throw new OnnxError('DANGLING_INPUT', `forward copy: value "${name}" is read before it is produced`);
    return r;
  };
  const statUpdates = new Map<string, string>();
  const dropout: DropoutMask[] = [];
  const constants: string[] = [];
  for (const n of source.nodes) {
    if (Object.values(n.attributes).some((at) => at.type === 'graph' || at.type === 'graphs')) {
      throw new OnnxError('UNSUPPORTED_OP', `node "${n.name}" (${n.opType}) has a subgraph; control flow is not supported in training artifacts`);
    }
    const inputs = n.inputs.map(mapIn);
    const attrs: Node['attributes'] = { ...n.attributes };
    let outputs = n.outputs.map((o) => (o ? b.fresh(`${opts.prefix}${o}`) : ''));
    if (n.opType === 'BatchNormalization' && opts.mode === 'train') {
      // Written out in standard ops (batchnorm-train.ts): precise statistics, torch's running updates.
      const bn = batchNormTraining(b, n, inputs);
      rename.set(n.outputs[0], bn.y);
      statUpdates.set(n.inputs[3], bn.mean);
      statUpdates.set(n.inputs[4], bn.variance);
      constants.push(...bn.constants);
      continue;
    }
    if (n.opType === 'BatchNormalization') {
      // Eval mode: the inference form on the running statistics.
      delete attrs.training_mode;
      outputs = [outputs[0]];
    }
    if (n.opType === 'MaxPool' && opts.forGradient && outputs.length === 1 && emitsIndices(b, n, inputs[0], opts.maxPoolGrad)) {
      outputs = [outputs[0], b.fresh(`${opts.prefix}${n.outputs[0]}_indices`)];
    }
    if (n.opType === 'Dropout') {
      // Eval mode: the identity. Train mode: x * mask with the mask a graph input the trainer fills
      // from its seeded RNG (ORT's own dropout RNG would break determinism and resume).
      outputs = [outputs[0]];
      const ratio = opts.mode === 'train' ? dropoutRatio(b, n, inputs[1], a.sourceOpset) : 0;
      if (ratio > 0) {
        const per = b.shape(inputs[0])?.slice(1);
        if (!isStatic(per)) throw new OnnxError('SHAPE', `Dropout "${n.name}": its input needs static dims after the batch axis to train (got [${b.shape(inputs[0]) ?? '?'}])`);
        if (b.dtype(inputs[0]) !== DataType.FLOAT) throw new OnnxError('UNSUPPORTED_OP', `Dropout "${n.name}": training masks are float32; the input is ${DataType[b.dtype(inputs[0])]}`);
        const name = `dropout:${opts.prefix}${n.name || n.outputs[0]}`;
        const mask = b.input(name, DataType.FLOAT, ['N', ...per]);
        b.node('Mul', [inputs[0], mask], {}, { outputs, name: `${opts.prefix}${n.name}` });
        dropout.push({ name, ratio, shape: per });
      } else {
        b.node('Identity', [inputs[0]], {}, { outputs, name: `${opts.prefix}${n.name}` });
      }
      rename.set(n.outputs[0], outputs[0]);
      continue;
    }
    const name = `${opts.prefix}${n.name}`;
    if (!emitUpgraded(b, n, inputs, attrs, outputs, a.sourceOpset, name)) b.node(n.opType, inputs, attrs, { outputs, name, domain: n.domain });
    n.outputs.forEach((o, k) => o && rename.set(o, outputs[k]));
  }
  // The logits: the output itself, or the input of a final Softmax (whose copy is then unused).
  const logits = rename.get(a.logits);
  if (!logits) throw new OnnxError('DANGLING_INPUT', `the output "${a.logits}" is not produced by the graph`);
  return { logits, statUpdates, dropout, constants };
}
