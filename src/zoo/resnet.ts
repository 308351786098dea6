// CIFAR ResNet-18 and PreAct ResNet-18 (the layouts of kuangliu/pytorch-cifar, as used by the
// TRADES / AWP / Generalist code): 3x3 stem without max-pool, BasicBlocks [2, 2, 2, 2] of widths
// 64/128/256/512 with strides 1/2/2/2, global average pooling and a linear head.
// Parameter names follow those modules' state_dict keys (`layer1.0.bn1.running_mean`,
// `layer2.0.shortcut.0.weight`, `linear.weight`).
import type { Model } from '../onnx/ir.js';
import { LayerBuilder, resolveBuildOptions, zooMetadata, type ImageShape } from './layers.js';

export interface ResNetOptions { seed?: number; classes?: number; inputShape?: readonly number[] }

export const CIFAR_DEFAULTS: { inputShape: ImageShape; classes: number } = { inputShape: [3, 32, 32], classes: 10 };

const STAGES: { width: number; stride: number }[] = [
  { width: 64, stride: 1 }, { width: 128, stride: 2 }, { width: 256, stride: 2 }, { width: 512, stride: 2 },
];
const BLOCKS_PER_STAGE = 2;

/** conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus identity or (1x1 conv -> BN) shortcut, then ReLU. */
function basicBlock(L: LayerBuilder, x: string, name: string, planes: number, stride: number): string {
  const inPlanes = L.dim(x, 1, name);
  let out = L.conv2d(x, `${name}.conv1`, planes, { kernel: 3, stride, padding: 1, bias: false });
  out = L.relu(L.batchNorm2d(out, `${name}.bn1`), `${name}.relu1`);
  out = L.conv2d(out, `${name}.conv2`, planes, { kernel: 3, stride: 1, padding: 1, bias: false });
  out = L.batchNorm2d(out, `${name}.bn2`);
  let shortcut = x;
  if (stride !== 1 || inPlanes !== planes) {
    shortcut = L.conv2d(x, `${name}.shortcut.0`, planes, { kernel: 1, stride, bias: false });
    shortcut = L.batchNorm2d(shortcut, `${name}.shortcut.1`);
  }
  return L.relu(L.add(out, shortcut, `${name}.add`), `${name}.relu2`);
}

/**
 * Pre-activation block: BN -> ReLU feeds both the 3x3 conv path and, when the shape changes, the
 * 1x1 conv shortcut (no BN on the shortcut); otherwise the shortcut is the raw input.
 */
function preActBlock(L: LayerBuilder, x: string, name: string, planes: number, stride: number): string {
  const inPlanes = L.dim(x, 1, name);
  const act = L.relu(L.batchNorm2d(x, `${name}.bn1`), `${name}.relu1`);
  let out = L.conv2d(act, `${name}.conv1`, planes, { kernel: 3, stride, padding: 1, bias: false });
  out = L.relu(L.batchNorm2d(out, `${name}.bn2`), `${name}.relu2`);
  out = L.conv2d(out, `${name}.conv2`, planes, { kernel: 3, stride: 1, padding: 1, bias: false });
  let shortcut = x;
  if (stride !== 1 || inPlanes !== planes) shortcut = L.conv2d(act, `${name}.shortcut.0`, planes, { kernel: 1, stride, bias: false });
  return L.add(out, shortcut, `${name}.add`);
}

function buildResNetVariant(model: 'resnet18' | 'preactresnet18', opts: ResNetOptions): Model {
  const preact = model === 'preactresnet18';
  const o = resolveBuildOptions(model, CIFAR_DEFAULTS, opts);
  const L = new LayerBuilder({ name: model, seed: o.seed });
  let x = L.input(o.inputShape);
  x = L.conv2d(x, 'conv1', 64, { kernel: 3, stride: 1, padding: 1, bias: false });
  if (!preact) x = L.relu(L.batchNorm2d(x, 'bn1'), 'relu');
  STAGES.forEach(({ width, stride }, s) => {
    for (let i = 0; i < BLOCKS_PER_STAGE; i++) {
      const block = preact ? preActBlock : basicBlock;
      x = block(L, x, `layer${s + 1}.${i}`, width, i === 0 ? stride : 1);
    }
  });
  if (preact) x = L.relu(L.batchNorm2d(x, 'bn'), 'relu');
  x = L.flatten(L.globalAvgPool(x));
  const logits = L.linear(x, 'linear', o.classes, { output: 'logits' });
  return L.finish(logits, zooMetadata(model, o));
}

/** CIFAR ResNet-18: 11,173,962 trainable parameters for 10 classes. */
export const buildResNet18 = (opts: ResNetOptions = {}): Model => buildResNetVariant('resnet18', opts);
/** CIFAR PreAct ResNet-18 (with the final BN-ReLU): 11,172,170 trainable parameters for 10 classes. */
export const buildPreActResNet18 = (opts: ResNetOptions = {}): Model => buildResNetVariant('preactresnet18', opts);
