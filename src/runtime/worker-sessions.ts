// ORT sessions on a worker thread (session-worker.mjs), for runs that go beside the main thread's:
// onnxruntime-node's run() blocks the calling thread, so parallel runs need a second thread. A run's
// feeds are posted at once (run() returns after posting), so the caller can start its own run
// next; the outputs come back as ORT tensors of this thread. CPU only: tensors cross as host memory.
import { Worker } from 'node:worker_threads';
import { ort } from './ort.js';
import { branchModelBytes, runBranch, type BranchBytes } from './branch-session.js';
import type { BranchPlan } from './branch-model.js';

type Wire = { type: string; data: ArrayBufferView; dims: readonly number[] };
type Reply = { id: number; out?: Record<string, Wire>; error?: string };

/** A typed array that owns its whole buffer (posting a view would copy the buffer it views). */
const compact = (a: ArrayBufferView): ArrayBufferView => (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a as Float32Array).slice());

export class WorkerSessions {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;
  /** Graphs opened as branches: their session's key, run plan and placeholders (all on this thread). */
  private readonly branches = new Map<string, { session: string; plan: BranchPlan; cache: { placeholders?: Record<string, ort.Tensor> } }>();

  constructor() {
    this.worker = new Worker(new URL('./session-worker.mjs', import.meta.url));
    this.worker.unref(); // held (ref) only while a request is pending: an idle worker never keeps the process alive
    this.worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (!this.pending.size) this.worker.unref();
      if (r.error) p.reject(new Error(`ONNX Runtime on the worker thread: ${r.error}`));
      else p.resolve(r);
    });
    const fail = (e: Error) => {
      this.dead ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', (e) => fail(new Error(`the worker thread running ORT sessions failed: ${e.message}`)));
    this.worker.on('exit', (code) => fail(new Error(`the worker thread running ORT sessions exited (code ${code})`)));
  }

  private request(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /** Opens the model file `file` as session `key` with these (plain, CPU) session options. */
  async open(key: string, file: string, options: ort.InferenceSession.SessionOptions): Promise<void> {
    await this.request({ op: 'open', key, file, options });
  }

  /**
   * Opens graphs as one session of branches (branch-model.ts), each run by its own name as a key.
   * The plans stay on this thread (runBranch): the worker only runs the session. Its placeholders
   * travel with every run, so this is for graphs whose placeholders are tiny: with two graphs, an
   * input is either the other's too (fed) or one graph's only (symbolic dims, a one-element fill).
   */
  async openBranches(parts: BranchBytes[], options: ort.InferenceSession.SessionOptions): Promise<void> {
    const { bytes, plans } = branchModelBytes(parts);
    const session = parts.map((p) => p.name).join('+');
    await this.request({ op: 'open', key: session, file: bytes, options });
    for (const p of parts) this.branches.set(p.name, { session, plan: plans[p.name], cache: {} });
  }

  /** Runs session `key` (or the graph `key` of a branch session); the feeds are posted (copied) before this returns its promise. */
  run(key: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    const b = this.branches.get(key);
    return b ? runBranch(b.plan, feeds, b.cache, (f, fetches) => this.post(b.session, f, fetches)) : this.post(key, feeds);
  }

  private post(key: string, feeds: Record<string, ort.Tensor>, fetches?: string[]): Promise<Record<string, ort.Tensor>> {
    const wire: Record<string, Wire> = {};
    for (const [k, t] of Object.entries(feeds)) {
      if (t.location && t.location !== 'cpu') throw new Error(`worker sessions take host tensors; "${k}" is on ${t.location}`);
      wire[k] = { type: t.type, data: compact(t.data as ArrayBufferView), dims: t.dims };
    }
    return this.request({ op: 'run', key, feeds: wire, fetches }).then((r) =>
      Object.fromEntries(Object.entries(r.out!).map(([k, t]) => [k, new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims)])));
  }

  /** Releases the worker's sessions and ends the thread. */
  async release(): Promise<void> {
    if (!this.dead) await this.request({ op: 'release' }).catch(() => {});
    this.dead ??= new Error('the worker sessions were released');
    await this.worker.terminate();
  }
}
