// Structural checks on a graph: every input is produced somewhere, no name is produced twice, and
// the nodes form a DAG. Nodes are put in topological order (files are allowed to list them out of order).
import { OnnxError } from './errors.js';
import type { Graph, Node } from './ir.js';

export function validateGraph(g: Graph, outerScope: ReadonlySet<string> = new Set()): void {
  const produced = new Map<string, string>(); // value -> producer description
  const claim = (name: string, by: string) => {
    if (!name) return;
    const prev = produced.get(name);
    if (prev) throw new OnnxError('DUPLICATE_NAME', `value "${name}" is produced twice: by ${prev} and by ${by}`);
    produced.set(name, by);
  };
  const initNames = new Set(g.initializers.keys());
  for (const v of g.inputs) {
    // Older IR lists initializers as graph inputs too; that is not a duplicate.
    if (produced.has(v.name)) throw new OnnxError('DUPLICATE_NAME', `graph input "${v.name}" is listed twice`);
    produced.set(v.name, `graph input "${v.name}"`);
  }
  for (const name of initNames) if (!produced.has(name)) produced.set(name, `initializer "${name}"`);
  const nodeNames = new Set<string>();
  for (const n of g.nodes) {
    if (nodeNames.has(n.name)) throw new OnnxError('DUPLICATE_NAME', `two nodes are named "${n.name}"`);
    nodeNames.add(n.name);
    for (const o of n.outputs) claim(o, `node "${n.name}" (${n.opType})`);
  }
  const known = (name: string) => name === '' || produced.has(name) || outerScope.has(name);
  for (const n of g.nodes) {
    for (const i of n.inputs) {
      if (!known(i)) throw new OnnxError('DANGLING_INPUT', `node "${n.name}" (${n.opType}) reads "${i}", which no node, input or initializer provides`);
    }
  }
  for (const o of g.outputs) {
    if (!produced.has(o.name) && !outerScope.has(o.name)) throw new OnnxError('DANGLING_INPUT', `graph output "${o.name}" is not produced by any node`);
  }
  g.nodes = topoSort(g.nodes, new Set([...produced.keys()].filter((k) => !g.nodes.some((n) => n.outputs.includes(k)))), outerScope);
  const scope = new Set([...outerScope, ...produced.keys()]);
  for (const n of g.nodes) {
    for (const a of Object.values(n.attributes)) {
      if (a.type === 'graph') validateGraph(a.value, scope);
      if (a.type === 'graphs') a.value.forEach((sg) => validateGraph(sg, scope));
    }
  }
}

/** Kahn's algorithm, stable (keeps file order where the order is already valid). Throws on cycles. */
export function topoSort(nodes: Node[], available: Set<string>, outerScope: ReadonlySet<string> = new Set()): Node[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const indeg = nodes.map(() => 0);
  const users: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    const deps = new Set<number>();
    for (const inp of [...n.inputs, ...subgraphReads(n)]) {
      const p = producer.get(inp);
      if (p !== undefined && !available.has(inp) && p !== i) deps.add(p);
      else if (p === i) throw new OnnxError('CYCLE', `node "${n.name}" (${n.opType}) reads its own output "${inp}"`);
    }
    indeg[i] = deps.size;
    deps.forEach((d) => users[d].push(i));
  });
  const ready: number[] = [];
  indeg.forEach((d, i) => d === 0 && ready.push(i));
  const order: Node[] = [];
  // A min-heap would be nicer; a sorted ready list keeps file order for realistic graph sizes.
  let head = 0;
  const queue = ready;
  while (head < queue.length) {
    const i = queue[head++];
    order.push(nodes[i]);
    for (const u of users[i]) if (--indeg[u] === 0) queue.push(u);
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.filter((_, i) => indeg[i] > 0).slice(0, 5).map((n) => `"${n.name}" (${n.opType})`);
    throw new OnnxError('CYCLE', `the graph has a cycle through nodes ${stuck.join(', ')}`);
  }
  return order;
}

/** Names a node's subgraphs read from the enclosing scope (so ordering respects them). */
function subgraphReads(n: Node): string[] {
  const out: string[] = [];
  for (const a of Object.values(n.attributes)) {
    const graphs = a.type === 'graph' ? [a.value] : a.type === 'graphs' ? a.value : [];
    for (const g of graphs) {
      const local = new Set<string>([...g.inputs.map((v) => v.name), ...g.initializers.keys(), ...g.nodes.flatMap((m) => m.outputs)]);
      for (const m of g.nodes) for (const i of [...m.inputs, ...subgraphReads(m)]) if (i && !local.has(i)) out.push(i);
    }
  }
  return out;
}
