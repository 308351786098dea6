// The state of a training run: the learners (experts R and N with optimizer slots, EMA teachers A
// and S, global learner G), the counters and the seeded random streams; to and from checkpoints.
import { initialState } from '../artifacts/build.js';
import { ArtifactRuntime, type Weights } from '../runtime/artifact-runtime.js';
import { ort } from '../runtime/ort.js';
import { Rng, type RngState } from '../util/rng.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointMeta, type TensorSpec } from './checkpoint.js';
import { TrainError } from './errors.js';
import { checkRunState, configChanges, type ConfigChange } from './resume.js';
import type { Nets } from './iteration.js';
import type { Run } from './run.js';
import type { EpochMetrics } from './trainer.js';

/** Counters and random-stream positions: the JSON part of a checkpoint. */
export interface RunState {
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
  /** The current epoch's running sums so far (a resumed epoch records the same metrics line). */
  epochSums?: EpochSums;
  /** Training seconds of the current epoch so far. */
  epochSeconds?: number;
  /** Config changes made on resume, recorded in the next metrics line. */
  configChanges?: ConfigChange[];
}

/** Running sums of the experts' training loss and accuracy over an epoch. */
export interface EpochSums { lossR: number; lossN: number; accR: number; accN: number; n: number }
export const zeroSums = (): EpochSums => ({ lossR: 0, lossN: 0, accR: 0, accN: 0, n: 0 });

export const cloneWeights = (w: Weights): Weights => ({ ...w });

/** Checkpoint key prefixes: R's and N's weights and optimizer slots, then A, S and G. */
type Prefix = 'R.w/' | 'R.s/' | 'N.w/' | 'N.s/' | 'A/' | 'S/' | 'G/';

/** Tensors kept on a GPU (WebGPU's gpu-buffer outputs) downloaded for checkpoints and export (ArtifactRuntime.onHost). */
export async function onHost(run: Run, w: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  return run.evalRt.onHost(w);
}

export class TrainingState {
  readonly dataRng: Rng;
  readonly noiseRng: Rng;
  readonly dropoutRng: Rng;
  st: RunState;
  learners: Nets;

  /** Fresh state: both experts and all three EMA networks start from the model's initial weights. */
  constructor(run: Run) {
    const seed = run.config.seed;
    this.dataRng = new Rng(seed);
    this.noiseRng = new Rng((seed ^ 0x9e3779b9) >>> 0);
    this.dropoutRng = new Rng((seed ^ 0x85ebca6b) >>> 0);
    const w0 = ArtifactRuntime.weightsFrom(initialState(run.source).values());
    this.learners = {
      R: { weights: cloneWeights(w0), slots: run.robustRt ? run.robustRt.initialSlots() : {} },
      N: { weights: cloneWeights(w0), slots: run.naturalRt ? run.naturalRt.initialSlots() : {} },
      A: cloneWeights(w0), S: cloneWeights(w0), G: cloneWeights(w0),
    };
    this.st = { epoch: 0, iterInEpoch: 0, iter: 0, emaUpdates: 0, stepsR: 0, stepsN: 0, dataRngEpochStart: this.dataRng.state(), noiseRng: this.noiseRng.state(), metrics: [] };
  }

  /** Every tensor of the state, keyed for the checkpoint. */
  private tensors(): Record<string, ort.Tensor> {
    const { R, N, A, S, G } = this.learners;
    const parts: Record<Prefix, Record<string, ort.Tensor>> = { 'R.w/': R.weights, 'R.s/': R.slots, 'N.w/': N.weights, 'N.s/': N.slots, 'A/': A, 'S/': S, 'G/': G };
    const t: Record<string, ort.Tensor> = {};
    for (const [p, w] of Object.entries(parts)) for (const [k, v] of Object.entries(w)) t[`${p}${k}`] = v;
    return t;
  }

  /** Writes the checkpoint (`onPartialWrite`: fault-injection tests, see saveCheckpoint). */
  async save(run: Run, onPartialWrite?: () => void): Promise<void> {
    const state: RunState = { ...this.st, noiseRng: this.noiseRng.state(), dropoutRng: this.dropoutRng.state() };
    saveCheckpoint(run.ckptPath, { configHash: run.hash, config: run.config, state }, await onHost(run, this.tensors()), onPartialWrite);
  }

  /**
   * Continues from the run folder's checkpoint, after checking every tensor against this run's
   * model, the state's fields against the run, and its config against this one. Returns the
   * config changes (safe ones; an unsafe one throws).
   */
  resume(run: Run): ConfigChange[] {
    const specs: Record<string, TensorSpec> = Object.fromEntries(Object.entries(this.tensors()).map(([k, t]) => [k, { type: t.type, dims: t.dims }]));
    let changes: ConfigChange[] = [];
    const checkConfig = (meta: CheckpointMeta) => {
      if (meta.config === undefined) {
        // Written before checkpoints carried their config: only the very same config resumes.
        if (meta.configHash !== run.hash) throw new TrainError(`checkpoint ${run.ckptPath} was written by a run with another configuration; refusing to resume. Start a new run (another name or outDir) or resume with the same config.`);
      } else {
        changes = configChanges(meta.config, run.config, (meta.state as { iter?: number } | undefined)?.iter ?? 0, run.ckptPath);
      }
    };
    const ck = loadCheckpoint(run.ckptPath, { tensors: specs, meta: checkConfig });
    const { state } = ck.meta;
    checkRunState(state, run.ckptPath, run.config.epochs, run.itersPerEpoch);
    this.st = state as RunState;
    if (changes.length) this.st.configChanges = [...(this.st.configChanges ?? []), ...changes];
    // In this run's key order (the checkpoint's order is free).
    const take = (p: Prefix): Record<string, ort.Tensor> =>
      Object.fromEntries(Object.keys(specs).filter((k) => k.startsWith(p)).map((k) => [k.slice(p.length), ck.tensors[k]]));
    this.learners = { R: { weights: take('R.w/'), slots: take('R.s/') }, N: { weights: take('N.w/'), slots: take('N.s/') }, A: take('A/'), S: take('S/'), G: take('G/') };
    this.noiseRng.setState(this.st.noiseRng);
    if (this.st.dropoutRng) this.dropoutRng.setState(this.st.dropoutRng);
    return changes;
  }
}
