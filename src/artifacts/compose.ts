// Composing artifacts: a built model's graph copied into a graph being built, its inputs bound to
// values there, everything else renamed under a prefix. The fused iteration (iteration.ts) is the
// attack, the two expert steps and the EMA composed this way, so each stays defined once.
import type { GraphBuilder } from '../onnx/builder.js';
import type { Attribute, Graph, Model, Node } from '../onnx/ir.js';

type Rename = (name: string) => string;

function renameGraph(g: Graph, r: Rename): Graph {
  return {
    ...g,
    nodes: g.nodes.map((n) => renameNode(n, r, n.name)),
    inputs: g.inputs.map((v) => ({ ...v, name: r(v.name) })),
    outputs: g.outputs.map((v) => ({ ...v, name: r(v.name) })),
    initializers: new Map([...g.initializers].map(([k, t]) => [r(k), { ...t, name: r(k) }])),
    valueInfo: g.valueInfo.map((v) => ({ ...v, name: r(v.name) })),
  };
}

function renameAttribute(a: Attribute, r: Rename): Attribute {
  if (a.type === 'graph') return { type: 'graph', value: renameGraph(a.value, r) };
  if (a.type === 'graphs') return { type: 'graphs', value: a.value.map((g) => renameGraph(g, r)) };
  return a;
}

function renameNode(n: Node, r: Rename, name: string): Node {
  const attributes = Object.fromEntries(Object.entries(n.attributes).map(([k, a]) => [k, renameAttribute(a, r)]));
  return { ...n, name, inputs: n.inputs.map((i) => (i ? r(i) : '')), outputs: n.outputs.map((o) => (o ? r(o) : '')), attributes };
}

/**
 * Copies `model` into `b`. Each of the model's graph inputs reads the value `inputs` binds it to
 * (all must be bound); every other value, node and initializer (subgraphs included) is renamed
 * `prefix + name`. Returns the model's outputs: output name -> value in `b`.
 */
export function inlineModel(b: GraphBuilder, model: Model, prefix: string, inputs: Record<string, string>): Record<string, string> {
  const g = model.graph;
  for (const v of g.inputs) {
    if (g.initializers.has(v.name)) continue;
    if (!(v.name in inputs)) throw new Error(`inlining ${g.name}: its input "${v.name}" is not bound`);
    if (!b.fact(inputs[v.name])) throw new Error(`inlining ${g.name}: "${inputs[v.name]}" (bound to its input "${v.name}") does not exist`);
  }
  const r: Rename = (name) => (Object.hasOwn(inputs, name) ? inputs[name] : prefix + name);
  for (const [k, t] of g.initializers) b.initializer(r(k), t);
  for (const n of g.nodes) {
    for (const o of n.outputs) if (o) b.reserve(r(o));
    b.graph.nodes.push(renameNode(n, r, b.fresh(`${prefix}${n.name || n.opType}`)));
  }
  const out: Record<string, string> = {};
  for (const v of g.outputs) {
    out[v.name] = r(v.name);
    b.facts.set(r(v.name), { dtype: v.dtype, shape: v.shape });
  }
  return out;
}
