// Every adversarial batch is checked before it is counted:
//   - every value finite and inside [0, 1];
//   - inside the eps-ball around its clean image (L-inf: |x_adv - x| <= eps + 1e-6; L2: ||x_adv - x||_2
//     <= eps * (1 + 1e-6) + 1e-6, the slack covering float32 rounding);
//   - robustness decided by a fresh forward pass on the adversarial images, never by the attack's
//     own bookkeeping; an attack that claims to have fooled an example the fresh pass classifies
//     correctly is a bug and throws, unless the fresh margin is a float-rounding tie (<= 1e-4 * max(1, |z|_max)),
//     which is counted as robust and reported in `nearTies`.
import { argmaxRow, marginRow, type Norm } from './common.js';
import { AttackModelError } from './model.js';

export class AttackInvariantError extends Error {
  constructor(message: string) { super(message); this.name = 'AttackInvariantError'; }
}

export const EPS_TOLERANCE = 1e-6;
const TIE_TOLERANCE = 1e-4;

/** Checks the invariants of one adversarial batch; returns the largest perturbation. */
export function checkPerturbation(x0: Float32Array, xAdv: Float32Array, m: number, D: number, eps: number, norm: Norm, what: string): number {
  if (xAdv.length !== m * D) throw new AttackInvariantError(`${what}: returned ${xAdv.length} values for ${m} images of ${D}`);
  let maxP = 0;
  for (let i = 0; i < m; i++) {
    let linf = 0, l2 = 0;
    for (let k = i * D; k < (i + 1) * D; k++) {
      const v = xAdv[k];
      if (Number.isNaN(v)) throw new AttackModelError(`${what}: the model's input gradient is NaN for example ${i} (its weights hold NaN/Inf or an op overflows); check the weights (generalist inspect) and the input scaling`);
      if (!(v >= 0 && v <= 1)) throw new AttackInvariantError(`${what}: example ${i} has the value ${v} at ${k - i * D}, outside [0, 1]`);
      const d = Math.abs(v - x0[k]);
      if (d > linf) linf = d;
      l2 += d * d;
    }
    l2 = Math.sqrt(l2);
    if (norm === 'linf' && linf > eps + EPS_TOLERANCE) throw new AttackInvariantError(`${what}: example ${i} is ${linf} away from its image in L-inf, outside the eps-ball (eps ${eps})`);
    if (norm === 'l2' && l2 > eps * (1 + EPS_TOLERANCE) + EPS_TOLERANCE) throw new AttackInvariantError(`${what}: example ${i} is ${l2} away from its image in L2, outside the eps-ball (eps ${eps})`);
    maxP = Math.max(maxP, norm === 'linf' ? linf : l2);
  }
  return maxP;
}

/**
 * Whether each of m examples stays robust under the fresh pass's `logits` (row j has label y[j]);
 * throws where the attack claimed a success that the fresh pass overturns by more than a tie.
 * Returns the flags and the number of ties.
 */
export function verifyClaims(logits: Float32Array, C: number, y: ArrayLike<number>, claimed: Uint8Array, what: string, exampleId: (j: number) => number): { robust: boolean[]; nearTies: number } {
  let nearTies = 0;
  const robust = Array.from({ length: y.length }, (_, j) => {
    const ok = argmaxRow(logits, C, j) === y[j];
    if (ok && claimed[j]) {
      const margin = marginRow(logits, C, j, y[j]);
      let scale = 1;
      for (let c = 0; c < C; c++) scale = Math.max(scale, Math.abs(logits[j * C + c]));
      if (margin > TIE_TOLERANCE * scale) {
        throw new AttackInvariantError(`${what}: the attack claims example ${exampleId(j)} is misclassified, but a fresh forward pass classifies it correctly (margin ${margin})`);
      }
      nearTies++;
    }
    return ok;
  });
  return { robust, nearTies };
}
