// CIFAR-10 and CIFAR-100 in their standard binary formats, from a folder the user names (no
// registry here carries them). Records are fixed-size: CIFAR-10 = 1 label byte + 3072 pixel bytes
// (1024 R, 1024 G, 1024 B, each row-major 32x32), CIFAR-100 = coarse label byte + fine label byte +
// 3072. The pixel part is already CHW, so it is copied as is.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from './dataset.js';
import { DatasetError } from './errors.js';

export const CIFAR_IMAGE_BYTES = 3 * 32 * 32;
export const CIFAR10_RECORD = 1 + CIFAR_IMAGE_BYTES;
export const CIFAR100_RECORD = 2 + CIFAR_IMAGE_BYTES;
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] as const;
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR100_TRAIN_FILE = 'train.bin';
export const CIFAR100_TEST_FILE = 'test.bin';
export const CIFAR10_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

export interface CifarDataset extends Dataset {
  /** CIFAR-100 only: the 20 superclass labels. */
  coarseLabels?: Uint8Array;
}

export interface CifarRecordFormat {
  /** Bytes of labels before the pixels (1 for CIFAR-10, 2 for CIFAR-100). */
  labelBytes: number;
  /** Which of the label bytes is the label used (CIFAR-100: 1, the fine label). */
  labelIndex: number;
  classes: number;
  /** CIFAR-100: the byte at this index is kept as the coarse label, checked against coarseClasses. */
  coarseIndex?: number;
  coarseClasses?: number;
}

export const CIFAR10_FORMAT: CifarRecordFormat = { labelBytes: 1, labelIndex: 0, classes: 10 };
export const CIFAR100_FORMAT: CifarRecordFormat = { labelBytes: 2, labelIndex: 1, classes: 100, coarseIndex: 0, coarseClasses: 20 };

/**
 * Decodes CIFAR record files into one dataset (records in file order). Errors name the file: a
 * missing or empty file, a size that is not a whole number of records, a label out of range.
 */
export function decodeCifarFiles(paths: readonly string[], fmt: CifarRecordFormat, name: string): CifarDataset {
  const record = fmt.labelBytes + CIFAR_IMAGE_BYTES;
  const bufs: Uint8Array[] = [];
  let n = 0;
  for (const p of paths) {
    let b: Uint8Array;
    try {
      b = readFileSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new DatasetError('NOT_FOUND', `${name}: cannot read ${p} (${code ?? String(e)})`);
    }
    if (b.length === 0) throw new DatasetError('BAD_SIZE', `${name}: ${p} is empty`);
    if (b.length % record !== 0) {
      const whole = Math.floor(b.length / record);
      throw new DatasetError('BAD_SIZE', `${name}: ${p} has ${b.length} bytes, not a multiple of the ${record}-byte record ` +
        `(${whole} whole records + ${b.length - whole * record} bytes); the file is truncated or not in the ${fmt.labelBytes === 1 ? 'CIFAR-10' : 'CIFAR-100'} binary format`);
    }
    bufs.push(b);
    n += b.length / record;
  }
  const images = new Uint8Array(n * CIFAR_IMAGE_BYTES);
  const labels = new Uint8Array(n);
  const coarse = fmt.coarseIndex !== undefined ? new Uint8Array(n) : undefined;
  let i = 0;
  bufs.forEach((b, fi) => {
    const m = b.length / record;
    for (let r = 0; r < m; r++, i++) {
      const off = r * record;
      const label = b[off + fmt.labelIndex];
      if (label >= fmt.classes) {
        throw new DatasetError('BAD_LABEL', `${name}: ${paths[fi]} record ${r}: label ${label} is outside [0, ${fmt.classes})`);
      }
      labels[i] = label;
      if (coarse && fmt.coarseIndex !== undefined) {
        const c = b[off + fmt.coarseIndex];
        if (c >= (fmt.coarseClasses ?? 256)) {
          throw new DatasetError('BAD_LABEL', `${name}: ${paths[fi]} record ${r}: coarse label ${c} is outside [0, ${fmt.coarseClasses})`);
        }
        coarse[i] = c;
      }
      images.set(b.subarray(off + fmt.labelBytes, off + record), i * CIFAR_IMAGE_BYTES);
    }
  });
  const ds: CifarDataset = { name, images, labels, n, shape: [3, 32, 32], classes: fmt.classes };
  if (coarse) ds.coarseLabels = coarse;
  return ds;
}

/** `dir`, or the archive's own subfolder inside it when the user named the folder they extracted into. */
function resolveDir(dir: string, sub: string, marker: string): string {
  if (existsSync(join(dir, marker))) return dir;
  if (existsSync(join(dir, sub, marker))) return join(dir, sub);
  return dir;
}

function requireFiles(dir: string, files: readonly string[], what: string, layout: string): void {
  if (!existsSync(dir)) {
    throw new DatasetError('NOT_FOUND', `${what}: folder ${dir} does not exist; ${layout}`);
  }
  const missing = files.filter((f) => !existsSync(join(dir, f)));
  if (missing.length) {
    let present = '';
    try { present = readdirSync(dir).slice(0, 12).join(', '); } catch { /* unreadable */ }
    throw new DatasetError('NOT_FOUND', `${what}: missing ${missing.map((f) => join(dir, f)).join(', ')}; ${layout}` +
      (present ? ` (the folder holds: ${present})` : ' (the folder is empty)'));
  }
}

const CIFAR10_LAYOUT = 'expected the CIFAR-10 binary version (cifar-10-binary.tar.gz, extracted): data_batch_1.bin .. data_batch_5.bin and test_batch.bin, in the folder or its cifar-10-batches-bin/ subfolder';
const CIFAR100_LAYOUT = 'expected the CIFAR-100 binary version (cifar-100-binary.tar.gz, extracted): train.bin and test.bin, in the folder or its cifar-100-binary/ subfolder';

/** CIFAR-10 from `dir` (or `dir/cifar-10-batches-bin`). */
export function loadCifar10(dir: string): { train: CifarDataset; test: CifarDataset } {
  const d = resolveDir(dir, 'cifar-10-batches-bin', CIFAR10_TEST_FILE);
  requireFiles(d, [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE], 'CIFAR-10', CIFAR10_LAYOUT);
  const train = decodeCifarFiles(CIFAR10_TRAIN_FILES.map((f) => join(d, f)), CIFAR10_FORMAT, 'cifar10/train');
  const test = decodeCifarFiles([join(d, CIFAR10_TEST_FILE)], CIFAR10_FORMAT, 'cifar10/test');
  train.classNames = test.classNames = CIFAR10_CLASS_NAMES;
  return { train, test };
}

/** CIFAR-100 (fine labels) from `dir` (or `dir/cifar-100-binary`). */
export function loadCifar100(dir: string): { train: CifarDataset; test: CifarDataset } {
  const d = resolveDir(dir, 'cifar-100-binary', CIFAR100_TEST_FILE);
  requireFiles(d, [CIFAR100_TRAIN_FILE, CIFAR100_TEST_FILE], 'CIFAR-100', CIFAR100_LAYOUT);
  const train = decodeCifarFiles([join(d, CIFAR100_TRAIN_FILE)], CIFAR100_FORMAT, 'cifar100/train');
  const test = decodeCifarFiles([join(d, CIFAR100_TEST_FILE)], CIFAR100_FORMAT, 'cifar100/test');
  const namesFile = join(d, 'fine_label_names.txt');
  if (existsSync(namesFile)) {
    const names = readFileSync(namesFile, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
    if (names.length === 100) train.classNames = test.classNames = names;
  }
  return { train, test };
}
