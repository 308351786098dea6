// Sessions opened once per distinct graph and settings. The trainer's experts each open an artifact
// set, and the sets differ only where their options do (the attack's K): their train-step, eval and
// EMA graphs are byte for byte the same. Sessions are stateless between runs (weights are inputs),
// so one session serves both; each session holds its own memory arena, which on PreAct ResNet-18
// is the train step's few hundred MiB. Each acquired session's release() drops one reference; the
// last one releases the session. On the CPU, a runtime's attack and train step open as one session
// of two branches (branch-session.ts); each branch is shared here as its graph's own session.
import type { ort } from './ort.js';
import { openBranches, type BranchBytes } from './branch-session.js';
import { openSession, type OpenedSession, type OpenOptions } from './providers.js';
import { sha256 } from '../util/hash.js';

/** `group`: the branch session an entry is one graph of (two entries, one session). */
interface Entry { opened: Promise<OpenedSession>; refs: number; group?: object }

export class SessionShare {
  private readonly entries = new Map<string, Entry>();

  private key(bytes: Uint8Array, opts: OpenOptions): string {
    const { onWarning: _w, modelName: _n, ...settings } = opts;
    return `${sha256(bytes)} ${JSON.stringify(settings)}`;
  }

  /** Open (or take a reference to) the session of these model bytes and settings. */
  acquire(bytes: Uint8Array, opts: OpenOptions): Promise<OpenedSession> {
    return this.take(this.key(bytes, opts), () => openSession(bytes, opts));
  }

  /**
   * The sessions of two graphs (CPU): one branch session when neither is open yet, else each on
   * its own (a graph already open, e.g. the train step another expert opened, is shared as it is).
   */
  async acquireBranches(first: BranchBytes, second: BranchBytes, opts: OpenOptions): Promise<Record<string, OpenedSession>> {
    const [k1, k2] = [this.key(first.bytes, opts), this.key(second.bytes, opts)];
    if (!this.entries.has(k1) && !this.entries.has(k2) && k1 !== k2) {
      const both = openBranches(first, second, opts);
      this.entries.set(k1, { opened: both.then((b) => b[first.name]), refs: 0, group: both });
      this.entries.set(k2, { opened: both.then((b) => b[second.name]), refs: 0, group: both });
    }
    const [a, b] = await Promise.all([this.acquire(first.bytes, opts), this.acquire(second.bytes, opts)]);
    return { [first.name]: a, [second.name]: b };
  }

  private async take(key: string, open: () => Promise<OpenedSession>): Promise<OpenedSession> {
    let e = this.entries.get(key);
    if (!e) {
      e = { opened: open(), refs: 0 };
      this.entries.set(key, e);
    }
    e.refs++;
    let opened: OpenedSession;
    try {
      opened = await e.opened;
    } catch (err) {
      if (--e.refs === 0 && this.entries.get(key) === e) this.entries.delete(key);
      throw err;
    }
    const entry = e;
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      if (--entry.refs > 0) return;
      if (this.entries.get(key) === entry) this.entries.delete(key);
      await opened.session.release();
    };
    // The same session, with a release() of its own reference.
    const session = Object.create(opened.session, { release: { value: release } }) as ort.InferenceSession;
    return { session, provider: opened.provider };
  }

  /** Distinct sessions open now. */
  get size(): number { return new Set([...this.entries.values()].map((e) => e.group ?? e)).size; }
}
