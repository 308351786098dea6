// A worker thread running ONNX Runtime sessions for the main thread (worker-sessions.ts opens it).
// onnxruntime-node's run() blocks the thread that calls it, so two runs only go side by side from
// two threads. Plain JavaScript: it runs as is under tsx, vitest and plain node.
// Messages in: { id, op: 'open', key, file (a path or the bytes), options, branches? } | { id, op: 'run', key, feeds } | { id, op: 'release' };
// out: { id } | { id, out } (the outputs' buffers transferred, not copied) | { id, error }.
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

// key -> { session, plan? }: a branch model's graphs (branch-model.ts) are keys of one session,
// each run with its plan: the selector, zero placeholders for the other graphs' inputs (made once,
// never read by ORT), the outputs fetched by their outer names and handed back by their own.
const sessions = new Map();
const ZEROS = { float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, bool: Uint8Array, uint8: Uint8Array, int8: Int8Array };

function branchRun(entry, feeds) {
  const { plan } = entry;
  entry.fill ??= Object.fromEntries(plan.fill.map((f) => [f.name, new ort.Tensor(f.type, new ZEROS[f.type](f.dims.reduce((a, b) => a * b, 1)), f.dims)]));
  return entry.session.run({ ...entry.fill, ...feeds, [plan.selector]: new ort.Tensor('int64', BigInt64Array.of(BigInt(plan.index)), []) }, plan.outputs.map(([outer]) => outer))
    .then((out) => Object.fromEntries(plan.outputs.map(([outer, own]) => [own, out[outer]])));
}

async function handle(m) {
  if (m.op === 'open') {
    const session = await ort.InferenceSession.create(m.file, m.options);
    if (!m.branches) sessions.set(m.key, { session });
    else for (const [key, plan] of Object.entries(m.branches)) sessions.set(key, { session, plan });
    return { id: m.id };
  }
  if (m.op === 'run') {
    const entry = sessions.get(m.key);
    if (!entry) throw new Error(`no session "${m.key}" is open in the worker`);
    const feeds = {};
    for (const [k, t] of Object.entries(m.feeds)) feeds[k] = new ort.Tensor(t.type, t.data, t.dims);
    const out = {};
    const buffers = new Set();
    for (const [k, t] of Object.entries(await (entry.plan ? branchRun(entry, feeds) : entry.session.run(feeds)))) {
      out[k] = { type: t.type, data: t.data, dims: t.dims };
      buffers.add(t.data.buffer);
    }
    return [{ id: m.id, out }, [...buffers]];
  }
  if (m.op === 'release') {
    for (const s of new Set([...sessions.values()].map((e) => e.session))) await s.release();
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
