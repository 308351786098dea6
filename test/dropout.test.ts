// Dropout trains as it does in torch, but deterministically: the train step takes each Dropout
// node's mask as an input, drawn by the trainer's seeded RNG (kept with probability 1 - ratio,
// scaled by 1 / (1 - ratio)); attacks and evaluation run the model in eval mode (the identity).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildArtifacts, initialState } from '../src/artifacts/build.js';
import { writeArtifacts } from '../src/artifacts/store.js';
import { resolveConfig } from '../src/config/index.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { DataType, tensor, type Model } from '../src/onnx/ir.js';
import { saveModelFile } from '../src/onnx/save.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { ort } from '../src/runtime/ort.js';
import { train } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'dropout-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const H = 32, RATIO = 0.3;

/** flatten - fc 784->32 - relu - [Dropout(0.3)] - fc 32->10, the same seeded weights with or without the Dropout. */
function mlp(withDropout: boolean, opset = 13): Model {
  const rng = new Rng(4);
  const b = new GraphBuilder({ name: 'mlp', opset });
  const w = (name: string, dims: number[], bound: number) => b.initializer(name, tensor('', DataType.FLOAT, dims, rng.fillUniform(new Float32Array(dims.reduce((a, d) => a * d, 1)), -bound, bound)));
  const x = b.input('input', DataType.FLOAT, ['N', 1, 28, 28]);
  let h = b.relu(b.add(b.matmul(b.flatten(x, 1), w('fc1.weight', [784, H], 1 / 28)), w('fc1.bias', [H], 1 / 28)));
  if (withDropout) {
    h = opset >= 12
      ? b.op('Dropout', [h, b.constant(tensor('', DataType.FLOAT, [], [RATIO]))])
      : b.op('Dropout', [h], { ratio: RATIO });
  }
  b.output(b.add(b.matmul(h, w('fc2.weight', [H, 10], 1 / Math.sqrt(H))), w('fc2.bias', [10], 1 / Math.sqrt(H))), 'logits');
  return b.build();
}

async function runtime(model: Model): Promise<ArtifactRuntime> {
  const dir = mkdtempSync(join(tmp, 'art-'));
  writeArtifacts(buildArtifacts(model, { optimizer: 'sgd', pgdSteps: 2 }), dir);
  return ArtifactRuntime.open(dir, { threads: 1 });
}

