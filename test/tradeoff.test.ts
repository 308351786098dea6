// The trade-off curve G(b) = b*A + (1-b)*S of a Generalist run: the end points are the teachers bit
// for bit (parameters and BatchNorm statistics), an exported point is the evaluated one, and the
// curve is read from a run that was interrupted and resumed.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateRobustness } from '../src/attacks/index.js';
import { main } from '../src/cli/main.js';
import { resolveConfig } from '../src/config/index.js';
import { loadModelFile } from '../src/onnx/load.js';
import { saveModelFile } from '../src/onnx/save.js';
import { evaluateWeights } from '../src/train/evaluate.js';
import { evalSettings } from '../src/train/run.js';
import { loadSavedRun, openSavedRun } from '../src/train/saved-run.js';
import { blendTeachers, tradeoff, type TradeoffReport } from '../src/train/tradeoff.js';
import { train } from '../src/train/trainer.js';
import type { Weights } from '../src/runtime/artifact-runtime.js';
import { tinyBnCnn } from './helpers/tiny-bn-cnn.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'gen-tradeoff-'));
const cacheDir = join(tmpdir(), 'gen-train-cache');

const tinyRun = (outDir: string, source: string) => resolveConfig({
  preset: 'mnist-smallcnn',
  overrides: {
    name: 'tiny-tradeoff', outDir, threads: '1', epochs: '2', batchSize: '64', 'model.source': source, 'dataset.trainSubset': '512',
    'dataset.validation': '200', 'dataset.testSubset': '200', 'attack.steps': '2', 'attack.eps': '0.1', 'eval.pgdSteps': '2', 'eval.n': '100',
    'eval.finalN': '200', 'generalist.ema.memory': '4', 'generalist.redistribution.period': '3',
  },
});

