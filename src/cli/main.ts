// src/cli: the `generalist` command line, a thin layer over the library: this dispatcher, the shared
// helpers (command.ts) and commands/. Imports any folder of src.
//
// `generalist`: the command-line interface. A table of commands (one file each in ./commands);
// this file only dispatches, answers --help, and turns errors into messages and exit codes:
// 0 ok, 1 failure (an expected one prints `error: <message>`, anything else its stack), 2 bad usage.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OnnxError } from '../onnx/errors.js';
import { DatasetError } from '../data/errors.js';
import { ConfigError } from '../config/resolve.js';
import { CheckpointError } from '../train/checkpoint.js';
import { TrainError } from '../train/errors.js';
import { ProviderError } from '../runtime/providers.js';
import { ArtifactError } from '../artifacts/store.js';
import { OrtError } from '../runtime/ort-error.js';
import { AttackModelError } from '../attacks/model.js';
import { ReportError } from '../report/run-data.js';
import { CliError, UsageError, table, type CliIO } from './command.js';
import { COMMANDS } from './commands/index.js';

export { COMMANDS };

/** Errors that are the user's input being wrong, not a bug: printed without a stack trace. */
export const EXPECTED_ERRORS: (new (...args: never[]) => Error)[] = [OnnxError, DatasetError, CliError, ConfigError, CheckpointError, ProviderError, ArtifactError, TrainError, OrtError, AttackModelError, ReportError];

export const processIO: CliIO = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : text + '\n'),
};

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function topLevelHelp(): string {
  return `generalist - train ONNX classifiers to be accurate and robust, on stock ONNX Runtime

Usage: generalist <command> [options]
       generalist <command> --help
       generalist --version

Commands:
${table(COMMANDS.map((c) => ['  ' + c.name, c.summary]))}

Run 'generalist <command> --help' for a command's options.`;
}

/** `--help`/`-h` anywhere before a `--`. */
const wantsHelp = (argv: string[]): boolean => {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
};

/** Runs the CLI on `argv` (the arguments after `generalist`); returns the exit code. */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(topLevelHelp());
    return 2;
  }
  if (name === '--help' || name === '-h') {
    io.out(topLevelHelp());
    return 0;
  }
  if (name === '--version' || name === '-V') {
    io.out(version());
    return 0;
  }
  if (name === 'help') {
    if (rest.length === 0) { io.out(topLevelHelp()); return 0; }
    const cmd = COMMANDS.find((c) => c.name === rest[0]);
    if (!cmd) return usageError(io, new UsageError(`unknown command "${rest[0]}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}`));
    io.out(cmd.usage);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    const what = name.startsWith('-') ? `unknown option "${name}"` : `unknown command "${name}"`;
    return usageError(io, new UsageError(`${what}; commands: ${COMMANDS.map((c) => c.name).join(', ')}`));
  }
  if (wantsHelp(rest)) {
    io.out(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) return usageError(io, e, cmd.name);
    if (EXPECTED_ERRORS.some((C) => e instanceof C)) {
      io.err(`error: ${(e as Error).message}`);
      return e instanceof CliError ? e.exitCode : 1;
    }
    io.err(e instanceof Error ? (e.stack ?? String(e)) : `error: ${String(e)}`);
    return 1;
  }
}

function usageError(io: CliIO, e: UsageError, command = e.command): number {
  io.err(`error: ${e.message}`);
  io.err(command ? `Run 'generalist ${command} --help' for usage.` : `Run 'generalist --help' for the list of commands.`);
  return 2;
}

/** Entry point for bin/generalist.mjs and `node --import tsx src/cli/main.ts`. */
export async function runCli(argv: string[] = process.argv.slice(2)): Promise<void> {
  // `generalist models | head` closes stdout early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await main(argv);
}

const isEntry = (): boolean => {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
};
if (isEntry()) await runCli();
