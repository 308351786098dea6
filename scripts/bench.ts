// npm run bench: images/s of one whole Generalist iteration (PGD-K attack on the robust expert,
// both expert steps, the EMA/blend run) for SmallCNN (batch 128) or PreAct ResNet-18 (batch 32),
// then ms per phase and peak RSS. When Debian's python3-torch is installed, the PyTorch reference
// (shared/bench/torch_generalist.py, found in a parent folder) runs in the same invocation, in
// alternation with ours (--pairs rounds): the medians and the median of the per-round ratios count.
//   npm run bench -- [--model smallcnn|preact18] [--batch N] [--iters 10] [--warmup 2] [--pairs 5]
//     [--threads 2] [--steps 10] [--no-torch] [--variants default,dx-transpose,...] [--no-transfer]
//     [--rss-phases]
// --variants times several formulations side by side (each its own artifacts and sessions, in
// turn within every round); VARIANTS below lists them. Peak RSS of ours covers all of them.
// --rss-phases prints (stderr) this process's RSS, its peak so far and the JS ArrayBuffers after each
// phase of every iteration: where the memory goes. Last (unless --no-transfer), the transfer account
// of each iteration form for SmallCNN and PreAct ResNet-18.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initialState } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { ArtifactRuntime, type ExpertState } from '../src/runtime/artifact-runtime.js';
import { SessionShare } from '../src/runtime/session-share.js';
import type { OpenOptions } from '../src/runtime/providers.js';
import type { ArtifactOptions } from '../src/artifacts/build.js';
import { benchInputs, benchModel, benchNoise, type BenchModel } from './bench-model.js';
import { Rng } from '../src/util/rng.js';
import { measureTransfer } from '../src/train/transfer.js';
import { buildZooModel } from '../src/zoo/index.js';
import { ParallelIteration, splitThreads } from '../src/train/parallel.js';

const { values } = parseArgs({ options: {
  model: { type: 'string', default: 'smallcnn' }, batch: { type: 'string' }, iters: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '2' }, pairs: { type: 'string', default: '5' }, threads: { type: 'string', default: '2' },
  steps: { type: 'string', default: '10' }, 'no-torch': { type: 'boolean' }, variants: { type: 'string', default: 'default' },
  'no-transfer': { type: 'boolean' }, 'rss-phases': { type: 'boolean' },
} });
const iters = Number(values.iters), warmup = Number(values.warmup), pairs = Number(values.pairs);
const threads = Number(values.threads), steps = Number(values.steps);
const spec = benchModel(values.model!, values.batch);

/** Formulations to compare: how the gradient rules write the graphs, and ORT session settings. */
interface Variant {
  convInput?: ArtifactOptions['convInputGrad']; convWeight?: ArtifactOptions['convWeightFold']; convCols?: ArtifactOptions['convWeightCols'];
  maxPool?: ArtifactOptions['maxPoolGrad']; tuning?: OpenOptions['tuning']; optimization?: OpenOptions['optimization']; parallel?: boolean; branches?: boolean;
}
const VARIANTS: Record<string, Variant> = {
  // The trainer's CPU form with two threads or more (train/parallel.ts): the attack in batch halves
  // and the two steps side by side, half the threads each. The variants below change the four-run form.
  default: { parallel: true },
  runs4: {},
  'dx-transpose': { convInput: 'convtranspose' },
  'dw-per-image': { convWeight: 'per-image' },
  'dw-whole': { convCols: 'whole', parallel: true }, // the parallel form with dW's columns built at once (before issue 11's chunking)
  'pool-indices': { maxPool: 'indices', parallel: true },
  'dx-conv': { convInput: 'conv', parallel: true }, // the parallel form with dX as a Conv of dY on unpadded layers too (the default before) // the parallel form with MaxPool's Indices and a scatter everywhere (before the tiled form)
  'no-spin': { tuning: { extra: { session: { intra_op: { allow_spinning: '0' } } } } },
  'denormal-zero': { tuning: { extra: { session: { set_denormal_as_zero: '1' } } } },
  'mem-pattern': { tuning: { enableMemPattern: true } }, // ORT's default, ours until issue 11
  'no-arena': { tuning: { enableCpuMemArena: false } },
  'no-arena-par': { tuning: { enableCpuMemArena: false }, parallel: true }, // the parallel form on glibc's malloc
  separate: { branches: false, parallel: true }, // each graph in a session of its own (before the branch sessions)
  'runs4-separate': { branches: false },
  'opt-extended': { optimization: 'extended', parallel: true }, // no NCHWc layout pass (its MaxPool reorders)
};

const PHASES = ['attack', 'robustStep', 'naturalStep', 'ema'] as const;
type Phases = Record<(typeof PHASES)[number], number>;

