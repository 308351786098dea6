// Thin layer over onnxruntime-node: sessions from our Model objects and conversions between our
// Tensor and ORT's. Kept small so every caller (tests, artifacts runtime, eval) shares one path.
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { saveModel } from '../onnx/save.js';
import { DataType, type Model, type Tensor } from '../onnx/ir.js';
import { withOrtErrors } from './ort-error.js';

export { ort };
export type OrtTensor = ort.Tensor;

export interface SessionOptions {
  threads?: number;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  providers?: ort.InferenceSession.ExecutionProviderConfig[];
}

const ORT_TYPE: Partial<Record<DataType, ort.Tensor.Type>> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.INT64]: 'int64', [DataType.INT32]: 'int32',
  [DataType.UINT8]: 'uint8', [DataType.INT8]: 'int8', [DataType.BOOL]: 'bool', [DataType.FLOAT16]: 'float16',
  [DataType.UINT16]: 'uint16', [DataType.INT16]: 'int16', [DataType.UINT32]: 'uint32', [DataType.UINT64]: 'uint64',
};
const FROM_ORT: Record<string, DataType> = Object.fromEntries(Object.entries(ORT_TYPE).map(([k, v]) => [v, Number(k)]));

export function toOrt(t: Pick<Tensor, 'dtype' | 'dims' | 'data'>): ort.Tensor {
  const type = ORT_TYPE[t.dtype];
  if (!type) throw new Error(`cannot pass dtype ${DataType[t.dtype]} to ONNX Runtime`);
  return new ort.Tensor(type, t.data as never, t.dims);
}
export function fromOrt(name: string, t: ort.Tensor): Tensor {
  return { name, dtype: FROM_ORT[t.type] ?? DataType.UNDEFINED, dims: [...t.dims], data: t.data as Tensor['data'] };
}
export const f32Tensor = (data: Float32Array | number[], dims: number[]): ort.Tensor => new ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), dims);
export const i64Tensor = (data: ArrayLike<number> | BigInt64Array, dims: number[]): ort.Tensor =>
  new ort.Tensor('int64', data instanceof BigInt64Array ? data : BigInt64Array.from(Array.from(data), (v) => BigInt(v)), dims);

export async function createSession(model: Model | Uint8Array, opts: SessionOptions & { modelName?: string } = {}): Promise<ort.InferenceSession> {
  const bytes = model instanceof Uint8Array ? model : saveModel(model);
  return withOrtErrors(opts.modelName ?? 'the model', 'load', () => ort.InferenceSession.create(bytes, {
    executionProviders: opts.providers ?? ['cpu'],
    graphOptimizationLevel: opts.optimization ?? 'all',
    intraOpNumThreads: opts.threads || availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
  }));
}

/** One-shot run of a model on named inputs (tests and tools; hot paths keep their session). */
export async function runModel(model: Model | Uint8Array, feeds: Record<string, ort.Tensor>, opts: SessionOptions = {}): Promise<Record<string, ort.Tensor>> {
  const s = await createSession(model, opts);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}
