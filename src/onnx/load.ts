// Bytes or file -> Model. Every failure is an OnnxError naming what is wrong and where.
import { realpathSync, closeSync } from 'node:fs';
import { FileReadError, openRegularFile, readRange, readRegularFile } from '../util/files.js';
import { dirname, isAbsolute, resolve, sep, relative } from 'node:path';
import { ModelProto } from './schema.js';
import { OnnxError } from './errors.js';
import {
  DataType, allocData, dataFromBytes, dtypeBytes, isSupportedDType, numel, supportedDTypes,
  type Attribute, type Graph, type Model, type Node, type Tensor, type TensorData, type ValueInfo, type Dim,
} from './ir.js';
import { validateGraph } from './validate.js';

export interface LoadLimits {
  /** Largest model file or buffer accepted, bytes. */
  maxModelBytes: number;
  /** Largest single tensor, elements. */
  maxTensorElements: number;
  maxRank: number;
  maxNodes: number;
}
export const DEFAULT_LIMITS: LoadLimits = {
  maxModelBytes: 2 ** 31,
  maxTensorElements: 2 ** 29,
  maxRank: 16,
  maxNodes: 1_000_000,
};

export interface LoadOptions {
  /** Folder that external-data locations are resolved against; required for external data. */
  baseDir?: string;
  limits?: Partial<LoadLimits>;
  /** Run structural validation (dangling edges, duplicates, cycles). Default true. */
  validate?: boolean;
}

type Long = { low: number; high: number; unsigned?: boolean; toNumber(): number };
const toNum = (v: unknown, what: string): number => {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'toNumber' in v) {
    const l = v as Long;
    const n = l.toNumber();
    if (!Number.isSafeInteger(n)) throw new OnnxError('TOO_LARGE', `${what}: integer ${n} is beyond the safe range`);
    return n;
  }
  if (typeof v === 'string') return Number(v);
  return 0;
};
/** For attribute ints: INT64_MAX/INT64_MIN sentinels (e.g. Slice-1 `ends`) saturate to the safe range instead of failing. */
const toNumSat = (v: unknown, what: string): number => {
  if (v && typeof v === 'object' && 'toNumber' in v) {
    const n = (v as Long).toNumber();
    return Number.isSafeInteger(n) ? n : n > 0 ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER;
  }
  return toNum(v, what);
};
const toBig = (v: unknown): bigint => {
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'string') return BigInt(v);
  const l = v as Long;
  return (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
};
// protobufjs puts defaults on the prototype: presence is an own property.
const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const utf8 = new TextDecoder('utf-8');
const str = (b: unknown): string => (typeof b === 'string' ? b : b instanceof Uint8Array ? utf8.decode(b) : '');

export function loadModel(bytes: Uint8Array, opts: LoadOptions = {}): Model {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  if (!(bytes instanceof Uint8Array)) throw new OnnxError('NOT_ONNX', 'expected the model as bytes (Uint8Array)');
  if (bytes.byteLength === 0) throw new OnnxError('NOT_ONNX', 'the model is empty (0 bytes)');
  if (bytes.byteLength > limits.maxModelBytes) throw new OnnxError('TOO_LARGE', `the model is ${bytes.byteLength} bytes, over the limit of ${limits.maxModelBytes}`);
  // Check the top-level framing first: it tells random bytes (NOT_ONNX) from a cut-off file (TRUNCATED).
  scanModelFraming(bytes);
  let raw: Record<string, any>;
  try {
    raw = ModelProto.decode(bytes) as unknown as Record<string, any>;
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    throw new OnnxError('NOT_ONNX', `not an ONNX model, or a corrupt one: protobuf decoding failed inside the model (${msg})`);
  }
  if (!raw.graph) throw new OnnxError('NO_GRAPH', 'not an ONNX model: it has no graph (is this an ONNX file?)');
  if (!has(raw, 'ir_version')) throw new OnnxError('NOT_ONNX', 'not an ONNX model: it has no ir_version');
  const irVersion = toNum(raw.ir_version, 'ir_version');
  if (irVersion <= 0 || irVersion > 20) throw new OnnxError('NOT_ONNX', `ir_version ${irVersion} is not a valid ONNX IR version (expected 1..20; current files use 3..11)`);
  const opsetImports = (raw.opset_import ?? []).map((o: any) => ({ domain: o.domain ?? '', version: toNum(o.version, 'opset version') }));
  if (!opsetImports.length) opsetImports.push({ domain: '', version: 1 });
  const metadata: Record<string, string> = {};
  for (const m of raw.metadata_props ?? []) metadata[m.key ?? ''] = m.value ?? '';
  const ctx: Ctx = { limits, baseDir: opts.baseDir, nodeCount: 0 };
  const graph = decodeGraph(raw.graph, ctx);
  const model: Model = {
    irVersion, opsetImports, producerName: raw.producer_name ?? '', producerVersion: raw.producer_version ?? '',
    docString: raw.doc_string || undefined, metadata, graph,
  };
  if (opts.validate !== false) validateGraph(graph);
  return model;
}

