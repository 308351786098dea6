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
import type { FusedRunner, IterationPlan, IterationResult, Nets } from './iteration.js';

type Net = 'R' | 'N' | 'A' | 'S' | 'G';

export class FusedIteration implements FusedRunner {
  /** Host bytes fed to and received from the fused runs. */
  readonly transfer: Transfer = { fed: 0, received: 0, runs: 0 };

  private constructor(private readonly session: ort.InferenceSession, private readonly robust: ArtifactRuntime | null, private readonly natural: ArtifactRuntime | null) {}

  /** Builds (or finds in `cacheRoot`) the fused artifact of these runtimes' artifacts and opens it on their provider. */
  static async open(rts: { robust: ArtifactRuntime | null; natural: ArtifactRuntime | null; robustLoss: 'ce' | 'trades'; generalist: boolean }, cacheRoot: string, opts: OpenOptions = {}): Promise<FusedIteration> {
    const file = ensureIteration({ robust: rts.robust?.dir, natural: rts.natural?.dir, robustLoss: rts.robustLoss, generalist: rts.generalist }, cacheRoot);
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
    const out = await this.session.run(feeds);
    countTransfer(this.transfer, feeds, out);
    const pick = (net: Net, w: Weights): Weights => Object.fromEntries(Object.keys(w).map((k) => [k, out[names.updated(iterationNames.state(net, k))]]));
    const result: IterationResult = { nets: { ...nets } };
    const score = (net: 'R' | 'N') => ({ loss: Number(out[iterationNames.hyper(net, names.loss)].data[0]), correct: Number(out[iterationNames.hyper(net, names.correct)].data[0]) });
    if (p.robust) { result.nets.R = { weights: pick('R', nets.R.weights), slots: pick('R', nets.R.slots) }; result.robust = score('R'); }
    if (p.natural) { result.nets.N = { weights: pick('N', nets.N.weights), slots: pick('N', nets.N.slots) }; result.natural = score('N'); }
    if (p.ema) { result.nets.A = pick('A', nets.A); result.nets.S = pick('S', nets.S); result.nets.G = pick('G', nets.G); }
    return result;
  }

  async release(): Promise<void> { await this.session.release(); }
}
