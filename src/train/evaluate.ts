// Clean and PGD accuracy of a set of weights on a dataset, through the eval and attack artifacts.
import { evalBatches, type Dataset } from '../data/index.js';
import { ort } from '../runtime/ort.js';
import type { ArtifactRuntime, Weights } from '../runtime/artifact-runtime.js';
import { Rng } from '../util/rng.js';

export interface Accuracy { clean: number; robust: number; n: number }

export interface EvalSettings {
  n: number;
  batchSize: number;
  eps: number;
  stepSize: number;
  /** 0: clean accuracy only. */
  pgdSteps: number;
  seed: number;
}

/**
 * Evaluates several networks on the same images with the same attack noise. The runtime's attack
 * artifact must have been built with `pgdSteps` steps (CE loss, random start).
 */
export async function evaluateWeights(rt: ArtifactRuntime, nets: Record<string, Weights>, data: Dataset, s: EvalSettings): Promise<Record<string, Accuracy>> {
  const n = s.n > 0 ? Math.min(s.n, data.n) : data.n;
  const indices = Uint32Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(s.seed);
  const counts: Record<string, { clean: number; robust: number }> = {};
  for (const k of Object.keys(nets)) counts[k] = { clean: 0, robust: 0 };
  for (const b of evalBatches(data, s.batchSize, indices)) {
    const x = new ort.Tensor('float32', b.x, b.dims);
    const y = new ort.Tensor('int64', b.y, [b.size]);
    const noise = s.pgdSteps > 0 ? new ort.Tensor('float32', rng.fillUniform(new Float32Array(b.x.length), -1, 1), b.dims) : undefined;
    for (const [k, w] of Object.entries(nets)) {
      counts[k].clean += (await rt.evaluate(w, x, y)).correct;
      if (noise) {
        const adv = await rt.attack(w, x, y, noise, s.eps, s.stepSize);
        counts[k].robust += (await rt.evaluate(w, adv, y)).correct;
      }
    }
  }
  const out: Record<string, Accuracy> = {};
  for (const [k, c] of Object.entries(counts)) out[k] = { clean: c.clean / n, robust: s.pgdSteps > 0 ? c.robust / n : NaN, n };
  return out;
}
