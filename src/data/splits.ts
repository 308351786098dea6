// Held-out validation carved from the training set (for model selection: the test set is never
// used to choose a checkpoint), optional subsets, all seeded and deterministic.
import { Rng } from '../util/rng.js';
import { DatasetError } from './errors.js';

/** The split stream is derived from the seed so it differs from a training Rng made from the same seed. */
export const splitRng = (seed: number): Rng => new Rng(((seed >>> 0) ^ 0x5bd1e995) >>> 0);

/**
 * Resolves a validation size: an integer >= 1 is a count of images, a number in (0, 1) a fraction
 * of the training set, 0 none.
 */
export function validationCount(validation: number, nTrain: number): number {
  if (!(validation >= 0) || !Number.isFinite(validation)) {
    throw new DatasetError('BAD_ARGUMENT', `validation size must be a count >= 0 or a fraction in (0, 1), got ${validation}`);
  }
  const v = validation > 0 && validation < 1 ? Math.round(validation * nTrain) : validation;
  if (!Number.isInteger(v)) {
    throw new DatasetError('BAD_ARGUMENT', `validation size ${validation} is neither a whole count nor a fraction in (0, 1)`);
  }
  if (v >= nTrain) {
    throw new DatasetError('BAD_ARGUMENT', `validation size ${v} leaves no training images (the training set has ${nTrain})`);
  }
  return v;
}

export interface TrainSplit {
  /** Sorted indices into the full training set. */
  train: Uint32Array;
  /** Sorted indices into the full training set; disjoint from train. */
  validation: Uint32Array;
}

/**
 * Splits [0, nTrain) into validation (a seeded random sample of `validation` images) and train
 * (the rest, or a seeded random sample of `trainSubset` of the rest; 0 = all). The validation
 * sample does not depend on trainSubset, so runs on different subsets select models on the same
 * images.
 */
export function splitTrain(nTrain: number, validation: number, seed: number, trainSubset = 0): TrainSplit {
  const v = validationCount(validation, nTrain);
  if (!Number.isInteger(trainSubset) || trainSubset < 0) {
    throw new DatasetError('BAD_ARGUMENT', `train subset size must be a whole number >= 0, got ${trainSubset}`);
  }
  const rest = nTrain - v;
  if (trainSubset > rest) {
    throw new DatasetError('BAD_ARGUMENT', `train subset ${trainSubset} is larger than the ${rest} training images left after a validation split of ${v}`);
  }
  const perm = splitRng(seed).permutation(nTrain);
  const validationIdx = perm.slice(0, v).sort();
  const train = perm.slice(v, v + (trainSubset > 0 ? trainSubset : rest)).sort();
  return { train, validation: validationIdx };
}

/** The first n indices (0 = all) of a test set of size total: the same images for every seed. */
export function testIndices(total: number, n = 0): Uint32Array {
  if (!Number.isInteger(n) || n < 0) throw new DatasetError('BAD_ARGUMENT', `test subset size must be a whole number >= 0, got ${n}`);
  if (n > total) throw new DatasetError('BAD_ARGUMENT', `test subset ${n} is larger than the test set (${total})`);
  const m = n > 0 ? n : total;
  const out = new Uint32Array(m);
  for (let i = 0; i < m; i++) out[i] = i;
  return out;
}
