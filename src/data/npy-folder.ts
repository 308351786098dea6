// A dataset of the user's own, as NumPy files in one folder (what `np.save` writes from any image
// pipeline):
//   train_images.npy  [N, H, W] (grayscale), [N, C, H, W] or [N, H, W, C] (C = 1, 3 or 4; when
//                     both dim 1 and dim 3 could be channels, channels-first is assumed)
//   train_labels.npy  [N] integer class indices
//   test_images.npy, test_labels.npy  the same for the test split
// Images are uint8 (0..255), or float32/float64 in [0, 1], which are stored as 8-bit like every
// other dataset here (rounded to the nearest k/255). Channels-last arrays are transposed to CHW on
// load. The class count is the largest label + 1 unless `classes` says more; without `classes`,
// every class below the largest label must have images (a stray label of 12 or 255 would
// otherwise make a 13- or 256-class model). Empty splits and images under 2x2 are refused.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, type NpyData } from '../util/npy.js';
import { checkDataset, type Dataset, type ImageShape } from './dataset.js';
import { DatasetError } from './errors.js';

export const NPY_FILES = { trainImages: 'train_images.npy', trainLabels: 'train_labels.npy', testImages: 'test_images.npy', testLabels: 'test_labels.npy' } as const;

/** Labels are stored as bytes, like every dataset here. */
const MAX_CLASSES = 256;

function read(dir: string, file: string): { data: NpyData; shape: number[] } {
  const path = join(dir, file);
  if (!existsSync(path)) throw new DatasetError('NOT_FOUND', `npy dataset: ${path} is missing (the folder needs ${Object.values(NPY_FILES).join(', ')})`);
  try {
    return readNpy(path);
  } catch (e) {
    throw new DatasetError('BAD_MAGIC', `npy dataset: ${path}: ${(e as Error).message}`);
  }
}

/** [N, C, H, W] uint8 pixels from an image array of any accepted layout and dtype. */
function toChwBytes(a: { data: NpyData; shape: number[] }, file: string): { pixels: Uint8Array; n: number; shape: ImageShape } {
  const s = a.shape;
  let n: number, c: number, h: number, w: number, channelsLast = false;
  if (s.length === 3) [n, h, w, c] = [s[0], s[1], s[2], 1];
  else if (s.length === 4 && [1, 3, 4].includes(s[1])) [n, c, h, w] = s;
  else if (s.length === 4 && [1, 3, 4].includes(s[3])) { [n, h, w, c] = s; channelsLast = true; }
  else throw new DatasetError('MISMATCH', `npy dataset: ${file} has shape [${s.join(', ')}]; expected [N, H, W], [N, C, H, W] or [N, H, W, C] with C = 1, 3 or 4`);
  const data = a.data;
  let bytes: Uint8Array;
  if (data instanceof Uint8Array) bytes = data;
  else if (data instanceof Float32Array || data instanceof Float64Array) {
    bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (!(v >= 0 && v <= 1)) throw new DatasetError('MISMATCH', `npy dataset: ${file} holds ${v} at flat index ${i}; float images must be in [0, 1] (or save uint8 0..255)`);
      bytes[i] = Math.round(v * 255);
    }
  } else throw new DatasetError('MISMATCH', `npy dataset: ${file} holds integers of another kind; images must be uint8, float32 or float64`);
  if (!channelsLast || c === 1) return { pixels: bytes, n, shape: [c, h, w] };
  const out = new Uint8Array(bytes.length);
  const hw = h * w;
  for (let i = 0; i < n; i++) {
    const base = i * c * hw;
    for (let p = 0; p < hw; p++) for (let k = 0; k < c; k++) out[base + k * hw + p] = bytes[base + p * c + k];
  }
  return { pixels: out, n, shape: [c, h, w] };
}

