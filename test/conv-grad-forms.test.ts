// Conv's gradient formulations, today's (input gradient as a Conv of dY; weight gradient with the
// batch folded into the MatMul on deep layers, its columns a few input channels at a time where
// they are large; MaxPool's backward without Indices where its windows tile the input) and the
// earlier ones (ConvTranspose; per-image products summed over the batch; all columns at once;
// Indices and a scatter), give the same train step, attack and input gradient on a fixed
// batch, to float32 rounding: SmallCNN (stride 1, unpadded) and PreAct ResNet-18 (padded, stride-2
// 3x3 and 1x1, up to 512 channels on 4x4).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildArtifacts, initialState } from '../src/artifacts/build.js';
import { artifactKey, writeArtifacts } from '../src/artifacts/store.js';
import { buildGradientGraph, IO } from '../src/attacks/model.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { buildZooModel, ZOO } from '../src/zoo/index.js';
import { Rng } from '../src/util/rng.js';

/** dX's form; the earliest ('convtranspose') goes with the earlier dW and MaxPool forms, the others with today's. */
type Form = 'auto' | 'conv' | 'convtranspose';

/** Largest |a - b| relative to the largest |a|. */
function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(a[i])); }
  return d / s;
}

async function runForm(zoo: string, batch: number, form: Form) {
  const now = form !== 'convtranspose';
  const forms = { convInput: form, convWeightFold: now ? 'auto' : 'per-image', convWeightCols: now ? 'chunked' : 'whole' } as const;
  const model = buildZooModel(zoo, { seed: 5 });
  const maxPoolGrad = now ? 'tiled' : 'indices';
  const built = buildArtifacts(model, { optimizer: 'sgd', pgdSteps: 2, convInputGrad: forms.convInput, convWeightFold: forms.convWeightFold, convWeightCols: forms.convWeightCols, maxPoolGrad });
  const ops = built.models.attack.graph.nodes.map((n) => n.opType);
  const dir = mkdtempSync(join(tmpdir(), 'forms-'));
  writeArtifacts(built, dir);
  const rt = await ArtifactRuntime.open(dir, { threads: 1 });
  const rng = new Rng(17);
  const dims = [batch, ...ZOO[zoo].inputShape];
  const n = dims.reduce((a, v) => a * v, 1);
  const x = new ort.Tensor('float32', rng.fillUniform(new Float32Array(n), 0, 1), dims);
  const y = new ort.Tensor('int64', BigInt64Array.from({ length: batch }, () => BigInt(rng.int(10))), [batch]);
  const noise = new ort.Tensor('float32', rng.fillUniform(new Float32Array(n), -1, 1), dims);
  const w = ArtifactRuntime.weightsFrom(initialState(model).values());
  const step = await rt.trainStep({ weights: w, slots: rt.initialSlots() }, x, y, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const xAdv = (await rt.attack(w, x, y, noise, 8 / 255, 2 / 255)).data as Float32Array;
  await rt.release();
  const grad = await createSession(buildGradientGraph(model, [...ZOO[zoo].inputShape], 'ce', 'nchw', maxPoolGrad, forms), { threads: 1 });
  const g = (await grad.run({ [IO.x]: x, [IO.y]: y }))[IO.grad].data as Float32Array;
  await grad.release();
  const weights = Object.fromEntries(Object.entries(step.state.weights).map(([k, t]) => [k, t.data as Float32Array]));
  return { ops, weights, loss: step.loss, xAdv, grad: g };
}

describe('Conv gradients: the current forms against the earlier ones', () => {
  for (const [zoo, batch] of [['smallcnn', 6], ['preactresnet18', 2]] as const) {
    it(`${zoo}: same train step, attack and input gradient to float32 rounding`, async () => {
      const old = await runForm(zoo, batch, 'convtranspose');
      const forms = { conv: await runForm(zoo, batch, 'conv'), auto: await runForm(zoo, batch, 'auto') };
      const transposes = (ops: string[]) => ops.filter((o) => o === 'ConvTranspose').length;
      // PreAct ResNet-18's 1x1 stride-2 shortcuts (3 per attack step) keep ConvTranspose; 'auto'
      // keeps it for SmallCNN's unpadded layers (4 per attack step).
      expect([transposes(old.ops), transposes(forms.conv.ops), transposes(forms.auto.ops)]).toEqual(zoo === 'smallcnn' ? [8, 0, 8] : [2 * 20, 2 * 3, 2 * 3]);
      for (const now of Object.values(forms)) compare(old, now);
    }, 300_000);
  }
  function compare(old: Awaited<ReturnType<typeof runForm>>, now: Awaited<ReturnType<typeof runForm>>): void {
    expect(now.loss).toBe(old.loss); // the forward pass is the same graph
    for (const k of Object.keys(old.weights)) expect(relDiff(old.weights[k], now.weights[k]), k).toBeLessThan(1e-5);
    expect(relDiff(old.grad, now.grad)).toBeLessThan(1e-5);
    // The attack steps by sign(gradient): a rounding-level difference may flip the sign of a
    // near-zero component, moving that pixel by 2 step sizes; nowhere else may they differ.
    let flipped = 0;
    for (let i = 0; i < old.xAdv.length; i++) if (Math.abs(old.xAdv[i] - now.xAdv[i]) > 1e-6) flipped++;
    expect(flipped / old.xAdv.length).toBeLessThan(1e-3);
  }

  it('the forms are artifact options: each gives its own cache key, the defaults the key of no options', () => {
    const model = buildZooModel('smallcnn', { seed: 5 });
    const keys = [{}, { convInputGrad: 'auto' }, { convInputGrad: 'convtranspose' }, { convInputGrad: 'conv' }, { convWeightFold: 'per-image' }, { convWeightGrad: 'batched' }, { convWeightCols: 'whole' }, { maxPoolGrad: 'indices' }]
      .map((o) => artifactKey(model, o as Parameters<typeof artifactKey>[1]));
    expect(keys[1]).toBe(keys[0]);
    expect(new Set([keys[0], ...keys.slice(2)]).size).toBe(7);
  });
});
