// AttackModel: everything an attack needs from a classifier, built once per model. From any ONNX
// classifier with one image input and one logits output it builds (with our autodiff) graphs of
// standard ops, kept as ORT sessions:
//   forward            x -> logits
//   gradient per loss  (x, y[, target]) -> logits, per-example loss, d(sum loss)/dx
// The model's initializers stay initializers (nothing to feed but images and labels), BatchNorm runs
// in inference mode, Dropout is the identity. A model ending in Softmax is attacked through the
// Softmax's input (its logits); a channels-last model gets [C, H, W] images transposed in the graph. Instances are cached in memory by the sha256 of the
// model bytes (plus input shape and session options); gradient sessions are built lazily, one per
// loss kind, and cached inside the instance.
import { GraphBuilder } from '../onnx/builder.js';
import { DataType, isDefaultDomain, numel, type Dim, type Model } from '../onnx/ir.js';
import { loadModel, loadModelFile } from '../onnx/load.js';
import { saveModel } from '../onnx/save.js';
import { topoSort } from '../onnx/validate.js';
import { buildGradient } from '../autodiff/gradient.js';
import type { GradForms } from '../autodiff/rule.js';
import { crossEntropy, cwMargin, dlr, dlrTargeted } from '../autodiff/losses.js';
import { classifierIo, inputLayoutFor, type ClassifierIo, type InputLayout, type OutputKind } from '../artifacts/analyze.js';
import { appendForward, maxPoolForm, type MaxPoolGrad } from '../artifacts/forward.js';
import { ARTIFACT_OPSET, OLDEST_SOURCE_OPSET } from '../artifacts/upgrade.js';
import { ort } from '../runtime/ort.js';
import { maxPoolGradFor, openSession, type Provider } from '../runtime/providers.js';
import { sha256 } from '../util/hash.js';
import { withOrtErrors } from '../runtime/ort-error.js';

/** Attack losses with an input-gradient graph: cross-entropy, CW margin, DLR, targeted DLR. */
export type LossKind = 'ce' | 'cw' | 'dlr' | 'dlr-t';
export const LOSS_KINDS: readonly LossKind[] = ['ce', 'cw', 'dlr', 'dlr-t'];

/** Value names of the attack graphs (distinctive, so they cannot collide with a model's own names). */
export const IO = {
  x: 'attack/x', y: 'attack/y', target: 'attack/target',
  logits: 'attack/logits', loss: 'attack/loss', grad: 'attack/grad',
} as const;

export class AttackModelError extends Error {
  constructor(message: string) { super(message); this.name = 'AttackModelError'; }
}

/** The classifier I/O of a model the attacks can run on (default-domain opset 7 or newer). */
function attackIo(model: Model): ClassifierIo {
  const io = classifierIo(model);
  if (io.opset < 7) throw new AttackModelError(`the model imports default-domain opset ${io.opset}; attacks need opset 7 or newer`);
  return io;
}

/** Per-example image shape and the model's layout for it. */
export interface ImageInput { shape: number[]; layout: InputLayout }

/**
 * Per-example image shape: the model's static dims after the batch axis, or `given`, which must
 * match them as they are or, for a channels-last model, as [H, W, C] (images stay [C, H, W]).
 */
export function resolveInputShape(io: ClassifierIo, given?: readonly number[]): ImageInput {
  const s = io.input.shape;
  if (given) {
    if (!given.every((d) => Number.isInteger(d) && d > 0)) throw new AttackModelError(`input shape [${given.join(', ')}] must be positive integers`);
    try {
      return { shape: [...given], layout: inputLayoutFor(io.input, given) };
    } catch (e) {
      throw new AttackModelError((e as Error).message);
    }
  }
  const fromModel = s && s.length > 1 && s.slice(1).every((d) => typeof d === 'number' && d > 0) ? (s.slice(1) as number[]) : undefined;
  if (!fromModel) throw new AttackModelError(`the model's input "${io.input.name}" has no static per-example shape ([${s?.join(', ') ?? '?'}]); pass inputShape`);
  return { shape: fromModel, layout: 'nchw' };
}

