// Whole-model finite-difference checks of the autodiff: every zoo model, forward copied as the train
// step copies it (appendForward mode 'train': BatchNorm on batch statistics), loss = sum of the
// cross-entropy over a batch of 4-8, gradients from buildGradient w.r.t. all parameters and the
// input, run on ORT's CPU provider in float32 (Conv has no double kernel), two seeds per model.
//
// FD in float32 on deep nets needs care:
//  - the logits are cast to float64 before the loss, so the loss itself is not quantised at
//    float32 (a sum of CEs near 10 has an ulp of 1e-6, which swamped the differences);
//  - one tensor is perturbed at a time, by a step s = H * |t| (H = 3e-5, relative to the tensor's
//    norm; a zero tensor, BN biases at init, steps like a tensor of ones), and the analytic side is
//    g . (P - M) / 2s with the perturbed tensors P, M as float32 actually holds them;
//  - directions: the normalised analytic gradient (largest derivative, best signal to noise), one
//    dense Gaussian direction, and two sparse Gaussian directions on 32 coordinates drawn from the
//    10% with the largest |g| (a dense random direction in a 10^5-element tensor has a derivative
//    ~|g|/300, often below the noise);
//  - tolerance |numeric - analytic| <= 5% |analytic| + atol, atol = 2 eps_L / s + kappa |g|, where
//    eps_L is the loss's own float32 rounding noise, measured on the spot (the largest
//    |L(t + d) - L(t) - g . d| over three dithers d of ~2^-22 relative size), and kappa |g| allows
//    for ReLU/MaxPool kinks within the step: central differences average the slope over [-s, s],
//    and a kink there shifts that average whatever the step. kappa = 3e-3 for the BN networks
//    (largest measured need 1.3e-3 |g|; at H = 1e-4 kinks cost up to 6e-3 |g|, below H = 3e-5 the
//    noise term takes over). SmallCNN at PyTorch's default init has tiny pre-activations (logits
//    ~0.05), so kinks sit very close to the evaluation point: kappa = 1.5e-2 (largest measured need
//    7.4e-3 |g|). Example: its conv3.bias[13] gradient is -0.0156327, which torch's float64
//    autograd reproduces to 4e-7, yet float64 central differences give -0.014966 for every h in
//    [1e-4, 1e-2] and -0.0156327 only at h = 1e-6: a kink ~1e-5 away, not a gradient error.
//    Every gradient-direction probe must resolve a 5% error (atol < 5% of its derivative); at
//    least a quarter of the other probes per model must resolve a sign flip (atol < 50%); the rest
//    are checked but weak.
// The negative tests corrupt one gradient (negated, scaled by 1.1, shuffled) and expect the check
// to fail, so the comparison is a real one.
import { describe, expect, it } from 'vitest';
import { buildZooModel } from '../src/zoo/index.js';
import { analyzeModel } from '../src/artifacts/analyze.js';
import { appendForward } from '../src/artifacts/forward.js';
import { buildGradient } from '../src/autodiff/gradient.js';
import { crossEntropy } from '../src/autodiff/losses.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { DataType, type Model } from '../src/onnx/ir.js';
import { createSession, ort, toOrt } from '../src/runtime/ort.js';
import { Rng } from '../src/util/rng.js';

const H = 3e-5;
const RTOL = 0.05;
const SPARSE = 32;

interface Probe { tensor: string; dir: string; analytic: number; numeric: number; atol: number; gradNorm: number; ok: boolean; informative: boolean }
interface FdReport { probes: Probe[]; loss: number; eps: Record<string, number> }

interface WholeModelCase {
  model: string;
  inputShape: number[];
  batch: number;
  /** Tensors to probe: parameter names, and 'x' for the input. */
  tensors: string[];
  /** Allowance for ReLU/MaxPool kinks crossed within the step, relative to |g| (see the header). */
  kappa: number;
}

const CASES: WholeModelCase[] = [
  {
    model: 'smallcnn', inputShape: [1, 28, 28], batch: 8, kappa: 1.5e-2,
    tensors: ['feature_extractor.conv1.weight', 'feature_extractor.conv3.bias', 'classifier.fc1.weight', 'classifier.fc3.weight', 'classifier.fc3.bias', 'x'],
  },
  {
    model: 'resnet18', inputShape: [3, 16, 16], batch: 4, kappa: 3e-3,
    tensors: ['conv1.weight', 'bn1.weight', 'layer1.0.bn2.bias', 'layer2.0.shortcut.0.weight', 'layer2.0.shortcut.1.weight', 'layer3.0.conv1.weight', 'linear.weight', 'linear.bias', 'x'],
  },
  {
    model: 'preactresnet18', inputShape: [3, 16, 16], batch: 4, kappa: 3e-3,
    tensors: ['conv1.weight', 'layer1.0.bn1.weight', 'layer2.0.bn2.bias', 'layer3.0.shortcut.0.weight', 'layer4.0.shortcut.0.weight', 'bn.weight', 'bn.bias', 'linear.weight', 'x'],
  },
  {
    model: 'wrn-34-10', inputShape: [3, 8, 8], batch: 4, kappa: 3e-3,
    tensors: ['conv1.weight', 'block1.layer.0.bn1.weight', 'block1.layer.1.conv2.weight', 'block2.layer.0.convShortcut.weight', 'block3.layer.0.convShortcut.weight', 'bn1.bias', 'fc.weight', 'x'],
  },
];

