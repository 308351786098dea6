// Attack names as users write them (`--attacks pgd20,cw20,autoattack`), parsed into specs.
//
//   fgsm                 one signed-gradient step of size eps
//   pgd<k>               PGD, k steps of cross-entropy ascent (pgd20, pgd100)
//   cw<k>                CW-inf: PGD, k steps on the Carlini-Wagner margin (cw20)
//   apgd-ce[<k>]         APGD on cross-entropy, k iterations (default 100)
//   apgd-t[<k>]          APGD-T on the targeted DLR loss, k iterations per target (default 100)
//   square[<q>]          Square Attack with a budget of q queries per example (default 5000)
//   autoattack           APGD-CE, then APGD-T, then Square, each on the points still robust
// Library callers may also pass { name, kind: 'custom', run } specs: their own attack, held to the
// same invariant checks as the built-in ones.
import type { Attack } from './common.js';

export type AttackSpec =
  | { name: string; kind: 'fgsm' }
  | { name: string; kind: 'pgd'; steps: number; loss: 'ce' | 'cw' }
  | { name: string; kind: 'apgd-ce'; steps?: number }
  | { name: string; kind: 'apgd-t'; steps?: number }
  | { name: string; kind: 'square'; queries?: number }
  | { name: string; kind: 'autoattack' }
  | { name: string; kind: 'custom'; run: Attack; params?: Record<string, number | string> };

export const ATTACK_FORMS = ['fgsm', 'pgd<k> (e.g. pgd20, pgd100)', 'cw<k> (e.g. cw20)', 'apgd-ce', 'apgd-ce<k>', 'apgd-t', 'apgd-t<k>', 'square', 'square<queries>', 'autoattack'];

export class AttackNameError extends Error {
  constructor(message: string) { super(message); this.name = 'AttackNameError'; }
}

const MAX_STEPS = 100_000;
const formsText = () => `valid forms: ${ATTACK_FORMS.join(', ')}`;

function count(text: string, digits: string, what: string): number {
  const v = Number(digits);
  if (!Number.isSafeInteger(v) || v < 1 || v > MAX_STEPS) throw new AttackNameError(`attack "${text}": the ${what} must be a whole number in 1..${MAX_STEPS}; ${formsText()}`);
  return v;
}

/** Parses one attack name (case-insensitive). Throws AttackNameError listing the valid forms. */
export function parseAttack(text: string): AttackSpec {
  const s = String(text).trim().toLowerCase();
  let m: RegExpMatchArray | null;
  if (s === 'fgsm') return { name: s, kind: 'fgsm' };
  if (s === 'autoattack' || s === 'aa') return { name: 'autoattack', kind: 'autoattack' };
  if ((m = s.match(/^(pgd|cw)(?:-?(\d+))?$/))) {
    if (m[2] === undefined) throw new AttackNameError(`attack "${text}" needs a step count, e.g. ${m[1]}20; ${formsText()}`);
    const steps = count(text, m[2], 'step count');
    return { name: `${m[1]}${steps}`, kind: 'pgd', steps, loss: m[1] === 'pgd' ? 'ce' : 'cw' };
  }
  if ((m = s.match(/^apgd-(ce|t)(?:-?(\d+))?$/))) {
    const steps = m[2] === undefined ? undefined : count(text, m[2], 'iteration count');
    const name = `apgd-${m[1]}${steps === undefined ? '' : steps}`;
    return m[1] === 'ce' ? { name, kind: 'apgd-ce', steps } : { name, kind: 'apgd-t', steps };
  }
  if ((m = s.match(/^square(?:-?(\d+))?$/))) {
    const queries = m[1] === undefined ? undefined : count(text, m[1], 'query budget');
    return { name: `square${queries === undefined ? '' : queries}`, kind: 'square', queries };
  }
  throw new AttackNameError(`unknown attack "${text}"; ${formsText()}`);
}

/** Parses a comma-separated list (or an array) of attack names; rejects empty lists and repeats. */
export function parseAttackList(list: string | readonly (string | AttackSpec)[]): AttackSpec[] {
  const items = typeof list === 'string' ? list.split(',').map((t) => t.trim()).filter((t) => t.length) : [...list];
  if (!items.length) throw new AttackNameError(`no attacks given; ${formsText()}`);
  const specs = items.map((it) => (typeof it === 'string' ? parseAttack(it) : it));
  const seen = new Set<string>();
  for (const sp of specs) {
    if (seen.has(sp.name)) throw new AttackNameError(`attack "${sp.name}" is listed twice`);
    seen.add(sp.name);
  }
  return specs;
}
