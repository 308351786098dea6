// Writes docs/demo.png, the README's picture of the browser demo: builds and serves the demo,
// trains in headless Chromium to iteration --iters, stops, attacks test image --image at eps 0.3.
//   node --import tsx scripts/demo-screenshot.ts [--iters 200] [--image 0] [--out docs/demo.png]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { buildDemo } from '../demo/build.js';
import { serveDemo } from '../demo/serve.js';

const { values } = parseArgs({ options: { iters: { type: 'string', default: '200' }, image: { type: 'string', default: '0' }, out: { type: 'string', default: 'docs/demo.png' } } });
const dist = await buildDemo(mkdtempSync(join(tmpdir(), 'demo-shot-')));
const { server, url } = await serveDemo(dist, 0);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 860 } });
  await page.goto(url);
  type D = { iterations: number; running: boolean; attack: unknown };
  await page.waitForFunction((n) => (window as unknown as { __demo: D }).__demo.iterations >= n, Number(values.iters), { timeout: 1_800_000, polling: 1000 });
  await page.click('#toggle');
  await page.waitForFunction(() => !(window as unknown as { __demo: D }).__demo.running);
  await page.fill('#test-index', values.image);
  await page.click('#pick');
  await page.click('#attack');
  await page.waitForFunction(() => (window as unknown as { __demo: D }).__demo.attack !== null);
  await page.screenshot({ path: values.out, fullPage: true });
  console.log(`wrote ${values.out}`);
} finally {
  await browser.close();
  server.close();
  rmSync(dist, { recursive: true, force: true });
}
