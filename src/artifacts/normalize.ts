// Models trained on normalised inputs ((x - mean) / std, e.g. torchvision's ImageNet statistics)
// take pixels in [0, 1] once this is in front of them: robustness is only meaningful with eps in
// pixel units, so the normalisation has to live inside the model. The constants are fixed (they
// precede every weighted op, so the analysis never trains them), and exports keep them.
import { OnnxError } from '../onnx/errors.js';
import { cloneGraph, DataType, tensor, type Model } from '../onnx/ir.js';
import type { InputLayout } from './analyze.js';

export interface InputNormalization {
  /** Per-channel means (or one for all channels), in [0, 1] pixel units. */
  mean: readonly number[];
  /** Per-channel standard deviations (or one), > 0. */
  std: readonly number[];
}

/**
 * A copy of `model` whose image input takes [0, 1] pixels and feeds (x - mean) / std to the
 * original graph. `layout` says where the channels are ('nchw': axis 1, 'nhwc': the last axis).
 */
export function withInputNormalization(model: Model, norm: InputNormalization, layout: InputLayout = 'nchw'): Model {
  const { mean, std } = norm;
  if (mean.length !== std.length || mean.length === 0) throw new OnnxError('BAD_ATTRIBUTE', `input normalisation needs as many means as standard deviations, at least one (got ${mean.length} and ${std.length})`);
  if (![...mean, ...std].every(Number.isFinite) || !std.every((s) => s > 0)) throw new OnnxError('BAD_ATTRIBUTE', `input normalisation: means must be finite and standard deviations > 0 (got mean [${mean}], std [${std}])`);
  const graph = cloneGraph(model.graph);
  const input = graph.inputs.find((v) => !graph.initializers.has(v.name));
  if (!input) throw new OnnxError('SHAPE', 'the model has no image input to normalise');
  const rank = input.shape?.length ?? 4;
  const channels = layout === 'nhwc' ? input.shape?.[rank - 1] : input.shape?.[1];
  if (mean.length > 1 && typeof channels === 'number' && channels !== mean.length) {
    throw new OnnxError('SHAPE', `input normalisation has ${mean.length} channel values but the input "${input.name}" has ${channels} channels`);
  }
  const dims = Array.from({ length: rank }, (_, i) => ((layout === 'nhwc' ? i === rank - 1 : i === 1) ? mean.length : 1));
  const fresh = (base: string) => { let n = base, k = 1; while (graph.initializers.has(n) || graph.nodes.some((x) => x.outputs.includes(n))) n = `${base}_${k++}`; return n; };
  const meanName = fresh('input_normalization/mean'), stdName = fresh('input_normalization/std');
  const centred = fresh('input_normalization/centred'), normalised = fresh('input_normalization/normalised');
  const dtype = input.dtype === DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
  graph.initializers.set(meanName, tensor(meanName, dtype, dims, [...mean]));
  graph.initializers.set(stdName, tensor(stdName, dtype, dims, [...std]));
  // Every reader of the input now reads the normalised value.
  for (const n of graph.nodes) n.inputs = n.inputs.map((i) => (i === input.name ? normalised : i));
  for (const o of graph.outputs) if (o.name === input.name) throw new OnnxError('SHAPE', `the input "${input.name}" is also an output; cannot normalise it`);
  graph.nodes.unshift(
    { name: 'input_normalization/sub', opType: 'Sub', domain: '', inputs: [input.name, meanName], outputs: [centred], attributes: {} },
    { name: 'input_normalization/div', opType: 'Div', domain: '', inputs: [centred, stdName], outputs: [normalised], attributes: {} },
  );
  return { ...model, graph, metadata: { ...model.metadata, input_normalization: JSON.stringify({ mean, std, layout }) } };
}
