// Static memory of a graph: walks the nodes in file order at a given batch size (every symbolic
// input dim set to it) and finds the peak of live intermediate bytes, what is live there, and how
// much of that is held only for a later Shape/Size node. Reshape, Squeeze, Unsqueeze, Flatten and
// Identity outputs count as views of their input (ORT's CPU kernels alias them). ORT runs the nodes
// in its own topological order, so this estimates what a session's arena must hold; it does not
// measure it (the bench prints peak RSS). scripts/liveness.ts prints it for an artifact file.
import { inferShapes } from './shapes.js';
import { defaultOpset, dtypeBytes, isStatic, type Model } from './ir.js';

export interface LiveValue { name: string; bytes: number; producer: string }
export interface Liveness {
  nodes: number;
  /** Peak bytes of live intermediates (graph inputs and initializers not counted), and the node where it is reached. */
  peak: number;
  peakAt: number;
  /** Values live at the peak, largest first. */
  atPeak: LiveValue[];
  /** Bytes live at the peak whose later readers are only Shape/Size nodes. */
  heldForShape: number;
  /** Values whose size inference does not know (counted as 0). */
  unknown: number;
}

const VIEWS = new Set(['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity']);

export function staticLiveness(model: Model, batch: number): Liveness {
  const g = { ...model.graph, inputs: model.graph.inputs.map((i) => ({ ...i, shape: i.shape?.map((d) => (typeof d === 'number' ? d : batch)) })) };
  const facts = inferShapes(g, defaultOpset(model));
  const root = new Map<string, string>(); // a view's storage
  const storageOf = (v: string) => root.get(v) ?? v;
  const bytes = new Map<string, number>();
  const producer = new Map<string, string>();
  let unknown = 0;
  for (const n of g.nodes) {
    for (const o of n.outputs.filter(Boolean)) {
      producer.set(o, `${n.opType} ${n.name}`);
      if (VIEWS.has(n.opType) && bytes.has(storageOf(n.inputs[0]))) { root.set(o, storageOf(n.inputs[0])); continue; }
      const f = facts.get(o);
      if (!f || !isStatic(f.shape)) { unknown++; bytes.set(o, 0); continue; }
      bytes.set(o, f.shape.reduce((a, v) => a * v, 1) * dtypeBytes(f.dtype));
    }
  }
  const lastUse = new Map<string, number>();
  g.nodes.forEach((n, i) => n.inputs.forEach((x) => x && lastUse.set(storageOf(x), i)));
  const outputs = new Set(g.outputs.map((o) => storageOf(o.name)));

  const live = new Set<string>();
  let current = 0, peak = 0, peakAt = -1, atPeak: string[] = [];
  g.nodes.forEach((n, i) => {
    for (const o of n.outputs) if (o && bytes.has(o) && !live.has(o)) { live.add(o); current += bytes.get(o)!; }
    if (current > peak) { peak = current; peakAt = i; atPeak = [...live]; }
    for (const x of new Set(n.inputs.filter(Boolean).map(storageOf))) {
      if (live.has(x) && lastUse.get(x) === i && !outputs.has(x)) { live.delete(x); current -= bytes.get(x)!; }
    }
  });

  const readers = new Map<string, string[]>();
  g.nodes.forEach((n, i) => { if (i > peakAt) for (const x of n.inputs) if (x) (readers.get(storageOf(x)) ?? readers.set(storageOf(x), []).get(storageOf(x))!).push(n.opType); });
  const heldForShape = atPeak.filter((v) => readers.get(v)?.every((op) => op === 'Shape' || op === 'Size')).reduce((a, v) => a + bytes.get(v)!, 0);
  const values = atPeak.map((name) => ({ name, bytes: bytes.get(name)!, producer: producer.get(name)! })).sort((a, b) => b.bytes - a.bytes);
  return { nodes: g.nodes.length, peak, peakAt, atPeak: values, heldForShape, unknown };
}
