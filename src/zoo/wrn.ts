// WideResNet-34-10 as in the TRADES / Madry robustness code (wideresnet.py): pre-activation
// blocks, stem conv3x3 3->16, three groups of (34 - 4) / 6 = 5 blocks of widths 16*10/32*10/64*10
// with strides 1/2/2, 1x1 conv shortcut (no bias, no BN) when in != out, final BN-ReLU, global
// average pooling and a linear head. 46,160,474 trainable parameters for 10 classes.
// Parameter names follow that module's state_dict (`block1.layer.0.convShortcut.weight`, `bn1`,
// `fc`). Its unused `sub_block1` is not built (it is never called in forward, and is not counted
// in 46,160,474). Dropout (dropRate 0 there) is omitted.
import type { Model } from '../onnx/ir.js';
import { LayerBuilder, resolveBuildOptions, zooMetadata } from './layers.js';
import { CIFAR_DEFAULTS } from './resnet.js';

export interface WideResNetOptions { seed?: number; classes?: number; inputShape?: readonly number[]; depth?: number; widen?: number }

/**
 * TRADES BasicBlock: when in == out, y = x + conv2(relu(bn2(conv1(relu(bn1(x))))));
 * otherwise the pre-activated input a = relu(bn1(x)) feeds both conv1 and the 1x1 shortcut.
 */
function wideBlock(L: LayerBuilder, x: string, name: string, outPlanes: number, stride: number): string {
  const inPlanes = L.dim(x, 1, name);
  const equalInOut = inPlanes === outPlanes;
  const act = L.relu(L.batchNorm2d(x, `${name}.bn1`), `${name}.relu1`);
  let out = L.conv2d(act, `${name}.conv1`, outPlanes, { kernel: 3, stride, padding: 1, bias: false });
  out = L.relu(L.batchNorm2d(out, `${name}.bn2`), `${name}.relu2`);
  out = L.conv2d(out, `${name}.conv2`, outPlanes, { kernel: 3, stride: 1, padding: 1, bias: false });
  const shortcut = equalInOut ? x : L.conv2d(act, `${name}.convShortcut`, outPlanes, { kernel: 1, stride, padding: 0, bias: false });
  return L.add(shortcut, out, `${name}.add`);
}

export function buildWideResNet(opts: WideResNetOptions = {}): Model {
  const depth = opts.depth ?? 34;
  const widen = opts.widen ?? 10;
  const model = `wrn-${depth}-${widen}`;
  if (!Number.isInteger(depth) || (depth - 4) % 6 !== 0 || depth < 10) throw new Error(`${model}: depth must be 6n + 4 (n >= 1), got ${depth}`);
  if (!Number.isInteger(widen) || widen < 1) throw new Error(`${model}: widen must be a positive integer, got ${widen}`);
  const n = (depth - 4) / 6;
  const o = resolveBuildOptions(model, CIFAR_DEFAULTS, opts);
  const L = new LayerBuilder({ name: model, seed: o.seed });
  const widths = [16, 16 * widen, 32 * widen, 64 * widen];
  let x = L.input(o.inputShape);
  x = L.conv2d(x, 'conv1', widths[0], { kernel: 3, stride: 1, padding: 1, bias: false });
  [1, 2, 2].forEach((stride, g) => {
    for (let i = 0; i < n; i++) x = wideBlock(L, x, `block${g + 1}.layer.${i}`, widths[g + 1], i === 0 ? stride : 1);
  });
  x = L.relu(L.batchNorm2d(x, 'bn1'), 'relu');
  x = L.flatten(L.globalAvgPool(x));
  const logits = L.linear(x, 'fc', o.classes, { output: 'logits' });
  const meta = zooMetadata(model, o);
  return L.finish(logits, meta);
}

/** WRN-34-10 (the zoo entry). */
export const buildWrn34x10 = (opts: { seed?: number; classes?: number; inputShape?: readonly number[] } = {}): Model =>
  buildWideResNet({ ...opts, depth: 34, widen: 10 });
