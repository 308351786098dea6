// The training observer that writes <run>/report.html when a run finishes. The run's results are
// on disk before it runs; a report that fails to render is a warning, never a lost run.
import type { TrainObserver } from '../train/observer.js';
import type { Run } from '../train/run.js';

export class RunReportWriter implements TrainObserver {
  async finish(run: Run): Promise<void> {
    try {
      // Loaded here, not at start-up: the charting library is only needed once a run ends.
      const { writeRunReport } = await import('./run-report.js');
      const path = await writeRunReport(run.outDir);
      run.log(`report: ${path}`);
    } catch (e) {
      run.log(`warning: the HTML report could not be written (${(e as Error).message}); the run's files are complete, try generalist report ${run.outDir}`);
    }
  }
}
