// What an operator reads every `logging.statsIntervalSec`: per camera, the parts decided since the last line
// by verdict, the fail-safe ones by cause, frames dropped or without a trigger, frames per second and the
// verdict latency p50/p99. Pure: the verdicts and the engine's cumulative counters come in, numbers and one
// line of text come out; the clock is the caller's.
import type { CameraStats as EngineCameraStats } from '../pipeline/engine.js';

/** The engine's per-camera counters this window reads. */
type CameraStats = Pick<EngineCameraStats, 'frames' | 'dropped' | 'untriggered'>;
import type { InspectionResult } from '../pipeline/result.js';
import { quantileSorted } from '../util/quantile.js';

export interface CameraInterval {
  /** Verdicts published (fail-safe ones included). */
  parts: number;
  ok: number;
  reject: number;
  error: number;
  /** Fail-safe verdicts: no verdict within the deadline / a triggered part without a frame. */
  timeouts: number;
  noFrame: number;
  /** Frames dropped by the camera's queue, and frames on a triggered camera with no trigger waiting. */
  dropped: number;
  untriggered: number;
  /** Frames the camera delivered per second (those that became parts and those without a trigger). */
  fps: number;
  /** Capture to verdict, over the parts that had a frame; null when none had. */
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
}

export interface StatsInterval {
  seconds: number;
  cameras: Record<string, CameraInterval>;
}

/** Latency samples kept per camera and interval; past it a uniform sample of them (reservoir). */
const MAX_SAMPLES = 4096;

interface Acc {
  ok: number;
  reject: number;
  error: number;
  timeouts: number;
  noFrame: number;
  latencies: number[];
  /** Latencies offered this interval (the reservoir keeps MAX_SAMPLES of them). */
  seen: number;
}

const emptyAcc = (): Acc => ({ ok: 0, reject: 0, error: 0, timeouts: 0, noFrame: 0, latencies: [], seen: 0 });

export class StatsWindow {
  private acc = new Map<string, Acc>();
  private lastCounts: Record<string, CameraStats> = {};
  private since: number;

  /** `cameras`: the engine's counters at the start (zero for a fresh engine); `now`: ms. */
  constructor(
    cameras: Record<string, CameraStats>,
    now: number,
    private readonly random: () => number = Math.random,
  ) {
    this.lastCounts = structuredClone(cameras);
    this.since = now;
  }

  add(r: InspectionResult): void {
    let a = this.acc.get(r.cameraId);
    if (!a) this.acc.set(r.cameraId, (a = emptyAcc()));
    a[r.verdict]++;
    if (r.reason === 'timeout') a.timeouts++;
    if (r.reason === 'no-frame') a.noFrame++;
    if (r.seq === null) return; // a no-frame verdict's latency is its trigger window, not the pipeline's
    a.seen++;
    if (a.latencies.length < MAX_SAMPLES) a.latencies.push(r.latencyMs);
    else {
      const j = Math.floor(this.random() * a.seen);
      if (j < MAX_SAMPLES) a.latencies[j] = r.latencyMs;
    }
  }

  /** The interval since the last take (or the start), closed at `now`; the next one starts there. */
  take(cameras: Record<string, CameraStats>, now: number): StatsInterval {
    const seconds = Math.max(1e-3, (now - this.since) / 1000);
    const out: Record<string, CameraInterval> = {};
    const ids = new Set([...Object.keys(cameras), ...this.acc.keys()]);
    for (const id of [...ids].sort()) {
      const a = this.acc.get(id) ?? emptyAcc();
      const c = cameras[id] ?? { frames: 0, dropped: 0, untriggered: 0 };
      const p = this.lastCounts[id] ?? { frames: 0, dropped: 0, untriggered: 0 };
      const lat = Float64Array.from(a.latencies).sort();
      out[id] = {
        parts: a.ok + a.reject + a.error,
        ok: a.ok,
        reject: a.reject,
        error: a.error,
        timeouts: a.timeouts,
        noFrame: a.noFrame,
        dropped: c.dropped - p.dropped,
        untriggered: c.untriggered - p.untriggered,
        fps: round((c.frames - p.frames + c.untriggered - p.untriggered) / seconds, 1),
        latencyP50Ms: lat.length ? round(quantileSorted(lat, 0.5), 1) : null,
        latencyP99Ms: lat.length ? round(quantileSorted(lat, 0.99), 1) : null,
      };
    }
    this.acc.clear();
    this.lastCounts = structuredClone(cameras);
    this.since = now;
    return { seconds: round(seconds, 1), cameras: out };
  }
}

/** True when nothing at all happened in the interval (no part, no frame). */
export function idle(s: StatsInterval): boolean {
  return Object.values(s.cameras).every((c) => c.parts === 0 && c.fps === 0 && c.dropped === 0);
}

/**
 * One line: `last 60 s: top 118 ok, 2 reject, 0 error, 2.0 fps, 0 dropped, latency p50 45 ms p99 80 ms; side …`.
 * Fail-safe causes and frames without a trigger are named only when there were some.
 */
export function formatStatsLine(s: StatsInterval): string {
  const cams = Object.entries(s.cameras).map(([id, c]) => {
    const parts = [`${id} ${c.ok} ok, ${c.reject} reject, ${c.error} error`];
    const why = [c.timeouts ? `${c.timeouts} timeout` : '', c.noFrame ? `${c.noFrame} no-frame` : ''].filter(
      Boolean,
    );
    if (why.length) parts[0] += ` (${why.join(', ')})`;
    parts.push(`${c.fps.toFixed(1)} fps`, `${c.dropped} dropped`);
    if (c.untriggered) parts.push(`${c.untriggered} without trigger`);
    parts.push(
      c.latencyP50Ms === null
        ? 'latency -'
        : `latency p50 ${fmtMs(c.latencyP50Ms)} p99 ${fmtMs(c.latencyP99Ms!)}`,
    );
    return parts.join(', ');
  });
  return `last ${fmtSeconds(s.seconds)}: ${cams.join('; ')}`;
}

function fmtMs(ms: number): string {
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

function fmtSeconds(s: number): string {
  return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
