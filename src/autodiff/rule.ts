// What a gradient rule is. One rule per ONNX op, registered by op name from the rules/ file of its
// family (rules/index.ts lists them).
// A rule receives the forward node, the incoming gradient of each output, and a builder that
// appends backward nodes to the same graph; it returns one gradient (or null) per input.
import { OnnxError } from '../onnx/errors.js';
import type { GraphBuilder } from '../onnx/builder.js';
import type { Node } from '../onnx/ir.js';

export interface GradContext {
  /** Appends backward nodes; its facts know every forward value's dtype and shape. */
  b: GraphBuilder;
  node: Node;
  /** Gradient of the loss w.r.t. each output of `node`; null where none flows. */
  dy: (string | null)[];
  /** Which inputs need a gradient (on a path from a wrt tensor, float-typed, not stopped). */
  needs: boolean[];
}

export type GradFn = (ctx: GradContext) => (string | null | undefined)[];

export interface GradRule {
  op: string;
  /** Forward values the backward pass reads: documentation, and what a memory planner keeps. */
  saves: string;
  grad: GradFn;
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
