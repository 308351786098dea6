// A seeded, bounded fuzz test of inspect, artifacts and eval (each loading the file) on tiny models: byte-level
// mutations (bit flips, byte overwrites, truncations, spliced ranges) and structural ones (op types,
// attributes, dims, declared shapes, dropped inputs, NaN weights). Every outcome must be a success
// or one of the errors the CLI prints as a message (EXPECTED_ERRORS), never a TypeError, RangeError,
// an attack-invariant failure or a hang (the test's own time bound).
import { describe, expect, it } from 'vitest';
import { buildArtifacts } from '../src/artifacts/build.js';
import { evaluateRobustness } from '../src/attacks/evaluate.js';
import { confirmInOrt, describeModel } from '../src/cli/commands/inspect.js';
import { EXPECTED_ERRORS } from '../src/cli/main.js';
import { GraphBuilder, f32 } from '../src/onnx/builder.js';
import { DataType, type Model } from '../src/onnx/ir.js';
import { loadModel } from '../src/onnx/load.js';
import { OnnxError } from '../src/onnx/errors.js';
import { saveModel } from '../src/onnx/save.js';
import { Rng } from '../src/util/rng.js';

/** Conv -> Relu -> MaxPool -> Flatten -> Gemm on 1x6x6 images, 4 classes. */
function convNet(): Model {
  const b = new GraphBuilder({ opset: 17 });
  let x = b.input('input', DataType.FLOAT, ['N', 1, 6, 6]);
  const w = (name: string, dims: number[]) => b.initializer(name, f32(dims, Array.from({ length: dims.reduce((p, q) => p * q, 1) }, (_, i) => ((i % 7) - 3) / 10)));
  x = b.node('Conv', [x, w('conv.w', [2, 1, 3, 3]), w('conv.b', [2])], { pads: [1, 1, 1, 1], strides: [1, 1] }, { name: 'conv' })[0];
  x = b.node('Relu', [x], {}, { name: 'relu' })[0];
  x = b.node('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool' })[0];
  x = b.node('Flatten', [x], { axis: 1 }, { name: 'flat' })[0];
  b.output(b.node('Gemm', [x, w('fc.w', [18, 4]), w('fc.b', [4])], {}, { name: 'fc' })[0], 'logits');
  return b.build();
}

/** Flatten -> Gemm -> Relu -> Gemm -> Softmax on 1x6x6 images, 4 classes. */
function mlp(): Model {
  const b = new GraphBuilder({ opset: 17 });
  const w = (name: string, dims: number[]) => b.initializer(name, f32(dims, Array.from({ length: dims.reduce((p, q) => p * q, 1) }, (_, i) => ((i % 5) - 2) / 10)));
  let x = b.node('Flatten', [b.input('input', DataType.FLOAT, ['N', 1, 6, 6])], { axis: 1 }, { name: 'flat' })[0];
  x = b.node('Gemm', [x, w('h.w', [36, 8]), w('h.b', [8])], {}, { name: 'hidden' })[0];
  x = b.node('Relu', [x], {}, { name: 'relu' })[0];
  x = b.node('Gemm', [x, w('o.w', [8, 4])], {}, { name: 'out' })[0];
  b.output(b.node('Softmax', [x], { axis: 1 }, { name: 'softmax' })[0], 'probs');
  return b.build();
}

type Mutation = (m: Model, rng: Rng) => void;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];
const nodeOf = (m: Model, rng: Rng) => pick(rng, m.graph.nodes);

/** Structural mutations: what a careless exporter or a hand edit produces. */
const STRUCTURAL: Mutation[] = [
  (m, r) => { nodeOf(m, r).opType = pick(r, ['Relq', 'Conv', 'Gemm', 'Identity', 'Softmax', 'MaxPool', 'Add', 'Reshape']); },
  (m, r) => { const n = nodeOf(m, r); const k = pick(r, ['strides', 'pads', 'dilations', 'kernel_shape', 'group', 'axis', 'transB']); n.attributes[k] = pick(r, [{ type: 'ints', value: [0, 0] }, { type: 'ints', value: [-1, 2, 0, 1] }, { type: 'int', value: pick(r, [0, -3, 3, 1000]) }, { type: 'ints', value: [9, 9] }]) as never; },
  (m, r) => { const t = pick(r, [...m.graph.initializers.values()]); t.dims = t.dims.map((d) => d + pick(r, [-1, 1, 0])); },
  (m, r) => { const o = m.graph.outputs[0]; m.graph.outputs[0] = { ...o, shape: ['N', pick(r, [1, 3, 7, 10])] }; },
  (m, r) => { const n = nodeOf(m, r); n.inputs = n.inputs.slice(0, r.int(n.inputs.length)); },
  (m, r) => { const t = pick(r, [...m.graph.initializers.values()]); (t.data as Float32Array)[r.int(t.data.length)] = pick(r, [NaN, Infinity, -Infinity, 3e38]); },
  (m, r) => { const v = m.graph.inputs[0]; m.graph.inputs[0] = { ...v, shape: pick(r, [['N', 1, 6], ['N', 3, 6, 6], [1, 1, 6, 6], ['N', 1, 1, 1], ['N', 0, 6, 6]]) }; },
  (m, r) => { m.graph.nodes.splice(r.int(m.graph.nodes.length), 1); },
  (m, r) => { const n = nodeOf(m, r); n.inputs[0] = pick(r, [...m.graph.initializers.keys()]); },
];