describe('Dropout in training artifacts', () => {
  const n = 8;
  const rng = new Rng(1);
  const x = new ort.Tensor('float32', rng.fillUniform(new Float32Array(n * 784), 0, 1), [n, 1, 28, 28]);
  const y = new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 10)), [n]);
  const hp = { lr: 0.1, weightDecay: 0, momentum: 0 };

  it('the manifest lists one mask per Dropout node (attribute ratio before opset 12, input after); masks have the right statistics', async () => {
    for (const opset of [11, 13]) {
      const m = buildArtifacts(mlp(true, opset)).manifest;
      expect(m.dropout).toHaveLength(1);
      expect(m.dropout[0]).toMatchObject({ ratio: expect.closeTo(RATIO, 6), shape: [H] });
      expect(m.artifacts.train_step.inputs.map((i) => i.name)).toContain(m.dropout[0].name);
      // Eval and attack graphs are in eval mode: no mask input.
      expect(m.artifacts.eval.inputs.map((i) => i.name)).not.toContain(m.dropout[0].name);
      expect(m.artifacts.attack.inputs.map((i) => i.name)).not.toContain(m.dropout[0].name);
    }
    expect(buildArtifacts(mlp(false)).manifest.dropout).toEqual([]);
    const rt = await runtime(mlp(true));
    const masks = Object.values(rt.dropoutMasks(2000, new Rng(3)));
    expect(masks).toHaveLength(1);
    const v = masks[0].data as Float32Array;
    expect(masks[0].dims).toEqual([2000, H]);
    const zeros = v.filter((e) => e === 0).length / v.length;
    expect(zeros).toBeGreaterThan(RATIO - 0.01);
    expect(zeros).toBeLessThan(RATIO + 0.01);
    expect(new Set(v)).toEqual(new Set([0, Math.fround(1 / (1 - RATIO))]));
    await expect(rt.trainStep({ weights: ArtifactRuntime.weightsFrom(initialState(mlp(true)).values()), slots: rt.initialSlots() }, x, y, hp))
      .rejects.toThrow(/needs dropout mask "dropout:fwd\//);
    await rt.release();
  });

  it('no artifact keeps a Constant nothing reads (the ratio of a Dropout made an Identity or a mask; ORT would warn of each on the console)', () => {
    for (const opset of [11, 13]) {
      for (const [k, m] of Object.entries(buildArtifacts(mlp(true, opset), { pgdSteps: 2 }).models)) {
        const read = new Set([...m.graph.nodes.flatMap((n) => n.inputs), ...m.graph.outputs.map((v) => v.name)]);
        for (const n of m.graph.nodes) if (n.opType === 'Constant') expect(read.has(n.outputs[0]), `opset ${opset} ${k}: ${n.outputs[0]}`).toBe(true);
      }
    }
  });

  it('a mask of ones trains exactly like the model without Dropout; units dropped for the whole batch get no gradient', async () => {
    const [withD, without] = [await runtime(mlp(true)), await runtime(mlp(false))];
    const state = () => ({ weights: ArtifactRuntime.weightsFrom(initialState(mlp(false)).values()), slots: withD.initialSlots() });
    const name = withD.manifest.dropout[0].name;
    const ones = new ort.Tensor('float32', new Float32Array(n * H).fill(1), [n, H]);
    const a = await withD.trainStep(state(), x, y, hp, undefined, { [name]: ones });
    const b = await without.trainStep(state(), x, y, hp);
    expect(a.loss).toBe(b.loss);
    for (const k of Object.keys(b.state.weights)) expect(Array.from(a.state.weights[k].data as Float32Array), k).toEqual(Array.from(b.state.weights[k].data as Float32Array));

    // Drop hidden units 0..9 in every example: their outgoing weights (rows of fc2.weight) must not move.
    const mask = new Float32Array(n * H);
    for (let i = 0; i < n; i++) for (let j = 10; j < H; j++) mask[i * H + j] = 2;
    const c = await withD.trainStep(state(), x, y, hp, undefined, { [name]: new ort.Tensor('float32', mask, [n, H]) });
    const before = initialState(mlp(false)).get('fc2.weight')!.data as Float32Array;
    const after = c.state.weights['fc2.weight'].data as Float32Array;
    const moved = (j: number) => Array.from({ length: 10 }, (_, k) => after[j * 10 + k] !== before[j * 10 + k]).some(Boolean);
    for (let j = 0; j < 10; j++) expect(moved(j), `row ${j}`).toBe(false);
    // The kept units move, except any the ReLU zeroes for the whole batch.
    expect(Array.from({ length: H - 10 }, (_, j) => moved(j + 10)).filter(Boolean).length).toBeGreaterThan((H - 10) / 2);
    await withD.release();
    await without.release();
  });

  it('training with Dropout is deterministic per seed, and a resumed run ends with the weights of an uninterrupted one', async () => {
    const file = join(tmp, 'mlp.onnx');
    saveModelFile(mlp(true), file);
    const cfg = (name: string, seed = 0) => resolveConfig({
      preset: 'mnist-smallcnn',
      overrides: {
        name, outDir: join(tmp, name), 'model.source': file, seed: String(seed), threads: '1', epochs: '2', batchSize: '64',
        'dataset.trainSubset': '640', 'dataset.validation': '100', 'dataset.testSubset': '100', 'attack.steps': '2',
        'eval.pgdSteps': '2', 'eval.n': '50', 'eval.finalN': '100', 'generalist.ema.memory': '4', 'generalist.redistribution.period': '3',
      },
    });
    const cacheDir = join(tmp, 'cache');
    const full = await train(cfg('a'), { sink: null, cacheDir });
    const again = await train(cfg('b'), { sink: null, cacheDir });
    const bytes = (w: Record<string, ort.Tensor>) => Object.fromEntries(Object.entries(w).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));
    for (const k of ['G', 'R', 'N']) expect(bytes(again.weights[k]), k).toEqual(bytes(full.weights[k]));
    const other = await train(cfg('c', 1), { sink: null, cacheDir });
    expect(bytes(other.weights.G)).not.toEqual(bytes(full.weights.G));

    const first = await train(cfg('d'), { sink: null, cacheDir, maxIterations: 7 });
    expect(first.interrupted).toBe(true);
    const last = await train(cfg('d'), { sink: null, cacheDir, resume: true });
    for (const k of ['G', 'R', 'N', 'A', 'S']) expect(bytes(last.weights[k]), k).toEqual(bytes(full.weights[k]));
  }, 300_000);
});
