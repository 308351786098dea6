// The transfer account: host bytes fed to and received from ORT runs in one Generalist iteration,
// for each iteration form. On CUDA every one of these bytes crosses PCIe (onnxruntime-node 1.30
// copies every input and output of every run); on WebGPU only the batch and the losses do, the
// state stays on the device. Measured by running one iteration of each form on the CPU and
// counting (ArtifactCore.transfer, FusedIteration.transfer): the bench prints it. loop8 is one run
// of 8 iterations (the K-loop artifact), divided by 8.
import { initialState } from '../artifacts/build.js';
import { ensureArtifacts } from '../artifacts/store.js';
import { resolveConfig } from '../config/index.js';
import type { Model } from '../onnx/ir.js';
import { numel } from '../util/dims.js';
import { ArtifactRuntime } from '../runtime/artifact-runtime.js';
import { Rng } from '../util/rng.js';
import { FusedIteration } from './fused.js';
import { planIteration, trainIteration, type IterationCounters, type Nets } from './iteration.js';

/** Bytes per iteration of each form. */
export interface TransferAccount { runs4: number; fused: number; loop8: number }

/** One Generalist iteration (SGD experts, PGD-1: the bytes do not depend on the attack's steps) on a random batch of `dims`, in each form (loop8: per iteration of an 8-iteration run). */
export async function measureTransfer(model: Model, dims: number[], opts: { cacheDir: string; threads?: number }): Promise<TransferAccount> {
  const config = resolveConfig({ preset: 'mnist-smallcnn' });
  const rt = await ArtifactRuntime.open(ensureArtifacts(model, { pgdSteps: 1 }, opts.cacheDir).dir, { threads: opts.threads });
  const parts = { robust: rt, natural: rt, robustLoss: 'ce' as const, generalist: true };
  const fused = await FusedIteration.open(parts, opts.cacheDir, { threads: opts.threads });
  const loop = await FusedIteration.open(parts, opts.cacheDir, { threads: opts.threads, loop: true });
  const rng = new Rng(0);
  const n = dims[0], size = numel(dims);
  const batch = { x: rng.fillUniform(new Float32Array(size), 0, 1), y: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 10)), dims, size: n };
  const w0 = ArtifactRuntime.weightsFrom(initialState(model).values());
  const nets: Nets = { R: { weights: w0, slots: rt.initialSlots() }, N: { weights: w0, slots: rt.initialSlots() }, A: w0, S: w0, G: w0 };
  const counters = (): IterationCounters => ({ epoch: 0, iterInEpoch: 0, iter: 0, itersPerEpoch: 1, totalIters: 1, stepsR: 0, stepsN: 0, emaUpdates: 0 });
  const rngs = () => ({ noise: new Rng(1), dropout: new Rng(2) });
  const rts = { robust: rt, natural: rt, robustLoss: 'ce' as const };
  try {
    await trainIteration(config, rts, nets, batch, counters(), rngs());
    await trainIteration(config, rts, nets, batch, counters(), rngs(), undefined, fused);
    const c = counters(), r = rngs();
    await loop.runLoop(nets, Array.from({ length: 8 }, () => planIteration(config, rts, batch, c, r)));
    const bytes = (t: { fed: number; received: number }) => t.fed + t.received;
    return { runs4: bytes(rt.transfer), fused: bytes(fused.transfer), loop8: bytes(loop.transfer) / 8 };
  } finally {
    await loop.release();
    await fused.release();
    await rt.release();
  }
}
