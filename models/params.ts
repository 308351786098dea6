// Which initializers of a model are trainable parameters. A float initializer is a parameter unless
// it is a BatchNormalization running statistic (consumed as BN input 3 = mean or 4 = variance),
// which PyTorch keeps as a buffer, not a parameter. Works on any loaded model, not only zoo ones.
import { isFloatType, numel, type Graph, type Model, type Tensor } from '../src/onnx/ir.js';

/** Names consumed as BatchNormalization input 3 (running mean) or 4 (running variance), subgraphs included. */
export function bnRunningStatNames(graph: Graph): Set<string> {
  const out = new Set<string>();
  const visit = (g: Graph): void => {
    for (const n of g.nodes) {
      if (n.opType === 'BatchNormalization' && (n.domain === '' || n.domain === 'ai.onnx')) {
        for (const i of [3, 4]) if (n.inputs[i]) out.add(n.inputs[i]);
      }
      for (const a of Object.values(n.attributes)) {
        if (a.type === 'graph') visit(a.value);
        else if (a.type === 'graphs') a.value.forEach(visit);
      }
    }
  };
  visit(graph);
  return out;
}

/** Trainable parameters in initializer order: float initializers that are not BN running stats. */
export function trainableParameters(model: Model): Tensor[] {
  const stats = bnRunningStatNames(model.graph);
  return [...model.graph.initializers.values()].filter((t) => isFloatType(t.dtype) && !stats.has(t.name));
}

/** Number of trainable parameter elements (PyTorch's sum(p.numel() for p in model.parameters())). */
export function countParameters(model: Model): number {
  return trainableParameters(model).reduce((s, t) => s + numel(t.dims), 0);
}
