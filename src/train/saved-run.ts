// A run read back from its folder (config.json, source.onnx, checkpoint.bin), finished or not: the
// learners R, N, A, S, G for export and the trade-off curve, and the evaluation artifacts to score
// them on the run's own validation split.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { datasetLoadOptions } from '../config/dataset.js';
import type { Config } from '../config/types.js';
import { loadDataset, type DatasetSplits } from '../data/index.js';
import { loadModelFile } from '../onnx/load.js';
import type { Model } from '../onnx/ir.js';
import type { ArtifactRuntime, Weights } from '../runtime/artifact-runtime.js';
import { loadCheckpoint, type CheckpointMeta } from './checkpoint.js';
import { TrainError } from './errors.js';
import { openEvalArtifacts } from './run.js';
import { loadSourceModel, modelFit, withImageShape } from './source.js';

/** Where each learner's weights sit in a checkpoint: experts' weights (not their optimizer slots), then A, S, G. */
export const LEARNER_PREFIX = { G: 'G/', R: 'R.w/', N: 'N.w/', A: 'A/', S: 'S/' } as const;
export type Learner = keyof typeof LEARNER_PREFIX;

export interface SavedRun {
  dir: string;
  config: Config;
  /** The untrained model as the run trained it (input normalisation included): the template of every export. */
  source: Model;
  learners: Record<Learner, Weights>;
  meta: CheckpointMeta;
}

/** Reads a run folder; refuses a folder without config.json or checkpoint.bin with what is missing. */
export function loadSavedRun(dir: string): SavedRun {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new TrainError(`${dir} is not a run folder (no config.json)`);
  const config = JSON.parse(readFileSync(cfgPath, 'utf8')) as Config;
  const ck = loadCheckpoint(join(dir, 'checkpoint.bin'));
  const learners = {} as Record<Learner, Weights>;
  for (const [who, prefix] of Object.entries(LEARNER_PREFIX) as [Learner, string][]) {
    learners[who] = Object.fromEntries(Object.entries(ck.tensors).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  }
  const sourcePath = join(dir, 'source.onnx');
  const source = existsSync(sourcePath) ? loadModelFile(sourcePath) : loadSourceModel(config.model.source, config.seed);
  return { dir: resolve(dir), config, source, learners, meta: ck.meta };
}

/** A learner's weights, or an error naming what the checkpoint lacks. */
export function learnerWeights(run: SavedRun, who: Learner): Weights {
  const w = run.learners[who];
  if (!Object.keys(w).length) throw new TrainError(`the checkpoint of ${run.dir} holds no ${who} weights`);
  return w;
}

/** The run's data splits (same seed, same validation split as in training) and its evaluation artifacts. */
export async function openSavedRun(run: SavedRun, opts: { cacheDir?: string; threads?: number; log?: (s: string) => void } = {}): Promise<{ data: DatasetSplits; rt: ArtifactRuntime }> {
  const config = opts.threads !== undefined ? { ...run.config, threads: opts.threads } : run.config;
  const data = loadDataset(config.dataset.name, datasetLoadOptions(config));
  const { inputLayout } = modelFit(run.source, config.model.source, data);
  const pinned = withImageShape(run.source, data.shape, inputLayout);
  const rt = await openEvalArtifacts(pinned, inputLayout, config, opts.cacheDir ?? resolve('.cache/artifacts'), opts.log ?? (() => {}));
  return { data, rt };
}
