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

/** The WASM thread count ORT runs with (after the first session). */
export const wasmThreads = (): number => Number(ortWasm.env.wasm.numThreads ?? 1);

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

/** WASM threads: `threads` when > 0, else ORT's choice; always 1 without cross-origin isolation. */
export function wasmFlavour(threads: number): OrtFlavour {
  // Threads need cross-origin isolation (the demo server sends COOP/COEP).
  if (!self.crossOriginIsolated) ortWasm.env.wasm.numThreads = 1;
  else if (threads > 0) ortWasm.env.wasm.numThreads = threads;
  return { name: 'wasm', InferenceSession: ortWasm.InferenceSession, Tensor: ortWasm.Tensor as unknown as TensorClass };
}

/** onnxruntime-web's WebGPU build, or why it cannot run here (no navigator.gpu, no adapter). */
export async function webgpuFlavour(threads: number): Promise<OrtFlavour | string> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return 'this browser has no WebGPU (navigator.gpu)';
  let adapter: unknown = null;
  try { adapter = await gpu.requestAdapter(); } catch { /* reported below */ }
  if (!adapter) return 'WebGPU has no adapter here (no GPU, or GPU disabled)';
  const ort = await import('onnxruntime-web/webgpu');
  if (!self.crossOriginIsolated) ort.env.wasm.numThreads = 1;
  else if (threads > 0) ort.env.wasm.numThreads = threads;
  return { name: 'webgpu', InferenceSession: ort.InferenceSession, Tensor: ort.Tensor as unknown as TensorClass };
}
