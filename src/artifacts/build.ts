// src/artifacts: an inference classifier analysed and turned into training artifacts (ONNX graphs),
// cached on disk. Imports src/autodiff, src/onnx and src/util.
//
// Turns an inference classifier into training artifacts: ONNX graphs of standard ops for one SGD/Adam
// step, a whole K-step PGD attack, evaluation, and the EMA/blend update of the Generalist method.
// Hyper-parameters are graph inputs, so schedules never rebuild a graph.
import { subgraphReads } from '../onnx/validate.js';
import { GraphBuilder } from '../onnx/builder.js';
import { DataType, type Dim, type Model, type Node, type Tensor } from '../onnx/ir.js';
import { saveModel } from '../onnx/save.js';
import { sha256 } from '../util/hash.js';
import { buildGradient } from '../autodiff/gradient.js';
import type { GradForms } from '../autodiff/rule.js';
import { signOf } from '../autodiff/helpers.js';
import { correctCount, crossEntropy, cwMargin, klDivergence } from '../autodiff/losses.js';
import { analyzeModel, type InputLayout, type ModelAnalysis } from './analyze.js';
import { appendForward, maxPoolForm, type DropoutMask, type MaxPoolGrad } from './forward.js';
import { normalizeImport } from './import.js';

/** 2: Dropout in train_step is a fed mask (manifest.dropout), no longer the identity. */
export const ARTIFACT_FORMAT = 2;

/**
 * Bumped whenever the graphs built for the same model and options change (a rule, a formulation),
 * the interface staying the same: it is part of the cache key, so artifacts cached by an earlier
 * revision are rebuilt rather than reused, and a fix reaches runs that have a cache. The graphs'
 * fingerprints in test/artifact-revision.test.ts fail until it is bumped.
 * 2: BatchNormalization's backward reads x - mu only (batchnorm-train.ts).
 */
export const GRAPH_REVISION = 2;

export type OptimizerKind = 'sgd' | 'adam' | 'adamw';
export type AttackLoss = 'ce' | 'kl' | 'cw';

export interface ArtifactOptions {
  /** Training loss of the train step: cross-entropy on `x`, or TRADES on (`x`, `x_adv`). */
  loss: 'ce' | 'trades';
  optimizer: OptimizerKind;
  nesterov: boolean;
  /** Steps K of the PGD attack artifact (unrolled). */
  pgdSteps: number;
  /** Loss the attack ascends. Default: 'kl' for TRADES, else 'ce'. */
  attackLoss: AttackLoss;
  /** K unrolled copies of the step, or one copy inside an ONNX Loop (identical results). */
  attackForm: 'unrolled' | 'loop';
  labelSmoothing: number;
  /** The model's input layout; the artifacts always take NCHW images (see analyze.ts). */
  inputLayout: InputLayout;
  /** MaxPool backward: through the Indices output (fastest on the CPU) or by windows (WebGPU has no Indices). */
  maxPoolGrad: MaxPoolGrad;
  /** Conv's dW im2col: one grouped Conv (fastest on the CPU) or a batched group-1 Conv (WebGPU; autodiff GradForms). */
  convWeightGrad: 'grouped' | 'batched';
  /** Conv's dX as a Conv of dY (default) or a ConvTranspose (the earlier form; autodiff GradForms). */
  convInputGrad: 'auto' | 'conv' | 'convtranspose';
  /** Conv's dW with the batch folded into the MatMul on deep layers (default) or per image (autodiff GradForms). */
  convWeightFold: 'auto' | 'per-image';
  /** Conv's dW columns a few input channels at a time where they are large (default) or at once (autodiff GradForms). */
  convWeightCols: 'chunked' | 'whole';
}

export const DEFAULT_ARTIFACT_OPTIONS: ArtifactOptions = {
  loss: 'ce', optimizer: 'sgd', nesterov: false, pgdSteps: 10, attackLoss: 'ce', attackForm: 'unrolled', labelSmoothing: 0, inputLayout: 'nchw', maxPoolGrad: 'tiled', convWeightGrad: 'grouped',
  convInputGrad: 'auto', convWeightFold: 'auto', convWeightCols: 'chunked',
};

