import type { BreakEven, CostEstimate, Option } from './model.js';
import { OPTION_NAMES } from './model.js';

/*
 * The break-even chart of docs/cost.md, drawn like bench/lib/chart.ts draws the latency chart
 * (plain SVG by hand, same palette, sizes and fonts), so the bench needs no chart library.
 */

const COLORS: Readonly<Record<Option, string>> = { a: '#1f77b4', b: '#d62728', c: '#2ca02c' };
const W = 760;
const H = 440;
const M = { left: 70, right: 190, top: 40, bottom: 56 };

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

function rateLabel(rate: number): string {
  return rate >= 1000 ? `${rate / 1000}k` : String(rate);
}

/** Monthly cost (linear) against orders per hour (log), one line per option, the break-even points of the options circled. */
export function breakEvenChart(title: string, grid: readonly CostEstimate[], points: readonly BreakEven[]): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  if (grid.length < 2) {
    out.push(`<text x="${M.left}" y="${M.top + 40}">no data</text></svg>`);
    return out.join('\n');
  }
  const xMin = grid[0]!.ordersPerHour;
  const xMax = grid.at(-1)!.ordersPerHour;
  const yTop = Math.max(...grid.flatMap((e) => [e.a.monthlyUsd, e.b.monthlyUsd, e.c.monthlyUsd])) * 1.1;
  const yStep = niceStep(yTop, 6);
  const yMax = Math.ceil(yTop / yStep) * yStep;
  const sx = (x: number) => M.left + ((Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * plotW;
  const sy = (y: number) => M.top + plotH - (y / yMax) * plotH;

  const decades: number[] = [];
  for (let d = 10 ** Math.ceil(Math.log10(xMin) - 1e-9); d <= xMax * 1.0001; d *= 10) decades.push(d);
  const minor = decades.flatMap((d) => [d / 5, d / 2, d * 2, d * 5]).filter((x) => x > xMin && x < xMax && !decades.includes(x));
  out.push(`<g stroke="#eee">`);
  for (const x of minor) out.push(`<line x1="${sx(x).toFixed(1)}" y1="${M.top}" x2="${sx(x).toFixed(1)}" y2="${M.top + plotH}"/>`);
  out.push(`</g>`, `<g stroke="#ddd">`);
  for (const x of decades) out.push(`<line x1="${sx(x).toFixed(1)}" y1="${M.top}" x2="${sx(x).toFixed(1)}" y2="${M.top + plotH}"/>`);
  for (let y = 0; y <= yMax + 1e-9; y += yStep)
    out.push(`<line x1="${M.left}" y1="${sy(y).toFixed(1)}" x2="${M.left + plotW}" y2="${sy(y).toFixed(1)}"/>`);
  out.push(`</g>`, `<g fill="#333">`);
  for (const x of decades) out.push(`<text x="${sx(x).toFixed(1)}" y="${M.top + plotH + 18}" text-anchor="middle">${rateLabel(x)}</text>`);
  for (let y = 0; y <= yMax + 1e-9; y += yStep)
    out.push(`<text x="${M.left - 8}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">$${Math.round(y)}</text>`);
  out.push(`<text x="${M.left + plotW / 2}" y="${H - 14}" text-anchor="middle">orders (sagas) per hour (log)</text>`);
  out.push(`<text transform="translate(18 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">consumers' cost per month, USD</text>`);
  out.push(`</g>`);
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);

  (['a', 'b', 'c'] as const).forEach((option, i) => {
    const color = COLORS[option];
    const dash = option === 'c' ? ' stroke-dasharray="6 4"' : '';
    const path = grid
      .map((e, k) => `${k === 0 ? 'M' : 'L'}${sx(e.ordersPerHour).toFixed(1)},${sy(e[option].monthlyUsd).toFixed(1)}`)
      .join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    const ly = M.top + 10 + i * 20;
    out.push(`<line x1="${W - M.right + 14}" y1="${ly}" x2="${W - M.right + 40}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${W - M.right + 46}" y="${ly + 4}">${esc(OPTION_NAMES[option].replace(/ \(.*\)$/, ''))}</text>`);
  });
  const marked = points.filter((p) => p.kind === 'options' && p.ordersPerHour >= xMin && p.ordersPerHour <= xMax);
  marked.forEach((p, i) => {
    const x = sx(p.ordersPerHour);
    const y = sy(p.monthlyUsd);
    out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="5" fill="none" stroke="#000" stroke-width="1.5"/>`);
    out.push(
      `<text x="${x.toFixed(1)}" y="${(y - 10 - (i % 2) * 14).toFixed(1)}" text-anchor="middle" fill="#000">${Math.round(p.ordersPerHour).toLocaleString('en-US')}/h</text>`,
    );
  });
  const ly = M.top + 20 + 3 * 20;
  out.push(`<text x="${W - M.right + 14}" y="${ly + 4}" fill="#555">○ break-even</text>`);
  out.push(`<text x="${W - M.right + 14}" y="${ly + 22}" fill="#555">API and PostgreSQL</text>`);
  out.push(`<text x="${W - M.right + 14}" y="${ly + 38}" fill="#555">left out (same in all)</text>`);
  out.push('</svg>');
  return out.join('\n');
}
