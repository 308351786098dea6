// One ORT session over a branch model (branch-model.ts), seen as one session per graph: each view
// runs its graph alone, with the feeds and outputs of that graph, so callers do not know the
// session is shared. The placeholders of the other graphs' inputs are made once per view: tiny for
// an input of one graph (declared with symbolic dims), else zeros of the input's size whose pages
// nobody touches (ORT does not read the inputs of a branch that does not run).
import { ort, toOrt } from './ort.js';
import { branchModel, type BranchPlan } from './branch-model.js';
import { openSession, type OpenedSession, type OpenOptions } from './providers.js';
import { allocData, numel } from '../onnx/ir.js';
import { loadModel } from '../onnx/load.js';
import { saveModel } from '../onnx/save.js';

export interface BranchBytes { name: string; bytes: Uint8Array }

/**
 * Runs one graph of a branch model through `run` (a session's, or the worker's): its own feeds plus
 * the selector and the placeholders, the outer outputs fetched and handed back by the graph's own
 * names. The placeholders are made once per plan and kept in `cache`.
 */
export async function runBranch(
  plan: BranchPlan, feeds: Record<string, ort.Tensor>, cache: { placeholders?: Record<string, ort.Tensor> },
  run: (feeds: Record<string, ort.Tensor>, fetches: string[]) => Promise<Record<string, ort.Tensor>>,
): Promise<Record<string, ort.Tensor>> {
  cache.placeholders ??= Object.fromEntries(plan.fill.map((f) => [f.name, toOrt({ dtype: f.dtype, dims: f.dims, data: allocData(f.dtype, numel(f.dims)) })]));
  const selector = new ort.Tensor('int64', BigInt64Array.of(BigInt(plan.index)), []);
  const out = await run({ ...cache.placeholders, ...feeds, [plan.selector]: selector }, plan.outputs.map(([outer]) => outer));
  return Object.fromEntries(plan.outputs.map(([outer, own]) => [own, out[outer]]));
}

class BranchView {
  private readonly cache: { placeholders?: Record<string, ort.Tensor> } = {};
  constructor(private readonly session: ort.InferenceSession, private readonly plan: BranchPlan, private readonly done: () => Promise<void>) {}

  get inputNames(): readonly string[] { return this.plan.inputs; }
  get outputNames(): readonly string[] { return this.plan.outputs.map(([, own]) => own); }

  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    return runBranch(this.plan, feeds, this.cache, (f, fetches) => this.session.run(f, fetches));
  }

  private released = false;
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.done();
  }
}

/** The bytes and run plans of the branch model of artifact files' bytes. */
export function branchModelBytes(parts: BranchBytes[]): { bytes: Uint8Array; plans: Record<string, BranchPlan> } {
  const m = branchModel(parts.map((p) => ({ name: p.name, model: loadModel(p.bytes) })));
  return { bytes: saveModel(m.model), plans: m.plans };
}

/** Opens graphs as one CPU session; returns a session-like view per graph (each released on its own; the last release closes the session). */
export async function openBranches(parts: BranchBytes[], opts: OpenOptions): Promise<Record<string, OpenedSession>> {
  if ((opts.provider ?? 'cpu') !== 'cpu') throw new Error('branch sessions are for the CPU provider');
  const { bytes, plans } = branchModelBytes(parts);
  const { session, provider } = await openSession(bytes, { ...opts, modelName: opts.modelName ?? parts.map((p) => p.name).join(' + ') });
  let open = parts.length;
  const done = async () => { if (--open === 0) await session.release(); };
  return Object.fromEntries(parts.map((b) => [b.name, { session: new BranchView(session, plans[b.name], done) as unknown as ort.InferenceSession, provider }]));
}
