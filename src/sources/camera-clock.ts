// Maps a camera's own frame timestamps onto the daemon's wall clock.
//
// A frame's arrival time = capture time + transfer + scheduling jitter, where the last two are never
// negative. So over a window of frames, min(arrival − cameraTime) estimates the clock offset with the
// transfer floor included, and cameraTime + offset is a capture time free of the per-frame jitter. The
// window slides so slow drift between the camera's oscillator and the host clock is followed.

export class CameraClock {
  // Monotonic deque of (index, offset) with increasing offsets: the front is the window minimum.
  private readonly idx: number[] = [];
  private readonly off: number[] = [];
  private head = 0;
  private n = 0;

  /** @param window frames over which the minimum offset is taken (e.g. 20 s of frames). */
  constructor(private readonly window = 500) {}

  /** Forget everything (a new camera session restarts its timestamps). */
  reset(): void {
    this.idx.length = 0;
    this.off.length = 0;
    this.head = 0;
    this.n = 0;
  }

  /** @returns the capture time in ms since the epoch for a frame stamped cameraMs arriving at arrivalMs. */
  map(cameraMs: number, arrivalMs: number): number {
    const o = arrivalMs - cameraMs;
    const i = this.n++;
    while (this.off.length > this.head && this.off[this.off.length - 1] >= o) {
      this.off.pop();
      this.idx.pop();
    }
    this.off.push(o);
    this.idx.push(i);
    while (this.idx[this.head] <= i - this.window) this.head++;
    if (this.head > 1024) {
      // Compact now and then so the arrays do not grow with the stream.
      this.off.splice(0, this.head);
      this.idx.splice(0, this.head);
      this.head = 0;
    }
    return cameraMs + this.off[this.head];
  }
}
