// The page: starts the training worker, draws its progress, runs predictions and attacks on a
// drawn digit or a test image, downloads G. Its state is mirrored in window.__demo for automation.
import { LineChart } from './chart.js';
import { attachPad, perturbation, showImage } from './pad.js';
import type { AttackResult, FromWorker, Net, Predictions, Ready, ToWorker } from './protocol.js';

interface DemoState {
  backend: string; note: string; running: boolean; done: boolean; iterations: number; totalIters: number;
  lossR: number | null; lossN: number | null; cleanAcc: number | null; robustAcc: number | null; imagesPerSec: number | null;
  /** Iteration at which cleanAcc was measured (G as it was then). */
  evaluatedAt: number;
  attack: { label: number; eps: number; before: Record<Net, number>; after: Record<Net, number> } | null;
  errors: string[];
  /** Resolves with G's weights (name -> dims, data as numbers). */
  weightsG(): Promise<Record<string, { dims: number[]; data: number[] }>>;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let nextId = 1;
function request<T>(m: { type: 'predict' | 'attack' | 'testImage' | 'export' | 'weights' } & Record<string, unknown>): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    send({ ...m, id } as ToWorker);
  });
}

const demo: DemoState = {
  backend: '', note: '', running: false, done: false, iterations: 0, totalIters: 0,
  lossR: null, lossN: null, evaluatedAt: -1, cleanAcc: null, robustAcc: null, imagesPerSec: null, attack: null, errors: [],
  weightsG: async () => {
    const w = await request<Record<string, { dims: number[]; data: Float32Array }>>({ type: 'weights' });
    return Object.fromEntries(Object.entries(w).map(([k, t]) => [k, { dims: t.dims, data: Array.from(t.data) }]));
  },
};
(window as unknown as { __demo: DemoState }).__demo = demo;

const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
const lossChart = new LineChart($<HTMLCanvasElement>('loss-chart'), [['R (robust, PGD)', '#d62728'], ['N (natural)', '#1f77b4']], 100, 'auto', (v) => v.toFixed(1));
const accChart = new LineChart($<HTMLCanvasElement>('acc-chart'), [['G clean', '#2ca02c'], ['G under PGD', '#9467bd']], 100, 1, pct);
let classNames: string[] = [];
let current: { image: Float32Array; label: number | null } | null = null;

function status(): void {
  const ips = demo.imagesPerSec === null ? '' : ` · ${demo.imagesPerSec.toFixed(0)} images/s`;
  const acc = demo.cleanAcc === null ? '' : ` · G clean ${pct(demo.cleanAcc)}${demo.robustAcc === null ? '' : `, PGD ${pct(demo.robustAcc)}`}`;
  $('status').textContent = `iteration ${demo.iterations} / ${demo.totalIters}${ips}${acc}${demo.done ? ' · done' : ''}`;
  $('toggle').textContent = demo.running ? 'Stop' : demo.done ? 'Done' : 'Resume';
  ($('toggle') as HTMLButtonElement).disabled = demo.done;
}

function showPredictions(p: Predictions, prefix: 'pred' | 'after', before?: Predictions): void {
  for (const net of ['N', 'R', 'G'] as const) {
    const { label, probs } = p[net];
    const cell = $(`${prefix}-${net}`);
    cell.textContent = `${classNames[label] ?? label} (${pct(probs[label])})`;
    cell.className = before ? (before[net].label === label ? 'hold' : 'flip') : '';
  }
}

async function predictCurrent(): Promise<void> {
  if (current) showPredictions(await request<Predictions>({ type: 'predict', image: current.image }), 'pred');
}

