// ArtifactCore on onnxruntime-node: artifacts opened from a folder (manifest.json and the four
// .onnx files) on the CPU, CUDA or WebGPU provider.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ort, toOrt } from './ort.js';
import { openSession, type OpenOptions, type Provider } from './providers.js';
import type { Manifest } from '../artifacts/build.js';
import { readManifest } from '../artifacts/store.js';
import type { Tensor } from '../onnx/ir.js';
import { ArtifactCore, type Weights } from './artifact-core.js';

export type { ExpertState, StepHyper, Weights } from './artifact-core.js';

export class ArtifactRuntime extends ArtifactCore {
  declare readonly provider: Provider;

  static async open(dir: string, opts: OpenOptions = {}): Promise<ArtifactRuntime> {
    const manifest = readManifest(dir);
    const open = (k: keyof Manifest['artifacts'], keep: string[], o: OpenOptions) =>
      openSession(readFileSync(join(dir, manifest.artifacts[k].file)), { ...o, keepOnDevice: keep, modelName: join(dir, manifest.artifacts[k].file) });
    // The train step decides the provider (it may fall back to CPU); the others follow it.
    // On WebGPU the updated state stays on the device between runs.
    const train = await open('train_step', manifest.artifacts.train_step.outputs.map((o) => o.name).filter((n) => n.startsWith('new:')), opts);
    const same: OpenOptions = { ...opts, provider: train.provider };
    const attack = await open('attack', [], same);
    const evalS = await open('eval', [], same);
    const ema = await open('ema', manifest.artifacts.ema.outputs.map((o) => o.name), same);
    return new ArtifactRuntime(manifest, train.provider, { train_step: train.session, attack: attack.session, eval: evalS.session, ema: ema.session }, ort.Tensor);
  }

  /** Weights from model initializers. */
  static weightsFrom(tensors: Iterable<Tensor>): Weights {
    const w: Weights = {};
    for (const t of tensors) w[t.name] = toOrt(t);
    return w;
  }
}
