// src/cli/commands: one file per `generalist` command, each parsing its flags and calling the library;
// this table lists them. Imports any folder of src and ../command.ts.
import type { Command } from '../command.js';
import { modelsCommand } from './models.js';
import { exportModelCommand } from './export-model.js';
import { inspectCommand } from './inspect.js';
import { artifactsCommand } from './artifacts.js';
import { trainCommand } from './train.js';
import { exportCommand } from './export.js';
import { evalCommand } from './eval.js';
import { tradeoffCommand } from './tradeoff.js';
import { reportCommand } from './report.js';

/** Every command, in help order. Adding a command: one file here and one line in this table. */
export const COMMANDS: Command[] = [
  modelsCommand,
  exportModelCommand,
  inspectCommand,
  artifactsCommand,
  trainCommand,
  exportCommand,
  tradeoffCommand,
  evalCommand,
  reportCommand,
];
