// generalist export: a run's global learner (or an expert, a teacher, or a point G(b) of the
// trade-off curve) as a standalone inference ONNX.
import { saveModelFile } from '../../onnx/save.js';
import { exportInference } from '../../train/export.js';
import { LEARNER_PREFIX, learnerWeights, loadSavedRun, openSavedRun, type Learner } from '../../train/saved-run.js';
import { exportBlend } from '../../train/tradeoff.js';
import { CliError, parseCommandArgs, type Command } from '../command.js';
import { betaValue } from './tradeoff.js';

export const exportCommand: Command = {
  name: 'export',
  summary: "Export a run's global learner (or an expert, or a point of its trade-off curve) as an inference ONNX model",
  usage: `Usage: generalist export <run-dir> -o model.onnx [--which G|R|N|A|S | --beta B]

Reads <run-dir>/checkpoint.bin and config.json and writes an inference model (BatchNorm in
inference mode, input "input" [N,C,H,W] in [0,1], output "logits") that any ONNX runtime loads.
--which: G global learner (default), R robust expert, N natural expert, A/S their EMA teachers.
--beta B: the point G(B) = B*A + (1-B)*S of the trade-off curve (parameters and BatchNorm
statistics), B in [0, 1]; 'generalist tradeoff <run-dir>' scores the points on validation data.
Baseline runs (natural, pgd-at, trades) keep their model in N (natural) or R.`,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('export', argv, { out: { type: 'string', short: 'o' }, which: { type: 'string' }, beta: { type: 'string' } }, { min: 1, max: 1, what: 'run folder' });
    if (!values.out) throw new CliError('missing -o FILE', 2);
    if (values.which !== undefined && values.beta !== undefined) throw new CliError('--which and --beta exclude each other: --beta B exports B*A + (1-B)*S', 2);
    const which = (values.which ?? 'G') as Learner;
    if (!(which in LEARNER_PREFIX)) throw new CliError(`--which must be one of ${Object.keys(LEARNER_PREFIX).join(', ')}`, 2);
    const beta = values.beta === undefined ? undefined : betaValue(values.beta, 'beta', 'export');
    const run = loadSavedRun(positionals[0]);
    if (beta === undefined) {
      saveModelFile(exportInference(run.source, learnerWeights(run, which), { exportedFrom: run.dir, which }), values.out);
      io.out(`wrote ${values.out} (${which} of ${positionals[0]})`);
      return 0;
    }
    if (run.config.method !== 'generalist') throw new CliError(`${positionals[0]} is a ${run.config.method} run: --beta needs a Generalist run's teachers A and S`);
    const { rt } = await openSavedRun(run);
    try {
      saveModelFile(await exportBlend(run, rt, beta), values.out);
    } finally {
      await rt.release();
    }
    io.out(`wrote ${values.out} (G(${beta}) = ${beta}*A + ${+(1 - beta).toFixed(6)}*S of ${positionals[0]})`);
    return 0;
  },
};
