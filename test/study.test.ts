// The study scripts' own logic: the operating point is chosen on validation numbers by the stated
// rule, and the plot draws a point per baseline run and a curve per Generalist run.
import { describe, expect, it } from 'vitest';
import { chooseBeta } from '../scripts/study-results.js';
import { plotSvg } from '../scripts/study-svg.js';

const pt = (beta: number, clean: number, robust: number) => ({ beta, clean, robust, n: 1000 });

describe('study scripts', () => {
  it('chooses the cleanest point within 2 PGD points of the robust teacher, else the most robust one', () => {
    expect(chooseBeta({ points: [pt(0, 0.9, 0.1), pt(0.5, 0.85, 0.59), pt(0.7, 0.83, 0.615), pt(1, 0.8, 0.62)] })).toBe(0.7);
    // 0.5 is 2.1 points below b = 1: out; ties on clean go to the more robust point.
    expect(chooseBeta({ points: [pt(0.5, 0.85, 0.599), pt(0.8, 0.8, 0.61), pt(1, 0.8, 0.62)] })).toBe(1);
    expect(() => chooseBeta({ points: [pt(0, 0.9, 0.1)] })).toThrow(/no point b = 1/);
  });

  it('plots baselines as points and Generalist runs as curves, in percent, with the chosen point ringed', () => {
    const svg = plotSvg('test plot', [
      { label: 'PGD-AT', color: '#d62728', points: [{ x: 0.6, y: 0.8 }] },
      { label: 'Generalist', color: '#1f77b4', curve: true, points: [{ x: 0.1, y: 0.9, note: 'b=0' }, { x: 0.55, y: 0.84, note: 'b=0.7' }, { x: 0.61, y: 0.79, note: 'b=1' }], ring: [1] },
    ]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(1);
    expect(svg).toContain('Generalist b=0.7: clean 84.0%, AutoAttack 55.0%');
    expect(svg.match(/r="7"/g)).toHaveLength(1);
    expect(svg).toContain('AutoAttack accuracy, % (test)');
    expect(plotSvg('empty', [])).toContain('no AutoAttack numbers yet');
  });
});
