// The public, typed library API of onnx-generalist. The CLI (src/cli) is a thin layer over it.

// ONNX model I/O and validation
export { loadModel, loadModelFile, DEFAULT_LIMITS, type LoadOptions, type LoadLimits } from './onnx/load.js';
export { saveModel, saveModelFile } from './onnx/save.js';
export { validateGraph } from './onnx/validate.js';
export { OnnxError, type OnnxErrorCode } from './onnx/errors.js';
export {
  DataType, tensor, numel, dtypeName, dtypeBytes, isFloatType, isSupportedDType, supportedDTypes, defaultOpset, cloneGraph, emptyGraph,
  type Model, type Graph, type Node, type Tensor, type TensorData, type ValueInfo, type Attribute, type Dim, type Shape, type OpsetImport,
} from './onnx/ir.js';

// Building graphs
export { GraphBuilder, OPSET, f32, toAttribute, type AttrInput, type ConvAttrs, type PoolAttrs } from './onnx/builder.js';
export { inferShapes, type Facts, type ValueFact } from './onnx/shapes.js';

// Autodiff (importing gradient.js registers every gradient rule)
export { buildGradient, type GradientOptions } from './autodiff/gradient.js';
export { supportedGradOps, hasGradRule, registerGrad, type GradRule, type GradContext, type GradFn } from './autodiff/rule.js';

// Model zoo
export {
  ZOO, buildZooModel, zooNames, getZooEntry, countParameters, trainableParameters, bnRunningStatNames,
  type ZooEntry, type ZooBuildOptions,
} from '../models/index.js';
export * from './attacks/index.js';
