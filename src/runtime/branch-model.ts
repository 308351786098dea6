// Two artifacts as one ONNX model, so one ORT session (and one memory arena) serves both.
//
// ORT gives every session its own arena, which keeps the largest size its runs ever needed. The
// attack and the train step of one thread never run at the same time, yet as two sessions they hold
// two arenas: on SmallCNN's bench 31 MiB per thread (probe: peak RSS 163 vs 194 MiB for one thread's
// attack and step, same outputs, same speed). Here the two graphs become the branches of one If:
//   inputs:  `branch` (bool: true runs the first graph) and the union of both graphs' inputs
//            (a name both use must have the same type; dims that differ become symbolic);
//   outputs: `<graph>/<output>` for each graph's outputs; the branch not taken yields a scalar
//            zero of the same type at the other graph's positions, as If needs both branches to
//            have the same outputs.
// A branch's subgraph is its graph, with the values it defines renamed where they would shadow a
// name of the outer graph (TRADES' train step takes `x_adv`, which the attack produces). A run
// feeds the other graph's inputs as placeholders that ORT never reads (zeros of their declared
// shape, 1 for a symbolic dim): `branchPlan` says which, so the main thread and the worker thread
// (session-worker.mjs) run a branch the same way. Standard ONNX (If, opset 11+): CPU only here,
// where the arenas are per session.
import { allocData, DataType, dtypeName, type Graph, type Model, type Node, type Shape, type ValueInfo } from '../onnx/ir.js';

const BRANCH_SELECTOR = 'branch';

export interface BranchPart { name: string; model: Model }

/** How to run one graph of a branch model: the feeds to add, the outputs to fetch and their original names. */
export interface BranchPlan {
  /** The selector input and the value that runs this graph. */
  selector: string;
  select: boolean;
  /** The graph's own inputs. */
  inputs: string[];
  /** Inputs only the other graph reads: fed as placeholders. */
  fill: { name: string; dtype: DataType; type: string; dims: number[] }[];
  /** Outer output name -> the graph's own output name. */
  outputs: [string, string][];
}

export interface BranchModel { model: Model; plans: Record<string, BranchPlan> }

const outerName = (part: string, output: string): string => `${part}/${output}`;

/** Every value a graph (not its nested graphs) defines: node outputs and initializers. */
function definedNames(g: Graph): Set<string> {
  const s = new Set<string>(g.initializers.keys());
  for (const n of g.nodes) for (const o of n.outputs) if (o) s.add(o);
  return s;
}

/** `g` with the values in `rename` renamed, in its nodes, outputs and nested graphs' references. */
function renameValues(g: Graph, rename: Map<string, string>): Graph {
  const r = (v: string) => rename.get(v) ?? v;
  const node = (n: Node): Node => ({
    ...n,
    inputs: n.inputs.map(r),
    outputs: n.outputs.map(r),
    attributes: Object.fromEntries(Object.entries(n.attributes).map(([k, a]) => [k,
      a.type === 'graph' ? { type: 'graph', value: renameRefs(a.value, rename) }
        : a.type === 'graphs' ? { type: 'graphs', value: a.value.map((x) => renameRefs(x, rename)) } : a])),
  });
  return {
    ...g,
    nodes: g.nodes.map(node),
    inputs: g.inputs.map((v) => ({ ...v, name: r(v.name) })),
    outputs: g.outputs.map((v) => ({ ...v, name: r(v.name) })),
    initializers: new Map([...g.initializers].map(([k, t]) => [r(k), { ...t, name: r(k) }])),
    valueInfo: g.valueInfo.map((v) => ({ ...v, name: r(v.name) })),
  };
}

/** A nested graph's references to renamed outer values (names it defines itself stay). */
function renameRefs(g: Graph, rename: Map<string, string>): Graph {
  const own = definedNames(g);
  for (const v of g.inputs) own.add(v.name);
  return renameValues(g, new Map([...rename].filter(([k]) => !own.has(k))));
}

