// Indexing: Slice, Pad and Gather, whose outputs are input values picked by (constant) indices.
// Each gradient puts g back where its values came from: zero padding for Slice (steps by
// interleaved zeros, negative steps by reversal), Pad with negated pads for constant padding,
// scatter-add for Gather and for edge/reflect/wrap padding (a position read twice sums).
import { attrInt, attrInts, attrString } from '../../onnx/attrs.js';
import { OnnxError } from '../../onnx/errors.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { DataType, isStatic, numel, tensor, type Dim } from '../../onnx/ir.js';
import { intValues } from '../../onnx/shapes.js';
import { registerGrad } from '../rule.js';
import { constInts, normAxis, reshapeTarget, staticDim, zerosLike } from '../helpers.js';

/**
 * Adjoint of "out[..., j, ...] = x[..., map[j], ...]" along `axis` (map entries in [0, d)):
 * ScatterElements(reduction='add') of g into zeros with x's extent d on that axis.
 */
function scatterAddAxis(b: GraphBuilder, g: string, axis: number, map: number[], d: number): string {
  const gs = b.shape(g)!;
  const zshape = gs.map((e, i) => (i === axis ? d : e));
  const zeros = b.zeros(isStatic(zshape) ? zshape : b.op('ScatterElements', [b.shapeOf(g), b.constI64([axis]), b.constI64([d])], { axis: 0 }), b.dtype(g));
  const idxShape = gs.map((_, i) => (i === axis ? map.length : 1));
  const idx = b.op('Expand', [b.constant(tensor('', DataType.INT64, idxShape, map), 'idx'), b.shapeOf(g)]);
  return b.op('ScatterElements', [zeros, idx, g], { axis, reduction: 'add' }, { name: 'scatter_add' });
}

const INT64_MIN = -(2 ** 63);

registerGrad({
  op: 'Slice',
  grad: ({ b, node, g: gy }) => {
    const x = node.inputs[0];
    const r = b.rank(x);
    const attrForm = node.inputs.length < 3;
    const starts = attrForm ? attrInts(node, 'starts')! : constInts(b, node, 1, 'starts')!;
    const ends = attrForm ? attrInts(node, 'ends')! : constInts(b, node, 2, 'ends')!;
    const axes = ((attrForm ? attrInts(node, 'axes') : constInts(b, node, 3, 'axes')) ?? starts.map((_, i) => i)).map((a) => normAxis(a, r));
    const steps = (attrForm ? undefined : constInts(b, node, 4, 'steps')) ?? starts.map(() => 1);
    // Per axis: extent d, count n, |step|, lowest selected index (Slice's clamping rules).
    const plan = axes.map((a, i) => {
      const d = staticDim(b, node, x, a);
      const step = steps[i];
      let s = starts[i] < 0 ? starts[i] + d : starts[i];
      let e = ends[i] < 0 ? ends[i] + d : ends[i];
      if (step > 0) { s = Math.max(0, Math.min(d, s)); e = Math.max(0, Math.min(d, e)); } else { s = Math.max(-1, Math.min(d - 1, s)); e = Math.max(-1, Math.min(d - 1, e)); }
      const n = step > 0 ? Math.max(0, Math.ceil((e - s) / step)) : Math.max(0, Math.ceil((s - e) / -step));
      const abs = Math.abs(step);
      return { a, d, step, n, abs, first: step > 0 ? s : s - (n - 1) * abs };
    });
    if (plan.some((p) => p.n === 0)) return [zerosLike(b, x), null, null, null, null];
    let g = gy;
    const pads = new Array<number>(2 * r).fill(0);
    for (const { a, d, step, n, abs, first } of plan) {
      if (step < 0) g = b.op('Slice', [g, b.constI64([-1]), b.constI64([INT64_MIN]), b.constI64([a]), b.constI64([-1])], {}, { name: 'slice_rev' });
      if (abs > 1) {
        // Interleave abs-1 zeros after each element: [.., n, ..] -> [.., n, abs, ..] -> [.., n*abs, ..].
        const gs = b.shape(g)!;
        const up = b.unsqueeze(g, [a + 1]);
        const p = new Array<number>(2 * (r + 1)).fill(0);
        p[r + 1 + a + 1] = abs - 1;
        const padded = b.op('Pad', [up, b.constI64(p)]);
        g = b.reshape(padded, reshapeTarget(gs.map((dim, k) => (k === a ? n * abs : dim)), `Slice "${node.name}" gradient`));
      }
      pads[a] = first;
      pads[r + a] = d - first - n * abs; // may be negative: Pad crops the trailing zeros
    }
    return [b.op('Pad', [g, b.constI64(pads)], {}, { name: 'slice_dx' }), null, null, null, null];
  },
});