function onReady(m: Ready): void {
  Object.assign(demo, { backend: m.backend, note: m.note, totalIters: m.totalIters });
  classNames = m.classNames;
  $('backend').textContent = m.backend === 'webgpu' ? 'WebGPU' : 'WASM';
  $('note').textContent = m.backend === 'wasm' ? `${m.note} (one thread)` : m.note;
  $('acc-caption').textContent = `G's accuracy on ${m.testImages} test images: clean, and under PGD-${m.pgdSteps} at ε ${m.eps} (first 100)`;
  lossChart.setXMax(m.totalIters); accChart.setXMax(m.totalIters);
  for (const id of ['toggle', 'attack', 'download']) ($(id) as HTMLButtonElement).disabled = false;
  if (params.get('autostart') !== '0') send({ type: 'start' });
  void pickTest();
  status();
}

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  if (m.type === 'ready') onReady(m);
  else if (m.type === 'progress') {
    Object.assign(demo, { iterations: m.iter, lossR: m.lossR, lossN: m.lossN, imagesPerSec: m.imagesPerSec });
    lossChart.add('R (robust, PGD)', m.iter, m.lossR); lossChart.add('N (natural)', m.iter, m.lossN);
    status();
  } else if (m.type === 'eval') {
    demo.cleanAcc = m.cleanAcc; demo.evaluatedAt = m.iter;
    accChart.add('G clean', m.iter, m.cleanAcc);
    if (m.robustAcc !== undefined) { demo.robustAcc = m.robustAcc; accChart.add('G under PGD', m.iter, m.robustAcc); }
    status();
    void predictCurrent();
  } else if (m.type === 'state') { demo.running = m.running; demo.done = m.done; status(); }
  else if (m.type === 'reply') { pending.get(m.id)?.resolve(m.value); pending.delete(m.id); }
  else if (m.type === 'error') {
    demo.errors.push(m.message);
    console.error(`demo worker: ${m.message}`);
    if (m.id !== undefined) { pending.get(m.id)?.reject(new Error(m.message)); pending.delete(m.id); }
    $('status').textContent = `error: ${m.message}`;
  }
};
worker.onerror = (e) => { demo.errors.push(e.message); console.error(`demo worker: ${e.message}`); };

const pad = attachPad($<HTMLCanvasElement>('pad'), (image) => { current = { image, label: null }; void predictCurrent(); });
async function pickTest(): Promise<void> {
  const t = await request<{ image: Float32Array; label: number }>({ type: 'testImage', index: Number(($('test-index') as HTMLInputElement).value) || 0 });
  current = t;
  showImage($<HTMLCanvasElement>('pad'), t.image);
  await predictCurrent();
}

async function attack(): Promise<void> {
  if (!current) return;
  const eps = Number(($('eps') as HTMLInputElement).value);
  $('attack-status').textContent = 'attacking…';
  const r = await request<AttackResult>({ type: 'attack', image: current.image, label: current.label, eps });
  showPredictions(r.before, 'pred');
  showPredictions(r.after, 'after', r.before);
  for (const net of ['N', 'R', 'G'] as const) {
    showImage($<HTMLCanvasElement>(`adv-${net}`), r.adversarial[net]);
    showImage($<HTMLCanvasElement>(`delta-${net}`), perturbation(r.adversarial[net], current.image, eps));
  }
  const labels = (p: Predictions) => ({ N: p.N.label, R: p.R.label, G: p.G.label });
  demo.attack = { label: r.label, eps, before: labels(r.before), after: labels(r.after) };
  $('attack-status').textContent = `PGD against each network, label ${classNames[r.label] ?? r.label}, ε ${eps}`;
}

async function download(): Promise<void> {
  const bytes = await request<Uint8Array>({ type: 'export' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
  a.download = 'model.onnx';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

$('toggle').onclick = () => send({ type: demo.running ? 'stop' : 'start' });
$('clear').onclick = () => { pad.clear(); current = null; };
$('pick').onclick = () => void pickTest();
$('attack').onclick = () => void attack();
$('download').onclick = () => void download();
$('eps').oninput = () => { $('eps-value').textContent = Number(($('eps') as HTMLInputElement).value).toFixed(2); };
// ?backend=wasm skips the WebGPU attempt; ?autostart=0 waits for the button.
const params = new URLSearchParams(location.search);
send({ type: 'init', base: new URL('./', location.href).href, backend: params.get('backend') === 'wasm' ? 'wasm' : 'auto' });
