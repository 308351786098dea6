// generalist train: the main job. Config = defaults <- preset <- file <- --set overrides.
import { resolveConfig, listPresets, parseOverrideArgs, ConfigError } from '../../config/index.js';
import { formatTable, train } from '../../train/trainer.js';
import { CliError, parseCommandArgs, type Command } from '../command.js';

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train with the Generalist method (or a baseline) and write runs/<name>/',
  usage: `Usage: generalist train [--preset NAME] [--config FILE.json] [--set key=value ...] [--resume]

Trains a model as the config says and writes runs/<name>/: config.json, metrics.jsonl,
checkpoint.bin (every 5 minutes, every epoch and on Ctrl-C), best-model.onnx (best on the validation split),
model.onnx (the final global learner) and summary.json (test accuracy).

Options:
  --preset NAME      Start from a preset (${listPresets().map((p) => p.name).join(', ')})
  --config FILE      A JSON file with a partial config (may name a "preset")
  --set key=value    Override one field by its dotted path, e.g. --set attack.eps=0.1 (repeatable)
  --method M         Shorthand for --set method=M (generalist, natural, pgd-at, trades)
  --name NAME        Shorthand for --set name=NAME (the run folder is runs/<name>)
  --epochs N         Shorthand for --set epochs=N
  --resume           Continue the run's last checkpoint (lr schedules, epochs, eval.* and
                     checkpoint.* may change; without a checkpoint the run starts)
  --list-presets     List the presets and exit
  -h, --help         Show this help`,
  async run(argv, io) {
    const { values } = parseCommandArgs('train', argv, {
      preset: { type: 'string' }, config: { type: 'string' }, set: { type: 'string', multiple: true },
      method: { type: 'string' }, name: { type: 'string' }, epochs: { type: 'string' },
      resume: { type: 'boolean' }, 'list-presets': { type: 'boolean' },
    }, { min: 0, max: 0, what: '' });
    if (values['list-presets']) {
      for (const p of listPresets()) io.out(`${p.name.padEnd(20)} ${p.description}`);
      return 0;
    }
    let config;
    try {
      const overrides = parseOverrideArgs(values.set ?? []);
      if (values.method) overrides.method = values.method;
      if (values.name) overrides.name = values.name;
      if (values.epochs) overrides.epochs = values.epochs;
      config = resolveConfig({ preset: values.preset, file: values.config, overrides });
    } catch (e) {
      if (e instanceof ConfigError) throw new CliError(e.message, 2);
      throw e;
    }
    let stop = false;
    const onSignal = (sig: string) => {
      if (stop) process.exit(130);
      stop = true;
      io.err(`\n${sig}: finishing this iteration and writing a checkpoint (press again to quit at once)`);
    };
    const onInt = () => onSignal('SIGINT');
    const onTerm = () => onSignal('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    try {
      io.err(`training ${config.method} on ${config.dataset.name} with ${config.model.source}: ${config.epochs} epochs, batch ${config.batchSize} -> ${config.outDir}`);
      const r = await train(config, { resume: values.resume, shouldStop: () => stop });
      if (r.interrupted) return 130;
      io.out(formatTable(r.final!, config.eval.pgdSteps, config.attack.eps));
      io.out(`model: ${r.modelPath}`);
      return 0;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  },
};
