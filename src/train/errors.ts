/** A run that cannot start or go on as asked (an existing run, nothing to resume, a bad model source, divergence). */
export class TrainError extends Error {
  constructor(message: string) { super(message); this.name = 'TrainError'; }
}
