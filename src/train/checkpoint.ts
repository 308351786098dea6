// Checkpoints: the whole training state in one file, written atomically (temp file, fsync, rename).
// Layout: 8-byte magic, uint32 header length, JSON header, then raw tensor bytes (8-byte aligned).
// The header carries a sha256 of the data so a damaged file is refused, and the config hash so a
// checkpoint is never resumed under another configuration.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { ort } from '../runtime/ort.js';
import { sha256 } from '../util/hash.js';

const MAGIC = 'GENCKPT1';

export class CheckpointError extends Error {
  constructor(message: string) { super(message); this.name = 'CheckpointError'; }
}

export interface CheckpointMeta {
  configHash: string;
  [key: string]: unknown;
}

interface TensorEntry { key: string; type: ort.Tensor.Type; dims: number[]; offset: number; bytes: number }

export function saveCheckpoint(path: string, meta: CheckpointMeta, tensors: Record<string, ort.Tensor>): void {
  const entries: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    const data = t.data as Float32Array;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    entries.push({ key, type: t.type, dims: [...t.dims], offset, bytes: bytes.byteLength });
    chunks.push(bytes);
    const pad = (8 - (bytes.byteLength % 8)) % 8;
    if (pad) chunks.push(new Uint8Array(pad));
    offset += bytes.byteLength + pad;
  }
  const header = Buffer.from(JSON.stringify({ meta, entries, dataBytes: offset, sha256: sha256(chunks) }), 'utf8');
  const headerPad = (8 - ((12 + header.byteLength) % 8)) % 8;
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(header.byteLength + headerPad, 8);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, prefix);
    writeSync(fd, header);
    if (headerPad) writeSync(fd, Buffer.alloc(headerPad, 0x20));
    for (const c of chunks) writeSync(fd, c);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export interface LoadedCheckpoint { meta: CheckpointMeta; tensors: Record<string, ort.Tensor> }

const CTORS: Partial<Record<ort.Tensor.Type, new (b: ArrayBuffer, o: number, n: number) => ArrayBufferView>> = {
  float32: Float32Array, int64: BigInt64Array, int32: Int32Array, float64: Float64Array, uint8: Uint8Array,
};

export function loadCheckpoint(path: string, expectConfigHash?: string): LoadedCheckpoint {
  if (!existsSync(path)) throw new CheckpointError(`no checkpoint at ${path}`);
  const buf = readFileSync(path);
  const bad = (why: string) => new CheckpointError(`checkpoint ${path} is damaged or not a checkpoint: ${why}`);
  if (buf.byteLength < 12 || buf.toString('ascii', 0, 8) !== MAGIC) throw bad('wrong magic bytes');
  const hlen = buf.readUInt32LE(8);
  if (12 + hlen > buf.byteLength) throw bad('header runs past the end of the file');
  let header: { meta: CheckpointMeta; entries: TensorEntry[]; dataBytes: number; sha256: string };
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + hlen));
  } catch {
    throw bad('unreadable header');
  }
  const data = buf.subarray(12 + hlen);
  if (data.byteLength !== header.dataBytes) throw bad(`expected ${header.dataBytes} data bytes, found ${data.byteLength} (truncated?)`);
  if (sha256(data) !== header.sha256) throw bad('data checksum mismatch');
  if (expectConfigHash && header.meta.configHash !== expectConfigHash) {
    throw new CheckpointError(`checkpoint ${path} was written by a run with another configuration (config hash ${header.meta.configHash.slice(0, 12)}, this run ${expectConfigHash.slice(0, 12)}); refusing to resume. Start a new run (another name or outDir) or resume with the same config.`);
  }
  const tensors: Record<string, ort.Tensor> = {};
  for (const e of header.entries) {
    const C = CTORS[e.type];
    if (!C) throw bad(`unsupported tensor type ${e.type}`);
    const copy = new Uint8Array(e.bytes);
    copy.set(data.subarray(e.offset, e.offset + e.bytes));
    const el = (C as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    tensors[e.key] = new ort.Tensor(e.type, new C(copy.buffer, 0, e.bytes / el) as never, e.dims);
  }
  return { meta: header.meta, tensors };
}
