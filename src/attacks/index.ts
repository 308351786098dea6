// Robustness evaluation of any ONNX classifier: FGSM, PGD, CW-inf, APGD-CE / APGD-T, Square and an
// AutoAttack-style ensemble, with input gradients from our autodiff (docs/EVAL.md documents the report).
export { AttackModel, AttackModelError, buildForwardGraph, buildGradientGraph, classifierIo, clearAttackModelCache, LOSS_KINDS, type AttackModelOptions, type GradientResult, type LossKind } from './model.js';
export { type Attack, type AttackBatch, type AttackContext, type AttackResult, type Norm } from './common.js';
export { fgsm, pgd, type PgdOptions } from './pgd.js';
export { apgd, apgdCheckpoints, type ApgdOptions } from './apgd.js';
export { square, squareP, type SquareOptions } from './square.js';
export { ATTACK_FORMS, AttackNameError, parseAttack, parseAttackList, type AttackSpec } from './names.js';
export { decodeNpy, encodeNpy, encodeTensorProto, readNpy, saveArray, writeNpy } from './npy.js';
export {
  AttackInvariantError, attackSeed, checkPerturbation, evaluateRobustness, formatReport, REPORT_SCHEMA, reportToJson,
  type AttackReport, type ComponentReport, type EvalData, type EvalProgress, type EvaluateOptions, type RobustnessReport,
} from './evaluate.js';
