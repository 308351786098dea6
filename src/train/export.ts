// Writes a trained network as a standalone inference ONNX model: the source graph (BatchNorm in
// inference mode), its initializers replaced by the trained values, input named `input` (in the
// model's own layout, [N,C,H,W] for ours, values in [0,1]) and output named `logits`, or
// `probabilities` when the source ends in Softmax (kept, so the model's interface is unchanged).
import type { Model, Tensor } from '../onnx/ir.js';
import { cloneGraph, defaultOpset } from '../onnx/ir.js';
import { findLogits } from '../artifacts/analyze.js';
import { normalizeImport } from '../artifacts/import.js';
import type { Weights } from '../runtime/artifact-runtime.js';

export function exportInference(original: Model, weights: Weights, meta: Record<string, string> = {}): Model {
  // The trained tensors are those of the normalised model (untied initializers): export that graph.
  const source = normalizeImport(original);
  const graph = cloneGraph(source.graph);
  for (const [name, t] of graph.initializers) {
    const w = weights[name];
    if (!w) continue;
    const data = (w.data as Float32Array).slice();
    graph.initializers.set(name, { ...t, data } as Tensor);
  }
  const realInputs = graph.inputs.filter((v) => !graph.initializers.has(v.name));
  // Older-IR models list initializers as inputs too; a standalone model should not.
  graph.inputs = realInputs;
  renameValue(graph, realInputs[0].name, 'input');
  const kind = findLogits(graph, defaultOpset(source)).outputKind;
  renameValue(graph, graph.outputs[0].name, kind === 'probabilities' ? 'probabilities' : 'logits');
  graph.inputs[0].shape = ['N', ...(graph.inputs[0].shape ?? []).slice(1)];
  return { ...source, producerName: 'onnx-generalist', producerVersion: '0.1.0', metadata: { ...source.metadata, ...meta }, graph };
}

function renameValue(g: ReturnType<typeof cloneGraph>, from: string, to: string): void {
  if (from === to) return;
  for (const n of g.nodes) {
    n.inputs = n.inputs.map((i) => (i === from ? to : i));
    n.outputs = n.outputs.map((o) => (o === from ? to : o));
  }
  for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) if (v.name === from) v.name = to;
}
