// One readable terminal line per part for the demo: what a PLC gateway received over MQTT, and, since the
// demo's parts are synthetic, whether the verdict matches the defect that was injected. Pure formatting.
import type { InspectionResult } from '../pipeline/result.js';

/** What the demo knows about a synthetic part. */
export interface PartTruth {
  defect: { kind: string; size: number; box: { x: number; y: number; width: number; height: number } } | null;
}

export interface LineStyle {
  color: boolean;
}

const ESC = '\u001b[';
const paint = (on: boolean, code: string, s: string): string => (on ? `${ESC}${code}m${s}${ESC}0m` : s);

function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function overlaps(
  a: { x: number; y: number; width: number; height: number },
  b: { x: number; y: number; width: number; height: number },
): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** How a verdict compares with the injected defect: caught, missed, false reject, or right. */
export function judge(r: InspectionResult, truth: PartTruth | undefined): string | null {
  if (!truth) return null;
  const rejected = r.verdict !== 'ok';
  if (truth.defect) {
    const d = truth.defect;
    const what = `${d.kind} ${Math.round(d.size)} px`;
    if (!rejected) return `MISSED ${what}`;
    if (r.reason !== 'score') return `rejected (${r.reason}), ${what}`;
    return r.blobs.some((b) => overlaps(b.box, d.box))
      ? `caught ${what}`
      : `rejected, blob not on the ${what}`;
  }
  return rejected ? (r.reason === 'score' ? 'FALSE REJECT (good part)' : 'good part') : 'good part';
}

export function formatVerdictLine(
  r: InspectionResult,
  truth: PartTruth | undefined,
  style: LineStyle,
): string {
  const c = style.color;
  const verdict =
    r.verdict === 'ok'
      ? paint(c, '32', 'ok    ')
      : r.verdict === 'reject'
        ? paint(c, '1;31', 'REJECT')
        : paint(c, '1;33', 'ERROR ');
  const score =
    r.score === null
      ? `${r.reason}`.padEnd(20)
      : `score ${r.score.toFixed(3)} ${r.score > (r.threshold ?? Infinity) ? '>' : '≤'} ${(r.threshold ?? NaN).toFixed(3)}`;
  const parts = [
    paint(c, '2', clock(r.decideTime)),
    r.partId.padEnd(20), // <camera>-<run>-<seq>: a run id of 8 characters
    verdict,
    score,
    `${String(Math.round(r.latencyMs)).padStart(5)} ms`,
  ];
  if (r.verdict === 'reject' && r.blobs.length > 0) {
    const shown = r.blobs
      .slice(0, 3)
      .map((b) => `${b.box.width}×${b.box.height} px at (${b.box.x},${b.box.y}) peak ${b.peak.toFixed(2)}`);
    const more = r.blobs.length > 3 ? ` +${r.blobs.length - 3} more` : '';
    parts.push(`${r.blobs.length} blob${r.blobs.length > 1 ? 's' : ''}: ${shown.join('; ')}${more}`);
  } else if (r.detail) {
    parts.push(r.detail);
  }
  const j = judge(r, truth);
  if (j) {
    const bad = j.startsWith('MISSED') || j.startsWith('FALSE');
    parts.push(paint(c, bad ? '1;35' : '2', `[${j}]`));
  }
  return parts.join('  ');
}
