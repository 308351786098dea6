// Finite-difference checks of the rules modern classifier exports need: Erf and Gelu (ViT,
// ConvNeXt), HardSigmoid and HardSwish (MobileNetV3), Mish, Elu, Selu, Celu, Softsign,
// ThresholdedRelu, PRelu, Reciprocal, LayerNormalization, InstanceNormalization, LRN, GlobalMaxPool
// and Mean, on random shapes and attributes; then small blocks built the way exporters write them.
import { describe, expect, it } from 'vitest';
import { checkGradient, opCase } from './fd.js';
import { parseEinsum } from '../../src/autodiff/rules/einsum.js';
import { Rng } from '../../src/util/rng.js';
import { DataType, tensor } from '../../src/onnx/ir.js';

const SEEDS = [1, 2, 3];
const randShape = (rng: Rng, minRank = 1, maxRank = 3, maxDim = 4): number[] =>
  Array.from({ length: minRank + rng.int(maxRank - minRank + 1) }, () => 1 + rng.int(maxDim));
/** Uniform values in [lo, hi] at least 0.1 from every kink, so central differences never straddle one. */
function awayFrom(rng: Rng, kinks: number[], shape: number[], lo: number, hi: number): number[] {
  const n = shape.reduce((a, d) => a * d, 1);
  return Array.from({ length: n }, () => {
    for (;;) {
      const v = rng.uniform(lo, hi);
      if (kinks.every((k) => Math.abs(v - k) > 0.1)) return v;
    }
  });
}

describe('activations of modern classifiers', () => {
  for (const seed of SEEDS) {
    it(`Erf, Gelu (exact and tanh), Mish, Softsign (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      for (const op of ['Erf', 'Softsign']) await checkGradient(opCase(op, [{ name: 'x', shape: randShape(rng), range: [-3, 3] }], {}, { seed }));
      await checkGradient(opCase('Mish', [{ name: 'x', shape: randShape(rng), range: [-3, 3] }], {}, { seed, opset: 18 }));
      for (const approximate of ['none', 'tanh']) {
        await checkGradient(opCase('Gelu', [{ name: 'x', shape: randShape(rng), range: [-4, 4] }], { approximate }, { seed, opset: 20 }));
      }
      await checkGradient(opCase('Gelu', [{ name: 'x', shape: randShape(rng), range: [-4, 4] }], {}, { seed, opset: 20 }));
    });

    it(`HardSigmoid, HardSwish, ThresholdedRelu across their pieces (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const x = (kinks: number[]) => {
        const shape = randShape(rng, 2, 3, 5);
        return { name: 'x', shape, values: awayFrom(rng, kinks, shape, -6, 6) };
      };
      const [alpha, beta] = [rng.uniform(0.1, 0.5), rng.uniform(0.3, 0.7)];
      await checkGradient(opCase('HardSigmoid', [x([-beta / alpha, (1 - beta) / alpha])], { alpha, beta }, { seed }));
      await checkGradient(opCase('HardSigmoid', [x([-2.5, 2.5])], {}, { seed }));
      await checkGradient(opCase('HardSwish', [x([-3, 3])], {}, { seed, opset: 14 }));
      const t = rng.uniform(-1, 2);
      await checkGradient(opCase('ThresholdedRelu', [x([t])], { alpha: t }, { seed }));
      await checkGradient(opCase('ThresholdedRelu', [x([1])], {}, { seed }));
    });

    it(`Elu, Selu, Celu with random and default attributes (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const x = () => ({ name: 'x', shape: randShape(rng), range: [-3, 3] as [number, number] });
      await checkGradient(opCase('Elu', [x()], { alpha: rng.uniform(0.2, 2) }, { seed }));
      await checkGradient(opCase('Elu', [x()], {}, { seed }));
      await checkGradient(opCase('Selu', [x()], { alpha: rng.uniform(0.5, 2), gamma: rng.uniform(0.5, 1.5) }, { seed }));
      await checkGradient(opCase('Selu', [x()], {}, { seed }));
      // ORT's Celu is float32 only.
      await checkGradient(opCase('Celu', [x()], { alpha: rng.uniform(0.3, 2) }, { seed, dtype: 'float32' }));
      await checkGradient(opCase('Celu', [x()], {}, { seed, dtype: 'float32' }));
    });

    it(`PRelu with a per-channel, a scalar and a full slope; Reciprocal (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const [n, c, h, w] = [1 + rng.int(3), 1 + rng.int(4), 1 + rng.int(3), 1 + rng.int(3)];
      for (const slope of [[c, 1, 1], [1], [n, c, h, w], [w]]) {
        await checkGradient(opCase('PRelu', [{ name: 'x', shape: [n, c, h, w] }, { name: 'slope', shape: slope, range: [-0.5, 0.5] }], {}, { seed }));
      }
      const shape = randShape(rng);
      const size = shape.reduce((a, d) => a * d, 1);
      const away = Array.from({ length: size }, () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.5, 2));
      await checkGradient(opCase('Reciprocal', [{ name: 'x', shape, values: away }], {}, { seed }));
    });
  }
});

