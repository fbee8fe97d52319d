// Pairing frames with PLC triggers by time, for cameras whose trigger input the daemon does not fire (hardware
// trigger): a frame belongs to the trigger whose receive time, plus the camera's usual trigger → exposure
// delay, is nearest its capture time, within a tolerance. Pure maths; triggers.ts applies it.
//
// The delay (PLC message transit against the trigger line, exposure start, clock mapping) is learned from the
// first pairs that cannot be ambiguous (exactly one trigger waiting, no frame lost just before) and then
// follows slow drift as the median of the recent pairs. The tolerance is configured, or learned from the same
// pairs as three times their median deviation from the median (robust to one slow first frame; at least
// MIN_TOLERANCE_MS).

/** Pairs taken before the delay is trusted. */
export const LEARN_PAIRS = 8;
/** Recent pairs whose median is the delay. */
const WINDOW = 32;
const MIN_TOLERANCE_MS = 5;

export class TriggerDelay {
  private readonly recent: number[] = [];
  private learnedTolerance: number | null = null;
  /** The median, kept on add: miss() runs for every waiting trigger on every frame. */
  private median = 0;

  /** @param toleranceMs the configured tolerance, or undefined to learn it. */
  constructor(private readonly toleranceMs?: number) {}

  /** Whether enough unambiguous pairs were seen to pair by time. */
  get ready(): boolean {
    return this.recent.length >= LEARN_PAIRS;
  }

  /** The trigger → frame delay, ms (median of the recent pairs); 0 before any pair. */
  get delayMs(): number {
    return this.median;
  }

  get tolerance(): number {
    return this.toleranceMs ?? this.learnedTolerance ?? Infinity;
  }

  /** Records a pair's delay (frame capture time − trigger receive time). */
  add(deltaMs: number): void {
    this.recent.push(deltaMs);
    if (this.recent.length > WINDOW) this.recent.shift();
    const s = [...this.recent].sort((a, b) => a - b);
    const m = s.length >> 1;
    this.median = s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
    if (this.learnedTolerance === null && this.recent.length === LEARN_PAIRS) {
      const d = this.delayMs;
      const dev = this.recent.map((x) => Math.abs(x - d)).sort((a, b) => a - b);
      const mad = (dev[(dev.length >> 1) - 1] + dev[dev.length >> 1]) / 2;
      this.learnedTolerance = Math.max(MIN_TOLERANCE_MS, 3 * mad);
    }
  }

  /** How far a frame is from where a trigger's frame is expected, ms (signed: positive = later). */
  miss(captureTime: number, triggerTime: number): number {
    return captureTime - triggerTime - this.delayMs;
  }
}

/**
 * Indices of the triggers (by receive time) a frame captured at `captureTime` may belong to: those within the
 * tolerance, nearest first. One is a pair; two or more mean the camera took one picture for several triggers
 * (never guessed between).
 */
export function triggersNear(
  captureTime: number,
  triggerTimes: readonly number[],
  d: TriggerDelay,
): number[] {
  const near: { i: number; m: number }[] = [];
  for (let i = 0; i < triggerTimes.length; i++) {
    const m = Math.abs(d.miss(captureTime, triggerTimes[i]));
    if (m <= d.tolerance) near.push({ i, m });
  }
  return near.sort((a, b) => a.m - b.m).map((x) => x.i);
}

/**
 * Frames the camera numbered between two it delivered: GigE Vision 1 block ids are 16 bit and skip 0
 * (65535 → 1); extended ids are 64 bit.
 */
export function frameGap(last: number | undefined, id: number): number {
  if (last === undefined) return 0;
  if (last <= 0xffff && id <= 0xffff) return (((id - last - 1) % 0xffff) + 0xffff) % 0xffff;
  return Math.max(0, id - last - 1);
}