const bits = (w: Weights) => Object.fromEntries(Object.entries(w).map(([k, t]) => [k, Buffer.from(new Uint8Array((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength)).toString('hex')]));

describe('generalist tradeoff', () => {
  it('on a resumed run: b=1 is A and b=0 is S bit for bit (BN statistics too), an exported point is the evaluated one', async () => {
    const dir = tmp();
    const source = join(dir, 'tiny-bn.onnx');
    saveModelFile(tinyBnCnn(3), source);
    const runDir = join(dir, 'run');
    expect((await train(tinyRun(runDir, source), { sink: null, cacheDir, maxIterations: 11 })).interrupted).toBe(true);
    const done = await train(tinyRun(runDir, source), { sink: null, cacheDir, resume: true });
    expect(done.interrupted).toBe(false);

    const run = loadSavedRun(runDir);
    expect(bits(run.learners.A)).toEqual(bits(done.weights.A));
    expect(bits(run.learners.S)).toEqual(bits(done.weights.S));
    const { data, rt } = await openSavedRun(run, { cacheDir });
    const stats = rt.manifest.stats.map((s) => s.name);
    expect(stats).toEqual(['bn1.running_mean', 'bn1.running_var', 'bn2.running_mean', 'bn2.running_var']);
    // The teachers differ, BN statistics included, so equality below is not a coincidence.
    for (const k of stats) expect(bits(run.learners.A)[k]).not.toEqual(bits(run.learners.S)[k]);
    const [b1, b0, half] = [await blendTeachers(rt, run.learners.A, run.learners.S, 1), await blendTeachers(rt, run.learners.A, run.learners.S, 0), await blendTeachers(rt, run.learners.A, run.learners.S, 0.5)];
    expect(bits(b1)).toEqual(bits(run.learners.A));
    expect(bits(b0)).toEqual(bits(run.learners.S));
    const a = run.learners.A[stats[0]].data as Float32Array, s = run.learners.S[stats[0]].data as Float32Array;
    const mid = half[stats[0]].data as Float32Array;
    for (let i = 0; i < a.length; i++) expect(mid[i]).toBeCloseTo(0.5 * a[i] + 0.5 * s[i], 6);
    const direct = await evaluateWeights(rt, { A: run.learners.A, S: run.learners.S }, data.validation!, evalSettings(run.config, 0, run.config.seed + 31337));
    await rt.release();

    const lines: string[] = [];
    const io = { out: (t: string) => void lines.push(t), err: () => {} };
    const curveFile = join(dir, 'curve.json');
    expect(await main(['tradeoff', runDir, '--betas', '0,0.5,1', '--test', '0.5', '--test-n', '100', '--threads', '1', '--out', curveFile], io)).toBe(0);
    const report = JSON.parse(readFileSync(curveFile, 'utf8')) as TradeoffReport;
    expect(report).toMatchObject({ split: 'validation', eps: 0.1, pgdSteps: 2 });
    expect(report.points.map((p) => p.beta)).toEqual([0, 0.5, 1]);
    const at = (b: number) => report.points.find((p) => p.beta === b)!;
    // The end points score exactly as the teachers scored directly (same images, same attack noise).
    expect({ clean: at(1).clean, robust: at(1).robust, n: at(1).n }).toEqual(direct.A);
    expect({ clean: at(0).clean, robust: at(0).robust, n: at(0).n }).toEqual(direct.S);
    expect(at(0.5).test).toMatchObject({ n: 100, cleanN: 200 });
    expect(at(0).test).toBeUndefined();
    expect(lines.join('\n')).toMatch(/\| 0\.5 \| .*%/);

    // export --beta 0.5 writes exactly the blended weights, and the file scores as the point did.
    const out = join(dir, 'half.onnx');
    expect(await main(['export', runDir, '--beta', '0.5', '-o', out], io)).toBe(0);
    const model = loadModelFile(out);
    for (const [k, t] of Object.entries(half)) expect(Buffer.from((model.graph.initializers.get(k)!.data as Float32Array).buffer).toString('hex'), k).toEqual(bits({ k: t }).k);
    const rep = await evaluateRobustness(model, data.validation!, { eps: 0.1, attacks: ['fgsm'], seed: 0 });
    expect(rep.cleanAccuracy).toBe(at(0.5).clean);
    const rep2 = await evaluateRobustness(model, data.test, { eps: 0.1, attacks: ['fgsm'], seed: 0 });
    expect(rep2.cleanAccuracy).toBe(at(0.5).test!.clean);
  }, 240_000);

  it('refuses a baseline run, betas outside [0, 1], and --which with --beta', async () => {
    const dir = tmp();
    const runDir = join(dir, 'nat');
    await train(resolveConfig({ preset: 'mnist-smallcnn', overrides: { outDir: runDir, threads: '1', method: 'natural', epochs: '1', batchSize: '64', 'dataset.trainSubset': '128', 'dataset.validation': '100', 'dataset.testSubset': '100', 'eval.pgdSteps': '2', 'eval.n': '50', 'eval.finalN': '50' } }), { sink: null, cacheDir });
    const errs: string[] = [];
    const io = { out: () => {}, err: (t: string) => void errs.push(t) };
    expect(await main(['tradeoff', runDir], io)).toBe(1);
    expect(errs.join('\n')).toMatch(/natural run: only a Generalist run has the EMA teachers/);
    expect(await main(['tradeoff', runDir, '--betas', '0,1.5'], io)).toBe(2);
    expect(errs.join('\n')).toMatch(/--betas takes betas in \[0, 1\], got "1.5"/);
    expect(await main(['export', runDir, '--beta', '0.5', '--which', 'A', '-o', join(dir, 'x.onnx')], io)).toBe(2);
    expect(await main(['export', runDir, '--beta', '0.5', '-o', join(dir, 'x.onnx')], io)).toBe(1);
    expect(errs.join('\n')).toMatch(/--beta needs a Generalist run/);
    expect(await main(['tradeoff', join(dir, 'nothing')], io)).toBe(1);
    expect(errs.join('\n')).toMatch(/is not a run folder/);
  }, 120_000);
});
