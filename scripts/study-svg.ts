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

interface Box { x0: number; y0: number; x1: number; y1: number }
const overlap = (a: Box, b: Box): number => Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0)) * Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));
/** Where a label of `chars` characters (font-size 9) may go around its point: [dx, dy, anchor]. */
const SPOTS: [number, number, 'start' | 'end'][] = [[5, -5, 'start'], [5, 12, 'start'], [-5, -5, 'end'], [-5, 12, 'end'], [9, -13, 'start'], [-9, -13, 'end'], [9, 20, 'start'], [-9, 20, 'end']];
const labelBox = (x: number, y: number, [dx, dy, anchor]: (typeof SPOTS)[number], chars: number): Box => {
  const w = 5.2 * chars, x0 = anchor === 'start' ? x + dx : x + dx - w;
  return { x0, y0: y + dy - 8, x1: x0 + w, y1: y + dy + 1 };
};

/**
 * Places each label at the first spot around its point that overlaps no placed label and no
 * marker and stays inside `area`; where none is free, at the spot that overlaps least. Returns the
 * SVG text elements.
 */
function placeLabels(labels: { x: number; y: number; text: string; color: string }[], markers: Box[], area: Box): string[] {
  const placed: Box[] = [];
  return labels.map((l) => {
    let best = SPOTS[0], bestCost = Infinity;
    for (const spot of SPOTS) {
      const box = labelBox(l.x, l.y, spot, l.text.length);
      const outside = box.x0 < area.x0 || box.x1 > area.x1 || box.y0 < area.y0 || box.y1 > area.y1 ? 1e6 : 0;
      const cost = outside + [...placed, ...markers].reduce((c, m) => c + overlap(box, m), 0);
      if (cost < bestCost) [best, bestCost] = [spot, cost];
      if (cost === 0) break;
    }
    placed.push(labelBox(l.x, l.y, best, l.text.length));
    return `<text x="${(l.x + best[0]).toFixed(1)}" y="${(l.y + best[1]).toFixed(1)}" font-size="9" fill="${l.color}"${best[2] === 'end' ? ' text-anchor="end"' : ''}>${esc(l.text)}</text>`;
  });
}

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
  const labels: { x: number; y: number; text: string; color: string }[] = [];
  const markers: Box[] = [];
  series.forEach((s, i) => {
    if (s.curve && s.points.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`);
    s.points.forEach((p, j) => {
      out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="${s.curve ? 2.5 : 4}" fill="${s.color}"><title>${esc(`${s.label}${p.note ? ` ${p.note}` : ''}: clean ${(100 * p.y).toFixed(1)}%, AutoAttack ${(100 * p.x).toFixed(1)}%`)}</title></circle>`);
      if (s.ring?.includes(j)) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="7" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
      const r = s.ring?.includes(j) ? 7 : s.curve ? 2.5 : 4;
      markers.push({ x0: px(p.x) - r, y0: py(p.y) - r, x1: px(p.x) + r, y1: py(p.y) + r });
      if (p.note && s.curve) labels.push({ x: px(p.x), y: py(p.y), text: p.note, color: s.color });
    });
    const ly = T + 14 * i + 6;
    out.push(`<circle cx="${W - R + 14}" cy="${ly}" r="4" fill="${s.color}"/><text x="${W - R + 22}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  // The b= labels last, placed around the markers and each other (two seeds' curves often share points).
  out.push(...placeLabels(labels, markers, { x0: L, y0: T, x1: W - R, y1: H - B }));
  out.push('</svg>');
  return out.join('\n') + '\n';
}
