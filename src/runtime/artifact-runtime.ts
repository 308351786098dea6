// src/runtime: ONNX Runtime sessions, execution providers, and the artifacts run on them. Imports
// src/artifacts, src/onnx and src/util.
//
// ArtifactCore on onnxruntime-node: artifacts opened from a folder (manifest.json and the four
// .onnx files) on the CPU, CUDA or WebGPU provider.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ort, toOrt } from './ort.js';
import { openSession, type OpenedSession, type OpenOptions, type Provider } from './providers.js';
import { openBranches } from './branch-session.js';
import type { Manifest } from '../artifacts/build.js';
import { readManifest } from '../artifacts/store.js';
import { DataType, type Model, type Tensor } from '../onnx/ir.js';
import { GraphBuilder } from '../onnx/builder.js';
import { saveModel } from '../onnx/save.js';
import { ArtifactCore, type Weights } from './artifact-core.js';
import type { SessionShare } from './session-share.js';

/** A graph passing each of `tensors` through an Identity (in0 -> out0, ...). */
function identityGraph(tensors: ort.Tensor[]): Model {
  const b = new GraphBuilder({ name: 'download' });
  tensors.forEach((t, i) => {
    if (t.type !== 'float32') throw new Error(`cannot download a ${t.type} tensor from the device`);
    b.output(b.identity(b.input(`in${i}`, DataType.FLOAT, [...t.dims])), `out${i}`);
  });
  return b.build();
}

export type { ExpertState, StepHyper, Weights } from './artifact-core.js';

export class ArtifactRuntime extends ArtifactCore {
  declare readonly provider: Provider;
  /** The artifacts folder it was opened from. */
  dir = '';

  /** `share`: sessions of graphs another runtime opened with the same settings are shared with it (session-share.ts). */
  static async open(dir: string, opts: OpenOptions = {}, share?: SessionShare): Promise<ArtifactRuntime> {
    const manifest = readManifest(dir);
    const fileOf = (k: keyof Manifest['artifacts']) => join(dir, manifest.artifacts[k].file);
    const open = (k: keyof Manifest['artifacts'], keep: string[], o: OpenOptions) => {
      const bytes = readFileSync(fileOf(k));
      const full = { ...o, keepOnDevice: keep, modelName: fileOf(k) };
      return share ? share.acquire(bytes, full) : openSession(bytes, full);
    };
    let s: Record<keyof Manifest['artifacts'], OpenedSession>;
    if ((opts.provider ?? 'cpu') === 'cpu' && opts.branches !== false) {
      // One session, so one memory arena, for the four graphs (branch-model.ts).
      const parts = (['attack', 'train_step', 'eval', 'ema'] as const).map((name) => ({ name, bytes: readFileSync(fileOf(name)) }));
      const o = { ...opts, modelName: `${dir} (${parts.map((p) => manifest.artifacts[p.name].file).join(', ')})` };
      s = (share ? await share.acquireBranches(parts, o) : await openBranches(parts, o)) as typeof s;
    } else {
      // The train step decides the provider (it may fall back to CPU); the others follow it.
      // On WebGPU the updated state stays on the device between runs.
      const train_step = await open('train_step', manifest.artifacts.train_step.outputs.map((o) => o.name).filter((n) => n.startsWith('new:')), opts);
      const same: OpenOptions = { ...opts, provider: train_step.provider };
      s = { train_step, attack: await open('attack', [], same), eval: await open('eval', [], same), ema: await open('ema', manifest.artifacts.ema.outputs.map((o) => o.name), same) };
    }
    const rt = new ArtifactRuntime(manifest, s.train_step.provider, { train_step: s.train_step.session, attack: s.attack.session, eval: s.eval.session, ema: s.ema.session }, ort.Tensor);
    rt.dir = dir;
    return rt;
  }

  /** Identity sessions that bring device tensors to the host, by the tensors' shapes. */
  private readonly downloads = new Map<string, Promise<ort.InferenceSession>>();

  /**
   * The tensors with those kept on the device (WebGPU's gpu-buffer outputs) copied to the host, for
   * checkpoints and exports; host tensors pass through. The copy is one run of an Identity graph
   * whose outputs ORT delivers to the CPU: in onnxruntime-node 1.30 a gpu-buffer tensor's own
   * download (Tensor.getData) aborts the process ("terminate called after throwing an instance of
   * 'char const*'").
   */
  async onHost<T extends ort.Tensor>(w: Record<string, T>): Promise<Record<string, ort.Tensor>> {
    const onDevice = Object.entries(w).filter(([, t]) => t.location === 'gpu-buffer');
    if (!onDevice.length) return { ...w };
    const key = onDevice.map(([, t]) => `${t.type}[${t.dims.join(',')}]`).join(';');
    let session = this.downloads.get(key);
    if (!session) {
      session = openSession(saveModel(identityGraph(onDevice.map(([, t]) => t))), { provider: this.provider }).then((o) => o.session);
      this.downloads.set(key, session);
    }
    const out = await (await session).run(Object.fromEntries(onDevice.map(([, t], i) => [`in${i}`, t])));
    return { ...w, ...Object.fromEntries(onDevice.map(([k], i) => [k, out[`out${i}`]])) };
  }

  async release(): Promise<void> {
    for (const s of this.downloads.values()) await (await s).release();
    this.downloads.clear();
    await super.release();
  }

  /** Weights from model initializers. */
  static weightsFrom(tensors: Iterable<Tensor>): Weights {
    const w: Weights = {};
    for (const t of tensors) w[t.name] = toOrt(t);
    return w;
  }
}
