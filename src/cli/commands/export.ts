// generalist export: a run's global learner (or an expert/teacher) as a standalone inference ONNX.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config/types.js';
import { saveModelFile } from '../../onnx/save.js';
import { loadModelFile } from '../../onnx/load.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { exportInference } from '../../train/export.js';
import { loadSourceModel } from '../../train/source.js';
import { CliError, parseCommandArgs, type Command } from '../command.js';

const WHICH = { G: 'G/', R: 'R.w/', N: 'N.w/', A: 'A/', S: 'S/' } as const;

export const exportCommand: Command = {
  name: 'export',
  summary: "Export a run's global learner (or an expert) as an inference ONNX model",
  usage: `Usage: generalist export <run-dir> -o model.onnx [--which G|R|N|A|S]

Reads <run-dir>/checkpoint.bin and config.json and writes an inference model (BatchNorm in
inference mode, input "input" [N,C,H,W] in [0,1], output "logits") that any ONNX runtime loads.
--which: G global learner (default), R robust expert, N natural expert, A/S their EMA teachers.
Baseline runs (natural, pgd-at, trades) keep their model in N (natural) or R.`,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('export', argv, { out: { type: 'string', short: 'o' }, which: { type: 'string' } }, { min: 1, max: 1, what: 'run folder' });
    if (!values.out) throw new CliError('missing -o FILE', 2);
    const which = (values.which ?? 'G') as keyof typeof WHICH;
    if (!(which in WHICH)) throw new CliError(`--which must be one of ${Object.keys(WHICH).join(', ')}`, 2);
    const dir = positionals[0];
    const cfgPath = join(dir, 'config.json');
    if (!existsSync(cfgPath)) throw new CliError(`${dir} is not a run folder (no config.json)`);
    const config = JSON.parse(readFileSync(cfgPath, 'utf8')) as Config;
    const ck = loadCheckpoint(join(dir, 'checkpoint.bin'));
    const prefix = WHICH[which];
    const weights = Object.fromEntries(Object.entries(ck.tensors).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    if (!Object.keys(weights).length) throw new CliError(`the checkpoint holds no ${which} weights`);
    const sourcePath = join(dir, 'source.onnx');
    const source = existsSync(sourcePath) ? loadModelFile(sourcePath) : loadSourceModel(config.model.source, config.seed);
    saveModelFile(exportInference(source, weights, { exportedFrom: dir, which }), values.out);
    io.out(`wrote ${values.out} (${which} of ${dir})`);
    return 0;
  },
};
