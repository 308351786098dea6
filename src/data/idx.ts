// IDX files (the MNIST family): big-endian. Images: magic 2051, count, rows, cols, then bytes
// (16-byte header). Labels: magic 2049, count, then bytes (8-byte header). Files may be gzipped
// (Fashion-MNIST ships .gz); readIdxFile decompresses by content, not by name.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DatasetError } from './errors.js';

export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;

export interface IdxImages { kind: 'images'; n: number; rows: number; cols: number; data: Uint8Array }
export interface IdxLabels { kind: 'labels'; n: number; data: Uint8Array }

export const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

const u32be = (b: Uint8Array, off: number): number => ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;

function expectMagic(b: Uint8Array, want: number, what: string, source: string): void {
  if (isGzip(b)) {
    throw new DatasetError('BAD_MAGIC', `${source}: is gzip-compressed; decompress it first (readIdxFile does this)`);
  }
  if (b.length < 4) throw new DatasetError('TRUNCATED', `${source}: ${b.length} bytes, too short for an IDX header`);
  const magic = u32be(b, 0);
  if (magic !== want) {
    const other = magic === IDX_IMAGES_MAGIC ? ' (an images file)' : magic === IDX_LABELS_MAGIC ? ' (a labels file)' : '';
    throw new DatasetError('BAD_MAGIC', `${source}: magic number ${magic}${other}, expected ${want} for an IDX ${what} file`);
  }
}

/** Parses an uncompressed IDX images file. The returned data is a view into `bytes`. */
export function parseIdxImages(bytes: Uint8Array, source = 'IDX images'): IdxImages {
  expectMagic(bytes, IDX_IMAGES_MAGIC, 'images', source);
  if (bytes.length < 16) throw new DatasetError('TRUNCATED', `${source}: ${bytes.length} bytes, shorter than the 16-byte images header`);
  const n = u32be(bytes, 4), rows = u32be(bytes, 8), cols = u32be(bytes, 12);
  if (rows === 0 || cols === 0) throw new DatasetError('BAD_MAGIC', `${source}: image size ${rows}x${cols} is empty`);
  const want = 16 + n * rows * cols;
  if (bytes.length < want) {
    throw new DatasetError('TRUNCATED', `${source}: truncated: header says ${n} images of ${rows}x${cols} (${want} bytes), file has ${bytes.length} bytes`);
  }
  if (bytes.length > want) {
    throw new DatasetError('BAD_SIZE', `${source}: ${bytes.length - want} unexpected bytes after ${n} images of ${rows}x${cols}`);
  }
  return { kind: 'images', n, rows, cols, data: bytes.subarray(16, want) };
}

/** Parses an uncompressed IDX labels file. The returned data is a view into `bytes`. */
export function parseIdxLabels(bytes: Uint8Array, source = 'IDX labels'): IdxLabels {
  expectMagic(bytes, IDX_LABELS_MAGIC, 'labels', source);
  if (bytes.length < 8) throw new DatasetError('TRUNCATED', `${source}: ${bytes.length} bytes, shorter than the 8-byte labels header`);
  const n = u32be(bytes, 4);
  const want = 8 + n;
  if (bytes.length < want) {
    throw new DatasetError('TRUNCATED', `${source}: truncated: header says ${n} labels (${want} bytes), file has ${bytes.length} bytes`);
  }
  if (bytes.length > want) throw new DatasetError('BAD_SIZE', `${source}: ${bytes.length - want} unexpected bytes after ${n} labels`);
  return { kind: 'labels', n, data: bytes.subarray(8, want) };
}

/** Reads a file, gunzipping it when its content starts with the gzip magic. */
export function readMaybeGzip(path: string): { raw: Uint8Array; bytes: Uint8Array; gzipped: boolean } {
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DatasetError('NOT_FOUND', `${path}: cannot read (${code ?? String(e)})`);
  }
  if (!isGzip(raw)) return { raw, bytes: raw, gzipped: false };
  try {
    return { raw, bytes: gunzipSync(raw), gzipped: true };
  } catch (e) {
    throw new DatasetError('BAD_GZIP', `${path}: gzip data does not decompress (${(e as Error).message}); the download may be incomplete`);
  }
}
