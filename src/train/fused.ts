// The fused iteration: a whole training iteration as one run of the `iteration` artifact
// (artifacts/iteration.ts) instead of four runs (attack, robust step, natural step, EMA). The
// state then crosses between host and device once per iteration, not once per phase: on CUDA,
// where onnxruntime-node copies every input and output of every run, that is most of the cost.
// Same plan (iteration.ts), same numbers to float32 rounding. The trainer chooses it (run.ts).
import { readFileSync } from 'node:fs';
import { iterationNames } from '../artifacts/iteration.js';
import { names } from '../artifacts/names.js';
import { ensureIteration } from '../artifacts/store.js';
import { countTransfer, type Transfer, type Weights } from '../runtime/artifact-core.js';
import type { ArtifactRuntime } from '../runtime/artifact-runtime.js';
import { openSession, type OpenOptions } from '../runtime/providers.js';
import type { ort } from '../runtime/ort.js';
import type { FusedRunner, IterationPlan, IterationResult, LoopRunner, Nets } from './iteration.js';

type Net = 'R' | 'N' | 'A' | 'S' | 'G';

/** K host tensors of one shape stacked on a new leading axis. */
function stack(ts: ort.Tensor[]): ort.Tensor {
  const first = ts[0];
  const data = first.type === 'int64' ? new BigInt64Array(ts.length * first.size) : new Float32Array(ts.length * first.size);
  ts.forEach((t, i) => (data as Float32Array).set(t.data as Float32Array, i * first.size));
  return new (first.constructor as typeof ort.Tensor)(first.type as 'float32', data as Float32Array, [ts.length, ...first.dims]);
}

export class FusedIteration implements FusedRunner, LoopRunner {
  /** Host bytes fed to and received from the fused runs. */
  readonly transfer: Transfer = { fed: 0, received: 0, runs: 0 };

  private constructor(private readonly session: ort.InferenceSession, private readonly robust: ArtifactRuntime | null, private readonly natural: ArtifactRuntime | null) {}

  /** Builds (or finds in `cacheRoot`) the fused artifact of these runtimes' artifacts and opens it on their provider. */
  static async open(rts: { robust: ArtifactRuntime | null; natural: ArtifactRuntime | null; robustLoss: 'ce' | 'trades'; generalist: boolean }, cacheRoot: string, opts: OpenOptions & { loop?: boolean } = {}): Promise<FusedIteration> {
    const file = ensureIteration({ robust: rts.robust?.dir, natural: rts.natural?.dir, robustLoss: rts.robustLoss, generalist: rts.generalist }, cacheRoot, opts.loop ?? false);
    const provider = (rts.robust ?? rts.natural)!.provider;
    const bytes = readFileSync(file);
    // First without outputs on the device, to learn the output names; WebGPU then reopens keeping the state there.
    let { session } = await openSession(bytes, { ...opts, provider });
    if (provider === 'webgpu') {
      const keep = session.outputNames.filter((n) => n.startsWith('new:'));
      await session.release();
      ({ session } = await openSession(bytes, { ...opts, provider, keepOnDevice: keep }));
    }
    return new FusedIteration(session, rts.robust, rts.natural);
  }

  async run(nets: Nets, p: IterationPlan): Promise<IterationResult> {
    const feeds = this.feeds(nets, p);
    const out = await this.session.run(feeds);
    countTransfer(this.transfer, feeds, out);
    return this.unpack(nets, p, out, 0);
  }

  /**
   * K planned iterations in one run of the K-loop artifact (open with `loop: true`; K = plans.length): the state is fed
   * once and comes back once; the batches, labels, noise and hyper-parameters go stacked. Returns
   * each iteration's losses and the networks after the last.
   */
  async runLoop(nets: Nets, plans: IterationPlan[]): Promise<IterationResult[]> {
    const per = plans.map((p) => this.feeds(nets, p));
    const feeds: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(per[0])) feeds[k] = this.isState(k) ? t : stack(per.map((f) => f[k]));
    const out = await this.session.run(feeds);
    countTransfer(this.transfer, feeds, out);
    return plans.map((p, i) => this.unpack(nets, p, out, i));
  }

  private isState(name: string): boolean { return this.session.outputNames.includes(names.updated(name)); }

  private feeds(nets: Nets, p: IterationPlan): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = { [names.x]: p.x, [names.y]: p.y };
    const put = (net: Net, w: Weights) => { for (const [k, t] of Object.entries(w)) feeds[iterationNames.state(net, k)] = t; };
    const hyper = (net: 'R' | 'N', f: Record<string, ort.Tensor>) => { for (const [k, t] of Object.entries(f)) feeds[iterationNames.hyper(net, k)] = t; };
    const rt = (this.robust ?? this.natural)!;
    if (this.robust && p.robust) {
      put('R', nets.R.weights); put('R', nets.R.slots);
      hyper('R', this.robust.stepFeeds(p.robust.hp, p.robust.masks));
      Object.assign(feeds, { [names.noise]: p.robust.noise, [names.eps]: rt.scalar(p.robust.eps), [names.stepSize]: rt.scalar(p.robust.stepSize) });
    }
    if (this.natural && p.natural) {
      put('N', nets.N.weights); put('N', nets.N.slots);
      hyper('N', this.natural.stepFeeds(p.natural.hp, p.natural.masks));
    }
    if (p.ema) {
      put('A', nets.A); put('S', nets.S); put('G', nets.G);
      Object.assign(feeds, { [names.decay]: rt.scalar(p.ema.decay), [names.blend]: rt.scalar(p.ema.beta), [iterationNames.redistribute]: rt.scalar(p.ema.redistribute ? 1 : 0) });
    }
    return feeds;
  }

  /** The result of iteration `i` of a run (0 for a fused run): its losses; the networks the run returned. */
  private unpack(nets: Nets, p: IterationPlan, out: ort.InferenceSession.ReturnType, i: number): IterationResult {
    const pick = (net: Net, w: Weights): Weights => Object.fromEntries(Object.keys(w).map((k) => [k, out[names.updated(iterationNames.state(net, k))]]));
    const result: IterationResult = { nets: { ...nets } };
    const score = (net: 'R' | 'N') => ({ loss: Number(out[iterationNames.hyper(net, names.loss)].data[i]), correct: Number(out[iterationNames.hyper(net, names.correct)].data[i]) });
    if (p.robust) { result.nets.R = { weights: pick('R', nets.R.weights), slots: pick('R', nets.R.slots) }; result.robust = score('R'); }
    if (p.natural) { result.nets.N = { weights: pick('N', nets.N.weights), slots: pick('N', nets.N.slots) }; result.natural = score('N'); }
    if (p.ema) { result.nets.A = pick('A', nets.A); result.nets.S = pick('S', nets.S); result.nets.G = pick('G', nets.G); }
    return result;
  }

  async release(): Promise<void> { await this.session.release(); }
}
