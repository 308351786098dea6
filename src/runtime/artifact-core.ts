// Drives the training artifacts: one ORT run per phase per batch. State (parameters, BN stats,
// optimizer slots) lives as ORT tensors and is fed from one run to the next without copies.
// No Node API here: the ORT flavour (onnxruntime-node, onnxruntime-web) comes in with the sessions
// and its Tensor class, so the CLI and the browser demo run the same code. Opening artifacts from a
// folder is ArtifactRuntime.open (artifact-runtime.ts).
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import type { Manifest } from '../artifacts/build.js';
import { names } from '../artifacts/names.js';
import type { Rng } from '../util/rng.js';
import { numel } from '../util/dims.js';

/** Parameters and BN statistics of one network, by name. */
export type Weights = Record<string, Tensor>;
/** A trainable expert: its weights plus optimizer slots (keyed `slot:param`). */
export interface ExpertState { weights: Weights; slots: Record<string, Tensor> }

export interface StepHyper {
  lr: number;
  weightDecay: number;
  momentum?: number;
  beta1?: number;
  beta2?: number;
  adamEps?: number;
  /** 1-based step count for Adam's bias correction. */
  step?: number;
  tradesBeta?: number;
}

export type ArtifactSessions = Record<'train_step' | 'attack' | 'eval' | 'ema', InferenceSession>;
/** The Tensor class of the ORT flavour that runs the sessions. */
export interface TensorClass {
  new (type: 'float32', data: Float32Array, dims: readonly number[]): Tensor;
  new (type: 'int64', data: BigInt64Array, dims: readonly number[]): Tensor;
}

/** Host-memory bytes fed to and received from session runs. */
export interface Transfer { fed: number; received: number; runs: number }

const hostBytes = (ts: Record<string, Tensor>): number => Object.values(ts).reduce((a, t) => a + (t.location === 'cpu' || t.location === 'cpu-pinned' || t.location === undefined ? (t.data as ArrayBufferView).byteLength : 0), 0);

/** Adds one run's host tensors (inputs and outputs; device-resident ones do not cross) to `t`. */
export function countTransfer(t: Transfer, feeds: Record<string, Tensor>, out: Record<string, Tensor>): void {
  t.fed += hostBytes(feeds);
  t.received += hostBytes(out);
  t.runs++;
}

export class ArtifactCore {
  /**
   * `provider` names where the sessions run (cpu, cuda, webgpu, wasm); `TensorClass` is the Tensor
   * of the ORT package that made them.
   */
  constructor(
    readonly manifest: Manifest,
    readonly provider: string,
    protected readonly sessions: ArtifactSessions,
    private readonly TensorClass: TensorClass,
  ) {}

  /** A float32 tensor of this runtime's ORT flavour. */
  f32(data: Float32Array, dims: readonly number[]): Tensor { return new this.TensorClass('float32', data, dims); }
  /** An int64 tensor (labels) of this runtime's ORT flavour. */
  i64(data: BigInt64Array, dims: readonly number[]): Tensor { return new this.TensorClass('int64', data, dims); }
  scalar(v: number): Tensor { return this.f32(Float32Array.of(v), []); }

  /** Bytes fed to and received from `run` in host memory (what crosses PCIe on CUDA), and the number of runs. */
  readonly transfer: Transfer = { fed: 0, received: 0, runs: 0 };

  /** A session run, counted in `transfer`. */
  async run(session: InferenceSession, feeds: Record<string, Tensor>): Promise<InferenceSession.ReturnType> {
    const out = await session.run(feeds);
    countTransfer(this.transfer, feeds, out);
    return out;
  }

