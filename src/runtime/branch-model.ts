// Artifacts as one ONNX model, so one ORT session (and one memory arena) serves them all.
//
// ORT gives every session its own arena, which keeps the largest size its runs ever needed. A
// runtime's attack, train step, evaluation and EMA never run at the same time, yet as four sessions
// they hold four arenas: the attack's and the train step's alone cost SmallCNN's bench 31 MiB per
// thread (probe: peak RSS 163 vs 194 MiB for one thread's attack and step, same outputs, same
// speed). Here the graphs become the branches of nested Ifs:
//   inputs:  `branch` (int64: the index of the graph to run) and the union of the graphs' inputs
//            (a name several use must have the same type; dims that differ become symbolic);
//   outputs: `<graph>/<output>` for each graph's outputs; a branch yields a scalar zero of the
//            same type at the other graphs' positions, as If needs its branches to have the same
//            outputs.
// A branch's subgraph is its graph, with the values it defines renamed where they would shadow a
// name of the outer graph (TRADES' train step takes `x_adv`, which the attack produces). A run
// feeds the other graphs' inputs as placeholders that ORT never reads (zeros of their declared
// shape, 1 for a symbolic dim; an input of one graph only is declared with symbolic dims, so its
// placeholder is tiny): the plan of each graph says which, and runBranch (branch-session.ts) runs
// it, for sessions on the main thread and on the worker alike. Standard ONNX (If, Equal): CPU only
// here, where the arenas are per session.
import { allocData, DataType, dtypeName, type Graph, type Model, type Node, type Shape, type ValueInfo } from '../onnx/ir.js';

const BRANCH_SELECTOR = 'branch';

export interface BranchPart { name: string; model: Model }

