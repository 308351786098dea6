// The in-memory dataset: raw uint8 pixels in N*C*H*W order (CHW per image, the layout the models
// take), converted to float32 in [0,1] one batch at a time (batch.ts). CIFAR-10's 50,000 training
// images are 150 MB as bytes and would be 600 MB as floats.
import { DatasetError } from './errors.js';

/** 'npy': the user's own images and labels as .npy files in a folder (npy-folder.ts). */
export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'cifar100' | 'npy';
export const DATASET_NAMES: readonly DatasetName[] = ['mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'npy'];

export type ImageShape = [channels: number, height: number, width: number];

export interface Dataset {
  /** e.g. 'mnist/train', 'cifar10/validation'. */
  name: string;
  /** n * C * H * W bytes; pixel value v means v / 255. */
  images: Uint8Array;
  /** n labels in [0, classes). */
  labels: Uint8Array;
  n: number;
  shape: ImageShape;
  classes: number;
  classNames?: readonly string[];
}

export const imageSize = (ds: { shape: ImageShape }): number => ds.shape[0] * ds.shape[1] * ds.shape[2];

/** Throws unless the dataset's arrays agree with its n, shape and classes. */
export function checkDataset(ds: Dataset): void {
  const size = imageSize(ds);
  if (ds.images.length !== ds.n * size) {
    throw new DatasetError('MISMATCH', `${ds.name}: ${ds.images.length} pixel bytes for ${ds.n} images of shape ${ds.shape.join('x')} (expected ${ds.n * size})`);
  }
  if (ds.labels.length !== ds.n) throw new DatasetError('MISMATCH', `${ds.name}: ${ds.labels.length} labels for ${ds.n} images`);
  const bad = ds.labels.findIndex((l) => l >= ds.classes);
  if (bad >= 0) throw new DatasetError('BAD_LABEL', `${ds.name}: label ${ds.labels[bad]} at index ${bad} is outside [0, ${ds.classes})`);
}

/** A new dataset holding copies of the given images, in the given order. */
export function selectDataset(ds: Dataset, indices: ArrayLike<number>, name: string): Dataset {
  const size = imageSize(ds);
  const n = indices.length;
  const images = new Uint8Array(n * size);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    if (!(j >= 0 && j < ds.n) || !Number.isInteger(j)) throw new DatasetError('BAD_ARGUMENT', `${ds.name}: index ${j} is outside [0, ${ds.n})`);
    labels[i] = ds.labels[j];
  }
  // Copy runs of consecutive indices at once (a sorted split is mostly long runs).
  for (let i = 0; i < n;) {
    let k = i + 1;
    while (k < n && indices[k] === indices[k - 1] + 1) k++;
    images.set(ds.images.subarray(indices[i] * size, (indices[k - 1] + 1) * size), i * size);
    i = k;
  }
  return { name, images, labels, n, shape: [...ds.shape] as ImageShape, classes: ds.classes, classNames: ds.classNames };
}

/** Counts of each label (length = classes). */
export function labelCounts(ds: Dataset): Uint32Array {
  const c = new Uint32Array(ds.classes);
  for (let i = 0; i < ds.n; i++) c[ds.labels[i]]++;
  return c;
}
