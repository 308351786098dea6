// SmallCNN for MNIST (the TRADES / Generalist MNIST model): four 3x3 convs without padding, two
// max-pools, three fully connected layers. 312,202 parameters at 1x28x28 / 10 classes.
// Parameter names follow the TRADES module layout (`feature_extractor.conv1.weight`,
// `classifier.fc1.weight`); dropout is omitted (inference graph).
import type { Model } from '../onnx/ir.js';
import { LayerBuilder, resolveBuildOptions, zooMetadata, type ImageShape } from './layers.js';

export interface SmallCnnOptions { seed?: number; classes?: number; inputShape?: readonly number[] }

export const SMALLCNN_DEFAULTS: { inputShape: ImageShape; classes: number } = { inputShape: [1, 28, 28], classes: 10 };

export function buildSmallCnn(opts: SmallCnnOptions = {}): Model {
  const o = resolveBuildOptions('smallcnn', SMALLCNN_DEFAULTS, opts);
  const L = new LayerBuilder({ name: 'smallcnn', seed: o.seed });
  let x = L.input(o.inputShape);
  const fe = 'feature_extractor';
  x = L.relu(L.conv2d(x, `${fe}.conv1`, 32, { kernel: 3 }), `${fe}.relu1`);
  x = L.relu(L.conv2d(x, `${fe}.conv2`, 32, { kernel: 3 }), `${fe}.relu2`);
  x = L.maxPool2d(x, 2, 2, `${fe}.maxpool1`);
  x = L.relu(L.conv2d(x, `${fe}.conv3`, 64, { kernel: 3 }), `${fe}.relu3`);
  x = L.relu(L.conv2d(x, `${fe}.conv4`, 64, { kernel: 3 }), `${fe}.relu4`);
  x = L.maxPool2d(x, 2, 2, `${fe}.maxpool2`);
  x = L.flatten(x);
  x = L.relu(L.linear(x, 'classifier.fc1', 200), 'classifier.relu1');
  x = L.relu(L.linear(x, 'classifier.fc2', 200), 'classifier.relu2');
  const logits = L.linear(x, 'classifier.fc3', o.classes, { output: 'logits' });
  return L.finish(logits, zooMetadata('smallcnn', o));
}
