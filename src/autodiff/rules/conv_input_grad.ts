// Input gradient of Conv as a plain Conv of dY (ORT's batched, multithreaded conv path) instead of
// ConvTranspose (which ORT's CPU kernel runs one image at a time, with a single-threaded Col2im).
//
// Forward, per spatial axis: y[o] = sum_t x[o*s - pb + t*d] w[t]. So x[i] receives dY[o] w[t] for
// every (o, t) with o*s - pb + t*d = i.
// - Stride 1: dX[i] = sum_m dY[i - P + m*d] w[k-1-m], a Conv of dY with the kernel flipped, in/out
//   channels swapped, dilation d, pads P = d(k-1) - pb at the start (and likewise at the end).
// - Stride s > 1 (dilation 1, 2-D, equal strides): split dX by phase a = i mod s. Phase a only
//   meets taps t = r, r+s, ... with r = (a + pb) mod s, and with i = s*q + a it is the stride-1
//   correlation dX_a[q] = sum_m dY[q - P_a + m] w[r + s(M_a-1-m)]. Every phase's sub-kernel is
//   placed in one common window (zero taps where a phase has fewer), so ONE Conv computes all
//   s*s phases as s*s output channels per input channel, and DepthToSpace (CRD) interleaves them
//   back into [N, C, Q*s, Q*s], cropped to the input's size.
// The kernel rearrangement (flip, phase split, channel swap, groups) is a reversing Slice and a
// Transpose for stride 1, else one Pad + Gather per axis + Transpose of the weights; built once
// per weight and graph (the unrolled attack reuses it).
// Where the geometry does not fit (mixed or dilated strides, 1-D/3-D strided, pads beyond the
// kernel) or the form does not pay (one phase with taps per axis: 1x1 strided), callers keep
// ConvTranspose.
import type { GraphBuilder } from '../../onnx/builder.js';
import type { SpatialGeometry } from '../../onnx/attrs.js';

/** One spatial axis of the plan: Gather indices into the zero-extended kernel [s, window], pads. */
interface AxisPlan { index: number[][]; window: number; padBegin: number; padEnd: number; phases: number; outLen: number; live: number[] }

/** The phase plan of one axis, or null where the Conv form does not apply. */
export function axisPlan(k: number, s: number, d: number, pb: number, inLen: number, outLen: number): AxisPlan | null {
  if (s > 1 && d !== 1) return null;
  const phases = Array.from({ length: s }, (_, a) => {
    const r = (a + pb) % s;
    const taps = r < k ? Math.ceil((k - r) / s) : 0;
    const c = (a + pb - r) / s;
    return { r, taps, pad: d * (taps - 1) - c };
  });
  const live = phases.filter((p) => p.taps > 0);
  if (!live.length) return null;
  const padBegin = Math.max(...live.map((p) => p.pad));
  const window = Math.max(...live.map((p) => padBegin - p.pad + p.taps));
  const q = Math.ceil(inLen / s);
  const padEnd = q - outLen - padBegin + d * (window - 1);
  if (padBegin < 0 || padEnd < 0) return null;
  const index = phases.map((p) => Array.from({ length: window }, (_, m) => {
    const j = m - (padBegin - p.pad);
    return p.taps > 0 && j >= 0 && j < p.taps ? p.r + s * (p.taps - 1 - j) : k; // k: the appended zero tap
  }));
  return { index, window, padBegin, padEnd, phases: s, outLen: q, live: phases.flatMap((p, a) => (p.taps > 0 ? [a] : [])) };
}

const memo = new WeakMap<GraphBuilder, Map<string, string>>();
const INT64_MIN = -(2 ** 63);

/**
 * The dX Conv's weights [Ci*S, Co/group, ...window] (S = s^spatial phases, CRD order) from the
 * forward weights w [Co, Ci/group, ...kernel]: zero tap appended per axis, Gather per axis, then
 * channels swapped within each group.
 */
