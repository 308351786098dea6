// What each listed attack runs: its stages (one, or AutoAttack's APGD-CE, APGD-T and Square), the
// parameters the report shows, and each stage's estimated cost per example (for progress).
import { apgd } from './apgd.js';
import type { Attack, Norm } from './common.js';
import type { AttackSpec } from './names.js';
import { fgsm, pgd } from './pgd.js';
import { square } from './square.js';

export interface Stage { name: string; run: Attack; cost: number }

export interface Resolved {
  spec: AttackSpec;
  params: Record<string, number | string>;
  stages: Stage[];
}

/** The settings stages are resolved with (EvaluateOptions with their defaults, and the model's class count). */
export interface StageSettings {
  restarts: number; apgdSteps: number; targets: number; squareQueries: number; squarePInit: number;
  stepSize?: number; eps: number; norm: Norm; classes: number;
}

export function resolveStages(spec: AttackSpec, o: StageSettings): Resolved {
  const R = o.restarts;
  const targets = Math.min(o.targets, o.classes - 1);
  const squareNeedsLinf = (name: string) => {
    if (o.norm !== 'linf') throw new Error(`${name} is L-inf only (it uses the Square Attack); use fgsm, pgd<k>, cw<k>, apgd-ce or apgd-t for L2`);
  };
  switch (spec.kind) {
    case 'fgsm':
      return { spec, params: { restarts: R }, stages: [{ name: spec.name, cost: 2 * R, run: (c, b) => fgsm(c, b, { restarts: R }) }] };
    case 'pgd': {
      const stepSize = o.stepSize ?? (2.5 * o.eps) / spec.steps;
      return {
        spec, params: { steps: spec.steps, loss: spec.loss, stepSize, restarts: R },
        stages: [{ name: spec.name, cost: (spec.steps + 1) * R, run: (c, b) => pgd(c, b, { steps: spec.steps, loss: spec.loss, stepSize, restarts: R }) }],
      };
    }
    case 'apgd-ce': {
      const steps = spec.steps ?? o.apgdSteps;
      return { spec, params: { steps, loss: 'ce', restarts: R }, stages: [{ name: spec.name, cost: (steps + 1) * R, run: (c, b) => apgd(c, b, { steps, restarts: R, loss: 'ce' }) }] };
    }
    case 'apgd-t': {
      const steps = spec.steps ?? o.apgdSteps;
      if (o.classes < 4) throw new Error(`apgd-t needs at least 4 classes (targeted DLR); the model has ${o.classes}`);
      return {
        spec, params: { steps, loss: 'dlr-targeted', targets, restarts: R },
        stages: [{ name: spec.name, cost: (steps + 1) * targets * R, run: (c, b) => apgd(c, b, { steps, restarts: R, loss: 'dlr-t', targets }) }],
      };
    }
    case 'square': {
      squareNeedsLinf('square');
      const queries = spec.queries ?? o.squareQueries;
      return { spec, params: { queries, pInit: o.squarePInit, restarts: R, loss: 'margin' }, stages: [{ name: spec.name, cost: (queries / 3) * R, run: (c, b) => square(c, b, { queries, pInit: o.squarePInit, restarts: R }) }] };
    }
    case 'autoattack': {
      squareNeedsLinf('autoattack');
      const steps = o.apgdSteps;
      if (o.classes < 4) throw new Error(`autoattack needs at least 4 classes (APGD-T's targeted DLR); the model has ${o.classes}`);
      return {
        spec, params: { apgdSteps: steps, targets, squareQueries: o.squareQueries, squarePInit: o.squarePInit },
        stages: [
          { name: 'apgd-ce', cost: steps + 1, run: (c, b) => apgd(c, b, { steps, restarts: 1, loss: 'ce' }) },
          // Later stages see few examples; their cost estimates are scaled down accordingly.
          { name: 'apgd-t', cost: ((steps + 1) * targets) / 4, run: (c, b) => apgd(c, b, { steps, restarts: 1, loss: 'dlr-t', targets }) },
          { name: 'square', cost: o.squareQueries / 3 / 4, run: (c, b) => square(c, b, { queries: o.squareQueries, pInit: o.squarePInit, restarts: 1 }) },
        ],
      };
    }
    case 'custom':
      return { spec, params: spec.params ?? {}, stages: [{ name: spec.name, cost: 1, run: spec.run }] };
    default:
      throw new Error(`unhandled attack ${(spec as AttackSpec).name}`);
  }
}
