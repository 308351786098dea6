// Everything a run folder holds that the HTML report shows: config.json, metrics.jsonl,
// summary.json, the model, tradeoff.json (generalist tradeoff), robustness reports of
// `generalist eval --json` saved in the folder, and the per-iteration scalars of the event files.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { REPORT_SCHEMA, type RobustnessReport } from '../attacks/report.js';
import type { Config } from '../config/types.js';
import { describeModel, type ModelReport } from '../artifacts/describe.js';
import { loadModelFile } from '../onnx/load.js';
import type { Accuracy } from '../train/evaluate.js';
import type { EpochMetrics } from '../train/trainer.js';
import type { TradeoffReport } from '../train/tradeoff.js';
import { eventFiles, readEventFile } from './events.js';
import { TfRecordError } from './tfrecord.js';

export class ReportError extends Error {
  constructor(message: string) { super(message); this.name = 'ReportError'; }
}

export interface Summary { method: string; config: string; epochs: number; test: Record<string, Accuracy>; pgdSteps: number; eps: number; imagesPerSec?: number }

export interface RunData {
  dir: string;
  config: Config;
  metrics: EpochMetrics[];
  summary?: Summary;
  model?: ModelReport;
  /** tradeoff.json of `generalist tradeoff RUN`: G re-blended at several beta. */
  tradeoff?: TradeoffReport;
  /** Robustness reports found in the folder, with their file names. */
  robustness: { file: string; report: RobustnessReport }[];
  /** Per-iteration scalars from the event files, by tag: [step, value] (later files replace what a restart redid). */
  scalars: Record<string, [number, number][]>;
}

function readJson<T>(path: string, what: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new ReportError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** Scalars of every event file, oldest first; a file's SessionLog START at step s drops earlier values at steps >= s. */
export function eventScalars(dir: string): Record<string, [number, number][]> {
  const out: Record<string, [number, number][]> = {};
  for (const file of eventFiles(dir)) {
    let events;
    try {
      events = readEventFile(file);
    } catch (e) {
      if (!(e instanceof TfRecordError)) throw e;
      throw new ReportError(`${e.message}; the event file is damaged: move it out of the run folder to write the report without it`);
    }
    for (const e of events) {
      if (e.sessionStatus === 1) for (const k of Object.keys(out)) out[k] = out[k].filter(([s]) => s < e.step);
      for (const v of e.values ?? []) if (v.simpleValue !== undefined) (out[v.tag] ??= []).push([e.step, v.simpleValue]);
    }
  }
  return out;
}

/** Robustness reports (`generalist eval --json`) lying in the run folder. */
function robustnessReports(dir: string): { file: string; report: RobustnessReport }[] {
  const known = new Set(['config.json', 'summary.json', 'tradeoff.json']);
  const out: { file: string; report: RobustnessReport }[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json') && !known.has(n)).sort()) {
    let parsed: unknown;
    try { parsed = JSON.parse(readFileSync(join(dir, name), 'utf8')); } catch { continue; }
    if ((parsed as RobustnessReport | null)?.schema === REPORT_SCHEMA) out.push({ file: name, report: parsed as RobustnessReport });
  }
  return out;
}

export function loadRunData(dirArg: string): RunData {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ReportError(`${dirArg} is not a run folder (no such directory)`);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new ReportError(`${dirArg} is not a run folder: it has no config.json (generalist train writes one)`);
  const config = readJson<Config>(configPath, 'the config');
  const metricsPath = join(dir, 'metrics.jsonl');
  const metrics = existsSync(metricsPath)
    ? readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
      try { return JSON.parse(l) as EpochMetrics; } catch (e) { throw new ReportError(`${metricsPath} line ${i + 1}: ${(e as Error).message}`); }
    })
    : [];
  const summaryPath = join(dir, 'summary.json');
  const tradeoffPath = join(dir, 'tradeoff.json');
  const modelPath = ['model.onnx', 'source.onnx'].map((n) => join(dir, n)).find(existsSync);
  return {
    dir, config, metrics,
    summary: existsSync(summaryPath) ? readJson<Summary>(summaryPath, 'the summary') : undefined,
    model: modelPath ? describeModel(loadModelFile(modelPath), basename(modelPath)) : undefined,
    tradeoff: existsSync(tradeoffPath) ? readJson<TradeoffReport>(tradeoffPath, 'the trade-off sweep') : undefined,
    robustness: robustnessReports(dir),
    scalars: eventScalars(dir),
  };
}
