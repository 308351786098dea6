// Which ops of our artifacts the WebGPU execution provider runs, and which ORT hands back to the
// CPU. ORT only says "some nodes were not assigned"; its verbose log lists every node's provider,
// so each artifact is opened in a child process with verbose logging and that list is read back.
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp \
//     node --import tsx scripts/webgpu-audit.ts [--model smallcnn] [--model test/fixtures/x.onnx] [--loss ce|trades]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureArtifacts } from '../src/artifacts/store.js';
import { loadModelFile } from '../src/onnx/load.js';
import { buildZooModel } from '../src/zoo/index.js';
import { ort } from '../src/runtime/ort.js';
import { gradFormsFor } from '../src/runtime/providers.js';

const ARTIFACTS = ['train_step', 'attack', 'eval', 'ema'] as const;

/** Child mode: open one model on WebGPU with ORT's verbose log (the node placements go to stderr). */
async function place(file: string): Promise<void> {
  const s = await ort.InferenceSession.create(readFileSync(file), { executionProviders: ['webgpu', 'cpu'], logSeverityLevel: 0, logVerbosityLevel: 0 });
  await s.release();
}

/** Op type -> provider -> node count, from ORT's "Node placements" log lines. */
export function parsePlacements(log: string): Map<string, Map<string, number>> {
  const ops = new Map<string, Map<string, number>>();
  let provider = '';
  let inPlacements = false;
  for (const line of log.split('\n')) {
    if (line.includes('VerifyEachNodeIsAssignedToAnEp] Node placements')) { inPlacements = true; continue; }
    if (!inPlacements || !line.includes('VerifyEachNodeIsAssignedToAnEp]')) continue;
    const all = /All nodes placed on \[(\w+)\]/.exec(line);
    if (all) { ops.set('*', new Map([[all[1], 1]])); continue; }
    const head = /placed on \[(\w+)\]/.exec(line);
    if (head) { provider = head[1]; continue; }
    const node = /AnEp\]\s{3}(\w+) \(/.exec(line);
    if (node?.[1] && provider) {
      const m = ops.get(node[1]) ?? new Map<string, number>();
      m.set(provider, (m.get(provider) ?? 0) + 1);
      ops.set(node[1], m);
    }
  }
  return ops;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string', multiple: true }, loss: { type: 'string', default: 'ce' }, place: { type: 'string' } } });
  if (values.place) return place(values.place);
  const models = values.model?.length ? values.model : ['smallcnn'];
  const cache = mkdtempSync(join(tmpdir(), 'webgpu-audit-'));
  const cpuOps = new Map<string, Set<string>>();
  for (const name of models) {
    const model = existsSync(name) ? loadModelFile(name) : buildZooModel(name, { seed: 0 });
    const loss = values.loss === 'trades' ? 'trades' : 'ce';
    const { dir, manifest } = ensureArtifacts(model, { loss, pgdSteps: 2, ...gradFormsFor('webgpu') }, cache);
    for (const k of ARTIFACTS) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', process.argv[1], '--place', join(dir, manifest.artifacts[k].file)], { encoding: 'utf8', maxBuffer: 1 << 28 });
      if (r.status !== 0) throw new Error(`${name} ${k}: the WebGPU session did not open:\n${(r.stderr ?? '').split('\n').filter((l) => !l.includes('[V:')).slice(-5).join('\n')}`);
      const ops = parsePlacements(r.stderr ?? '');
      if (!ops.size) throw new Error(`${name} ${k}: no node placements in ORT's log (is this a WebGPU-capable machine? see the header)`);
      const line = [...ops].filter(([op]) => op !== '*').map(([op, by]) => `${op}${by.has('CPUExecutionProvider') ? `(cpu ${by.get('CPUExecutionProvider')}/${[...by.values()].reduce((a, v) => a + v, 0)})` : ''}`);
      console.log(`${name} ${k}: ${ops.has('*') ? 'all nodes on WebGPU' : line.filter((s) => s.includes('(cpu')).join(' ') || 'all nodes on WebGPU'}`);
      for (const [op, by] of ops) if (by.has('CPUExecutionProvider')) (cpuOps.get(op) ?? cpuOps.set(op, new Set()).get(op)!).add(`${name}:${k}`);
    }
  }
  console.log(`ops ORT runs on the CPU under the WebGPU EP: ${[...cpuOps.keys()].sort().join(', ') || 'none'}`);
}

await main();