/**
 * Copies the classifier's forward pass after `x` (float32 [N, ...inputShape]) into `b`; returns the
 * logits as float32 [N, classes] (cast and flattened as needed).
 */
function appendClassifier(b: GraphBuilder, model: Model, io: ClassifierIo, x: string, layout: InputLayout, maxPoolGrad?: MaxPoolGrad): string {
  const g = model.graph;
  const sorted = topoSort(g.nodes, new Set([...g.inputs.map((v) => v.name), ...g.initializers.keys()]));
  // Every initializer stays a fixed initializer of the attack graph (newBuilder declares them).
  const xin = io.input.dtype === DataType.FLOAT ? x : b.cast(x, io.input.dtype);
  // A gradient graph (maxPoolGrad given) lets MaxPool emit its Indices for the 'indices' backward (MaxPool-8+).
  const forGradient = maxPoolGrad !== undefined && b.opset >= 8;
  const forward = { input: io.input, logits: io.logits, inputLayout: layout, sourceOpset: io.opset };
  let logits = appendForward(b, { ...g, nodes: sorted }, forward, { x: xin, mode: 'eval', prefix: 'model/', forGradient, maxPoolGrad }).logits;
  if (b.dtype(logits) !== DataType.FLOAT) logits = b.cast(logits, DataType.FLOAT);
  const r = b.shape(logits)?.length;
  if (r !== 2) logits = b.flatten(logits, 1);
  return logits;
}

function newBuilder(model: Model, io: ClassifierIo, name: string, inputShape: number[]): { b: GraphBuilder; x: string } {
  // Opset 9+ sources are upgraded to ARTIFACT_OPSET (their backward needs newer ops); older ones stay as they are.
  const b = new GraphBuilder({ name, opset: io.opset >= OLDEST_SOURCE_OPSET ? Math.max(io.opset, ARTIFACT_OPSET) : io.opset });
  for (const t of model.graph.initializers.values()) b.initializer(t.name, t);
  const x = b.input(IO.x, DataType.FLOAT, ['N', ...inputShape] as Dim[]);
  return { b, x };
}

function finish(b: GraphBuilder, model: Model, kind: string): Model {
  const opsetImports = model.opsetImports.map((o) => (isDefaultDomain(o.domain) ? { domain: o.domain, version: b.opset } : { ...o }));
  const m = b.build({ opsetImports, metadata: { artifact: `attack-${kind}` } });
  m.irVersion = Math.max(8, model.irVersion);
  return m;
}

/** The forward graph: x -> logits. */
export function buildForwardGraph(model: Model, inputShape: number[], layout: InputLayout = 'nchw'): Model {
  const io = attackIo(model);
  const { b, x } = newBuilder(model, io, 'attack_forward', inputShape);
  b.output(appendClassifier(b, model, io, x, layout), IO.logits);
  return finish(b, model, 'forward');
}

/** The per-example loss of `kind` on float32 logits [N, C]. */
export function appendAttackLoss(b: GraphBuilder, kind: LossKind, logits: string, y: string, target?: string): string {
  switch (kind) {
    case 'ce': return crossEntropy(b, logits, y, { reduction: 'none' });
    case 'cw': return cwMargin(b, logits, y, { reduction: 'none' });
    case 'dlr': return dlr(b, logits, y, { reduction: 'none' });
    case 'dlr-t': return dlrTargeted(b, logits, y, target!, { reduction: 'none' });
    default: throw new AttackModelError(`unknown attack loss "${kind as string}" (${LOSS_KINDS.join(', ')})`);
  }
}

