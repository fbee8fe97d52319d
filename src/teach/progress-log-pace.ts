// When a long-running job logs its progress: at most every 10 s, and no more often than a tenth of the time so
// far, so a piped teach-in of any length writes a few dozen lines (a 2 h run: about 55), not one per epoch
// (a few-shot epoch lasts milliseconds). Pure: the caller passes the seconds elapsed.
export class ProgressLogPace {
  private last = 0;

  constructor(
    private readonly minSeconds = 10,
    private readonly fraction = 0.1,
  ) {}

  /** True when a line is due at `elapsed` seconds (and counts it as written). */
  due(elapsed: number): boolean {
    if (elapsed - this.last < Math.max(this.minSeconds, this.fraction * elapsed)) return false;
    this.last = elapsed;
    return true;
  }
}
