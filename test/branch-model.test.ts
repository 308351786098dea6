// A runtime's attack, train step, evaluation and EMA run as the branches of one ORT session (one
// memory arena; runtime/branch-model.ts): each branch must give exactly what its graph gives in a
// session of its own, on the main thread and on the worker, with TRADES' clash of names (its train
// step takes the `x_adv` the attack produces) and graphs whose inputs the others do not have.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { initialState } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { GraphBuilder } from '../src/onnx/builder.js';
import { DataType, type Model } from '../src/onnx/ir.js';
import { saveModel } from '../src/onnx/save.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { branchModel } from '../src/runtime/branch-model.js';
import { openBranches } from '../src/runtime/branch-session.js';
import { ort, runModel } from '../src/runtime/ort.js';
import { sessionOptions } from '../src/runtime/providers.js';
import { WorkerSessions } from '../src/runtime/worker-sessions.js';
import { buildZooModel } from '../src/zoo/index.js';
import { Rng } from '../src/util/rng.js';

const cacheDir = join(tmpdir(), 'gen-branch-cache');
const f32 = (data: number[], dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);
const same = (got: ort.Tensor, want: ort.Tensor, what: string) => {
  expect(got.dims, what).toEqual(want.dims);
  expect(Array.from(got.data as Float32Array), what).toEqual(Array.from(want.data as Float32Array));
};

/** "attack": x_adv = a * s. */
function first(): Model {
  const b = new GraphBuilder({ name: 'first' });
  b.output(b.mul(b.input('a', DataType.FLOAT, [2, 3]), b.input('s', DataType.FLOAT, [])), 'x_adv');
  return b.build();
}
/** "step": takes x_adv (the first's output name) and m; new:m = m + sum_rows(a - x_adv), count = int64 argmax. */
function second(aType = DataType.FLOAT): Model {
  const b = new GraphBuilder({ name: 'second' });
  const d = b.sub(b.input('a', aType, [2, 3]), b.input('x_adv', DataType.FLOAT, [2, 3]));
  b.output(b.add(b.input('m', DataType.FLOAT, [3]), b.reduceSum(d, [0], 0)), 'new:m');
  b.output(b.op('ArgMax', [d], { axis: 1, keepdims: 0 }), 'count');
  return b.build();
}

/** A third graph with an input of its own and one shared name of another type's graph: out = m * cast(y). */
function third(): Model {
  const b = new GraphBuilder({ name: 'third' });
  b.output(b.mul(b.input('m', DataType.FLOAT, [3]), b.cast(b.input('y', DataType.INT64, [1]), DataType.FLOAT)), 'out');
  return b.build();
}

