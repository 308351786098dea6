// The Generalist orchestrator (and the single-model baselines through the same loop).
// Per batch: PGD on the robust expert R (one ORT run), a step of R on the adversarial batch (one
// run), a step of the natural expert N on the clean batch (one run), and one run that moves the EMA
// teachers A, S and the global learner G. Redistribution copies G into both experts (tensor
// references only; optimizer slots are kept, as in the reference code).
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { configHash } from '../config/resolve.js';
import { betaAt, epsAt, evalStepSize, lrAt, runFraction } from '../config/schedule.js';
import type { Config, OptimizerConfig } from '../config/types.js';
import { batches, defaultAugment, loadDataset, NO_AUGMENT, CIFAR_AUGMENT, type Augment, type DatasetSplits } from '../data/index.js';
import { analyzeModel, fixedBatchProblem, inputLayoutFor, type InputLayout, type ModelAnalysis, type OutputKind } from '../artifacts/analyze.js';
import { initialState } from '../artifacts/build.js';
import { ensureArtifacts } from '../artifacts/store.js';
import { withInputNormalization } from '../artifacts/normalize.js';
import { loadModelFile } from '../onnx/load.js';
import type { Model } from '../onnx/ir.js';
import { saveModelFile, writeFileAtomic } from '../onnx/save.js';
import { ArtifactRuntime, type ExpertState, type Weights } from '../runtime/artifact-runtime.js';
import { ort } from '../runtime/ort.js';
import { Rng, type RngState } from '../util/rng.js';
import { buildZooModel, ZOO } from '../../models/index.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { evaluateWeights, type Accuracy } from './evaluate.js';
import { exportInference } from './export.js';
import { trainIteration } from './iteration.js';
import { ProgressBar, type ProgressSink } from './progress.js';

/** A run that cannot start as asked (an existing run, nothing to resume, a bad model source). */
export class TrainError extends Error {
  constructor(message: string) { super(message); this.name = 'TrainError'; }
}

export interface TrainOptions {
  /** Continue from the run folder's last checkpoint. */
  resume?: boolean;
  /** Checked after every iteration: when true, a checkpoint is written and train() returns. */
  shouldStop?: () => boolean;
  /** Stop (with a checkpoint) after this many iterations in this call (tests of interruption). */
  maxIterations?: number;
  /** Progress and log output (default stderr); `null` silences it. */
  sink?: ProgressSink | null;
  /** Artifact cache folder (default .cache/artifacts). */
  cacheDir?: string;
}

export interface EpochMetrics {
  epoch: number;
  iterations: number;
  seconds: number;
  imagesPerSec: number;
  trainLoss: Record<string, number>;
  trainAcc: Record<string, number>;
  eps: number;
  lr: Record<string, number>;
  beta?: number;
  val?: Record<string, Accuracy>;
}

export interface TrainResult {
  outDir: string;
  interrupted: boolean;
  epochsDone: number;
  /** Final test-set accuracy per network (G/R/N for generalist; `model` for baselines). */
  final?: Record<string, Accuracy>;
  modelPath?: string;
  metrics: EpochMetrics[];
  /** Final weights per network (tests compare them). */
  weights: Record<string, Weights>;
}

interface RunState {
  epoch: number;
  iterInEpoch: number;
  iter: number;
  emaUpdates: number;
  stepsR: number;
  stepsN: number;
  dataRngEpochStart: RngState;
  noiseRng: RngState;
  /** The dropout-mask stream (absent in checkpoints written before models with Dropout trained). */
  dropoutRng?: RngState;
  best?: { epoch: number; score: number };
  metrics: EpochMetrics[];
}

/** A zoo model (built for the data's classes and image shape) or an ONNX file. */
export function loadSourceModel(source: string, seed: number, classes?: number, inputShape?: readonly number[]): Model {
  const alias: Record<string, string> = { 'preact-resnet18': 'preactresnet18', wrn3410: 'wrn-34-10' };
  const name = alias[source] ?? source;
  if (Object.hasOwn(ZOO, name)) return buildZooModel(name, { seed, classes, inputShape });
  if (source.endsWith('.onnx') || existsSync(source)) return loadModelFile(source);
  throw new TrainError(`model "${source}" is neither a zoo model (${Object.keys(ZOO).join(', ')}) nor an existing .onnx file`);
}

