// Evidence that a refactor changed no number. Run it before and after the change and compare:
//   node --import tsx scripts/refactor-check.ts graphs   sha256 of every artifact graph (train_step,
//       attack, eval, ema) built from each test fixture model and two zoo models, in two option sets;
//       byte-identical graphs compute identical numbers
//   node --import tsx scripts/refactor-check.ts train    a tiny 2-epoch Generalist run (384 MNIST
//       images, PGD-2, 1 thread, seed 7, fresh artifact cache): sha256 over every saved weight of
//       every network (G, R, N, A, S) and over the metrics without timings
// No argument runs both. About 5 s and 10-20 s of one core.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelFile } from '../src/onnx/load.js';
import { saveModel } from '../src/onnx/save.js';
import type { Model } from '../src/onnx/ir.js';
import { buildArtifacts, type ArtifactOptions } from '../src/artifacts/build.js';
import { buildZooModel } from '../src/zoo/index.js';
import { resolveConfig } from '../src/config/index.js';
import { train } from '../src/train/trainer.js';
import { sha256 } from '../src/util/hash.js';

const short = (data: Uint8Array | string | readonly (Uint8Array | string)[]): string => sha256(data).slice(0, 16);

function graphHashes(): void {
  const onnxIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.onnx')).map((f) => join(dir, f));
  const models: [string, () => Model][] = [
    ...[...onnxIn('test/fixtures'), ...onnxIn('test/fixtures/zoo')].map((f): [string, () => Model] => [f, () => loadModelFile(f)]),
    ['zoo:smallcnn', () => buildZooModel('smallcnn')],
    ['zoo:preactresnet18', () => buildZooModel('preactresnet18')],
  ];
  const variants: Partial<ArtifactOptions>[] = [
    { pgdSteps: 2 },
    { loss: 'trades', optimizer: 'adam', maxPoolGrad: 'windows', pgdSteps: 2, attackForm: 'loop' },
  ];
  const lines: string[] = [];
  for (const [name, load] of models) {
    // The second option set only where it is cheap enough (ResNet fixtures and the zoo).
    const sets = name.includes('resnet') || name.startsWith('zoo') ? variants : variants.slice(0, 1);
    let line: string;
    try {
      line = sets.map((o) => Object.entries(buildArtifacts(load(), o, 'fixed').models).map(([k, m]) => `${k}=${short(saveModel(m))}`).join(' ')).join(' | ');
    } catch (e) {
      line = `ERROR ${(e as Error).message.slice(0, 120)}`;
    }
    lines.push(`${name.padEnd(50)} ${line}`);
  }
  console.log(lines.join('\n'));
  console.log('GRAPHS', short(lines.join('\n')));
}

async function trainHash(): Promise<void> {
  const outDir = mkdtempSync(join(tmpdir(), 'refactor-check-'));
  const config = resolveConfig({
    preset: 'mnist-smallcnn',
    overrides: {
      name: 'refactor-check', outDir, threads: '1', epochs: '2', batchSize: '64', 'dataset.trainSubset': '384', 'dataset.validation': '200',
      'dataset.testSubset': '200', 'attack.steps': '2', 'eval.pgdSteps': '2', 'eval.n': '100', 'eval.finalN': '200',
      'generalist.ema.memory': '4', 'generalist.redistribution.period': '3', seed: '7',
    },
  });
  const r = await train(config, { sink: null, cacheDir: mkdtempSync(join(tmpdir(), 'refactor-check-cache-')), observers: [] });
  const parts: (string | Uint8Array)[] = [];
  for (const net of Object.keys(r.weights).sort()) {
    for (const k of Object.keys(r.weights[net]).sort()) {
      const d = r.weights[net][k].data as Float32Array;
      parts.push(net + k, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  }
  const metrics = JSON.stringify({ final: r.final, metrics: r.metrics.map(({ seconds: _s, imagesPerSec: _i, ...m }) => m) });
  console.log(metrics);
  console.log('WEIGHTS', short(parts), 'METRICS', short(metrics));
}

const mode = process.argv[2] ?? 'all';
if (mode === 'all' || mode === 'graphs') graphHashes();
if (mode === 'all' || mode === 'train') await trainHash();
