// Sessions opened once per distinct graph and settings. The trainer's experts each open an artifact
// set, and the sets differ only where their options do (the attack's K): their train-step, eval and
// EMA graphs are byte for byte the same. Sessions are stateless between runs (weights are inputs),
// so one session serves both; each session holds its own memory arena, which on PreAct ResNet-18
// is the train step's few hundred MiB. Each acquired session's release() drops one reference; the
// last one releases the session.
import type { ort } from './ort.js';
import { openSession, type OpenedSession, type OpenOptions } from './providers.js';
import { sha256 } from '../util/hash.js';

interface Entry { opened: Promise<OpenedSession>; refs: number }

export class SessionShare {
  private readonly entries = new Map<string, Entry>();

  /** Open (or take a reference to) the session of these model bytes and settings. */
  async acquire(bytes: Uint8Array, opts: OpenOptions): Promise<OpenedSession> {
    const { onWarning: _w, modelName: _n, ...settings } = opts;
    const key = `${sha256(bytes)} ${JSON.stringify(settings)}`;
    let e = this.entries.get(key);
    if (!e) {
      e = { opened: openSession(bytes, opts), refs: 0 };
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
  get size(): number { return this.entries.size; }
}
