// Times one train_step run and one PGD-K attack run of the SmallCNN artifacts at batch 128 on the
// CPU (median of several runs after warm-up). Usage:
//   node --import tsx scripts/artifact-timing.ts [--threads 2] [--steps 10] [--runs 10] [--model smallcnn]
//     [--opt all|extended|basic|disabled] [--form unrolled|loop]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initialState } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { ort } from '../src/runtime/ort.js';
import { buildZooModel, ZOO } from '../src/zoo/index.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({ options: { threads: { type: 'string', default: '2' }, steps: { type: 'string', default: '10' }, runs: { type: 'string', default: '10' }, model: { type: 'string', default: 'smallcnn' }, batch: { type: 'string', default: '128' }, opt: { type: 'string', default: 'all' }, form: { type: 'string', default: 'unrolled' } } });
const threads = Number(values.threads);
const runs = Number(values.runs);
const batch = Number(values.batch);
const model = buildZooModel(values.model!, { seed: 0 });
const [c, h, w] = ZOO[values.model!].inputShape;
const t0 = performance.now();
const { dir } = ensureArtifacts(model, { pgdSteps: Number(values.steps), attackForm: values.form as 'loop' }, mkdtempSync(join(tmpdir(), 'timing-')));
const buildMs = performance.now() - t0;
const rt = await ArtifactRuntime.open(dir, { threads, optimization: values.opt as 'all' });
const rng = new Rng(0);
const dims = [batch, c, h, w];
const x = new ort.Tensor('float32', rng.fillUniform(new Float32Array(batch * c * h * w), 0, 1), dims);
const y = new ort.Tensor('int64', BigInt64Array.from({ length: batch }, () => BigInt(rng.int(10))), [batch]);
const noise = new ort.Tensor('float32', rng.fillUniform(new Float32Array(batch * c * h * w), -1, 1), dims);
const weights = ArtifactRuntime.weightsFrom(initialState(model).values());
let state = { weights, slots: rt.initialSlots() };

async function time(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn();
    ms.push(performance.now() - s);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)];
}
const train = await time(async () => { state = (await rt.trainStep(state, x, y, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 })).state; });
const attack = await time(() => rt.attack(state.weights, x, y, noise, 0.3, 0.075));
const evalMs = await time(() => rt.evaluate(state.weights, x, y));
const ema = await time(() => rt.ema(weights, weights, weights, weights, weights, 0.99, 1));
console.log(JSON.stringify({ model: values.model, form: values.form, opt: values.opt, batch, threads, pgdSteps: Number(values.steps), buildMs: Math.round(buildMs), trainStepMs: +train.toFixed(1), attackMs: +attack.toFixed(1), evalMs: +evalMs.toFixed(1), emaMs: +ema.toFixed(2) }));
await rt.release();