/** The autodiff formulations the options ask for. */
const gradForms = (o: ArtifactOptions): GradForms => ({ convWeight: o.convWeightGrad, convInput: o.convInputGrad, convWeightFold: o.convWeightFold, convWeightCols: o.convWeightCols, maxPool: maxPoolForm(o.maxPoolGrad) });

export interface IoSpec { name: string; dtype: string; shape: Dim[] }
export interface ArtifactSpec { file: string; inputs: IoSpec[]; outputs: IoSpec[] }
export interface Manifest {
  format: number;
  opset: number;
  sourceHash: string;
  hash: string;
  input: { name: string; shape: Dim[] };
  classes: number;
  params: { name: string; shape: number[] }[];
  stats: { name: string; shape: number[] }[];
  /** Optimizer state slots per parameter (SGD: momentum; Adam: m and v). */
  optimizerSlots: string[];
  /** train_step inputs holding the Dropout masks: [N, ...shape] float32, 0 or 1 / (1 - ratio) (ArtifactRuntime.dropoutMasks). */
  dropout: DropoutMask[];
  options: ArtifactOptions;
  artifacts: Record<'train_step' | 'attack' | 'eval' | 'ema', ArtifactSpec>;
}

export interface BuiltArtifacts {
  manifest: Manifest;
  models: Record<'train_step' | 'attack' | 'eval' | 'ema', Model>;
}

export { names } from './names.js';
import { names } from './names.js';

export const optimizerSlots = (o: OptimizerKind): string[] => (o === 'sgd' ? ['momentum_buf'] : ['exp_avg', 'exp_avg_sq']);

function scalarInput(b: GraphBuilder, name: string): string {
  return b.input(name, DataType.FLOAT, []);
}

function declareState(b: GraphBuilder, a: ModelAnalysis, withStats = true): void {
  for (const p of a.params) b.input(p.name, p.dtype, p.dims);
  if (withStats) for (const s of a.stats) b.input(s.name, s.dtype, s.dims);
  for (const c of a.constants) b.initializer(c.name, c);
}

function declareImages(b: GraphBuilder, a: ModelAnalysis, name: string): string {
  const s = a.input.shape;
  const per = s ? (a.inputLayout === 'nhwc' ? [s[3], s[1], s[2]] : s.slice(1)) : [];
  const shape: Dim[] = s ? ['N', ...per] : ['N'];
  return b.input(name, DataType.FLOAT, shape);
}

