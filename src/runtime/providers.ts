// Execution-provider selection with one clear message when a provider is not installed.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ort } from './ort.js';
import { ortError } from './ort-error.js';

export type Provider = 'cpu' | 'cuda' | 'webgpu';

export class ProviderError extends Error {
  constructor(message: string) { super(message); this.name = 'ProviderError'; }
}

export const CUDA_INSTALL_HINT =
  'The CUDA execution provider is not installed. On a machine with an NVIDIA GPU (CUDA 12/13 + cuDNN 9) and network access, run:\n' +
  '  ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js\n' +
  '(this project installs with dependency install scripts off, so offline installs work; that script downloads the provider). Or use --provider cpu.';

export function providerConfig(p: Provider, deviceId = 0): ort.InferenceSession.ExecutionProviderConfig[] {
  if (p === 'cuda') return [{ name: 'cuda', deviceId } as ort.InferenceSession.ExecutionProviderConfig, 'cpu'];
  if (p === 'webgpu') return ['webgpu', 'cpu'];
  return ['cpu'];
}

/** The MaxPool backward a provider runs: WebGPU's MaxPool has no Indices output (see autodiff/rules/pool.ts). */
export const maxPoolGradFor = (p: Provider): 'tiled' | 'windows' => (p === 'webgpu' ? 'windows' : 'tiled');

/**
 * The backward formulations of a provider's training artifacts (artifact options): on WebGPU the
 * MaxPool backward without Indices, and Conv's dW without a grouped Conv (its grouped Conv is wrong
 * for 5-7, 9-11, ... output channels per group; autodiff/rules/conv.ts); the CPU's fastest elsewhere.
 */
export const gradFormsFor = (p: Provider): { maxPoolGrad: 'tiled' | 'windows'; convWeightGrad: 'grouped' | 'batched' } =>
  ({ maxPoolGrad: maxPoolGradFor(p), convWeightGrad: p === 'webgpu' ? 'batched' : 'grouped' });

export interface OpenOptions {
  provider?: Provider;
  threads?: number;
  allowCpuFallback?: boolean;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Outputs to keep on the device (WebGPU only). */
  keepOnDevice?: string[];
  onWarning?: (msg: string) => void;
  /** Further ORT session settings: memory pattern (off by default) and arena, config entries through `extra` (e.g. `{ session: { set_denormal_as_zero: '1' } }`). */
  tuning?: Pick<ort.InferenceSession.SessionOptions, 'enableMemPattern' | 'enableCpuMemArena' | 'extra'>;
  /** CPU: a runtime's four graphs (attack, train step, eval, EMA) as one session, one memory arena (branch-model.ts; default true). */
  branches?: boolean;
  /** What the session runs, for error messages (default: the path, or "the model"). */
  modelName?: string;
}

export interface OpenedSession { session: ort.InferenceSession; provider: Provider }

/** The CPU-side session settings of `openSession` (no provider list): also what a worker thread's sessions open with. */
export function sessionOptions(opts: Pick<OpenOptions, 'threads' | 'optimization' | 'tuning'> = {}): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: opts.optimization ?? 'all',
    // 0 means "all cores": ORT's own default picked a single thread on our 2-core machines.
    intraOpNumThreads: opts.threads || availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // ORT's memory pattern plans one block per run from the first run's allocations; in the
    // arena, the outputs handed to JS fragment it and every further run grows it (PreAct
    // ResNet-18's bench: peak RSS 2993 MiB with it, 1561 without; SmallCNN 639 / 413).
    enableMemPattern: false,
    ...opts.tuning,
  };
}

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/lib64'];
/** On Linux, Dawn loads the Vulkan loader (libvulkan.so.1) from the system; a fresh machine may lack it even with a driver present. */
export const hasVulkanLoader = (): boolean => process.platform !== 'linux' || LIB_DIRS.some((d) => existsSync(`${d}/libvulkan.so.1`));
function vulkanLoaderHint(): string {
  if (hasVulkanLoader()) return '';
  return ' No Vulkan loader (libvulkan.so.1) was found in the system library folders: install it (Debian/Ubuntu: apt-get install libvulkan1). Without a GPU, Chromium\'s software driver serves: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json.';
}

export async function openSession(model: Uint8Array | string, opts: OpenOptions = {}): Promise<OpenedSession> {
  const provider = opts.provider ?? 'cpu';
  const base = sessionOptions(opts);
  const create = (p: Provider) => {
    const o: ort.InferenceSession.SessionOptions = { ...base, executionProviders: providerConfig(p) };
    if (p === 'webgpu' && opts.keepOnDevice?.length) o.preferredOutputLocation = Object.fromEntries(opts.keepOnDevice.map((n) => [n, 'gpu-buffer']));
    return typeof model === 'string' ? ort.InferenceSession.create(model, o) : ort.InferenceSession.create(model, o);
  };
  const name = opts.modelName ?? (typeof model === 'string' ? model : 'the model');
  try {
    return { session: await create(provider), provider };
  } catch (e) {
    if (provider === 'cpu') throw ortError(e, name, 'load');
    const msg = (e as Error).message ?? String(e);
    const why = provider === 'cuda' ? CUDA_INSTALL_HINT : `The WebGPU execution provider could not start (${msg}). It needs a GPU with Vulkan/Metal/D3D12 drivers.${vulkanLoaderHint()}`;
    if (!opts.allowCpuFallback) throw new ProviderError(`${why}\n(underlying error: ${msg.split('\n')[0]})`);
    (opts.onWarning ?? console.warn)(`warning: ${provider} is not available; falling back to CPU. ${why.split('\n')[0]}`);
    try {
      return { session: await create('cpu'), provider: 'cpu' };
    } catch (e2) {
      throw ortError(e2, name, 'load');
    }
  }
}
