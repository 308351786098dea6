// Explicit control over what trains, like ORT's requires_grad / frozen_params: `model.trainable`
// and `model.frozen` name patterns (globs: `*` any run of characters, `?` one; the whole name must
// match). With `trainable` patterns, exactly the float initializers they match train (BatchNorm
// statistics excepted); without, parameter discovery decides (analyze.ts). `frozen` patterns then
// keep what they match fixed. The choice travels with the model as metadata, so the artifacts, the
// initial state, the cache key and the run's source.onnx all see the same one.
import { OnnxError } from '../onnx/errors.js';
import { isFloatType, type Model } from '../onnx/ir.js';
import { normalizeImport } from './import.js';

export interface TrainingChoice {
  trainable: string[];
  frozen: string[];
}

const META_KEY = 'training_choice';

/** A glob as a whole-name regular expression. */
export function globRegExp(pattern: string): RegExp {
  const body = pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`);
}

/** The first pattern of `patterns` that matches `name`, if any. */
export function matchingPattern(patterns: readonly string[], name: string): string | undefined {
  return patterns.find((p) => globRegExp(p).test(name));
}

/** The choice recorded on a model (none: discovery decides everything). */
export function trainingChoice(model: Model): TrainingChoice {
  const raw = model.metadata[META_KEY];
  if (!raw) return { trainable: [], frozen: [] };
  const c = JSON.parse(raw) as Partial<TrainingChoice>;
  return { trainable: c.trainable ?? [], frozen: c.frozen ?? [] };
}

/**
 * `model` with the choice recorded (the same object when both lists are empty). Throws a clear
 * error for a pattern that matches no float initializer (a typo would otherwise change nothing).
 */
export function withTrainingChoice(model: Model, choice: TrainingChoice): Model {
  if (!choice.trainable.length && !choice.frozen.length) return model;
  const names = [...normalizeImport(model).graph.initializers.values()].filter((t) => isFloatType(t.dtype)).map((t) => t.name);
  for (const [field, list] of [['model.trainable', choice.trainable], ['model.frozen', choice.frozen]] as const) {
    for (const p of list) {
      if (!names.some((n) => globRegExp(p).test(n))) {
        throw new OnnxError('BAD_ATTRIBUTE', `${field}: the pattern "${p}" matches no float initializer of the model (e.g. ${names.slice(0, 3).join(', ')}; \`generalist inspect\` lists them)`);
      }
    }
  }
  return { ...model, metadata: { ...model.metadata, [META_KEY]: JSON.stringify(choice) } };
}
