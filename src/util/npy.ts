// NumPy .npy files (format version 1.0 written; 1.x / 2.x read) for float32 / float64 / int64 /
// int32 / uint8 arrays, without numpy: the magic "\x93NUMPY", the version, a little-endian header
// length, then an ASCII dict header padded with spaces and a newline so that the data starts at a
// multiple of 64 bytes, then the raw little-endian C-order data. Imports only util/fs and util/dims.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './fs.js';
import { numel } from './dims.js';

export type NpyData = Float32Array | BigInt64Array | Uint8Array | Int32Array | Float64Array;

const DESCR: [string, new (b: ArrayBuffer, o: number, n: number) => NpyData, number][] = [
  ['<f4', Float32Array as never, 4], ['<f8', Float64Array as never, 8], ['<i8', BigInt64Array as never, 8],
  ['<i4', Int32Array as never, 4], ['|u1', Uint8Array as never, 1],
];

function descrOf(data: NpyData): string {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof BigInt64Array) return '<i8';
  if (data instanceof Int32Array) return '<i4';
  return '|u1';
}

/** The bytes of a .npy file holding `data` with `shape`. */
export function encodeNpy(data: NpyData, shape: readonly number[]): Uint8Array {
  const n = numel(shape);
  if (n !== data.length) throw new Error(`npy: ${data.length} values for shape [${shape.join(', ')}]`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descrOf(data)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const pre = 10; // magic (6) + version (2) + header length (2)
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  header = header.padEnd(total - pre - 1, ' ') + '\n';
  if (header.length > 0xffff) throw new Error('npy: header too long');
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(total + body.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(body, total);
  return out;
}

export function writeNpy(path: string, data: NpyData, shape: readonly number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}

/** Parses .npy bytes (version 1.x / 2.x, little-endian, C order). */
export function decodeNpy(bytes: Uint8Array): { data: NpyData; shape: number[] } {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new Error('npy: not a .npy file (bad magic)');
  const major = bytes[6];
  const hlen = major === 1 ? bytes[8] | (bytes[9] << 8) : bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (bytes[11] << 24);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + hlen));
  const descr = header.match(/'descr':\s*'([^']+)'/)?.[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error('npy: Fortran order is not supported');
  const shapeText = header.match(/'shape':\s*\(([^)]*)\)/)?.[1];
  if (!descr || shapeText === undefined) throw new Error(`npy: cannot parse header ${header}`);
  const shape = shapeText.split(',').map((t) => t.trim()).filter((t) => t.length).map(Number);
  const d = DESCR.find(([k]) => k === descr);
  if (!d) throw new Error(`npy: unsupported dtype ${descr}`);
  const n = numel(shape);
  const off = start + hlen;
  if (bytes.byteLength - off < n * d[2]) throw new Error('npy: truncated data');
  // A copy into a fresh, aligned buffer (a Node Buffer's slice would share its pooled memory).
  const copy = new Uint8Array(n * d[2]);
  copy.set(bytes.subarray(off, off + n * d[2]));
  return { data: new d[1](copy.buffer, 0, n), shape };
}

export function readNpy(path: string): { data: NpyData; shape: number[] } {
  return decodeNpy(readFileSync(path));
}