/** A copy of `model` whose image input has the dataset's per-example dims where it had symbolic ones. */
export function withImageShape(model: Model, image: readonly number[], layout: InputLayout): Model {
  const input = model.graph.inputs.find((v) => !model.graph.initializers.has(v.name));
  const s = input?.shape;
  if (!input || !s || s.slice(1).every((d) => typeof d === 'number')) return model;
  const dims = layout === 'nhwc' ? [image[1], image[2], image[0]] : [...image];
  const shape = [s[0], ...s.slice(1).map((d, i) => (typeof d === 'number' ? d : dims[i]))];
  return { ...model, graph: { ...model.graph, inputs: model.graph.inputs.map((v) => (v === input ? { ...v, shape } : v)) } };
}

/**
 * Checks, before any artifact is built, that the model can take the dataset's images and labels:
 * its input matches [C, H, W] (or [H, W, C] for a channels-last model) and its class count, when
 * static, equals the dataset's.
 */
export function modelFit(model: Model, name: string, data: { name: string; shape: readonly number[]; classes: number }): { inputLayout: InputLayout; outputKind: OutputKind } {
  let a: ModelAnalysis;
  try {
    a = analyzeModel(model);
    const inputLayout = inputLayoutFor(a.input, data.shape);
    if (a.classes && a.classes !== data.classes) throw new Error(`its output "${a.output.name}" has ${a.classes} classes, the dataset ${data.classes}`);
    const fixed = fixedBatchProblem(model, a);
    if (fixed) throw new Error(fixed);
    return { inputLayout, outputKind: a.outputKind };
  } catch (e) {
    throw new TrainError(`model ${name} cannot train on ${data.name}: ${(e as Error).message}`);
  }
}

const cloneWeights = (w: Weights): Weights => ({ ...w });

/** Tensors kept on a GPU (WebGPU's gpu-buffer outputs) downloaded for checkpoints and export. */
async function onHost(w: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const out: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(w)) out[k] = t.location === 'cpu' || t.location === undefined ? t : new ort.Tensor(t.type, (await t.getData()) as Float32Array, t.dims);
  return out;
}