export function loadModelFile(path: string, opts: Omit<LoadOptions, 'baseDir'> = {}): Model {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(path, limits.maxModelBytes);
  } catch (e) {
    if (e instanceof FileReadError && e.kind === 'too-large') throw new OnnxError('TOO_LARGE', e.message);
    if (e instanceof FileReadError && e.kind === 'not-a-file') throw new OnnxError('IO', `cannot read model ${path}: not a file`);
    if (e instanceof FileReadError && e.kind === 'missing') throw new OnnxError('IO', `cannot read model ${path}: ENOENT (no such file)`);
    throw new OnnxError('IO', `cannot read model ${path}: ${(e as Error).message}`);
  }
  return loadModel(bytes, { ...opts, baseDir: dirname(resolve(path)) });
}

// ModelProto's top-level fields and their wire types (0 varint, 2 length-delimited).
const MODEL_FIELDS: Record<number, { name: string; wire: number }> = {
  1: { name: 'ir_version', wire: 0 }, 2: { name: 'producer_name', wire: 2 }, 3: { name: 'producer_version', wire: 2 },
  4: { name: 'domain', wire: 2 }, 5: { name: 'model_version', wire: 0 }, 6: { name: 'doc_string', wire: 2 },
  7: { name: 'graph', wire: 2 }, 8: { name: 'opset_import', wire: 2 }, 14: { name: 'metadata_props', wire: 2 },
  20: { name: 'training_info', wire: 2 }, 25: { name: 'functions', wire: 2 }, 26: { name: 'configuration', wire: 2 },
};

/** Walks the top-level fields of a ModelProto without decoding them. Throws NOT_ONNX on a field
 * ModelProto does not have (or with the wrong wire type), TRUNCATED when a well-formed field runs
 * past the end of the data. Unknown field numbers 27..64 (future additions) pass when length-delimited. */
function scanModelFraming(bytes: Uint8Array): void {
  let pos = 0;
  const end = bytes.byteLength;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (pos >= end) return undefined;
      const b = bytes[pos++];
      if (shift < 53) v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
    throw new OnnxError('NOT_ONNX', `not an ONNX model: malformed protobuf varint at offset ${pos}`);
  };
  const truncated = (what: string): OnnxError =>
    new OnnxError('TRUNCATED', `the model data ends early (truncated file?): ${what}; the data is only ${end} bytes`);
  while (pos < end) {
    const at = pos;
    const tag = varint();
    if (tag === undefined) throw truncated(`a field tag at offset ${at} is cut off`);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    const known = MODEL_FIELDS[field];
    if (known ? known.wire !== wire : field <= 26 || field > 64 || wire !== 2) {
      throw new OnnxError('NOT_ONNX', `not an ONNX model: protobuf field ${field} (wire type ${wire}) at offset ${at} is not part of an ONNX ModelProto`);
    }
    const name = known?.name ?? `field ${field}`;
    if (wire === 0) {
      if (varint() === undefined) throw truncated(`${name} at offset ${at} is cut off`);
    } else {
      const len = varint();
      if (len === undefined) throw truncated(`the length of ${name} at offset ${at} is cut off`);
      if (pos + len > end) {
        if (!known) throw new OnnxError('NOT_ONNX', `not an ONNX model: unknown protobuf field ${field} at offset ${at} claims ${len} bytes, past the end of the data`);
        throw truncated(`${name} at offset ${at} needs ${len} bytes but only ${end - pos} remain`);
      }
      pos += len;
    }
  }
}

