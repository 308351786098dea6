// A worker thread running ONNX Runtime sessions for the main thread (worker-sessions.ts opens it).
// onnxruntime-node's run() blocks the thread that calls it, so two runs only go side by side from
// two threads. Plain JavaScript: it runs as is under tsx, vitest and plain node.
// Messages in: { id, op: 'open', key, file (a path or the bytes), options } | { id, op: 'run', key, feeds, fetches?, staged? } | { id, op: 'release' };
// out: { id } | { id, out, returned } (the outputs' buffers transferred, not copied; `returned`: the
// buffers of the feeds named in `staged`, which came by transfer, handed back the same way) | { id, error }.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

// A full garbage collection of this thread's heap after each run, once the reply is posted. The
// feeds arrive as copies (structured clone), so every run leaves the weights it read as garbage in
// this isolate, which V8 collects late. SmallCNN's bench peaked at 428-438 MiB with it, 455-462
// without (PreAct ResNet-18: 2002 against 2036-2061), at the same speed (316 vs 315 images/s,
// paired): this heap holds little else, so a collection takes 5-10 ms, off the reply's path.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc');

// key -> session. A branch model's plans (which graph, placeholders, output names) stay on the main
// thread (worker-sessions.ts, branch-session.ts): here a run is feeds in, the fetched outputs out.
const sessions = new Map();

async function handle(m) {
  if (m.op === 'open') {
    sessions.set(m.key, await ort.InferenceSession.create(m.file, m.options));
    return { id: m.id };
  }
  if (m.op === 'run') {
    const session = sessions.get(m.key);
    if (!session) throw new Error(`no session "${m.key}" is open in the worker`);
    const feeds = {};
    for (const [k, t] of Object.entries(m.feeds)) feeds[k] = new ort.Tensor(t.type, t.data, t.dims);
    const out = {};
    const buffers = new Set();
    for (const [k, t] of Object.entries(await (m.fetches ? session.run(feeds, m.fetches) : session.run(feeds)))) {
      out[k] = { type: t.type, data: t.data, dims: t.dims };
      buffers.add(t.data.buffer);
    }
    // The staged feeds' buffers came by transfer (WorkerSessions' staging): they go back the same way.
    const returned = (m.staged ?? []).map((k) => m.feeds[k].data.buffer);
    return [{ id: m.id, out, returned }, [...buffers, ...returned]];
  }
  if (m.op === 'release') {
    for (const s of sessions.values()) await s.release();
    sessions.clear();
    return { id: m.id };
  }
  throw new Error(`unknown worker message "${m.op}"`);
}

parentPort.on('message', (m) => {
  handle(m).then(
    (r) => {
      if (!Array.isArray(r)) return parentPort.postMessage(r);
      parentPort.postMessage(r[0], r[1]);
      collect();
    },
    (e) => parentPort.postMessage({ id: m.id, error: String(e?.message ?? e) }),
  );
});