/** Train-mode forward + sum CE (in float64), optionally with the gradients of `wrt` as outputs `d:<name>`. */
function lossGraph(model: Model, inputShape: number[], gradsOf?: string[]): Model {
  const a = analyzeModel(model);
  const b = new GraphBuilder({ name: 'fd', opset: a.opset });
  for (const p of a.params) b.input(p.name, p.dtype, p.dims);
  for (const s of a.stats) b.input(s.name, s.dtype, s.dims);
  for (const c of a.constants) b.initializer(c.name, c);
  const x = b.input('x', DataType.FLOAT, ['N', ...inputShape]);
  const y = b.input('y', DataType.INT64, ['N']);
  const f = appendForward(b, model.graph, a, { x, mode: 'train', prefix: 'fwd/', forGradient: !!gradsOf });
  const loss = crossEntropy(b, b.cast(f.logits, DataType.DOUBLE), y, { reduction: 'sum' });
  b.output(loss, 'loss');
  if (gradsOf) {
    // As the train step does: differentiate w.r.t. every parameter (and the input); fetch some.
    const g = buildGradient(b, { loss, wrt: [...a.params.map((p) => p.name), x] });
    for (const w of gradsOf) b.output(g.get(w)!, `d:${w}`);
  }
  return b.build();
}

const norm = (v: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
};

/**
 * Runs the FD check of one model. `corrupt` may alter an analytic gradient before the comparison
 * (negative tests). Returns every probe; the caller asserts.
 */
async function wholeModelFd(c: WholeModelCase, seed: number, corrupt?: (name: string, g: Float32Array) => void): Promise<FdReport> {
  const model = buildZooModel(c.model, { inputShape: c.inputShape, seed });
  const a = analyzeModel(model);
  const gradSession = await createSession(lossGraph(model, c.inputShape, c.tensors), { threads: 1 });
  const lossSession = await createSession(lossGraph(model, c.inputShape), { threads: 1 });
  try {
    const rng = new Rng(1000 + seed);
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of [...a.params, ...a.stats]) feeds[t.name] = toOrt(t);
    const xDims = [c.batch, ...c.inputShape];
    feeds.x = new ort.Tensor('float32', rng.fillUniform(new Float32Array(xDims.reduce((p, v) => p * v, 1)), 0, 1), xDims);
    feeds.y = new ort.Tensor('int64', BigInt64Array.from({ length: c.batch }, () => BigInt(rng.int(a.classes))), [c.batch]);

    const base = await gradSession.run(feeds);
    const lossAt = async (name: string, data: Float32Array): Promise<number> =>
      Number((await lossSession.run({ ...feeds, [name]: new ort.Tensor('float32', data, feeds[name].dims) })).loss.data[0]);
    const L0 = Number((await lossSession.run(feeds)).loss.data[0]);
    expect(Number(base.loss.data[0])).toBeCloseTo(L0, 6);

    const probes: Probe[] = [];
    const eps: Record<string, number> = {};
    for (const name of c.tensors) {
      const theta = feeds[name].data as Float32Array;
      const g = Float32Array.from(base[`d:${name}`].data as Float32Array);
      expect(g.length, `gradient of ${name} has its size`).toBe(theta.length);
      corrupt?.(name, g);
      const n = theta.length;
      // Relative to the tensor's norm; a zero tensor (BN biases at init) steps like a tensor of ones.
      const scale = norm(theta) || Math.sqrt(n);
      const step = H * scale;

      // The loss's rounding noise: dithers of ~2^-22 relative size.
      let noise = 0;
      const elem = scale / Math.sqrt(n);
      for (let k = 0; k < 3; k++) {
        const d = new Float32Array(n);
        let lin = 0;
        for (let i = 0; i < n; i++) {
          d[i] = theta[i] + (rng.next() < 0.5 ? -1 : 1) * 2 ** -22 * Math.max(Math.abs(theta[i]), elem);
          lin += g[i] * (d[i] - theta[i]);
        }
        noise = Math.max(noise, Math.abs((await lossAt(name, d)) - L0 - lin));
      }
      eps[name] = noise;
      const gn = norm(g);
      const atol = (2 * noise) / step + c.kappa * gn;

      const dirs: [string, Float64Array][] = [];
      if (gn > 0) dirs.push(['gradient', Float64Array.from(g)]);
      const dense = new Float64Array(n);
      for (let i = 0; i < n; i++) dense[i] = rng.normal();
      dirs.push(['random', dense]);
      // Sparse random directions: Gaussian on 32 coordinates drawn from those with the largest |g|
      // (top 10%), where a derivative stands well above the noise even in huge tensors.
      const mags = Float32Array.from(g, Math.abs).sort();
      const cut = mags[n - Math.min(n, Math.max(SPARSE, Math.ceil(n / 10)))];
      const pool: number[] = [];
      for (let i = 0; i < n; i++) if (Math.abs(g[i]) >= cut) pool.push(i);
      for (let k = 0; k < 2; k++) {
        const v = new Float64Array(n);
        for (let m = 0; m < Math.min(SPARSE, pool.length); m++) {
          const j = m + rng.int(pool.length - m);
          [pool[m], pool[j]] = [pool[j], pool[m]];
          v[pool[m]] = rng.normal();
        }
        dirs.push([`sparse${k}`, v]);
      }
      for (const [dir, v] of dirs) {
        const vn = norm(v);
        const plus = new Float32Array(n);
        const minus = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          plus[i] = theta[i] + (step * v[i]) / vn;
          minus[i] = theta[i] - (step * v[i]) / vn;
        }
        const numeric = ((await lossAt(name, plus)) - (await lossAt(name, minus))) / (2 * step);
        // The step float32 actually took: (P - M) / 2.
        let analytic = 0;
        for (let i = 0; i < n; i++) analytic += g[i] * (plus[i] - minus[i]);
        analytic /= 2 * step;
        const ok = Math.abs(numeric - analytic) <= RTOL * Math.abs(analytic) + atol;
        // Informative: the gradient direction resolves a 5% error; other directions at least a sign flip.
        const informative = atol < (dir === 'gradient' ? RTOL : 0.5) * Math.abs(numeric);
        probes.push({ tensor: name, dir, analytic, numeric, atol, gradNorm: gn, ok, informative });
      }
    }
    return { probes, loss: L0, eps };
  } finally {
    await gradSession.release();
    await lossSession.release();
  }
}

