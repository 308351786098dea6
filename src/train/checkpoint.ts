// Checkpoints: the whole training state in one file, written atomically (temp file, fsync, rename).
// Layout (version 2): 8-byte magic "GENCKPT2", uint32 header length, 32-byte sha256, JSON header,
// then raw tensor bytes (8-byte aligned). The sha256 covers every byte of the file but its own 32,
// so the header (names, dtypes, dims, offsets, counters) is as protected as the data. Loading trusts
// nothing even so: only a regular file of bounded size is read, and every header field is checked
// (entries inside the data, not overlapping, bytes = dims x dtype, and, when the caller says what
// the run needs, the exact set of names, dtypes and dims). Version 1 files (digest of the data
// only) still load, with the same field checks.
import { constants as bufferConstants } from 'node:buffer';
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { ort } from '../runtime/ort.js';
import { FileReadError, readRegularFile } from '../util/files.js';
import { numel } from '../util/dims.js';
import { sha256 } from '../util/hash.js';

const MAGIC = 'GENCKPT2';
const MAGIC_V1 = 'GENCKPT1';
const PREFIX = 12;
const DIGEST = 32;
/** The JSON header's size bound (its metrics history grows by ~1 kB an epoch). */
const MAX_HEADER = 64 << 20;

export class CheckpointError extends Error {
  constructor(message: string) { super(message); this.name = 'CheckpointError'; }
}

export interface CheckpointMeta {
  configHash: string;
  [key: string]: unknown;
}

/** What a tensor of the checkpoint must be: the run's model fixes it. */
export interface TensorSpec { type: ort.Tensor.Type; dims: readonly number[] }

interface TensorEntry { key: string; type: ort.Tensor.Type; dims: number[]; offset: number; bytes: number }
interface Header { version?: number; meta: CheckpointMeta; entries: TensorEntry[]; dataBytes: number; sha256?: string }

const CTORS: Partial<Record<ort.Tensor.Type, { new (b: ArrayBuffer, o: number, n: number): ArrayBufferView; BYTES_PER_ELEMENT: number }>> = {
  float32: Float32Array, int64: BigInt64Array, int32: Int32Array, float64: Float64Array, uint8: Uint8Array,
};

const pad8 = (n: number) => (8 - (n % 8)) % 8;

/** Lays the tensors out as 8-byte-aligned chunks; returns their entries and the data size. */
function layout(tensors: Record<string, ort.Tensor>): { entries: TensorEntry[]; chunks: Uint8Array[]; dataBytes: number } {
  const entries: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    const data = t.data as ArrayBufferView;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    entries.push({ key, type: t.type, dims: [...t.dims], offset, bytes: bytes.byteLength });
    chunks.push(bytes);
    const pad = pad8(bytes.byteLength);
    if (pad) chunks.push(new Uint8Array(pad));
    offset += bytes.byteLength + pad;
  }
  return { entries, chunks, dataBytes: offset };
}

/**
 * Writes the checkpoint atomically. `onPartialWrite` (fault-injection tests) runs when the temp
 * file holds its header and half of the data.
 */
