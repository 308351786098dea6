// The browser demo end to end: `npm run demo`'s command builds the page and serves it (PORT=0: a
// free port); headless Chromium opens it and it trains Generalist on onnxruntime-web (WASM here:
// the browser runs with --disable-gpu, so the page finds no WebGPU adapter and says so). Checked:
// iterations advance and G passes 80% clean accuracy on the page's 500 test images within a
// bounded time; PGD at eps 0.3 flips the natural expert's prediction of a test digit; the
// downloaded model.onnx equals exportInference for G's weights, and onnxruntime-node gets the
// page's accuracy from it; the page logs no console errors.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, loadModelFile } from '../src/onnx/load.js';
import { ort, runModel } from '../src/runtime/ort.js';
import { exportInference } from '../src/train/export.js';
import type { Weights } from '../src/runtime/artifact-runtime.js';

const ROOT = join(import.meta.dirname, '..');
/** The test's own build folder, so it never races a demo being served from demo/dist. */
const DIST = mkdtempSync(join(tmpdir(), 'demo-test-'));
/** How long G may take to pass 80%: it takes 50 iterations (1,600 images), 110-160 s on a 2-core machine at load 20. */
const TRAIN_LIMIT_MS = 420_000;

interface DemoView {
  backend: string; note: string; running: boolean; iterations: number; evaluatedAt: number;
  lossR: number | null; lossN: number | null; cleanAcc: number | null; robustAcc: number | null; imagesPerSec: number | null;
  attack: { label: number; eps: number; before: Record<'N' | 'R' | 'G', number>; after: Record<'N' | 'R' | 'G', number> } | null;
}
const view = (page: Page) => page.evaluate(() => {
  const { weightsG: _, errors: __, ...d } = (window as unknown as { __demo: DemoView & { weightsG: unknown; errors: unknown } }).__demo;
  return d as DemoView;
});

/** Starts `npm run demo`'s command; resolves with the URL it prints. */
function startDemo(): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'demo/main.ts'], { cwd: ROOT, env: { ...process.env, PORT: '0', DEMO_OUT: DIST }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve({ proc, url: m[1] });
    });
    proc.stderr!.on('data', (d) => { err += d; });
    proc.on('exit', (code) => reject(new Error(`the demo exited (${code}) before serving:\n${out}\n${err}`)));
  });
}

describe('browser demo (headless Chromium, onnxruntime-web)', () => {
  let demo: { proc: ChildProcess; url: string };
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    demo = await startDemo();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
    page = await browser.newPage({ acceptDownloads: true });
    // Waits on the page get minutes, not seconds: on a loaded 2-core machine one iteration can take seconds.
    page.setDefaultTimeout(180_000);
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(demo.url);
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    demo?.proc.kill();
    rmSync(DIST, { recursive: true, force: true });
  });

  it('trains: iterations advance and G passes 80% clean accuracy on the test subset', async () => {
    await page.waitForFunction(() => (window as unknown as { __demo: DemoView }).__demo.iterations >= 5, null, { timeout: TRAIN_LIMIT_MS });
    const early = await view(page);
    expect(early.backend).toBe('wasm');
    expect(early.note).toMatch(/WebGPU/);
    await page.waitForFunction(() => ((window as unknown as { __demo: DemoView }).__demo.cleanAcc ?? 0) > 0.8, null, { timeout: TRAIN_LIMIT_MS, polling: 500 });
    const d = await view(page);
    expect(d.iterations).toBeGreaterThan(early.iterations);
    expect(d.lossN).toBeLessThan(early.lossN!);
    console.log(`demo: G ${(100 * d.cleanAcc!).toFixed(1)}% clean after ${d.iterations} iterations, ${d.imagesPerSec!.toFixed(1)} images/s (WASM)`);
  }, 2 * TRAIN_LIMIT_MS + 60_000);

  /** Stops training (the worker finishes its iteration and evaluates G as it stopped). */
  async function stop(): Promise<void> {
    if ((await view(page)).running) await page.click('#toggle');
    await page.waitForFunction(() => !(window as unknown as { __demo: DemoView }).__demo.running);
  }

  it('stops, and PGD at eps 0.3 on a test digit flips the natural expert', async () => {
    await stop();
    const before = (await view(page)).iterations;
    await page.waitForTimeout(500);
    expect((await view(page)).iterations).toBe(before);
    await page.fill('#test-index', '0');
    await page.click('#pick');
    await page.locator('#eps').fill('0.3');
    await page.click('#attack');
    await page.waitForFunction(() => (window as unknown as { __demo: DemoView }).__demo.attack !== null);
    const a = (await view(page)).attack!;
    expect(a.eps).toBe(0.3);
    expect(a.before.N).toBe(a.label);
    expect(a.after.N).not.toBe(a.before.N);
  }, 600_000);

  it('downloads G as model.onnx: exportInference of the same weights, with the page\'s accuracy', async () => {
    await stop();
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('model.onnx');
    const got = loadModel(new Uint8Array(readFileSync((await download.path())!)));
    const state = await view(page);
    const raw = await page.evaluate(() => (window as unknown as { __demo: { weightsG(): Promise<Record<string, { dims: number[]; data: number[] }>> } }).__demo.weightsG());
    const weights: Weights = Object.fromEntries(Object.entries(raw).map(([k, t]) => [k, new ort.Tensor('float32', Float32Array.from(t.data), t.dims)]));
    const want = exportInference(loadModelFile(join(DIST, 'artifacts', 'source.onnx')), weights, { method: 'generalist', trainedIn: 'browser', iterations: String(state.iterations) });
    expect(got.graph.nodes).toEqual(want.graph.nodes);
    expect(got.graph.inputs).toEqual(want.graph.inputs);
    expect(got.graph.outputs).toEqual(want.graph.outputs);
    expect(got.metadata).toEqual(want.metadata);
    expect([...got.graph.initializers.keys()].sort()).toEqual([...want.graph.initializers.keys()].sort());
    for (const [name, w] of want.graph.initializers) {
      const g = got.graph.initializers.get(name)!;
      expect(g.dims, name).toEqual(w.dims);
      const a = g.data as Float32Array, b = w.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1e-30, Math.abs(b[i])));
      expect(worst, `${name}: max relative difference`).toBeLessThanOrEqual(2 ** -24);
    }
    // The download is G as it stopped: onnxruntime-node counts the page's clean accuracy with it.
    expect(state.evaluatedAt).toBe(state.iterations);
    const images = readFileSync(join(DIST, 'data', 'test-images.u8')), labels = readFileSync(join(DIST, 'data', 'test-labels.u8'));
    const x = new ort.Tensor('float32', Float32Array.from(images, (v) => v / 255), [labels.length, 1, 28, 28]);
    const logits = (await runModel(got, { input: x }, { threads: 1 })).logits.data as Float32Array;
    let correct = 0;
    for (let i = 0; i < labels.length; i++) {
      const row = logits.subarray(10 * i, 10 * i + 10);
      if (row.indexOf(Math.max(...row)) === labels[i]) correct++;
    }
    expect(correct / labels.length).toBeCloseTo(state.cleanAcc!, 6);
  }, 600_000);

  it('logs no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });
});