/** The input-gradient graph of one loss: (x, y[, target]) -> logits, per-example loss, d(sum loss)/dx. */
/** `maxPoolGrad`: the MaxPool backward's form (pool.ts); 'windows' runs on WebGPU, 'tiled' (with 'indices' for pools that do not tile) is the CPU's. */
export function buildGradientGraph(model: Model, inputShape: number[], kind: LossKind, layout: InputLayout = 'nchw', maxPoolGrad: MaxPoolGrad = 'tiled', forms: GradForms = {}): Model {
  const io = attackIo(model);
  const { b, x } = newBuilder(model, io, `attack_grad_${kind}`, inputShape);
  const y = b.input(IO.y, DataType.INT64, ['N']);
  const target = kind === 'dlr-t' ? b.input(IO.target, DataType.INT64, ['N']) : undefined;
  const logits = appendClassifier(b, model, io, x, layout, maxPoolGrad);
  const per = appendAttackLoss(b, kind, logits, y, target);
  const total = b.reduceSum(per, [0], 0);
  const grad = buildGradient(b, { loss: total, wrt: [x], prefix: 'attack/grad/', forms: { maxPool: maxPoolForm(maxPoolGrad), ...forms } }).get(x)!;
  b.output(logits, IO.logits);
  b.output(per, IO.loss);
  b.output(grad, IO.grad);
  return finish(b, model, `grad-${kind}`);
}

export interface AttackModelOptions {
  /** Per-example input shape, e.g. [1, 28, 28]; default: the model's static input dims. */
  inputShape?: readonly number[];
  provider?: Provider;
  /** ORT intra-op threads (0 = ORT's default). */
  threads?: number;
  allowCpuFallback?: boolean;
  /** Share instances for the same model bytes and options (default true). */
  cache?: boolean;
  /** A label for reports (default: the path, or 'model'). */
  source?: string;
}

export interface GradientResult {
  /** [n, classes] */
  logits: Float32Array;
  /** [n] per-example loss. */
  loss: Float32Array;
  /** [n, ...inputShape] d(sum loss)/dx. */
  grad: Float32Array;
}

/** ORT work done through one AttackModel (attacks report the difference around their run). */
export interface RunCounters { forwardRuns: number; forwardExamples: number; gradientRuns: number; gradientExamples: number }

const CACHE = new Map<string, Promise<AttackModel>>();

/** Drops every cached AttackModel (their sessions stay open until released). */
export function clearAttackModelCache(): void { CACHE.clear(); }

export class AttackModel {
  /** Examples per ORT run; Infinity unless the model only runs with batch 1. */
  maxBatch = Infinity;
  readonly counters: RunCounters = { forwardRuns: 0, forwardExamples: 0, gradientRuns: 0, gradientExamples: 0 };
  private readonly gradSessions = new Map<LossKind, Promise<ort.InferenceSession>>();
  private released = false;

  private constructor(
    readonly model: Model,
    /** sha256 of the serialized model. */
    readonly hash: string,
    readonly source: string,
    readonly inputShape: number[],
    /** 'nhwc': the model takes channels-last images; the attack graphs transpose the [C, H, W] images. */
    readonly inputLayout: InputLayout,
    /** 'probabilities': the model ends in a Softmax, and its input is what the attacks use as logits. */
    readonly outputKind: OutputKind,
    readonly classes: number,
    private readonly forwardSession: ort.InferenceSession,
    private readonly opts: AttackModelOptions,
    private readonly cacheKey: string | null,
  ) {}

  get inputSize(): number { return numel(this.inputShape); }

  /** Builds (or returns the cached) AttackModel for a Model, ONNX bytes, or a file path. */
  static async create(model: Model | Uint8Array | string, opts: AttackModelOptions = {}): Promise<AttackModel> {
    let m: Model;
    let source = opts.source;
    if (typeof model === 'string') { m = loadModelFile(model); source ??= model; }
    else if (model instanceof Uint8Array) m = loadModel(model);
    else m = model;
    source ??= 'model';
    const bytes = saveModel(m);
    const hash = sha256(bytes);
    const io = attackIo(m);
    const { shape: inputShape, layout } = resolveInputShape(io, opts.inputShape);
    const useCache = opts.cache !== false;
    const key = JSON.stringify([hash, inputShape, opts.provider ?? 'cpu', opts.threads ?? 0]);
    if (useCache) {
      const hit = CACHE.get(key);
      if (hit) return hit;
    }
    const p = AttackModel.open(m, hash, source, inputShape, layout, io.outputKind, opts, useCache ? key : null);
    if (useCache) {
      CACHE.set(key, p);
      p.catch(() => CACHE.delete(key));
    }
    return p;
  }

