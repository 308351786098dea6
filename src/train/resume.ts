// What a resumed run may take from its checkpoint. The counters and random streams are checked
// against the run (a checkpoint's JSON state is never trusted: epoch and iteration in range and
// consistent, RNG states of four uint32 words, one metrics line per finished epoch), and the
// checkpoint's config against the one resumed with: schedules, epochs, evaluation and checkpoint
// settings may change (said and recorded), anything that changes what the state means may not.
import { DEFAULT_CONFIG } from '../config/presets.js';
import type { Config } from '../config/types.js';
import { TrainError } from './errors.js';

/** One config field that differs from the checkpoint's, and from which iteration it applies. */
export interface ConfigChange { field: string; from: unknown; to: unknown; atIteration: number }

/**
 * Fields a resumed run may change: the learning-rate schedules, the epoch count (to extend a run),
 * evaluation and checkpoint settings, and settings that never change the numbers.
 */
const SAFE_TO_CHANGE = [/^epochs$/, /^optim\.(robust|natural)\.lr$/, /^eval\./, /^checkpoint\./, /^(threads|provider|allowCpuFallback|iterationForm|iterationLoop|name|outDir)$/];

/** Leaf fields (arrays are leaves) of a config-shaped object, by dotted path. */
function leaves(x: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (typeof x === 'object' && x !== null && !Array.isArray(x)) {
    for (const [k, v] of Object.entries(x)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, x);
  return out;
}

/**
 * The differences between the checkpoint's config and this run's. Throws TrainError naming the
 * first field whose change the state cannot follow.
 */
export function configChanges(saved: unknown, now: Config, atIteration: number, where: string): ConfigChange[] {
  if (!isObj(saved)) throw new TrainError(`cannot resume from ${where}: its meta.config is not a config`);
  const a = leaves(saved);
  const b = leaves(now);
  const defaults = leaves(DEFAULT_CONFIG);
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  const changes: ConfigChange[] = [];
  for (const field of new Set([...a.keys(), ...b.keys()])) {
    const from = a.get(field);
    const to = b.get(field);
    // A field added to the config after the checkpoint was written counts as its default then.
    if (same(from, to) || (!a.has(field) && same(defaults.get(field), to))) continue;
    if (!SAFE_TO_CHANGE.some((r) => r.test(field))) {
      throw new TrainError(`cannot resume: ${field} was ${JSON.stringify(from)} in the checkpoint and is ${JSON.stringify(to)} now; ` +
        `a change of ${field} changes what the saved state means. Set it back to resume, or start a new run (--set name=NEW)`);
    }
    changes.push({ field, from, to, atIteration });
  }
  return changes;
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isRngState = (x: unknown): boolean =>
  Array.isArray(x) && x.length === 4 && x.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff) && x.some((v) => v !== 0);
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The run's position fields of a checkpoint state, checked against its epochs and iterations per epoch. */
function checkPosition(s: Record<string, unknown>, epochs: number, itersPerEpoch: number): string | null {
  const { epoch, iterInEpoch, iter } = s;
  if (!isCount(epoch) || !isCount(iterInEpoch) || !isCount(iter)) return 'epoch, iterInEpoch and iter must be integers >= 0';
  if (iterInEpoch >= itersPerEpoch) return `iterInEpoch ${iterInEpoch} is not below the ${itersPerEpoch} iterations of an epoch`;
  if (epoch > epochs || (epoch === epochs && iterInEpoch > 0)) {
    return `it is at epoch ${epoch + (iterInEpoch > 0 ? 1 : 0)}, beyond this run's ${epochs} epochs (set epochs to ${epoch + (iterInEpoch > 0 ? 1 : 0)} or more)`;
  }
  if (iter !== epoch * itersPerEpoch + iterInEpoch) return `iter ${iter} is not epoch ${epoch} x ${itersPerEpoch} + iterInEpoch ${iterInEpoch}`;
  for (const k of ['emaUpdates', 'stepsR', 'stepsN']) if (!isCount(s[k]) || (s[k] as number) > iter) return `${k} must be an integer in [0, iter = ${iter}]`;
  return null;
}

/** The rest of a checkpoint state: random streams, best model, metrics lines, epoch accumulators. */
function checkRecords(s: Record<string, unknown>): string | null {
  for (const k of ['dataRngEpochStart', 'noiseRng']) if (!isRngState(s[k])) return `${k} is not a random-stream state (four uint32 words, not all 0)`;
  if (s.dropoutRng !== undefined && !isRngState(s.dropoutRng)) return 'dropoutRng is not a random-stream state (four uint32 words, not all 0)';
  const epoch = s.epoch as number;
  const m = s.metrics;
  if (!Array.isArray(m) || m.length !== epoch || !m.every((x, i) => isObj(x) && x.epoch === i + 1)) return `metrics must hold one line for each of the ${epoch} finished epochs`;
  const b = s.best;
  if (b !== undefined && !(isObj(b) && isCount(b.epoch) && b.epoch >= 1 && b.epoch <= epoch && Number.isFinite(b.score))) return 'best must name a finished epoch and a finite score';
  const sums = s.epochSums;
  if (sums !== undefined && !(isObj(sums) && ['lossR', 'lossN', 'accR', 'accN'].every((k) => Number.isFinite(sums[k])) && isCount(sums.n))) return 'epochSums must hold finite sums and an image count';
  if (s.epochSeconds !== undefined && !(Number.isFinite(s.epochSeconds) && (s.epochSeconds as number) >= 0)) return 'epochSeconds must be a number >= 0';
  if (s.configChanges !== undefined && !Array.isArray(s.configChanges)) return 'configChanges must be a list';
  return null;
}

/** Checks a checkpoint's state object field by field; throws TrainError with the first problem. */
export function checkRunState(state: unknown, where: string, epochs: number, itersPerEpoch: number): void {
  const why = !isObj(state) ? 'meta.state is missing' : checkPosition(state, epochs, itersPerEpoch) ?? checkRecords(state);
  if (why) throw new TrainError(`cannot resume from ${where}: ${why}`);
}
