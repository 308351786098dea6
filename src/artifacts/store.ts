// Artifacts on disk: a folder with the four .onnx files and manifest.json. Cached by a hash of the
// source model, the build options and the builder's GRAPH_REVISION, so the same request never
// rebuilds (and a rebuild is byte-identical anyway) while a builder that emits other graphs does.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Model } from '../onnx/ir.js';
import { saveModel } from '../onnx/save.js';
import { writeFileAtomic } from '../util/fs.js';
import { ARTIFACT_FORMAT, artifactHash, buildArtifacts, modelHash, resolveArtifactOptions, type ArtifactOptions, type BuiltArtifacts, type Manifest } from './build.js';
import { loadModelFile } from '../onnx/load.js';
import { sha256 } from '../util/hash.js';
import { buildIteration, buildIterationLoop } from './iteration.js';

export const ARTIFACT_NAMES = ['train_step', 'attack', 'eval', 'ema'] as const;
export type ArtifactName = (typeof ARTIFACT_NAMES)[number];

export function writeArtifacts(built: BuiltArtifacts, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const k of ARTIFACT_NAMES) writeFileAtomic(join(dir, built.manifest.artifacts[k].file), saveModel(built.models[k]));
  writeFileAtomic(join(dir, 'manifest.json'), JSON.stringify(built.manifest, null, 2) + '\n');
}

export class ArtifactError extends Error {
  constructor(message: string) { super(message); this.name = 'ArtifactError'; }
}

export function readManifest(dir: string): Manifest {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) throw new ArtifactError(`${dir} holds no manifest.json: not an artifacts folder (build one with \`generalist artifacts\`)`);
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (e) {
    throw new ArtifactError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (m.format !== ARTIFACT_FORMAT) throw new ArtifactError(`${path} has artifact format ${m.format}; this version reads format ${ARTIFACT_FORMAT} (rebuild the artifacts)`);
  for (const k of ARTIFACT_NAMES) {
    if (!m.artifacts?.[k]?.file || !existsSync(join(dir, m.artifacts[k].file))) throw new ArtifactError(`${dir}: artifact ${k} is missing (rebuild the artifacts)`);
  }
  return m;
}

/** The cache key of (model, options) without building anything; `sourceHash` saves encoding the model again. */
export function artifactKey(model: Model, options: Partial<ArtifactOptions> = {}, sourceHash = modelHash(model)): string {
  return artifactHash(sourceHash, resolveArtifactOptions(options));
}

/**
 * Builds into `cacheRoot/<hash>/` unless that folder already holds them. Returns the folder.
 * `sourceHash` (modelHash(model)) lets a caller that opens several artifact sets encode the model once.
 */
export function ensureArtifacts(model: Model, options: Partial<ArtifactOptions>, cacheRoot: string, sourceHash = modelHash(model)): { dir: string; manifest: Manifest; cached: boolean } {
  const key = artifactKey(model, options, sourceHash);
  const dir = join(cacheRoot, key.slice(0, 16));
  if (existsSync(join(dir, 'manifest.json'))) {
    try {
      const m = readManifest(dir);
      if (m.hash === key) return { dir, manifest: m, cached: true };
    } catch { /* damaged cache entry: rebuild below */ }
  }
  const built = buildArtifacts(model, options, sourceHash);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  writeArtifacts(built, tmp);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, manifest: built.manifest, cached: false };
}

/** Bumped when the fused iteration graph changes for the same artifacts. */
const ITERATION_FORMAT = 1;

/**
 * The fused iteration artifact (iteration.ts) composed from the robust and natural experts'
 * artifact folders, cached in `cacheRoot` by their hashes. Returns its file.
 */
export function ensureIteration(parts: { robust?: string; natural?: string; robustLoss: 'ce' | 'trades'; generalist: boolean }, cacheRoot: string, loop = false): string {
  const robust = parts.robust ? readManifest(parts.robust) : undefined;
  const natural = parts.natural ? readManifest(parts.natural) : undefined;
  const key = sha256(JSON.stringify({ format: ITERATION_FORMAT, robust: robust?.hash, natural: natural?.hash, robustLoss: parts.robustLoss, generalist: parts.generalist }));
  const file = join(cacheRoot, `iteration-${key.slice(0, 16)}.onnx`);
  if (loop) {
    // K iterations in one run (K read from the stacks fed): the fused graph as the body of an ONNX Loop.
    const fused = ensureIteration(parts, cacheRoot);
    const looped = join(cacheRoot, `iteration-${key.slice(0, 16)}-loop.onnx`);
    if (!existsSync(looped)) writeFileAtomic(looped, saveModel(buildIterationLoop(loadModelFile(fused), (robust ?? natural)!.opset)));
    return looped;
  }
  if (existsSync(file)) return file;
  const load = (dir: string | undefined, m: Manifest | undefined, k: ArtifactName) => (dir && m ? loadModelFile(join(dir, m.artifacts[k].file)) : undefined);
  const any = (robust ?? natural)!;
  const model = buildIteration({
    attack: load(parts.robust, robust, 'attack'),
    robustStep: load(parts.robust, robust, 'train_step'),
    robustLoss: parts.robustLoss,
    naturalStep: load(parts.natural, natural, 'train_step'),
    ema: parts.generalist ? load(parts.robust ?? parts.natural, any, 'ema') : undefined,
    weights: [...any.params, ...any.stats].map((p) => p.name),
    opset: any.opset,
  });
  mkdirSync(cacheRoot, { recursive: true });
  writeFileAtomic(file, saveModel(model));
  return file;
}
