// <out>/report.html: one self-contained page (inline SVG and data: images, no script, no external asset) with,
// per category, its metrics, ROC and PRO curves, the histogram of good vs defective image scores with the
// calibrated threshold, and the worst cases (highest-scoring good parts, lowest-scoring defective ones).
import { writeFileSync } from 'node:fs';
import type { CategoryEvaluation } from './category-evaluator.js';
import { limitKey, meanMetrics, PRO_LIMITS, type CategoryMetrics } from './category-metrics.js';
import { BAD_COLOR, curveChart, escapeHtml, GOOD_COLOR, scoreHistogram, type Series } from './svg-charts.js';
import { caseImages } from './worst-case-images.js';
import type { WorstCase } from './worst-cases.js';

export interface ReportMeta {
  data: string;
  layout: string;
  modelId: string;
  trained: boolean;
}

/** Colour of the PRO curve (the ROC curves use BAD_COLOR for images and GOOD_COLOR for pixels). */
export const PRO_COLOR = '#2ca02c';

const num = (v: number | null, d = 3): string => (v === null ? '—' : v.toFixed(d));
const slug = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '_');

function metricsRow(name: string, m: Omit<CategoryMetrics, 'sizeQuartiles' | 'notes'>): string {
  const cells = [
    m.imageAuroc,
    m.pixelAuroc,
    ...PRO_LIMITS.map((l) => m.aupro[limitKey(l)]),
    ...m.auproBySize.map((s) => s['30%']),
    m.imageF1Max,
    m.pixelF1Max,
  ].map((v) => `<td>${num(v)}</td>`);
  return `<tr><th>${escapeHtml(name)}</th>${cells.join('')}<td>${num(m.msPerFrame, 1)}</td><td>${m.images.good}/${m.images.defective}</td></tr>`;
}

function summaryTable(evals: readonly CategoryEvaluation[]): string {
  const head = [
    'I-AUROC',
    'P-AUROC',
    ...PRO_LIMITS.map((l) => `AUPRO@${limitKey(l)}`),
    'Q1@30%',
    'Q2@30%',
    'Q3@30%',
    'Q4@30%',
    'I-F1max',
    'P-F1max',
    'ms/frame',
    'good/bad',
  ];
  const rows = evals.map((e) => metricsRow(e.name, e.metrics));
  if (evals.length > 1) rows.push(metricsRow('mean', meanMetrics(evals.map((e) => e.metrics))));
  return `<table id="summary"><tr><th>category</th>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows.join('')}</table>`;
}

function worstGrid(e: CategoryEvaluation): string {
  const cases: { kind: string; w: WorstCase }[] = [
    ...e.worst.good.map((w) => ({ kind: 'good, high score', w })),
    ...e.worst.defective.map((w) => ({ kind: 'defective, low score', w })),
  ];
  if (cases.length === 0) return '<p>No worst cases to show.</p>';
  // One colour scale for the whole grid (min..max of its maps), so the rows compare.
  const vals = cases.flatMap((c) => [Math.min(...c.w.map.data), Math.max(...c.w.map.data)]);
  const vmin = Math.min(...vals);
  const vmax = Math.max(vmin + 1e-9, ...vals);
  const rows = cases.map(({ kind, w }) => {
    const im = caseImages(w, vmin, vmax);
    const cell = (src: string | null, alt: string): string =>
      src
        ? `<td><img src="${src}" alt="${alt}" width="${w.map.width}" height="${w.map.height}"></td>`
        : '<td class="none">no mask</td>';
    return (
      `<tr><td class="caption">${escapeHtml(kind)}<br>${escapeHtml(w.item.type)}<br>score ${w.score.toPrecision(4)}<br><small>${escapeHtml(w.item.path)}</small></td>` +
      cell(im.image, 'image') +
      cell(im.mask, 'mask') +
      cell(im.heat, 'heatmap') +
      cell(im.overlay, 'overlay') +
      '</tr>'
    );
  });
  return (
    `<table class="worst" id="worst-${slug(e.name)}"><tr><th></th><th>image</th><th>ground truth</th><th>heatmap (${vmin.toPrecision(3)}…${vmax.toPrecision(3)})</th><th>overlay</th></tr>` +
    rows.join('') +
    '</table>'
  );
}

function categorySection(e: CategoryEvaluation): string {
  const id = slug(e.name);
  const roc: Series[] = [];
  if (e.curves.imageRoc)
    roc.push({
      name: `image (AUROC ${num(e.metrics.imageAuroc)})`,
      curve: e.curves.imageRoc,
      color: BAD_COLOR,
    });
  if (e.curves.pixelRoc)
    roc.push({
      name: `pixel (AUROC ${num(e.metrics.pixelAuroc)})`,
      curve: e.curves.pixelRoc,
      color: GOOD_COLOR,
    });
  const pro: Series[] = e.curves.pro
    ? [{ name: `PRO (AUPRO@30% ${num(e.metrics.aupro['30%'])})`, curve: e.curves.pro, color: PRO_COLOR }]
    : [];
  const good = e.images.filter((i) => !i.defective).map((i) => i.score);
  const bad = e.images.filter((i) => i.defective).map((i) => i.score);
  const q = e.metrics.sizeQuartiles;
  const notes = e.metrics.notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`).join('');
  return (
    `<section id="cat-${id}"><h2>${escapeHtml(e.name)}</h2>${notes}` +
    `<p>${e.metrics.images.good} good and ${e.metrics.images.defective} defective test images, ${e.metrics.regions} defect regions` +
    (q ? ` (size quartiles ${q.map((v) => v.toFixed(0)).join(' / ')} px)` : '') +
    `; reject threshold ${e.threshold === null ? 'none in the bundle' : e.threshold.toPrecision(4)}.</p>` +
    `<div class="charts">${curveChart(`roc-${id}`, 'ROC', 'false-positive rate', 'true-positive rate', roc)}` +
    curveChart(
      `pro-${id}`,
      'PRO up to FPR 30 %',
      'false-positive rate (good pixels)',
      'per-region overlap',
      pro,
      0.3,
    ) +
    scoreHistogram(`hist-${id}`, good, bad, e.threshold) +
    `</div><h3>Worst cases</h3>${worstGrid(e)}</section>`
  );
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fff}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;text-align:right}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{background:#fff;border:1px solid #ddd}
.worst td{text-align:center;vertical-align:middle}.worst img{display:block;image-rendering:pixelated}
.caption{text-align:left!important;font-size:12px;max-width:220px;word-break:break-all}.note{color:#a40}.none{color:#999}`;

export function writeHtmlReport(path: string, evals: readonly CategoryEvaluation[], meta: ReportMeta): void {
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pinpoint eval — ${escapeHtml(meta.modelId)}</title><style>${STYLE}</style></head><body>` +
    `<h1>pinpoint eval</h1><p>Dataset ${escapeHtml(meta.data)} (${escapeHtml(meta.layout)} layout); model ${escapeHtml(meta.modelId)}` +
    `${meta.trained ? ', taught in per category (--train)' : ''}. AUPRO: per-region overlap up to the false-positive rate shown, ` +
    `normalised by it (MVTec procedure, 99 thresholds). Qi: regions of area ≤ the i-th quartile.</p>` +
    summaryTable(evals) +
    evals.map(categorySection).join('') +
    '</body></html>\n';
  writeFileSync(path, html);
}
