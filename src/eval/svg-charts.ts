// Inline SVG charts for the report (no script, no external asset): curves (ROC, PRO) and a two-class histogram
// of image scores with a threshold line. Pure: data in, markup out.
import type { Curve } from './pro-curve.js';

export interface Series {
  name: string;
  curve: Curve;
  color: string;
}

const W = 360;
const H = 260;
const PAD = { l: 44, r: 12, t: 24, b: 36 };
const PW = W - PAD.l - PAD.r;
const PH = H - PAD.t - PAD.b;

export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function axes(title: string, xLabel: string, yLabel: string, xMax: number, yMax: number): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const grid = ticks
    .map((f) => {
      const x = PAD.l + f * PW;
      const y = PAD.t + (1 - f) * PH;
      return (
        `<line x1="${x}" y1="${PAD.t}" x2="${x}" y2="${PAD.t + PH}" stroke="#e4e4e4"/>` +
        `<line x1="${PAD.l}" y1="${y}" x2="${PAD.l + PW}" y2="${y}" stroke="#e4e4e4"/>` +
        `<text x="${x}" y="${PAD.t + PH + 14}" font-size="10" text-anchor="middle">${fmt(f * xMax)}</text>` +
        `<text x="${PAD.l - 4}" y="${y + 3}" font-size="10" text-anchor="end">${fmt(f * yMax)}</text>`
      );
    })
    .join('');
  return (
    `<text x="${W / 2}" y="14" font-size="12" font-weight="bold" text-anchor="middle">${escapeHtml(title)}</text>` +
    grid +
    `<rect x="${PAD.l}" y="${PAD.t}" width="${PW}" height="${PH}" fill="none" stroke="#888"/>` +
    `<text x="${PAD.l + PW / 2}" y="${H - 6}" font-size="11" text-anchor="middle">${escapeHtml(xLabel)}</text>` +
    `<text x="12" y="${PAD.t + PH / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 ${PAD.t + PH / 2})">${escapeHtml(yLabel)}</text>`
  );
}

const fmt = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

/** Curves in [0, xMax] × [0, 1]; an empty chart says why when there is no series. */
export function curveChart(
  id: string,
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
  xMax = 1,
): string {
  const sx = (x: number): number => PAD.l + (Math.min(x, xMax) / xMax) * PW;
  const sy = (y: number): number => PAD.t + (1 - y) * PH;
  const lines = series
    .map((s) => {
      const pts = s.curve.x.map((x, i) => `${sx(x).toFixed(1)},${sy(s.curve.y[i]).toFixed(1)}`).join(' ');
      return `<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2.5"/>`;
    })
    .join('');
  const legend = series
    .map(
      (s, i) =>
        `<rect x="${PAD.l + 8}" y="${PAD.t + 8 + i * 14}" width="10" height="10" fill="${s.color}"/>` +
        `<text x="${PAD.l + 22}" y="${PAD.t + 17 + i * 14}" font-size="10">${escapeHtml(s.name)}</text>`,
    )
    .join('');
  const empty =
    series.length === 0
      ? `<text x="${PAD.l + PW / 2}" y="${PAD.t + PH / 2}" font-size="11" text-anchor="middle">not defined for this data</text>`
      : '';
  return `<svg id="${escapeHtml(id)}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${axes(title, xLabel, yLabel, xMax, 1)}${lines}${legend}${empty}</svg>`;
}

export const GOOD_COLOR = '#1f77b4';
export const BAD_COLOR = '#d62728';

/** Histograms of good and defective image scores on shared bins, with the threshold (when known) drawn. */
export function scoreHistogram(id: string, good: number[], bad: number[], threshold: number | null): string {
  const all = [...good, ...bad, ...(threshold !== null ? [threshold] : [])];
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const n = 30;
  const span = hi > lo ? hi - lo : 1;
  const count = (v: number[]): number[] => {
    const c = new Array<number>(n).fill(0);
    for (const x of v) c[Math.min(n - 1, Math.floor(((x - lo) / span) * n))]++;
    return c;
  };
  const cg = count(good);
  const cb = count(bad);
  const top = Math.max(1, ...cg, ...cb);
  const bw = PW / n;
  const bars = (c: number[], color: string): string =>
    c
      .map((k, i) =>
        k === 0
          ? ''
          : `<rect x="${(PAD.l + i * bw).toFixed(1)}" y="${(PAD.t + (1 - k / top) * PH).toFixed(1)}" width="${bw.toFixed(1)}" height="${((k / top) * PH).toFixed(1)}" fill="${color}" fill-opacity="0.6"/>`,
      )
      .join('');
  const tx = threshold !== null ? PAD.l + ((threshold - lo) / span) * PW : null;
  const line =
    tx !== null
      ? `<line x1="${tx.toFixed(1)}" y1="${PAD.t}" x2="${tx.toFixed(1)}" y2="${PAD.t + PH}" stroke="#000" stroke-width="2" stroke-dasharray="5 3"/>` +
        // The label goes on the side of the line with more room.
        `<text x="${(tx > PAD.l + PW / 2 ? tx - 3 : tx + 3).toFixed(1)}" y="${PAD.t + 10}" font-size="10" ` +
        `text-anchor="${tx > PAD.l + PW / 2 ? 'end' : 'start'}">threshold ${fmt(threshold!)}</text>`
      : '';
  const legend =
    `<rect x="${PAD.l + PW - 90}" y="${PAD.t + 18}" width="10" height="10" fill="${GOOD_COLOR}"/><text x="${PAD.l + PW - 76}" y="${PAD.t + 27}" font-size="10">good (${good.length})</text>` +
    `<rect x="${PAD.l + PW - 90}" y="${PAD.t + 32}" width="10" height="10" fill="${BAD_COLOR}"/><text x="${PAD.l + PW - 76}" y="${PAD.t + 41}" font-size="10">defective (${bad.length})</text>`;
  const axis = axes('image scores', 'frame score', 'images (share of the tallest bin)', 1, 1).replace(
    /<text x="[\d.]+" y="[\d.]+" font-size="10" text-anchor="middle">[^<]*<\/text>/g,
    '',
  );
  const xt = [0, 0.5, 1]
    .map(
      (f) =>
        `<text x="${PAD.l + f * PW}" y="${PAD.t + PH + 14}" font-size="10" text-anchor="middle">${fmt(lo + f * span)}</text>`,
    )
    .join('');
  return `<svg id="${escapeHtml(id)}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${axis}${xt}${bars(cg, GOOD_COLOR)}${bars(cb, BAD_COLOR)}${line}${legend}</svg>`;
}