/** The train_step graph, and the Dropout masks it takes as inputs (the manifest lists them). */
export function buildTrainStep(model: Model, a: ModelAnalysis, o: ArtifactOptions): { model: Model; dropout: DropoutMask[] } {
  const b = new GraphBuilder({ name: 'train_step', opset: a.opset });
  declareState(b, a);
  const slots = optimizerSlots(o.optimizer);
  for (const p of a.params) for (const s of slots) b.input(names.slot(s, p.name), p.dtype, p.dims);
  const x = declareImages(b, a, names.x);
  const y = b.input(names.y, DataType.INT64, ['N']);
  const lr = scalarInput(b, names.lr);
  const wd = scalarInput(b, names.weightDecay);
  const hp: Record<string, string> = {};
  if (o.optimizer === 'sgd') hp.momentum = scalarInput(b, names.momentum);
  else {
    hp.beta1 = scalarInput(b, names.beta1);
    hp.beta2 = scalarInput(b, names.beta2);
    hp.eps = scalarInput(b, names.adamEps);
    hp.step = scalarInput(b, names.step);
  }
  const nat = appendForward(b, model.graph, a, { x, mode: 'train', prefix: 'fwd/', forGradient: true, maxPoolGrad: o.maxPoolGrad });
  let loss = crossEntropy(b, nat.logits, y, { reduction: 'mean', labelSmoothing: o.labelSmoothing });
  let statUpdates = nat.statUpdates;
  const dropout = [...nat.dropout];
  const constants = [...nat.constants];
  if (o.loss === 'trades') {
    const xAdv = declareImages(b, a, names.xAdv);
    const beta = scalarInput(b, names.tradesBeta);
    const adv = appendForward(b, model.graph, a, { x: xAdv, mode: 'train', prefix: 'fwd_adv/', forGradient: true, maxPoolGrad: o.maxPoolGrad });
    loss = b.add(loss, b.mul(beta, klDivergence(b, nat.logits, adv.logits)));
    statUpdates = adv.statUpdates;
    dropout.push(...adv.dropout);
    constants.push(...adv.constants);
  }
  const grads = buildGradient(b, { loss, wrt: a.params.map((p) => p.name), stopGradient: constants, forms: gradForms(o) });
  for (const p of a.params) {
    const g0 = grads.get(p.name)!;
    if (o.optimizer === 'sgd') {
      // torch.optim.SGD (dampening 0): g += wd*p; buf = m*buf + g (buf starts at 0, so step 1 gives buf = g).
      const g = b.add(g0, b.mul(wd, p.name));
      const buf = b.add(b.mul(hp.momentum, names.slot(slots[0], p.name)), g);
      const dir = o.nesterov ? b.add(g, b.mul(hp.momentum, buf)) : buf;
      b.output(b.sub(p.name, b.mul(lr, dir)), names.updated(p.name));
      b.output(buf, names.updated(names.slot(slots[0], p.name)));
    } else {
      // torch.optim.Adam / AdamW: bias corrections 1 - beta^step from the step input.
      const one = b.constF(1);
      const param = o.optimizer === 'adamw' ? b.mul(p.name, b.sub(one, b.mul(lr, wd))) : p.name;
      const g = o.optimizer === 'adam' ? b.add(g0, b.mul(wd, p.name)) : g0;
      const m = b.add(b.mul(hp.beta1, names.slot(slots[0], p.name)), b.mul(b.sub(one, hp.beta1), g));
      const v = b.add(b.mul(hp.beta2, names.slot(slots[1], p.name)), b.mul(b.sub(one, hp.beta2), b.mul(g, g)));
      const bc1 = b.sub(one, b.op('Pow', [hp.beta1, hp.step]));
      const bc2 = b.sub(one, b.op('Pow', [hp.beta2, hp.step]));
      const denom = b.add(b.div(b.op('Sqrt', [v]), b.op('Sqrt', [bc2])), hp.eps);
      b.output(b.sub(param, b.mul(b.div(lr, bc1), b.div(m, denom))), names.updated(p.name));
      b.output(m, names.updated(names.slot(slots[0], p.name)));
      b.output(v, names.updated(names.slot(slots[1], p.name)));
    }
  }
  for (const s of a.stats) b.output(statUpdates.get(s.name) ?? s.name, names.updated(s.name));
  b.output(loss, names.loss);
  b.output(correctCount(b, nat.logits, y), names.correct);
  return { model: b.build({ metadata: { artifact: 'train_step' } }), dropout };
}

/** Appends the attack loss of `logits` (summed over the batch: the sign of the gradient is what counts). */
function attackObjective(b: GraphBuilder, kind: AttackLoss, logits: string, y: string, natLogits?: string): string {
  if (kind === 'ce') return crossEntropy(b, logits, y, { reduction: 'sum' });
  if (kind === 'cw') return b.reduceSum(cwMargin(b, logits, y), undefined, 0);
  return klDivergence(b, natLogits!, logits);
}

/**
 * The K-step L-inf PGD attack: x0 = clip(x + eps*noise), K signed-gradient steps, projected.
 * 'unrolled' writes K copies of forward+backward; 'loop' writes one copy as the body of an ONNX
 * Loop (smaller file, same result; which is faster depends on the runtime: scripts/artifact-timing.ts).
 */
