// Where WebGPU and the CPU part ways inside one artifact: every intermediate value of the graph is
// made an output, the artifact runs on both providers on the same inputs, and each node is listed
// whose outputs differ much more than its inputs do (the op that computes differently).
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp \
//     node --import tsx scripts/webgpu-diff.ts [--model smallcnn|file.onnx] [--artifact train_step] [--opt disabled]
//       [--batch 4] [--mnist] [--eps 0.1]
// --mnist feeds the first MNIST training digits (exact zeros and ties, unlike uniform noise).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { initialState } from '../src/artifacts/build.js';
import { loadModel, loadModelFile } from '../src/onnx/load.js';
import { saveModel } from '../src/onnx/save.js';
import { inferShapes } from '../src/onnx/shapes.js';
import { DataType, type Model } from '../src/onnx/ir.js';
import { buildZooModel } from '../src/zoo/index.js';
import { ort } from '../src/runtime/ort.js';
import { ArtifactRuntime } from '../src/runtime/artifact-runtime.js';
import { Rng } from '../src/util/rng.js';
import { loadDataset } from '../src/data/index.js';
import { gradFormsFor } from '../src/runtime/providers.js';

ort.env.logLevel = 'error';

/** The model with every node output a graph output (typed by shape inference). */
function exposeAll(m: Model): Model {
  const opset = m.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 17;
  const facts = inferShapes(m.graph, opset);
  const have = new Set(m.graph.outputs.map((o) => o.name));
  const extra = m.graph.nodes.flatMap((n) => n.outputs).filter((o) => o && !have.has(o)).map((name) => ({ name, dtype: facts.get(name)?.dtype ?? DataType.FLOAT, shape: undefined }));
  return { ...m, graph: { ...m.graph, outputs: [...m.graph.outputs, ...extra] } };
}

/** max |a - b| / (1 + |b|), or the fraction of differing elements for integer/bool tensors. */
function diff(a: ort.Tensor, b: ort.Tensor): number {
  if (a.size !== b.size) return Infinity;
  const x = a.data as ArrayLike<number | bigint>, y = b.data as ArrayLike<number | bigint>;
  let worst = 0;
  if (a.type === 'float32') {
    for (let i = 0; i < y.length; i++) {
      const d = Math.abs((x[i] as number) - (y[i] as number)) / (1 + Math.abs(y[i] as number));
      worst = Math.max(worst, Number.isNaN(d) ? (Number.isNaN(x[i] as number) && Number.isNaN(y[i] as number) ? 0 : Infinity) : d);
    }
    return worst;
  }
  let n = 0;
  for (let i = 0; i < y.length; i++) if (x[i] !== y[i]) n++;
  return n / Math.max(1, y.length);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string', default: 'smallcnn' }, artifact: { type: 'string', default: 'train_step' }, opt: { type: 'string', default: 'disabled' }, batch: { type: 'string', default: '4' }, top: { type: 'string', default: '25' }, mnist: { type: 'boolean' }, eps: { type: 'string', default: '0.1' } } });
  const model = values.model!.endsWith('.onnx') ? loadModelFile(values.model!) : buildZooModel(values.model!, { seed: 3 });
  const { dir, manifest } = ensureArtifacts(model, { pgdSteps: 1, ...gradFormsFor('webgpu') }, mkdtempSync(join(tmpdir(), 'wgdiff-')));
  const spec = manifest.artifacts[values.artifact as keyof typeof manifest.artifacts];
  const art = exposeAll(loadModel(readFileSync(join(dir, spec.file))));
  const n = Number(values.batch);
  const rng = new Rng(5);
  const w0 = ArtifactRuntime.weightsFrom(initialState(model).values());
  const feeds: Record<string, ort.Tensor> = {};
  const digits = values.mnist ? loadDataset('mnist').train : undefined;
  for (const i of spec.inputs) {
    const dims = i.shape.map((d) => (typeof d === 'number' ? d : n));
    const size = dims.reduce((a, v) => a * v, 1);
    if (w0[i.name]) feeds[i.name] = w0[i.name];
    else if (i.dtype === 'int64') feeds[i.name] = new ort.Tensor('int64', BigInt64Array.from({ length: size }, (_, k) => BigInt(digits ? digits.labels[k] : k % 3)), dims);
    else if (digits && (i.name === 'x' || i.name === 'x_adv')) feeds[i.name] = new ort.Tensor('float32', Float32Array.from(digits.images.subarray(0, size), (v) => v / 255), dims);
    else if (i.name.includes('noise')) feeds[i.name] = new ort.Tensor('float32', rng.fillUniform(new Float32Array(size), -1, 1), dims);
    else if (dims.length === 0) feeds[i.name] = new ort.Tensor('float32', Float32Array.of(i.name.includes('momentum') ? 0.9 : i.name.includes('lr') ? 0.05 : i.name.includes('eps') ? Number(values.eps) : 0.05), []);
    else if (i.name.includes(':') && !i.name.startsWith('x')) feeds[i.name] = new ort.Tensor('float32', new Float32Array(size), dims);
    else feeds[i.name] = new ort.Tensor('float32', rng.fillUniform(new Float32Array(size), 0, 1), dims);
    console.log(`feed ${i.name} ${feeds[i.name].type}[${dims}]`);
  }
  const bytes = saveModel(art);
  const outs: Record<string, ort.Tensor>[] = [];
  for (const p of ['cpu', 'webgpu'] as const) {
    const s = await ort.InferenceSession.create(bytes, { executionProviders: p === 'cpu' ? ['cpu'] : ['webgpu', 'cpu'], graphOptimizationLevel: values.opt as 'disabled', intraOpNumThreads: 1 });
    outs.push(await s.run(feeds));
    await s.release();
  }
  const [cpu, gpu] = outs;
  const d = (name: string) => (name in cpu && name in gpu ? diff(gpu[name], cpu[name]) : 0);
  const rows = art.graph.nodes.map((node, i) => {
    const inD = Math.max(0, ...node.inputs.filter(Boolean).map(d));
    const outD = Math.max(0, ...node.outputs.filter(Boolean).map(d));
    return { i, node, inD, outD, gain: outD / Math.max(inD, 1e-7) };
  });
  for (const o of spec.outputs) console.log(`output ${o.name}: ${d(o.name).toExponential(2)}`);
  console.log('nodes whose outputs differ most beyond their inputs:');
  for (const r of rows.filter((r) => r.outD > 1e-5).sort((a, b) => b.gain - a.gain).slice(0, Number(values.top))) {
    console.log(`#${r.i} ${r.node.opType} ${r.node.name} in ${r.inD.toExponential(2)} out ${r.outD.toExponential(2)} (${r.node.inputs.join(',')} -> ${r.node.outputs.join(',')})`);
  }
}

await main();