export function saveCheckpoint(path: string, meta: CheckpointMeta, tensors: Record<string, ort.Tensor>, onPartialWrite?: () => void): void {
  const { entries, chunks, dataBytes } = layout(tensors);
  const json = Buffer.from(JSON.stringify({ version: 2, meta, entries, dataBytes } satisfies Header), 'utf8');
  const header = Buffer.concat([json, Buffer.alloc(pad8(PREFIX + DIGEST + json.byteLength), 0x20)]);
  const prefix = Buffer.alloc(PREFIX);
  prefix.write(MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(header.byteLength, 8);
  const digest = Buffer.from(sha256([prefix, header, ...chunks]), 'hex');
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    for (const part of [prefix, digest, header]) writeSync(fd, part);
    chunks.forEach((c, i) => {
      if (i === chunks.length >> 1) onPartialWrite?.();
      writeSync(fd, c);
    });
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export interface LoadedCheckpoint { meta: CheckpointMeta; tensors: Record<string, ort.Tensor> }

export interface LoadExpectations {
  /** The config hash the checkpoint must carry (refused as "another configuration" otherwise). */
  configHash?: string;
  /** Exactly the tensors the run needs: names, dtypes, dims. */
  tensors?: Record<string, TensorSpec>;
  /** Checks of the meta (a resumed config), run before the tensors are checked: their message says more. */
  meta?: (meta: CheckpointMeta) => void;
}

/** Largest file read: the expected tensors plus a header, or what a Buffer can hold. */
function sizeBound(expect: LoadExpectations): number {
  const cap = Math.min(bufferConstants.MAX_LENGTH, 2 ** 40);
  if (!expect.tensors) return cap;
  let data = 0;
  for (const s of Object.values(expect.tensors)) {
    const bytes = (CTORS[s.type]?.BYTES_PER_ELEMENT ?? 8) * numel(s.dims);
    data += bytes + pad8(bytes);
  }
  // Slack for a checkpoint of another optimizer (more slots): the config check names that change.
  return Math.min(cap, PREFIX + DIGEST + MAX_HEADER + 4 * data);
}

function readFile(path: string, expect: LoadExpectations): Buffer {
  try {
    return readRegularFile(path, sizeBound(expect));
  } catch (e) {
    if (!(e instanceof FileReadError)) throw e;
    if (e.kind === 'missing') throw new CheckpointError(`no checkpoint at ${path}`);
    if (e.kind === 'too-large') throw new CheckpointError(`checkpoint ${e.message}: larger than this run's state can be; not a checkpoint of this run`);
    throw new CheckpointError(`cannot read checkpoint: ${e.message}`);
  }
}

/** Splits the file into header and data and checks the digest. */
function parse(buf: Buffer, bad: (why: string) => CheckpointError): { header: Header; data: Buffer } {
  if (buf.byteLength < PREFIX) throw bad(`${buf.byteLength} bytes, shorter than a checkpoint's prefix (truncated?)`);
  const magic = buf.toString('latin1', 0, 8);
  if (magic !== MAGIC && magic !== MAGIC_V1) throw bad('wrong magic bytes');
  const v1 = magic === MAGIC_V1;
  const hstart = v1 ? PREFIX : PREFIX + DIGEST;
  const hlen = buf.readUInt32LE(8);
  if (hlen > MAX_HEADER) throw bad(`header length ${hlen} is over the bound of ${MAX_HEADER}`);
  if (hstart + hlen > buf.byteLength) throw bad('header runs past the end of the file (truncated?)');
  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', hstart, hstart + hlen));
  } catch {
    header = undefined;
  }
  const data = buf.subarray(hstart + hlen);
  if (!v1) {
    const digest = sha256([buf.subarray(0, PREFIX), buf.subarray(hstart)]);
    if (digest !== buf.toString('hex', PREFIX, hstart)) {
      const said = (header as { dataBytes?: unknown } | undefined)?.dataBytes;
      if (typeof said === 'number' && said !== data.byteLength) throw bad(`the header says ${said} data bytes, the file has ${data.byteLength} (truncated?)`);
      throw bad('checksum mismatch (the file was changed after it was written)');
    }
  }
  if (header === undefined) throw bad('unreadable header');
  const h = checkHeader(header, data.byteLength, bad);
  if (v1 && sha256(data) !== h.sha256) throw bad('data checksum mismatch');
  return { header: h, data };
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** The header's own consistency: types of every field, entries inside the data and not overlapping. */
function checkHeader(h: unknown, dataLength: number, bad: (why: string) => CheckpointError): Header {
  if (!isObj(h) || !isObj(h.meta) || typeof h.meta.configHash !== 'string' || !Array.isArray(h.entries)) throw bad('header lacks meta, meta.configHash or entries');
  if (h.dataBytes !== dataLength) throw bad(`header says ${String(h.dataBytes)} data bytes, the file has ${dataLength} (truncated?)`);
  const seen = new Set<string>();
  const spans: [number, number, string][] = [];
  for (const e of h.entries as unknown[]) {
    if (!isObj(e) || typeof e.key !== 'string' || !e.key) throw bad('an entry without a name');
    const key = e.key;
    if (seen.has(key)) throw bad(`tensor "${key}" appears twice`);
    seen.add(key);
    const C = CTORS[e.type as ort.Tensor.Type];
    if (!C) throw bad(`tensor "${key}" has unsupported dtype ${JSON.stringify(e.type)}`);
    if (!Array.isArray(e.dims) || !e.dims.every(isCount)) throw bad(`tensor "${key}" has invalid dims ${JSON.stringify(e.dims)}`);
    const elems = numel(e.dims as number[]);
    if (!isCount(e.bytes) || e.bytes !== elems * C.BYTES_PER_ELEMENT) throw bad(`tensor "${key}": ${String(e.bytes)} bytes do not fit dims [${(e.dims as number[]).join(', ')}] of ${String(e.type)}`);
    if (!isCount(e.offset) || e.offset % 8 !== 0 || e.offset + e.bytes > dataLength) throw bad(`tensor "${key}": offset ${String(e.offset)} is not an aligned position inside the ${dataLength} data bytes`);
    spans.push([e.offset, e.offset + e.bytes, key]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) if (spans[i][0] < spans[i - 1][1]) throw bad(`tensors "${spans[i - 1][2]}" and "${spans[i][2]}" overlap`);
  return h as unknown as Header;
}

/** The entries against what the run needs: the same names, each with its dtype and dims. */
function checkAgainst(entries: TensorEntry[], want: Record<string, TensorSpec>, path: string): void {
  const mismatch = (why: string) => new CheckpointError(`checkpoint ${path} does not fit this run's model: ${why}; it belongs to another model or is damaged`);
  const have = new Map(entries.map((e) => [e.key, e]));
  const missing = Object.keys(want).filter((k) => !have.has(k));
  if (missing.length) throw mismatch(`tensor${missing.length > 1 ? 's' : ''} ${missing.slice(0, 3).map((k) => `"${k}"`).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} missing`);
  const extra = entries.filter((e) => !Object.hasOwn(want, e.key));
  if (extra.length) throw mismatch(`tensor "${extra[0].key}" is not part of this run's state`);
  for (const e of entries) {
    const w = want[e.key];
    if (e.type !== w.type) throw mismatch(`tensor "${e.key}" is ${e.type}, the run needs ${w.type}`);
    if (e.dims.length !== w.dims.length || e.dims.some((d, i) => d !== w.dims[i])) throw mismatch(`tensor "${e.key}" has dims [${e.dims.join(', ')}], the run needs [${w.dims.join(', ')}]`);
  }
}

export function loadCheckpoint(path: string, expect: string | LoadExpectations = {}): LoadedCheckpoint {
  const ex: LoadExpectations = typeof expect === 'string' ? { configHash: expect } : expect;
  const buf = readFile(path, ex);
  const bad = (why: string) => new CheckpointError(`checkpoint ${path} is damaged or not a checkpoint: ${why}`);
  const { header, data } = parse(buf, bad);
  if (ex.configHash && header.meta.configHash !== ex.configHash) {
    throw new CheckpointError(`checkpoint ${path} was written by a run with another configuration (config hash ${header.meta.configHash.slice(0, 12)}, this run ${ex.configHash.slice(0, 12)}); refusing to resume. Start a new run (another name or outDir) or resume with the same config.`);
  }
  ex.meta?.(header.meta);
  if (ex.tensors) checkAgainst(header.entries, ex.tensors, path);
  const tensors: Record<string, ort.Tensor> = {};
  for (const e of header.entries) {
    const C = CTORS[e.type]!;
    const copy = new Uint8Array(e.bytes);
    copy.set(data.subarray(e.offset, e.offset + e.bytes));
    tensors[e.key] = new ort.Tensor(e.type, new C(copy.buffer, 0, e.bytes / C.BYTES_PER_ELEMENT) as never, e.dims);
  }
  return { meta: header.meta, tensors };
}
