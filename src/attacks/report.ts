// The robustness report: what evaluateRobustness returns (schema REPORT_SCHEMA, documented in
// docs/EVAL.md), its JSON form and a fixed-width text table.
import type { InputLayout, OutputKind } from '../artifacts/analyze.js';
import type { Norm } from './common.js';
import type { AttackSpec } from './names.js';

export const REPORT_SCHEMA = 'onnx-generalist/robustness-report@1';

export interface ComponentReport {
  name: string;
  /** Examples this stage attacked (still robust before it). */
  attacked: number;
  /** Robust after this stage (cumulative over the stages so far). */
  robustCorrect: number;
  robustAccuracy: number;
  seconds: number;
}

export interface AttackReport {
  name: string;
  kind: AttackSpec['kind'];
  params: Record<string, number | string>;
  /** Examples attacked (the clean-correct ones). */
  attacked: number;
  robustCorrect: number;
  robustAccuracy: number;
  seconds: number;
  /** ORT runs and examples pushed through them (gradient graphs / forward graph, verification included). */
  gradientRuns: number;
  gradientExamples: number;
  forwardRuns: number;
  forwardExamples: number;
  /** Claims of the attack the fresh forward pass overturned by a float-rounding tie. */
  nearTies: number;
  /** Largest perturbation seen (in the attack's norm). */
  maxPerturbation: number;
  /** Square (also inside AutoAttack): queries per attacked example. */
  queries?: { mean: number; median: number; meanToSuccess: number | null };
  components?: ComponentReport[];
}

export interface RobustnessReport {
  schema: typeof REPORT_SCHEMA;
  /** inputLayout 'nhwc': a channels-last model fed [C, H, W] images; outputKind 'probabilities': attacked through its final Softmax's input. */
  model: { source: string; sha256: string; inputShape: number[]; classes: number; inputLayout: InputLayout; outputKind: OutputKind };
  dataset: string;
  n: number;
  eps: number;
  norm: Norm;
  seed: number;
  batchSize: number;
  cleanCorrect: number;
  cleanAccuracy: number;
  attacks: AttackReport[];
  ensemble: { attacks: string[]; robustCorrect: number; robustAccuracy: number };
  /** Per example, in dataset order: label, clean prediction, and 1/0 robust flags. */
  perExample: { label: number[]; cleanPrediction: number[]; clean: number[]; robust: Record<string, number[]>; ensemble: number[] };
  invariants: { batchesChecked: number; examplesChecked: number; maxPerturbation: number; tolerance: number };
  seconds: number;
  startedAt: string;
  /** Set (non-enumerable) when returnAdversarial is true: [n, ...shape] float32. */
  adversarial?: Float32Array;
}

/** The report as JSON: two-space indentation, arrays of numbers kept on one line. */
export function reportToJson(r: RobustnessReport): string {
  const arrays: string[] = [];
  const text = JSON.stringify(r, (_k, v: unknown) => (Array.isArray(v) && v.every((e) => typeof e === 'number') ? `\u0000${arrays.push(JSON.stringify(v)) - 1}\u0000` : v), 2);
  return text.replace(/"\\u0000(\d+)\\u0000"/g, (_m, i: string) => arrays[Number(i)]) + '\n';
}

/** The report as a fixed-width text table. */
export function formatReport(r: RobustnessReport): string {
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const rows: [string, string, string, string][] = [['attack', 'robust acc', 'robust/n', 'seconds']];
  rows.push(['(clean)', pct(r.cleanAccuracy), `${r.cleanCorrect}/${r.n}`, '']);
  for (const a of r.attacks) {
    rows.push([a.name, pct(a.robustAccuracy), `${a.robustCorrect}/${r.n}`, a.seconds.toFixed(1)]);
    for (const c of a.components ?? []) rows.push([`  ${a.name}:${c.name}`, pct(c.robustAccuracy), `${c.robustCorrect}/${r.n}`, c.seconds.toFixed(1)]);
  }
  if (r.attacks.length > 1) rows.push(['ensemble (worst case)', pct(r.ensemble.robustAccuracy), `${r.ensemble.robustCorrect}/${r.n}`, '']);
  const w = [0, 1, 2, 3].map((k) => Math.max(...rows.map((row) => row[k].length)));
  const line = (row: string[]) => row.map((c, k) => (k === 0 ? c.padEnd(w[k]) : c.padStart(w[k]))).join('  ');
  const head = `${r.model.source} on ${r.dataset}: n=${r.n}, ${r.norm === 'linf' ? 'L-inf' : 'L2'} eps=${r.eps}, seed=${r.seed}`;
  return [head, line(rows[0]), w.map((x) => '-'.repeat(x)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