/** Index map of Pad along one axis: for each output position, its source index (or -1 for the constant). */
function padMap(mode: string, d: number, before: number, after: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < d + before + after; j++) {
    let i = j - before;
    if (i < 0 || i >= d) {
      if (mode === 'edge') i = Math.max(0, Math.min(d - 1, i));
      else if (mode === 'wrap') i = ((i % d) + d) % d;
      else if (mode === 'reflect') {
        const period = 2 * (d - 1);
        i = period === 0 ? 0 : ((i % period) + period) % period;
        if (i >= d) i = period - i;
      }
    }
    out.push(i);
  }
  return out;
}


registerGrad({
  op: 'Pad',
  grad: ({ b, node, g, needs }) => {
    const x = node.inputs[0];
    const r = b.rank(x);
    const mode = attrString(node, 'mode', 'constant');
    const attrForm = node.inputs.length < 2;
    const pads = attrForm ? attrInts(node, 'pads')! : constInts(b, node, 1, 'pads')!;
    const axes = (attrForm ? undefined : constInts(b, node, 3, 'axes'))?.map((a) => normAxis(a, r)) ?? Array.from({ length: r }, (_, i) => i);
    const k = axes.length;
    const out: (string | null)[] = node.inputs.map(() => null);
    if (mode === 'constant') {
      const full = new Array<number>(2 * r).fill(0);
      axes.forEach((a, i) => { full[a] = -pads[i]; full[r + a] = -pads[i + k]; });
      if (needs[0]) out[0] = b.op('Pad', [g, b.constI64(full)], {}, { name: 'pad_dx' });
      // d/d constant_value = the sum of the gradient over the padded positions.
      if (node.inputs[2] && needs[2]) {
        const inner = out[0] ?? b.op('Pad', [g, b.constI64(full)]);
        out[2] = b.sub(b.reduceSum(g, undefined, 0), b.reduceSum(inner, undefined, 0));
      }
      return out;
    }
    if (mode !== 'edge' && mode !== 'reflect' && mode !== 'wrap') {
      throw new OnnxError('UNSUPPORTED_OP', `Pad "${node.name}": no gradient for mode "${mode}" (supported: constant, edge, reflect, wrap)`);
    }
    // Non-constant modes are a gather along each padded axis; undo them one axis at a time.
    let cur = g;
    for (let i = k - 1; i >= 0; i--) {
      const a = axes[i];
      if (pads[i] === 0 && pads[i + k] === 0) continue;
      const d = staticDim(b, node, x, a);
      cur = scatterAddAxis(b, cur, a, padMap(mode, d, pads[i], pads[i + k]), d);
    }
    out[0] = cur;
    return out;
  },
});

registerGrad({
  op: 'Gather',
  grad: ({ b, node, g }) => {
    const [x, ind] = node.inputs;
    const xs = b.shape(x);
    if (!xs) throw new OnnxError('SHAPE', `Gather "${node.name}": the rank of "${x}" is unknown`);
    const r = xs.length;
    const axis = normAxis(attrInt(node, 'axis', 0), r);
    const d = staticDim(b, node, x, axis);
    const is = b.shape(ind);
    if (!isStatic(is)) throw new OnnxError('SHAPE', `Gather "${node.name}": the gradient needs static indices shape`);
    const Q = numel(is);
    const pre = xs.slice(0, axis);
    const post = xs.slice(axis + 1);
    const prod = (ds: Dim[]): Dim => (isStatic(ds) ? numel(ds) : null);
    const P = prod(pre);
    const R = prod(post);
    const g3 = b.reshape(g, reshapeTarget([P, Q, R], `Gather "${node.name}" gradient`));
    // Indices normalised to [0, d) and laid out as [1, Q, 1], expanded to g3's shape.
    const known = intValues(b.fact(ind));
    let idx: string;
    if (known) idx = b.constant(tensor('', DataType.INT64, [1, Q, 1], known.map((v) => (v < 0 ? v + d : v))), 'idx');
    else {
      const i64 = b.dtype(ind) === DataType.INT64 ? ind : b.cast(ind, DataType.INT64);
      const flat = b.reshape(i64, [1, Q, 1]);
      idx = b.op('Where', [b.op('Less', [flat, b.constI64(0)]), b.add(flat, b.constI64(d)), flat]);
    }
    const idxE = b.op('Expand', [idx, b.shapeOf(g3)]);
    const zshape = [P, d, R];
    const zeros = b.zeros(isStatic(zshape) ? zshape : b.op('Concat', [b.op('Slice', [b.shapeOf(g3), b.constI64([0]), b.constI64([1])]), b.constI64([d, R as number])], { axis: 0 }), b.dtype(x));
    const dx = b.op('ScatterElements', [zeros, idxE, g3], { axis: 1, reduction: 'add' }, { name: 'gather_dx' });
    return [b.reshapeLike(dx, x), null];
  },
}
);
