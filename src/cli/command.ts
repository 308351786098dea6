// What a CLI command is, and the small helpers every command shares: argument parsing on top of
// node:util parseArgs (unknown flags become a UsageError, exit 2), integer options, tables.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Dim, Shape } from '../onnx/ir.js';

/** Where a command writes. Tests pass collectors; the real CLI writes to stdout/stderr. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

export interface Command {
  /** What the user types: `generalist <name>`. */
  name: string;
  /** One line for the top-level help. */
  summary: string;
  /** The command's full help (usage line, description, options), printed by `--help`. */
  usage: string;
  /** Runs with the arguments after the command name; returns the exit code. */
  run(argv: string[], io: CliIO): Promise<number> | number;
}

/** Bad command line: printed as `error: <message>` plus a help hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An expected failure (file cannot be written, ...): printed as `error: <message>`, exit code 1, no stack. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs with strict checking; `positionals` gives how many positional arguments the command takes.
 * `--help` never reaches a command (main.ts answers it), so commands need not declare it.
 */
export function parseCommandArgs<const O extends Options>(
  command: string,
  argv: string[],
  options: O,
  positionals: { min: number; max: number; what: string },
) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (code.startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message.split('. To specify a positional')[0], command);
    throw e;
  }
  const n = parsed.positionals.length;
  if (n < positionals.min) throw new UsageError(`missing ${positionals.what}`, command);
  if (n > positionals.max) throw new UsageError(`unexpected argument${n - positionals.max > 1 ? 's' : ''}: ${parsed.positionals.slice(positionals.max).join(' ')}`, command);
  return parsed;
}

/** An integer option value (undefined stays undefined). */
export function intOption(value: string | undefined, flag: string, command: string, range: { min?: number; max?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new UsageError(`--${flag} needs an integer, got "${value}"`, command);
  if (range.min !== undefined && n < range.min) throw new UsageError(`--${flag} must be at least ${range.min}, got ${n}`, command);
  if (range.max !== undefined && n > range.max) throw new UsageError(`--${flag} must be at most ${range.max}, got ${n}`, command);
  return n;
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

export const formatDim = (d: Dim): string => (d === null ? '?' : String(d));
export const formatShape = (s: Shape): string => (s ? `[${s.map(formatDim).join(', ')}]` : '(unknown rank)');