  private static async open(m: Model, hash: string, source: string, inputShape: number[], layout: InputLayout, outputKind: OutputKind, opts: AttackModelOptions, key: string | null): Promise<AttackModel> {
    const fwd = buildForwardGraph(m, inputShape, layout);
    const session = await AttackModel.session(fwd, opts, source);
    // One probe run: the number of classes. A model declaring batch 1 may hard-code it (a Reshape
    // to [1, -1]); a quiet session tries batch 2 first, and runs go one image at a time if it fails.
    const D = numel(inputShape);
    const feed = (n: number) => ({ [IO.x]: new ort.Tensor('float32', new Float32Array(n * D).fill(0.5), [n, ...inputShape]) });
    let maxBatch = Infinity;
    const batchDim = m.graph.inputs.find((v) => !m.graph.initializers.has(v.name))?.shape?.[0];
    if (batchDim === 1) {
      const quiet = await ort.InferenceSession.create(saveModel(fwd), { executionProviders: ['cpu'], logSeverityLevel: 4, graphOptimizationLevel: 'basic' });
      try {
        await quiet.run(feed(2));
      } catch {
        maxBatch = 1;
      } finally {
        await quiet.release();
      }
    }
    const t = (await withOrtErrors(source, 'run', () => session.run(feed(Math.min(2, maxBatch)))))[IO.logits];
    const classes = Number(t.dims[1]);
    if (!(classes >= 2)) throw new AttackModelError(`the model's logits have shape [${t.dims.join(', ')}]; a classifier needs at least 2 classes`);
    const am = new AttackModel(m, hash, source, inputShape, layout, outputKind, classes, session, opts, key);
    am.maxBatch = maxBatch;
    return am;
  }

  private static async session(model: Model, opts: AttackModelOptions, source: string): Promise<ort.InferenceSession> {
    const s = await openSession(saveModel(model), { provider: opts.provider ?? 'cpu', threads: opts.threads, allowCpuFallback: opts.allowCpuFallback ?? true, modelName: source });
    return s.session;
  }

  private gradSession(kind: LossKind): Promise<ort.InferenceSession> {
    let s = this.gradSessions.get(kind);
    if (!s) {
      if (kind === 'dlr' && this.classes < 3) throw new AttackModelError(`the DLR loss needs at least 3 classes; the model has ${this.classes}`);
      if (kind === 'dlr-t' && this.classes < 4) throw new AttackModelError(`the targeted DLR loss needs at least 4 classes; the model has ${this.classes}`);
      s = AttackModel.session(buildGradientGraph(this.model, this.inputShape, kind, this.inputLayout, maxPoolGradFor(this.opts.provider ?? 'cpu')), this.opts, this.source);
      this.gradSessions.set(kind, s);
      s.catch(() => this.gradSessions.delete(kind));
    }
    return s;
  }

  private check(x: Float32Array, n: number): void {
    if (this.released) throw new AttackModelError('this AttackModel has been released');
    if (x.length !== n * this.inputSize) throw new AttackModelError(`expected ${n} images of ${this.inputSize} values (${n * this.inputSize}), got ${x.length}`);
  }

  /** Logits of m images: [m, classes] (a model whose output does not follow its batch is named) and finite. */
  private checkLogits(t: ort.Tensor, m: number, first: number): void {
    if (t.dims.length !== 2 || t.dims[0] !== m || t.dims[1] !== this.classes) {
      throw new AttackModelError(`the model ${this.source} returned logits of shape [${t.dims.join(', ')}] for ${m} images; a classifier returns [${m}, ${this.classes}] (does its output follow the batch size?)`);
    }
    this.checkFinite(t.data as Float32Array, first);
  }

