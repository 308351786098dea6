// From a config to the data module's options.
import { CIFAR_AUGMENT, NO_AUGMENT, defaultAugment, type Augment } from '../data/batch.js';
import type { LoadDatasetOptions } from '../data/index.js';
import type { Config } from './types.js';

/** loadDataset options of a config (the split is seeded by config.seed). */
export function datasetLoadOptions(c: Config): LoadDatasetOptions {
  return {
    dir: c.dataset.dir || undefined,
    validation: c.dataset.validation,
    seed: c.seed,
    trainSubset: c.dataset.trainSubset,
    testSubset: c.dataset.testSubset,
    verify: c.dataset.verify,
    classes: c.dataset.classes || undefined,
  };
}

/** The training augmentation a config asks for. */
export function trainAugment(c: Config): Augment {
  switch (c.dataset.augment) {
    case 'none': return { ...NO_AUGMENT };
    case 'crop-flip': return { ...CIFAR_AUGMENT };
    default: return defaultAugment(c.dataset.name);
  }
}
