// src/train: the Generalist orchestrator and baselines: run setup, iterations, checkpoints, export,
// trade-off. Imports every folder but src/cli; from src/report only its two default observers.
//
// The training loop of the Generalist orchestrator and the single-model baselines: epochs of
// iterations (iteration.ts), then per epoch the validation metrics, the best model and a checkpoint;
// at the end the export and the test table. Setting up is run.ts; the state and its checkpoints,
// state.ts.
import { appendFileSync, existsSync, linkSync, readdirSync, rmSync, copyFileSync } from 'node:fs';
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
import { trainIteration, trainIterations, type IterationResult } from './iteration.js';
import type { FusedIteration } from './fused.js';
import { ProgressBar, type ProgressSink } from './progress.js';
import { evalSettings, releaseRun, setUpRun, writeRunConfig, type Run } from './run.js';
import { isZooModel } from './source.js';
import { onHost, TrainingState, zeroSums } from './state.js';
import { TrainError } from './errors.js';
import type { ConfigChange } from './resume.js';
import { Observers, type TrainObserver } from './observer.js';
import { TensorBoardLog } from '../report/tensorboard-log.js';
import { RunReportWriter } from '../report/run-report-writer.js';

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
  /** Who hears of every iteration, epoch and the end (default: the TensorBoard event files and the HTML report). */
  observers?: TrainObserver[];
  /** Fault injection for tests of crash safety: called after each iteration, and in the middle of each checkpoint write. */
  faults?: { afterIteration?: (iter: number) => void; duringCheckpointWrite?: () => void };
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
  /** Config fields changed on a resume during this epoch, and from which iteration. */
  configChanges?: ConfigChange[];
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
  const kept = existsSync(run.ckptPath);
  const who = run.method !== 'generalist' ? 'model' : which === 'robust' ? 'robust expert' : 'natural expert';
  const next = kept
    ? `; ${run.ckptPath} still holds the last checkpoint. Lower optim.${which}.lr (or check the data and model.normalize) and continue it with --resume (a changed lr schedule is allowed there)`
    : `. Lower optim.${which}.lr (or check the data and model.normalize) and run again`;
  throw new TrainError(`training diverged: the ${who}'s loss is ${loss} at epoch ${s.st.epoch + 1}, iteration ${s.st.iterInEpoch + 1} ` +
    `(learning rate ${lrAt(config.optim[which], frac).toPrecision(3)})${next}`);
}

/**
 * The iterations of a group of batches (iteration.ts) on the run's state, advancing its counters:
 * one batch per group, or up to K in one run of the K-loop form (run.loopK).
 */
async function iterate(run: Run, s: TrainingState, group: Batch[]): Promise<IterationResult[]> {
  const { st } = s;
  const c = { ...st, itersPerEpoch: run.itersPerEpoch, totalIters: run.totalIters };
  const rts = { robust: run.robustRt, natural: run.naturalRt, robustLoss: run.robustLoss };
  const rngs = { noise: s.noiseRng, dropout: s.dropoutRng };
  const check = (which: 'robust' | 'natural', loss: number, _o: unknown, frac: number) => checkFinite(run, s, which, loss, frac);
  const out = run.loopK > 0
    ? await trainIterations(run.config, rts, s.learners, group, c, rngs, check, run.fused as FusedIteration)
    : [await trainIteration(run.config, rts, s.learners, group[0], c, rngs, check, run.fused ?? undefined)];
  s.learners = out[out.length - 1].nets;
  st.stepsR = c.stepsR; st.stepsN = c.stepsN; st.emaUpdates = c.emaUpdates;
  st.iter += group.length;
  st.iterInEpoch += group.length;
  return out;
}

/** When to stop early: a stop request (SIGINT/SIGTERM) or this call's iteration budget. */
interface StopRule { shouldStop?: () => boolean; maxIterations?: number; itersThisCall: number }
const stopAsked = (r: StopRule) => (r.maxIterations !== undefined && r.itersThisCall >= r.maxIterations) || !!r.shouldStop?.();

/** When the next mid-epoch checkpoint is due: every checkpoint.iterations iterations or checkpoint.minutes minutes. */
class CheckpointClock {
  private iter: number;
  private time = performance.now();
  constructor(private readonly run: Run, iter: number) { this.iter = iter; }
  due(iter: number): boolean {
    const { iterations, minutes } = this.run.config.checkpoint;
    return (iterations > 0 && iter - this.iter >= iterations) || (minutes > 0 && performance.now() - this.time >= minutes * 60_000);
  }
  reset(iter: number): void { this.iter = iter; this.time = performance.now(); }
}