/** RSS, its peak so far, the main thread's JS heap and the JS ArrayBuffers (MiB) after a phase, on stderr (--rss-phases). */
function logRss(phase: string): void {
  const status = existsSync('/proc/self/status') ? readFileSync('/proc/self/status', 'utf8') : '';
  const kib = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024;
  const m = process.memoryUsage();
  console.error(`after ${phase.padEnd(11)} RSS ${(m.rss / 2 ** 20).toFixed(0)} MiB, peak ${kib('VmHWM').toFixed(0)}, JS heap ${(m.heapTotal / 2 ** 20).toFixed(0)}, JS ArrayBuffers ${(m.arrayBuffers / 2 ** 20).toFixed(0)}`);
}

/** One variant's runtime and Generalist state; `run(n)` times n iterations, returns ms per iteration and per phase. */
async function openVariant(name: string, s: BenchModel) {
  const v = VARIANTS[name];
  if (!v) throw new Error(`unknown variant "${name}"; known: ${Object.keys(VARIANTS).join(', ')}`);
  const forms = { ...(v.convInput && { convInputGrad: v.convInput }), ...(v.convWeight && { convWeightFold: v.convWeight }), ...(v.convCols && { convWeightCols: v.convCols }), ...(v.maxPool && { maxPoolGrad: v.maxPool }) };
  const scratch = mkdtempSync(join(tmpdir(), 'bench-'));
  const { dir } = ensureArtifacts(s.model, { optimizer: 'sgd', pgdSteps: steps, ...forms }, scratch);
  const split = v.parallel ? splitThreads(threads, threads) : null;
  // Each expert its own runtime, as in the trainer; like the trainer's, they share the sessions of
  // identical graphs (runtime/session-share.ts).
  const share = new SessionShare();
  const settings = { tuning: v.tuning, optimization: v.optimization, branches: v.branches };
  const rt = await ArtifactRuntime.open(dir, { threads: split ? split.main : threads, ...settings }, share);
  const rtN = await ArtifactRuntime.open(dir, { threads: split ? split.main : threads, ...settings }, share);
  const par = split ? await ParallelIteration.open({ robust: rt, natural: rtN, robustLoss: 'ce' }, { threads: split.worker, ...settings }) : null;
  const rng = new Rng(0);
  const { x, y, eps, stepSize } = benchInputs(s, rng);
  const w0 = ArtifactRuntime.weightsFrom(initialState(s.model).values());
  let R: ExpertState = { weights: w0, slots: rt.initialSlots() };
  let N: ExpertState = { weights: w0, slots: rt.initialSlots() };
  let A = w0, S = w0, G = w0;
  const hp = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };
  const iteration = async (ph: Phases) => {
    let t = performance.now();
    const lap = (k: keyof Phases) => { const now = performance.now(); ph[k] += now - t; t = now; if (values['rss-phases']) logRss(k); };
    const noise = benchNoise(s, rng);
    if (par) {
      const xAdv = await par.attack(R.weights, x, y, noise, eps, stepSize);
      lap('attack');
      const plan = { x, y, frac: 0, robust: { noise, eps, stepSize, hp }, natural: { hp } };
      ({ R, N } = (await par.expertSteps({ R, N, A, S, G }, plan, xAdv)).nets);
      lap('robustStep'); // both steps, side by side
      lap('naturalStep');
    } else {
      const xAdv = await rt.attack(R.weights, x, y, noise, eps, stepSize);
      lap('attack');
      R = (await rt.trainStep(R, xAdv, y, hp)).state;
      lap('robustStep');
      N = (await rtN.trainStep(N, x, y, hp)).state;
      lap('naturalStep');
    }
    ({ A, S, G } = await rt.ema(R.weights, N.weights, A, S, G, 0.99, 1));
    lap('ema');
  };
  const run = async (n: number, warm: number) => {
    const ph: Phases = { attack: 0, robustStep: 0, naturalStep: 0, ema: 0 };
    for (let i = 0; i < warm; i++) await iteration({ ...ph });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await iteration(ph);
    for (const k of PHASES) ph[k] /= n;
    return { ms: (performance.now() - t0) / n, phases: ph };
  };
  const release = async () => {
    await par?.release(); await rt.release(); await rtN.release();
    rmSync(scratch, { recursive: true, force: true }); // each variant's artifacts: 0.3-2.2 MB a run
  };
  return { name, run, release };
}

/** The PyTorch reference script, looked up in shared/bench of this folder's ancestors. */
function torchScript(): string | undefined {
  for (let d = resolve('.'); ; d = dirname(d)) {
    const p = join(d, 'shared', 'bench', 'torch_generalist.py');
    if (existsSync(p)) return p;
    if (dirname(d) === d) return undefined;
  }
}

