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
    if (!produced.has(o.name) && !outerScope.has(o.name)) throw new OnnxError('DANGLING_INPUT', `graph output "${o.name}" is not produced by any node, input or initializer`);
  }
  const nodeOutputs = new Set(g.nodes.flatMap((n) => n.outputs));
  g.nodes = topoSort(g.nodes, new Set([...produced.keys()].filter((k) => !nodeOutputs.has(k))), outerScope);
  const scope = new Set([...outerScope, ...produced.keys()]);
  for (const n of g.nodes) {
    for (const a of Object.values(n.attributes)) {
      if (a.type === 'graph') validateGraph(a.value, scope);
      if (a.type === 'graphs') a.value.forEach((sg) => validateGraph(sg, scope));
    }
  }
}

/** Kahn's algorithm, stable: among ready nodes the earliest in file order goes first, so a file whose
 * order is already valid keeps it exactly. Throws on cycles, naming the nodes of one. */
export function topoSort(nodes: Node[], available: Set<string>, outerScope: ReadonlySet<string> = new Set()): Node[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const indeg = nodes.map(() => 0);
  const users: number[][] = nodes.map(() => []);
  const depsOf: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    const deps = new Set<number>();
    for (const inp of [...n.inputs, ...subgraphReads(n)]) {
      const p = producer.get(inp);
      if (p !== undefined && !available.has(inp) && p !== i) deps.add(p);
      else if (p === i) throw new OnnxError('CYCLE', `node "${n.name}" (${n.opType}) reads its own output "${inp}"`);
    }
    indeg[i] = deps.size;
    depsOf[i] = [...deps];
    deps.forEach((d) => users[d].push(i));
  });
  // Binary min-heap of ready node indices.
  const heap: number[] = [];
  const push = (v: number) => {
    heap.push(v);
    for (let k = heap.length - 1; k > 0;) {
      const p = (k - 1) >> 1;
      if (heap[p] <= heap[k]) break;
      [heap[p], heap[k]] = [heap[k], heap[p]];
      k = p;
    }
  };
  const pop = (): number => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      for (let k = 0; ;) {
        const l = 2 * k + 1, r = l + 1;
        let m = k;
        if (l < heap.length && heap[l] < heap[m]) m = l;
        if (r < heap.length && heap[r] < heap[m]) m = r;
        if (m === k) break;
        [heap[m], heap[k]] = [heap[k], heap[m]];
        k = m;
      }
    }
    return top;
  };
  indeg.forEach((d, i) => d === 0 && push(i));
  const order: Node[] = [];
  while (heap.length) {
    const i = pop();
    order.push(nodes[i]);
    for (const u of users[i]) if (--indeg[u] === 0) push(u);
  }
  if (order.length !== nodes.length) {
    // Every stuck node waits on a stuck dependency: follow those until one repeats.
    let at = indeg.findIndex((d) => d > 0);
    const seen = new Map<number, number>();
    const path: number[] = [];
    while (!seen.has(at)) {
      seen.set(at, path.length);
      path.push(at);
      at = depsOf[at].find((d) => indeg[d] > 0)!;
    }
    const cycle = path.slice(seen.get(at)!).reverse().map((i) => `"${nodes[i].name}" (${nodes[i].opType})`);
    throw new OnnxError('CYCLE', `the graph has a cycle: ${cycle.join(' -> ')} -> ${cycle[0]}`);
  }
  return order;
}

/** Names a node's subgraphs read from the enclosing scope (so ordering respects them). */
export function subgraphReads(n: Node): string[] {
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
