// The training loop of the Generalist orchestrator and the single-model baselines: epochs of
// iterations (iteration.ts), then per epoch the validation metrics, the best model and a checkpoint;
// at the end the export and the test table. Setting up is run.ts; the state and its checkpoints,
// state.ts.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { betaAt, epsAt, lrAt, runFraction } from '../config/schedule.js';
import type { Config } from '../config/types.js';
import { batches, type Batch } from '../data/index.js';
import { saveModelFile } from '../onnx/save.js';
import { writeFileAtomic } from '../util/fs.js';
import { initialState } from '../artifacts/build.js';
import { ArtifactRuntime, type Weights } from '../runtime/artifact-runtime.js';
import { evaluateWeights, type Accuracy } from './evaluate.js';
import { exportInference } from './export.js';
import { trainIteration, type IterationResult } from './iteration.js';
import { ProgressBar, type ProgressSink } from './progress.js';
import { evalSettings, releaseRun, setUpRun, type Run } from './run.js';
import { isZooModel } from './source.js';
import { onHost, TrainingState } from './state.js';
import { TrainError } from './errors.js';
import { Observers, type TrainObserver } from './observer.js';
import { TensorBoardLog } from '../report/tensorboard-log.js';

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
  /** Who hears of every iteration, epoch and the end (default: the TensorBoard event files). */
  observers?: TrainObserver[];
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

/** Each network a run reports on: G, R and N for Generalist; the one trained model for a baseline. */
function networks(run: Run, s: TrainingState): Record<string, Weights> {
  const { R, N, G } = s.learners;
  return run.method === 'generalist' ? { G, R: R.weights, N: N.weights } : { model: run.method === 'natural' ? N.weights : R.weights };
}

/**
 * The weights a run started from when they came from a model file (fine-tuning a trained model):
 * the final table scores them next to the result. A zoo model's random start is left out.
 */
function startingNetwork(run: Run): Record<string, Weights> {
  return isZooModel(run.config.model.source) ? {} : { start: ArtifactRuntime.weightsFrom(initialState(run.source).values()) };
}

/** The network a run delivers: G for Generalist, the trained model for a baseline. */
function mainWeights(run: Run, s: TrainingState): Weights {
  const { R, N, G } = s.learners;
  return run.method === 'generalist' ? G : run.method === 'natural' ? N.weights : R.weights;
}

/** A diverged step stops the run before its weights reach a checkpoint or an export. */
function checkFinite(run: Run, s: TrainingState, which: 'robust' | 'natural', loss: number, frac: number): void {
  if (Number.isFinite(loss)) return;
  const { config } = run;
  const kept = s.st.epoch > 0 && config.checkpoint.every > 0 ? `; ${run.ckptPath} still holds the weights of the last completed checkpoint` : '';
  const who = run.method !== 'generalist' ? 'model' : which === 'robust' ? 'robust expert' : 'natural expert';
  throw new TrainError(`training diverged: the ${who}'s loss is ${loss} at epoch ${s.st.epoch + 1}, iteration ${s.st.iterInEpoch + 1} ` +
    `(learning rate ${lrAt(config.optim[which], frac).toPrecision(3)})${kept}. Lower optim.${which}.lr (or check the data and model.normalize) and run again`);
}

/** One iteration (iteration.ts) on the run's state, advancing its counters. */
async function iterate(run: Run, s: TrainingState, batch: Batch): Promise<IterationResult> {
  const { st } = s;
  const c = { ...st, itersPerEpoch: run.itersPerEpoch, totalIters: run.totalIters };
  const rts = { robust: run.robustRt, natural: run.naturalRt, robustLoss: run.robustLoss };
  const r = await trainIteration(run.config, rts, s.learners, batch, c, { noise: s.noiseRng, dropout: s.dropoutRng }, (which, loss, _o, frac) => checkFinite(run, s, which, loss, frac));
  s.learners = r.nets;
  st.stepsR = c.stepsR; st.stepsN = c.stepsN; st.emaUpdates = c.emaUpdates;
  st.iter++;
  st.iterInEpoch++;
  return r;
}

/** Running sums of the experts' training loss and accuracy over an epoch. */
interface EpochSums { lossR: number; lossN: number; accR: number; accN: number; n: number }

/** When to stop early: a stop request (SIGINT/SIGTERM) or this call's iteration budget. */
interface StopRule { shouldStop?: () => boolean; maxIterations?: number; itersThisCall: number }
const stopAsked = (r: StopRule) => (r.maxIterations !== undefined && r.itersThisCall >= r.maxIterations) || !!r.shouldStop?.();

/**
 * Trains the rest of the current epoch. Returns its sums, the run fraction of its last iteration,
 * and whether a stop was asked before the run's last iteration.
 */
