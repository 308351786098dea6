// Reading a path the user named, safely: only a regular file is read (a directory, FIFO, socket or
// device such as /dev/zero is refused before a byte is read, so nothing hangs), and only up to a
// size bound. The file is opened non-blocking and checked with fstat on the open descriptor, so a
// FIFO cannot block the open and a path swapped between check and read is still caught. Node's fs
// only; imports nothing of the project.
import { accessSync, closeSync, constants, fstatSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Why a path could not be read; `kind` lets callers wrap it in their own error type. */
export class FileReadError extends Error {
  constructor(readonly kind: 'missing' | 'not-a-file' | 'too-large' | 'io', message: string) { super(message); this.name = 'FileReadError'; }
}

const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** Opens `path` for reading if it is a regular file of at most `maxBytes`; returns the fd and size. */
export function openRegularFile(path: string, maxBytes: number): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileReadError('missing', `${path} does not exist`);
    if (code === 'EISDIR') throw new FileReadError('not-a-file', `${path} is a directory, not a file`);
    throw new FileReadError('io', `cannot open ${path}: ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new FileReadError('not-a-file', `${path} is a directory, not a file`);
    if (!st.isFile()) throw new FileReadError('not-a-file', `${path} is not a regular file (a device, FIFO or socket)`);
    if (st.size > maxBytes) throw new FileReadError('too-large', `${path} is ${st.size} bytes, over the limit of ${maxBytes}`);
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Reads `length` bytes at `offset` of an open file; throws when the file ends early. */
export function readRange(fd: number, path: string, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    let got: number;
    try {
      got = readSync(fd, buf, done, length - done, offset + done);
    } catch (e) {
      throw new FileReadError('io', `cannot read ${path}: ${(e as Error).message}`);
    }
    if (got <= 0) throw new FileReadError('io', `${path} ended early while reading (changed while read?)`);
    done += got;
  }
  return buf;
}

/** The whole of a regular file of at most `maxBytes`. */
export function readRegularFile(path: string, maxBytes: number): Buffer {
  const { fd, size } = openRegularFile(path, maxBytes);
  try {
    const b = readRange(fd, path, 0, size);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates a folder and its missing parents one level at a time (Node's recursive mkdir loops
 * forever under /proc), and checks that it is a writable directory. Throws an Error naming the
 * path and the problem.
 */
export function ensureWritableDirectory(path: string): void {
  const missing: string[] = [];
  let p = resolve(path);
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`cannot use ${path}: ${p} cannot be read (${code ?? (e as Error).message})`);
      missing.unshift(p);
      const up = dirname(p);
      if (up === p) throw new Error(`cannot use ${path}: no existing parent folder`);
      p = up;
      continue;
    }
    if (!st.isDirectory()) throw new Error(`cannot use ${path}: ${p} is not a folder`);
    break;
  }
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create ${m}: ${(e as Error).message}`);
    }
  }
  try {
    accessSync(resolve(path), constants.W_OK | constants.X_OK);
  } catch {
    throw new Error(`cannot write into ${resolve(path)}: permission denied`);
  }
}