export async function train(config: Config, opts: TrainOptions = {}): Promise<TrainResult> {
  const sink = opts.sink === null ? null : opts.sink ?? process.stderr;
  const log = (s: string) => sink?.write(s + '\n');
  const outDir = resolve(config.outDir || `runs/${config.name}`);
  mkdirSync(outDir, { recursive: true });
  const hash = configHash(config, { ignore: ['threads', 'provider', 'allowCpuFallback', 'eval.batchSize'] });
  const ckptPath = join(outDir, 'checkpoint.bin');
  if (!opts.resume && existsSync(ckptPath)) {
    throw new TrainError(`${outDir} already holds a checkpoint; pass --resume to continue it (npm start -- --resume), or start another run with --name NAME`);
  }
  writeFileAtomic(join(outDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');

  // Data and model.
  const data: DatasetSplits = loadDataset(config.dataset.name, {
    dir: config.dataset.dir || undefined, validation: config.dataset.validation, seed: config.seed,
    trainSubset: config.dataset.trainSubset, testSubset: config.dataset.testSubset, verify: config.dataset.verify,
  });
  const augment: Augment = config.dataset.augment === 'auto' ? defaultAugment(data.name) : config.dataset.augment === 'none' ? NO_AUGMENT : CIFAR_AUGMENT;
  let source = loadSourceModel(config.model.source, config.seed, data.classes, data.shape);
  const fit = modelFit(source, config.model.source, data);
  const norm = config.model.normalize;
  if (norm.mean.length) {
    try {
      source = withInputNormalization(source, norm, fit.inputLayout);
    } catch (e) {
      throw new TrainError(`model.normalize: ${(e as Error).message}`);
    }
  }
  if (fit.inputLayout === 'nhwc') log(`the model takes channels-last images; the artifacts transpose the ${data.name} batches in the graph`);
  if (fit.outputKind === 'probabilities') log('the model ends in Softmax: training and attacks use its input as the logits; the exported model keeps the Softmax');
  // The untrained model travels with the run, so `generalist export` never depends on the original path.
  if (!existsSync(join(outDir, 'source.onnx'))) saveModelFile(source, join(outDir, 'source.onnx'));
  // The artifacts need static image dims; a model exported with dynamic H/W gets the dataset's
  // (its export keeps the dynamic ones).
  const pinned = withImageShape(source, data.shape, fit.inputLayout);
  const method = config.method;
  const robustLoss = method === 'trades' || (method === 'generalist' && config.robust.loss === 'trades') ? 'trades' : 'ce';
  const needRobust = method !== 'natural';
  const needNatural = method === 'natural' || method === 'generalist';

  // Artifacts (cached by model and options).
  const cacheDir = opts.cacheDir ?? resolve('.cache/artifacts');
  const rtOpts = { provider: config.provider, threads: config.threads, allowCpuFallback: config.allowCpuFallback, onWarning: (m: string) => log(m) };
  const art = (o: OptimizerConfig, loss: 'ce' | 'trades', steps: number) =>
    ensureArtifacts(pinned, { loss, optimizer: o.type, nesterov: o.nesterov, pgdSteps: Math.max(1, steps), attackLoss: loss === 'trades' ? 'kl' : 'ce', inputLayout: fit.inputLayout }, cacheDir);
  const t0 = performance.now();
  const robustRt = needRobust ? await ArtifactRuntime.open(art(config.optim.robust, robustLoss, config.attack.steps).dir, rtOpts) : null;
  const naturalRt = needNatural ? await ArtifactRuntime.open(art(config.optim.natural, 'ce', config.eval.pgdSteps).dir, rtOpts) : null;
  const evalRt = naturalRt && config.optim.natural.type === 'sgd' ? naturalRt : await ArtifactRuntime.open(art({ ...config.optim.natural, type: 'sgd', nesterov: false }, 'ce', config.eval.pgdSteps).dir, rtOpts);
  log(`artifacts ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (provider ${(robustRt ?? naturalRt)!.provider}, cache ${cacheDir})`);

  // State.
  const w0 = ArtifactRuntime.weightsFrom(initialState(source).values());
  let R: ExpertState = { weights: cloneWeights(w0), slots: robustRt ? robustRt.initialSlots() : {} };
  let N: ExpertState = { weights: cloneWeights(w0), slots: naturalRt ? naturalRt.initialSlots() : {} };
  let A = cloneWeights(w0);
  let S = cloneWeights(w0);
  let G = cloneWeights(w0);
  const dataRng = new Rng(config.seed);
  const noiseRng = new Rng((config.seed ^ 0x9e3779b9) >>> 0);
  const dropoutRng = new Rng((config.seed ^ 0x85ebca6b) >>> 0);
  const bs = config.batchSize;
  const itersPerEpoch = Math.floor(data.train.n / bs);
  if (itersPerEpoch < 1) throw new TrainError(`the training set has ${data.train.n} images, fewer than one batch of ${bs}`);
  const totalIters = itersPerEpoch * config.epochs;
  let st: RunState = { epoch: 0, iterInEpoch: 0, iter: 0, emaUpdates: 0, stepsR: 0, stepsN: 0, dataRngEpochStart: dataRng.state(), noiseRng: noiseRng.state(), metrics: [] };

  const stateTensors = (): Record<string, ort.Tensor> => {
    const t: Record<string, ort.Tensor> = {};
    const put = (p: string, w: Record<string, ort.Tensor>) => { for (const [k, v] of Object.entries(w)) t[`${p}${k}`] = v; };
    put('R.w/', R.weights); put('R.s/', R.slots); put('N.w/', N.weights); put('N.s/', N.slots);
    put('A/', A); put('S/', S); put('G/', G);
    return t;
  };
  const save = async () => saveCheckpoint(ckptPath, { configHash: hash, state: { ...st, noiseRng: noiseRng.state(), dropoutRng: dropoutRng.state() } }, await onHost(stateTensors()));

  if (opts.resume) {
    if (!existsSync(ckptPath)) throw new TrainError(`nothing to resume: ${ckptPath} does not exist`);
    const ck = loadCheckpoint(ckptPath, hash);
    st = ck.meta.state as RunState;
    const take = (p: string): Record<string, ort.Tensor> => Object.fromEntries(Object.entries(ck.tensors).filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]));
    R = { weights: take('R.w/'), slots: take('R.s/') };
    N = { weights: take('N.w/'), slots: take('N.s/') };
    A = take('A/'); S = take('S/'); G = take('G/');
    noiseRng.setState(st.noiseRng);
    if (st.dropoutRng) dropoutRng.setState(st.dropoutRng);
    log(`resuming ${outDir} at epoch ${st.epoch + 1}, iteration ${st.iterInEpoch} of ${itersPerEpoch}`);
  }

  const evalBs = config.eval.batchSize || Math.max(bs, 250);
  const evalSettings = (n: number, seed: number) => ({ n, batchSize: evalBs, eps: config.attack.eps, stepSize: evalStepSize(config), pgdSteps: config.eval.pgdSteps, seed });
  const nets = (): Record<string, Weights> => method === 'generalist' ? { G, R: R.weights, N: N.weights } : { model: method === 'natural' ? N.weights : R.weights };
  /** The network a run delivers: G for Generalist, the trained model for a baseline. */
  const mainWeights = (): Weights => (method === 'generalist' ? G : method === 'natural' ? N.weights : R.weights);
  const metricsPath = join(outDir, 'metrics.jsonl');
  let itersThisCall = 0;
  let interrupted = false;
  // A diverged step stops the run before its weights reach a checkpoint or an export.
  const checkFinite = (which: 'robust' | 'natural', loss: number, o: OptimizerConfig, frac: number) => {
    if (Number.isFinite(loss)) return;
    const kept = st.epoch > 0 && config.checkpoint.every > 0 ? `; ${ckptPath} still holds the weights of the last completed checkpoint` : '';
    const who = method !== 'generalist' ? 'model' : which === 'robust' ? 'robust expert' : 'natural expert';
    throw new TrainError(`training diverged: the ${who}'s loss is ${loss} at epoch ${st.epoch + 1}, iteration ${st.iterInEpoch + 1} ` +
      `(learning rate ${lrAt(o, frac).toPrecision(3)})${kept}. Lower optim.${which}.lr (or check the data and model.normalize) and run again`);
  };

  for (; st.epoch < config.epochs && !interrupted; ) {
    dataRng.setState(st.dataRngEpochStart);
    const it = batches(data.train, null, { batchSize: bs, rng: dataRng, augment, dropLast: true, startBatch: st.iterInEpoch });
    const bar = sink ? new ProgressBar(`epoch ${st.epoch + 1}/${config.epochs}`, itersPerEpoch, sink) : null;
    const epochStart = performance.now();
    const sums = { lossR: 0, lossN: 0, accR: 0, accN: 0, n: 0 };
    let frac = 0;
    for (const batch of it) {
      frac = runFraction(st.iter, totalIters);
      const c = { ...st, itersPerEpoch, totalIters };
      const r = await trainIteration(config, { robust: robustRt, natural: naturalRt, robustLoss }, { R, N, A, S, G }, batch, c, { noise: noiseRng, dropout: dropoutRng }, checkFinite);
      ({ R, N, A, S, G } = r.nets);
      st.stepsR = c.stepsR; st.stepsN = c.stepsN; st.emaUpdates = c.emaUpdates;
      if (r.robust) { sums.lossR += r.robust.loss; sums.accR += r.robust.correct; }
      if (r.natural) { sums.lossN += r.natural.loss; sums.accN += r.natural.correct; }
      sums.n += batch.size;
      st.iter++;
      st.iterInEpoch++;
      // ORT runs block the event loop; yield once per iteration so SIGINT/SIGTERM handlers run.
      await new Promise((r) => setImmediate(r));
      itersThisCall++;
      const k = sums.n / batch.size;
      bar?.update(st.iterInEpoch, sums.n, robustRt && naturalRt ? { lossR: sums.lossR / k, lossN: sums.lossN / k } : { loss: (robustRt ? sums.lossR : sums.lossN) / k });
      if ((opts.maxIterations !== undefined && itersThisCall >= opts.maxIterations) || opts.shouldStop?.()) {
        interrupted = st.iterInEpoch < itersPerEpoch || st.epoch + 1 < config.epochs;
        if (interrupted) break;
      }
    }
    bar?.finish();
    if (interrupted && st.iterInEpoch < itersPerEpoch) {
      await save();
      log(`interrupted: checkpoint written to ${ckptPath} (resume with --resume)`);
      break;
    }
    // End of epoch: evaluate on the validation split, log metrics, checkpoint.
    const seconds = (performance.now() - epochStart) / 1000;
    const k = Math.max(1, sums.n / bs);
    const m: EpochMetrics = {
      epoch: st.epoch + 1, iterations: st.iter, seconds: +seconds.toFixed(2), imagesPerSec: +(sums.n / seconds).toFixed(1),
      trainLoss: { ...(robustRt ? { R: sums.lossR / k } : {}), ...(naturalRt ? { N: sums.lossN / k } : {}) },
      trainAcc: { ...(robustRt ? { R: sums.accR / sums.n } : {}), ...(naturalRt ? { N: sums.accN / sums.n } : {}) },
      eps: epsAt(config, frac),
      lr: { ...(robustRt ? { R: lrAt(config.optim.robust, frac) } : {}), ...(naturalRt ? { N: lrAt(config.optim.natural, frac) } : {}) },
      ...(method === 'generalist' ? { beta: betaAt(config, frac) } : {}),
    };
    const evalSplit = config.eval.split === 'test' ? data.test : data.validation;
    if (config.eval.every > 0 && (st.epoch + 1) % config.eval.every === 0 && evalSplit) {
      m.val = await evaluateWeights(evalRt, nets(), evalSplit, evalSettings(config.eval.n, config.seed + 7919 * (st.epoch + 1)));
      log(`epoch ${m.epoch}: ${Object.entries(m.val).map(([n, a]) => `${n} clean ${(100 * a.clean).toFixed(1)}% PGD-${config.eval.pgdSteps} ${(100 * a.robust).toFixed(1)}%`).join(' | ')}  (${m.imagesPerSec} img/s)`);
      const main = m.val.G ?? m.val.model;
      const score = config.checkpoint.bestMetric === 'clean' ? main.clean : config.checkpoint.bestMetric === 'robust' ? main.robust : main.clean + main.robust;
      if (config.checkpoint.best && (!st.best || score > st.best.score)) {
        st.best = { epoch: m.epoch, score };
        saveModelFile(exportInference(source, await onHost(mainWeights()), { epoch: String(m.epoch), selectedOn: config.eval.split }), join(outDir, 'best-model.onnx'));
      }
    }
    st.metrics.push(m);
    appendFileSync(metricsPath, JSON.stringify(m) + '\n');
    st.epoch++;
    st.iterInEpoch = 0;
    st.dataRngEpochStart = dataRng.state();
    if (config.checkpoint.every > 0 && st.epoch % config.checkpoint.every === 0) await save();
    if (opts.shouldStop?.() || (opts.maxIterations !== undefined && itersThisCall >= opts.maxIterations && st.epoch < config.epochs)) {
      interrupted = st.epoch < config.epochs;
      if (interrupted) { await save(); log(`stopped after epoch ${st.epoch}: checkpoint written to ${ckptPath}`); }
    }
  }

  const result: TrainResult = { outDir, interrupted, epochsDone: st.epoch, metrics: st.metrics, weights: method === 'generalist' ? { G, R: R.weights, N: N.weights, A, S } : nets() };
  if (!interrupted) {
    await save();
    const main = await onHost(mainWeights());
    const modelPath = join(outDir, 'model.onnx');
    saveModelFile(exportInference(source, main, { method, epochs: String(config.epochs), configHash: hash }), modelPath);
    result.modelPath = modelPath;
    const finalN = config.eval.finalN;
    result.final = await evaluateWeights(evalRt, nets(), data.test, evalSettings(finalN, config.seed + 104729));
    writeFileAtomic(join(outDir, 'summary.json'), JSON.stringify({ method, config: config.name, epochs: config.epochs, test: result.final, pgdSteps: config.eval.pgdSteps, eps: config.attack.eps, imagesPerSec: st.metrics.at(-1)?.imagesPerSec }, null, 2) + '\n');
  }
  for (const rt of new Set([robustRt, naturalRt, evalRt].filter(Boolean))) await rt!.release();
  return result;
}

/** The final table as text. */
export function formatTable(final: Record<string, Accuracy>, pgdSteps: number, eps: number): string {
  const rows = Object.entries(final).map(([k, a]) => `| ${k.padEnd(6)} | ${(100 * a.clean).toFixed(2).padStart(6)}% | ${(100 * a.robust).toFixed(2).padStart(6)}% |`);
  return [`test set, ${Object.values(final)[0]?.n ?? 0} images, eps ${eps}`, `| model  |  clean  | PGD-${pgdSteps} |`, '|--------|---------|---------|', ...rows].join('\n');
}