async function runEpoch(run: Run, s: TrainingState, stop: StopRule, sink: ProgressSink | null, obs: Observers): Promise<{ sums: EpochSums; frac: number; interrupted: boolean }> {
  const { config, itersPerEpoch } = run;
  const { st } = s;
  s.dataRng.setState(st.dataRngEpochStart);
  const it = batches(run.data.train, null, { batchSize: config.batchSize, rng: s.dataRng, augment: run.augment, dropLast: true, startBatch: st.iterInEpoch });
  const bar = sink ? new ProgressBar(`epoch ${st.epoch + 1}/${config.epochs}`, itersPerEpoch, sink) : null;
  const sums: EpochSums = { lossR: 0, lossN: 0, accR: 0, accN: 0, n: 0 };
  let frac = 0;
  let interrupted = false;
  for (const batch of it) {
    frac = runFraction(st.iter, run.totalIters);
    const t0 = performance.now();
    const emaUpdates = st.emaUpdates;
    const r = await iterate(run, s, batch);
    await obs.iteration(run, { step: st.iter, frac, emaUpdates, images: batch.size, seconds: (performance.now() - t0) / 1000, result: r });
    if (r.robust) { sums.lossR += r.robust.loss; sums.accR += r.robust.correct; }
    if (r.natural) { sums.lossN += r.natural.loss; sums.accN += r.natural.correct; }
    sums.n += batch.size;
    // ORT runs block the event loop; yield once per iteration so SIGINT/SIGTERM handlers run.
    await new Promise((res) => setImmediate(res));
    stop.itersThisCall++;
    const k = sums.n / batch.size;
    bar?.update(st.iterInEpoch, sums.n, r.robust && r.natural ? { lossR: sums.lossR / k, lossN: sums.lossN / k } : { loss: (r.robust ? sums.lossR : sums.lossN) / k });
    if (stopAsked(stop)) {
      interrupted = st.iterInEpoch < itersPerEpoch || st.epoch + 1 < config.epochs;
      if (interrupted) break;
    }
  }
  bar?.finish();
  return { sums, frac, interrupted };
}

/** The epoch's metrics line: training loss/accuracy of each expert and the schedules' values. */
function epochMetrics(run: Run, s: TrainingState, sums: EpochSums, frac: number, seconds: number): EpochMetrics {
  const { config } = run;
  const k = Math.max(1, sums.n / config.batchSize);
  const hasR = !!run.robustRt;
  const hasN = !!run.naturalRt;
  return {
    epoch: s.st.epoch + 1, iterations: s.st.iter, seconds: +seconds.toFixed(2), imagesPerSec: +(sums.n / seconds).toFixed(1),
    trainLoss: { ...(hasR ? { R: sums.lossR / k } : {}), ...(hasN ? { N: sums.lossN / k } : {}) },
    trainAcc: { ...(hasR ? { R: sums.accR / sums.n } : {}), ...(hasN ? { N: sums.accN / sums.n } : {}) },
    eps: epsAt(config, frac),
    lr: { ...(hasR ? { R: lrAt(config.optim.robust, frac) } : {}), ...(hasN ? { N: lrAt(config.optim.natural, frac) } : {}) },
    ...(run.method === 'generalist' ? { beta: betaAt(config, frac) } : {}),
  };
}

/** Validation accuracy of every network at the epoch's end, and the best model (chosen on validation, never test). */
async function validate(run: Run, s: TrainingState, m: EpochMetrics): Promise<void> {
  const { config } = run;
  const split = config.eval.split === 'test' ? run.data.test : run.data.validation;
  if (!(config.eval.every > 0 && m.epoch % config.eval.every === 0 && split)) return;
  m.val = await evaluateWeights(run.evalRt, networks(run, s), split, evalSettings(config, config.eval.n, config.seed + 7919 * m.epoch));
  run.log(`epoch ${m.epoch}: ${Object.entries(m.val).map(([n, a]) => `${n} clean ${(100 * a.clean).toFixed(1)}% PGD-${config.eval.pgdSteps} ${(100 * a.robust).toFixed(1)}%`).join(' | ')}  (${m.imagesPerSec} img/s)`);
  const main = m.val.G ?? m.val.model;
  const score = config.checkpoint.bestMetric === 'clean' ? main.clean : config.checkpoint.bestMetric === 'robust' ? main.robust : main.clean + main.robust;
  if (config.checkpoint.best && (!s.st.best || score > s.st.best.score)) {
    s.st.best = { epoch: m.epoch, score };
    saveModelFile(exportInference(run.source, await onHost(mainWeights(run, s)), { epoch: String(m.epoch), selectedOn: config.eval.split }), join(run.outDir, 'best-model.onnx'));
  }
}