interface Ctx { limits: LoadLimits; baseDir?: string; nodeCount: number }

function decodeGraph(g: any, ctx: Ctx): Graph {
  const rawNodes: any[] = g.node ?? [];
  // Unnamed nodes get a name that no named node of this graph uses.
  const taken = new Set<string>(rawNodes.map((n) => n.name).filter(Boolean));
  const nodes: Node[] = rawNodes.map((n: any, i: number) => {
    let name: string = n.name || `${n.op_type || 'node'}_${i}`;
    if (!n.name) for (let k = 1; taken.has(name); k++) name = `${n.op_type || 'node'}_${i}_${k}`;
    taken.add(name);
    return decodeNode(n, name, i, ctx);
  });
  ctx.nodeCount += nodes.length;
  if (ctx.nodeCount > ctx.limits.maxNodes) throw new OnnxError('TOO_LARGE', `the model has over ${ctx.limits.maxNodes} nodes`);
  const initializers = new Map<string, Tensor>();
  for (const t of g.initializer ?? []) {
    const tensor = decodeTensor(t, ctx);
    if (initializers.has(tensor.name)) throw new OnnxError('DUPLICATE_NAME', `initializer "${tensor.name}" is defined twice`);
    initializers.set(tensor.name, tensor);
  }
  return {
    name: g.name ?? '',
    nodes,
    inputs: (g.input ?? []).map((v: any) => decodeValueInfo(v, ctx)),
    outputs: (g.output ?? []).map((v: any) => decodeValueInfo(v, ctx)),
    initializers,
    valueInfo: (g.value_info ?? []).map((v: any) => decodeValueInfo(v, ctx)),
  };
}

function decodeValueInfo(v: any, ctx: Ctx): ValueInfo {
  const t = v.type?.tensor_type;
  const dtype: DataType = t?.elem_type ?? DataType.UNDEFINED;
  let shape: Dim[] | undefined;
  if (t?.shape) {
    shape = (t.shape.dim ?? []).map((d: any): Dim => {
      if (has(d, 'dim_value')) return toNum(d.dim_value, `shape of ${v.name}`);
      if (has(d, 'dim_param')) return d.dim_param as string;
      return null;
    });
    if (shape!.length > ctx.limits.maxRank) throw new OnnxError('TOO_LARGE', `value "${v.name}" has rank ${shape!.length}, over the limit of ${ctx.limits.maxRank}`);
  }
  return { name: v.name ?? '', dtype, shape };
}

function decodeNode(n: any, name: string, index: number, ctx: Ctx): Node {
  const attributes: Record<string, Attribute> = {};
  for (const a of n.attribute ?? []) {
    if (!a.name) throw new OnnxError('BAD_ATTRIBUTE', `node "${name}" (${n.op_type}) has an attribute without a name`);
    attributes[a.name] = decodeAttribute(a, `${name}.${a.name}`, ctx);
  }
  if (!n.op_type) throw new OnnxError('NOT_ONNX', `node #${index} ("${name}") has no op_type`);
  return { name, opType: n.op_type, domain: n.domain ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attributes };
}

