// The study scripts' own logic: the operating point is chosen on validation numbers by the stated
// rule, and the plot draws a point per baseline run and a curve per Generalist run.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseBeta, chosenBeta, curveOf, epochsOf, modelScores, saveRecord, trainMinutes, useRecords, validationCurveOf } from '../scripts/study-results.js';
import { plotSvg } from '../scripts/study-svg.js';
import { writeStudyReport } from '../scripts/study-page.js';
import { runChains, type ChainStep } from '../scripts/study-lanes.js';

const pt = (beta: number, clean: number, robust: number) => ({ beta, clean, robust, n: 1000 });

/** Writes the page of a one-dataset plan over the run folders under root/runs (records in root/records) and returns it. */
function pageOf(root: string, dataset: string, methods: string[], seeds: number[]): string {
  const out = join(root, 'page.md');
  const plan = { runsDir: join(root, 'runs'), datasets: [dataset], seeds, datasetSeeds: { [dataset]: seeds }, methods, eps: { [dataset]: 0.1 }, finetune: null };
  const budget = { epochs: '1', trainSubset: '0', ftStartEpochs: '0', ftTrainSubset: '0', cleanN: '10000', pgdN: '2000', aaN: '1000', squareQueries: '1000' };
  useRecords(join(root, 'records'));
  try {
    writeStudyReport(plan, { out, commands: [], label: '', budget });
  } finally {
    useRecords('docs/study');
  }
  return readFileSync(out, 'utf8');
}

