// Images/s of the browser demo's training (headless Chromium, onnxruntime-web WASM, in the page's
// Web Worker) next to onnxruntime-node running the same artifacts, config and iteration
// (trainIteration) on the same data. Both count the time of the training iterations only.
//   node --import tsx scripts/bench-browser.ts [--iters 40] [--warmup 5] [--threads 1,2]
// The page runs one WASM thread (demo/src/backend.ts); --threads sets onnxruntime-node's intra-op threads.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { initialState } from '../src/artifacts/build.js';
import { batches } from '../src/data/batch.js';
import type { Dataset } from '../src/data/dataset.js';
import { loadModelFile } from '../src/onnx/load.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { trainIteration } from '../src/train/iteration.js';
import { Rng } from '../src/util/rng.js';
import { buildDemo } from '../demo/build.js';
import { serveDemo } from '../demo/serve.js';
import type { DemoManifest } from '../demo/src/protocol.js';

const { values } = parseArgs({ options: { iters: { type: 'string', default: '40' }, warmup: { type: 'string', default: '5' }, threads: { type: 'string', default: '1,2' } } });
const iters = Number(values.iters), warmup = Number(values.warmup);
const threadCounts = values.threads.split(',').map(Number);

/** The page's images/s between iteration `warmup` and `warmup + iters` (its own training-time count). */
async function browserImagesPerSec(url: string, bs: number): Promise<number> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${url}?backend=wasm`);
    type D = { iterations: number; imagesPerSec: number | null };
    const at = async (n: number) => {
      await page.waitForFunction((k) => (window as unknown as { __demo: D }).__demo.iterations >= k, n, { timeout: 600_000, polling: 100 });
      return page.evaluate(() => { const d = (window as unknown as { __demo: D }).__demo; return { it: d.iterations, ips: d.imagesPerSec! }; });
    };
    // imagesPerSec is images / training seconds since the start: recover the seconds at both ends.
    const a = await at(warmup), b = await at(warmup + iters);
    const sa = (a.it * bs) / a.ips, sb = (b.it * bs) / b.ips;
    return ((b.it - a.it) * bs) / (sb - sa);
  } finally {
    await browser.close();
  }
}

async function nodeImagesPerSec(dist: string, m: DemoManifest, threads: number): Promise<number> {
  const config = m.config;
  const read = (f: string) => new Uint8Array(readFileSync(join(dist, 'data', f)));
  const train: Dataset = { name: 'mnist/train', images: read('train-images.u8'), labels: read('train-labels.u8'), n: m.data.train, shape: [1, 28, 28], classes: 10 };
  const robust = await ArtifactRuntime.open(join(dist, m.artifacts.robust), { threads });
  const natural = await ArtifactRuntime.open(join(dist, m.artifacts.natural), { threads });
  const w0 = ArtifactRuntime.weightsFrom(initialState(loadModelFile(join(dist, m.artifacts.source))).values());
  let nets = { R: { weights: { ...w0 }, slots: robust.initialSlots() }, N: { weights: { ...w0 }, slots: natural.initialSlots() }, A: { ...w0 }, S: { ...w0 }, G: { ...w0 } };
  const itersPerEpoch = Math.floor(train.n / config.batchSize);
  const c = { epoch: 0, iterInEpoch: 0, iter: 0, itersPerEpoch, totalIters: itersPerEpoch * config.epochs, stepsR: 0, stepsN: 0, emaUpdates: 0 };
  const rngs = { noise: new Rng(1), dropout: new Rng(2) };
  let t0 = 0;
  for (const b of batches(train, null, { batchSize: config.batchSize, rng: new Rng(config.seed), dropLast: true })) {
    if (c.iter === warmup) t0 = performance.now();
    nets = (await trainIteration(config, { robust, natural, robustLoss: 'ce' }, nets, b, c, rngs)).nets;
    c.iter++; c.iterInEpoch++;
    if (c.iter === warmup + iters) break;
  }
  const s = (performance.now() - t0) / 1000;
  await robust.release(); await natural.release();
  return (iters * config.batchSize) / s;
}

const dist = await buildDemo(mkdtempSync(join(tmpdir(), 'demo-bench-')));
const m = JSON.parse(readFileSync(join(dist, 'config.json'), 'utf8')) as DemoManifest;
const { server, url } = await serveDemo(dist, 0);
try {
  console.log(`SmallCNN, batch ${m.config.batchSize}, PGD-${m.config.attack.steps} + both expert steps + EMA; ${iters} iterations after ${warmup}`);
  const web = await browserImagesPerSec(url, m.config.batchSize);
  console.log(`headless Chromium, onnxruntime-web WASM (1 thread): ${web.toFixed(1)} images/s`);
  for (const t of threadCounts) {
    const node = await nodeImagesPerSec(dist, m, t);
    console.log(`onnxruntime-node CPU, ${t} thread${t === 1 ? '' : 's'}: ${node.toFixed(1)} images/s (${(node / web).toFixed(2)}x the page)`);
  }
} finally {
  server.close();
  rmSync(dist, { recursive: true, force: true });
}
