// src/autodiff: reverse-mode autodiff over ONNX graphs: this engine, the rule registry (rule.ts),
// rules/ (one file per op family) and losses. Imports src/onnx and src/util.
//
// Reverse-mode autodiff over an ONNX graph. Walks the nodes between the wrt tensors and the loss
// in reverse topological order, asks each op's rule for input gradients, sums fan-out, and appends
// the backward nodes to the same graph (so forward activations are shared, not recomputed).
import { OnnxError } from '../onnx/errors.js';
import type { GraphBuilder } from '../onnx/builder.js';
import { DataType, isDefaultDomain, isFloatType, type Node } from '../onnx/ir.js';
import { accumulate, scalarLike, zerosLike } from './helpers.js';
import { getGradRule, missingRule, type GradForms } from './rule.js';
import './rules/index.js';

export interface GradientOptions {
  /** Scalar loss value to differentiate (or any tensor when `seed` is given). */
  loss: string;
  /** Values to differentiate with respect to: parameters, graph inputs, or both. */
  wrt: string[];
  /** Values treated as constants: no gradient flows through them. */
  stopGradient?: Iterable<string>;
  /** Initial gradient of `loss` (default: 1, so `loss` must be a scalar). */
  seed?: string;
  /** Prefix for backward value names. */
  prefix?: string;
  /** Backward formulations where a rule has several (per provider). */
  forms?: GradForms;
}

/** Returns the gradient value name for each wrt tensor (zeros where the loss does not depend on it). */
export function buildGradient(b: GraphBuilder, opts: GradientOptions): Map<string, string> {
  const g = b.graph;
  const stop = new Set(opts.stopGradient ?? []);
  const wrt = new Set(opts.wrt);
  for (const w of wrt) if (!b.fact(w)) throw new OnnxError('DANGLING_INPUT', `cannot differentiate with respect to "${w}": no such value`);
  if (!b.fact(opts.loss)) throw new OnnxError('DANGLING_INPUT', `loss "${opts.loss}" is not a value of the graph`);

  // Forward: values that depend on a wrt tensor through float edges.
  const live = new Set<string>([...wrt].filter((w) => !stop.has(w)));
  const nodes = [...g.nodes];
  for (const n of nodes) {
    // An output of unknown dtype (op without a shape rule) counts as float, so a missing gradient
    // rule on the path is an error rather than a silently zero gradient.
    if (n.inputs.some((i) => i && live.has(i))) for (const o of n.outputs) if (o && !stop.has(o) && (isFloatType(b.dtype(o)) || b.dtype(o) === DataType.UNDEFINED)) live.add(o);
  }
  // Backward: nodes the loss depends on.
  const needed = new Set<string>([opts.loss]);
  const onPath: Node[] = [];
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k];
    if (!n.outputs.some((o) => o && needed.has(o) && live.has(o))) continue;
    onPath.push(n);
    n.inputs.forEach((i) => i && live.has(i) && needed.add(i));
  }

  const savedPrefix = b.prefix;
  b.prefix = opts.prefix ?? 'grad/';
  try {
    const grads = new Map<string, string[]>();
    const push = (name: string, gr: string) => { const l = grads.get(name); if (l) l.push(gr); else grads.set(name, [gr]); };
    push(opts.loss, opts.seed ?? scalarLike(b, 1, opts.loss));
    const take = (name: string): string | null => {
      const parts = grads.get(name);
      if (!parts) return null;
      const sum = accumulate(b, parts);
      grads.set(name, [sum]);
      return sum;
    };
    for (const n of onPath) {
      const dy = n.outputs.map((o) => (o && live.has(o) ? take(o) : null));
      if (dy.every((d) => d === null)) continue;
      const rule = getGradRule(n.opType);
      if (!rule || !isDefaultDomain(n.domain)) throw missingRule(n);
      const needs = n.inputs.map((i) => !!i && live.has(i) && needed.has(i));
      let all: string[];
      if (rule.allOutputs) all = dy.map((d, k) => d ?? zerosLike(b, n.outputs[k]));
      else if (dy[0]) all = [dy[0]];
      else continue; // only outputs the rule does not differentiate (statistics, indices) have a gradient
      const dx = rule.grad({ b, node: n, g: all[0], dy: all, needs, forms: opts.forms ?? {} });
      checkArity(n, dx, needs);
      n.inputs.forEach((i, k) => {
        if (!needs[k] || !dx[k]) return;
        knowShape(b, dx[k]!, i);
        push(i, dx[k]!);
      });
    }
    const out = new Map<string, string>();
    for (const w of opts.wrt) out.set(w, take(w) ?? zerosLike(b, w));
    return out;
  } finally {
    b.prefix = savedPrefix;
  }
}

/**
 * A rule returns a gradient (or null) for each input: an array too short to cover an input that
 * needs one is a bug in the rule, not a zero gradient. (Rules written for several opsets may list
 * trailing nulls for inputs a node does not have.)
 */
function checkArity(n: Node, dx: unknown[], needs: boolean[]): void {
  const missing = needs.findIndex((need, k) => need && k >= dx.length);
  if (missing >= 0) {
    throw new OnnxError('UNSUPPORTED_OP', `the gradient rule of ${n.opType} returned ${dx.length} gradients for node "${n.name}" with ${n.inputs.length} inputs (none for input ${missing}, which needs one)`);
  }
}

/**
 * A gradient has its input's shape. Backward ops whose output shape inference cannot resolve
 * (Expand to Shape(x) with a symbolic batch dim, say) get that fact, so later rules that reduce
 * broadcast gradients still see the rank and static dims.
 */
function knowShape(b: GraphBuilder, grad: string, input: string): void {
  const f = b.fact(grad);
  const s = b.shape(input);
  if (!f || !s) return;
  if (!f.shape) b.facts.set(grad, { ...f, shape: [...s] });
  else if (f.shape.length === s.length && f.shape.some((d, i) => d === null && s[i] !== null)) {
    b.facts.set(grad, { ...f, shape: f.shape.map((d, i) => (d === null ? s[i] : d)) });
  }
}
