// The training observer that writes TensorBoard event files as a run goes (events.ts): per
// iteration each expert's loss and accuracy, lr, eps, beta, EMA decay and images/s; per epoch the
// validation clean and PGD accuracy of every network; at the end the test table; at the start the
// resolved config as text. The step is the run's iteration count, so a resumed run continues it.
import { betaAt, emaDecay, epsAt, lrAt } from '../config/schedule.js';
import type { IterationInfo, TrainObserver } from '../train/observer.js';
import type { Run } from '../train/run.js';
import type { RunState } from '../train/state.js';
import type { EpochMetrics, TrainResult } from '../train/trainer.js';
import { formatTable } from './test-table.js';
import { EventWriter } from './events.js';

/** Per-iteration scalars of one iteration: the experts' training numbers and the schedules' values. */
export function iterationScalars(run: Run, it: IterationInfo): Record<string, number> {
  const { config } = run;
  const v: Record<string, number> = {};
  const experts = [['R', it.result.robust, config.optim.robust], ['N', it.result.natural, config.optim.natural]] as const;
  for (const [k, r, o] of experts) {
    if (!r) continue;
    v[`train_loss/${k}`] = r.loss;
    v[`train_acc/${k}`] = r.correct / it.images;
    v[`lr/${k}`] = lrAt(o, it.frac);
  }
  if (it.result.robust) v['schedule/eps'] = epsAt(config, it.frac);
  if (run.method === 'generalist') {
    v['schedule/beta'] = betaAt(config, it.frac);
    v['schedule/ema_decay'] = emaDecay(config, it.emaUpdates, run.totalIters);
  }
  v['speed/images_per_sec'] = it.images / it.seconds;
  return v;
}

/** Per-epoch scalars: validation accuracy of each network, the epoch's mean training loss, its speed. */
export function epochScalars(m: EpochMetrics, pgdSteps: number): Record<string, number> {
  const v: Record<string, number> = {};
  for (const [k, a] of Object.entries(m.val ?? {})) {
    v[`val_clean/${k}`] = a.clean;
    v[`val_pgd${pgdSteps}/${k}`] = a.robust;
  }
  for (const [k, l] of Object.entries(m.trainLoss)) v[`epoch_train_loss/${k}`] = l;
  v['epoch/images_per_sec'] = m.imagesPerSec;
  v['epoch/epoch'] = m.epoch;
  return v;
}

export class TensorBoardLog implements TrainObserver {
  private writer: EventWriter | null = null;

  start(run: Run, state: RunState, resumed: boolean): void {
    this.writer = new EventWriter(run.outDir);
    if (resumed) this.writer.sessionStart(state.iter + 1);
    const indented = JSON.stringify(run.config, null, 2).split('\n').map((l) => `    ${l}`).join('\n');
    this.writer.text(state.iter, 'config', `Resolved config of **${run.config.name}** (${run.method}, config hash ${run.hash})${resumed ? `, resumed at iteration ${state.iter}` : ''}:\n\n${indented}`);
  }

  iteration(run: Run, it: IterationInfo): void {
    this.writer?.scalars(it.step, iterationScalars(run, it));
  }

  epoch(run: Run, m: EpochMetrics, step: number): void {
    this.writer?.scalars(step, epochScalars(m, run.config.eval.pgdSteps));
  }

  finish(run: Run, result: TrainResult, step: number): void {
    if (!this.writer || !result.final) return;
    const { pgdSteps } = run.config.eval;
    const v: Record<string, number> = {};
    for (const [k, a] of Object.entries(result.final)) {
      v[`test_clean/${k}`] = a.clean;
      v[`test_pgd${pgdSteps}/${k}`] = a.robust;
    }
    this.writer.scalars(step, v);
    this.writer.text(step, 'test_table', formatTable(result.final, pgdSteps, run.config.attack.eps).replace('\n', '\n\n'));
  }
}
