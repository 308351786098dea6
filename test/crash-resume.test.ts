// Crash safety: a training process SIGKILLed at seeded random iterations (one before the first
// checkpoint and before the first epoch ends, one in the middle of a checkpoint write) and resumed
// each time ends bit-identical to an uninterrupted run: every tensor of the state, metrics.jsonl
// (but its wall-clock fields) and the test table. Each kill redoes at most checkpoint.iterations
// iterations, and no temp file is left behind.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { train } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';
import { CRASH_CHECKPOINT_EVERY, crashConfig } from './fixtures/train-child.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = join(tmpdir(), 'gen-train-cache');
const ITERS = 16; // 2 epochs of 8

/** Runs the child; returns its exit signal, the last iteration it finished and where it resumed. */
function child(dir: string, args: string[]): { signal: string | null; lastDone: number; resumedAt: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/train-child.ts', dir, cacheDir, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  const out = r.stdout + r.stderr;
  if (r.status !== 0 && r.signal !== 'SIGKILL') throw new Error(`child failed (${r.status} ${r.signal}):\n${out}`);
  const done = [...out.matchAll(/^done (\d+)$/gm)].map((m) => Number(m[1]));
  const res = /resuming .* at epoch (\d+), iteration (\d+) of (\d+)/.exec(out);
  return { signal: r.signal, lastDone: done.at(-1) ?? 0, resumedAt: res ? (Number(res[1]) - 1) * Number(res[3]) + Number(res[2]) : null, out };
}

const withoutClock = (jsonl: string) => jsonl.trim().split('\n').map((l) => { const { seconds: _s, imagesPerSec: _i, ...m } = JSON.parse(l); return m; });
const tensorBytes = (path: string) => Object.fromEntries(Object.entries(loadCheckpoint(path).tensors).map(([k, t]) => [k, Buffer.from((t.data as Float32Array).buffer).toString('base64')]));

describe('crash safety', () => {
  it('SIGKILLs at random iterations and during a checkpoint write, resumes, and ends bit-identical', async () => {
    const ref = mkdtempSync(join(tmpdir(), 'gen-crash-ref-'));
    await train(crashConfig(ref), { sink: null, cacheDir });
    const dir = mkdtempSync(join(tmpdir(), 'gen-crash-'));
    const rng = new Rng(1414);
    // Kill before the first checkpoint (iteration 2), in the 3rd checkpoint write (iteration 8: the
    // end of epoch 1, after its metrics line), then at two random later iterations.
    const a = 9 + rng.int(3);
    const plan = [['--kill-after-iter', '2'], ['--kill-in-write', '3'], ['--kill-after-iter', String(a)], ['--kill-after-iter', String(a + 2 + rng.int(3))]];
    let reached = 0;
    for (const [i, args] of plan.entries()) {
      const r = child(dir, i === 0 ? args : ['--resume', ...args]);
      expect(r.signal, r.out).toBe('SIGKILL');
      if (i === 0) expect(r.resumedAt).toBe(null);
      else if (i === 1) expect(r.out).toMatch(/has no checkpoint yet, so the run starts from the beginning/);
      else expect(reached - r.resumedAt!, `kill ${i - 1} redid too much`).toBeLessThanOrEqual(CRASH_CHECKPOINT_EVERY);
      // The process killed in the middle of its checkpoint write left a temp file; the next one removes it.
      if (i === 2) expect(r.out).toMatch(/removed checkpoint\.bin\.tmp-\d+, left by an interrupted checkpoint write/);
      reached = r.lastDone;
    }
    const last = child(dir, ['--resume']);
    expect(last.signal, last.out).toBe(null);
    expect(reached - last.resumedAt!).toBeLessThanOrEqual(CRASH_CHECKPOINT_EVERY);
    expect(tensorBytes(join(dir, 'checkpoint.bin'))).toEqual(tensorBytes(join(ref, 'checkpoint.bin')));
    expect(withoutClock(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'))).toEqual(withoutClock(readFileSync(join(ref, 'metrics.jsonl'), 'utf8')));
    const summary = (d: string) => JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')).test;
    expect(summary(dir)).toEqual(summary(ref));
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(readdirSync(dir).filter((f) => /^checkpoint-epoch-\d+\.bin$/.test(f)).sort()).toEqual(['checkpoint-epoch-1.bin', 'checkpoint-epoch-2.bin']);
  }, 600_000);
});