const A = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 };
const ATTR_TYPE_NAMES: Record<number, string> = { 0: 'UNDEFINED', 11: 'SPARSE_TENSOR', 12: 'SPARSE_TENSORS', 13: 'TYPE_PROTO', 14: 'TYPE_PROTOS' };
function decodeAttribute(a: any, where: string, ctx: Ctx): Attribute {
  let type: number = a.type ?? 0;
  if (!type) {
    // IR < 3 files may omit the type; infer it from the field that is set.
    if (has(a, 'f')) type = A.FLOAT;
    else if (has(a, 'i')) type = A.INT;
    else if (a.s?.length) type = A.STRING;
    else if (a.t) type = A.TENSOR;
    else if (a.g) type = A.GRAPH;
    else if (a.floats?.length) type = A.FLOATS;
    else if (a.ints?.length) type = A.INTS;
    else if (a.strings?.length) type = A.STRINGS;
  }
  switch (type) {
    case A.FLOAT: return { type: 'float', value: a.f ?? 0 };
    case A.INT: return { type: 'int', value: toNumSat(a.i ?? 0, where) };
    case A.STRING: return { type: 'string', value: str(a.s) };
    case A.TENSOR: return { type: 'tensor', value: decodeTensor(a.t ?? {}, ctx) };
    case A.GRAPH: return { type: 'graph', value: decodeGraph(a.g ?? {}, ctx) };
    case A.FLOATS: return { type: 'floats', value: [...(a.floats ?? [])] };
    case A.INTS: return { type: 'ints', value: (a.ints ?? []).map((v: unknown) => toNumSat(v, where)) };
    case A.STRINGS: return { type: 'strings', value: (a.strings ?? []).map(str) };
    case A.TENSORS: return { type: 'tensors', value: (a.tensors ?? []).map((t: any) => decodeTensor(t, ctx)) };
    case A.GRAPHS: return { type: 'graphs', value: (a.graphs ?? []).map((g: any) => decodeGraph(g, ctx)) };
    default: throw new OnnxError('BAD_ATTRIBUTE', `attribute ${where} has an unsupported type (${ATTR_TYPE_NAMES[type] ?? type})`);
  }
}

const ONNX_DTYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 8: 'STRING', 14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16', 17: 'FLOAT8E4M3FN', 18: 'FLOAT8E4M3FNUZ',
  19: 'FLOAT8E5M2', 20: 'FLOAT8E5M2FNUZ', 21: 'UINT4', 22: 'INT4', 23: 'FLOAT4E2M1',
};

export function decodeTensor(t: any, ctx: Ctx = { limits: DEFAULT_LIMITS, nodeCount: 0 }): Tensor {
  const name: string = t.name ?? '';
  const where = `tensor "${name}"`;
  const dims: number[] = (t.dims ?? []).map((d: unknown) => toNum(d, where));
  if (dims.length > ctx.limits.maxRank) throw new OnnxError('TOO_LARGE', `${where} has rank ${dims.length}, over the limit of ${ctx.limits.maxRank}`);
  if (dims.some((d) => d < 0 || !Number.isInteger(d))) throw new OnnxError('BAD_TENSOR', `${where} has invalid dims [${dims}]`);
  const n = numel(dims);
  if (n > ctx.limits.maxTensorElements) throw new OnnxError('TOO_LARGE', `${where} has ${n} elements (dims [${dims}]), over the limit of ${ctx.limits.maxTensorElements}`);
  const dtype: DataType = t.data_type ?? 0;
  if (!isSupportedDType(dtype)) {
    const label = ONNX_DTYPE_NAMES[dtype] ?? `data_type ${dtype} (not an ONNX type)`;
    throw new OnnxError('UNKNOWN_DTYPE', `${where} has unsupported data type ${label}; supported: ${supportedDTypes().join(', ')}`);
  }
  const bytesPer = dtypeBytes(dtype, where);
  let data: TensorData;
  if (t.data_location === 1 || (t.external_data?.length ?? 0) > 0) {
    data = readExternal(t, dtype, n * bytesPer, where, ctx);
  } else if (t.raw_data && t.raw_data.length) {
    data = dataFromBytes(dtype, t.raw_data, where);
  } else {
    data = allocData(dtype, n);
    const fill = typedField(t, dtype);
    if (fill.length !== n && !(n === 0 && fill.length === 0)) {
      throw new OnnxError('BAD_TENSOR', `${where}: dims [${dims}] need ${n} values, the file holds ${fill.length}`);
    }
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) fill.forEach((v, i) => ((data as BigInt64Array)[i] = toBig(v)));
    else if (dtype === DataType.FLOAT16) fill.forEach((v, i) => ((data as Uint16Array)[i] = Number(v) & 0xffff));
    else fill.forEach((v, i) => ((data as Float32Array)[i] = Number(toNum(v, where))));
  }
  if (data.length !== n) throw new OnnxError('BAD_TENSOR', `${where}: dims [${dims}] need ${n} values, the data holds ${data.length}`);
  return { name, dtype, dims, data };
}

