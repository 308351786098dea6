// The study's numbers (scripts/study.ts) read back from its run folders, or from their records in docs/study/: test scores of each model,
// the Generalist operating point chosen on the validation split, mean and spread over seeds, the
// issue's targets and every loss of Generalist in words, as Markdown pieces for study-page.ts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface StudyPlan {
  runsDir: string;
  datasets: string[];
  seeds: number[];
  /** Each dataset's seeds (the study's seeds unless --seeds-for gave it its own). */
  datasetSeeds: Record<string, number[]>;
  methods: string[];
  eps: Record<string, number>;
  finetune: { start: string; seeds: number[] } | null;
}
/** Training epochs of a dataset's runs: `--epochs 3` for all, or `--epochs fashion-mnist=3,mnist=1`. */
export function epochsOf(spec: string, dataset: string): string {
  if (!spec.includes('=')) return spec;
  const found = spec.split(',').map((kv) => kv.split('=')).find(([k]) => k === dataset);
  if (!found) throw new Error(`--epochs ${spec} names no epoch count for ${dataset}`);
  return found[1];
}

interface Point { beta: number; clean: number; robust: number; n: number; test?: { clean: number; robust: number; autoattack?: number; n: number } }
interface Curve { points: Point[] }
/** Test scores of one model: clean, PGD-20 and AutoAttack accuracy (fractions; undefined until measured). */
export interface Scores { clean?: number; pgd20?: number; aa?: number }

/**
 * The operating point, chosen on the validation split only: the cleanest point whose PGD accuracy is
 * within 2 points of the robust teacher's (b = 1); the most robust point when none is.
 */
export function chooseBeta(val: Curve): number {
  const a = val.points.find((p) => p.beta === 1);
  if (!a) throw new Error('the validation curve has no point b = 1');
  const ok = val.points.filter((p) => p.robust >= a.robust - 0.02);
  return ok.reduce((best, p) => (p.clean > best.clean || (p.clean === best.clean && p.robust > best.robust) ? p : best), ok[0]).beta;
}

const readJson = (f: string) => (existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : undefined);

/**
 * A run's record: the few numbers the page reads from a run folder (eval reports, trade-off curves,
 * training minutes), kept in the repository (docs/study/<run>.json) because run folders are not: a
 * page written from records alone is the same page. `source` says where the numbers came from.
 */
export interface RunRecord {
  source: string;
  files: Record<string, unknown>;
  minutes?: number;
  /** b* of a run whose validation curve was lost (restored records only). */
  beta?: number;
}
let recordsDir = 'docs/study';
/** Where records are read and written (the study's --records). */
export const useRecords = (dir: string) => { recordsDir = dir; };
const recordPath = (dir: string) => join(recordsDir, `${basename(dir)}.json`);
const recordOf = (dir: string): RunRecord | undefined => readJson(recordPath(dir));
/** A file of a run: from its folder, else from its record. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of the run's own writers
const runFile = (dir: string, name: string): any => readJson(join(dir, name)) ?? recordOf(dir)?.files[name];

/** Saves a run folder's numbers as its record (nothing when the folder has none of them yet). */
export function saveRecord(dir: string): boolean {
  const files: Record<string, unknown> = {};
  const clean = readJson(join(dir, 'eval-clean.json')), pgd = readJson(join(dir, 'eval-pgd20.json')), aa = readJson(join(dir, 'eval-aa.json'));
  if (clean) files['eval-clean.json'] = { cleanAccuracy: clean.cleanAccuracy, n: clean.n };
  if (pgd) files['eval-pgd20.json'] = { attacks: [{ robustAccuracy: pgd.attacks?.[0]?.robustAccuracy }], n: pgd.n };
  if (aa) files['eval-aa.json'] = { ensemble: { robustAccuracy: aa.ensemble?.robustAccuracy }, n: aa.n };
  for (const f of ['tradeoff-validation.json', 'tradeoff.json']) { const c = readJson(join(dir, f)); if (c) files[f] = { points: c.points }; }
  if (!Object.keys(files).length) return false;
  const rec: RunRecord = { source: `run folder ${dir}`, files, minutes: trainMinutes(dir) };
  mkdirSync(recordsDir, { recursive: true });
  writeFileSync(recordPath(dir), JSON.stringify(rec, null, 1) + '\n');
  return true;
}

/** A trained model's test scores from its eval reports (generalist eval --json). */
export function modelScores(dir: string): Scores {
  return {
    clean: runFile(dir, 'eval-clean.json')?.cleanAccuracy,
    pgd20: runFile(dir, 'eval-pgd20.json')?.attacks?.[0]?.robustAccuracy,
    aa: runFile(dir, 'eval-aa.json')?.ensemble?.robustAccuracy,
  };
}

/** Where a run's record lives (the page names it for a run whose folder is gone). */
export const recordsLocation = () => recordsDir;

/** b* of a Generalist run: chosen on its validation curve, else kept in its record; undefined before either exists. */
export function chosenBeta(dir: string): number | undefined {
  const val = runFile(dir, 'tradeoff-validation.json') as Curve | undefined;
  return val ? chooseBeta(val) : recordOf(dir)?.beta;
}

/** The chosen point's test scores and the curve's test points of a Generalist run. */
export function curveOf(dir: string): { beta?: number; chosen: Scores; points: { beta: number; clean: number; aa: number }[] } {
  const test = runFile(dir, 'tradeoff.json') as Curve | undefined;
  const beta = chosenBeta(dir);
  if (beta === undefined || !test) return { chosen: {}, points: [] };
  const p = test.points.find((q) => q.beta === beta)?.test;
  const points = test.points.filter((q) => q.test?.autoattack !== undefined).map((q) => ({ beta: q.beta, clean: q.test!.clean, aa: q.test!.autoattack! })).sort((x, y) => x.beta - y.beta);
  return { beta, chosen: p ? { clean: p.clean, pgd20: p.robust, aa: p.autoattack } : {}, points };
}

