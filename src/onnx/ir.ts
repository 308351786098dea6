// src/onnx: the ONNX model in memory (this file), load/save, validation, shape inference, typed
// attributes and GraphBuilder. Imports only src/util.
//
// The in-memory ONNX graph every part of the project works on: plain objects, typed arrays for
// tensor data, nothing protobuf-specific. load.ts/save.ts translate to and from the wire format.
import { OnnxError } from './errors.js';
import { numel } from '../util/dims.js';

export enum DataType {
  UNDEFINED = 0, FLOAT = 1, UINT8 = 2, INT8 = 3, UINT16 = 4, INT16 = 5, INT32 = 6, INT64 = 7,
  STRING = 8, BOOL = 9, FLOAT16 = 10, DOUBLE = 11, UINT32 = 12, UINT64 = 13,
}

/** A dimension: a number when static, a string for a named symbolic dim, null when unknown. */
export type Dim = number | string | null;
/** undefined shape = unknown rank. */
export type Shape = Dim[] | undefined;

export type TensorData =
  | Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array
  | Uint16Array | Int16Array | Uint32Array | BigUint64Array;

export interface Tensor {
  name: string;
  dtype: DataType;
  dims: number[];
  /** Float16 is held as raw Uint16Array bits; bool as Uint8Array of 0/1. */
  data: TensorData;
}

export interface ValueInfo {
  name: string;
  dtype: DataType;
  shape: Shape;
}

export type Attribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensors'; value: Tensor[] }
  | { type: 'graphs'; value: Graph[] };

export interface Node {
  name: string;
  opType: string;
  /** '' (or 'ai.onnx') is the default domain. */
  domain: string;
  /** '' marks an omitted optional input or output. */
  inputs: string[];
  outputs: string[];
  attributes: Record<string, Attribute>;
}

export interface Graph {
  name: string;
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Insertion-ordered; saved in that order. */
  initializers: Map<string, Tensor>;
  valueInfo: ValueInfo[];
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  docString?: string;
  metadata: Record<string, string>;
  graph: Graph;
}

interface DTypeInfo { name: string; bytes: number; make: (n: number) => TensorData; fromBuffer: (b: ArrayBuffer, off: number, n: number) => TensorData }
type TypedArrayClass = { BYTES_PER_ELEMENT: number; new (n: number): TensorData; new (b: ArrayBuffer, o: number, n: number): TensorData };
/** The supported dtypes: name and the typed array that holds them (float16 as raw bits, bool as 0/1 bytes). */
const DTYPES: Partial<Record<DataType, DTypeInfo>> = {};
for (const [dtype, name, C] of [
  [DataType.FLOAT, 'float32', Float32Array], [DataType.DOUBLE, 'float64', Float64Array], [DataType.FLOAT16, 'float16', Uint16Array],
  [DataType.INT64, 'int64', BigInt64Array], [DataType.UINT64, 'uint64', BigUint64Array], [DataType.INT32, 'int32', Int32Array],
  [DataType.UINT32, 'uint32', Uint32Array], [DataType.INT16, 'int16', Int16Array], [DataType.UINT16, 'uint16', Uint16Array],
  [DataType.INT8, 'int8', Int8Array], [DataType.UINT8, 'uint8', Uint8Array], [DataType.BOOL, 'bool', Uint8Array],
] as [DataType, string, unknown][]) {
  const T = C as TypedArrayClass;
  DTYPES[dtype] = { name, bytes: T.BYTES_PER_ELEMENT, make: (n) => new T(n), fromBuffer: (b, o, n) => new T(b, o, n) };
}

function dtypeInfo(dtype: DataType, where = ''): DTypeInfo {
  const d = DTYPES[dtype];
  if (!d) {
    const label = DataType[dtype] ?? `#${dtype}`;
    throw new OnnxError('UNKNOWN_DTYPE', `unsupported tensor data type ${label}${where ? ` in ${where}` : ''}; supported: ${supportedDTypes().join(', ')}`);
  }
  return d;
}
export const supportedDTypes = (): string[] => Object.values(DTYPES).map((d) => d!.name);
export const isSupportedDType = (dtype: DataType): boolean => DTYPES[dtype] !== undefined;
export const dtypeName = (dtype: DataType): string => DTYPES[dtype]?.name ?? DataType[dtype] ?? `#${dtype}`;
export const dtypeBytes = (dtype: DataType, where?: string): number => dtypeInfo(dtype, where).bytes;
export const allocData = (dtype: DataType, n: number, where?: string): TensorData => dtypeInfo(dtype, where).make(n);
/** View over a copy of `bytes` (little-endian, as ONNX raw_data is), aligned for the typed array. */
export function dataFromBytes(dtype: DataType, bytes: Uint8Array, where?: string): TensorData {
  const d = dtypeInfo(dtype, where);
  if (bytes.byteLength % d.bytes !== 0) throw new OnnxError('BAD_TENSOR', `${where ?? 'tensor'}: raw_data has ${bytes.byteLength} bytes, not a multiple of ${d.bytes} (${d.name})`);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return d.fromBuffer(copy.buffer, 0, bytes.byteLength / d.bytes);
}
export const dataBytes = (data: TensorData): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

export { numel };
/** Whether every dim is known: the shape is static. */
export const isStatic = (s: Shape | readonly Dim[]): s is number[] => !!s && s.every((d) => typeof d === 'number');
export const isFloatType = (t: DataType): boolean => t === DataType.FLOAT || t === DataType.DOUBLE || t === DataType.FLOAT16;

export function tensor(name: string, dtype: DataType, dims: number[], data?: TensorData | number[]): Tensor {
  const n = numel(dims);
  let out: TensorData;
  if (data === undefined) out = allocData(dtype, n);
  else if (Array.isArray(data)) {
    out = allocData(dtype, n);
    if (data.length !== n) throw new OnnxError('BAD_TENSOR', `tensor ${name}: ${data.length} values for dims [${dims}]`);
    if (out instanceof BigInt64Array || out instanceof BigUint64Array) data.forEach((v, i) => ((out as BigInt64Array)[i] = BigInt(v)));
    else (out as Float32Array).set(data);
  } else out = data;
  if (out.length !== n) throw new OnnxError('BAD_TENSOR', `tensor ${name}: ${out.length} values for dims [${dims}] (${n} expected)`);
  return { name, dtype, dims: [...dims], data: out };
}

export const emptyGraph = (name = 'graph'): Graph => ({ name, nodes: [], inputs: [], outputs: [], initializers: new Map(), valueInfo: [] });

/** Opset version of the default domain. */
export function defaultOpset(model: Model): number {
  return model.opsetImports.find((o) => isDefaultDomain(o.domain))?.version ?? 0;
}

/** Whether `domain` names ONNX's default operator set ('' or 'ai.onnx'). */
export const isDefaultDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';

export function cloneGraph(g: Graph): Graph {
  return {
    name: g.name,
    nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attributes: { ...n.attributes } })),
    inputs: g.inputs.map((v) => ({ ...v, shape: v.shape && [...v.shape] })),
    outputs: g.outputs.map((v) => ({ ...v, shape: v.shape && [...v.shape] })),
    initializers: new Map(g.initializers),
    valueInfo: g.valueInfo.map((v) => ({ ...v, shape: v.shape && [...v.shape] })),
  };
}