  /** Fresh optimizer slots (zeros) for a set of weights. */
  initialSlots(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const p of this.manifest.params) {
      for (const s of this.manifest.optimizerSlots) out[names.slot(s, p.name)] = this.f32(new Float32Array(numel(p.shape)), p.shape);
    }
    return out;
  }

  private weightFeeds(w: Weights): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    for (const p of this.manifest.params) feeds[p.name] = w[p.name];
    for (const s of this.manifest.stats) feeds[s.name] = w[s.name];
    return feeds;
  }

  /** Whether train steps need dropout masks (the model has Dropout nodes). */
  get needsDropoutMasks(): boolean { return (this.manifest.dropout ?? []).length > 0; }

  /**
   * Fresh dropout masks for a batch of n, drawn from `rng` (the trainer's seeded stream): each
   * element kept with probability 1 - ratio and scaled by 1 / (1 - ratio), as torch's dropout.
   */
  dropoutMasks(n: number, rng: Rng): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const d of this.manifest.dropout ?? []) {
      const data = new Float32Array(n * numel(d.shape));
      const keep = 1 - d.ratio, scale = keep > 0 ? 1 / keep : 0;
      for (let i = 0; i < data.length; i++) data[i] = rng.next() < keep ? scale : 0;
      out[d.name] = this.f32(data, [n, ...d.shape]);
    }
    return out;
  }

  /** The train step's hyper-parameter and dropout-mask inputs (models with Dropout need `masks`: dropoutMasks). */
  stepFeeds(hp: StepHyper, masks?: Record<string, Tensor>): Record<string, Tensor> {
    const o = this.manifest.options;
    const s = (v: number) => this.scalar(v);
    const feeds: Record<string, Tensor> = { [names.lr]: s(hp.lr), [names.weightDecay]: s(hp.weightDecay) };
    for (const d of this.manifest.dropout ?? []) {
      const m = masks?.[d.name];
      if (!m) throw new Error(`the train step needs dropout mask "${d.name}" (ArtifactRuntime.dropoutMasks)`);
      feeds[d.name] = m;
    }
    if (o.optimizer === 'sgd') feeds[names.momentum] = s(hp.momentum ?? 0);
    else {
      feeds[names.beta1] = s(hp.beta1 ?? 0.9);
      feeds[names.beta2] = s(hp.beta2 ?? 0.999);
      feeds[names.adamEps] = s(hp.adamEps ?? 1e-8);
      feeds[names.step] = s(hp.step ?? 1);
    }
    if (o.loss === 'trades') feeds[names.tradesBeta] = s(hp.tradesBeta ?? 6);
    return feeds;
  }

  /**
   * One optimizer step. Returns the new state (inputs are not modified) and the batch's mean loss
   * and correct count. Models with Dropout need `masks` (dropoutMasks).
   */
  async trainStep(state: ExpertState, x: Tensor, y: Tensor, hp: StepHyper, xAdv?: Tensor, masks?: Record<string, Tensor>): Promise<{ state: ExpertState; loss: number; correct: number }> {
    return this.stepResult(state, await this.run(this.sessions.train_step, this.trainStepFeeds(state, x, y, hp, xAdv, masks)));
  }

  /** The train step's feeds (trainStep runs them; a worker thread may run them on its own session of the same file). */
  trainStepFeeds(state: ExpertState, x: Tensor, y: Tensor, hp: StepHyper, xAdv?: Tensor, masks?: Record<string, Tensor>): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = { ...this.weightFeeds(state.weights), ...state.slots, [names.x]: x, [names.y]: y, ...this.stepFeeds(hp, masks) };
    if (this.manifest.options.loss === 'trades') {
      if (!xAdv) throw new Error('the TRADES train step needs adversarial images');
      feeds[names.xAdv] = xAdv;
    }
    return feeds;
  }

  /** The new state, loss and correct count from a train step's outputs. */
  stepResult(state: ExpertState, out: Record<string, Tensor>): { state: ExpertState; loss: number; correct: number } {
    const weights: Weights = {};
    for (const k of Object.keys(state.weights)) weights[k] = out[names.updated(k)] ?? state.weights[k];
    const slots: Record<string, Tensor> = {};
    for (const k of Object.keys(state.slots)) slots[k] = out[names.updated(k)];
    return { state: { weights, slots }, loss: Number(out[names.loss].data[0]), correct: Number(out[names.correct].data[0]) };
  }

  /** The whole K-step PGD attack in one run. `noise` is uniform in [-1, 1] (scaled by eps inside). */
  async attack(w: Weights, x: Tensor, y: Tensor, noise: Tensor, eps: number, stepSize: number): Promise<Tensor> {
    return (await this.run(this.sessions.attack, this.attackFeeds(w, x, y, noise, eps, stepSize)))[names.xAdv];
  }

  /** The attack's feeds (attack runs them). */
  attackFeeds(w: Weights, x: Tensor, y: Tensor, noise: Tensor, eps: number, stepSize: number): Record<string, Tensor> {
    return { ...this.weightFeeds(w), [names.x]: x, [names.y]: y, [names.noise]: noise, [names.eps]: this.scalar(eps), [names.stepSize]: this.scalar(stepSize) };
  }

  async evaluate(w: Weights, x: Tensor, y: Tensor): Promise<{ logits: Tensor; loss: number; correct: number }> {
    const out = await this.run(this.sessions.eval, { ...this.weightFeeds(w), [names.x]: x, [names.y]: y });
    return { logits: out[names.logits], loss: Number(out[names.loss].data[0]), correct: Number(out[names.correct].data[0]) };
  }

  /** A <- dA + (1-d)R; S <- dS + (1-d)N; G <- dG + (1-d)(beta A + (1-beta) S), in one run. */
  async ema(R: Weights, N: Weights, A: Weights, S: Weights, G: Weights, decay: number, beta: number): Promise<{ A: Weights; S: Weights; G: Weights }> {
    const feeds: Record<string, Tensor> = { [names.decay]: this.scalar(decay), [names.blend]: this.scalar(beta) };
    const keys = [...this.manifest.params, ...this.manifest.stats].map((p) => p.name);
    for (const k of keys) {
      feeds[names.ema('R', k)] = R[k]; feeds[names.ema('N', k)] = N[k]; feeds[names.ema('A', k)] = A[k];
      feeds[names.ema('S', k)] = S[k]; feeds[names.ema('G', k)] = G[k];
    }
    const out = await this.run(this.sessions.ema, feeds);
    const pick = (w: 'A' | 'S' | 'G'): Weights => Object.fromEntries(keys.map((k) => [k, out[names.updated(names.ema(w, k))]]));
    return { A: pick('A'), S: pick('S'), G: pick('G') };
  }

  async release(): Promise<void> {
    for (const s of Object.values(this.sessions)) await s.release();
  }
}
