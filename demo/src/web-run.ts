// A Generalist run in the browser: the same artifacts, config schedules and iteration
// (trainIteration) as `generalist train`, on onnxruntime-web, over the MNIST subset the build packed.
import type { Tensor } from 'onnxruntime-common';
import { evalStepSize } from '../../src/config/schedule.js';
import { batches, evalBatches, type Batch, type BatchIterator } from '../../src/data/batch.js';
import type { Dataset } from '../../src/data/dataset.js';
import { loadModel } from '../../src/onnx/load.js';
import type { Model } from '../../src/onnx/ir.js';
import { saveModel } from '../../src/onnx/save.js';
import type { ArtifactCore, Weights } from '../../src/runtime/artifact-core.js';
import { exportInference } from '../../src/train/export.js';
import { trainIteration, type IterationCounters, type Nets } from '../../src/train/iteration.js';
import { Rng } from '../../src/util/rng.js';
import { DEMO_EVAL_EVERY, DEMO_ROBUST_EVAL_IMAGES, DEMO_ROBUST_EVERY } from '../settings.js';
import { fetchBytes, openArtifacts, type OrtFlavour } from './backend.js';
import type { AttackResult, DemoManifest, EvalPoint, Net, Predictions, Progress } from './protocol.js';

async function loadSplit(base: string, name: string, m: DemoManifest, n: number): Promise<Dataset> {
  const [images, labels] = await Promise.all([fetchBytes(`${base}data/${name}-images.u8`), fetchBytes(`${base}data/${name}-labels.u8`)]);
  const shape = m.data.shape as [number, number, number];
  return { name: `mnist/${name}`, images, labels, n, shape, classes: m.data.classes, classNames: m.data.classNames };
}

const argmax = (a: ArrayLike<number>): number => { let k = 0; for (let i = 1; i < a.length; i++) if (a[i] > a[k]) k = i; return k; };
function softmax(l: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(l));
  const e = Array.from(l, (v) => Math.exp(v - m));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}

export class WebRun {
  private nets!: Nets;
  private c!: IterationCounters;
  private epochIt!: BatchIterator;
  private readonly dataRng: Rng;
  private readonly rngs: { noise: Rng; dropout: Rng };
  private readonly evalRng: Rng;
  private testBatch!: Batch;
  private trainSeconds = 0;
  private trainImages = 0;
  /** Iteration of the last evaluation (-1: none yet). */
  lastEvalAt = -1;

  private constructor(
    readonly m: DemoManifest, readonly robust: ArtifactCore, readonly natural: ArtifactCore,
    private readonly source: Model, private readonly train: Dataset, readonly test: Dataset,
  ) {
    const seed = m.config.seed;
    this.dataRng = new Rng(seed);
    this.rngs = { noise: new Rng((seed ^ 0x9e3779b9) >>> 0), dropout: new Rng((seed ^ 0x85ebca6b) >>> 0) };
    this.evalRng = new Rng(seed + 7919);
  }

  static async open(ort: OrtFlavour, base: string, m: DemoManifest): Promise<WebRun> {
    const robust = await openArtifacts(ort, base + m.artifacts.robust);
    const natural = await openArtifacts(ort, base + m.artifacts.natural);
    const source = loadModel(await fetchBytes(base + m.artifacts.source));
    const run = new WebRun(m, robust, natural, source, await loadSplit(base, 'train', m, m.data.train), await loadSplit(base, 'test', m, m.data.test));
    run.reset();
    return run;
  }

  get itersPerEpoch(): number { return Math.floor(this.train.n / this.m.config.batchSize); }
  get totalIters(): number { return this.itersPerEpoch * this.m.config.epochs; }
  get iteration(): number { return this.c.iter; }
  get done(): boolean { return this.c.iter >= this.totalIters; }

  /** Fresh networks from the source model's initial weights (the trainer's initial state). */
  reset(): void {
    const w0: Weights = {};
    for (const t of [...this.natural.manifest.params, ...this.natural.manifest.stats]) {
      const init = this.source.graph.initializers.get(t.name);
      if (!init) throw new Error(`source.onnx has no initializer ${t.name}`);
      w0[t.name] = this.natural.f32(init.data as Float32Array, init.dims);
    }
    this.nets = { R: { weights: { ...w0 }, slots: this.robust.initialSlots() }, N: { weights: { ...w0 }, slots: this.natural.initialSlots() }, A: { ...w0 }, S: { ...w0 }, G: { ...w0 } };
    this.c = { epoch: 0, iterInEpoch: 0, iter: 0, itersPerEpoch: this.itersPerEpoch, totalIters: this.totalIters, stepsR: 0, stepsN: 0, emaUpdates: 0 };
    this.epochIt = this.newEpoch();
    this.testBatch = evalBatches(this.test, this.test.n).next().value as Batch;
  }

  private newEpoch(): BatchIterator {
    return batches(this.train, null, { batchSize: this.m.config.batchSize, rng: this.dataRng, dropLast: true });
  }

