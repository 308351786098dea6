// CPU time of a Generalist iteration in each iteration form (runs4, fused, loop8), in alternating
// rounds of one invocation, medians: which form 'auto' should run on the CPU (train/run.ts).
//   node --import tsx scripts/form-timing.ts [--model smallcnn|preact18] [--batch N] [--rounds 3] [--iters 8] [--threads 2] [--steps 10]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initialState } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { resolveConfig } from '../src/config/index.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { FusedIteration } from '../src/train/fused.js';
import { planIteration, trainIteration, trainIterations, type IterationCounters, type Nets } from '../src/train/iteration.js';
import { Rng } from '../src/util/rng.js';
import { benchModel } from './bench-model.js';

const { values } = parseArgs({ options: {
  model: { type: 'string', default: 'smallcnn' }, batch: { type: 'string' }, rounds: { type: 'string', default: '3' },
  iters: { type: 'string', default: '8' }, threads: { type: 'string', default: '2' }, steps: { type: 'string', default: '10' },
} });
const spec = benchModel(values.model!, values.batch);
const threads = Number(values.threads), iters = Number(values.iters);
const cacheDir = mkdtempSync(join(tmpdir(), 'form-timing-'));
const config = resolveConfig({ preset: 'mnist-smallcnn', overrides: { 'optim.robust.type': 'sgd', 'optim.natural.type': 'sgd' } });
const rt = await ArtifactRuntime.open(ensureArtifacts(spec.model, { pgdSteps: Number(values.steps) }, cacheDir).dir, { threads });
const parts = { robust: rt, natural: rt, robustLoss: 'ce' as const, generalist: true };
const fused = await FusedIteration.open(parts, cacheDir, { threads });
const loop = await FusedIteration.open(parts, cacheDir, { threads, loop: true });
const rts = { robust: rt, natural: rt, robustLoss: 'ce' as const };
const rng = new Rng(0);
const size = spec.imageShape.reduce((a, v) => a * v, 1);
const batch = { x: rng.fillUniform(new Float32Array(spec.batch * size), 0, 1), y: BigInt64Array.from({ length: spec.batch }, (_, i) => BigInt(i % 10)), dims: [spec.batch, ...spec.imageShape], size: spec.batch };
const w0 = ArtifactRuntime.weightsFrom(initialState(spec.model).values());
const start = (): Nets => ({ R: { weights: w0, slots: rt.initialSlots() }, N: { weights: w0, slots: rt.initialSlots() }, A: w0, S: w0, G: w0 });
const counters = (): IterationCounters => ({ epoch: 0, iterInEpoch: 0, iter: 0, itersPerEpoch: iters, totalIters: iters, stepsR: 0, stepsN: 0, emaUpdates: 0 });
const forms: Record<string, () => Promise<void>> = {
  runs4: async () => { let n = start(); const c = counters(), r = { noise: new Rng(1), dropout: new Rng(2) }; for (let i = 0; i < iters; i++) { n = (await trainIteration(config, rts, n, batch, c, r)).nets; c.iter++; } },
  fused: async () => { let n = start(); const c = counters(), r = { noise: new Rng(1), dropout: new Rng(2) }; for (let i = 0; i < iters; i++) { n = (await trainIteration(config, rts, n, batch, c, r, undefined, fused)).nets; c.iter++; } },
  [`loop${iters}`]: async () => { await trainIterations(config, rts, start(), Array(iters).fill(batch), counters(), { noise: new Rng(1), dropout: new Rng(2) }, undefined, loop); },
};
const ms: Record<string, number[]> = Object.fromEntries(Object.keys(forms).map((k) => [k, []]));
await forms.fused(); await forms[`loop${iters}`](); // warm-up
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [k, f] of Object.entries(forms)) { const t = performance.now(); await f(); ms[k].push((performance.now() - t) / iters); }
  console.error(`round ${r + 1}: ${Object.entries(ms).map(([k, v]) => `${k} ${v[r].toFixed(0)}`).join(', ')} ms per iteration`);
}
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
console.log(`${spec.label}, batch ${spec.batch}, PGD-${values.steps}, ${threads} threads, ${values.rounds} alternating rounds of ${iters} iterations, medians:`);
for (const [k, v] of Object.entries(ms)) console.log(`  ${k.padEnd(6)} ${median(v).toFixed(0)} ms per iteration (${(spec.batch * 1000 / median(v)).toFixed(1)} images/s; rounds ${v.map((x) => x.toFixed(0)).join(' ')})`);
await loop.release(); await fused.release(); await rt.release();
