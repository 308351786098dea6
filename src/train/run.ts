// Setting a run up: its folder, data, model and the artifact runtimes each learner needs.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { configHash } from '../config/resolve.js';
import { datasetLoadOptions, trainAugment } from '../config/dataset.js';
import { emaMemoryStart, evalStepSize } from '../config/schedule.js';
import type { Config, OptimizerConfig } from '../config/types.js';
import { loadDataset, type Augment, type DatasetSplits } from '../data/index.js';
import type { ArtifactOptions } from '../artifacts/build.js';
import { ensureArtifacts } from '../artifacts/store.js';
import { withInputNormalization } from '../artifacts/normalize.js';
import { withTrainingChoice } from '../artifacts/trainable.js';
import { largeFrozenNote, type InputLayout } from '../artifacts/analyze.js';
import type { Model } from '../onnx/ir.js';
import { saveModel } from '../onnx/save.js';
import { sha256 } from '../util/hash.js';
import { writeFileAtomic } from '../util/fs.js';
import { ArtifactRuntime } from '../runtime/artifact-runtime.js';
import { SessionShare } from '../runtime/session-share.js';
import { ensureWritableDirectory } from '../util/files.js';
import { FusedIteration } from './fused.js';
import { ParallelIteration, splitThreads } from './parallel.js';
import { gradFormsFor } from '../runtime/providers.js';
import { TrainError } from './errors.js';
import type { EvalSettings } from './evaluate.js';
import { loadSourceModel, modelFit, withImageShape } from './source.js';

export type Method = Config['method'];

/** Everything about a run that does not change while it trains. */
export interface Run {
  config: Config;
  method: Method;
  /** The robust expert's loss: PGD-AT's cross-entropy or TRADES. */
  robustLoss: 'ce' | 'trades';
  outDir: string;
  ckptPath: string;
  /** Whether the run continues a checkpoint (asked for, and one exists). */
  resume: boolean;
  metricsPath: string;
  /** Hash of the settings a checkpoint must agree with to be resumed. */
  hash: string;
  data: DatasetSplits;
  augment: Augment;
  /** The untrained model (input normalisation included), the template of every export. */
  source: Model;
  /** Runtimes: the robust expert's (PGD-AT/TRADES step, training attack, EMA), the natural expert's, evaluation's. */
  robustRt: ArtifactRuntime | null;
  naturalRt: ArtifactRuntime | null;
  evalRt: ArtifactRuntime;
  /**
   * The iteration's runner when the run does not use four runs (config.iterationForm): the whole
   * iteration in one run, or K of them (the K-loop artifact), or the parallel form's two threads.
   */
  fused: FusedIteration | ParallelIteration | null;
  /** K: iterations per run of the K-loop form (`fused` is then the loop artifact); 0 for the other forms. */
  loopK: number;
  itersPerEpoch: number;
  totalIters: number;
  log: (s: string) => void;
}

/** Settings the config hash leaves out: they change speed or placement, never the numbers. */
const HASH_IGNORES = ['threads', 'provider', 'allowCpuFallback', 'iterationForm', 'iterationLoop', 'eval.batchSize'];