/** End of an epoch: metrics, validation, the metrics line, counters for the next epoch, the periodic checkpoint. */
async function endEpoch(run: Run, s: TrainingState, sums: EpochSums, frac: number, seconds: number, obs: Observers): Promise<void> {
  const { config } = run;
  const m = epochMetrics(run, s, sums, frac, seconds);
  await validate(run, s, m);
  const { st } = s;
  st.metrics.push(m);
  appendFileSync(run.metricsPath, JSON.stringify(m) + '\n');
  await obs.epoch(run, m, st.iter);
  st.epoch++;
  st.iterInEpoch = 0;
  st.dataRngEpochStart = s.dataRng.state();
  if (config.checkpoint.every > 0 && st.epoch % config.checkpoint.every === 0) await s.save(run);
}

/** The finished run: last checkpoint, the exported model, the test table in summary.json. */
async function finish(run: Run, s: TrainingState, result: TrainResult, obs: Observers): Promise<void> {
  const { config, method } = run;
  await s.save(run);
  const modelPath = join(run.outDir, 'model.onnx');
  saveModelFile(exportInference(run.source, await onHost(mainWeights(run, s)), { method, epochs: String(config.epochs), configHash: run.hash }), modelPath);
  result.modelPath = modelPath;
  result.final = await evaluateWeights(run.evalRt, { ...networks(run, s), ...startingNetwork(run) }, run.data.test, evalSettings(config, config.eval.finalN, config.seed + 104729));
  const summary = { method, config: config.name, epochs: config.epochs, startsFrom: config.model.source, test: result.final, pgdSteps: config.eval.pgdSteps, eps: config.attack.eps, imagesPerSec: s.st.metrics.at(-1)?.imagesPerSec };
  writeFileAtomic(join(run.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  await obs.finish(run, result, s.st.iter);
}

export async function train(config: Config, opts: TrainOptions = {}): Promise<TrainResult> {
  const sink = opts.sink === null ? null : opts.sink ?? process.stderr;
  const log = (line: string) => sink?.write(line + '\n');
  const run = await setUpRun(config, { resume: opts.resume, cacheDir: opts.cacheDir, log });
  const s = new TrainingState(run);
  if (opts.resume) {
    s.resume(run);
    log(`resuming ${run.outDir} at epoch ${s.st.epoch + 1}, iteration ${s.st.iterInEpoch} of ${run.itersPerEpoch}`);
  }
  const obs = new Observers(opts.observers ?? [new TensorBoardLog()]);
  await obs.start(run, s.st, !!opts.resume);
  const stop: StopRule = { shouldStop: opts.shouldStop, maxIterations: opts.maxIterations, itersThisCall: 0 };
  let interrupted = false;
  while (s.st.epoch < config.epochs && !interrupted) {
    const epochStart = performance.now();
    const ep = await runEpoch(run, s, stop, sink, obs);
    interrupted = ep.interrupted;
    if (interrupted && s.st.iterInEpoch < run.itersPerEpoch) {
      await s.save(run);
      log(`interrupted: checkpoint written to ${run.ckptPath} (resume with --resume)`);
      break;
    }
    await endEpoch(run, s, ep.sums, ep.frac, (performance.now() - epochStart) / 1000, obs);
    if (opts.shouldStop?.() || (opts.maxIterations !== undefined && stop.itersThisCall >= opts.maxIterations && s.st.epoch < config.epochs)) {
      interrupted = s.st.epoch < config.epochs;
      if (interrupted) { await s.save(run); log(`stopped after epoch ${s.st.epoch}: checkpoint written to ${run.ckptPath}`); }
    }
  }

  const { R, N, A, S, G } = s.learners;
  const result: TrainResult = { outDir: run.outDir, interrupted, epochsDone: s.st.epoch, metrics: s.st.metrics, weights: run.method === 'generalist' ? { G, R: R.weights, N: N.weights, A, S } : networks(run, s) };
  if (!interrupted) await finish(run, s, result, obs);
  await releaseRun(run);
  return result;
}

/** The final table as text. */
export function formatTable(final: Record<string, Accuracy>, pgdSteps: number, eps: number): string {
  const rows = Object.entries(final).map(([k, a]) => `| ${k.padEnd(6)} | ${(100 * a.clean).toFixed(2).padStart(6)}% | ${(100 * a.robust).toFixed(2).padStart(6)}% |`);
  return [`test set, ${Object.values(final)[0]?.n ?? 0} images, eps ${eps}`, `| model  |  clean  | PGD-${pgdSteps} |`, '|--------|---------|---------|', ...rows].join('\n');
}
