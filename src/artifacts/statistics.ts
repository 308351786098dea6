// The one definition of a BatchNorm running statistic: a value read as BatchNormalization's input 3
// (running mean) or 4 (running variance). Training updates these in place of gradients, torch keeps
// them as buffers (not parameters), and import normalisation gives each its own tensor.
import { isDefaultDomain, type Graph, type Node } from '../onnx/ir.js';

/** Whether input k of node n is a running statistic slot. */
export const isBnStatisticSlot = (n: Node, k: number): boolean => n.opType === 'BatchNormalization' && isDefaultDomain(n.domain) && (k === 3 || k === 4);

/** Names read in a running statistic slot, in the graph and its subgraphs. */
export function bnStatisticNames(graph: Graph): Set<string> {
  const out = new Set<string>();
  const visit = (g: Graph): void => {
    for (const n of g.nodes) {
      n.inputs.forEach((name, k) => { if (name && isBnStatisticSlot(n, k)) out.add(name); });
      for (const a of Object.values(n.attributes)) {
        if (a.type === 'graph') visit(a.value);
        else if (a.type === 'graphs') a.value.forEach(visit);
      }
    }
  };
  visit(graph);
  return out;
}
