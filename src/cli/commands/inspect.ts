// generalist inspect <model.onnx>: what a model takes and returns, what it is made of, and which of
// its ops the project cannot differentiate yet (so training it would fail).
import { loadModelFile } from '../../onnx/load.js';
import type { Model } from '../../onnx/ir.js';
import { analyzeModel } from '../../artifacts/analyze.js';
import { normalizeImport } from '../../artifacts/import.js';
import { buildEval } from '../../artifacts/build.js';
import { describeModel, type ModelReport } from '../../artifacts/describe.js';
import { createSession } from '../../runtime/ort.js';
import { formatBytes, formatInt } from '../../util/format.js';
import { formatShape, parseCommandArgs, table, type Command } from '../command.js';

export { describeModel, type ModelReport };

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