/** Two inputs of one name must agree on the type; dims that differ become symbolic. */
function mergeInput(a: ValueInfo, b: ValueInfo): ValueInfo {
  if (a.dtype !== b.dtype) throw new Error(`input "${a.name}" is ${dtypeName(a.dtype)} in one graph and ${dtypeName(b.dtype)} in the other`);
  const shape: Shape = a.shape && b.shape && a.shape.length === b.shape.length ? a.shape.map((d, i) => (d === b.shape![i] ? d : `${a.name}_${i}`)) : undefined;
  return { ...a, shape };
}

const scalarZero = (name: string, dtype: DataType): Node => ({
  name, opType: 'Constant', domain: '', inputs: [], outputs: [name],
  attributes: { value: { type: 'tensor', value: { name: `${name}_value`, dtype, dims: [], data: allocData(dtype, 1) } } },
});

/** The If model of two artifacts (see the header). Both must be standard-domain graphs of one opset. */
export function branchModel(first: BranchPart, second: BranchPart): BranchModel {
  const parts = [first, second];
  const opset = (m: Model) => JSON.stringify(m.opsetImports.map((o) => [o.domain, o.version]).sort());
  if (opset(first.model) !== opset(second.model)) throw new Error(`"${first.name}" and "${second.name}" import different opsets`);
  const inputs = new Map<string, ValueInfo>();
  for (const p of parts) for (const v of p.model.graph.inputs) inputs.set(v.name, inputs.has(v.name) ? mergeInput(inputs.get(v.name)!, v) : v);
  if (inputs.has(BRANCH_SELECTOR)) throw new Error(`a graph has an input named "${BRANCH_SELECTOR}", the branch model's selector`);
  const outs = parts.flatMap((p) => p.model.graph.outputs.map((v) => ({ part: p.name, v })));
  const outer = new Set([BRANCH_SELECTOR, ...inputs.keys(), ...outs.map((o) => outerName(o.part, o.v.name))]);

  const branch = (p: BranchPart): Graph => {
    const rename = new Map<string, string>();
    for (const v of definedNames(p.model.graph)) if (outer.has(v)) rename.set(v, `${v}~${p.name}`);
    const g = renameValues(p.model.graph, rename);
    const own = new Set(p.model.graph.outputs.map((v) => v.name));
    const nodes = [...g.nodes];
    const outputs = outs.map(({ part, v }, i) => {
      if (part === p.name && own.has(v.name)) return { ...v, name: rename.get(v.name) ?? v.name };
      const z = scalarZero(`${p.name}~unused${i}`, v.dtype);
      nodes.push(z);
      return { name: z.name, dtype: v.dtype, shape: [] as Shape };
    });
    if (outputs.some((o) => g.inputs.some((i) => i.name === o.name))) throw new Error(`"${p.name}" passes an input straight to an output`);
    return { ...g, name: p.name, nodes, inputs: [], outputs, valueInfo: g.valueInfo };
  };

  const ifNode: Node = {
    name: 'branches', opType: 'If', domain: '', inputs: [BRANCH_SELECTOR], outputs: outs.map((o) => outerName(o.part, o.v.name)),
    attributes: { then_branch: { type: 'graph', value: branch(first) }, else_branch: { type: 'graph', value: branch(second) } },
  };
  const graph: Graph = {
    name: `${first.name}+${second.name}`, nodes: [ifNode], initializers: new Map(), valueInfo: [],
    inputs: [{ name: BRANCH_SELECTOR, dtype: DataType.BOOL, shape: [] }, ...inputs.values()],
    outputs: outs.map(({ part, v }) => ({ ...v, name: outerName(part, v.name) })),
  };
  const plans: Record<string, BranchPlan> = {};
  for (const p of parts) {
    const own = new Set(p.model.graph.inputs.map((v) => v.name));
    plans[p.name] = {
      selector: BRANCH_SELECTOR,
      select: p === first,
      inputs: [...own],
      fill: [...inputs.values()].filter((v) => !own.has(v.name)).map((v) => ({ name: v.name, dtype: v.dtype, type: dtypeName(v.dtype), dims: (v.shape ?? []).map((d) => (typeof d === 'number' ? d : 1)) })),
      outputs: p.model.graph.outputs.map((v) => [outerName(p.name, v.name), v.name]),
    };
  }
  return { model: { ...first.model, graph, metadata: {}, docString: undefined }, plans };
}
