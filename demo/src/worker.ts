// The training worker: opens the artifacts on onnxruntime-web, trains while running, answers the
// page's requests (predictions, attacks, test images, the export) between iterations.
import { wasmFlavour, webgpuFlavour } from './backend.js';
import type { DemoManifest, FromWorker, ToWorker } from './protocol.js';
import { WebRun } from './web-run.js';

let run: WebRun | null = null;
let running = false;
const post = (m: FromWorker, transfer: Transferable[] = []) => self.postMessage(m, { transfer });
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
// One ORT run at a time: iterations and the page's requests take turns.
let queue: Promise<unknown> = Promise.resolve();
function exclusive<T>(f: () => Promise<T>): Promise<T> {
  const p = queue.then(f);
  queue = p.catch(() => undefined);
  return p;
}

/** WebGPU when it runs a whole iteration, an evaluation and an attack; else WASM, with the reason. */
async function openRun(base: string, m: DemoManifest, want: 'auto' | 'wasm'): Promise<{ run: WebRun; note: string }> {
  if (want === 'auto') {
    const gpu = await webgpuFlavour();
    if (typeof gpu === 'string') return { run: await WebRun.open(wasmFlavour(), base, m), note: `WASM: ${gpu}` };
    let probe: WebRun | null = null;
    try {
      probe = await WebRun.open(gpu, base, m);
      await probe.step();
      await probe.evaluate();
      await probe.attack(probe.testImage(0).image, null, m.config.attack.eps);
      probe.reset();
      return { run: probe, note: 'WebGPU: every artifact runs on the GPU' };
    } catch (e) {
      for (const rt of [probe?.robust, probe?.natural]) await rt?.release().catch(() => undefined);
      return { run: await WebRun.open(wasmFlavour(), base, m), note: `WASM: onnxruntime-web's WebGPU backend failed on these artifacts (${errorText(e).split('\n')[0]}); training on WASM instead` };
    }
  }
  return { run: await WebRun.open(wasmFlavour(), base, m), note: 'WASM (asked for)' };
}

async function trainLoop(): Promise<void> {
  while (running && run && !run.done) {
    const r = run;
    await exclusive(async () => {
      post(await r.step());
      if (r.evalDue()) post(await r.evaluate());
    });
    // Let the page's messages (stop, predict, attack) in between iterations.
    await new Promise((r) => setTimeout(r, 0));
  }
  // A stopped run's accuracy is the accuracy of the G it stopped with.
  const r = run;
  if (r && r.lastEvalAt !== r.iteration) await exclusive(async () => post(await r.evaluate()));
  if (run?.done) running = false;
  post({ type: 'state', running, done: !!run?.done });
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'init': {
      const m = await (await fetch(msg.base + 'config.json')).json() as DemoManifest;
      const opened = await openRun(msg.base, m, msg.backend);
      run = opened.run;
      post({ type: 'ready', backend: run.natural.provider, note: opened.note, totalIters: run.totalIters, itersPerEpoch: run.itersPerEpoch, testImages: run.test.n, classNames: m.data.classNames, eps: m.config.attack.eps, pgdSteps: run.natural.manifest.options.pgdSteps });
      post(await run.evaluate());
      return;
    }
    case 'start':
      if (running || !run) return;
      running = true;
      post({ type: 'state', running, done: run.done });
      void trainLoop().catch((e) => { running = false; post({ type: 'error', message: errorText(e) }); });
      return;
    case 'stop': running = false; return;
    case 'predict': post({ type: 'reply', id: msg.id, value: await run!.predict(msg.image) }); return;
    case 'attack': post({ type: 'reply', id: msg.id, value: await run!.attack(msg.image, msg.label, msg.eps) }); return;
    case 'testImage': post({ type: 'reply', id: msg.id, value: run!.testImage(msg.index) }); return;
    case 'export': {
      const bytes = run!.exportG();
      post({ type: 'reply', id: msg.id, value: bytes }, [bytes.buffer]);
      return;
    }
    case 'weights': post({ type: 'reply', id: msg.id, value: run!.weightsG() }); return;
  }
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const work = e.data.type === 'start' || e.data.type === 'stop' ? handle(e.data) : exclusive(() => handle(e.data));
  work.catch((err) => post({ type: 'error', id: 'id' in e.data ? e.data.id : undefined, message: errorText(err) }));
};
