// onnxruntime-web for the demo: the WASM build by default; WebGPU when the browser has an adapter
// and every artifact runs on it (a probe runs one iteration and an attack), else WASM with the reason.
import * as ortWasm from 'onnxruntime-web/wasm';
import type { InferenceSession } from 'onnxruntime-common';
import type { Manifest } from '../../src/artifacts/build.js';
import { ArtifactCore, type ArtifactSessions, type TensorClass } from '../../src/runtime/artifact-core.js';

export interface OrtFlavour {
  name: 'wasm' | 'webgpu';
  InferenceSession: { create(bytes: Uint8Array, o: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: TensorClass;
}

export async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/**
 * The four artifacts of one expert (folder URL ending in /) as an ArtifactCore on `ort`. ORT's own
 * log shows errors only; on WebGPU not even those, since a failing kernel there is caught by the
 * probe and reported on the page.
 */
export async function openArtifacts(ort: OrtFlavour, folder: string): Promise<ArtifactCore> {
  const manifest = await (await fetch(folder + 'manifest.json')).json() as Manifest;
  const sessions: Partial<ArtifactSessions> = {};
  try {
    for (const k of ['train_step', 'attack', 'eval', 'ema'] as const) {
      sessions[k] = await ort.InferenceSession.create(await fetchBytes(folder + manifest.artifacts[k].file), { executionProviders: [ort.name], graphOptimizationLevel: 'all', logSeverityLevel: ort.name === 'webgpu' ? 4 : 3 });
    }
  } catch (e) {
    for (const s of Object.values(sessions)) await s.release();
    throw e;
  }
  return new ArtifactCore(manifest, ort.name, sessions as ArtifactSessions, ort.Tensor);
}

/**
 * One WASM thread, whatever the core count: with numThreads 2 ORT's threaded WASM never finished
 * creating the first session inside this Vite-bundled Web Worker (observed in Chromium; probably
 * its thread workers load the bundle's own script, which is the page's worker).
 */
export function wasmFlavour(): OrtFlavour {
  ortWasm.env.wasm.numThreads = 1;
  return { name: 'wasm', InferenceSession: ortWasm.InferenceSession, Tensor: ortWasm.Tensor as unknown as TensorClass };
}

/** onnxruntime-web's WebGPU build, or why it cannot run here (no navigator.gpu, no adapter). */
export async function webgpuFlavour(): Promise<OrtFlavour | string> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return 'this browser has no WebGPU (navigator.gpu)';
  let adapter: unknown = null;
  try { adapter = await gpu.requestAdapter(); } catch { /* reported below */ }
  if (!adapter) return 'WebGPU has no adapter here (no GPU, or GPU disabled)';
  const ort = await import('onnxruntime-web/webgpu');
  ort.env.wasm.numThreads = 1;
  return { name: 'webgpu', InferenceSession: ort.InferenceSession, Tensor: ort.Tensor as unknown as TensorClass };
}
