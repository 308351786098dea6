// A tiny classifier with BatchNorm for 1x28x28 images (conv-BN-ReLU twice, then a linear layer):
// trains in seconds and has running statistics, so tests can check that they travel with weights.
import { LayerBuilder } from '../../src/zoo/index.js';
import type { Model } from '../../src/onnx/ir.js';

export function tinyBnCnn(seed: number): Model {
  const L = new LayerBuilder({ name: 'tiny-bn', seed });
  let x = L.input([1, 28, 28]);
  x = L.relu(L.batchNorm2d(L.conv2d(x, 'conv1', 8, { kernel: 3, stride: 2, bias: false }), 'bn1'), 'relu1');
  x = L.relu(L.batchNorm2d(L.conv2d(x, 'conv2', 16, { kernel: 3, stride: 2, bias: false }), 'bn2'), 'relu2');
  return L.finish(L.linear(L.flatten(x), 'fc', 10, { output: 'logits' }));
}
