// The static memory of an artifact graph (src/onnx/liveness.ts): the peak of live intermediates
// in file order at a batch size, the largest values live there, and what is held only for a Shape.
//   node --import tsx scripts/liveness.ts <file.onnx> [--batch 128] [--top 12]
import { parseArgs } from 'node:util';
import { loadModelFile } from '../src/onnx/load.js';
import { staticLiveness } from '../src/onnx/liveness.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { batch: { type: 'string', default: '128' }, top: { type: 'string', default: '12' } } });
if (positionals.length !== 1) throw new Error('usage: scripts/liveness.ts <file.onnx> [--batch N] [--top K]');
const batch = Number(values.batch);
const r = staticLiveness(loadModelFile(positionals[0]), batch);
const MiB = (v: number) => (v / 2 ** 20).toFixed(1);
console.log(`${positionals[0]} at batch ${batch}: ${r.nodes} nodes; peak of live intermediates ${MiB(r.peak)} MiB at node ${r.peakAt}`);
for (const v of r.atPeak.slice(0, Number(values.top))) console.log(`  ${MiB(v.bytes).padStart(7)} MiB  ${v.name}  <- ${v.producer}`);
console.log(`held at the peak only for a later Shape/Size: ${MiB(r.heldForShape)} MiB; values of unknown size: ${r.unknown}`);
