// Import normalisation: the one rewrite a model gets before it is analysed for training, so the
// trained model has the parameters its source framework had.
//   - Untie deduplicated initializers. torch.onnx.export stores initializers of equal value once
//     and feeds every other use through an Identity node whose output carries the original name
//     (a fresh network's BatchNorm weights, biases, running means and variances all collapse into
//     one ones- and one zeros-tensor per size). Each such Identity output becomes an initializer of
//     its own, a copy of the data, so every use trains (and exports) separately. An initializer
//     consumed directly by two nodes is a genuinely shared tensor: it stays one parameter, and the
//     autodiff sums its gradients.
//   - One buffer per BatchNorm statistic. A running mean or variance slot whose initializer is
//     also read anywhere else (another slot, another node) gets a copy of its own, so the BN's
//     training outputs update only that statistic and never alias a tensor something else reads.
// Models that need neither come back as the same object.
import { cloneGraph, isDefaultDomain, isFloatType, type Graph, type Model, type Node, type Tensor } from '../onnx/ir.js';
import { isBnStatisticSlot } from './statistics.js';


/** Identity nodes fed by a float initializer (directly or through other such Identities), whose output is no graph output. */
function untieIdentities(g: Graph): boolean {
  const outputs = new Set(g.outputs.map((v) => v.name));
  const keep: Node[] = [];
  let changed = false;
  for (const n of g.nodes) {
    const src = n.opType === 'Identity' && isDefaultDomain(n.domain) ? g.initializers.get(n.inputs[0]) : undefined;
    const out = n.outputs[0];
    if (!src || !isFloatType(src.dtype) || !out || outputs.has(out) || g.initializers.has(out)) {
      keep.push(n);
      continue;
    }
    g.initializers.set(out, copyTensor(src, out));
    changed = true;
  }
  g.nodes = keep;
  return changed;
}

const copyTensor = (t: Tensor, name: string): Tensor => ({ ...t, name, dims: [...t.dims], data: t.data.slice() as Tensor['data'] });

function freshName(g: Graph, base: string): string {
  const taken = (s: string) => g.initializers.has(s) || g.nodes.some((n) => n.outputs.includes(s)) || g.inputs.some((v) => v.name === s);
  let name = base;
  for (let k = 1; taken(name); k++) name = `${base}_${k}`;
  return name;
}

/** Gives every BatchNorm statistic slot an initializer no other slot or node reads. */
function splitSharedStats(g: Graph): boolean {
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) if (g.initializers.has(i)) uses.set(i, (uses.get(i) ?? 0) + 1);
  let changed = false;
  for (const n of g.nodes) {
    for (const k of [3, 4]) {
      const name = n.inputs[k];
      if (!isBnStatisticSlot(n, k) || !name || (uses.get(name) ?? 0) < 2) continue;
      const copy = freshName(g, `${n.name || n.outputs[0]}.${k === 3 ? 'running_mean' : 'running_var'}`);
      g.initializers.set(copy, copyTensor(g.initializers.get(name)!, copy));
      uses.set(name, uses.get(name)! - 1);
      n.inputs = n.inputs.map((v, j) => (j === k ? copy : v));
      changed = true;
    }
  }
  return changed;
}

/** Initializers in the order nodes first read them (the source framework's order), then the rest. */
function inUseOrder(g: Graph): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const n of g.nodes) for (const i of n.inputs) { const t = g.initializers.get(i); if (t && !out.has(i)) out.set(i, t); }
  for (const [k, t] of g.initializers) if (!out.has(k)) out.set(k, t);
  return out;
}

/** The model as training sees it: deduplicated initializers untied, BatchNorm statistics unshared (see the header). */
export function normalizeImport(model: Model): Model {
  const g = model.graph;
  const needed = g.nodes.some((n) => (n.opType === 'Identity' && g.initializers.has(n.inputs[0])) || n.opType === 'BatchNormalization');
  if (!needed) return model;
  const graph = cloneGraph(g);
  const untied = untieIdentities(graph);
  const split = splitSharedStats(graph);
  if (!untied && !split) return model;
  if (untied) graph.initializers = inUseOrder(graph);
  return { ...model, graph };
}
