// A small line chart on a canvas: fixed x range (iterations of the run), y from 0 to a fixed or
// growing maximum, one polyline per series, a legend.
export interface Series { name: string; color: string; points: [number, number][] }

export class LineChart {
  private readonly series: Series[];
  constructor(private readonly canvas: HTMLCanvasElement, names: [string, string][], private xMax: number, private yMax: number | 'auto', private readonly yFormat: (v: number) => string) {
    this.series = names.map(([name, color]) => ({ name, color, points: [] }));
  }

  setXMax(x: number): void { this.xMax = x; this.draw(); }

  add(name: string, x: number, y: number): void {
    this.series.find((s) => s.name === name)!.points.push([x, y]);
    this.draw();
  }

  draw(): void {
    const c = this.canvas, g = c.getContext('2d')!;
    const W = c.width, H = c.height, L = 44, R = 10, T = 26, B = 24;
    const yMax = this.yMax === 'auto' ? Math.max(0.5, ...this.series.flatMap((s) => s.points.map((p) => p[1]))) * 1.05 : this.yMax;
    const px = (x: number) => L + ((W - L - R) * x) / Math.max(1, this.xMax);
    const py = (y: number) => H - B - ((H - T - B) * Math.min(y, yMax)) / yMax;
    g.clearRect(0, 0, W, H);
    g.font = '11px system-ui, sans-serif';
    g.strokeStyle = '#e3e3e3'; g.fillStyle = '#666'; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      g.beginPath(); g.moveTo(L, py(v)); g.lineTo(W - R, py(v)); g.stroke();
      g.textAlign = 'right'; g.fillText(this.yFormat(v), L - 4, py(v) + 4);
    }
    g.textAlign = 'center';
    for (let i = 0; i <= 4; i++) g.fillText(String(Math.round((this.xMax * i) / 4)), px((this.xMax * i) / 4), H - 8);
    let lx = L;
    for (const s of this.series) {
      g.strokeStyle = s.color; g.lineWidth = 1.6; g.beginPath();
      s.points.forEach(([x, y], i) => (i ? g.lineTo(px(x), py(y)) : g.moveTo(px(x), py(y))));
      g.stroke();
      g.fillStyle = s.color; g.fillRect(lx, 8, 14, 3);
      g.fillStyle = '#333'; g.textAlign = 'left'; g.fillText(s.name, lx + 18, 13);
      lx += 26 + g.measureText(s.name).width;
    }
  }
}