function toLabels(a: { data: NpyData; shape: number[] }, file: string): number[] {
  if (a.shape.length !== 1) throw new DatasetError('MISMATCH', `npy dataset: ${file} has shape [${a.shape.join(', ')}]; labels must be [N]`);
  if (a.data instanceof Float32Array || a.data instanceof Float64Array) throw new DatasetError('BAD_LABEL', `npy dataset: ${file} holds floats; labels must be integer class indices (int64, int32 or uint8)`);
  const out = Array.from(a.data as ArrayLike<number | bigint>, (v) => Number(v));
  const bad = out.findIndex((v) => !(Number.isInteger(v) && v >= 0 && v < MAX_CLASSES));
  if (bad >= 0) throw new DatasetError('BAD_LABEL', `npy dataset: ${file}: label ${out[bad]} at index ${bad} is not a class index in [0, ${MAX_CLASSES})`);
  return out;
}

/** Without a declared class count, every class in [0, maxLabel] must have images (train or test). */
function checkDense(labels: number[], maxLabel: number): void {
  const seen = new Uint8Array(maxLabel + 1);
  for (const l of labels) seen[l] = 1;
  const missing = [...seen.keys()].filter((k) => !seen[k]);
  if (!missing.length) return;
  const list = missing.length > 8 ? `${missing.slice(0, 8).join(', ')}, ... (${missing.length})` : missing.join(', ');
  throw new DatasetError('BAD_LABEL', `npy dataset: the largest label is ${maxLabel}, so there would be ${maxLabel + 1} classes, but classes ${list} have no images. ` +
    `Relabel to consecutive classes, or declare the count (dataset.classes=${maxLabel + 1}) if those classes are meant to be empty`);
}

/** Loads train and test splits from a folder of .npy files (see the file header). */
export function loadNpyFolder(dir: string, opts: { classes?: number; name?: string } = {}): { train: Dataset; test: Dataset } {
  const name = opts.name ?? 'npy';
  if (!existsSync(dir)) throw new DatasetError('NOT_FOUND', `npy dataset: folder ${dir} does not exist`);
  const split = (images: string, labels: string) => ({ ...toChwBytes(read(dir, images), images), labels: toLabels(read(dir, labels), labels), images, labelFile: labels });
  const tr = split(NPY_FILES.trainImages, NPY_FILES.trainLabels);
  const te = split(NPY_FILES.testImages, NPY_FILES.testLabels);
  if (tr.shape.join() !== te.shape.join()) throw new DatasetError('MISMATCH', `npy dataset: train images are ${tr.shape.join('x')} but test images are ${te.shape.join('x')}`);
  for (const p of [tr, te]) if (p.n === 0) throw new DatasetError('MISMATCH', `npy dataset: ${p.images} holds 0 images; both splits need images`);
  if (tr.shape[1] < 2 || tr.shape[2] < 2) throw new DatasetError('MISMATCH', `npy dataset: the images are ${tr.shape[1]}x${tr.shape[2]} pixels; at least 2x2 are needed`);
  const maxLabel = [...tr.labels, ...te.labels].reduce((m, v) => (v > m ? v : m), 0);
  if (opts.classes === undefined) checkDense([...tr.labels, ...te.labels], maxLabel);
  const classes = opts.classes ?? maxLabel + 1;
  if (maxLabel >= classes) throw new DatasetError('BAD_LABEL', `npy dataset: label ${maxLabel} is outside the ${classes} classes given`);
  if (!(Number.isInteger(classes) && classes >= 2 && classes <= MAX_CLASSES)) throw new DatasetError('BAD_ARGUMENT', `npy dataset: ${classes} classes; between 2 and ${MAX_CLASSES} are supported`);
  const make = (p: typeof tr, split: string): Dataset => {
    if (p.labels.length !== p.n) throw new DatasetError('MISMATCH', `npy dataset: ${p.images} has ${p.n} images but ${p.labelFile} has ${p.labels.length} labels`);
    const ds: Dataset = { name: `${name}/${split}`, images: p.pixels, labels: Uint8Array.from(p.labels), n: p.n, shape: p.shape, classes };
    checkDataset(ds);
    return ds;
  };
  return { train: make(tr, 'train'), test: make(te, 'test') };
}
