// The fused iteration artifact: one whole training iteration in one graph, so the state crosses
// between host and device once per iteration instead of once per phase. Composed (compose.ts) from
// the artifacts the four-run loop runs, so the maths is defined once:
//   x' = attack(R; x, y, noise, eps, step_size)                 (robust expert: PGD-AT, TRADES, Generalist)
//   R' = train_step_R(R; x' or (x, x'), y, R/hyper)             (TRADES: natural and adversarial images)
//   N' = train_step_N(N; x, y, N/hyper)                         (natural, Generalist)
//   A', S', G' = ema(R', N', A, S, G; decay, beta)              (Generalist)
//   R'', N'' = redistribute ? G' : R', N'  (weights and BN statistics; optimizer slots kept)
// State inputs are `R:k`, `N:k` (k: a parameter, a BN statistic or a slot `slot:param`), `A:k`,
// `S:k`, `G:k`; outputs `new:` + the input's name. Each step's hyper-parameters and dropout masks
// are its train_step inputs under `R/` or `N/`; the losses and correct counts `R/loss`, `N/correct`.
import { GraphBuilder } from '../onnx/builder.js';
import { DataType, type Model } from '../onnx/ir.js';
import { inlineModel } from './compose.js';
import { names } from './names.js';

/** The artifacts one iteration runs; absent parts are absent from the method. */
export interface IterationParts {
  attack?: Model;
  robustStep?: Model;
  robustLoss: 'ce' | 'trades';
  naturalStep?: Model;
  /** Generalist only: the EMA/blend of A, S and G, and redistribution. */
  ema?: Model;
  /** Parameters and BN statistics (the keys of a network's weights). */
  weights: string[];
  opset: number;
}

export const iterationNames = {
  state: (net: 'R' | 'N' | 'A' | 'S' | 'G', k: string) => `${net}:${k}`,
  hyper: (net: 'R' | 'N', input: string) => `${net}/${input}`,
  redistribute: 'redistribute',
};

/** Binds a part's inputs: state keys to `net:k`, images and labels to the shared values, the rest to `net/name`. */
function bindInputs(b: GraphBuilder, part: Model, bind: (name: string) => string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of part.graph.inputs) {
    const name = bind(v.name);
    if (!b.fact(name)) b.input(name, v.dtype, v.shape ?? []);
    out[v.name] = name;
  }
  return out;
}

/** Appends one expert's train step; returns its outputs. */
function appendStep(b: GraphBuilder, step: Model, net: 'R' | 'N', images: { x: string; xAdv?: string }): Record<string, string> {
  const stateKeys = new Set(step.graph.outputs.filter((o) => o.name.startsWith('new:')).map((o) => o.name.slice(4)));
  const shared: Record<string, string | undefined> = { [names.x]: images.x, [names.xAdv]: images.xAdv, [names.y]: names.y };
  const bind = bindInputs(b, step, (name) => shared[name] ?? (stateKeys.has(name) ? iterationNames.state(net, name) : iterationNames.hyper(net, name)));
  return inlineModel(b, step, `${net}_step/`, bind);
}

/** Outputs a step's updated state (weights replaced by `redistributed` where given) and its loss and correct count. */
function outputStep(b: GraphBuilder, step: Record<string, string>, net: 'R' | 'N', redistributed?: Record<string, string>): void {
  for (const [k, v] of Object.entries(step)) {
    if (k.startsWith('new:')) b.output(redistributed?.[k.slice(4)] ?? v, names.updated(iterationNames.state(net, k.slice(4))));
  }
  b.output(step[names.loss], iterationNames.hyper(net, names.loss));
  b.output(step[names.correct], iterationNames.hyper(net, names.correct));
}

