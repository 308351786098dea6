// What a gradient rule is. One rule per ONNX op, registered by op name from the rules/ file of its
// family (rules/index.ts lists them).
// A rule receives the forward node, the incoming gradient, and a builder that appends backward
// nodes to the same graph; it returns one gradient (or null) per input, which the engine checks.
// Most rules differentiate the first output only: they get its gradient as `g`, never null (the
// engine does not call them when it has none), and other outputs are statistics or indices that
// carry no gradient (BatchNormalization's running stats, MaxPool's and TopK's indices, Dropout's
// mask). A rule registered with `allOutputs` (Split) reads every output's gradient from `dy`.
import { OnnxError } from '../onnx/errors.js';
import type { GraphBuilder } from '../onnx/builder.js';
import type { Node } from '../onnx/ir.js';

/**
 * Choices between equivalent backward formulations, made per execution provider
 * (runtime/providers.ts: gradFormsFor) and recorded in the artifact options.
 */
export interface GradForms {
  /**
   * Conv's dW im2col: 'grouped', one grouped one-hot Conv (group = C; the fastest on ORT's CPU), or
   * 'batched', the channels as a batch of one-channel images through a group-1 Conv (WebGPU: its
   * grouped Conv computes wrong values when a group has 5-7, 9-11, ... output channels).
   */
  convWeight?: 'grouped' | 'batched';
  /**
   * Conv's dX: 'auto' (the default), a Conv of dY for padded layers and ConvTranspose for unpadded
   * ones; 'conv', a Conv of dY wherever the geometry allows it (the default before, kept for
   * comparison); 'convtranspose' everywhere (the form before that).
   */
  convInput?: 'auto' | 'conv' | 'convtranspose';
  /**
   * Conv's dW product: 'auto' folds the batch into the MatMul where a layer has more output channels
   * than positions (the default), 'per-image' sums per-image products everywhere (the earlier form).
   */
  convWeightFold?: 'auto' | 'per-image';
  /**
   * Conv's dW columns: 'chunked' takes a few input channels at a time where the columns of a layer
   * are large (the default: they set the train step's memory peak), 'whole' builds them at once
   * (the earlier form, kept for comparison).
   */
  convWeightCols?: 'chunked' | 'whole';
  /**
   * MaxPool's backward where the forward has no Indices output and the windows tile the input:
   * 'tiled' (the default: SpaceToDepth, compare, DepthToSpace) or 'windows' (WebGPU's form).
   */
  maxPool?: 'tiled' | 'windows';
}

export interface GradContext {
  /** Appends backward nodes; its facts know every forward value's dtype and shape. */
  b: GraphBuilder;
  node: Node;
  /** Gradient of the loss w.r.t. the node's first output. */
  g: string;
  /** With `allOutputs`: the gradient of each output, zeros where none flows. Otherwise [g]. */
  dy: string[];
  /** Which inputs need a gradient (on a path from a wrt tensor, float-typed, not stopped). */
  needs: boolean[];
  /** The formulations asked for (default: each rule's first). */
  forms: GradForms;
}

/** One gradient (or null, or undefined: none) per input of the node. */
export type InputGrads = (string | null | undefined)[];
export type GradFn = (ctx: GradContext) => InputGrads;

export interface GradRule {
  op: string;
  grad: GradFn;
  /** The rule uses the gradients of all outputs, not only the first (Split). */
  allOutputs?: boolean;
}

const RULES = new Map<string, GradRule>();

export function registerGrad(rule: GradRule): void {
  if (RULES.has(rule.op)) throw new Error(`gradient rule for ${rule.op} registered twice`);
  RULES.set(rule.op, rule);
}
export const getGradRule = (op: string): GradRule | undefined => RULES.get(op);
export const hasGradRule = (op: string): boolean => RULES.has(op);
export const supportedGradOps = (): string[] => [...RULES.keys()].sort();

export function missingRule(node: Node): OnnxError {
  return new OnnxError(
    'UNSUPPORTED_OP',
    `cannot differentiate node "${node.name}": op ${node.domain ? node.domain + '.' : ''}${node.opType} has no gradient rule. Supported ops: ${supportedGradOps().join(', ')}`,
  );
}
