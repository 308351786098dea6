// The experts' artifact sets share the sessions of identical graphs (runtime/session-share.ts):
// one train-step session (and one memory arena) for both when only the attack's K differs, each
// runtime's release() drops its reference, and the last one closes the session. On the CPU a
// runtime's four graphs are the branches of one session.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initialState } from '../src/artifacts/build.js';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { SessionShare } from '../src/runtime/session-share.js';
import { ort } from '../src/runtime/ort.js';
import { buildZooModel } from '../src/zoo/index.js';
import { Rng } from '../src/util/rng.js';

describe('sessions shared between artifact sets', () => {
  it('two experts whose sets differ only in the attack share train step, eval and EMA; releases are counted', async () => {
    const model = buildZooModel('smallcnn', { seed: 3 });
    const cache = mkdtempSync(join(tmpdir(), 'share-'));
    const [a, b] = [ensureArtifacts(model, { pgdSteps: 2 }, cache).dir, ensureArtifacts(model, { pgdSteps: 3 }, cache).dir];
    expect(a).not.toBe(b);
    const share = new SessionShare();
    const robust = await ArtifactRuntime.open(a, { threads: 1 }, share);
    const natural = await ArtifactRuntime.open(b, { threads: 1 }, share);
    // One branch session (the robust set's four graphs, branch-model.ts) and the natural set's
    // attack on its own: its train step, eval and EMA are the branch session's.
    expect(share.size).toBe(2);
    const rng = new Rng(4);
    const x = new ort.Tensor('float32', rng.fillUniform(new Float32Array(4 * 784), 0, 1), [4, 1, 28, 28]);
    const y = new ort.Tensor('int64', BigInt64Array.from([1n, 2n, 3n, 4n]), [4]);
    const w = ArtifactRuntime.weightsFrom(initialState(model).values());
    const hp = { lr: 0.1, momentum: 0.9, weightDecay: 0 };
    const step = async (rt: ArtifactRuntime) => (await rt.trainStep({ weights: w, slots: rt.initialSlots() }, x, y, hp)).loss;
    const before = await step(natural);
    await robust.release();
    expect(share.size).toBe(2); // the branch session stays for the natural set's train step, eval and EMA
    expect(await step(natural)).toBe(before);
    await natural.release();
    expect(share.size).toBe(0);
    // A released runtime's shared session is closed for good.
    await expect(step(natural)).rejects.toThrow();
  }, 120_000);
});