  /** Non-finite logits (NaN/Inf weights, an overflow) named as such, with the first image that shows them. */
  private checkFinite(v: Float32Array, first: number, what: 'logits' | 'loss' = 'logits'): void {
    const per = what === 'logits' ? this.classes : 1;
    for (let i = 0; i < v.length; i++) {
      if (Number.isFinite(v[i])) continue;
      throw new AttackModelError(`the model ${this.source} outputs ${v[i]} ${what === 'logits' ? 'logits' : 'as the loss'} for image ${first + Math.floor(i / per)} of the batch: ` +
        'its weights hold NaN/Inf or an op overflows. Check the weights (generalist inspect), the input scaling (--mean/--std) and the export');
    }
  }

  /** Splits [0, n) into runs of at most maxBatch examples. */
  private chunks(n: number): [number, number][] {
    const size = Number.isFinite(this.maxBatch) ? this.maxBatch : Math.max(n, 1);
    const out: [number, number][] = [];
    for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)]);
    return out;
  }

  /** Logits [n, classes] of n images. */
  async logits(x: Float32Array, n: number): Promise<Float32Array> {
    this.check(x, n);
    const D = this.inputSize, C = this.classes;
    const out = new Float32Array(n * C);
    for (const [s, e] of this.chunks(n)) {
      const m = e - s;
      const xs = s === 0 && e === n ? x : x.slice(s * D, e * D);
      const r = await withOrtErrors(this.source, 'run', () => this.forwardSession.run({ [IO.x]: new ort.Tensor('float32', xs, [m, ...this.inputShape]) }));
      this.checkLogits(r[IO.logits], m, s);
      out.set(r[IO.logits].data as Float32Array, s * C);
      this.counters.forwardRuns++;
      this.counters.forwardExamples += m;
    }
    return out;
  }

  /** Logits, per-example loss and input gradient of `kind` on n images with labels y (and targets for 'dlr-t'). */
  async gradient(kind: LossKind, x: Float32Array, y: ArrayLike<number>, n: number, target?: ArrayLike<number>): Promise<GradientResult> {
    this.check(x, n);
    if (y.length !== n) throw new AttackModelError(`expected ${n} labels, got ${y.length}`);
    if (kind === 'dlr-t' && (!target || target.length !== n)) throw new AttackModelError('the targeted DLR loss needs one target class per image');
    const session = await this.gradSession(kind);
    const D = this.inputSize, C = this.classes;
    const res: GradientResult = { logits: new Float32Array(n * C), loss: new Float32Array(n), grad: new Float32Array(n * D) };
    for (const [s, e] of this.chunks(n)) {
      const m = e - s;
      const xs = s === 0 && e === n ? x : x.slice(s * D, e * D);
      const feeds: Record<string, ort.Tensor> = {
        [IO.x]: new ort.Tensor('float32', xs, [m, ...this.inputShape]),
        [IO.y]: new ort.Tensor('int64', BigInt64Array.from({ length: m }, (_, i) => BigInt(y[s + i])), [m]),
      };
      if (kind === 'dlr-t') feeds[IO.target] = new ort.Tensor('int64', BigInt64Array.from({ length: m }, (_, i) => BigInt(target![s + i])), [m]);
      const r = await withOrtErrors(this.source, 'run', () => session.run(feeds));
      this.checkLogits(r[IO.logits], m, s);
      this.checkFinite(r[IO.loss].data as Float32Array, s, 'loss');
      res.logits.set(r[IO.logits].data as Float32Array, s * C);
      res.loss.set(r[IO.loss].data as Float32Array, s);
      res.grad.set(r[IO.grad].data as Float32Array, s * D);
      this.counters.gradientRuns++;
      this.counters.gradientExamples += m;
    }
    return res;
  }

  /** Closes the sessions and drops the instance from the cache. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.cacheKey) CACHE.delete(this.cacheKey);
    await this.forwardSession.release();
    for (const p of this.gradSessions.values()) {
      try { await (await p).release(); } catch { /* never opened */ }
    }
    this.gradSessions.clear();
  }
}