describe('branch model: several graphs, one session', () => {
  it('each branch gives exactly its own graph\'s outputs, by its own names', async () => {
    const sessions = await openBranches([{ name: 'attack', bytes: saveModel(first()) }, { name: 'step', bytes: saveModel(second()) }, { name: 'third', bytes: saveModel(third()) }], { threads: 1 });
    const a = f32([1, -2, 3, 4, 5, -6], [2, 3]);
    const fa = { a, s: f32([0.5], []) };
    const fs = { a, x_adv: f32([0, 1, 2, 3, 4, 5], [2, 3]), m: f32([10, 20, 30], [3]) };
    const wantA = await runModel(first(), fa), wantS = await runModel(second(), fs);
    const ft = { m: f32([1, 2, 3], [3]), y: new ort.Tensor('int64', BigInt64Array.of(7n), [1]) };
    const wantT = await runModel(third(), ft);
    for (let round = 0; round < 2; round++) {
      same((await sessions.third.session.run(ft)).out, wantT.out, 'third');
      const gotA = await sessions.attack.session.run(fa);
      expect(Object.keys(gotA)).toEqual(['x_adv']);
      same(gotA.x_adv, wantA.x_adv, 'x_adv');
      const gotS = await sessions.step.session.run(fs);
      expect(Object.keys(gotS).sort()).toEqual(['count', 'new:m']);
      same(gotS['new:m'], wantS['new:m'], 'new:m');
      expect(Array.from(gotS.count.data as BigInt64Array)).toEqual(Array.from(wantS.count.data as BigInt64Array));
    }
    expect(sessions.step.session.inputNames).toEqual(['a', 'x_adv', 'm']);
    expect(sessions.attack.session.outputNames).toEqual(['x_adv']);
    await sessions.attack.session.release();
    await sessions.third.session.release();
    same((await sessions.step.session.run(fs))['new:m'], wantS['new:m'], 'after the other branch is released');
    await sessions.step.session.release();
    await expect(sessions.step.session.run(fs)).rejects.toThrow();
  });

  it('refuses graphs that disagree on an input\'s type, naming it', () => {
    expect(() => branchModel([{ name: 'attack', model: first() }, { name: 'step', model: second(DataType.DOUBLE) }])).toThrow(/input "a" is float32 in one graph and float64/);
  });

  it('the attack, train step, evaluation and EMA of real artifacts (CE and TRADES) match separate sessions bit for bit, here and on the worker', async () => {
    const model = buildZooModel('smallcnn', { seed: 2 });
    const rng = new Rng(9);
    const n = 6;
    const x = new ort.Tensor('float32', rng.fillUniform(new Float32Array(n * 784), 0, 1), [n, 1, 28, 28]);
    const y = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(rng.int(10))), [n]);
    const noise = new ort.Tensor('float32', rng.fillUniform(new Float32Array(n * 784), -1, 1), [n, 1, 28, 28]);
    const w = ArtifactRuntime.weightsFrom(initialState(model).values());
    const hp = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, tradesBeta: 6 };
    for (const loss of ['ce', 'trades'] as const) {
      const dir = ensureArtifacts(model, { pgdSteps: 2, loss, attackLoss: loss === 'trades' ? 'kl' : 'ce' }, cacheDir).dir;
      const joint = await ArtifactRuntime.open(dir, { threads: 1 });
      const apart = await ArtifactRuntime.open(dir, { threads: 1, branches: false });
      const worker = new WorkerSessions();
      try {
        const xAdv = await apart.attack(w, x, y, noise, 0.3, 0.1);
        same(await joint.attack(w, x, y, noise, 0.3, 0.1), xAdv, `${loss} attack`);
        const state = { weights: w, slots: apart.initialSlots() };
        const xa = loss === 'trades' ? xAdv : undefined;
        const want = await apart.trainStep(state, loss === 'trades' ? x : xAdv, y, hp, xa);
        const got = await joint.trainStep(state, loss === 'trades' ? x : xAdv, y, hp, xa);
        expect(got.loss, `${loss} loss`).toBe(want.loss);
        for (const [k, t] of Object.entries(want.state.weights)) same(got.state.weights[k], t, `${loss} ${k}`);
        const [ev, ew] = [await joint.evaluate(w, x, y), await apart.evaluate(w, x, y)];
        same(ev.logits, ew.logits, `${loss} eval logits`);
        const W2 = want.state.weights;
        const [ej, ea] = [await joint.ema(W2, w, w, W2, w, 0.9, 0.3), await apart.ema(W2, w, w, W2, w, 0.9, 0.3)];
        for (const k of ['A', 'S', 'G'] as const) for (const [n2, t] of Object.entries(ea[k])) same(ej[k][n2], t, `${loss} EMA ${k} ${n2}`);
        // The worker runs the same branches (session-worker.mjs): the parallel iteration's form.
        const part = (name: string, k: 'attack' | 'train_step') => ({ name, bytes: readFileSync(join(dir, joint.manifest.artifacts[k].file)) });
        await worker.openBranches([part('attack', 'attack'), part('step', 'train_step')], sessionOptions({ threads: 1 }));
        same((await worker.run('attack', joint.attackFeeds(w, x, y, noise, 0.3, 0.1)))['x_adv'], xAdv, `${loss} attack on the worker`);
        const onWorker = joint.stepResult(state, await worker.run('step', joint.trainStepFeeds(state, loss === 'trades' ? x : xAdv, y, hp, xa)));
        for (const [k, t] of Object.entries(want.state.weights)) same(onWorker.state.weights[k] as ort.Tensor, t, `${loss} ${k} on the worker`);
      } finally {
        await worker.release();
        await joint.release();
        await apart.release();
      }
    }
  }, 120_000);
});
