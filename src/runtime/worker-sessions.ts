// ORT sessions on a worker thread (session-worker.mjs), for runs that go beside the main thread's:
// onnxruntime-node's run() blocks the calling thread, so parallel runs need a second thread. A run's
// feeds are posted at once (run() returns after posting), so the caller can start its own run
// next; the outputs come back as ORT tensors of this thread. CPU only: tensors cross as host memory.
import { Worker } from 'node:worker_threads';
import { ort } from './ort.js';
import { branchModelBytes, runBranch, type BranchBytes } from './branch-session.js';
import type { BranchPlan } from './branch-model.js';

type Wire = { type: string; data: ArrayBufferView; dims: readonly number[] };
type Reply = { id: number; out?: Record<string, Wire>; returned?: ArrayBuffer[]; error?: string };

/** A typed array that owns its whole buffer (posting a view would copy the buffer it views). */
const compact = (a: ArrayBufferView): ArrayBufferView => (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a as Float32Array).slice());

/**
 * Buffers the large feeds travel to the worker in, and come back in with its reply: both ways by
 * transfer, so the pages are written once and reused by every later run. Posting the feeds as
 * copies (structured clone) allocated them afresh on both sides of every run, and a fresh page
 * costs a fault: PreAct ResNet-18's natural step (90 MiB of weights and momentum) took 240-390 ms
 * to post on a VM whose faults cost ~10 us per 4 KiB page. A feed is copied into a staged buffer
 * of its size (free lists by byte length), so the caller's tensors are never detached.
 */
export class StagingBuffers {
  /** Feeds below this size go as plain copies: staging them would save nothing measurable. */
  static readonly MIN_BYTES = 1 << 16;
  private readonly free = new Map<number, ArrayBuffer[]>();

  /** A copy of `data` in a staged buffer of the same type, or null when `data` is small or no typed array (string tensors). */
  stage(data: ArrayBufferView): ArrayBufferView | null {
    if (!ArrayBuffer.isView(data) || data.byteLength < StagingBuffers.MIN_BYTES) return null;
    const n = data.byteLength;
    const buffer = this.free.get(n)?.pop() ?? new ArrayBuffer(n);
    new Uint8Array(buffer).set(new Uint8Array(data.buffer, data.byteOffset, n));
    const Ctor = data.constructor as new (b: ArrayBuffer) => ArrayBufferView;
    return new Ctor(buffer);
  }

  /** Bytes waiting in the free lists (the staged feeds of runs that have returned). */
  get heldBytes(): number {
    let n = 0;
    for (const [size, list] of this.free) n += size * list.length;
    return n;
  }

  /** Takes back the buffers a reply returned, for the next runs. */
  restore(buffers: ArrayBuffer[]): void {
    for (const b of buffers) {
      const list = this.free.get(b.byteLength);
      if (list) list.push(b);
      else this.free.set(b.byteLength, [b]);
    }
  }
}

export class WorkerSessions {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;
  /** Graphs opened as branches: their session's key, run plan and placeholders (all on this thread). */
  private readonly branches = new Map<string, { session: string; plan: BranchPlan; cache: { placeholders?: Record<string, ort.Tensor> } }>();
  /** Where the large feeds travel (exposed for the tests). */
  readonly staging = new StagingBuffers();

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
    const transfer: ArrayBuffer[] = [];
    const staged: string[] = [];
    for (const [k, t] of Object.entries(feeds)) {
      if (t.location && t.location !== 'cpu') throw new Error(`worker sessions take host tensors; "${k}" is on ${t.location}`);
      const data = t.data as ArrayBufferView;
      const copy = this.staging.stage(data);
      if (copy) { transfer.push(copy.buffer as ArrayBuffer); staged.push(k); }
      wire[k] = { type: t.type, data: copy ?? compact(data), dims: t.dims };
    }
    return this.request({ op: 'run', key, feeds: wire, fetches, staged }, transfer).then((r) => {
      this.staging.restore(r.returned ?? []);
      return Object.fromEntries(Object.entries(r.out!).map(([k, t]) => [k, new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims)]));
    });
  }

  /** Releases the worker's sessions and ends the thread. */
  async release(): Promise<void> {
    if (!this.dead) await this.request({ op: 'release' }).catch(() => {});
    this.dead ??= new Error('the worker sessions were released');
    await this.worker.terminate();
  }
}