/**
 * Trains the rest of the current epoch, accumulating its sums and seconds in the state (so a
 * checkpoint carries them), with mid-epoch checkpoints when the clock says so. Returns whether a
 * stop was asked before the run's last iteration.
 */
async function runEpoch(run: Run, s: TrainingState, stop: StopRule, clock: CheckpointClock, opts: TrainOptions, sink: ProgressSink | null, obs: Observers): Promise<boolean> {
  const { config, itersPerEpoch } = run;
  const { st } = s;
  s.dataRng.setState(st.dataRngEpochStart);
  const it = batches(run.data.train, null, { batchSize: config.batchSize, rng: s.dataRng, augment: run.augment, dropLast: true, startBatch: st.iterInEpoch });
  const bar = sink ? new ProgressBar(`epoch ${st.epoch + 1}/${config.epochs}`, itersPerEpoch, sink) : null;
  const sums = (st.epochSums ??= zeroSums());
  // Iterations run in groups: one, or with the K-loop form up to K that end at multiples of K from
  // the epoch's start (and at its end), so a run resumed from any checkpoint groups as an
  // uninterrupted one does. Progress, checkpoints and stops happen between groups.
  const K = Math.max(1, run.loopK);
  let group: Batch[] = [];
  let interrupted = false;
  for (const batch of it) {
    group.push(batch);
    const reached = st.iterInEpoch + group.length;
    if (reached % K !== 0 && reached < itersPerEpoch) continue;
    const t0 = performance.now();
    const first = { iter: st.iter, emaUpdates: st.emaUpdates };
    const results = await iterate(run, s, group);
    const seconds = (performance.now() - t0) / 1000;
    for (const [i, r] of results.entries()) {
      const emaUpdates = first.emaUpdates + (run.method === 'generalist' ? i : 0);
      await obs.iteration(run, { step: first.iter + i + 1, frac: runFraction(first.iter + i, run.totalIters), emaUpdates, images: group[i].size, seconds: seconds / group.length, result: r });
      if (r.robust) { sums.lossR += r.robust.loss; sums.accR += r.robust.correct; }
      if (r.natural) { sums.lossN += r.natural.loss; sums.accN += r.natural.correct; }
      sums.n += group[i].size;
      opts.faults?.afterIteration?.(first.iter + i + 1);
    }
    st.epochSeconds = (st.epochSeconds ?? 0) + (performance.now() - t0) / 1000;
    // ORT runs block the event loop; yield once per group so SIGINT/SIGTERM handlers run.
    await new Promise((res) => setImmediate(res));
    stop.itersThisCall += group.length;
    const r = results[results.length - 1];
    const k = sums.n / group[0].size;
    group = [];
    bar?.update(st.iterInEpoch, sums.n, r.robust && r.natural ? { lossR: sums.lossR / k, lossN: sums.lossN / k } : { loss: (r.robust ? sums.lossR : sums.lossN) / k });
    if (stopAsked(stop)) {
      interrupted = st.iterInEpoch < itersPerEpoch || st.epoch + 1 < config.epochs;
      if (interrupted) break;
    }
    if (st.iterInEpoch < itersPerEpoch && clock.due(st.iter)) {
      await s.save(run, opts.faults?.duringCheckpointWrite);
      clock.reset(st.iter);
    }
  }
  bar?.finish();
  return interrupted;
}

/** The epoch's metrics line: training loss/accuracy of each expert and the schedules' values. */
function epochMetrics(run: Run, s: TrainingState): EpochMetrics {
  const { config } = run;
  const sums = s.st.epochSums ?? zeroSums();
  const seconds = s.st.epochSeconds ?? 0;
  // The schedules' values at the epoch's last iteration.
  const frac = runFraction(s.st.iter - 1, run.totalIters);
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
    ...(s.st.configChanges?.length ? { configChanges: s.st.configChanges } : {}),
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
    saveModelFile(exportInference(run.source, await onHost(run, mainWeights(run, s)), { epoch: String(m.epoch), selectedOn: config.eval.split }), join(run.outDir, 'best-model.onnx'));
  }
}

/**
 * End of an epoch: metrics, validation, the metrics line, counters for the next epoch, the periodic
 * checkpoint (also kept as checkpoint-epoch-E.bin, the last checkpoint.keep of them).
 */
