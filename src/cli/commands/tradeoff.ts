// generalist tradeoff: the trade-off curve of a Generalist run, every G(b) = b*A + (1-b)*S of its EMA
// teachers scored on the validation split (and the asked-for points on the test split), written to
// RUN/tradeoff.json. Choose the operating point here, then `generalist export RUN --beta B`.
import { loadSavedRun } from '../../train/saved-run.js';
import { tradeoff } from '../../train/tradeoff.js';
import { intOption, parseCommandArgs, UsageError, type Command } from '../command.js';

const DEFAULT_BETAS = '0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1';

/** A beta in [0, 1] from a command-line value. */
export function betaValue(s: string, flag: string, command: string): number {
  const b = Number(s);
  if (s.trim() === '' || !Number.isFinite(b) || b < 0 || b > 1) throw new UsageError(`--${flag} takes betas in [0, 1], got "${s}"`, command);
  return b;
}

/** A comma-separated list of betas, each in [0, 1], without repeats. */
export function betaList(s: string, flag: string, command: string): number[] {
  const list = s.split(',').map((v) => betaValue(v, flag, command));
  if (new Set(list).size !== list.length) throw new UsageError(`--${flag} lists a beta twice: ${s}`, command);
  return list;
}

export const tradeoffCommand: Command = {
  name: 'tradeoff',
  summary: "A Generalist run's trade-off curve G(b) = b*A + (1-b)*S on the validation split -> RUN/tradeoff.json",
  usage: `Usage: generalist tradeoff <run-dir> [--betas ${DEFAULT_BETAS}] [--autoattack 0.5,1] [options]

Every G(b) = b*A + (1-b)*S of the run's EMA teachers A (robust) and S (natural), parameters and
BatchNorm statistics alike, is a model. Each point is scored on the run's validation split (clean
accuracy and PGD with the run's eval.pgdSteps and eps); the run's own G is scored on the same
images. Works on a finished run and on one interrupted or resumed (it reads checkpoint.bin).
Writes <run-dir>/tradeoff.json; export a point with 'generalist export <run-dir> --beta B'.

Options:
  --betas LIST        Points to score (default ${DEFAULT_BETAS})
  --n N               Validation images (default: the whole split)
  --test LIST         Points also scored on the test split: clean on --clean-n, PGD on --test-n
  --autoattack LIST   Points scored on the test split with AutoAttack too (--aa-n images; implies --test)
  --test-n N          Test images for PGD (default 2000)
  --clean-n N         Test images for clean accuracy (default: all)
  --aa-n N            Test images for AutoAttack (default 1000)
  --square-queries Q  Square's query budget in AutoAttack (default 5000)
  --out FILE          Where to write the report (default <run-dir>/tradeoff.json)
  --threads N         ORT threads (default: the run's)`,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('tradeoff', argv, {
      betas: { type: 'string' }, n: { type: 'string' }, test: { type: 'string' }, autoattack: { type: 'string' },
      'test-n': { type: 'string' }, 'clean-n': { type: 'string' }, 'aa-n': { type: 'string' }, 'square-queries': { type: 'string' }, threads: { type: 'string' }, out: { type: 'string' },
    }, { min: 1, max: 1, what: 'run folder' });
    const betas = betaList(values.betas ?? DEFAULT_BETAS, 'betas', 'tradeoff');
    const aaBetas = values.autoattack ? betaList(values.autoattack, 'autoattack', 'tradeoff') : [];
    const testBetas = [...new Set([...(values.test ? betaList(values.test, 'test', 'tradeoff') : []), ...aaBetas])];
    for (const b of testBetas) if (!betas.includes(b)) betas.push(b);
    const int = (k: 'n' | 'test-n' | 'clean-n' | 'aa-n' | 'square-queries' | 'threads', min: number) => intOption(values[k], k, 'tradeoff', { min });
    const run = loadSavedRun(positionals[0]);
    const aaN = aaBetas.length ? (int('aa-n', 1) ?? 1000) : 0;
    const opts = { betas, out: values.out, n: int('n', 0), testN: int('test-n', 1), cleanN: int('clean-n', 0), threads: int('threads', 0), squareQueries: int('square-queries', 1), log: io.err };
    const r = await tradeoff(run, { ...opts, testBetas, autoattackBetas: aaBetas, aaN });
    const pct = (v: number | undefined) => (v === undefined ? '-' : `${(100 * v).toFixed(2)}%`);
    io.out(`validation split, ${r.points[0]?.n ?? 0} images, eps ${r.eps}, PGD-${r.pgdSteps}; beta = weight of the robust teacher A`);
    io.out('| beta | clean | PGD | test clean | test PGD | test AutoAttack |');
    io.out('|---|---|---|---|---|---|');
    for (const p of [...r.points].sort((a, b) => a.beta - b.beta)) io.out(`| ${p.beta} | ${pct(p.clean)} | ${pct(p.robust)} | ${pct(p.test?.clean)} | ${pct(p.test?.robust)} | ${pct(p.test?.autoattack)} |`);
    io.out(`| G (the run's) | ${pct(r.G.clean)} | ${pct(r.G.robust)} | | | |`);
    io.out(`wrote ${values.out ?? `${run.dir}/tradeoff.json`}`);
    return 0;
  },
};