describe('normalisation and pooling', () => {
  for (const seed of SEEDS) {
    it(`LayerNormalization over a random axis, with and without bias (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const shape = randShape(rng, 2, 4, 4).map((d) => d + 1);
      const axis = rng.int(shape.length) - (rng.next() < 0.5 ? shape.length : 0); // negative half the time
      const norm = shape.slice(axis < 0 ? axis + shape.length : axis);
      const epsilon = rng.uniform(1e-5, 1e-2);
      await checkGradient(opCase('LayerNormalization', [{ name: 'x', shape }, { name: 'scale', shape: norm }, { name: 'bias', shape: norm }], { axis, epsilon }, { seed }));
      await checkGradient(opCase('LayerNormalization', [{ name: 'x', shape }, { name: 'scale', shape: norm }], { axis }, { seed }));
    });

    it(`InstanceNormalization on rank 3 and 4 (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      for (const rank of [3, 4]) {
        const c = 1 + rng.int(3);
        const shape = [1 + rng.int(2), c, ...Array.from({ length: rank - 2 }, () => 2 + rng.int(3))];
        await checkGradient(opCase('InstanceNormalization', [{ name: 'x', shape }, { name: 'scale', shape: [c] }, { name: 'bias', shape: [c] }], { epsilon: rng.uniform(1e-5, 1e-2) }, { seed }));
      }
    });

    it(`LRN with random window sizes, alpha, beta, bias (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      // ORT's LRN kernel takes odd sizes only (the rule follows the spec's window for even ones too).
      for (const size of [1 + 2 * rng.int(2), 3 + 2 * rng.int(3)]) {
        const c = size + rng.int(3);
        const shape = [1 + rng.int(2), c, 1 + rng.int(3), 1 + rng.int(3)];
        await checkGradient(opCase('LRN', [{ name: 'x', shape }], { size, alpha: rng.uniform(1e-3, 0.5), beta: rng.uniform(0.5, 1), bias: rng.uniform(0.5, 2) }, { seed }));
      }
    });

    it(`GlobalMaxPool and Mean with broadcasting (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const shape = [1 + rng.int(2), 1 + rng.int(3), 1 + rng.int(4), 1 + rng.int(4)];
      await checkGradient(opCase('GlobalMaxPool', [{ name: 'x', shape }], {}, { seed }));
      await checkGradient(opCase('GlobalMaxPool', [{ name: 'x', shape: shape.slice(0, 3) }], {}, { seed }));
      const s = randShape(rng, 2, 3);
      await checkGradient(opCase('Mean', [{ name: 'a', shape: s }, { name: 'b', shape: s.slice(1) }, { name: 'c', shape: [1, ...s.slice(1)] }], {}, { seed }));
    });
  }
});