/** One run of the PyTorch reference: images/s and its peak RSS (MiB), or the reason it is unavailable. */
function runTorch(script: string, n: number, warm: number): { ips: number; anchor: string; rssMiB: number } | string {
  const args = ['--model', spec.torchName, '--batch', String(spec.batch), '--steps', String(steps), '--threads', String(threads), '--iters', String(n), '--warmup', String(warm)];
  // Wrapped so the script's own process reports its peak RSS: VmHWM of its own address space, not
  // ru_maxrss, which Linux carries over from the forking Node process across exec.
  const wrapper = 'import json,runpy,sys; sys.argv=sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__"); print(json.dumps({"maxrss_kib": int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])}))';
  const r = spawnSync('/usr/bin/python3', ['-c', wrapper, script, ...args], { encoding: 'utf8' });
  const lines = r.stdout?.trim().split('\n') ?? [];
  try {
    const ref = JSON.parse(lines[lines.length - 2]) as { images_per_s: number; anchor: string };
    const rss = JSON.parse(lines[lines.length - 1]) as { maxrss_kib: number };
    return { ips: ref.images_per_s, anchor: ref.anchor, rssMiB: rss.maxrss_kib / 1024 };
  } catch {
    return (r.stderr || lines.pop() || 'no output').trim().split('\n').pop()!;
  }
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ips = (v: number) => v.toPrecision(3);
const fmt = (xs: number[]) => xs.map(ips).join(' ');

if (values['rss-phases']) logRss('start');
const variants = [];
for (const name of values.variants!.split(',')) variants.push(await openVariant(name, spec));
if (values['rss-phases']) logRss('opening');
const script = values['no-torch'] || !existsSync('/usr/bin/python3') ? undefined : torchScript();
const ours = new Map<string, { ips: number[]; phases: Phases[] }>(variants.map((v) => [v.name, { ips: [], phases: [] }]));
const torch: number[] = [];
let torchNote = script ? '' : 'pytorch reference not run (--no-torch, or no /usr/bin/python3 or shared/bench/torch_generalist.py)';
let torchRss = 0, anchor = '';
for (let r = 0; r < pairs; r++) {
  for (const v of variants) {
    const { ms, phases } = await v.run(iters, warmup);
    ours.get(v.name)!.ips.push((spec.batch * 1000) / ms);
    ours.get(v.name)!.phases.push(phases);
  }
  if (script && !torchNote) {
    const t = runTorch(script, iters, warmup);
    if (typeof t === 'string') torchNote = `pytorch reference not available (${t}); apt-get install python3-torch to compare`;
    else { torch.push(t.ips); torchRss = Math.max(torchRss, t.rssMiB); anchor = t.anchor; }
  }
  // Progress (stderr): this round's images/s, so a long run on a busy machine shows where it is.
  console.error(`round ${r + 1}/${pairs}: ${variants.map((v) => `${v.name} ${ips(ours.get(v.name)!.ips[r])}`).join(', ')}${torch[r] ? `, pytorch ${ips(torch[r])}` : ''} images/s`);
}
/** Peak RSS of this process in MiB (VmHWM where /proc exists; ru_maxrss would include the parent's before exec). */
function peakRssMiB(): number {
  const hwm = existsSync('/proc/self/status') ? /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8')) : null;
  return (hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS) / 1024;
}
const ourRss = peakRssMiB();
console.log(`${spec.label}, batch ${spec.batch}, PGD-${steps}, ${threads} threads: ${pairs} rounds of ${iters} iterations (after ${warmup} warm-up), medians`);
for (const v of variants) {
  const o = ours.get(v.name)!;
  const med = median(o.ips);
  console.log(`onnx-generalist${variants.length > 1 ? ` [${v.name}]` : ''}: ${ips(med)} images/s (${((spec.batch * 1000) / med).toFixed(1)} ms per Generalist iteration; rounds: ${fmt(o.ips)})`);
  for (const k of PHASES) console.log(`  ${k.padEnd(12)} ${median(o.phases.map((p) => p[k])).toFixed(1)} ms`);
  if (torch.length) console.log(`  ratio: ${median(o.ips.map((x, i) => x / torch[i])).toFixed(2)}x the PyTorch reference (median of per-round ratios: ${o.ips.map((x, i) => (x / torch[i]).toFixed(2)).join(' ')})`);
}
console.log(`peak RSS: onnx-generalist ${ourRss.toFixed(0)} MiB${variants.length > 1 ? ` (all ${variants.length} variants' sessions together)` : ''}`);
if (torch.length) console.log(`pytorch reference (${anchor}): ${ips(median(torch))} images/s (rounds: ${fmt(torch)}); peak RSS ${torchRss.toFixed(0)} MiB`);
else if (torchNote) console.log(torchNote);
for (const v of variants) await v.release();

// The transfer account (src/train/transfer.ts): host bytes fed to and received from ORT per
// iteration by iteration form (runs4, fused, loop8), for SmallCNN and PreAct ResNet-18 at the
// batch given (default 128); on CUDA every one of them crosses PCIe.
if (!values['no-transfer']) {
  const transferBatch = Number(values.batch ?? 128);
  const transferCache = mkdtempSync(join(tmpdir(), 'bench-transfer-'));
  for (const [name, shape] of [['smallcnn', [1, 28, 28]], ['preactresnet18', [3, 32, 32]]] as const) {
    const account = await measureTransfer(buildZooModel(name, { seed: 0 }), [transferBatch, ...shape], { cacheDir: transferCache, threads });
    for (const [form, bytes] of Object.entries(account)) console.log(`transfer ${form}: ${(bytes / 1e6).toFixed(1)} MB per iteration (${name}, batch ${transferBatch})`);
  }
  rmSync(transferCache, { recursive: true, force: true });
}
