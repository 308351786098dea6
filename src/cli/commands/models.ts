// generalist models: the zoo, with each entry's input shape, classes and parameter count.
import { ZOO, countParameters } from '../../index.js';
import { parseCommandArgs, table, type Command } from '../command.js';

export const modelsCommand: Command = {
  name: 'models',
  summary: 'List the model zoo (name, input shape, classes, parameters)',
  usage: `Usage: generalist models [--json]

Lists the models 'generalist export-model' (and training) can build. Parameter counts are
PyTorch's (BatchNorm running statistics excluded); the larger models take a few seconds to build.

Options:
  --json      Print a JSON array instead of a table
  -h, --help  Show this help`,
  run(argv, io) {
    const { values } = parseCommandArgs('models', argv, { json: { type: 'boolean' } }, { min: 0, max: 0, what: '' });
    const rows = Object.values(ZOO).map((e) => ({
      name: e.name,
      inputShape: [...e.inputShape],
      classes: e.classes,
      parameters: countParameters(e.build()),
      description: e.description,
    }));
    if (values.json) {
      io.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    io.out(table([
      ['NAME', 'INPUT', 'CLASSES', 'PARAMETERS', 'DESCRIPTION'],
      ...rows.map((r) => [r.name, r.inputShape.join('x'), String(r.classes), String(r.parameters), r.description]),
    ]));
    return 0;
  },
};
