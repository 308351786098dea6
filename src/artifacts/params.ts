// Parameters of any loaded model, not only zoo ones. What trains is analyzeModel's definition (its
// `params`, after import normalisation); the count is PyTorch's (sum(p.numel() for p in
// model.parameters())): every float initializer but the BatchNorm running statistics
// (artifacts/statistics.ts), which torch keeps as buffers. For the zoo the two are the same tensors.
import { isFloatType, numel, type Model, type Tensor } from '../onnx/ir.js';
import { analyzeModel } from './analyze.js';
import { normalizeImport } from './import.js';
import { bnStatisticNames } from './statistics.js';

/** The tensors training updates, in initializer order (throws where analyzeModel does). */
export const trainableParameters = (model: Model): Tensor[] => analyzeModel(normalizeImport(model)).params;

/** PyTorch's parameter count: elements of the float initializers that are not BN running statistics. */
export function countParameters(model: Model): number {
  const stats = bnStatisticNames(model.graph);
  return [...model.graph.initializers.values()].filter((t) => isFloatType(t.dtype) && !stats.has(t.name)).reduce((s, t) => s + numel(t.dims), 0);
}