describe('study scripts', () => {
  it('chooses the cleanest point within 2 PGD points of the robust teacher, else the most robust one', () => {
    expect(chooseBeta({ points: [pt(0, 0.9, 0.1), pt(0.5, 0.85, 0.59), pt(0.7, 0.83, 0.615), pt(1, 0.8, 0.62)] })).toBe(0.7);
    // 0.5 is 2.1 points below b = 1: out; ties on clean go to the more robust point.
    expect(chooseBeta({ points: [pt(0.5, 0.85, 0.599), pt(0.8, 0.8, 0.61), pt(1, 0.8, 0.62)] })).toBe(1);
    expect(() => chooseBeta({ points: [pt(0, 0.9, 0.1)] })).toThrow(/no point b = 1/);
  });

  it('reads one epoch count for every dataset or one per dataset, and names a dataset left out', () => {
    expect(epochsOf('3', 'mnist')).toBe('3');
    expect(epochsOf('fashion-mnist=3,mnist=1', 'mnist')).toBe('1');
    expect(epochsOf('fashion-mnist=3,mnist=1', 'fashion-mnist')).toBe('3');
    expect(() => epochsOf('fashion-mnist=3', 'mnist')).toThrow(/no epoch count for mnist/);
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

  it('places the b= labels of two curves that share a point apart', () => {
    const curve = (label: string, dy: number) => ({ label, color: '#1f77b4', curve: true, points: [{ x: 0.1, y: 0.9, note: 'b=0' }, { x: 0.6, y: 0.8 + dy, note: 'b=1' }] });
    const svg = plotSvg('shared points', [curve('seed 0', 0), curve('seed 1', 0.002), { label: 'PGD-AT', color: '#d62728', points: [{ x: 0.61, y: 0.805 }] }]);
    const texts = [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)" font-size="9"[^>]*>(b=[01])<\/text>/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]), text: m[3] }));
    expect(texts).toHaveLength(4);
    for (const t of ['b=0', 'b=1']) {
      const [a, b] = texts.filter((l) => l.text === t);
      // Two 3-character labels (about 16 x 9 px) do not overlap.
      expect(Math.abs(a.x - b.x) > 16 || Math.abs(a.y - b.y) > 9, `${t}: ${JSON.stringify([a, b])}`).toBe(true);
    }
  });

  it('runs a chain in order, at most `lanes` chains at once, a waiting chain after the one it waits for', async () => {
    const log: string[] = [];
    let running = 0, most = 0;
    const step = (chain: string, title: string, after?: string, done = false): ChainStep => ({ chain, title, after, done: () => done });
    const steps = [step('nat', 'nat:train'), step('nat', 'nat:eval'), step('g', 'g:train'), step('g', 'g:done', undefined, true),
      step('ft', 'ft:train', 'nat'), step('pgd', 'pgd:train'), step('pgd', 'pgd:eval')];
    const ok = await runChains(steps, 2, async (s) => {
      running++; most = Math.max(most, running); log.push(`start ${s.title}`);
      await new Promise((r) => setTimeout(r, s.title === 'g:train' ? 30 : 5));
      running--; log.push(`end ${s.title}`);
      return true;
    });
    expect(ok).toBe(true);
    expect(most).toBe(2);
    expect(log.filter((l) => l.startsWith('start')).map((l) => l.slice(6)).sort()).toEqual(['ft:train', 'g:train', 'nat:eval', 'nat:train', 'pgd:eval', 'pgd:train']);
    expect(log.indexOf('start nat:eval')).toBeGreaterThan(log.indexOf('end nat:train'));
    expect(log.indexOf('start ft:train')).toBeGreaterThan(log.indexOf('end nat:eval'));
    // The queue order holds: ft (ready once nat ends) starts before pgd, which is behind it in the queue.
    expect(log.indexOf('start ft:train')).toBeLessThan(log.indexOf('start pgd:train'));
  });

  it('starts no new step after a failure and reports it', async () => {
    const started: string[] = [];
    const steps: ChainStep[] = ['a', 'b', 'c'].map((c) => ({ chain: c, title: c, done: () => false }));
    expect(await runChains(steps, 1, async (s) => { started.push(s.title); return s.title !== 'a'; })).toBe(false);
    expect(started).toEqual(['a']);
  });

  it('keeps the numbers of a run as a record that gives the page the same numbers once the run folder is gone', () => {
    const root = mkdtempSync(join(tmpdir(), 'study-records-'));
    const run = join(root, 'runs', 'fashion-mnist-generalist-s0');
    mkdirSync(run, { recursive: true });
    const put = (f: string, v: unknown) => writeFileSync(join(run, f), JSON.stringify(v));
    put('eval-clean.json', { cleanAccuracy: 0.81, n: 10000, perClass: [1, 2, 3] });
    put('eval-pgd20.json', { attacks: [{ robustAccuracy: 0.6 }], n: 2000 });
    put('tradeoff-validation.json', { points: [pt(0, 0.85, 0.5), pt(0.9, 0.83, 0.63), pt(1, 0.82, 0.64)] });
    put('tradeoff.json', { points: [{ ...pt(0, 0.85, 0.5), test: { clean: 0.84, robust: 0.4, autoattack: 0.49, n: 1000 } }, { ...pt(0.9, 0.83, 0.63), test: { clean: 0.82, robust: 0.62, autoattack: 0.61, n: 1000 } }] });
    writeFileSync(join(run, 'metrics.jsonl'), '{"seconds":60}\n{"seconds":120}\n');
    useRecords(join(root, 'records'));
    try {
      const before = { scores: modelScores(run), curve: curveOf(run), val: validationCurveOf(run), minutes: trainMinutes(run) };
      expect(before.scores).toEqual({ clean: 0.81, pgd20: 0.6, aa: undefined });
      expect(before.curve.beta).toBe(0.9);
      expect(before.minutes).toBe(3);
      expect(saveRecord(run)).toBe(true);
      rmSync(run, { recursive: true });
      expect({ scores: modelScores(run), curve: curveOf(run), val: validationCurveOf(run), minutes: trainMinutes(run) }).toEqual(before);
      // A record restored without its validation curve keeps b* itself.
      const lost = join(root, 'runs', 'mnist-generalist-s1');
      writeFileSync(join(root, 'records', 'mnist-generalist-s1.json'), JSON.stringify({ source: 'restored', beta: 0.8, files: { 'tradeoff.json': { points: [{ beta: 0.8, test: { clean: 0.9, robust: 0.7, autoattack: 0.6, n: 1000 } }] } } }));
      expect(chosenBeta(lost)).toBe(0.8);
      expect(curveOf(lost).chosen).toEqual({ clean: 0.9, pgd20: 0.7, aa: 0.6 });
      expect(validationCurveOf(lost)).toEqual([]);
      // A folder with nothing measured yet writes no record.
      mkdirSync(join(root, 'runs', 'empty'));
      expect(saveRecord(join(root, 'runs', 'empty'))).toBe(false);
    } finally {
      useRecords('docs/study');
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('writes the page and the record of a plan that holds one baseline and no Generalist run', () => {
    const root = mkdtempSync(join(tmpdir(), 'study-baseline-'));
    const run = join(root, 'runs', 'fashion-mnist-trades1-s1');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'eval-clean.json'), JSON.stringify({ cleanAccuracy: 0.83, n: 10000 }));
    writeFileSync(join(run, 'eval-pgd20.json'), JSON.stringify({ attacks: [{ robustAccuracy: 0.64 }], n: 2000 }));
    writeFileSync(join(run, 'eval-aa.json'), JSON.stringify({ attacks: [{ robustAccuracy: 0.63 }], n: 1000 }));
    try {
      const page = pageOf(root, 'fashion-mnist', ['trades1'], [1]);
      expect(page).toContain('83.0');
      expect(page).not.toContain('Generalist G(b*) vs PGD-AT');
      expect(existsSync(join(root, 'records', 'fashion-mnist-trades1-s1.json'))).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("says which seeds a test column averages when the seeds chose different b*", () => {
    const root = mkdtempSync(join(tmpdir(), 'study-seeds-'));
    const dirs = [0, 1].map((seed) => join(root, 'runs', `mnist-generalist-s${seed}`));
    dirs.forEach((run, seed) => {
      mkdirSync(run, { recursive: true });
      const b = seed === 0 ? 0.9 : 0.8;
      writeFileSync(join(run, 'tradeoff-validation.json'), JSON.stringify({ points: [pt(0, 0.97, 0.4), pt(0.8, 0.97, 0.7), pt(0.9, seed === 0 ? 0.97 : 0.96, 0.71), pt(1, 0.96, 0.72)] }));
      writeFileSync(join(run, 'tradeoff.json'), JSON.stringify({ points: [{ ...pt(0, 0.97, 0.4), test: { clean: 0.978, robust: 0.4, autoattack: 0.3, n: 1000 } }, { ...pt(b, 0.97, 0.7), test: { clean: 0.97, robust: 0.7, autoattack: seed === 0 ? 0.544 : 0.65, n: 1000 } }] }));
    });
    try {
      const page = pageOf(root, 'mnist', ['generalist'], [0, 1]);
      expect(page).toContain('| AutoAttack | 30.0 | 65.0 | 54.4 |\n| seeds | 0, 1 | 1 | 0 |');
      // The validation curves hold every b on both seeds: no seeds row there.
      expect(page.match(/\| seeds \|/g)).toHaveLength(1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
