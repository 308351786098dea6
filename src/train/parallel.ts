// The parallel iteration (CPU, two or more threads): the iteration's independent work on two
// threads. onnxruntime-node's run() blocks the thread that calls it, and on our 2-core machines
// two one-thread runs side by side did more work than one two-thread run (ORT's pooling, scatter
// and elementwise kernels scale poorly): so
//   1. the PGD attack runs on the batch in halves, one here and one on a worker thread. R is in
//      eval mode while attacking, so each image's attack depends on no other image: the halves
//      together are the whole batch's attack;
//   2. the robust expert's step runs here while the natural expert's runs on the worker (they
//      share only the clean batch);
//   3. the EMA/blend (and redistribution) runs here, as in the four-run form.
// Same plan (iteration.ts) as the other forms, same numbers to float32 rounding. Each side's
// sessions get half the threads (config.threads, or all cores). The trainer chooses it (run.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { names } from '../artifacts/names.js';
import type { ArtifactRuntime } from '../runtime/artifact-runtime.js';
import type { ExpertState } from '../runtime/artifact-core.js';
import { ort } from '../runtime/ort.js';
import { sessionOptions, type OpenOptions } from '../runtime/providers.js';
import { WorkerSessions } from '../runtime/worker-sessions.js';
import { emaPhase, type FusedRunner, type IterationPlan, type IterationResult, type Nets } from './iteration.js';

/** Images [lo, hi) of a batch tensor (first axis), as a tensor of its own. */
function rows(t: ort.Tensor, lo: number, hi: number): ort.Tensor {
  const per = t.size / t.dims[0];
  return new ort.Tensor(t.type as 'float32', (t.data as Float32Array).slice(lo * per, hi * per), [hi - lo, ...t.dims.slice(1)]);
}

/** Threads of this side and of the worker's side, from the run's threads (0: all cores). */
export function splitThreads(threads: number, cores: number): { main: number; worker: number } {
  const t = threads || cores;
  return { main: Math.ceil(t / 2), worker: Math.max(1, Math.floor(t / 2)) };
}

export class ParallelIteration implements FusedRunner {
  private constructor(
    private readonly worker: WorkerSessions,
    private readonly robust: ArtifactRuntime,
    private readonly natural: ArtifactRuntime | null,
    private readonly robustLoss: 'ce' | 'trades',
  ) {}

  /**
   * Opens the worker's sessions: the robust expert's attack and the natural expert's train step,
   * from the same artifact files as this thread's, with `threads` intra-op threads.
   */
  static async open(rts: { robust: ArtifactRuntime; natural: ArtifactRuntime | null; robustLoss: 'ce' | 'trades' }, opts: Pick<OpenOptions, 'threads' | 'tuning' | 'optimization' | 'branches'>): Promise<ParallelIteration> {
    if (rts.robust.provider !== 'cpu' || (rts.natural && rts.natural.provider !== 'cpu')) throw new Error('the parallel iteration runs on the CPU provider only');
    const worker = new WorkerSessions();
    try {
      const options = sessionOptions(opts);
      const attack = join(rts.robust.dir, rts.robust.manifest.artifacts.attack.file);
      const step = rts.natural && join(rts.natural.dir, rts.natural.manifest.artifacts.train_step.file);
      // One session (one arena) for the two: they never run at the same time (branch-model.ts).
      if (step && opts.branches !== false) await worker.openBranches([{ name: 'attack', bytes: readFileSync(attack) }, { name: 'natural_step', bytes: readFileSync(step) }], options);
      else {
        await worker.open('attack', attack, options);
        if (step) await worker.open('natural_step', step, options);
      }
    } catch (e) {
      await worker.release();
      throw e;
    }
    return new ParallelIteration(worker, rts.robust, rts.natural, rts.robustLoss);
  }

  /** The robust expert's PGD attack on a batch: the first half here, the second on the worker, at the same time. */
  async attack(R: ExpertState['weights'], x: ort.Tensor, y: ort.Tensor, noise: ort.Tensor, eps: number, stepSize: number): Promise<ort.Tensor> {
    const n = x.dims[0], h = n >> 1;
    if (h === 0) return this.robust.attack(R, x, y, noise, eps, stepSize) as Promise<ort.Tensor>;
    const half = (lo: number, hi: number) => [rows(x, lo, hi), rows(y, lo, hi), rows(noise, lo, hi)] as const;
    const [x2, y2, n2] = half(h, n);
    const remote = this.worker.run('attack', this.robust.attackFeeds(R, x2, y2, n2, eps, stepSize) as Record<string, ort.Tensor>);
    const [x1, y1, n1] = half(0, h);
    const [a, b] = await Promise.all([this.robust.attack(R, x1, y1, n1, eps, stepSize), remote]);
    const out = new Float32Array(x.size);
    out.set(a.data as Float32Array, 0);
    out.set(b[names.xAdv].data as Float32Array, (a.data as Float32Array).length);
    return new ort.Tensor('float32', out, x.dims);
  }

  /** One planned iteration: attack in halves, the two experts' steps side by side, then the EMA here. */
  async run(nets: Nets, p: IterationPlan): Promise<IterationResult> {
    const xAdv = p.robust ? await this.attack(nets.R.weights, p.x as ort.Tensor, p.y as ort.Tensor, p.robust.noise as ort.Tensor, p.robust.eps, p.robust.stepSize) : null;
    const out = await this.expertSteps(nets, p, xAdv);
    if (p.ema) out.nets = await emaPhase(this.robust, out.nets, p.ema);
    return out;
  }

  /** Both experts' steps of a plan: the robust one here while the natural one runs on the worker. */
  async expertSteps(nets: Nets, p: IterationPlan, xAdv: ort.Tensor | null): Promise<IterationResult> {
    let { R, N } = nets;
    const out: IterationResult = { nets };
    // Posted first, so the worker starts while this thread runs the robust step.
    const nat = this.natural && p.natural ? this.worker.run('natural_step', this.natural.trainStepFeeds(N, p.x, p.y, p.natural.hp, undefined, p.natural.masks) as Record<string, ort.Tensor>) : null;
    const trades = this.robustLoss === 'trades';
    const rob = p.robust && xAdv ? this.robust.trainStep(R, trades ? p.x : xAdv, p.y, p.robust.hp, trades ? xAdv : undefined, p.robust.masks) : null;
    const [r, n] = await Promise.all([rob, nat]);
    if (r) { R = r.state; out.robust = { loss: r.loss, correct: r.correct }; }
    if (n) {
      const s = this.natural!.stepResult(N, n);
      N = s.state;
      out.natural = { loss: s.loss, correct: s.correct };
    }
    out.nets = { ...nets, R, N };
    return out;
  }

  async release(): Promise<void> { await this.worker.release(); }
}
