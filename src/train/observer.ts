// What the training loop tells its observers (the TensorBoard event log, the HTML report, tests):
// the start of a call to train(), every iteration, every epoch's metrics, and the finished run.
// Observers only read; the trainer calls them in order and awaits each.
import type { IterationResult } from './iteration.js';
import type { Run } from './run.js';
import type { RunState } from './state.js';
import type { EpochMetrics, TrainResult } from './trainer.js';

export interface IterationInfo {
  /** Iterations done in the whole run, this one included (the x axis of every curve). */
  step: number;
  /** Run fraction the iteration's schedules were read at. */
  frac: number;
  /** EMA updates before this iteration (its decay is emaDecay(config, emaUpdates, totalIters)). */
  emaUpdates: number;
  images: number;
  seconds: number;
  result: IterationResult;
}

export interface TrainObserver {
  /** A call to train() begins (fresh, or resumed from the state's counters). */
  start?(run: Run, state: RunState, resumed: boolean): void | Promise<void>;
  iteration?(run: Run, info: IterationInfo): void | Promise<void>;
  /** An epoch ended: its metrics line (validation included), at run step `step`. */
  epoch?(run: Run, m: EpochMetrics, step: number): void | Promise<void>;
  /** The run finished: model exported, test table in summary.json. */
  finish?(run: Run, result: TrainResult, step: number): void | Promise<void>;
}

/** Several observers as one, called in order. */
export class Observers implements Required<TrainObserver> {
  constructor(private readonly list: TrainObserver[]) {}
  async start(run: Run, state: RunState, resumed: boolean) { for (const o of this.list) await o.start?.(run, state, resumed); }
  async iteration(run: Run, info: IterationInfo) { for (const o of this.list) await o.iteration?.(run, info); }
  async epoch(run: Run, m: EpochMetrics, step: number) { for (const o of this.list) await o.epoch?.(run, m, step); }
  async finish(run: Run, result: TrainResult, step: number) { for (const o of this.list) await o.finish?.(run, result, step); }
}
