// The memory the artifacts ask for, by static liveness in file order (src/onnx/liveness.ts): the
// train step's peak of live intermediates, and no forward activation held only for a Shape node of
// the backward pass. Issue 11 measured, at the bench's batch sizes: SmallCNN (batch 128) 81 MiB with
// all weight-gradient columns at once, 63 chunked; PreAct ResNet-18 (batch 32) 384 MiB before, 260
// with shapes read from the graph input, 239 with the deep layers' (batch-folded) columns chunked
// too. Conv's dW before its dX where dW is the smaller result (autodiff/rules/conv.ts): SmallCNN 52.6.
// BatchNormalization's backward reading x - mu only (its variance through a surrogate of the same
// value, artifacts/batchnorm-train.ts) instead of the shifted d too: PreAct 238.6 -> 174.6. (One
// centred tensor in the forward values instead had moved trained MobileNetV2's and ShuffleNetV2's
// gradients away from torch's: the forward keeps its two-pass values.)
import { describe, expect, it } from 'vitest';
import { buildArtifacts } from '../src/artifacts/build.js';
import { staticLiveness } from '../src/onnx/liveness.js';
import { buildZooModel } from '../src/zoo/index.js';

const MiB = 2 ** 20;

describe('static memory of the artifacts', () => {
  for (const [zoo, batch, bound] of [['smallcnn', 128, 58], ['preactresnet18', 32, 180]] as const) {
    it(`${zoo}, batch ${batch}: the train step's peak stays under ${bound} MiB, and nothing is held only for a Shape`, () => {
      const built = buildArtifacts(buildZooModel(zoo, { seed: 0 }), { pgdSteps: 2 });
      const step = staticLiveness(built.models.train_step, batch);
      expect(step.unknown).toBe(0);
      expect(step.peak / MiB).toBeLessThan(bound);
      expect(step.heldForShape).toBe(0);
      const attack = staticLiveness(built.models.attack, batch);
      expect(attack.heldForShape).toBe(0);
      // Every Shape node of the backward pass reads a graph input (its symbolic batch), never an activation.
      const inputs = new Set(built.models.train_step.graph.inputs.map((i) => i.name));
      const shapes = built.models.train_step.graph.nodes.filter((n) => n.opType === 'Shape' || n.opType === 'Size');
      expect(shapes.length).toBeGreaterThan(0);
      for (const n of shapes) expect(inputs.has(n.inputs[0]), `${n.name} reads ${n.inputs[0]}`).toBe(true);
    }, 120_000);
  }

  it('the weight-gradient columns taken at once need more than the chunked form (SmallCNN, batch 128)', () => {
    const model = buildZooModel('smallcnn', { seed: 0 });
    const peak = (cols: 'chunked' | 'whole') => staticLiveness(buildArtifacts(model, { pgdSteps: 1, convWeightCols: cols }).models.train_step, 128).peak / MiB;
    const [chunked, whole] = [peak('chunked'), peak('whole')];
    expect(whole - chunked).toBeGreaterThan(15);
  });
});
