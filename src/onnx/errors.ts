// Every problem with a model the user hands us surfaces as an OnnxError with a stable code, so
// callers (and tests) can tell "truncated file" from "cycle in the graph" without parsing prose.
import { CodedError } from '../util/errors.js';

export type OnnxErrorCode =
  | 'NOT_ONNX'
  | 'TRUNCATED'
  | 'NO_GRAPH'
  | 'UNKNOWN_DTYPE'
  | 'BAD_TENSOR'
  | 'TOO_LARGE'
  | 'DANGLING_INPUT'
  | 'DUPLICATE_NAME'
  | 'CYCLE'
  | 'EXTERNAL_DATA'
  | 'UNSUPPORTED_OPSET'
  | 'UNSUPPORTED_OP'
  | 'BAD_ATTRIBUTE'
  | 'SHAPE'
  | 'IO';

export class OnnxError extends CodedError<OnnxErrorCode> {
  constructor(code: OnnxErrorCode, message: string) { super('OnnxError', code, message); }
}
