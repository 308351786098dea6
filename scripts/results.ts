// Regenerates docs/RESULTS.md: for each dataset and method, one training run with the same budget
// (the `generalist train` command printed in the table), then the test-set evaluation of its
// model.onnx with `generalist eval` (clean, PGD-20, CW-20 on --n images; AutoAttack on --aa-n).
//   node --import tsx scripts/results.ts [--datasets mnist,fashion-mnist] [--methods natural,pgd-at,trades,generalist]
//        [--n 1000] [--aa-n 500] [--set key=value ...]   (extra --set overrides apply to every run)
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveConfig } from '../src/config/index.js';
import { train } from '../src/train/trainer.js';
import { evaluateRobustness } from '../src/attacks/index.js';
import { loadDataset } from '../src/data/index.js';

const { values } = parseArgs({ options: {
  datasets: { type: 'string', default: 'mnist,fashion-mnist' }, methods: { type: 'string', default: 'natural,pgd-at,trades,generalist' },
  n: { type: 'string', default: '1000' }, 'aa-n': { type: 'string', default: '500' }, set: { type: 'string', multiple: true, default: [] },
  out: { type: 'string', default: 'docs/RESULTS.md' },
} });
const PRESET: Record<string, string> = { mnist: 'mnist-smallcnn', 'fashion-mnist': 'fashion-smallcnn' };
const n = Number(values.n);
const aaN = Number(values['aa-n']);
const extra: Record<string, string> = Object.fromEntries(values.set!.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const jsonPath = join('docs', 'results.json');
const rows: Record<string, unknown>[] = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) : [];

/** Rewrites the part of docs/RESULTS.md between the markers; the prose around it is kept. */
function render(): void {
  const pct = (v: unknown) => (typeof v === 'number' ? `${(100 * v).toFixed(1)}%` : '-');
  const lines = rows.map((r) => `| ${r.dataset} | ${r.method} | ${r.eps} | ${pct(r.clean)} | ${pct(r.pgd20)} | ${pct(r.cw20)} | ${pct(r.autoattack)} | ${r.imagesPerSec} | ${r.trainSeconds} |`);
  const cmds = rows.map((r) => `- ${r.dataset} / ${r.method}: \`${r.trainCommand}\`, then \`${r.evalCommand}\``);
  const table = `${START}
Clean, PGD-20 and CW-20: first ${n} test images. AutoAttack (APGD-CE, APGD-T, Square; worst case per
image): first ${aaN}. images/s: training throughput of the method's whole iteration.

| dataset | method | eps | clean | PGD-20 | CW-20 | AutoAttack | images/s | train s |
|---|---|---|---|---|---|---|---|---|
${lines.join('\n')}

Commands:

${cmds.join('\n')}
${END}`;
  const old = existsSync(values.out!) ? readFileSync(values.out!, 'utf8') : `# Results\n\n${START}\n${END}\n`;
  const a = old.indexOf(START);
  const b = old.indexOf(END);
  const text = a >= 0 && b > a ? old.slice(0, a) + table + old.slice(b + END.length) : `${old}\n${table}\n`;
  writeFileSync(values.out!, text);
  writeFileSync(jsonPath, JSON.stringify(rows, null, 2) + '\n');
}
const START = '<!-- results:start (written by scripts/results.ts) -->';
const END = '<!-- results:end -->';

for (const dataset of values.datasets!.split(',')) {
  for (const method of values.methods!.split(',')) {
    const name = `results-${dataset}-${method}`;
    const outDir = join('runs', name);
    rmSync(outDir, { recursive: true, force: true });
    const overrides = { name, method, ...extra };
    const config = resolveConfig({ preset: PRESET[dataset], overrides });
    const sets = Object.entries(overrides).filter(([k]) => k !== 'name').map(([k, v]) => `--set ${k}=${v}`).join(' ');
    console.error(`== ${dataset} / ${method}`);
    const t0 = performance.now();
    const r = await train(config);
    const trainSeconds = Math.round((performance.now() - t0) / 1000);
    const test = loadDataset(config.dataset.name, { testSubset: n }).test;
    const eps = config.attack.eps;
    const rep = await evaluateRobustness(r.modelPath!, test, { eps, attacks: ['pgd20', 'cw20'], n, seed: 0 });
    const aa = await evaluateRobustness(r.modelPath!, test, { eps, attacks: ['autoattack'], n: Math.min(aaN, n), seed: 0 });
    const ips = r.metrics.reduce((a, m) => a + m.imagesPerSec, 0) / r.metrics.length;
    const row = {
      dataset, method, eps: +eps.toFixed(4), clean: rep.cleanAccuracy,
      pgd20: rep.attacks.find((a) => a.name === 'pgd20')!.robustAccuracy, cw20: rep.attacks.find((a) => a.name === 'cw20')!.robustAccuracy,
      autoattack: aa.ensemble.robustAccuracy, imagesPerSec: Math.round(ips), trainSeconds,
      trainCommand: `npx generalist train --preset ${PRESET[dataset]} --set name=${name} ${sets}`,
      evalCommand: `npx generalist eval --model ${outDir}/model.onnx --dataset ${dataset} --n ${n} --eps ${+eps.toFixed(4)} --attacks pgd20,cw20 (and --n ${Math.min(aaN, n)} --attacks autoattack)`,
    };
    const i = rows.findIndex((x) => x.dataset === dataset && x.method === method);
    if (i >= 0) rows[i] = row; else rows.push(row);
    render();
    console.error(JSON.stringify(row));
  }
}
