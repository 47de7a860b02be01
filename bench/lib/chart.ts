export interface ChartPoint {
  /** Completed sagas per second at this load point. */
  readonly x: number;
  readonly p50: number;
  readonly p99: number;
}

export interface ChartSeries {
  readonly label: string;
  readonly points: readonly ChartPoint[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
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

/**
 * Latency (log scale) against completed sagas per second, one colour per adapter and style:
 * solid p50, dashed p99. Plain SVG written by hand, so the bench needs no chart library.
 */
export function latencyChart(title: string, series: readonly ChartSeries[]): string {
  const points = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && p.p50 > 0 && p.p99 > 0);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  if (points.length === 0) {
    out.push(`<text x="${M.left}" y="${M.top + 40}">no data</text></svg>`);
    return out.join('\n');
  }
  const xMax = Math.max(...points.map((p) => p.x)) * 1.08;
  const xStep = niceStep(xMax, 6);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...points.map((p) => p.p50))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...points.map((p) => p.p99))));
  const sx = (x: number) => M.left + (x / (Math.ceil(xMax / xStep) * xStep)) * plotW;
  const sy = (y: number) => M.top + plotH - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH;

  out.push(`<g stroke="#ddd">`);
  for (let x = 0; x <= Math.ceil(xMax / xStep) * xStep + 1e-9; x += xStep) {
    out.push(`<line x1="${sx(x).toFixed(1)}" y1="${M.top}" x2="${sx(x).toFixed(1)}" y2="${M.top + plotH}"/>`);
  }
  for (let decade = yMin; decade <= yMax * 1.0001; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const y = decade * m;
      if (y > yMax * 1.0001) break;
      out.push(`<line x1="${M.left}" y1="${sy(y).toFixed(1)}" x2="${M.left + plotW}" y2="${sy(y).toFixed(1)}"/>`);
    }
  }
  out.push(`</g>`);
  out.push(`<g fill="#333">`);
  for (let x = 0; x <= Math.ceil(xMax / xStep) * xStep + 1e-9; x += xStep) {
    out.push(`<text x="${sx(x).toFixed(1)}" y="${M.top + plotH + 18}" text-anchor="middle">${Math.round(x)}</text>`);
  }
  for (let decade = yMin; decade <= yMax * 1.0001; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const y = decade * m;
      if (y > yMax * 1.0001) break;
      out.push(`<text x="${M.left - 8}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${y >= 1 ? Math.round(y) : y}</text>`);
    }
  }
  out.push(`<text x="${M.left + plotW / 2}" y="${H - 14}" text-anchor="middle">completed sagas per second (load)</text>`);
  out.push(
    `<text transform="translate(18 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">POST /orders → terminal state, ms (log)</text>`,
  );
  out.push(`</g>`);
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);

  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = [...s.points].filter((p) => Number.isFinite(p.x) && p.p50 > 0 && p.p99 > 0).sort((a, b) => a.x - b.x);
    for (const [key, dash] of [
      ['p50', ''],
      ['p99', ' stroke-dasharray="6 4"'],
    ] as const) {
      const path = pts.map((p, k) => `${k === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p[key]).toFixed(1)}`).join(' ');
      out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      for (const p of pts) out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p[key]).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    const ly = M.top + 10 + i * 20;
    out.push(`<line x1="${W - M.right + 14}" y1="${ly}" x2="${W - M.right + 40}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${W - M.right + 46}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  const ly = M.top + 20 + series.length * 20;
  out.push(`<text x="${W - M.right + 14}" y="${ly + 4}" fill="#555">solid: p50, dashed: p99</text>`);
  out.push('</svg>');
  return out.join('\n');
}