async function endEpoch(run: Run, s: TrainingState, clock: CheckpointClock, opts: TrainOptions, obs: Observers): Promise<void> {
  const { config } = run;
  const m = epochMetrics(run, s);
  await validate(run, s, m);
  const { st } = s;
  st.metrics.push(m);
  appendFileSync(run.metricsPath, JSON.stringify(m) + '\n');
  await obs.epoch(run, m, st.iter);
  st.epoch++;
  st.iterInEpoch = 0;
  st.dataRngEpochStart = s.dataRng.state();
  st.epochSums = zeroSums();
  st.epochSeconds = 0;
  st.configChanges = undefined;
  if (config.checkpoint.every > 0 && st.epoch % config.checkpoint.every === 0) {
    await s.save(run, opts.faults?.duringCheckpointWrite);
    clock.reset(st.iter);
    keepEpochCheckpoint(run, st.epoch);
  }
}

/** checkpoint.bin as checkpoint-epoch-E.bin (a hard link where possible), and only the last checkpoint.keep of those (0: all). */
function keepEpochCheckpoint(run: Run, epoch: number): void {
  const name = (e: number) => join(run.outDir, `checkpoint-epoch-${e}.bin`);
  rmSync(name(epoch), { force: true });
  try {
    linkSync(run.ckptPath, name(epoch));
  } catch {
    copyFileSync(run.ckptPath, name(epoch));
  }
  const { keep } = run.config.checkpoint;
  if (keep <= 0) return;
  const kept = readdirSync(run.outDir).map((f) => /^checkpoint-epoch-(\d+)\.bin$/.exec(f)).filter((x) => x !== null).map((x) => Number(x[1])).sort((a, b) => a - b);
  for (const e of kept.slice(0, Math.max(0, kept.length - keep))) rmSync(name(e), { force: true });
}

/** metrics.jsonl as the state records it: a resumed run drops the lines of work it redoes. */
function rewriteMetrics(run: Run, s: TrainingState): void {
  writeFileAtomic(run.metricsPath, s.st.metrics.map((m) => JSON.stringify(m) + '\n').join(''));
}

/** The finished run: last checkpoint, the exported model, the test table in summary.json. */
async function finish(run: Run, s: TrainingState, result: TrainResult, obs: Observers): Promise<void> {
  const { config, method } = run;
  await s.save(run);
  const modelPath = join(run.outDir, 'model.onnx');
  saveModelFile(exportInference(run.source, await onHost(run, mainWeights(run, s)), { method, epochs: String(config.epochs), configHash: run.hash }), modelPath);
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
  if (run.resume) {
    const changes = s.resume(run);
    log(`resuming ${run.outDir} at epoch ${s.st.epoch + 1}, iteration ${s.st.iterInEpoch} of ${run.itersPerEpoch}`);
    if (changes.length) log(`changed since the checkpoint (recorded in metrics.jsonl): ${changes.map((c) => `${c.field} ${JSON.stringify(c.from)} -> ${JSON.stringify(c.to)}`).join('; ')}`);
  }
  writeRunConfig(run);
  rewriteMetrics(run, s);
  const obs = new Observers(opts.observers ?? [new TensorBoardLog(), new RunReportWriter()]);
  await obs.start(run, s.st, run.resume);
  const stop: StopRule = { shouldStop: opts.shouldStop, maxIterations: opts.maxIterations, itersThisCall: 0 };
  const clock = new CheckpointClock(run, s.st.iter);
  let interrupted = false;
  while (s.st.epoch < config.epochs && !interrupted) {
    interrupted = await runEpoch(run, s, stop, clock, opts, sink, obs);
    if (interrupted && s.st.iterInEpoch < run.itersPerEpoch) {
      await s.save(run);
      log(`interrupted: checkpoint written to ${run.ckptPath} (resume with --resume)`);
      break;
    }
    await endEpoch(run, s, clock, opts, obs);
    if (opts.shouldStop?.() || (opts.maxIterations !== undefined && stop.itersThisCall >= opts.maxIterations && s.st.epoch < config.epochs)) {
      interrupted = s.st.epoch < config.epochs;
      if (interrupted) { await s.save(run); log(`stopped after epoch ${s.st.epoch}: checkpoint written to ${run.ckptPath}`); }
    }
  }

  const { R, N, A, S, G } = s.learners;
  const nets = run.method === 'generalist' ? { G, R: R.weights, N: N.weights, A, S } : networks(run, s);
  const weights: Record<string, Weights> = {};
  for (const [k, w] of Object.entries(nets)) weights[k] = await onHost(run, w);
  const result: TrainResult = { outDir: run.outDir, interrupted, epochsDone: s.st.epoch, metrics: s.st.metrics, weights };
  if (!interrupted) await finish(run, s, result, obs);
  await releaseRun(run);
  return result;
}

export { formatTable } from '../report/test-table.js';
