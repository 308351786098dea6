// The test table a finished run prints (and puts in its event files): clean and PGD accuracy per network.
import type { Accuracy } from '../train/evaluate.js';

/** The final table as text. */
export function formatTable(final: Record<string, Accuracy>, pgdSteps: number, eps: number): string {
  const rows = Object.entries(final).map(([k, a]) => `| ${k.padEnd(6)} | ${(100 * a.clean).toFixed(2).padStart(6)}% | ${(100 * a.robust).toFixed(2).padStart(6)}% |`);
  return [`test set, ${Object.values(final)[0]?.n ?? 0} images, eps ${eps}`, `| model  |  clean  | PGD-${pgdSteps} |`, '|--------|---------|---------|', ...rows].join('\n');
}
