// What a model is made of, as data: inputs and outputs, op histogram, parameters, ops without a
// gradient rule, and whether training artifacts can be built from it (generalist inspect prints it;
// the run report shows it).
import { hasGradRule } from '../autodiff/rule.js';
import '../autodiff/gradient.js';
import { dtypeName, isDefaultDomain, isFloatType, numel, type Graph, type Model, type ValueInfo } from '../onnx/ir.js';
import { formatInt } from '../util/format.js';
import { analyzeModel, declaredClassesProblem, fixedBatchProblem, type FrozenTensor } from './analyze.js';
import { normalizeImport } from './import.js';
import { countParameters } from './params.js';

export interface ModelReport {
  path: string;
  irVersion: number;
  opsetImports: { domain: string; version: number }[];
  producer: { name: string; version: string };
  inputs: { name: string; dtype: string; shape: (number | string | null)[] | null }[];
  outputs: { name: string; dtype: string; shape: (number | string | null)[] | null }[];
  initializers: { count: number; bytes: number; floatElements: number };
  /** Trainable parameters: float initializers that are not BatchNorm running statistics. */
  parameters: number;
  /** Nodes, subgraphs included. */
  nodes: number;
  /** Op type (domain-qualified outside the default domain) -> node count, most frequent first. */
  ops: Record<string, number>;
  /** Op types that have no gradient rule, sorted. */
  noGradientRule: string[];
  /** Whether training artifacts can be built: every op differentiable and a classifier shape. */
  trainable: { ok: boolean; reason: string };
  /** Float initializers that stay fixed in training, each with why (after import normalisation). */
  frozen: FrozenTensor[];
  metadata: Record<string, string>;
}

function frozenTensors(model: Model): FrozenTensor[] {
  try {
    return analyzeModel(model).frozen;
  } catch {
    return [];
  }
}

function trainability(model: Model, noGrad: string[]): { ok: boolean; reason: string } {
  if (noGrad.length) return { ok: false, reason: `no gradient rule for ${noGrad.join(', ')}` };
  try {
    const a = analyzeModel(model);
    const batchProblem = fixedBatchProblem(model, a) ?? declaredClassesProblem(model, a);
    if (batchProblem) return { ok: false, reason: batchProblem };
    const probs = a.outputKind === 'probabilities' ? '; the output is a Softmax, its input is trained and attacked as the logits' : '';
    const elements = a.params.reduce((n, t) => n + numel(t.dims), 0);
    const kept = a.frozen.length ? `; ${a.frozen.length} float initializer${a.frozen.length > 1 ? 's' : ''} frozen (listed below)` : '';
    return { ok: true, reason: `trains ${a.params.length} parameter tensors (${formatInt(elements)} elements), ${a.stats.length} BatchNorm statistics, ${a.classes || '?'} classes${probs}${kept}` };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

const opKey = (domain: string, op: string): string => (isDefaultDomain(domain) ? op : `${domain}.${op}`);

/** The facts `inspect` prints, as data (also what --json prints). */
export function describeModel(model: Model, path: string): ModelReport {
  const hist = new Map<string, number>();
  const noGrad = new Set<string>();
  let nodes = 0;
  const visit = (g: Graph): void => {
    for (const n of g.nodes) {
      nodes++;
      const key = opKey(n.domain, n.opType);
      hist.set(key, (hist.get(key) ?? 0) + 1);
      if (!isDefaultDomain(n.domain) || !hasGradRule(n.opType)) noGrad.add(key);
      for (const a of Object.values(n.attributes)) {
        if (a.type === 'graph') visit(a.value);
        else if (a.type === 'graphs') a.value.forEach(visit);
      }
    }
  };
  visit(model.graph);
  const inits = [...model.graph.initializers.values()];
  const vi = (v: ValueInfo) => ({ name: v.name, dtype: dtypeName(v.dtype), shape: v.shape ? [...v.shape] : null });
  return {
    path,
    irVersion: model.irVersion,
    opsetImports: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    producer: { name: model.producerName, version: model.producerVersion },
    inputs: model.graph.inputs.filter((v) => !model.graph.initializers.has(v.name)).map(vi),
    outputs: model.graph.outputs.map(vi),
    initializers: {
      count: inits.length,
      bytes: inits.reduce((s, t) => s + t.data.byteLength, 0),
      floatElements: inits.filter((t) => isFloatType(t.dtype)).reduce((s, t) => s + numel(t.dims), 0),
    },
    parameters: countParameters(normalizeImport(model)),
    nodes,
    ops: Object.fromEntries([...hist].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    noGradientRule: [...noGrad].sort(),
    trainable: trainability(normalizeImport(model), [...noGrad].sort()),
    frozen: frozenTensors(normalizeImport(model)),
    metadata: { ...model.metadata },
  };
}

