// Messages between the page and its training worker, and the build's config.json.
import type { Config } from '../../src/config/types.js';

/** What the page reads from config.json. */
export interface DemoManifest {
  config: Config;
  data: { shape: number[]; classes: number; classNames: string[]; train: number; test: number };
  /** Folders (relative to the page) of the robust and the natural expert's artifacts. */
  artifacts: { robust: string; natural: string; source: string };
}

export type Net = 'N' | 'R' | 'G';
export interface Prediction { label: number; probs: number[] }
export type Predictions = Record<Net, Prediction>;
export interface AttackResult { label: number; eps: number; before: Predictions; after: Predictions; adversarial: Record<Net, Float32Array> }

export type ToWorker =
  | { type: 'init'; base: string; backend: 'auto' | 'wasm' }
  | { type: 'start' } | { type: 'stop' }
  | { type: 'predict'; id: number; image: Float32Array }
  | { type: 'attack'; id: number; image: Float32Array; label: number | null; eps: number }
  | { type: 'testImage'; id: number; index: number }
  | { type: 'export'; id: number }
  | { type: 'weights'; id: number };

export interface Ready { type: 'ready'; backend: string; note: string; totalIters: number; itersPerEpoch: number; testImages: number; classNames: string[]; eps: number; pgdSteps: number }
export interface Progress { type: 'progress'; iter: number; epoch: number; lossR: number; lossN: number; imagesPerSec: number }
export interface EvalPoint { type: 'eval'; iter: number; cleanAcc: number; robustAcc?: number }

export type FromWorker =
  | Ready | Progress | EvalPoint
  | { type: 'state'; running: boolean; done: boolean }
  | { type: 'reply'; id: number; value: unknown }
  | { type: 'error'; id?: number; message: string };
