// The HTML report of a short real run, drawn by headless Chromium: no console errors, no network,
// every chart has its marks (a point per epoch and series), the tables equal summary.json and the
// robustness report; `generalist eval --html` gives the robustness page on its own.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { main } from '../src/cli/main.js';
import { train } from '../src/train/trainer.js';
import { tinyRunConfig } from './helpers/tiny-run.js';
import { launchChromium } from './helpers/chromium.js';

const cacheDir = join(tmpdir(), 'gen-train-cache');
const EPOCHS = 3;

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') });
  return { code, out, err };
}

/** Opens a report file; collects console errors, page errors and every request that is not the file itself. */
async function open(browser: Browser, path: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const url = pathToFileURL(path).href;
  page.on('request', (r) => { if (r.url() !== url) problems.push(`request: ${r.url()}`); });
  await page.goto(url);
  return { page, problems };
}

/** Data marks of one chart (legend symbols excluded): points (symbols), bars (rects), and lines with a drawn path. */
const marks = (page: Page, chart: string) => page.$eval(`figure[data-chart="${chart}"] svg`, (svg) => ({
  points: svg.querySelectorAll('g.mark-symbol.role-mark > path').length,
  bars: svg.querySelectorAll('g.mark-rect.role-mark > path').length,
  lines: [...svg.querySelectorAll('g.mark-line.role-mark > path')].filter((p) => (p.getAttribute('d') ?? '').length > 10).length,
}));

const tableValues = (page: Page, cls: string) => page.$$eval(`table.${cls} tbody tr`, (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => ({ text: td.textContent, value: td.getAttribute('data-value') }))));

describe('the HTML report of a run', () => {
  let dir: string;
  let browser: Browser;
  const tradeoff = { run: 'tiny', split: 'validation', eps: 0.3, pgdSteps: 2, points: [0, 0.25, 0.5, 0.75, 1].map((beta, i) => ({ beta, clean: 0.5 + 0.1 * i, robust: 0.4 - 0.08 * i, n: 100 })), G: { clean: 0.6, robust: 0.3, n: 100 } };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gen-report-'));
    const r = await train(tinyRunConfig(dir, { epochs: String(EPOCHS) }), { sink: null, cacheDir });
    expect(r.interrupted).toBe(false);
    browser = await launchChromium();
  }, 600_000);
  afterAll(async () => { await browser?.close(); });

  it('training writes report.html; with an eval report and a trade-off sweep in the folder, every chart has its marks and the tables equal the JSON', async () => {
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
    const ev = await cli('eval', '--model', join(dir, 'model.onnx'), '--dataset', 'mnist', '--eps', '0.3', '--attacks', 'fgsm,pgd3', '--n', '40', '--threads', '1', '--json', join(dir, 'eval.json'));
    expect(ev.code, ev.err).toBe(0);
    writeFileSync(join(dir, 'tradeoff.json'), JSON.stringify(tradeoff));
    const out = join(dir, 'again.html');
    const rep = await cli('report', dir, '-o', out);
    expect(rep.code, rep.err).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).not.toMatch(/<script|<link|src=|@import/);

    const { page, problems } = await open(browser, out);
    const nets = ['G', 'R', 'N'];
    expect(await marks(page, 'train-loss')).toEqual({ points: 2 * EPOCHS, bars: 0, lines: 2 });
    expect(await marks(page, 'val-clean')).toEqual({ points: nets.length * EPOCHS, bars: 0, lines: 3 });
    expect(await marks(page, 'val-pgd')).toEqual({ points: nets.length * EPOCHS, bars: 0, lines: 3 });
    expect((await marks(page, 'iteration-loss')).lines).toBe(2);
    expect(await marks(page, 'schedule-0')).toEqual({ points: 2 * EPOCHS, bars: 0, lines: 2 }); // lr of R and N
    expect(await marks(page, 'schedule-1')).toEqual({ points: EPOCHS, bars: 0, lines: 1 }); // eps
    expect(await marks(page, 'schedule-2')).toEqual({ points: EPOCHS, bars: 0, lines: 1 }); // beta
    expect(await marks(page, 'tradeoff')).toEqual({ points: tradeoff.points.length + nets.length, bars: 0, lines: 1 });
    expect((await marks(page, 'robustness')).bars).toBe(4); // clean, fgsm, pgd3, ensemble

    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    const test = await tableValues(page, 'test-table');
    expect(test.map((r) => r[0].text)).toEqual(nets);
    test.forEach((r, i) => {
      const a = summary.test[nets[i]];
      expect([Number(r[1].value), Number(r[2].value), Number(r[3].text)]).toEqual([a.clean, a.robust, a.n]);
      expect([r[1].text, r[2].text]).toEqual([`${(100 * a.clean).toFixed(2)}%`, `${(100 * a.robust).toFixed(2)}%`]);
    });
    const evalJson = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));
    const rob = await tableValues(page, 'robustness');
    expect(rob.map((r) => Number(r[1].value))).toEqual([evalJson.cleanAccuracy, ...evalJson.attacks.map((a: { robustAccuracy: number }) => a.robustAccuracy), evalJson.ensemble.robustAccuracy]);
    expect(await page.$eval('#reproduce pre', (p) => p.textContent)).toContain(`generalist train --config`);
    await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
    expect(problems).toEqual([]);
  }, 600_000);

  it('eval --html renders the robustness report on its own page, the same bars and table', async () => {
    const out = join(dir, 'robustness.html');
    const ev = await cli('eval', '--model', join(dir, 'model.onnx'), '--dataset', 'mnist', '--eps', '0.2', '--attacks', 'pgd2', '--n', '30', '--threads', '1', '--html', out);
    expect(ev.code, ev.err).toBe(0);
    const { page, problems } = await open(browser, out);
    expect((await marks(page, 'robustness')).bars).toBe(2); // clean, pgd2 (no ensemble of one attack)
    const rows = await tableValues(page, 'robustness');
    expect(rows.map((r) => r[0].text)).toEqual(['(clean)', 'pgd2']);
    expect(problems).toEqual([]);
  }, 300_000);

  it('refuses a folder that is not a run and a damaged event file, with the reason', async () => {
    const r = await cli('report', join(dir, 'nope'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/is not a run folder \(no such directory\)/);
    const empty = mkdtempSync(join(tmpdir(), 'gen-report-empty-'));
    expect((await cli('report', empty)).err).toMatch(/has no config\.json/);
    const damaged = mkdtempSync(join(tmpdir(), 'gen-report-damaged-'));
    writeFileSync(join(damaged, 'config.json'), readFileSync(join(dir, 'config.json')));
    const events = readdirSync(dir).find((n) => n.startsWith('events.out.tfevents.'))!;
    const bytes = readFileSync(join(dir, events));
    bytes[40] ^= 0xff;
    writeFileSync(join(damaged, events), bytes);
    const r2 = await cli('report', damaged);
    expect(r2.code).toBe(1);
    expect(r2.err).toMatch(/CRC mismatch in record \d+ .*the event file is damaged: move it out/);
  });
});
