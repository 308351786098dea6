// Progress of long jobs: a bar redrawn in place on a TTY, plain periodic lines otherwise (CI logs).
export interface ProgressSink { write(s: string): void; isTTY?: boolean }

const fmtTime = (s: number): string => {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
};

export class ProgressBar {
  private start = performance.now();
  private lastDraw = 0;
  private lastLine = 0;
  constructor(private readonly label: string, private readonly total: number, private readonly sink: ProgressSink = process.stderr, private readonly lineEverySec = 15) {}

  update(done: number, images: number, fields: Record<string, string | number> = {}): void {
    const now = performance.now();
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? images / elapsed : 0;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : Infinity;
    const extra = Object.entries(fields).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(4) : v}`).join('  ');
    if (this.sink.isTTY) {
      if (now - this.lastDraw < 100 && done < this.total) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round((done / this.total) * width);
      this.sink.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}  ${rate.toFixed(0)} img/s  ${extra}  ETA ${fmtTime(eta)}\x1b[K`);
    } else if (now - this.lastLine >= this.lineEverySec * 1000 || done === this.total) {
      this.lastLine = now;
      this.sink.write(`${this.label} ${done}/${this.total}  ${rate.toFixed(0)} img/s  ${extra}  ETA ${fmtTime(eta)}\n`);
    }
  }

  finish(): void {
    if (this.sink.isTTY) this.sink.write('\n');
  }
}