const fmt = (p: Probe) => `${p.tensor} along ${p.dir}: analytic ${p.analytic.toExponential(4)} numeric ${p.numeric.toExponential(4)} (atol ${p.atol.toExponential(1)})`;

describe('whole-model gradients vs central differences (BatchNorm in training mode, float32)', () => {
  for (const c of CASES) {
    for (const seed of [1, 2]) {
      it(`${c.model} [${c.inputShape}] batch ${c.batch}, seed ${seed}`, async () => {
        const r = await wholeModelFd(c, seed);
        if (process.env.FD_VERBOSE) {
          const rel = (p: Probe) => Math.abs(p.numeric - p.analytic) / Math.abs(p.analytic);
          console.log(`${c.model} seed ${seed}: loss ${r.loss.toFixed(4)}\n` + r.probes.map((p) => `  ${fmt(p)} rel ${rel(p).toExponential(1)} err/|g| ${(Math.abs(p.numeric - p.analytic) / p.gradNorm).toExponential(1)} atol/|g| ${(p.atol / p.gradNorm).toExponential(1)}${p.informative ? '' : ' (weak)'}`).join('\n'));
        }
        expect(r.probes.length).toBe(4 * c.tensors.length);
        for (const p of r.probes) expect(p.ok, fmt(p)).toBe(true);
        // Every gradient-direction probe is a real check: its derivative stands well above the noise.
        for (const p of r.probes.filter((q) => q.dir === 'gradient')) expect(p.informative, `${fmt(p)} is below the noise floor`).toBe(true);
        // A good share of the other directions resolve a sign flip too.
        const rand = r.probes.filter((q) => q.dir !== 'gradient');
        expect(rand.filter((q) => q.informative).length).toBeGreaterThanOrEqual(Math.floor(rand.length / 4));
      });
    }
  }
});

describe('the whole-model FD check fails on a wrong gradient', () => {
  const corruptions: [string, (g: Float32Array) => void][] = [
    ['negated', (g) => { for (let i = 0; i < g.length; i++) g[i] = -g[i]; }],
    ['scaled by 1.1', (g) => { for (let i = 0; i < g.length; i++) g[i] *= 1.1; }],
    ['shuffled', (g) => { const rng = new Rng(3); for (let i = g.length - 1; i > 0; i--) { const j = rng.int(i + 1); [g[i], g[j]] = [g[j], g[i]]; } }],
  ];
  it.each([
    ['smallcnn', 'feature_extractor.conv1.weight', ['negated', 'scaled by 1.1', 'shuffled']],
    ['resnet18', 'bn1.weight', ['negated', 'scaled by 1.1']],
  ])('%s, %s', async (model, tensor, which) => {
    const base = CASES.find((c) => c.model === model)!;
    const c: WholeModelCase = { ...base, tensors: [tensor] };
    for (const [what, f] of corruptions.filter(([w]) => (which as string[]).includes(w))) {
      const r = await wholeModelFd(c, 1, (name, g) => name === tensor && f(g));
      const grad = r.probes.find((p) => p.dir === 'gradient')!;
      expect(grad.ok, `${what}: ${fmt(grad)}`).toBe(false);
      // A negated gradient is caught by every probe that resolves a sign flip, not only the gradient direction.
      if (what === 'negated') {
        const informative = r.probes.filter((p) => p.informative);
        expect(informative.length).toBeGreaterThanOrEqual(3);
        for (const p of informative) expect(p.ok, `${what}: ${fmt(p)}`).toBe(false);
      }
    }
  });
});
