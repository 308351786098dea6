// Mini-batches: seeded shuffling, uint8 -> float32 conversion, and the CIFAR augmentation (random
// 32x32 crop of the image zero-padded by 4, random horizontal flip), all driven by one Rng so a
// run is reproducible from the Rng's state. The shuffle happens when the iterator is created; the
// augmentation draws happen when each batch is produced (3 draws per image, in image order: crop
// x offset, crop y offset, flip), so interleaving other uses of the same Rng (attack noise)
// between batches is deterministic too. Pass a dedicated data Rng to keep the data stream
// independent of the training method.
import type { Rng } from '../util/rng.js';
import { imageSize, type Dataset, type DatasetName } from './dataset.js';
import { DatasetError } from './errors.js';

export interface Augment {
  /** Zero padding on each side before a random crop back to H x W; 0 = no crop. */
  pad: number;
  /** Random horizontal flip with probability 1/2. */
  flip: boolean;
}

export const NO_AUGMENT: Readonly<Augment> = Object.freeze({ pad: 0, flip: false });
export const CIFAR_AUGMENT: Readonly<Augment> = Object.freeze({ pad: 4, flip: true });

/** The standard training augmentation of a dataset: crop+flip for CIFAR, none for the MNISTs. */
export const defaultAugment = (name: DatasetName): Augment =>
  name === 'cifar10' || name === 'cifar100' ? { ...CIFAR_AUGMENT } : { ...NO_AUGMENT };

export const isAugmenting = (a: Augment | undefined): boolean => !!a && (a.pad > 0 || a.flip);

export interface Batch {
  /** size * C * H * W floats in [0, 1]. */
  x: Float32Array;
  /** Labels as int64, what ORT's cross-entropy graphs take. */
  y: BigInt64Array;
  /** The same labels as bytes (accuracy counting). */
  labels: Uint8Array;
  /** Dataset indices of the batch's images, in batch order. */
  indices: Uint32Array;
  size: number;
  /** [size, C, H, W]. */
  dims: [number, number, number, number];
}

export interface BatchOptions {
  batchSize: number;
  /** Needed when shuffling or augmenting. */
  rng?: Rng;
  /** Shuffle the indices with `rng` when the iterator is created (default: true when rng is given). */
  shuffle?: boolean;
  augment?: Augment;
  /** Drop the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /**
   * Start at this batch (resuming mid-epoch). The skipped batches' augmentation draws are still
   * taken from the Rng, so batch k comes out the same as in an uninterrupted epoch.
   */
  startBatch?: number;
}

/** Byte value -> float in [0, 1]. */
const TO_FLOAT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

export class BatchIterator implements IterableIterator<Batch> {
  readonly numBatches: number;
  /** The epoch's visiting order (dataset indices), after shuffling. */
  readonly order: Uint32Array;
  readonly batchSize: number;
  private pos: number;
  private readonly augment: Augment;
  private readonly rng: Rng | undefined;

  constructor(readonly dataset: Dataset, indices: ArrayLike<number> | null, opts: BatchOptions) {
    const B = opts.batchSize;
    if (!Number.isInteger(B) || B < 1) throw new DatasetError('BAD_ARGUMENT', `batchSize must be a positive integer, got ${B}`);
    this.batchSize = B;
    this.augment = opts.augment ?? NO_AUGMENT;
    if (!Number.isInteger(this.augment.pad) || this.augment.pad < 0) {
      throw new DatasetError('BAD_ARGUMENT', `augment.pad must be a non-negative integer, got ${this.augment.pad}`);
    }
    const shuffle = opts.shuffle ?? opts.rng !== undefined;
    if ((shuffle || isAugmenting(this.augment)) && !opts.rng) {
      throw new DatasetError('BAD_ARGUMENT', 'shuffling or augmenting batches needs an rng');
    }
    this.rng = opts.rng;
    const order = indices === null ? new Uint32Array(dataset.n) : Uint32Array.from(indices);
    if (indices === null) for (let i = 0; i < order.length; i++) order[i] = i;
    else {
      for (let i = 0; i < order.length; i++) {
        const j = indices[i];
        if (!Number.isInteger(j) || j < 0 || j >= dataset.n) {
          throw new DatasetError('BAD_ARGUMENT', `${dataset.name}: batch index ${j} is outside [0, ${dataset.n})`);
        }
      }
    }
    if (shuffle) opts.rng!.shuffle(order);
    this.order = order;
    this.numBatches = opts.dropLast ? Math.floor(order.length / B) : Math.ceil(order.length / B);
    const start = opts.startBatch ?? 0;
    if (!Number.isInteger(start) || start < 0 || start > this.numBatches) {
      throw new DatasetError('BAD_ARGUMENT', `startBatch ${start} is outside [0, ${this.numBatches}]`);
    }
    this.pos = 0;
    for (; this.pos < start; this.pos++) this.drawAugment(this.batchLength(this.pos), null);
  }

