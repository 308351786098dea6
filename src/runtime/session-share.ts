// Sessions opened once per distinct graph and settings. The trainer's experts each open an artifact
// set, and the sets differ only where their options do (the attack's K): their train-step, eval and
// EMA graphs are byte for byte the same. Sessions are stateless between runs (weights are inputs),
// so one session serves both; each session holds its own memory arena, which on PreAct ResNet-18
// is the train step's few hundred MiB. Each acquired session's release() drops one reference; the
// last one releases the session. On the CPU, a runtime's graphs open as the branches of one session
// (branch-session.ts); each branch is shared here as its graph's own session.
import type { ort } from './ort.js';
import { openBranches, type BranchBytes } from './branch-session.js';
import { openSession, type OpenedSession, type OpenOptions } from './providers.js';
import { sha256 } from '../util/hash.js';

/** `group`: the branch session an entry is one graph of (one entry per graph, one session). */
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
   * The sessions of graphs (CPU): those not open yet as one branch session (branch-session.ts);
   * a graph already open (e.g. the train step another expert opened) is shared as it is.
   */
  async acquireBranches(parts: BranchBytes[], opts: OpenOptions): Promise<Record<string, OpenedSession>> {
    const keys = parts.map((p) => this.key(p.bytes, opts));
    const fresh = parts.filter((_, i) => !this.entries.has(keys[i]) && keys.indexOf(keys[i]) === i);
    if (fresh.length > 1) {
      const group = openBranches(fresh, opts);
      for (const p of fresh) this.entries.set(keys[parts.indexOf(p)], { opened: group.then((g) => g[p.name]), refs: 0, group });
    }
    const opened = await Promise.all(parts.map((p) => this.acquire(p.bytes, opts)));
    return Object.fromEntries(parts.map((p, i) => [p.name, opened[i]]));
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
