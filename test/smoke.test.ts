import { describe, expect, it } from 'vitest';
import { GraphBuilder, f32 } from '../src/onnx/builder.js';
import { DataType } from '../src/onnx/ir.js';
import { loadModel } from '../src/onnx/load.js';
import { saveModel } from '../src/onnx/save.js';
import { f32Tensor, runModel } from '../src/runtime/ort.js';

describe('builder + ORT', () => {
  it('builds a small conv net, infers shapes, runs it, and round-trips', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['N', 1, 8, 8]);
    const w = b.initializer('w', f32([4, 1, 3, 3], new Float32Array(36).fill(0.1)));
    const h = b.relu(b.conv(x, w, undefined, { pads: [1, 1, 1, 1] }));
    const p = b.maxPool(h, { kernel_shape: [2, 2], strides: [2, 2] });
    expect(b.shape(p)).toEqual(['N', 4, 4, 4]);
    const f = b.flatten(p);
    expect(b.shape(f)).toEqual(['N', 64]);
    b.output(f, 'y');
    const model = b.build();
    const bytes = saveModel(model);
    const again = loadModel(bytes);
    expect(saveModel(again)).toEqual(bytes);
    const out = await runModel(bytes, { x: f32Tensor(new Float32Array(2 * 64).fill(1), [2, 1, 8, 8]) });
    expect(out.y.dims).toEqual([2, 64]);
    // Interior pixel: 9 taps of 0.1 * 1.
    expect((out.y.data as Float32Array)[5 * 1]).toBeCloseTo(0.9, 5);
  });
});

describe('the library entry point', () => {
  it('exports what the README lists, as functions and classes', async () => {
    const lib = await import('../src/index.js');
    for (const name of ['loadModelFile', 'GraphBuilder', 'buildGradient', 'buildArtifacts', 'ArtifactRuntime', 'resolveConfig', 'train',
      'evaluateRobustness', 'analyzeModel', 'withInputNormalization', 'loadDataset', 'loadNpyFolder', 'exportInference', 'ensureArtifacts']) {
      expect(typeof (lib as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