export function buildAttack(model: Model, a: ModelAnalysis, steps: number, loss: AttackLoss, form: 'unrolled' | 'loop' = 'unrolled', maxPoolGrad: MaxPoolGrad = 'tiled', forms: GradForms = {}): Model {
  const b = new GraphBuilder({ name: 'attack', opset: a.opset });
  declareState(b, a);
  const x = declareImages(b, a, names.x);
  const y = b.input(names.y, DataType.INT64, ['N']);
  const noise = declareImages(b, a, names.noise);
  const eps = scalarInput(b, names.eps);
  const step = scalarInput(b, names.stepSize);
  const zero = b.constF(0);
  const one = b.constF(1);
  const lo = b.op('Max', [b.sub(x, eps), zero]);
  const hi = b.op('Min', [b.add(x, eps), one]);
  let natLogits: string | undefined;
  if (loss === 'kl') natLogits = appendForward(b, model.graph, a, { x, mode: 'eval', prefix: 'nat/' }).logits;
  const x0 = b.op('Min', [b.op('Max', [b.add(x, b.mul(eps, noise)), lo]), hi]);
  /** One PGD step from `xk`, written into builder `g`. */
  const pgdStep = (g: GraphBuilder, xk: string, prefix: string): string => {
    const f = appendForward(g, model.graph, a, { x: xk, mode: 'eval', prefix, forGradient: true, maxPoolGrad });
    const obj = attackObjective(g, loss, f.logits, y, natLogits);
    const grad = buildGradient(g, { loss: obj, wrt: [xk], prefix: `${prefix}grad/`, stopGradient: natLogits ? [natLogits] : [], forms }).get(xk)!;
    return g.op('Min', [g.op('Max', [g.add(xk, g.mul(step, signOf(g, grad))), lo]), hi]);
  };
  let xAdv: string;
  if (form === 'unrolled') {
    xAdv = x0;
    for (let k = 0; k < steps; k++) xAdv = pgdStep(b, xAdv, `step${k}/`);
  } else {
    const body = new GraphBuilder({ name: 'pgd_step', opset: a.opset, facts: b.facts });
    body.prefix = 'loop/';
    body.input('loop/iter', DataType.INT64, []);
    const condIn = body.input('loop/cond_in', DataType.BOOL, []);
    const xin = body.input('loop/x_in', DataType.FLOAT, b.shape(x)!);
    const xout = pgdStep(body, xin, 'loop/');
    body.output(condIn, 'loop/cond_out');
    body.output(xout, 'loop/x_out');
    xAdv = b.op('Loop', [b.constI64(steps, []), '', x0], { body: body.graph }, { name: 'pgd_loop' });
  }
  b.output(xAdv, names.xAdv);
  return b.build({ metadata: { artifact: 'attack', steps: String(steps), loss, form } });
}

export function buildEval(model: Model, a: ModelAnalysis): Model {
  const b = new GraphBuilder({ name: 'eval', opset: a.opset });
  declareState(b, a);
  const x = declareImages(b, a, names.x);
  const y = b.input(names.y, DataType.INT64, ['N']);
  const f = appendForward(b, model.graph, a, { x, mode: 'eval', prefix: '' });
  b.output(f.logits, names.logits);
  b.output(crossEntropy(b, f.logits, y, { reduction: 'mean' }), names.loss);
  b.output(correctCount(b, f.logits, y), names.correct);
  return b.build({ metadata: { artifact: 'eval' } });
}

/**
 * One run of the Generalist blend for all parameters and BN statistics:
 *   A' = d*A + (1-d)*R;  S' = d*S + (1-d)*N;  G' = d*G + (1-d)*(beta*A' + (1-beta)*S').
 */
export function buildEma(a: ModelAnalysis): Model {
  const b = new GraphBuilder({ name: 'ema', opset: a.opset });
  const d = scalarInput(b, names.decay);
  const beta = scalarInput(b, names.blend);
  const one = b.constF(1);
  const d1 = b.sub(one, d);
  const beta1 = b.sub(one, beta);
  for (const t of [...a.params, ...a.stats]) {
    const [R, N, A, S, G] = (['R', 'N', 'A', 'S', 'G'] as const).map((w) => b.input(names.ema(w, t.name), t.dtype, t.dims));
    const A2 = b.add(b.mul(d, A), b.mul(d1, R));
    const S2 = b.add(b.mul(d, S), b.mul(d1, N));
    const G2 = b.add(b.mul(d, G), b.mul(d1, b.add(b.mul(beta, A2), b.mul(beta1, S2))));
    b.output(A2, names.updated(names.ema('A', t.name)));
    b.output(S2, names.updated(names.ema('S', t.name)));
    b.output(G2, names.updated(names.ema('G', t.name)));
  }
  return b.build({ metadata: { artifact: 'ema' } });
}

