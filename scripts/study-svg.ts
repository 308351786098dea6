// One plot of the study: clean accuracy (y) against AutoAttack accuracy (x) on the test split, a
// point per baseline run and a curve per Generalist run (its G(b) points, b = weight of the robust
// teacher), the point chosen on validation ringed. Plain SVG, no dependencies.
export interface PlotSeries {
  label: string;
  color: string;
  /** Points (x = AutoAttack, y = clean), drawn as a curve when `curve`. */
  points: { x: number; y: number; note?: string }[];
  curve?: boolean;
  /** Indices of points to ring (the chosen operating point). */
  ring?: number[];
}

const W = 640, H = 440, L = 60, R = 190, T = 30, B = 50;

/** Axis range padded to whole percents around the data. */
function range(vs: number[]): [number, number] {
  const lo = Math.max(0, Math.floor(100 * Math.min(...vs) - 2) / 100), hi = Math.min(1, Math.ceil(100 * Math.max(...vs) + 2) / 100);
  return hi > lo ? [lo, hi] : [Math.max(0, lo - 0.05), Math.min(1, hi + 0.05)];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function plotSvg(title: string, series: PlotSeries[]): string {
  const all = series.flatMap((s) => s.points);
  if (!all.length) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="60"><text x="10" y="30" font-family="sans-serif" font-size="13">${esc(title)}: no AutoAttack numbers yet</text></svg>\n`;
  const [x0, x1] = range(all.map((p) => p.x)), [y0, y1] = range(all.map((p) => p.y));
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R), py = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  out.push(`<text x="${L}" y="18" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const xv = x0 + ((x1 - x0) * i) / 5, yv = y0 + ((y1 - y0) * i) / 5;
    out.push(`<line x1="${px(xv)}" y1="${T}" x2="${px(xv)}" y2="${H - B}" stroke="#eee"/><text x="${px(xv)}" y="${H - B + 15}" text-anchor="middle">${(100 * xv).toFixed(1)}</text>`);
    out.push(`<line x1="${L}" y1="${py(yv)}" x2="${W - R}" y2="${py(yv)}" stroke="#eee"/><text x="${L - 6}" y="${py(yv) + 4}" text-anchor="end">${(100 * yv).toFixed(1)}</text>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">AutoAttack accuracy, % (test)</text>`);
  out.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">clean accuracy, % (test)</text>`);
  series.forEach((s, i) => {
    if (s.curve && s.points.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`);
    s.points.forEach((p, j) => {
      out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="${s.curve ? 2.5 : 4}" fill="${s.color}"><title>${esc(`${s.label}${p.note ? ` ${p.note}` : ''}: clean ${(100 * p.y).toFixed(1)}%, AutoAttack ${(100 * p.x).toFixed(1)}%`)}</title></circle>`);
      if (s.ring?.includes(j)) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="7" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
      if (p.note && s.curve) out.push(`<text x="${(px(p.x) + 4).toFixed(1)}" y="${(py(p.y) - 4).toFixed(1)}" font-size="9" fill="${s.color}">${esc(p.note)}</text>`);
    });
    const ly = T + 14 * i + 6;
    out.push(`<circle cx="${W - R + 14}" cy="${ly}" r="4" fill="${s.color}"/><text x="${W - R + 22}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
