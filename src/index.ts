// src/: the public, typed library API of onnx-generalist; the CLI (src/cli) is a thin layer over it.
// Re-exports the folders below; the charting of src/report stays out (loaded on demand).

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
  ZOO, buildZooModel, zooNames, getZooEntry, countParameters, trainableParameters,
  type ZooEntry, type ZooBuildOptions,
} from './zoo/index.js';
export * from './attacks/index.js';

// Training artifacts: analysis of a classifier, the ONNX graphs, the on-disk cache
export {
  analyzeModel, classifierIo, findLogits, inputLayoutFor, MIN_OPSET,
  type ModelAnalysis, type AnalyzeOptions, type ClassifierIo, type OutputKind, type InputLayout,
} from './artifacts/analyze.js';
export { bnStatisticNames, isBnStatisticSlot } from './artifacts/statistics.js';
export {
  buildArtifacts, buildTrainStep, buildAttack, buildEval, buildEma, initialState, optimizerSlots, names as artifactNames,
  DEFAULT_ARTIFACT_OPTIONS, ARTIFACT_FORMAT,
  type ArtifactOptions, type BuiltArtifacts, type Manifest, type OptimizerKind, type AttackLoss,
} from './artifacts/build.js';
export { ensureArtifacts, writeArtifacts, readManifest, artifactKey, ArtifactError, ARTIFACT_NAMES } from './artifacts/store.js';
export { withInputNormalization, type InputNormalization } from './artifacts/normalize.js';
export { ARTIFACT_OPSET, OLDEST_SOURCE_OPSET } from './artifacts/upgrade.js';

// Running artifacts on ONNX Runtime (CPU, CUDA, WebGPU)
export { ArtifactRuntime, type Weights, type ExpertState, type StepHyper } from './runtime/artifact-runtime.js';
export { ArtifactCore, type ArtifactSessions, type TensorClass } from './runtime/artifact-core.js';
export { openSession, providerConfig, ProviderError, CUDA_INSTALL_HINT, type Provider, type OpenOptions } from './runtime/providers.js';
export { OrtError, ortError } from './runtime/ort-error.js';

// Data
export {
  loadDataset, loadRawDataset, loadNpyFolder, loadMnist, loadFashionMnist, loadCifar10, loadCifar100, batches, DatasetError,
  DATASET_NAMES, NPY_FILES, type Dataset, type DatasetName, type DatasetSplits, type LoadDatasetOptions,
} from './data/index.js';

// Configuration and training
export { resolveConfig, validateConfig, configHash, ConfigError, PRESETS, type Config } from './config/index.js';
export { train, type TrainOptions, type TrainResult } from './train/trainer.js';
export { TrainError } from './train/errors.js';
export { loadSourceModel, modelFit } from './train/source.js';
export { exportInference } from './train/export.js';
export { trainIteration, type Nets, type IterationCounters } from './train/iteration.js';
export { saveCheckpoint, loadCheckpoint, CheckpointError } from './train/checkpoint.js';
export { Rng } from './util/rng.js';

// Watching a run: training observers and TensorBoard event files (the HTML report is
// src/report/run-report.ts, kept out of this entry so importing the library loads no charting)
export { type TrainObserver, type IterationInfo } from './train/observer.js';
export { EventWriter, readEventFile, eventFiles } from './report/events.js';
export { TensorBoardLog } from './report/tensorboard-log.js';
