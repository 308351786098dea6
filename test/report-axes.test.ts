// Accuracy axes of the run report label every tick differently: the format's decimals follow the
// tick step (report/run-charts.ts accuracyFormat). A fixed one decimal labelled a 97.55-98.05% axis,
// ticked every 0.05%, "... 98%, 98%".
import { describe, expect, it } from 'vitest';
import { renderSvg } from '../src/report/charts.js';
import { accuracyFormat } from '../src/report/run-charts.js';

/** The x-axis tick labels Vega draws for points at `clean` (the trade-off chart's axis settings). */
async function xLabels(clean: number[], format = accuracyFormat(clean, 11)): Promise<string[]> {
  const x = { field: 'clean', type: 'quantitative', axis: { format, labelOverlap: false }, scale: { zero: false, nice: true, padding: 12 } };
  const svg = await renderSvg({ width: 420, height: 300, data: { values: clean.map((c) => ({ clean: c, robust: 3 })) }, mark: 'point', encoding: { x, y: { field: 'robust', type: 'quantitative' } } });
  return [...svg.matchAll(/>([\d.]+%)</g)].map((m) => m[1]); // the y axis (plain numbers) has no %
}

describe('accuracy axes', () => {
  it('take the decimals their tick step needs, one at least', () => {
    expect(accuracyFormat([0.976, 0.979, 0.98])).toBe('.2~%');
    expect(accuracyFormat([0.25, 0.8])).toBe('.1~%');
  });

  it('a fixed one decimal labels ticks alike on a narrow range (the case this replaces)', async () => {
    const labels = await xLabels([0.976, 0.979, 0.98], '.1~%');
    expect(new Set(labels).size).toBeLessThan(labels.length);
  });

  for (const clean of [[0.976, 0.979, 0.98], [0.9012, 0.9015], [0.3, 0.95], [0.5, 0.5]]) {
    it(`label every tick differently (points at ${clean.join(', ')})`, async () => {
      const labels = await xLabels(clean);
      expect(labels.length).toBeGreaterThan(clean[0] === clean[1] ? 0 : 2);
      expect(new Set(labels).size, labels.join(' ')).toBe(labels.length);
    });
  }
});
