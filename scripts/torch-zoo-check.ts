// Checks cases of the torchvision corpus against torch and prints one table row per case:
//   /usr/bin/python3 scripts/make-torch-fixture.py zoo            # full-size models into .cache/torch-zoo
//   node --import tsx scripts/torch-zoo-check.ts [DIR] [CASE...]    # default DIR .cache/torch-zoo, every case
// Columns: the train step's loss error relative to torch's float64 loss (torch's float32 error of
// it); the parameter whose gradient is worst relative to what is allowed (3x torch's own float32
// error, or 1e-4 relative) with our error, torch's float32 error (the spread of its float32 ways)
// and that of its default kernels alone, all relative to that gradient's scale; the largest float32
// error torch itself makes on any parameter (spread / default kernels); whether we train exactly torch's parameters; the largest
// relative error of the BN running statistics after one step; sign flips of the eval-mode input
// gradient where |g| > 1e-3 max|g|; and, for comparison, how many gradients would pass against torch's
// default float32 kernels' error alone (one run: it underestimates torch's float32 error where ReLU
// inputs lie within float32's forward error of 0, see scripts/torch_zoo.py).
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { compareCase } from '../test/helpers/torch-zoo.js';

const dir = resolve(process.argv[2] ?? '.cache/torch-zoo');
const cases = process.argv.length > 3 ? process.argv.slice(3) : readdirSync(dir).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort();
const e = (v: number) => v.toExponential(1);
console.log('| case | loss rel. err (torch f32) | worst gradient: ours / torch f32 spread / torch f32 default | torch f32 floor: spread / default | gradients ok | trained set equal | BN stats equal (rel. err) | input-grad sign flips | gradients ok vs default kernels alone |');
console.log('|---|---|---|---|---|---|---|---|---|');
let failed = 0;
for (const c of cases) {
  try {
    const r = await compareCase(dir, c);
    const bad = r.params.filter((p) => !p.ok).length;
    const setEqual = !r.missing.length && !r.extra.length;
    const setNote = setEqual ? 'yes' : `no (${r.missing.length} missing: ${r.missing.slice(0, 3).join(', ')}; ${r.extra.length} extra: ${r.extra.slice(0, 3).join(', ')})`;
    const stats = r.statsMissing.length ? `no (${r.statsMissing.length} missing)` : `${r.statsOk ? 'yes' : 'no'} (${e(r.statsRel)})`;
    const ok = r.lossOk && !bad && setEqual && r.statsOk && !r.signFlips;
    if (!ok) failed++;
    console.log(`| ${c} | ${e(r.lossRel)} (${e(r.torchLossRel)})${r.lossOk ? '' : ' NO'} | ${e(r.worst.rel)} / ${e(r.worst.floor)} / ${e(r.worst.floorDefault)} (${r.worst.name}) | ${e(r.torchFloor)} / ${e(r.torchFloorDefault)} | ${r.params.length - bad}/${r.params.length} | ${setNote} | ${stats} | ${r.signFlips} | ${r.params.filter((p) => p.okDefault).length}/${r.params.length} |`);
  } catch (err) {
    failed++;
    console.log(`| ${c} | error: ${(err as Error).message.slice(0, 200)} |`);
  }
}
console.log(`\n${cases.length - failed} of ${cases.length} cases match torch`);
process.exitCode = failed ? 1 : 0;
