// Parts, rejects, fail-safe verdicts and yield per camera over the last hours (a shift), for the console's
// status page. The daemon's counters since start say little after a week of uptime; an operator asks "how did
// this shift go". Hourly buckets per camera, at most `hours` of them, so memory is fixed whatever the rate;
// the window is therefore exact to the hour boundary (the oldest bucket may be partly outside it).
import type { InspectionResult } from '../../pipeline/result.js';

export interface ShiftCounts {
  parts: number;
  ok: number;
  reject: number;
  error: number;
  /** Verdicts not decided on a score (timeout, no frame, frame lost…): counted by their verdict, and here. */
  failSafe: number;
  /** ok / parts, null without parts. */
  yield: number | null;
}

type Counts = Omit<ShiftCounts, 'yield'>;

interface Bucket extends Counts {
  hour: number;
}

const zero = (): Counts => ({ parts: 0, ok: 0, reject: 0, error: 0, failSafe: 0 });

const HOUR_MS = 3_600_000;

export class ShiftCounters {
  private readonly cams = new Map<string, Bucket[]>();

  constructor(
    /** Hours in the window (web.shiftHours). */
    readonly hours: number,
    private readonly now: () => number = Date.now,
  ) {}

  record(r: InspectionResult): void {
    const hour = Math.floor(r.decideTime / HOUR_MS);
    let buckets = this.cams.get(r.cameraId);
    if (!buckets) this.cams.set(r.cameraId, (buckets = []));
    // A late verdict of the previous hour (decided just before the boundary, recorded just after) finds its own.
    let b = buckets.findLast((x) => x.hour === hour);
    if (!b && hour < (buckets.at(-1)?.hour ?? -Infinity)) return; // older than the window's buckets
    if (!b) {
      b = { hour, ...zero() };
      buckets.push(b);
      if (buckets.length > this.hours) buckets.shift();
    }
    b.parts++;
    b[r.verdict]++;
    if (r.reason !== 'pass' && r.reason !== 'score') b.failSafe++;
  }

  /** Per camera, the sums over the buckets of the last `hours` hours (the current one included). */
  window(): Record<string, ShiftCounts> {
    const first = Math.floor(this.now() / HOUR_MS) - this.hours + 1;
    const out: Record<string, ShiftCounts> = {};
    for (const [id, buckets] of this.cams) {
      const c = zero();
      for (const b of buckets) {
        if (b.hour < first) continue;
        for (const k of Object.keys(c) as (keyof Counts)[]) c[k] += b[k];
      }
      out[id] = { ...c, yield: c.parts ? c.ok / c.parts : null };
    }
    return out;
  }
}