/** Temp files of checkpoint writes whose process is gone (a kill during the write) are removed. */
function removeOrphanTempFiles(outDir: string, log: (s: string) => void): void {
  for (const f of readdirSync(outDir)) {
    const m = /^checkpoint\.bin\.tmp-(\d+)$/.exec(f);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    rmSync(join(outDir, f), { force: true });
    log(`removed ${f}, left by an interrupted checkpoint write`);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Prepares the run folder: refuses to overwrite a run unless resuming, removes orphan temp files.
 * Returns whether there is a checkpoint to resume (`--resume` without one starts the run, saying so).
 */
function prepareFolder(config: Config, resume: boolean, log: (s: string) => void): { outDir: string; ckptPath: string; hash: string; resume: boolean } {
  const outDir = resolve(config.outDir || `runs/${config.name}`);
  try {
    ensureWritableDirectory(outDir);
  } catch (e) {
    throw new TrainError(`output folder: ${(e as Error).message}; choose another with --set outDir=DIR or --name NAME`);
  }
  const hash = configHash(config, { ignore: HASH_IGNORES });
  const ckptPath = join(outDir, 'checkpoint.bin');
  if (!resume && existsSync(ckptPath)) {
    throw new TrainError(`${outDir} already holds a checkpoint; pass --resume to continue it (npm start -- --resume), or start another run with --name NAME`);
  }
  removeOrphanTempFiles(outDir, log);
  if (resume && !existsSync(ckptPath)) {
    log(`--resume: ${outDir} has no checkpoint yet, so the run starts from the beginning`);
    resume = false;
  }
  return { outDir, ckptPath, hash, resume };
}

/** Writes the run's config.json (after a resume was accepted, so a refused one changes nothing). */
export function writeRunConfig(run: Run): void {
  writeFileAtomic(join(run.outDir, 'config.json'), JSON.stringify(run.config, null, 2) + '\n');
}

/** The model as the run trains it: checked against the data, input normalisation in front. */
function prepareModel(config: Config, data: DatasetSplits, log: (s: string) => void): { source: Model; inputLayout: InputLayout } {
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
  source = withTrainingChoice(source, { trainable: config.model.trainable, frozen: config.model.frozen });
  const frozenNote = largeFrozenNote(source); if (frozenNote) log(frozenNote);
  if (fit.inputLayout === 'nhwc') log(`the model takes channels-last images; the artifacts transpose the ${data.name} batches in the graph`);
  if (fit.outputKind === 'probabilities') log('the model ends in Softmax: training and attacks use its input as the logits; the exported model keeps the Softmax');
  return { source, inputLayout: fit.inputLayout };
}

/** The artifact options of a learner trained by optimizer `o` on `loss`, its attack artifact K = `steps`. */
export function expertArtifactOptions(o: OptimizerConfig, loss: 'ce' | 'trades', steps: number, inputLayout: InputLayout): Partial<ArtifactOptions> {
  return { loss, optimizer: o.type, nesterov: o.nesterov, pgdSteps: Math.max(1, steps), attackLoss: loss === 'trades' ? 'kl' : 'ce', inputLayout };
}

/**
 * The artifacts of `pinned` (static image dims) for an optimizer, a loss and PGD steps, cached by
 * model and options. `sourceHash` (modelHash(pinned)) spares encoding the model again; with `share`,
 * graphs another set already opened with the same settings share its sessions.
 */
export function openArtifacts(pinned: Model, inputLayout: InputLayout, config: Config, cacheDir: string, log: (s: string) => void,
  o: OptimizerConfig, loss: 'ce' | 'trades', steps: number, sourceHash?: string, share?: SessionShare): Promise<ArtifactRuntime> {
  const rtOpts = { provider: config.provider, threads: config.threads, allowCpuFallback: config.allowCpuFallback, onWarning: log };
  const options = { ...expertArtifactOptions(o, loss, steps, inputLayout), ...gradFormsFor(config.provider) };
  return ArtifactRuntime.open(ensureArtifacts(pinned, options, cacheDir, sourceHash).dir, rtOpts, share);
}

/** Evaluation's artifacts (clean accuracy, PGD with eval.pgdSteps, the EMA/blend graph): plain SGD, cross-entropy. */
export const openEvalArtifacts = (pinned: Model, inputLayout: InputLayout, config: Config, cacheDir: string, log: (s: string) => void, sourceHash?: string, share?: SessionShare): Promise<ArtifactRuntime> =>
  openArtifacts(pinned, inputLayout, config, cacheDir, log, { ...config.optim.natural, type: 'sgd', nesterov: false }, 'ce', config.eval.pgdSteps, sourceHash, share);

export async function setUpRun(config: Config, opts: { resume?: boolean; cacheDir?: string; log: (s: string) => void }): Promise<Run> {
  const { log } = opts;
  const { outDir, ckptPath, hash, resume } = prepareFolder(config, !!opts.resume, log);
  const data = loadDataset(config.dataset.name, datasetLoadOptions(config));
  const { source, inputLayout } = prepareModel(config, data, log);
  // The artifacts need static image dims; a model exported with dynamic H/W gets the dataset's
  // (its export keeps the dynamic ones).
  const pinned = withImageShape(source, data.shape, inputLayout);
  // Encoding a large model takes seconds: it is encoded once for all artifact sets' cache keys, and
  // those bytes are the run's source.onnx when no dims were pinned.
  const pinnedBytes = saveModel(pinned);
  const sourceHash = sha256(pinnedBytes);
  // The untrained model travels with the run, so `generalist export` never depends on the original path.
  const sourcePath = join(outDir, 'source.onnx');
  if (!existsSync(sourcePath)) writeFileAtomic(sourcePath, pinned === source ? pinnedBytes : saveModel(source));
  const method = config.method;
  const robustLoss = method === 'trades' || (method === 'generalist' && config.robust.loss === 'trades') ? 'trades' : 'ce';

  const cacheDir = opts.cacheDir ?? resolve('.cache/artifacts');
  // The parallel form gives each of its two threads' sessions half the threads; evaluation keeps them all.
  const cores = availableParallelism();
  const split = iterationFormFor(config, config.provider, cores) === 'parallel' ? splitThreads(config.threads, cores) : null;
  if (split && method === 'natural') throw new TrainError('iterationForm parallel splits the robust expert\'s attack over two threads; method natural has no robust expert (use runs4)');
  const expertConfig = split ? { ...config, threads: split.main } : config;
  // The experts' artifact sets differ in the attack's K; their train-step, eval and EMA graphs are
  // the same bytes when their optimizers agree, and then share sessions (and memory arenas).
  const share = new SessionShare();
  const open = (o: OptimizerConfig, loss: 'ce' | 'trades', steps: number) => openArtifacts(pinned, inputLayout, expertConfig, cacheDir, log, o, loss, steps, sourceHash, share);
  const t0 = performance.now();
  const robustRt = method !== 'natural' ? await open(config.optim.robust, robustLoss, config.attack.steps) : null;
  const naturalRt = method === 'natural' || method === 'generalist' ? await open(config.optim.natural, 'ce', config.eval.pgdSteps) : null;
  // Evaluation needs a plain-SGD artifact set with the evaluation's PGD steps; the natural expert's serves when it is one.
  const evalRt = naturalRt && config.optim.natural.type === 'sgd' && !split ? naturalRt : await openEvalArtifacts(pinned, inputLayout, config, cacheDir, log, sourceHash, share);
  // After a fallback to the CPU the sessions already have all the threads: four runs then.
  const found = iterationFormFor(config, (robustRt ?? naturalRt)!.provider, cores);
  const form = found === 'parallel' && !split ? 'runs4' : found;
  const fused = form === 'parallel'
    ? await ParallelIteration.open({ robust: robustRt!, natural: naturalRt, robustLoss }, { threads: split!.worker })
    : form !== 'runs4'
      ? await FusedIteration.open({ robust: robustRt, natural: naturalRt, robustLoss, generalist: method === 'generalist' }, cacheDir, { threads: config.threads, loop: form === 'loop' })
      : null;
  const loopK = form === 'loop' ? config.iterationLoop : 0;
  const formText = { runs4: 'four runs per iteration', fused: 'fused iteration', loop: `${loopK} iterations per run`, parallel: 'parallel iteration on two threads' }[form];
  log(`artifacts ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (provider ${(robustRt ?? naturalRt)!.provider}, ${formText}, cache ${cacheDir})`);

  const itersPerEpoch = Math.floor(data.train.n / config.batchSize);
  if (itersPerEpoch < 1) throw new TrainError(`the training set has ${data.train.n} images, fewer than one batch of ${config.batchSize}`);
  const totalIters = itersPerEpoch * config.epochs;
  if (method === 'generalist') warnIdleEmaMemory(config, totalIters, log);
  return {
    config, method, robustLoss, outDir, ckptPath, resume, metricsPath: join(outDir, 'metrics.jsonl'), hash, data, augment: trainAugment(config), source,
    robustRt, naturalRt, evalRt, fused, loopK, itersPerEpoch, totalIters, log,
  };
}

/** Says so when the run is too short for generalist.ema.memory to set any EMA decay (the warm-up bound decides them all). */
export function warnIdleEmaMemory(config: Config, totalIters: number, log: (s: string) => void): void {
  const start = emaMemoryStart(config, totalIters);
  if (start < totalIters) return;
  const { memory, warmup } = config.generalist.ema;
  log(`note: generalist.ema.memory=${memory} never sets the EMA decay in this run: the warm-up (t+1)/(t+${warmup}) stays below ` +
    `1 - 1/memory for all ${totalIters} iterations (the memory would take over at iteration ${start}), so a longer memory gives the same run`);
}

/** Evaluation settings of a run for `n` images (0: all) and an attack-noise seed. */
export function evalSettings(config: Config, n: number, seed: number): EvalSettings {
  const evalBs = config.eval.batchSize || Math.max(config.batchSize, 250);
  return { n, batchSize: evalBs, eps: config.attack.eps, stepSize: evalStepSize(config), pgdSteps: config.eval.pgdSteps, seed };
}

/**
 * How iterations run: as asked, or for 'auto' the provider's form (README, Speed): on the CPU with
 * two or more threads and a robust expert, the parallel form (the attack in batch halves and the
 * two experts' steps side by side on two threads, measured the fastest there); else on the CPU the
 * four runs (no bus to cross); on WebGPU the fused iteration (its state already stays on the
 * device between runs); on CUDA the K-loop (onnxruntime-node copies every input and output of a
 * run there, so the state crosses once per K iterations).
 */
export function iterationFormFor(config: Config, provider: string, cores: number): 'runs4' | 'fused' | 'loop' | 'parallel' {
  if (config.iterationForm !== 'auto') return config.iterationForm;
  if (provider === 'cpu') return config.method !== 'natural' && (config.threads || cores) >= 2 ? 'parallel' : 'runs4';
  return provider === 'cuda' ? 'loop' : 'fused';
}

export async function releaseRun(run: Run): Promise<void> {
  await run.fused?.release();
  for (const rt of new Set([run.robustRt, run.naturalRt, run.evalRt].filter(Boolean))) await rt!.release();
}
