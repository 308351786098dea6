// `npm start` and `npm run bench` run their entry point as one esbuild bundle in plain Node
// (scripts/run-bundled.mjs; tsx's loader thread costs 36 MiB of RSS per process). The bundle must
// behave as the sources: the CLI finds package.json, and the parallel iteration's worker thread
// finds its script beside the bundle.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const bundled = (...args: string[]) => spawnSync(process.execPath, ['scripts/run-bundled.mjs', ...args], { encoding: 'utf8', timeout: 120_000 });

describe('entry points run as a bundle, without tsx', () => {
  it('the CLI answers --version from package.json', () => {
    const r = bundled('src/cli/main.ts', '--version');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it('the bench runs the parallel iteration (a worker thread) and reports speed and peak RSS', () => {
    const r = bundled('scripts/bench.ts', '--pairs', '1', '--iters', '1', '--warmup', '0', '--batch', '8', '--threads', '2', '--no-torch', '--no-transfer');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/onnx-generalist: [\d.]+ images\/s/);
    expect(r.stdout).toMatch(/peak RSS: onnx-generalist \d+ MiB/);
  }, 120_000);

  it('says how to use it when no entry point is given', () => {
    const r = bundled();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: node scripts\/run-bundled.mjs <entry.ts>/);
  });
});
