// The HTML around the reports' charts: escaping, tables, sections and one stylesheet, so every
// page (run report, robustness report) has the same look and stands alone (no script, no network).

export const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A fraction as a percentage with two decimals (the text tables' form). */
export const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : '–');

/** A table cell holding an accuracy: the exact value in data-value, the percentage as text. */
export const accCell = (v: number): string => `<td class="num" data-value="${Number.isFinite(v) ? v : ''}">${pct(v)}</td>`;

/** A table: header cells as text, body rows as ready-made HTML cells. */
export function table(head: string[], rows: string[][], cls = ''): string {
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('')}</tbody></table>`;
}

/** A definition list of key facts. */
export const facts = (pairs: [string, string][]): string => `<dl class="facts">${pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;

export const section = (id: string, title: string, body: string, note = ''): string =>
  `<section id="${id}"><h2>${esc(title)}</h2>${note ? `<p class="note">${note}</p>` : ''}${body}</section>`;

/** A chart (inline SVG) in a figure the page tests find by data-chart. */
export const figure = (name: string, svg: string, caption = ''): string =>
  `<figure class="chart" data-chart="${esc(name)}">${svg}${caption ? `<figcaption>${caption}</figcaption>` : ''}</figure>`;

const STYLE = `
:root { --ink: #222; --muted: #666; --line: #e3e3e3; --accent: #4c3cbf; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #f6f6f8; }
header { background: #1f1b3a; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header p { margin: 0; color: #cfcbe8; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 32px 48px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 20px 18px; margin: 16px 0; }
h2 { font-size: 17px; margin: 2px 0 10px; font-weight: 600; }
h3 { font-size: 14px; margin: 14px 0 6px; font-weight: 600; }
.note { color: var(--muted); margin: -4px 0 10px; }
.charts { display: flex; flex-wrap: wrap; gap: 10px 24px; }
figure.chart { margin: 0; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; max-width: 420px; }
table { border-collapse: collapse; margin: 4px 0 8px; }
th, td { padding: 4px 12px; border-bottom: 1px solid var(--line); text-align: left; }
th { font-weight: 600; background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
code, pre { font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
pre { background: #f4f4f7; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; overflow-x: auto; white-space: pre-wrap; }
details summary { cursor: pointer; color: var(--accent); margin: 8px 0; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 32px; }
@media (max-width: 900px) { .cols { grid-template-columns: 1fr; } }
.ops span { display: inline-block; background: #eeecf8; border-radius: 4px; padding: 1px 7px; margin: 2px 4px 2px 0; font-size: 12.5px; }
`;

/** A whole page. */
export function page(title: string, subtitle: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><header><h1>${esc(title)}</h1><p>${subtitle}</p></header><main>${body}</main></body></html>
`;
}