  private batchLength(k: number): number { return Math.min(this.batchSize, this.order.length - k * this.batchSize); }

  /** Index of the next batch to come out (0-based). */
  get position(): number { return this.pos; }

  /** The Rng draws of one batch: [dx, dy, flip] per image, written to `out` when given. */
  private drawAugment(size: number, out: Int32Array | null): void {
    const a = this.augment;
    if (!isAugmenting(a)) return;
    const rng = this.rng!;
    const span = 2 * a.pad + 1;
    for (let i = 0; i < size; i++) {
      const dx = a.pad > 0 ? rng.int(span) : a.pad;
      const dy = a.pad > 0 ? rng.int(span) : a.pad;
      const flip = a.flip ? (rng.next() < 0.5 ? 1 : 0) : 0;
      if (out) { out[3 * i] = dx; out[3 * i + 1] = dy; out[3 * i + 2] = flip; }
    }
  }

  next(): IteratorResult<Batch> {
    if (this.pos >= this.numBatches) return { done: true, value: undefined };
    const k = this.pos++;
    const size = this.batchLength(k);
    const indices = this.order.slice(k * this.batchSize, k * this.batchSize + size);
    let draws: Int32Array | null = null;
    if (isAugmenting(this.augment)) {
      draws = new Int32Array(3 * size);
      this.drawAugment(size, draws);
    }
    return { done: false, value: makeBatch(this.dataset, indices, this.augment, draws) };
  }

  [Symbol.iterator](): BatchIterator { return this; }
}

/** Iterates `dataset` (or the given indices of it) in batches; see BatchOptions. */
export function batches(dataset: Dataset, indices: ArrayLike<number> | null, opts: BatchOptions): BatchIterator {
  return new BatchIterator(dataset, indices, opts);
}

/** Batches in dataset order, no augmentation, last partial batch kept: for evaluation. */
export function evalBatches(dataset: Dataset, batchSize: number, indices: ArrayLike<number> | null = null): BatchIterator {
  return new BatchIterator(dataset, indices, { batchSize, shuffle: false, dropLast: false });
}

/**
 * Builds one batch from dataset indices. `draws` holds [dx, dy, flip] per image (crop offsets in
 * the padded image, 0..2*pad), or null for no augmentation.
 */
export function makeBatch(ds: Dataset, indices: Uint32Array, augment: Augment, draws: Int32Array | null): Batch {
  const [C, H, W] = ds.shape;
  const size = indices.length;
  const S = imageSize(ds);
  const x = new Float32Array(size * S);
  const labels = new Uint8Array(size);
  const y = new BigInt64Array(size);
  const src = ds.images;
  const pad = augment.pad;
  for (let b = 0; b < size; b++) {
    const j = indices[b];
    labels[b] = ds.labels[j];
    y[b] = BigInt(ds.labels[j]);
    const s0 = j * S, o0 = b * S;
    if (!draws) {
      for (let p = 0; p < S; p++) x[o0 + p] = TO_FLOAT[src[s0 + p]];
      continue;
    }
    const ox = draws[3 * b] - pad, oy = draws[3 * b + 1] - pad, flip = draws[3 * b + 2] === 1;
    // Output pixel (i, j) reads input (i + oy, jj + ox), jj = flip ? W-1-j : j; zero outside.
    for (let c = 0; c < C; c++) {
      const sc = s0 + c * H * W, oc = o0 + c * H * W;
      for (let i = 0; i < H; i++) {
        const si = i + oy;
        if (si < 0 || si >= H) continue; // zero row (x starts zeroed)
        const srow = sc + si * W, orow = oc + i * W;
        for (let jx = 0; jx < W; jx++) {
          const sj = (flip ? W - 1 - jx : jx) + ox;
          if (sj >= 0 && sj < W) x[orow + jx] = TO_FLOAT[src[srow + sj]];
        }
      }
    }
  }
  return { x, y, labels, indices, size, dims: [size, C, H, W] };
}
