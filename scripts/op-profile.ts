// Per-op time of the attack and train-step artifacts from ONNX Runtime's own profiler: runs each
// a few times with profiling on, then sums the kernel times by op type (and by node for the top
// entries). The evidence for where an iteration's time goes. Usage:
//   node --import tsx scripts/op-profile.ts [--model smallcnn|preact18] [--batch 128] [--steps 10]
//     [--threads 2] [--runs 3] [--top 12] [--conv-input auto|conv|convtranspose]
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initialState, names } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { ort } from '../src/runtime/ort.js';
import { sessionOptions } from '../src/runtime/providers.js';
import type { ArtifactOptions } from '../src/artifacts/build.js';
import { benchModel, benchInputs } from './bench-model.js';

const { values } = parseArgs({ options: {
  model: { type: 'string', default: 'smallcnn' }, batch: { type: 'string' }, steps: { type: 'string', default: '10' },
  threads: { type: 'string', default: '2' }, runs: { type: 'string', default: '3' }, top: { type: 'string', default: '12' },
  'conv-input': { type: 'string', default: 'auto' },
} });
const spec = benchModel(values.model!, values.batch);
const threads = Number(values.threads) || availableParallelism();
const runs = Number(values.runs);
const work = mkdtempSync(join(tmpdir(), 'op-profile-'));
const { dir, manifest } = ensureArtifacts(spec.model, { optimizer: 'sgd', pgdSteps: Number(values.steps), convInputGrad: values['conv-input'] as ArtifactOptions['convInputGrad'] }, work);

interface Event { cat: string; name: string; dur: number; args?: { op_name?: string } }

/** Runs `feeds` through one artifact `runs` times with ORT's profiler on; returns its kernel events. */
async function profile(file: string, feeds: Record<string, ort.Tensor>, tag: string): Promise<Event[]> {
  // The trainer's own session settings (memory pattern off, among them): with ORT's defaults the
  // elementwise kernels wrote into freshly faulted pages every run and looked up to 15x slower.
  const session = await ort.InferenceSession.create(join(dir, file), {
    ...sessionOptions({ threads }), executionProviders: ['cpu'], enableProfiling: true, profileFilePrefix: join(work, tag),
  });
  for (let i = 0; i < runs + 1; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  const path = readdirSync(work).filter((f) => f.startsWith(tag) && f.endsWith('.json')).map((f) => join(work, f))[0];
  const events = JSON.parse(readFileSync(path, 'utf8')) as Event[];
  const runsSeen = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  // Drop the first (warm-up) run: keep kernel events after the end of model_run #1.
  const firstEnd = runsSeen.length ? (runsSeen[0] as Event & { ts: number }).ts + runsSeen[0].dur : 0;
  return events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && (e as Event & { ts: number }).ts >= firstEnd);
}

function report(what: string, events: Event[]): void {
  const total = events.reduce((a, e) => a + e.dur, 0) / runs / 1000;
  const byOp = new Map<string, number>();
  const byNode = new Map<string, number>();
  for (const e of events) {
    const op = e.args?.op_name ?? '?';
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
    const node = `${op} ${e.name.replace(/_kernel_time$/, '')}`;
    byNode.set(node, (byNode.get(node) ?? 0) + e.dur);
  }
  const rows = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
  console.log(`\n${what}: ${total.toFixed(1)} ms of kernels per run (mean of ${runs})`);
  for (const [op, us] of rows(byOp)) console.log(`  ${op.padEnd(22)} ${(us / runs / 1000).toFixed(1).padStart(8)} ms  ${((100 * us) / runs / 1000 / total).toFixed(1).padStart(5)}%`);
  console.log('  top nodes:');
  for (const [n, us] of rows(byNode)) console.log(`    ${(us / runs / 1000).toFixed(2).padStart(8)} ms  ${n}`);
}

const { x, y, noise, eps, stepSize } = benchInputs(spec);
const weights = ArtifactRuntime.weightsFrom(initialState(spec.model).values());
const wfeeds: Record<string, ort.Tensor> = {};
for (const p of [...manifest.params, ...manifest.stats]) wfeeds[p.name] = weights[p.name];
const scalar = (v: number) => new ort.Tensor('float32', Float32Array.of(v), []);
const slots: Record<string, ort.Tensor> = {};
for (const p of manifest.params) slots[names.slot('momentum_buf', p.name)] = new ort.Tensor('float32', new Float32Array(p.shape.reduce((a, v) => a * v, 1)), p.shape);

console.log(`${spec.label}, batch ${spec.batch}, PGD-${values.steps}, ${threads} threads, ORT profiler`);
report('attack', await profile(manifest.artifacts.attack.file, { ...wfeeds, x, y, noise, eps: scalar(eps), step_size: scalar(stepSize) }, 'attack'));
report('train_step', await profile(manifest.artifacts.train_step.file, { ...wfeeds, ...slots, x, y, lr: scalar(0.01), momentum: scalar(0.9), weight_decay: scalar(5e-4) }, 'train'));
rmSync(work, { recursive: true, force: true });
