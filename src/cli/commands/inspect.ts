// generalist inspect <model.onnx>: what a model takes and returns, what it is made of, and which of
// its ops the project cannot differentiate yet (so training it would fail).
import {
  countParameters, dtypeName, hasGradRule, isFloatType, loadModelFile, numel,
  type Graph, type Model, type ValueInfo,
} from '../../index.js';
import { isDefaultDomain } from '../../onnx/ir.js';
import { analyzeModel, declaredClassesProblem, fixedBatchProblem, type FrozenTensor } from '../../artifacts/analyze.js';
import { normalizeImport } from '../../artifacts/import.js';
import { buildEval } from '../../artifacts/build.js';
import { createSession } from '../../runtime/ort.js';
import { formatBytes, formatInt, formatShape, parseCommandArgs, table, type Command } from '../command.js';

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

/**
 * The "trainable" verdict confirmed by ONNX Runtime: the eval artifact (the model's forward pass as
 * training and evaluation run it) must load in a session. A model ORT refuses is not trainable.
 */
export async function confirmInOrt(model: Model, r: ModelReport): Promise<void> {
  if (!r.trainable.ok) return;
  try {
    const m = normalizeImport(model);
    const s = await createSession(buildEval(m, analyzeModel(m)), { threads: 1, optimization: 'basic', modelName: r.path });
    await s.release();
  } catch (e) {
    r.trainable = { ok: false, reason: (e as Error).message };
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

export function formatReport(r: ModelReport): string {
  const io = (vs: ModelReport['inputs']) => (vs.length ? table(vs.map((v) => ['  ' + v.name, v.dtype, formatShape(v.shape ?? undefined)])) : '  (none)');
  const opset = r.opsetImports.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
  const producer = [r.producer.name, r.producer.version].filter(Boolean).join(' ') || '(not recorded)';
  const lines = [
    `model: ${r.path}`,
    `ir_version: ${r.irVersion}   opset: ${opset}   producer: ${producer}`,
    'inputs:',
    io(r.inputs),
    'outputs:',
    io(r.outputs),
    `initializers: ${r.initializers.count} (${formatBytes(r.initializers.bytes)}, ${formatInt(r.initializers.floatElements)} float elements)`,
    `parameters: ${formatInt(r.parameters)} (float initializers, BatchNorm running statistics excluded)`,
    `nodes: ${r.nodes}`,
    'ops:',
    table(Object.entries(r.ops).map(([op, n]) => ['  ' + op, String(n), hasRule(r, op) ? '' : 'no gradient rule'])),
    r.noGradientRule.length
      ? `cannot differentiate yet (no gradient rule): ${r.noGradientRule.join(', ')}`
      : 'gradients: every op has a gradient rule',
    `trainable: ${r.trainable.ok ? 'yes' : 'no'} (${r.trainable.reason})`,
  ];
  if (r.frozen.length) lines.push('frozen (kept at their values in training):', table(r.frozen.map((t) => ['  ' + t.name, formatInt(t.elements), t.reason])));
  const meta = Object.entries(r.metadata);
  if (meta.length) lines.push('metadata:', ...meta.map(([k, v]) => `  ${k}: ${v.length > 100 ? v.slice(0, 97) + '...' : v}`));
  return lines.join('\n');
}
const hasRule = (r: ModelReport, op: string): boolean => !r.noGradientRule.includes(op);

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Describe an ONNX model: inputs, outputs, ops, parameters, ops without gradients',
  usage: `Usage: generalist inspect <model.onnx> [--json]

Loads and validates <model.onnx> (any ONNX classifier, not only ones this project wrote) and
prints its inputs and outputs (dtype, shape), opset, producer, parameter count, a histogram of
its ops, and the op types the project has no gradient rule for yet (training needs one per op
on the path from the parameters to the loss).

Options:
  --json      Print the report as JSON
  -h, --help  Show this help`,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('inspect', argv, { json: { type: 'boolean' } }, { min: 1, max: 1, what: 'the model file' });
    const model = loadModelFile(positionals[0]);
    const report = describeModel(model, positionals[0]);
    await confirmInOrt(model, report);
    io.out(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return 0;
  },
};
