// Compares one case of the torchvision corpus (scripts/torch_zoo.py: CASE.onnx, CASE.json,
// CASE.bin) with torch: the train-mode loss, which tensors train, every parameter gradient against
// torch's own float32 error (the spread of its float32 ways: default kernels, channels-last,
// oneDNN off, Monte Carlo runs at rounding-level jitter; see scripts/torch_zoo.py), the eval-mode
// input gradient's signs, and the BatchNorm running statistics after one step. Shared by test/torch-zoo.test.ts (the committed small corpus) and
// scripts/torch-zoo-check.ts (the full-size corpus).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeModel } from '../../src/artifacts/analyze.js';
import { appendForward } from '../../src/artifacts/forward.js';
import { normalizeImport } from '../../src/artifacts/import.js';
import { buildGradient } from '../../src/autodiff/gradient.js';
import { crossEntropy } from '../../src/autodiff/losses.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType } from '../../src/onnx/ir.js';
import { loadModelFile } from '../../src/onnx/load.js';
import { f32Tensor, i64Tensor, ort, runModel, toOrt } from '../../src/runtime/ort.js';

type At = [number, number];
export interface ZooRef {
  case: string; model: string; form: string; opset: number; torch: string;
  input_shape: number[]; classes: number; x: At; y: number[];
  loss64: number; loss32: number; num_params: number; grad_x_eval: At; grad_x_eval_err32: number;
  /** torch's float32 error of the loss, largest over its float32 ways (scripts/torch_zoo.py float32_ways). */
  loss32_err: number; folded: boolean;
  /** err32: torch's own float32 error, max |g32 - g64| over its float32 ways; err32_default: the default kernels' alone. */
  params: { name: string; shape: number[]; grad: At; err32: number; err32_default: number }[];
  stats: { name: string; shape: number[]; value: At; err32: number }[];
}

/** rel: our error, floor: torch's float32 error over its float32 ways, floorDefault: its default kernels' alone; each relative to the gradient's scale. */
/** ok: within what is allowed; okDefault: the same against the default kernels' error alone (for comparison only). */
export interface ParamResult { name: string; rel: number; floor: number; floorDefault: number; ok: boolean; okDefault: boolean }
export interface CaseResult {
  case: string;
  /** |ours - torch float64| / torch float64, and the same for torch's float32 loss (largest over its float32 ways). */
  lossRel: number; torchLossRel: number;
  /** Within 1e-5 relative, or 3x torch's own float32 error where that is larger. */
  lossOk: boolean;
  /** Tensors torch trains that we do not, and the reverse. */
  missing: string[]; extra: string[];
  params: ParamResult[];
  /** The parameter with the largest error relative to what is allowed (3x torch's float32 error or 1e-4 relative). */
  worst: ParamResult;
  /** Largest float32 error of torch's own, relative to each parameter's gradient scale. */
  torchFloor: number;
  /** The same for torch's default float32 kernels alone. */
  torchFloorDefault: number;
  /** Largest relative error of a running statistic (statistics of scale < 1e-6 left out), and whether each is within 1e-5 relative or 3x torch's float32 error. */
  statsRel: number; statsOk: boolean;
  statsMissing: string[];
  /** Entries of the eval-mode input gradient whose sign differs from torch's where |g| is not tiny (> 1e-3 max|g| and > 3x torch's float32 error). */
  signFlips: number;
}

export function loadCase(dir: string, name: string) {
  const ref = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as ZooRef;
  const buf = readFileSync(join(dir, `${name}.bin`));
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const arr = ([o, n]: At) => all.subarray(o, o + n);
  return { ref, arr, model: loadModelFile(join(dir, `${name}.onnx`)) };
}

const maxAbs = (a: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i])); return m; };
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };

/** Our train-mode loss, gradients of every parameter, and BN statistic updates; the eval-mode input gradient. */
async function ours(model: ReturnType<typeof loadModelFile>, ref: ZooRef, x: Float32Array) {
  const m = normalizeImport(model);
  const a = analyzeModel(m);
  const b = new GraphBuilder({ name: 'zoo', opset: a.opset });
  for (const t of [...a.params, ...a.stats]) b.input(t.name, t.dtype, t.dims);
  for (const c of a.constants) b.initializer(c.name, c);
  const xs = b.input('x', DataType.FLOAT, ['N', ...ref.input_shape]);
  const ys = b.input('y', DataType.INT64, ['N']);
  const f = appendForward(b, m.graph, a, { x: xs, mode: 'train', prefix: 'f/', forGradient: true });
  const loss = crossEntropy(b, f.logits, ys, { reduction: 'mean' });
  const grads = buildGradient(b, { loss, wrt: a.params.map((p) => p.name) });
  b.output(loss, 'loss');
  for (const p of a.params) b.output(grads.get(p.name)!, `grad:${p.name}`);
  for (const [s, v] of f.statUpdates) b.output(v, `stat:${s}`);
  const e = appendForward(b, m.graph, a, { x: xs, mode: 'eval', prefix: 'e/', forGradient: true });
  const dx = buildGradient(b, { loss: crossEntropy(b, e.logits, ys, { reduction: 'sum' }), wrt: [xs], prefix: 'ex/' }).get(xs)!;
  b.output(dx, 'dx');
  const feeds: Record<string, ort.Tensor> = { x: f32Tensor(x, [ref.y.length, ...ref.input_shape]), y: i64Tensor(ref.y, [ref.y.length]) };
  for (const t of [...a.params, ...a.stats]) feeds[t.name] = toOrt(t);
  const out = await runModel(b.build(), feeds, { threads: 1 });
  const data = (k: string) => out[k].data as Float32Array;
  return { a, loss: data('loss')[0], grad: (n: string) => data(`grad:${n}`), stat: (n: string) => out[`stat:${n}`]?.data as Float32Array | undefined, dx: data('dx') };
}

export async function compareCase(dir: string, name: string): Promise<CaseResult> {
  const { ref, arr, model } = loadCase(dir, name);
  const r = await ours(model, ref, arr(ref.x).slice());
  const trained = new Set(r.a.params.map((p) => p.name));
  const torchTrained = new Set(ref.params.map((p) => p.name));
  const params: ParamResult[] = [];
  let torchFloor = 0;
  let torchFloorDefault = 0;
  const G = Math.max(...ref.params.map((p) => maxAbs(arr(p.grad))));
  for (const p of ref.params) {
    if (!trained.has(p.name)) continue;
    const g64 = arr(p.grad);
    const err = maxDiff(r.grad(p.name), g64);
    // Allowed: 3x torch's own float32 error, or 1e-4 relative, whichever is larger. Reported
    // relative to the gradient's scale, at least 1e-6 of the largest (a BN bias followed by
    // another BN has a gradient that is zero but for rounding).
    const scale = Math.max(maxAbs(g64), 1e-6 * G);
    const within = (floor: number) => err <= Math.max(3 * floor, 1e-4 * maxAbs(g64));
    params.push({ name: p.name, rel: err / scale, floor: p.err32 / scale, floorDefault: p.err32_default / scale, ok: within(p.err32), okDefault: within(p.err32_default) });
    torchFloor = Math.max(torchFloor, p.err32 / scale);
    torchFloorDefault = Math.max(torchFloorDefault, p.err32_default / scale);
  }
  const score = (p: ParamResult) => (p.ok ? 0 : 1) + p.rel / Math.max(3 * p.floor, 1e-4);
  const worst = params.reduce((w, p) => (score(p) > score(w) ? p : w), params[0]);
  let statsRel = 0;
  let statsOk = true;
  const statsMissing: string[] = [];
  const S = Math.max(...ref.stats.map((s) => maxAbs(arr(s.value))));
  for (const s of ref.stats) {
    const v = r.stat(s.name);
    if (!v) { statsMissing.push(s.name); continue; }
    const want = arr(s.value);
    const err = maxDiff(v, want);
    // 1e-5 relative (to the statistic's scale, at least 1e-3 of the largest: a running mean after a
    // BN-normalised input is zero but for rounding), or 3x torch's float32 error.
    statsOk &&= err <= Math.max(3 * s.err32, 1e-5 * Math.max(maxAbs(want), 1e-3 * S));
    if (maxAbs(want) > 1e-6) statsRel = Math.max(statsRel, err / maxAbs(want));
  }
  const gx = arr(ref.grad_x_eval);
  const tiny = Math.max(1e-3 * maxAbs(gx), 3 * ref.grad_x_eval_err32);
  let signFlips = 0;
  for (let i = 0; i < gx.length; i++) if (Math.abs(gx[i]) > tiny && Math.sign(gx[i]) !== Math.sign(r.dx[i])) signFlips++;
  const lossErr = Math.abs(r.loss - ref.loss64);
  const torchLossErr = ref.loss32_err;
  return {
    case: name,
    lossRel: lossErr / Math.abs(ref.loss64), torchLossRel: torchLossErr / Math.abs(ref.loss64),
    lossOk: lossErr <= Math.max(1e-5 * Math.abs(ref.loss64), 3 * torchLossErr),
    missing: [...torchTrained].filter((n) => !trained.has(n)),
    extra: [...trained].filter((n) => !torchTrained.has(n)),
    params, worst, torchFloor, torchFloorDefault, statsRel, statsOk: statsOk && !statsMissing.length, statsMissing, signFlips,
  };
}
