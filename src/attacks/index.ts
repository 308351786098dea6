// src/attacks: robustness evaluation of any ONNX classifier: FGSM, PGD, CW, APGD-CE/T, Square, an
// AutoAttack-style ensemble, every result verified (docs/EVAL.md). Imports onnx, autodiff, artifacts, runtime, util.
//
// Why evaluation's attacks run here, step by step in TypeScript, while training's PGD is one
// in-graph artifact (artifacts/build.ts buildAttack): training applies a fixed K-step attack to
// every example of every batch, so K unrolled steps in one ORT run are fastest. Evaluation must not
// overstate robustness, and that needs control flow per example: an example leaves the batch once
// any iterate fools it, the unfooled ones get fresh restarts, APGD halves each example's own step
// size at its checkpoints and jumps back to its best point, Square spends its queries where they
// pay. In a graph that would be Loop/If over per-row masks that still computes every row at every
// step. So the model (forward, loss, input gradient) runs in ORT through AttackModel, one run per
// step on the live rows, and the step, projection and bookkeeping are typed-array row operations
// here: O(n * D) per step, small beside the model's gradient.
export { AttackModel, AttackModelError, buildForwardGraph, buildGradientGraph, clearAttackModelCache, LOSS_KINDS, type AttackModelOptions, type GradientResult, type LossKind } from './model.js';
export { type Attack, type AttackBatch, type AttackContext, type AttackResult, type Norm } from './common.js';
export { fgsm, pgd, type PgdOptions } from './pgd.js';
export { apgd, apgdCheckpoints, type ApgdOptions } from './apgd.js';
export { square, squareP, type SquareOptions } from './square.js';
export { ATTACK_FORMS, AttackNameError, parseAttack, parseAttackList, type AttackSpec } from './names.js';
export { decodeNpy, encodeNpy, encodeTensorProto, readNpy, saveArray, writeNpy } from './npy.js';
export { attackSeed, evaluateRobustness, type EvalData, type EvalProgress, type EvaluateOptions } from './evaluate.js';
export { AttackInvariantError, checkPerturbation } from './verify.js';
export { formatReport, REPORT_SCHEMA, reportToJson, type AttackReport, type ComponentReport, type RobustnessReport } from './report.js';