function phaseWeights(b: GraphBuilder, w: string, ws: number[], group: number, plans: AxisPlan[]): string {
  const key = `${w}|${group}|${JSON.stringify(plans.map((p) => p.index))}`;
  let cache = memo.get(b);
  if (!cache) memo.set(b, (cache = new Map()));
  const hit = cache.get(key);
  if (hit) return hit;
  const sp = plans.length;
  const [Co, Cig] = ws;
  const Cog = Co / group;
  if (plans.every((p) => p.phases === 1)) {
    // Stride 1: the plain flip (one reversing Slice) and channel swap (a 4-D Transpose per group
    // layout) cost a fraction of the general Pad + Gather + 7-D Transpose on ResNet-sized weights.
    const axes = plans.map((_, i) => 2 + i);
    const flipped = b.op('Slice', [w, b.constI64(axes.map(() => -1)), b.constI64(axes.map(() => INT64_MIN)), b.constI64(axes), b.constI64(axes.map(() => -1))], {}, { name: 'conv_dx_w_flip' });
    const kernel = ws.slice(2);
    const out = group === 1 ? b.transpose(flipped, [1, 0, ...axes])
      : b.reshape(b.transpose(b.reshape(flipped, [group, Cog, Cig, ...kernel]), [0, 2, 1, ...axes.map((a) => a + 1)]), [Cig * group, Cog, ...kernel]);
    cache.set(key, out);
    return out;
  }
  const pads = new Array<number>(2 * (2 + sp)).fill(0);
  for (let i = 0; i < sp; i++) pads[2 + sp + 2 + i] = 1;
  let t = b.op('Pad', [w, b.constI64(pads)], {}, { name: 'conv_dx_w_pad' });
  // After axis i's Gather the layout is [Co, Cig, s0, win0, ..., s_i, win_i, kernel_{i+1}, ...].
  for (let i = 0; i < sp; i++) {
    const idx = b.constI64(plans[i].index.flat(), [plans[i].phases, plans[i].window]);
    t = b.op('Gather', [t, idx], { axis: 2 + 2 * i }, { name: 'conv_dx_w_taps' });
  }
  // [g, Cog, Cig, s0, win0, s1, win1, ...] -> [g, Cig, s0, s1, ..., Cog, win0, win1, ...]
  t = b.reshape(t, [group, Cog, Cig, ...plans.flatMap((p) => [p.phases, p.window])]);
  const perm = [0, 2, ...plans.map((_, i) => 3 + 2 * i), 1, ...plans.map((_, i) => 4 + 2 * i)];
  t = b.transpose(t, perm);
  const S = plans.reduce((a, p) => a * p.phases, 1);
  const out = b.reshape(t, [Cig * group * S, Cog, ...plans.map((p) => p.window)]);
  cache.set(key, out);
  return out;
}

/** dX of a Conv as Conv (+ DepthToSpace for strides), or null where the geometry does not fit. */
export function convInputGrad(b: GraphBuilder, gy: string, w: string, ws: number[], group: number, geo: SpatialGeometry, outDims: number[]): string | null {
  const sp = geo.in.length;
  const plans: AxisPlan[] = [];
  for (let i = 0; i < sp; i++) {
    const p = axisPlan(geo.kernel[i], geo.strides[i], geo.dilations[i], geo.padsBegin[i], geo.in[i], outDims[i]);
    if (!p) return null;
    plans.push(p);
  }
  const strided = geo.strides.some((v) => v > 1);
  const s = geo.strides[0];
  // Strided: all phases in one Conv, then DepthToSpace (2-D, equal strides). Where only one phase
  // per axis has taps (1x1 strided shortcuts), that Conv would be mostly zeros and DepthToSpace a
  // full copy; ConvTranspose measured faster there (12.6 vs 22.7 ms, 1 thread).
  if (strided && (sp !== 2 || geo.strides.some((v) => v !== s) || plans.every((p) => p.live.length === 1))) return null;
  const wt = phaseWeights(b, w, ws, group, plans);
  const pads = [...plans.map((p) => p.padBegin), ...plans.map((p) => p.padEnd)];
  let dx = b.op('Conv', [gy, wt], { group, kernel_shape: plans.map((p) => p.window), pads, dilations: geo.dilations, strides: plans.map(() => 1) }, { name: 'conv_dx' });
  if (!strided) return dx;
  dx = b.op('DepthToSpace', [dx], { blocksize: s, mode: 'CRD' }, { name: 'conv_dx_phases' });
  if (plans.some((p, i) => p.outLen * p.phases !== geo.in[i])) {
    dx = b.op('Slice', [dx, b.constI64(plans.map(() => 0)), b.constI64(geo.in), b.constI64(plans.map((_, i) => 2 + i))], {}, { name: 'conv_dx_crop' });
  }
  return dx;
}