  /** One Generalist iteration; its losses and the training images/s so far. */
  async step(): Promise<Progress> {
    let b = this.epochIt.next();
    if (b.done) {
      this.c.epoch++; this.c.iterInEpoch = 0;
      this.epochIt = this.newEpoch();
      b = this.epochIt.next();
    }
    const t0 = performance.now();
    const r = await trainIteration(this.m.config, { robust: this.robust, natural: this.natural, robustLoss: 'ce' }, this.nets, b.value, this.c, this.rngs);
    this.trainSeconds += (performance.now() - t0) / 1000;
    this.trainImages += b.value.size;
    this.nets = r.nets;
    this.c.iter++; this.c.iterInEpoch++;
    return { type: 'progress', iter: this.c.iter, epoch: this.c.epoch + 1, lossR: r.robust!.loss, lossN: r.natural!.loss, imagesPerSec: this.trainImages / this.trainSeconds };
  }

  /** Whether an evaluation is due after this iteration. */
  evalDue(): boolean { return this.c.iter % DEMO_EVAL_EVERY === 0 || this.done; }

  /** G's clean accuracy on the test subset; its PGD accuracy on the first images every few evaluations. */
  async evaluate(): Promise<EvalPoint> {
    const tb = this.testBatch;
    const x = this.natural.f32(tb.x, tb.dims), y = this.natural.i64(tb.y, [tb.size]);
    const clean = await this.natural.evaluate(this.nets.G, x, y);
    const out: EvalPoint = { type: 'eval', iter: this.c.iter, cleanAcc: clean.correct / tb.size };
    this.lastEvalAt = this.c.iter;
    if ((this.c.iter / DEMO_EVAL_EVERY) % DEMO_ROBUST_EVERY === 0 || this.done) {
      const n = Math.min(DEMO_ROBUST_EVAL_IMAGES, tb.size), size = n * (tb.x.length / tb.size), dims = [n, ...tb.dims.slice(1)];
      const xs = this.natural.f32(tb.x.subarray(0, size), dims), ys = this.natural.i64(tb.y.subarray(0, n), [n]);
      const noise = this.natural.f32(this.evalRng.fillUniform(new Float32Array(size), -1, 1), dims);
      const adv = await this.natural.attack(this.nets.G, xs, ys, noise, this.m.config.attack.eps, evalStepSize(this.m.config));
      out.robustAcc = (await this.natural.evaluate(this.nets.G, adv, ys)).correct / n;
    }
    return out;
  }

  private weightsOf(net: Net): Weights { return net === 'G' ? this.nets.G : net === 'R' ? this.nets.R.weights : this.nets.N.weights; }

  private async predictTensor(x: Tensor): Promise<Predictions> {
    const y = this.natural.i64(new BigInt64Array(x.dims[0]), [x.dims[0]]);
    const out = {} as Predictions;
    for (const net of ['N', 'R', 'G'] as const) {
      const logits = (await this.natural.evaluate(this.weightsOf(net), x, y)).logits.data as Float32Array;
      out[net] = { label: argmax(logits), probs: softmax(logits) };
    }
    return out;
  }

  predict(image: Float32Array): Promise<Predictions> {
    return this.predictTensor(this.natural.f32(image, [1, ...this.m.data.shape]));
  }

  /** PGD (the natural artifacts' attack, K = eval.pgdSteps) on each network against `label` (default: G's prediction). */
  async attack(image: Float32Array, label: number | null, eps: number): Promise<AttackResult> {
    const dims = [1, ...this.m.data.shape];
    const x = this.natural.f32(image, dims);
    const before = await this.predictTensor(x);
    const y = label ?? before.G.label;
    const after = {} as Predictions, adversarial = {} as Record<Net, Float32Array>;
    const steps = this.natural.manifest.options.pgdSteps;
    for (const net of ['N', 'R', 'G'] as const) {
      const noise = this.natural.f32(this.evalRng.fillUniform(new Float32Array(image.length), -1, 1), dims);
      const adv = await this.natural.attack(this.weightsOf(net), x, this.natural.i64(BigInt64Array.of(BigInt(y)), [1]), noise, eps, (2.5 * eps) / steps);
      adversarial[net] = new Float32Array(adv.data as Float32Array);
      after[net] = (await this.predictTensor(adv))[net];
    }
    return { label: y, eps, before, after, adversarial };
  }

  testImage(index: number): { image: Float32Array; label: number } {
    const per = this.testBatch.x.length / this.testBatch.size;
    const i = ((index % this.test.n) + this.test.n) % this.test.n;
    return { image: this.testBatch.x.slice(i * per, (i + 1) * per), label: this.test.labels[i] };
  }

  /** G as the CLI's export writes it (exportInference of the source model with G's weights). */
  exportG(): Uint8Array {
    return saveModel(exportInference(this.source, this.nets.G, { method: 'generalist', trainedIn: 'browser', iterations: String(this.c.iter) }));
  }

  /** G's weights (tests compare the export with the CLI's). */
  weightsG(): Record<string, { dims: number[]; data: Float32Array }> {
    return Object.fromEntries(Object.entries(this.nets.G).map(([k, t]) => [k, { dims: [...t.dims], data: new Float32Array(t.data as Float32Array) }]));
  }
}
