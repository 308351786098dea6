// The model a run trains: a zoo model or an ONNX file, checked against the dataset before any
// artifact is built.
import { existsSync } from 'node:fs';
import { analyzeModel, declaredClassesProblem, fixedBatchProblem, inputLayoutFor, type InputLayout, type ModelAnalysis, type OutputKind } from '../artifacts/analyze.js';
import { loadModelFile } from '../onnx/load.js';
import { isStatic, type Model } from '../onnx/ir.js';
import { buildZooModel, ZOO } from '../zoo/index.js';
import { TrainError } from './errors.js';

const ZOO_ALIAS: Record<string, string> = { 'preact-resnet18': 'preactresnet18', wrn3410: 'wrn-34-10' };

/** Whether model.source names a zoo model (freshly initialised) rather than a file of trained or given weights. */
export const isZooModel = (source: string): boolean => Object.hasOwn(ZOO, ZOO_ALIAS[source] ?? source);

/**
 * A zoo model (built for the data's classes and image shape) or an ONNX file. A file's initializers
 * are the run's initial weights (both experts and the EMA networks start from them).
 */
export function loadSourceModel(source: string, seed: number, classes?: number, inputShape?: readonly number[]): Model {
  const name = ZOO_ALIAS[source] ?? source;
  if (isZooModel(source)) return buildZooModel(name, { seed, classes, inputShape });
  if (source.endsWith('.onnx') || existsSync(source)) return loadModelFile(source);
  throw new TrainError(`model "${source}" is neither a zoo model (${Object.keys(ZOO).join(', ')}) nor an existing .onnx file`);
}

/** A copy of `model` whose image input has the dataset's per-example dims where it had symbolic ones. */
export function withImageShape(model: Model, image: readonly number[], layout: InputLayout): Model {
  const input = model.graph.inputs.find((v) => !model.graph.initializers.has(v.name));
  const s = input?.shape;
  if (!input || !s || isStatic(s.slice(1))) return model;
  const dims = layout === 'nhwc' ? [image[1], image[2], image[0]] : [...image];
  const shape = [s[0], ...s.slice(1).map((d, i) => (typeof d === 'number' ? d : dims[i]))];
  return { ...model, graph: { ...model.graph, inputs: model.graph.inputs.map((v) => (v === input ? { ...v, shape } : v)) } };
}

/**
 * Checks, before any artifact is built, that the model can take the dataset's images and labels:
 * its input matches [C, H, W] (or [H, W, C] for a channels-last model) and its class count, when
 * static, equals the dataset's.
 */
export function modelFit(model: Model, name: string, data: { name: string; shape: readonly number[]; classes: number }): { inputLayout: InputLayout; outputKind: OutputKind } {
  let a: ModelAnalysis;
  try {
    a = analyzeModel(model);
    const inputLayout = inputLayoutFor(a.input, data.shape);
    const declared = declaredClassesProblem(model, a);
    if (declared) throw new Error(declared);
    if (a.classes && a.classes !== data.classes) throw new Error(`its output "${a.output.name}" has ${a.classes} classes, the dataset ${data.classes}`);
    const fixed = fixedBatchProblem(model, a);
    if (fixed) throw new Error(fixed);
    return { inputLayout, outputKind: a.outputKind };
  } catch (e) {
    throw new TrainError(`model ${name} cannot train on ${data.name}: ${(e as Error).message}`);
  }
}