/** A Generalist run's validation curve: clean and PGD accuracy of every G(b) scored there. */
export function validationCurveOf(dir: string): { beta: number; clean: number; robust: number }[] {
  const val = runFile(dir, 'tradeoff-validation.json') as Curve | undefined;
  return (val?.points ?? []).map((p) => ({ beta: p.beta, clean: p.clean, robust: p.robust })).sort((x, y) => x.beta - y.beta);
}

/** Training time in minutes (sum of the epochs' seconds in metrics.jsonl). */
export function trainMinutes(dir: string): number | undefined {
  const f = join(dir, 'metrics.jsonl');
  if (!existsSync(f)) return recordOf(dir)?.minutes;
  const lines = readFileSync(f, 'utf8').trim().split('\n').filter(Boolean); // empty while the first epoch runs
  return lines.length ? lines.reduce((a, l) => a + JSON.parse(l).seconds, 0) / 60 : undefined;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
/** "mean ± sd (per-seed values)" in percent; "-" when nothing was measured. */
function stat(xs: (number | undefined)[]): string {
  const ok = xs.filter((x): x is number => x !== undefined);
  if (!ok.length) return '-';
  const pct = (x: number) => (100 * x).toFixed(1);
  return ok.length === 1 ? `${pct(ok[0])} (1 seed)` : `${pct(mean(ok))} ± ${pct(sd(ok))} (${ok.map(pct).join(', ')})`;
}
export const meanOf = (xs: (number | undefined)[]) => { const ok = xs.filter((x): x is number => x !== undefined); return ok.length ? mean(ok) : undefined; };

export const LABEL: Record<string, string> = {
  natural: 'natural', 'pgd-at': 'PGD-AT', trades6: 'TRADES (beta 6)', trades1: 'TRADES (beta 1)', generalist: 'Generalist G (as trained)',
  chosen: 'Generalist G(b*), b* chosen on validation', start: 'starting model (natural)', 'ft-pgd-at': 'PGD-AT fine-tuning', 'ft-generalist': 'Generalist fine-tuning (harden), G as trained',
};

export interface Row { key: string; runs: Scores[]; minutes: (number | undefined)[]; betas?: (number | undefined)[] }
export function table(rows: Row[]): string {
  const lines = rows.map((r) => `| ${LABEL[r.key] ?? r.key} | ${stat(r.runs.map((s) => s.clean))} | ${stat(r.runs.map((s) => s.pgd20))} | ${stat(r.runs.map((s) => s.aa))} | ${r.betas ? r.betas.map((b) => b ?? '-').join(', ') : ''} | ${r.minutes.map((m) => (m === undefined ? '-' : m.toFixed(0))).join(', ')} |`);
  return ['| model | clean | PGD-20 | AutoAttack | b* | train min per seed |', '|---|---|---|---|---|---|', ...lines].join('\n');
}

/**
 * The issue's target in words: G(b*) against a reference. cleanMargin: G's clean accuracy at least
 * that many points above the reference (negative: at most that many below); aaMargin: AutoAttack at
 * most that many points below. A margin of undefined leaves that measure out of the target.
 */
export function verdict(what: string, g: Row, ref: Row, cleanMargin: number | undefined, aaMargin: number | undefined): string {
  const gc = meanOf(g.runs.map((s) => s.clean)), ga = meanOf(g.runs.map((s) => s.aa));
  const rc = meanOf(ref.runs.map((s) => s.clean)), ra = meanOf(ref.runs.map((s) => s.aa));
  if ([gc, rc].some((x) => x === undefined) || (aaMargin !== undefined && [ga, ra].some((x) => x === undefined))) return `- ${what}: not measured yet.`;
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
  const dc = 100 * (gc! - rc!), da = ga !== undefined && ra !== undefined ? 100 * (ga - ra) : undefined;
  const parts = [`clean ${signed(dc)} points`, ...(da !== undefined ? [`AutoAttack ${signed(da)} points`] : [])];
  const targets = [...(cleanMargin !== undefined ? [`clean ${cleanMargin >= 0 ? `at least ${cleanMargin} above` : `within ${-cleanMargin}`}`] : []), ...(aaMargin !== undefined ? [`AutoAttack within ${aaMargin}`] : [])];
  const met = (cleanMargin === undefined || dc >= cleanMargin) && (aaMargin === undefined || da! >= -aaMargin);
  return `- ${what}: ${parts.join(', ')} against ${LABEL[ref.key]} (target: ${targets.join(', ')}): **${met ? 'met' : 'not met'}**.`;
}

/** Every comparison where G(b*) does worse than a baseline, in plain words. */
export function losses(g: Row, others: Row[]): string[] {
  const out: string[] = [];
  for (const o of others) {
    for (const [k, name] of [['clean', 'clean accuracy'], ['aa', 'AutoAttack accuracy']] as const) {
      const gv = meanOf(g.runs.map((s) => s[k])), ov = meanOf(o.runs.map((s) => s[k]));
      if (gv !== undefined && ov !== undefined && ov > gv + 0.005) out.push(`- ${LABEL[o.key]} beats Generalist's chosen point on ${name} by ${(100 * (ov - gv)).toFixed(1)} points (${(100 * ov).toFixed(1)}% vs ${(100 * gv).toFixed(1)}%).`);
    }
  }
  return out;
}

export const runDir = (p: StudyPlan, dataset: string, method: string, seed: number) => join(p.runsDir, `${dataset}-${method}-s${seed}`);
export const svgName = (out: string, what: string) => join(dirname(out), `${basename(out, '.md')}-${what}.svg`);