const dtypeLabel = (d: DataType) => (d === DataType.FLOAT ? 'float32' : d === DataType.INT64 ? 'int64' : DataType[d].toLowerCase());
const spec = (file: string, m: Model): ArtifactSpec => ({
  file,
  inputs: m.graph.inputs.map((v) => ({ name: v.name, dtype: dtypeLabel(v.dtype), shape: v.shape ?? [] })),
  outputs: m.graph.outputs.map((v) => ({ name: v.name, dtype: dtypeLabel(v.dtype), shape: v.shape ?? [] })),
});

/** The source model's identity in artifact hashes: sha256 of its bytes (one encode; pass it on rather than hash again). */
export const modelHash = (model: Model): string => sha256(saveModel(model));

/** The complete options: defaults for what is absent or undefined (CLI flags that were not passed). */
export function resolveArtifactOptions(options: Partial<ArtifactOptions> = {}): ArtifactOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<ArtifactOptions>;
  const o: ArtifactOptions = { ...DEFAULT_ARTIFACT_OPTIONS, ...given };
  if (given.attackLoss === undefined) o.attackLoss = o.loss === 'trades' ? 'kl' : 'ce';
  return o;
}

/** The cache key and manifest hash of (source model bytes' hash, options). */
export const artifactHash = (sourceHash: string, o: ArtifactOptions): string => sha256(JSON.stringify({ format: ARTIFACT_FORMAT, revision: GRAPH_REVISION, sourceHash, o }));

/**
 * `m` without the Constant nodes nothing reads (no node, subgraph or output): a Dropout's ratio,
 * copied with the source's nodes, once the Dropout became an Identity or a mask. ORT would fold
 * each into an initializer and then remove it, with a warning on the console of every session.
 */
function withoutUnreadConstants(m: Model): Model {
  const read = new Set<string>(m.graph.outputs.map((v) => v.name));
  for (const n of m.graph.nodes) for (const i of [...n.inputs, ...subgraphReads(n)]) read.add(i);
  const unread = (n: Node) => n.opType === 'Constant' && n.outputs.every((o) => !read.has(o));
  if (!m.graph.nodes.some(unread)) return m;
  return { ...m, graph: { ...m.graph, nodes: m.graph.nodes.filter((n) => !unread(n)) } };
}

export function buildArtifacts(source: Model, options: Partial<ArtifactOptions> = {}, sourceHash = modelHash(source)): BuiltArtifacts {
  const o = resolveArtifactOptions(options);
  const model = normalizeImport(source);
  if (!Number.isInteger(o.pgdSteps) || o.pgdSteps < 1 || o.pgdSteps > 1000) throw new Error(`pgdSteps must be an integer in 1..1000, got ${o.pgdSteps}`);
  const a = analyzeModel(model, { inputLayout: o.inputLayout });
  const trainStep = buildTrainStep(model, a, o);
  const models = {
    train_step: withoutUnreadConstants(trainStep.model),
    attack: withoutUnreadConstants(buildAttack(model, a, o.pgdSteps, o.attackLoss, o.attackForm, o.maxPoolGrad, gradForms(o))),
    eval: withoutUnreadConstants(buildEval(model, a)),
    ema: buildEma(a),
  };
  const hash = artifactHash(sourceHash, o);
  const manifest: Manifest = {
    format: ARTIFACT_FORMAT,
    opset: a.opset,
    sourceHash,
    hash,
    input: { name: a.input.name, shape: a.input.shape ?? [] },
    classes: a.classes,
    params: a.params.map((p) => ({ name: p.name, shape: p.dims })),
    stats: a.stats.map((s) => ({ name: s.name, shape: s.dims })),
    optimizerSlots: optimizerSlots(o.optimizer),
    dropout: trainStep.dropout,
    options: o,
    artifacts: {
      train_step: spec('train_step.onnx', models.train_step),
      attack: spec('attack.onnx', models.attack),
      eval: spec('eval.onnx', models.eval),
      ema: spec('ema.onnx', models.ema),
    },
  };
  return { manifest, models };
}

/** The model's initial parameters and statistics, by name (feeds for the first step). */
export function initialState(model: Model): Map<string, Tensor> {
  const a = analyzeModel(normalizeImport(model));
  return new Map([...a.params, ...a.stats].map((t) => [t.name, t]));
}

