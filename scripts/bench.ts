// npm run bench: images/s of one whole Generalist iteration (SmallCNN, batch 128, PGD-10: attack on
// the robust expert, both expert steps, the EMA/blend run), then ms per phase. When Debian's
// python3-torch is installed, the PyTorch reference (../shared/bench/torch_generalist.py) runs in
// the same invocation and the ratio is printed.
//   npm run bench -- [--iters 20] [--warmup 3] [--threads 2] [--steps 10] [--batch 128] [--no-torch]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initialState } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { ArtifactRuntime, type ExpertState } from '../src/runtime/artifact-runtime.js';
import { ort } from '../src/runtime/ort.js';
import { buildZooModel } from '../models/index.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({ options: {
  iters: { type: 'string', default: '20' }, warmup: { type: 'string', default: '3' }, threads: { type: 'string', default: '2' },
  steps: { type: 'string', default: '10' }, batch: { type: 'string', default: '128' }, 'no-torch': { type: 'boolean' },
} });
const iters = Number(values.iters);
const warmup = Number(values.warmup);
const threads = Number(values.threads);
const batch = Number(values.batch);
const steps = Number(values.steps);

const model = buildZooModel('smallcnn', { seed: 0 });
const cache = mkdtempSync(join(tmpdir(), 'bench-'));
// The recipe's optimizer for both experts: SGD, momentum 0.9.
const rt = await ArtifactRuntime.open(ensureArtifacts(model, { optimizer: 'sgd', pgdSteps: steps }, cache).dir, { threads });
const rng = new Rng(0);
const dims = [batch, 1, 28, 28];
const x = new ort.Tensor('float32', rng.fillUniform(new Float32Array(batch * 784), 0, 1), dims);
const y = new ort.Tensor('int64', BigInt64Array.from({ length: batch }, () => BigInt(rng.int(10))), [batch]);
const w0 = ArtifactRuntime.weightsFrom(initialState(model).values());
let R: ExpertState = { weights: w0, slots: rt.initialSlots() };
let N: ExpertState = { weights: w0, slots: rt.initialSlots() };
let A = w0, S = w0, G = w0;
const phases = { attack: 0, robustStep: 0, naturalStep: 0, ema: 0 };
const hp = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };

async function iteration(record: boolean): Promise<void> {
  let t = performance.now();
  const lap = (k: keyof typeof phases) => { const now = performance.now(); if (record) phases[k] += now - t; t = now; };
  const noise = new ort.Tensor('float32', rng.fillUniform(new Float32Array(batch * 784), -1, 1), dims);
  const xAdv = await rt.attack(R.weights, x, y, noise, 0.3, 0.075);
  lap('attack');
  R = (await rt.trainStep(R, xAdv, y, hp)).state;
  lap('robustStep');
  N = (await rt.trainStep(N, x, y, hp)).state;
  lap('naturalStep');
  ({ A, S, G } = await rt.ema(R.weights, N.weights, A, S, G, 0.99, 1));
  lap('ema');
}

for (let i = 0; i < warmup; i++) await iteration(false);
const t0 = performance.now();
for (let i = 0; i < iters; i++) await iteration(true);
const msPerIter = (performance.now() - t0) / iters;
const ours = (batch * 1000) / msPerIter;
console.log(`onnx-generalist: ${ours.toFixed(1)} images/s (SmallCNN, batch ${batch}, PGD-${steps}, ${threads} threads, ${msPerIter.toFixed(1)} ms per Generalist iteration)`);
for (const [k, v] of Object.entries(phases)) console.log(`  ${k.padEnd(12)} ${(v / iters).toFixed(1)} ms`);

const torchScript = resolve('../shared/bench/torch_generalist.py');
if (!values['no-torch'] && existsSync('/usr/bin/python3') && existsSync(torchScript)) {
  const r = spawnSync('/usr/bin/python3', [torchScript, '--batch', String(batch), '--steps', String(steps), '--threads', String(threads), '--iters', String(iters), '--warmup', String(warmup)], { encoding: 'utf8' });
  const line = r.stdout?.trim().split('\n').pop() ?? '';
  try {
    const ref = JSON.parse(line) as { images_per_s: number; anchor: string };
    console.log(`pytorch reference (${ref.anchor}): ${ref.images_per_s.toFixed(1)} images/s`);
    console.log(`ratio: ${(ours / ref.images_per_s).toFixed(2)}x the PyTorch reference`);
  } catch {
    console.log(`pytorch reference not available (${(r.stderr || line || 'no output').trim().split('\n').pop()}); apt-get install python3-torch to compare`);
  }
}
await rt.release();
