import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildArtifacts, initialState } from '../src/artifacts/build.js';
import { ensureArtifacts, writeArtifacts } from '../src/artifacts/store.js';
import { ArtifactRuntime, type ExpertState } from '../src/runtime/artifact-runtime.js';
import { ort } from '../src/runtime/ort.js';
import { buildZooModel } from '../src/zoo/index.js';
import { batches, evalBatches, loadDataset } from '../src/data/index.js';
import { Rng } from '../src/util/rng.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'gen-art-'));

describe('training artifacts (SmallCNN)', () => {
  const model = buildZooModel('smallcnn', { seed: 3 });
  let rt: ArtifactRuntime;
  let x: ort.Tensor;
  let y: ort.Tensor;
  const mnist = loadDataset('mnist', { testSubset: 1000 });
  beforeAll(async () => {
    const { dir } = ensureArtifacts(model, { optimizer: 'sgd', pgdSteps: 10 }, tmp());
    rt = await ArtifactRuntime.open(dir, { threads: 2 });
    const batch = evalBatches(mnist.train, 128).next().value!;
    x = new ort.Tensor('float32', batch.x, batch.dims);
    y = new ort.Tensor('int64', batch.y, [batch.size]);
  });

  it('rebuilds byte-identical files and reuses the cache', () => {
    const a = tmp();
    const b = tmp();
    writeArtifacts(buildArtifacts(model, { pgdSteps: 2 }), a);
    writeArtifacts(buildArtifacts(model, { pgdSteps: 2 }), b);
    for (const f of readdirSync(a)) expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), f).toBe(true);
    const root = tmp();
    expect(ensureArtifacts(model, { pgdSteps: 2 }, root).cached).toBe(false);
    expect(ensureArtifacts(model, { pgdSteps: 2 }, root).cached).toBe(true);
    expect(ensureArtifacts(model, { pgdSteps: 3 }, root).cached).toBe(false);
    // An option passed as undefined is the default, for the build and for the cache key alike.
    expect(ensureArtifacts(model, { pgdSteps: 10, optimizer: undefined }, root).cached).toBe(false);
    expect(ensureArtifacts(model, { pgdSteps: undefined, optimizer: 'sgd' }, root).cached).toBe(true);
  });

  it('the Loop form of the attack gives exactly the unrolled result', async () => {
    const rng = new Rng(9);
    const w = ArtifactRuntime.weightsFrom(initialState(model).values());
    const noise = new ort.Tensor('float32', rng.fillUniform(new Float32Array(x.data.length), -1, 1), x.dims);
    const out: Float32Array[] = [];
    for (const attackForm of ['unrolled', 'loop'] as const) {
      const art = await ArtifactRuntime.open(ensureArtifacts(model, { pgdSteps: 3, attackForm }, tmp()).dir, { threads: 2 });
      out.push((await art.attack(w, x, y, noise, 0.3, 0.1)).data as Float32Array);
      await art.release();
    }
    expect(Buffer.from(out[1].buffer).equals(Buffer.from(out[0].buffer))).toBe(true);
    expect(out[0].some((v, i) => v !== (x.data as Float32Array)[i])).toBe(true);
  });

  it('SGD step matches torch.optim.SGD: buf = m*buf + g + wd*p, p -= lr*buf', async () => {
    const w = ArtifactRuntime.weightsFrom(initialState(model).values());
    const s0: ExpertState = { weights: w, slots: rt.initialSlots() };
    // lr = 0 exposes buf = g + wd*p without moving p.
    const probe = await rt.trainStep(s0, x, y, { lr: 0, momentum: 0.9, weightDecay: 1e-2 });
    const name = rt.manifest.params[0].name;
    const buf1 = probe.state.slots[`momentum_buf:${name}`].data as Float32Array;
    expect(probe.state.weights[name].data).toEqual(w[name].data);
    const lr = 0.05;
    const s1 = (await rt.trainStep(s0, x, y, { lr, momentum: 0.9, weightDecay: 1e-2 })).state;
    const p0 = w[name].data as Float32Array;
    const p1 = s1.weights[name].data as Float32Array;
    for (let i = 0; i < p0.length; i += 37) expect(p1[i]).toBeCloseTo(p0[i] - lr * buf1[i], 6);
    // Second step: buf2 = 0.9*buf1 + g(p1) + wd*p1, where g(p1)+wd*p1 is what an lr=0 probe at p1 with zero buffer returns.
    const probe2 = await rt.trainStep({ weights: s1.weights, slots: rt.initialSlots() }, x, y, { lr: 0, momentum: 0.9, weightDecay: 1e-2 });
    const s2 = (await rt.trainStep(s1, x, y, { lr, momentum: 0.9, weightDecay: 1e-2 })).state;
    const g2 = probe2.state.slots[`momentum_buf:${name}`].data as Float32Array;
    const buf2 = s2.slots[`momentum_buf:${name}`].data as Float32Array;
    for (let i = 0; i < buf2.length; i += 37) expect(buf2[i]).toBeCloseTo(0.9 * buf1[i] + g2[i], 5);
  });

  it('Adam and AdamW steps match torch.optim formulas', async () => {
    for (const optimizer of ['adam', 'adamw'] as const) {
      const { dir } = ensureArtifacts(model, { optimizer, pgdSteps: 1 }, tmp());
      const art = await ArtifactRuntime.open(dir, { threads: 2 });
      const w = ArtifactRuntime.weightsFrom(initialState(model).values());
      const sgdProbe = await rt.trainStep({ weights: w, slots: rt.initialSlots() }, x, y, { lr: 0, momentum: 0, weightDecay: 0 });
      const wd = 0.1;
      const lr = 1e-3;
      const out = await art.trainStep({ weights: w, slots: art.initialSlots() }, x, y, { lr, weightDecay: wd, beta1: 0.9, beta2: 0.999, adamEps: 1e-8, step: 1 });
      const name = art.manifest.params[2].name;
      const g = sgdProbe.state.slots[`momentum_buf:${name}`].data as Float32Array; // plain gradient (wd 0)
      const p = w[name].data as Float32Array;
      const p1 = out.state.weights[name].data as Float32Array;
      for (let i = 0; i < p.length; i += 53) {
        const gi = optimizer === 'adam' ? g[i] + wd * p[i] : g[i];
        const m = 0.1 * gi;
        const v = 0.001 * gi * gi;
        const base = optimizer === 'adamw' ? p[i] * (1 - lr * wd) : p[i];
        const expected = base - (lr / 0.1) * m / (Math.sqrt(v) / Math.sqrt(0.001) + 1e-8);
        expect(p1[i]).toBeCloseTo(expected, 5);
      }
      await art.release();
    }
  });

  it('drives the loss on a fixed batch of 128 MNIST images below 0.05 within 300 steps', async () => {
    // Adam: with PyTorch's default init the SmallCNN's logits start tiny and plain SGD needs far longer.
    const { dir } = ensureArtifacts(model, { optimizer: 'adam', pgdSteps: 1 }, tmp());
    const adam = await ArtifactRuntime.open(dir, { threads: 2 });
    let s: ExpertState = { weights: ArtifactRuntime.weightsFrom(initialState(model).values()), slots: adam.initialSlots() };
    let loss = Infinity;
    let steps = 0;
    while (steps < 300 && loss >= 0.05) {
      const r = await adam.trainStep(s, x, y, { lr: 1e-3, weightDecay: 0, step: steps + 1 });
      s = r.state;
      loss = r.loss;
      steps++;
    }
    expect(loss).toBeLessThan(0.05);
    const ev = await adam.evaluate(s.weights, x, y);
    expect(ev.correct).toBe(128);
    await adam.release();
  });

  it('PGD stays in the eps-ball and [0,1], raises the loss, and breaks a naturally trained SmallCNN at eps 0.3', async () => {
    // Natural training with Adam: 2 passes over 6,400 images.
    const { dir } = ensureArtifacts(model, { optimizer: 'adam', pgdSteps: 10 }, tmp());
    const adam = await ArtifactRuntime.open(dir, { threads: 2 });
    let s: ExpertState = { weights: ArtifactRuntime.weightsFrom(initialState(model).values()), slots: adam.initialSlots() };
    let step = 0;
    const rng = new Rng(5);
    const train = loadDataset('mnist', { trainSubset: 6400, seed: 1 }).train;
    for (let epoch = 0; epoch < 2; epoch++) {
      for (const b of batches(train, null, { batchSize: 128, rng })) {
        s = (await adam.trainStep(s, new ort.Tensor('float32', b.x, b.dims), new ort.Tensor('int64', b.y, [b.size]), { lr: 1e-3, weightDecay: 0, step: ++step })).state;
      }
    }
    let clean = 0;
    let robust = 0;
    const eps = 0.3;
    for (const b of evalBatches(mnist.test, 250)) {
      const xb = new ort.Tensor('float32', b.x, b.dims);
      const yb = new ort.Tensor('int64', b.y, [b.size]);
      const noise = new ort.Tensor('float32', rng.fillUniform(new Float32Array(b.x.length), -1, 1), b.dims);
      const adv = await rt.attack(s.weights, xb, yb, noise, eps, 0.075);
      const a = adv.data as Float32Array;
      for (let i = 0; i < a.length; i++) {
        if (Math.abs(a[i] - b.x[i]) > eps + 1e-6 || a[i] < 0 || a[i] > 1) throw new Error(`pixel ${i} left the eps-ball or [0,1]: ${a[i]} vs ${b.x[i]}`);
      }
      const before = await rt.evaluate(s.weights, xb, yb);
      const after = await rt.evaluate(s.weights, adv, yb);
      expect(after.loss).toBeGreaterThan(before.loss);
      clean += before.correct;
      robust += after.correct;
    }
    expect(clean / 1000).toBeGreaterThan(0.9);
    expect(robust / 1000).toBeLessThan(0.05);
    await adam.release();
  });
});
