// generalist report RUN: the run's HTML report (the same file training writes at its end).
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CliError, parseCommandArgs, type Command } from '../command.js';

export const reportCommand: Command = {
  name: 'report',
  summary: 'Write the HTML report of a run folder: curves, test table, trade-off, robustness',
  usage: `Usage: generalist report RUN [-o FILE.html]

Writes one self-contained HTML file (inline SVG charts, no script, no network) for the run folder
RUN: the config and the model, training loss and validation clean/PGD accuracy of G, R and N per
epoch, the lr/eps/beta schedules, the test table, the clean-vs-robust trade-off (with the beta
sweep of tradeoff.json when the folder has one), robustness reports of generalist eval --json
saved in the folder, and the commands that reproduce the run. Training writes RUN/report.html at
its end; this command renders it again (e.g. of a run still in progress, or after an eval).

Options:
  -o, --out FILE     Where to write (default RUN/report.html)
  -h, --help         Show this help`,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('report', argv, { out: { type: 'string', short: 'o' } }, { min: 1, max: 1, what: 'the run folder (e.g. runs/mnist-smallcnn)' });
    const out = values.out;
    if (out !== undefined && !existsSync(dirname(resolve(out)))) throw new CliError(`--out ${out}: the folder ${dirname(resolve(out))} does not exist`);
    const { writeRunReport } = await import('../../report/run-report.js'); // the charting library loads only for this command
    const path = await writeRunReport(positionals[0], out);
    io.out(`wrote ${path}`);
    return 0;
  },
};
