// generalist export-model <name> -o file.onnx: writes a freshly initialised zoo model.
import { ZOO, buildZooModel, countParameters, saveModel } from '../../index.js';
import { writeFileAtomic } from '../../util/fs.js';
import { CliError, UsageError, intOption, parseCommandArgs, type Command } from '../command.js';
import { formatBytes, formatInt } from '../../util/format.js';

export const exportModelCommand: Command = {
  name: 'export-model',
  summary: 'Write a zoo model (freshly initialised) to an ONNX file',
  usage: `Usage: generalist export-model <name> -o <file.onnx> [--seed N] [--classes K]

Builds zoo model <name> (see 'generalist models') with seeded PyTorch-default initial weights
and writes it as an ONNX file. Input "input" [N, C, H, W] float32, output "logits" [N, K].

Options:
  -o, --output <file>  Where to write the model (required)
  --seed <N>           Seed of the weight initialisation (default 0)
  --classes <K>        Number of output classes (default: the model's)
  -h, --help           Show this help`,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('export-model', argv, {
      output: { type: 'string', short: 'o' },
      seed: { type: 'string' },
      classes: { type: 'string' },
    }, { min: 1, max: 1, what: 'the model name (see generalist models)' });
    const name = positionals[0];
    if (!Object.prototype.hasOwnProperty.call(ZOO, name)) throw new UsageError(`unknown model "${name}"; available: ${Object.keys(ZOO).join(', ')}`, 'export-model');
    if (!values.output) throw new UsageError('missing -o <file.onnx>', 'export-model');
    const seed = intOption(values.seed, 'seed', 'export-model', { min: 0 });
    const classes = intOption(values.classes, 'classes', 'export-model', { min: 2, max: 1_000_000 });
    const model = buildZooModel(name, { seed, classes });
    const bytes = saveModel(model);
    try {
      writeFileAtomic(values.output, bytes);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new CliError(`cannot write ${values.output}: ${err.code === 'ENOENT' ? 'its folder does not exist' : err.message}`);
    }
    io.out(`wrote ${name} to ${values.output} (${formatInt(countParameters(model))} parameters, ${formatBytes(bytes.byteLength)})`);
    return 0;
  },
};