function typedField(t: any, dtype: DataType): unknown[] {
  switch (dtype) {
    case DataType.FLOAT: return t.float_data ?? [];
    case DataType.DOUBLE: return t.double_data ?? [];
    case DataType.INT64: return t.int64_data ?? [];
    case DataType.UINT64: case DataType.UINT32: return t.uint64_data ?? [];
    default: return t.int32_data ?? []; // int32, int16, int8, uint16, uint8, bool, float16 (bits)
  }
}

function readExternal(t: any, dtype: DataType, expectBytes: number, where: string, ctx: Ctx): TensorData {
  const kv: Record<string, string> = {};
  for (const e of t.external_data ?? []) kv[e.key ?? ''] = e.value ?? '';
  const location = kv.location;
  if (!location) throw new OnnxError('EXTERNAL_DATA', `${where} uses external data but names no location`);
  if (!ctx.baseDir) throw new OnnxError('EXTERNAL_DATA', `${where} uses external data ("${location}"); load the model from a file (loadModelFile) so its folder is known`);
  if (isAbsolute(location) || location.split(/[\\/]/).includes('..')) {
    throw new OnnxError('EXTERNAL_DATA', `${where}: external data location "${location}" is outside the model's folder; refused`);
  }
  let base: string;
  try {
    base = realpathSync(ctx.baseDir);
  } catch (e) {
    throw new OnnxError('EXTERNAL_DATA', `${where}: the model's folder ${ctx.baseDir} cannot be read: ${(e as Error).message}`);
  }
  let full: string;
  try {
    full = realpathSync(resolve(base, location));
  } catch {
    throw new OnnxError('EXTERNAL_DATA', `${where}: external data file "${location}" not found next to the model`);
  }
  const rel = relative(base, full);
  if (isAbsolute(rel) || rel.split(sep).includes('..')) {
    throw new OnnxError('EXTERNAL_DATA', `${where}: external data location "${location}" resolves outside the model's folder (symlink?); refused`);
  }
  const offset = Number(kv.offset ?? 0);
  const length = kv.length !== undefined ? Number(kv.length) : expectBytes;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) throw new OnnxError('EXTERNAL_DATA', `${where}: bad external data offset/length`);
  if (length !== expectBytes) throw new OnnxError('EXTERNAL_DATA', `${where}: external data length ${length} does not match the ${expectBytes} bytes its dims need`);
  // Read only the tensor's range: models usually share one big data file between all tensors.
  // Opened non-blocking and checked on the descriptor: a FIFO or device is refused, never waited on.
  let fd: number | undefined;
  try {
    const f = openRegularFile(full, Number.MAX_SAFE_INTEGER);
    fd = f.fd;
    if (offset + length > f.size) throw new OnnxError('EXTERNAL_DATA', `${where}: external data file "${location}" is ${f.size} bytes, too short for offset ${offset} + length ${length}`);
    return dataFromBytes(dtype, readRange(fd, location, offset, length), where);
  } catch (e) {
    if (e instanceof OnnxError) throw e;
    if (e instanceof FileReadError && e.kind === 'not-a-file') throw new OnnxError('EXTERNAL_DATA', `${where}: external data location "${location}" is not a file (a folder, FIFO or device)`);
    throw new OnnxError('EXTERNAL_DATA', `${where}: cannot read external data file "${location}": ${(e as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
