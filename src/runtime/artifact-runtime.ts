// Drives the training artifacts: one ORT run per phase per batch. State (parameters, BN stats,
// optimizer slots) lives as ORT tensors and is fed from one run to the next without copies.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ort, toOrt } from './ort.js';
import { openSession, type OpenOptions, type Provider } from './providers.js';
import { names, type Manifest } from '../artifacts/build.js';
import { readManifest } from '../artifacts/store.js';
import type { Tensor } from '../onnx/ir.js';
import type { Rng } from '../util/rng.js';

/** Parameters and BN statistics of one network, by name. */
export type Weights = Record<string, ort.Tensor>;
/** A trainable expert: its weights plus optimizer slots (keyed `slot:param`). */
export interface ExpertState { weights: Weights; slots: Record<string, ort.Tensor> }

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

const scalar = (v: number) => new ort.Tensor('float32', Float32Array.of(v), []);

export class ArtifactRuntime {
  private constructor(
    readonly manifest: Manifest,
    readonly provider: Provider,
    private readonly sessions: Record<'train_step' | 'attack' | 'eval' | 'ema', ort.InferenceSession>,
  ) {}

  static async open(dir: string, opts: OpenOptions = {}): Promise<ArtifactRuntime> {
    const manifest = readManifest(dir);
    const open = (k: keyof Manifest['artifacts'], keep: string[], o: OpenOptions) =>
      openSession(readFileSync(join(dir, manifest.artifacts[k].file)), { ...o, keepOnDevice: keep });
    // The train step decides the provider (it may fall back to CPU); the others follow it.
    // On WebGPU the updated state stays on the device between runs.
    const train = await open('train_step', manifest.artifacts.train_step.outputs.map((o) => o.name).filter((n) => n.startsWith('new:')), opts);
    const same: OpenOptions = { ...opts, provider: train.provider };
    const attack = await open('attack', [], same);
    const evalS = await open('eval', [], same);
    const ema = await open('ema', manifest.artifacts.ema.outputs.map((o) => o.name), same);
    return new ArtifactRuntime(manifest, train.provider, { train_step: train.session, attack: attack.session, eval: evalS.session, ema: ema.session });
  }

  /** Fresh optimizer slots (zeros) for a set of weights. */
  initialSlots(): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    for (const p of this.manifest.params) {
      for (const s of this.manifest.optimizerSlots) out[names.slot(s, p.name)] = new ort.Tensor('float32', new Float32Array(p.shape.reduce((a, v) => a * v, 1)), p.shape);
    }
    return out;
  }

  /** Weights from model initializers. */
  static weightsFrom(tensors: Iterable<Tensor>): Weights {
    const w: Weights = {};
    for (const t of tensors) w[t.name] = toOrt(t);
    return w;
  }

  private weightFeeds(w: Weights): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
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
  dropoutMasks(n: number, rng: Rng): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    for (const d of this.manifest.dropout ?? []) {
      const data = new Float32Array(n * d.shape.reduce((a, v) => a * v, 1));
      const keep = 1 - d.ratio, scale = keep > 0 ? 1 / keep : 0;
      for (let i = 0; i < data.length; i++) data[i] = rng.next() < keep ? scale : 0;
      out[d.name] = new ort.Tensor('float32', data, [n, ...d.shape]);
    }
    return out;
  }

  /**
   * One optimizer step. Returns the new state (inputs are not modified) and the batch's mean loss
   * and correct count. Models with Dropout need `masks` (dropoutMasks).
   */
  async trainStep(state: ExpertState, x: ort.Tensor, y: ort.Tensor, hp: StepHyper, xAdv?: ort.Tensor, masks?: Record<string, ort.Tensor>): Promise<{ state: ExpertState; loss: number; correct: number }> {
    const o = this.manifest.options;
    const feeds: Record<string, ort.Tensor> = { ...this.weightFeeds(state.weights), ...state.slots, [names.x]: x, [names.y]: y, [names.lr]: scalar(hp.lr), [names.weightDecay]: scalar(hp.weightDecay) };
    for (const d of this.manifest.dropout ?? []) {
      const m = masks?.[d.name];
      if (!m) throw new Error(`the train step needs dropout mask "${d.name}" (ArtifactRuntime.dropoutMasks)`);
      feeds[d.name] = m;
    }
    if (o.optimizer === 'sgd') feeds[names.momentum] = scalar(hp.momentum ?? 0);
    else {
      feeds[names.beta1] = scalar(hp.beta1 ?? 0.9);
      feeds[names.beta2] = scalar(hp.beta2 ?? 0.999);
      feeds[names.adamEps] = scalar(hp.adamEps ?? 1e-8);
      feeds[names.step] = scalar(hp.step ?? 1);
    }
    if (o.loss === 'trades') {
      if (!xAdv) throw new Error('the TRADES train step needs adversarial images');
      feeds[names.xAdv] = xAdv;
      feeds[names.tradesBeta] = scalar(hp.tradesBeta ?? 6);
    }
    const out = await this.sessions.train_step.run(feeds);
    const weights: Weights = {};
    for (const k of Object.keys(state.weights)) weights[k] = out[names.updated(k)] ?? state.weights[k];
    const slots: Record<string, ort.Tensor> = {};
    for (const k of Object.keys(state.slots)) slots[k] = out[names.updated(k)];
    return { state: { weights, slots }, loss: Number(out[names.loss].data[0]), correct: Number(out[names.correct].data[0]) };
  }

  /** The whole K-step PGD attack in one run. `noise` is uniform in [-1, 1] (scaled by eps inside). */
  async attack(w: Weights, x: ort.Tensor, y: ort.Tensor, noise: ort.Tensor, eps: number, stepSize: number): Promise<ort.Tensor> {
    const out = await this.sessions.attack.run({ ...this.weightFeeds(w), [names.x]: x, [names.y]: y, [names.noise]: noise, [names.eps]: scalar(eps), [names.stepSize]: scalar(stepSize) });
    return out[names.xAdv];
  }

  async evaluate(w: Weights, x: ort.Tensor, y: ort.Tensor): Promise<{ logits: ort.Tensor; loss: number; correct: number }> {
    const out = await this.sessions.eval.run({ ...this.weightFeeds(w), [names.x]: x, [names.y]: y });
    return { logits: out[names.logits], loss: Number(out[names.loss].data[0]), correct: Number(out[names.correct].data[0]) };
  }

  /** A <- dA + (1-d)R; S <- dS + (1-d)N; G <- dG + (1-d)(beta A + (1-beta) S), in one run. */
  async ema(R: Weights, N: Weights, A: Weights, S: Weights, G: Weights, decay: number, beta: number): Promise<{ A: Weights; S: Weights; G: Weights }> {
    const feeds: Record<string, ort.Tensor> = { [names.decay]: scalar(decay), [names.blend]: scalar(beta) };
    const keys = [...this.manifest.params, ...this.manifest.stats].map((p) => p.name);
    for (const k of keys) {
      feeds[names.ema('R', k)] = R[k]; feeds[names.ema('N', k)] = N[k]; feeds[names.ema('A', k)] = A[k];
      feeds[names.ema('S', k)] = S[k]; feeds[names.ema('G', k)] = G[k];
    }
    const out = await this.sessions.ema.run(feeds);
    const pick = (w: 'A' | 'S' | 'G'): Weights => Object.fromEntries(keys.map((k) => [k, out[names.updated(names.ema(w, k))]]));
    return { A: pick('A'), S: pick('S'), G: pick('G') };
  }

  async release(): Promise<void> {
    for (const s of Object.values(this.sessions)) await s.release();
  }
}