export function buildIteration(p: IterationParts): Model {
  const b = new GraphBuilder({ name: 'iteration', opset: p.opset });
  const weights = new Set(p.weights);
  const x = names.x;
  let xAdv: string | undefined;
  if (p.attack) {
    const bind = bindInputs(b, p.attack, (name) => (weights.has(name) ? iterationNames.state('R', name) : name));
    xAdv = inlineModel(b, p.attack, 'attack/', bind)[names.xAdv];
  }
  const robust = p.robustStep ? appendStep(b, p.robustStep, 'R', p.robustLoss === 'trades' ? { x, xAdv } : { x: xAdv! }) : undefined;
  const natural = p.naturalStep ? appendStep(b, p.naturalStep, 'N', { x }) : undefined;
  let toG: Record<string, string> | undefined;
  if (p.ema && robust && natural) {
    const bind = bindInputs(b, p.ema, (name) => {
      const [net, k] = [name.slice(0, 1), name.slice(2)];
      if (name[1] !== ':' || !weights.has(k)) return name;
      return net === 'R' ? robust[names.updated(k)] : net === 'N' ? natural[names.updated(k)] : name;
    });
    const ema = inlineModel(b, p.ema, 'ema/', bind);
    const flag = b.cast(b.input(iterationNames.redistribute, DataType.FLOAT, []), DataType.BOOL);
    toG = {};
    for (const k of p.weights) {
      for (const net of ['A', 'S', 'G'] as const) b.output(ema[names.updated(names.ema(net, k))], names.updated(iterationNames.state(net, k)));
      toG[k] = ema[names.updated(names.ema('G', k))];
    }
    const redistributed = (step: Record<string, string>) => Object.fromEntries(p.weights.map((k) => [k, b.op('Where', [flag, toG![k], step[names.updated(k)]])]));
    outputStep(b, robust, 'R', redistributed(robust));
    outputStep(b, natural, 'N', redistributed(natural));
  } else {
    if (robust) outputStep(b, robust, 'R');
    if (natural) outputStep(b, natural, 'N');
  }
  return b.build({ metadata: { artifact: 'iteration' } });
}

/**
 * K iterations in one run: an ONNX Loop whose body is the fused iteration `fused`. Its state
 * inputs (those with a `new:` output) are the loop-carried values, fed once and returned once;
 * every other input is fed stacked on a leading axis of K (batches [K, N, C, H, W], labels [K, N],
 * hyper-parameters [K]) and the body takes slice `iter`. Losses and correct counts come back [K].
 * K is the stacks' leading dimension, read at run time: one artifact runs groups of any size (the
 * trainer's last group of an epoch may be shorter).
 */
export function buildIterationLoop(fused: Model, opset: number): Model {
  const b = new GraphBuilder({ name: 'iteration_loop', opset });
  const outputs = new Set(fused.graph.outputs.map((o) => o.name));
  const state = fused.graph.inputs.filter((v) => outputs.has(names.updated(v.name)));
  const perIteration = fused.graph.inputs.filter((v) => !outputs.has(names.updated(v.name)));
  for (const v of state) b.input(v.name, v.dtype, v.shape ?? []);
  for (const v of perIteration) b.input(v.name, v.dtype, ['K', ...(v.shape ?? [])]);
  const K = b.op('Gather', [b.op('Shape', [names.y]), b.constI64(0, [])], { axis: 0 }, { name: 'iterations_count' });
  const body = new GraphBuilder({ name: 'iteration_body', opset, facts: b.facts });
  body.prefix = 'loop/';
  const iter = body.input('loop/iter', DataType.INT64, []);
  const cond = body.input('loop/cond_in', DataType.BOOL, []);
  const bind: Record<string, string> = {};
  for (const v of state) bind[v.name] = body.input(`loop/in:${v.name}`, v.dtype, v.shape ?? []);
  for (const v of perIteration) bind[v.name] = body.op('Gather', [v.name, iter], { axis: 0 }, { name: `slice_${v.name}` });
  const out = inlineModel(body, fused, 'loop/it/', bind);
  body.output(cond, 'loop/cond_out');
  for (const v of state) body.output(out[names.updated(v.name)], `loop/out:${v.name}`);
  const scans = fused.graph.outputs.filter((o) => !o.name.startsWith('new:'));
  for (const o of scans) body.output(out[o.name], `loop/scan:${o.name}`);
  const loopOut = [...state.map((v) => names.updated(v.name)), ...scans.map((o) => o.name)];
  b.node('Loop', [K, '', ...state.map((v) => v.name)], { body: body.graph }, { outputs: loopOut, name: 'iterations' });
  for (const v of state) b.graph.outputs.push({ name: names.updated(v.name), dtype: v.dtype, shape: v.shape });
  for (const o of scans) b.graph.outputs.push({ name: o.name, dtype: o.dtype, shape: ['K'] });
  return b.build({ metadata: { artifact: 'iteration_loop' } });
}
