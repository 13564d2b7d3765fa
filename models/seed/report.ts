// The training run's HTML report: loss and validation-metric curves as inline SVG, the config and the
// final figures. One self-contained file; open it from disk, no server.

export interface EpochRecord {
  epoch: number;
  step: number; // optimizer steps so far
  trainLoss: number; // mean next-token cross-entropy over the epoch (nats per code token)
  auxLoss: number; // mean MoE load-balancing loss (before its weight)
  unlikelihoodLoss?: number; // mean history-unlikelihood term (before its weight), when --unlikelihood > 0
  distillLoss?: number; // mean cross-entropy against the teachers' distribution (before its weight), when --distill is set
  denseLoss?: number; // the dense head's mean full-softmax cross-entropy (before its weight), with --denseHead
  expertLoad: number[][]; // [decoderLayers, experts] fraction of top-k slots routed to each expert
  seconds: number; // wall-clock since the run started
  validation?: Record<string, number>; // recall@5/10, ndcg@5/10, valid_id_rate on the validation subset
}

export interface Series {
  name: string;
  points: [number, number][]; // [x, y]
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

/** A line chart of one or more series with axes and a legend.  width × height in px */
export function lineChart(title: string, xLabel: string, series: Series[], width = 560, height = 300): string {
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const pad = { left: 56, right: 16, top: 28, bottom: 40 };
  if (all.length === 0) return `<svg width="${width}" height="${height}"><text x="10" y="20">${escapeHtml(title)}: no data</text></svg>`;
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const sx = (x: number): number => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y: number): number => height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const ticks = (a: number, b: number): number[] => Array.from({ length: 5 }, (_, i) => a + ((b - a) * i) / 4);
  const fmt = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13">${escapeHtml(title)}</text>`,
    `<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" stroke="#333"/>`,
    `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" stroke="#333"/>`,
    `<text x="${width / 2}" y="${height - 6}" text-anchor="middle">${escapeHtml(xLabel)}</text>`];
  for (const t of ticks(y0, y1)) parts.push(`<text x="${pad.left - 4}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`, `<line x1="${pad.left}" y1="${sy(t)}" x2="${width - pad.right}" y2="${sy(t)}" stroke="#eee"/>`);
  for (const t of ticks(x0, x1)) parts.push(`<text x="${sx(t)}" y="${height - pad.bottom + 14}" text-anchor="middle">${fmt(t)}</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.2" fill="${color}"/>`);
    parts.push(`<text x="${width - pad.right - 4}" y="${pad.top + 14 * i + 8}" text-anchor="end" fill="${color}">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The whole report page. */
export function trainingReport(title: string, config: Record<string, unknown>, epochs: EpochRecord[], summary: Record<string, unknown>): string {
  const loss = lineChart('training loss (nats / code token)', 'epoch', [
    { name: 'next-token CE', points: epochs.map((e) => [e.epoch, e.trainLoss]) },
  ]);
  const metricNames = ['recall@10', 'ndcg@10', 'recall@5', 'ndcg@5'];
  const metrics = lineChart('validation', 'epoch', metricNames.map((m) => ({
    name: m, points: epochs.filter((e) => e.validation).map((e) => [e.epoch, e.validation![m]] as [number, number]),
  })));
  const last = epochs.at(-1);
  const load = last?.expertLoad.length
    ? `<table><tr><th>decoder layer</th>${last.expertLoad[0].map((_, e) => `<th>expert ${e}</th>`).join('')}</tr>${last.expertLoad.map((row, l) => `<tr><td>${l}</td>${row.map((v) => `<td>${(100 * v).toFixed(1)}%</td>`).join('')}</tr>`).join('')}</table>`
    : '';
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1200px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:12px}pre{background:#f6f6f6;padding:8px}</style></head><body>
<h1>${escapeHtml(title)}</h1>
<h2>Summary</h2><pre>${escapeHtml(JSON.stringify(summary, null, 2))}</pre>
<div style="display:flex;flex-wrap:wrap;gap:16px">${loss}${metrics}</div>
<h2>Expert load (last epoch, share of top-k slots)</h2>${load}
<h2>Epochs</h2><table><tr><th>epoch</th><th>step</th><th>loss</th><th>aux</th><th>R@10</th><th>N@10</th><th>s</th></tr>
${epochs.map((e) => `<tr><td>${e.epoch}</td><td>${e.step}</td><td>${e.trainLoss.toFixed(4)}</td><td>${e.auxLoss.toFixed(4)}</td><td>${e.validation?.['recall@10']?.toFixed(4) ?? ''}</td><td>${e.validation?.['ndcg@10']?.toFixed(4) ?? ''}${e.validation?.['ndcg@10_se'] !== undefined ? ` ± ${e.validation['ndcg@10_se'].toFixed(4)}` : ''}</td><td>${e.seconds.toFixed(0)}</td></tr>`).join('\n')}</table>
<h2>Config</h2><pre>${escapeHtml(JSON.stringify(config, null, 2))}</pre>
</body></html>\n`;
}
