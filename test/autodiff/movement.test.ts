import { describe, expect, it } from 'vitest';
import { checkGradient, opCase, type FdInput } from './fd.js';
import { Rng } from '../../src/util/rng.js';

const randShape = (rng: Rng, rank: number, lo = 1, hi = 4) => Array.from({ length: rank }, () => lo + rng.int(hi - lo + 1));
const ints = (name: string, values: number[], shape = [values.length]): FdInput => ({ name, shape, kind: 'int64', values, constant: true });
const SEEDS = [1, 2, 3, 4, 5];

describe('movement op gradients', () => {
  for (const seed of SEEDS) {
    it(`Transpose / Squeeze / Unsqueeze (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const rank = 2 + rng.int(3);
      const shape = randShape(rng, rank);
      const perm = Array.from(rng.permutation(rank));
      expect((await checkGradient(opCase('Transpose', [{ name: 'x', shape }], { perm }, { seed }))).dtype).toBe('float64');
      await checkGradient(opCase('Transpose', [{ name: 'x', shape }], {}, { seed })); // default: reversed axes
      const sq = [...shape];
      const at = rng.int(rank + 1);
      sq.splice(at, 0, 1);
      await checkGradient(opCase('Squeeze', [{ name: 'x', shape: sq }, ints('axes', [at - (rng.int(2) ? sq.length : 0)])], {}, { seed }));
      await checkGradient(opCase('Squeeze', [{ name: 'x', shape: sq }], {}, { seed })); // no axes: all 1-dims
      await checkGradient(opCase('Unsqueeze', [{ name: 'x', shape }, ints('axes', [0, -1])], {}, { seed }));
    });

    it(`Concat and Split with unused outputs (seed ${seed})`, async () => {
      const rng = new Rng(seed + 10);
      const rank = 1 + rng.int(3);
      const base = randShape(rng, rank);
      const axis = rng.int(rank);
      const k = 2 + rng.int(2);
      const inputs: FdInput[] = Array.from({ length: k }, (_, i) => ({ name: `x${i}`, shape: base.map((d, j) => (j === axis ? 1 + rng.int(3) : d)) }));
      await checkGradient(opCase('Concat', inputs, { axis: axis - (rng.int(2) ? rank : 0) }, { seed }));
      // Only some inputs differentiated.
      await checkGradient(opCase('Concat', inputs, { axis }, { seed, wrt: ['x1'] }));
      const sizes = Array.from({ length: k }, () => 1 + rng.int(3));
      const shape = base.map((d, j) => (j === axis ? sizes.reduce((a, v) => a + v, 0) : d));
      const use = [0, k - 1]; // middle outputs unused: their dy is null and must be filled with zeros
      await checkGradient(opCase('Split', [{ name: 'x', shape }, ints('split', sizes)], { axis }, { seed, outputs: k, use }));
      const even = base.map((d, j) => (j === axis ? 2 * k : d));
      await checkGradient(opCase('Split', [{ name: 'x', shape: even }], { axis }, { seed, outputs: k, use: [1] }));
    });

    it(`Slice with random starts/ends/axes/steps incl. negative (seed ${seed})`, async () => {
      const rng = new Rng(seed + 20);
      for (let t = 0; t < 4; t++) {
        const rank = 1 + rng.int(3);
        const shape = randShape(rng, rank, 2, 6);
        const nAxes = 1 + rng.int(rank);
        const axes = Array.from(rng.permutation(rank)).slice(0, nAxes);
        const starts: number[] = [], ends: number[] = [], steps: number[] = [];
        for (const a of axes) {
          const d = shape[a];
          const step = [1, 1, 2, 3, -1, -2][rng.int(6)];
          let s = rng.int(d), e = rng.int(d + 1);
          if (step > 0 && e <= s) [s, e] = [e, s + 1];
          if (step < 0 && e >= s) [s, e] = [Math.max(e, 1), s - 1];
          if (rng.int(3) === 0) s -= d; // negative start
          if (step < 0 && e === -1) e = -(2 ** 31); // "to the beginning"
          if (step > 0 && rng.int(4) === 0) e = 1000; // clamped end
          starts.push(s); ends.push(e); steps.push(step);
        }
        const negAxes = axes.map((a) => (rng.int(2) ? a - rank : a));
        await checkGradient(opCase('Slice', [{ name: 'x', shape }, ints('starts', starts), ints('ends', ends), ints('axes', negAxes), ints('steps', steps)], {}, { seed: seed * 10 + t }));
      }
      // starts/ends only (axes and steps omitted).
      await checkGradient(opCase('Slice', [{ name: 'x', shape: [4, 5] }, ints('starts', [1, -3]), ints('ends', [3, 5])], {}, { seed }));
    });

    it(`Pad constant (incl. negative pads, constant_value), edge, reflect (seed ${seed})`, async () => {
      const rng = new Rng(seed + 30);
      const rank = 1 + rng.int(3);
      const shape = randShape(rng, rank, 2, 4);
      const pads = Array.from({ length: 2 * rank }, (_, i) => rng.int(3) - (rng.int(4) === 0 ? Math.min(1, shape[i % rank] - 1) : 0));
      await checkGradient(opCase('Pad', [{ name: 'x', shape }, ints('pads', pads)], {}, { seed }));
      await checkGradient(opCase('Pad', [{ name: 'x', shape }, ints('pads', pads), { name: 'v', shape: [] }], {}, { seed }));
      const pos = pads.map((p) => Math.max(0, p));
      await checkGradient(opCase('Pad', [{ name: 'x', shape }, ints('pads', pos)], { mode: 'edge' }, { seed }));
      // reflect needs pads < dim
      const refl = pos.map((p, i) => Math.min(p, shape[i % rank] - 1));
      await checkGradient(opCase('Pad', [{ name: 'x', shape }, ints('pads', refl)], { mode: 'reflect' }, { seed }));
    });

    it(`Gather with repeated and negative indices (seed ${seed})`, async () => {
      const rng = new Rng(seed + 40);
      const rank = 1 + rng.int(3);
      const shape = randShape(rng, rank, 2, 4);
      const axis = rng.int(rank);
      const d = shape[axis];
      const idxShape = randShape(rng, rng.int(3), 1, 3); // rank 0..2
      const n = idxShape.reduce((a, v) => a * v, 1);
      const idx = Array.from({ length: n }, () => rng.int(2 * d) - d); // in [-d, d)
      await checkGradient(opCase('Gather', [{ name: 'x', shape }, ints('i', idx, idxShape)], { axis: rng.int(2) ? axis - rank : axis }, { seed }));
      // Indices as a graph input (not constant): normalised in the graph.
      await checkGradient(opCase('Gather', [{ name: 'x', shape }, { name: 'i', shape: idxShape, kind: 'int64', values: idx }], { axis }, { seed }));
    });

    it(`Expand and Tile (seed ${seed})`, async () => {
      const rng = new Rng(seed + 50);
      const rank = 1 + rng.int(3);
      const shape = randShape(rng, rank, 1, 3).map((d) => (rng.int(2) ? 1 : d));
      const target = [...(rng.int(2) ? [2] : []), ...shape.map((d) => (d === 1 ? 1 + rng.int(3) : d))];
      await checkGradient(opCase('Expand', [{ name: 'x', shape }, ints('s', target)], {}, { seed }));
      // Expand's shape may itself hold 1s where x is larger (the result keeps x's dim).
      await checkGradient(opCase('Expand', [{ name: 'x', shape: [2, 3] }, ints('s', [1, 3])], {}, { seed }));
      const reps = shape.map(() => 1 + rng.int(3));
      await checkGradient(opCase('Tile', [{ name: 'x', shape }, ints('r', reps)], {}, { seed }));
    });
  }
});