/** Byte-level mutations of the serialized model. */
function mutateBytes(bytes: Uint8Array, rng: Rng): Uint8Array {
  const b = bytes.slice();
  switch (rng.int(4)) {
    case 0: for (let k = 1 + rng.int(3); k > 0; k--) b[rng.int(b.length)] ^= 1 << rng.int(8); return b;
    case 1: b[rng.int(b.length)] = pick(rng, [0, 0x7f, 0x80, 0xff, 0x08, 0x12]); return b;
    case 2: return b.subarray(0, rng.int(b.length));
    default: { const s = rng.int(b.length), e = Math.min(b.length, s + 1 + rng.int(16)); const at = rng.int(b.length); return new Uint8Array([...b.subarray(0, at), ...b.subarray(s, e), ...b.subarray(at)]); }
  }
}

const EVAL_DATA = { images: Float32Array.from({ length: 4 * 36 }, (_, i) => (i % 11) / 10), labels: [0, 1, 2, 3], shape: [1, 6, 6] };
const expected = (e: unknown) => EXPECTED_ERRORS.some((C) => e instanceof C);

type Outcome = 'accepted' | 'clean' | 'crash';

/** One command on one file: success, a typed error, or a crash (recorded). */
async function command(name: string, label: string, crashes: string[], f: () => unknown): Promise<Outcome> {
  try {
    await f();
    return 'accepted';
  } catch (e) {
    if (expected(e)) return 'clean';
    crashes.push(`${label} ${name}: ${(e as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(e)}`);
    return 'crash';
  }
}

/** inspect, artifacts and eval on one file, each on its own as the CLI runs them. */
async function commands(bytes: Uint8Array, crashes: string[], label: string): Promise<Outcome[]> {
  return [
    await command('inspect', label, crashes, async () => { const m = loadModel(bytes); const r = describeModel(m, label); await confirmInOrt(m, r); if (!r.trainable.ok) throw new OnnxError('SHAPE', r.trainable.reason); }),
    await command('artifacts', label, crashes, () => buildArtifacts(loadModel(bytes), { pgdSteps: 1 })),
    await command('eval', label, crashes, () => evaluateRobustness(bytes, EVAL_DATA, { eps: 0.1, attacks: 'fgsm', n: 4 })),
  ];
}

const CASES = 400;

describe('fuzz: load -> inspect -> artifacts -> eval', () => {
  it('every mutated model ends in success or one of our typed errors', async () => {
    const rng = new Rng(20261202);
    const counts: Record<Outcome, number> = { accepted: 0, clean: 0, crash: 0 };
    const crashes: string[] = [];
    const bases = [convNet, mlp];
    const t0 = performance.now();
    for (let i = 0; i < CASES; i++) {
      const base = bases[i % bases.length]();
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        for (let k = 1 + rng.int(2); k > 0; k--) pick(rng, STRUCTURAL)(base, rng);
        try { bytes = saveModel(base); } catch (e) { if (expected(e)) { counts.clean += 3; continue; } throw e; }
      } else bytes = mutateBytes(saveModel(base), rng);
      for (const o of await commands(bytes, crashes, `#${i}`)) counts[o]++;
    }
    console.log(`fuzz: ${CASES} mutated models x inspect/artifacts/eval = ${3 * CASES} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
      `accepted ${counts.accepted}, clean errors ${counts.clean}, crashes ${counts.crash}, hangs 0`);
    expect(crashes).toEqual([]);
    expect(counts.accepted).toBeGreaterThan(0);
    expect(counts.clean).toBeGreaterThan(0);
  }, 300_000);
});