describe('Resize (nearest and linear, the coordinate transforms, scales or sizes)', () => {
  const cases: [string, Record<string, unknown>, 'scales' | 'sizes'][] = [
    ['linear', { coordinate_transformation_mode: 'half_pixel' }, 'scales'],
    ['linear', { coordinate_transformation_mode: 'align_corners' }, 'sizes'],
    ['linear', { coordinate_transformation_mode: 'pytorch_half_pixel' }, 'sizes'],
    ['linear', { coordinate_transformation_mode: 'asymmetric' }, 'scales'],
    ['nearest', {}, 'sizes'],
    ['nearest', { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, 'scales'],
    ['nearest', { coordinate_transformation_mode: 'tf_half_pixel_for_nn', nearest_mode: 'round_prefer_ceil' }, 'sizes'],
    ['nearest', { coordinate_transformation_mode: 'align_corners', nearest_mode: 'ceil' }, 'sizes'],
  ];
  for (const seed of SEEDS) {
    it(`matches ORT's Resize on random sizes, up and down (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      for (const [mode, attrs, by] of cases) {
        const [n, c, h, w] = [1 + rng.int(2), 1 + rng.int(2), 2 + rng.int(4), 2 + rng.int(4)];
        const scale = () => [0.5, 1.5, 2, 3, 0.75][rng.int(5)];
        const [sh, sw] = [scale(), scale()];
        const sizes = [n, c, Math.max(1, Math.round(h * sh)), Math.max(1, Math.round(w * sw))];
        await checkGradient({
          seed, opset: 13,
          inputs: [{ name: 'x', shape: [n, c, h, w] }],
          build: (b, nm) => {
            // Scales are float32 whatever the tested dtype.
            const t = by === 'scales' ? b.constant(tensor('', DataType.FLOAT, [4], [1, 1, sh, sw])) : b.constI64(sizes);
            return [b.op('Resize', by === 'scales' ? [nm.x, '', t] : [nm.x, '', '', t], { mode, ...attrs } as never)];
          },
        });
      }
    });
  }
});

describe('Einsum', () => {
  // Matmul, attention, contractions to a scalar, an outer product, a transpose, a sum that drops an
  // axis (its gradient has to be expanded back), three operands.
  const equations = ['ij,jk->ik', 'bhqd,bhkd->bhqk', 'bhqk,bhkd->bhqd', 'ij->i', 'i,j->ij', 'ijk->kji', 'ij,ij->', 'bij,j->bi', 'ij,jk,kl->il', 'bij->j'];
  for (const seed of SEEDS) {
    it(`matches finite differences on random dims (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      for (const equation of equations) {
        const dim = new Map<string, number>();
        for (const ch of equation.replace(/[^a-z]/g, '')) if (!dim.has(ch)) dim.set(ch, 1 + rng.int(3));
        const operands = equation.split('->')[0].split(',');
        await checkGradient({
          seed,
          inputs: operands.map((t, i) => ({ name: `x${i}`, shape: [...t].map((ch) => dim.get(ch)!) })),
          build: (b, n) => [b.op('Einsum', operands.map((_, i) => n[`x${i}`]), { equation })],
        });
      }
    });
  }

  it('an equation it cannot differentiate names the node and why', async () => {
    await expect(checkGradient({ inputs: [{ name: 'a', shape: [2, 2] }], build: (b, n) => [b.op('Einsum', [n.a], { equation: 'ii->i' }, { name: 'my_einsum' })] }))
      .rejects.toThrow(/Einsum "my_einsum_node" \("ii->i"\): a letter repeated within "ii" \(a diagonal\)/);
    expect(() => parseEinsum('...ij,jk->...ik', 'n')).toThrow(/ellipsis/);
    expect(() => parseEinsum('ij,jk', 'n')).toThrow(/output subscripts must be explicit/);
    expect(parseEinsum(' bhqd, bhkd -> bhqk ', 'n')).toEqual({ inputs: ['bhqd', 'bhkd'], output: 'bhqk' });
  });
});

describe('blocks as exporters write them', () => {
  it('a ViT encoder block: LayerNormalization, attention (MatMul, Softmax), Erf-GELU MLP, residuals', async () => {
    const [B, T, D] = [2, 3, 4];
    const r = await checkGradient({
      seed: 7,
      inputs: [
        { name: 'x', shape: [B, T, D] }, { name: 'g1', shape: [D] }, { name: 'b1', shape: [D] },
        { name: 'wq', shape: [D, D] }, { name: 'wk', shape: [D, D] }, { name: 'wv', shape: [D, D] },
        { name: 'g2', shape: [D] }, { name: 'w1', shape: [D, 2 * D] }, { name: 'w2', shape: [2 * D, D] },
      ],
      build: (b, n) => {
        const ln1 = b.op('LayerNormalization', [n.x, n.g1, n.b1], { axis: -1, epsilon: 1e-6 });
        const q = b.matmul(ln1, n.wq), k = b.matmul(ln1, n.wk), v = b.matmul(ln1, n.wv);
        const scores = b.mul(b.matmul(q, b.transpose(k, [0, 2, 1])), b.constant(tensor('', b.dtype(n.x), [], [1 / Math.sqrt(D)])));
        const h = b.add(n.x, b.matmul(b.softmax(scores, -1), v));
        const ln2 = b.op('LayerNormalization', [h, n.g2], { axis: -1 });
        // torch's exact GELU as exported before opset 20: x * 0.5 * (1 + erf(x / sqrt 2))
        const u = b.matmul(ln2, n.w1);
        const half = b.constant(tensor('', b.dtype(n.x), [], [0.5]));
        const gelu = b.mul(b.mul(u, half), b.add(b.op('Erf', [b.div(u, b.constant(tensor('', b.dtype(n.x), [], [Math.SQRT2])))]), b.constant(tensor('', b.dtype(n.x), [], [1]))));
        return [b.add(h, b.matmul(gelu, n.w2))];
      },
    });
    expect(r.checks).toBeGreaterThan(30);
  });

  it('a MobileNetV3 block: depthwise Conv, HardSwish, squeeze-excite with HardSigmoid, InstanceNorm, PRelu', async () => {
    const C = 3;
    const r = await checkGradient({
      // ORT has no float64 HardSigmoid, HardSwish, InstanceNormalization or global pooling, so this
      // runs in float32, where the step must be large enough to beat rounding. A random direction
      // moves every input at once and then often crosses one of the block's many kinks (ReLU,
      // HardSwish, HardSigmoid, PRelu, the max); probing one coordinate at a time does not.
      seed: 8, opset: 14, directions: 0, probes: 12,
      inputs: [
        { name: 'x', shape: [2, C, 5, 5] }, { name: 'dw', shape: [C, 1, 3, 3] }, { name: 'fc1', shape: [2, C, 1, 1] },
        { name: 'fc2', shape: [C, 2, 1, 1] }, { name: 'gamma', shape: [C] }, { name: 'beta', shape: [C] }, { name: 'slope', shape: [C, 1, 1], range: [0.05, 0.3] },
      ],
      build: (b, n) => {
        const d = b.op('HardSwish', [b.conv(n.x, n.dw, undefined, { group: C, kernel_shape: [3, 3], pads: [1, 1, 1, 1] })]);
        const se = b.op('HardSigmoid', [b.conv(b.relu(b.conv(b.globalAveragePool(d), n.fc1)), n.fc2)], { alpha: 1 / 6, beta: 0.5 });
        const y = b.op('InstanceNormalization', [b.mul(d, se), n.gamma, n.beta]);
        return [b.op('GlobalMaxPool', [b.op('PRelu', [y, n.slope])])];
      },
    });
    expect(r.checks).toBeGreaterThan(20);
  });
});
