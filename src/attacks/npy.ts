// Adversarial images as files: NumPy .npy (src/util/npy.ts) or ONNX TensorProto files (.pb),
// the format onnx.numpy_helper.to_array reads.
import { DataType, type TensorData } from '../onnx/ir.js';
import { encodeTensor } from '../onnx/save.js';
import { writeFileAtomic } from '../util/fs.js';
import { TensorProto } from '../onnx/schema.js';
import { writeNpy } from '../util/npy.js';

export { decodeNpy, encodeNpy, readNpy, writeNpy, type NpyData } from '../util/npy.js';

/** Bytes of a serialized onnx.TensorProto (float32). */
export function encodeTensorProto(name: string, data: Float32Array, shape: readonly number[]): Uint8Array {
  const msg = TensorProto.fromObject(encodeTensor({ name, dtype: DataType.FLOAT, dims: [...shape], data: data as TensorData }));
  return TensorProto.encode(msg).finish();
}

/** Saves float32 images as .npy, or as an ONNX TensorProto when the path ends in .pb / .tensor. */
export function saveArray(path: string, data: Float32Array, shape: readonly number[], name = 'adversarial'): void {
  if (/\.(pb|tensor|onnxtensor)$/i.test(path)) writeFileAtomic(path, encodeTensorProto(name, data, shape));
  else writeNpy(path, data, shape);
}
