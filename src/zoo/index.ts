// src/zoo: the model zoo, named ONNX classifier builders with seeded PyTorch-default initial weights.
// Imports src/onnx, src/util and (for parameter counts) src/artifacts.
//
// Every model takes `input` ['N', C, H, W] float32 in [0, 1] and returns `logits` ['N', classes].
import type { Model } from '../onnx/ir.js';
import type { ImageShape } from './layers.js';
import { buildSmallCnn } from './smallcnn.js';
import { buildPreActResNet18, buildResNet18 } from './resnet.js';
import { buildWrn34x10 } from './wrn.js';

export interface ZooBuildOptions {
  /** Seed of the weight initialisation (default 0). */
  seed?: number;
  /** Number of output classes (default: the entry's `classes`). */
  classes?: number;
  /** [C, H, W] of the input image (default: the entry's `inputShape`). */
  inputShape?: readonly number[];
}

export interface ZooEntry {
  name: string;
  description: string;
  /** Default input shape [C, H, W]. */
  inputShape: ImageShape;
  /** Default number of classes. */
  classes: number;
  build(opts?: ZooBuildOptions): Model;
}

/** A CIFAR-shaped entry: [3, 32, 32] images, 10 classes. */
const cifar = (name: string, description: string, build: (opts?: ZooBuildOptions) => Model): ZooEntry => ({ name, description, inputShape: [3, 32, 32], classes: 10, build });

export const ZOO: Record<string, ZooEntry> = Object.fromEntries([
  { name: 'smallcnn', description: 'MNIST SmallCNN (TRADES): 4 conv3x3 + 2 max-pool + 3 FC, 312,202 parameters', inputShape: [1, 28, 28], classes: 10, build: buildSmallCnn },
  cifar('resnet18', 'CIFAR ResNet-18 (3x3 stem, no max-pool, BasicBlocks [2,2,2,2]), 11,173,962 parameters', buildResNet18),
  cifar('preactresnet18', 'CIFAR PreAct ResNet-18 (BN-ReLU-conv blocks, final BN-ReLU), 11,172,170 parameters', buildPreActResNet18),
  cifar('wrn-34-10', 'CIFAR WideResNet-34-10 (TRADES/Madry layout, pre-activation blocks), 46,160,474 parameters', buildWrn34x10),
].map((e): [string, ZooEntry] => [e.name, e as ZooEntry]));

export const zooNames = (): string[] => Object.keys(ZOO);

/** The zoo entry for `name`; throws listing the available names when there is none. */
export function getZooEntry(name: string): ZooEntry {
  const entry = Object.prototype.hasOwnProperty.call(ZOO, name) ? ZOO[name] : undefined;
  if (!entry) throw new Error(`unknown zoo model "${name}"; available: ${zooNames().join(', ')}`);
  return entry;
}

export function buildZooModel(name: string, opts: ZooBuildOptions = {}): Model {
  return getZooEntry(name).build(opts);
}

export { countParameters, trainableParameters } from '../artifacts/params.js';
export { LayerBuilder, INPUT_NAME, OUTPUT_NAME, BN_EPSILON, BN_MOMENTUM, defaultInitBound, type ImageShape } from './layers.js';
export { buildSmallCnn } from './smallcnn.js';
export { buildResNet18, buildPreActResNet18 } from './resnet.js';
export { buildWideResNet, buildWrn34x10 } from './wrn.js';
