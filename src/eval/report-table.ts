// The terminal report: one row per category and the mean, every metric; then AUPRO by defect-size quartile.
import type { CategoryEvaluation } from './category-evaluator.js';
import { limitKey, meanMetrics, PRO_LIMITS, type AuproSet } from './category-metrics.js';

const num = (v: number | null, digits = 3): string => (v === null ? '—' : v.toFixed(digits));

export function formatTable(evals: readonly CategoryEvaluation[]): string {
  const mean = meanMetrics(evals.map((e) => e.metrics));
  const rows = [
    ...evals.map((e) => ({ name: e.name, m: e.metrics, q: e.metrics.sizeQuartiles })),
    ...(evals.length > 1 ? [{ name: 'mean', m: mean, q: null }] : []),
  ];
  const w = Math.max(8, ...rows.map((r) => r.name.length)) + 2;
  const head = ['I-AUROC', 'P-AUROC', ...PRO_LIMITS.map((l) => `PRO@${limitKey(l)}`), 'I-F1max', 'P-F1max'];
  const lines = [
    'category'.padEnd(w) + head.map((h) => h.padStart(9)).join('') + 'ms/frame'.padStart(10) + '  good/bad',
  ];
  for (const { name, m } of rows) {
    const vals = [
      m.imageAuroc,
      m.pixelAuroc,
      ...PRO_LIMITS.map((l) => m.aupro[limitKey(l)]),
      m.imageF1Max,
      m.pixelF1Max,
    ];
    lines.push(
      name.padEnd(w) +
        vals.map((v) => num(v).padStart(9)).join('') +
        num(m.msPerFrame, 1).padStart(10) +
        `  ${m.images.good}/${m.images.defective}`,
    );
  }
  lines.push('', 'AUPRO by defect size (Q1: regions ≤ q1 … Q4: all regions)');
  lines.push(
    'category'.padEnd(w) +
      'limit'.padStart(6) +
      ['Q1', 'Q2', 'Q3', 'Q4'].map((q) => q.padStart(8)).join('') +
      '  q1/q2/q3 px',
  );
  for (const { name, m, q: quartiles } of rows) {
    for (const l of PRO_LIMITS) {
      const q = quartiles ? quartiles.map((v) => v.toFixed(0)).join('/') : '';
      lines.push(
        (l === PRO_LIMITS[0] ? name : '').padEnd(w) +
          limitKey(l).padStart(6) +
          m.auproBySize.map((s: AuproSet) => num(s[limitKey(l)]).padStart(8)).join('') +
          (l === PRO_LIMITS[0] && q ? `  ${q}` : ''),
      );
    }
  }
  const notes = evals.flatMap((e) => e.metrics.notes.map((n) => `${e.name}: ${n}`));
  if (notes.length > 0) lines.push('', ...notes.map((n) => `note: ${n}`));
  return lines.join('\n') + '\n';
}
