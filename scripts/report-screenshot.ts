// A PNG of an HTML report as headless Chromium draws it (docs/ screenshots):
//   node --import tsx scripts/report-screenshot.ts runs/mnist-smallcnn/report.html docs/report.png [width]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchChromium } from '../test/helpers/chromium.js';

async function main(): Promise<void> {
  const [html, png, width = '1240'] = process.argv.slice(2);
  if (!html || !png) throw new Error('usage: report-screenshot.ts REPORT.html OUT.png [width]');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: Number(width), height: 900 }, deviceScaleFactor: 1 });
    await page.goto(pathToFileURL(resolve(html)).href);
    await page.screenshot({ path: png, fullPage: true });
  } finally {
    await browser.close();
  }
  console.log(`wrote ${png}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