/** How to run one graph of a branch model: the feeds to add, the outputs to fetch and their original names. */
export interface BranchPlan {
  /** The selector input (int64 scalar) and the value that runs this graph. */
  selector: string;
  index: number;
  /** The graph's own inputs. */
  inputs: string[];
  /** Inputs only the other graphs read: fed as placeholders. */
  fill: { name: string; dtype: DataType; dims: number[] }[];
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

/** A Constant node of one scalar: zero of `dtype`, or the int64 `v`. */
const scalarConst = (name: string, dtype: DataType, v?: number): Node => ({
  name, opType: 'Constant', domain: '', inputs: [], outputs: [name],
  attributes: { value: { type: 'tensor', value: { name: `${name}_value`, dtype, dims: [], data: v === undefined ? allocData(dtype, 1) : BigInt64Array.of(BigInt(v)) } } },
});

/** The If model of artifacts (see the header): standard-domain graphs of one opset, two or more. */
export function branchModel(parts: BranchPart[]): BranchModel {
  if (parts.length < 2 || new Set(parts.map((p) => p.name)).size !== parts.length) throw new Error('a branch model takes two or more graphs of distinct names');
  const opset = (m: Model) => JSON.stringify(m.opsetImports.map((o) => [o.domain, o.version]).sort());
  const odd = parts.find((p) => opset(p.model) !== opset(parts[0].model));
  if (odd) throw new Error(`"${odd.name}" and "${parts[0].name}" import different opsets`);
  const inputs = new Map<string, ValueInfo>();
  const users = new Map<string, number>();
  for (const p of parts) {
    for (const v of p.model.graph.inputs) {
      inputs.set(v.name, inputs.has(v.name) ? mergeInput(inputs.get(v.name)!, v) : v);
      users.set(v.name, (users.get(v.name) ?? 0) + 1);
    }
  }
  // An input of one graph only gets symbolic dims, so the others' runs feed it as a tiny
  // placeholder (the EMA's five weight sets would otherwise be five model-sized ones).
  for (const [name, v] of inputs) if (users.get(name) === 1 && v.shape) inputs.set(name, { ...v, shape: v.shape.map((d, i) => (typeof d === 'number' ? `${name}_${i}` : d)) });
  if (inputs.has(BRANCH_SELECTOR)) throw new Error(`a graph has an input named "${BRANCH_SELECTOR}", the branch model's selector`);
  const outs = parts.flatMap((p) => p.model.graph.outputs.map((v) => ({ part: p.name, v })));
  const outNames = outs.map(({ part, v }) => outerName(part, v.name));
  // Level i tests `branch == i`; its else-branch is level i + 1, the last graph the last else.
  const level = (i: number) => ({ k: `${BRANCH_SELECTOR}~${i}`, cond: `${BRANCH_SELECTOR}==${i}`, outputs: outNames.map((n) => (i === 0 ? n : `${n}~${i}`)) });
  const outer = new Set([BRANCH_SELECTOR, ...inputs.keys(), ...parts.flatMap((_, i) => { const l = level(i); return [l.k, l.cond, ...l.outputs]; })]);

  const branch = (p: BranchPart): Graph => {
    const rename = new Map<string, string>();
    for (const v of definedNames(p.model.graph)) if (outer.has(v)) rename.set(v, `${v}~${p.name}`);
    const g = renameValues(p.model.graph, rename);
    const own = new Set(p.model.graph.outputs.map((v) => v.name));
    const nodes = [...g.nodes];
    const outputs = outs.map(({ part, v }, i) => {
      if (part === p.name && own.has(v.name)) return { ...v, name: rename.get(v.name) ?? v.name };
      const z = scalarConst(`${p.name}~unused${i}`, v.dtype);
      nodes.push(z);
      return { name: z.name, dtype: v.dtype, shape: [] as Shape };
    });
    if (outputs.some((o) => g.inputs.some((i) => i.name === o.name))) throw new Error(`"${p.name}" passes an input straight to an output`);
    return { ...g, name: p.name, nodes, inputs: [], outputs, valueInfo: g.valueInfo };
  };
  // The graph of level i: branch i if `branch == i`, else level i + 1.
  const levelGraph = (i: number): Graph => {
    const l = level(i);
    const ifNode: Node = {
      name: `branches${i}`, opType: 'If', domain: '', inputs: [l.cond], outputs: l.outputs,
      attributes: { then_branch: { type: 'graph', value: branch(parts[i]) }, else_branch: { type: 'graph', value: i + 2 === parts.length ? branch(parts[i + 1]) : levelGraph(i + 1) } },
    };
    return {
      name: `level${i}`, initializers: new Map(), valueInfo: [], inputs: [],
      nodes: [scalarConst(l.k, DataType.INT64, i), { name: l.cond, opType: 'Equal', domain: '', inputs: [BRANCH_SELECTOR, l.k], outputs: [l.cond], attributes: {} }, ifNode],
      // Shapes unknown: a branch not taken yields a scalar in place of each other graph's output.
      outputs: outs.map(({ v }, j) => ({ name: l.outputs[j], dtype: v.dtype, shape: undefined })),
    };
  };
  const graph: Graph = {
    ...levelGraph(0), name: parts.map((p) => p.name).join('+'),
    inputs: [{ name: BRANCH_SELECTOR, dtype: DataType.INT64, shape: [] }, ...inputs.values()],
  };
  const plans: Record<string, BranchPlan> = {};
  parts.forEach((p, index) => {
    const own = new Set(p.model.graph.inputs.map((v) => v.name));
    plans[p.name] = {
      selector: BRANCH_SELECTOR,
      index,
      inputs: [...own],
      fill: [...inputs.values()].filter((v) => !own.has(v.name)).map((v) => ({ name: v.name, dtype: v.dtype, dims: (v.shape ?? []).map((d) => (typeof d === 'number' ? d : 1)) })),
      outputs: p.model.graph.outputs.map((v) => [outerName(p.name, v.name), v.name]),
    };
  });
  return { model: { ...parts[0].model, graph, metadata: {}, docString: undefined }, plans };
}
