// Frame buffers for the archive worker, used again and again: each kept part's pixels are copied into a pooled
// buffer, the buffer is moved (transferred) to the worker and moved back once the entry is written. A fresh
// exact-size copy per part (the obvious `data.slice()`) costs the event loop a new ~1 MB allocation each time:
// fresh pages to fault in, then to unmap when the collector frees them, measured 0.5–5 ms per 640×480 frame on
// a loaded 2-core PC, against ~0.02 ms to copy into a buffer already in use. The copy itself stays: the frame
// belongs to the source and may be read by other outputs after the archive.
export class FramePool {
  private readonly free: ArrayBuffer[] = [];

  /** `maxFree`: buffers kept for reuse at most (the archive queue depth: never more are out at once). */
  constructor(private readonly maxFree: number) {}

  /** A copy of `data` in a pooled buffer: a view of exactly its length over a buffer of at least that size. */
  copy(data: Uint8Array): Uint8Array {
    const n = data.byteLength;
    // A buffer up to twice the size fits (two cameras of different sizes share the pool without growing it).
    const i = this.free.findIndex((b) => b.byteLength >= n && b.byteLength <= 2 * n);
    const buffer = i >= 0 ? this.free.splice(i, 1)[0] : new ArrayBuffer(n);
    const view = new Uint8Array(buffer, 0, n);
    view.set(data);
    return view;
  }

  /** A buffer back from the worker; beyond `maxFree` the oldest is let go. */
  give(buffer: ArrayBuffer): void {
    this.free.push(buffer);
    if (this.free.length > this.maxFree) this.free.shift();
  }

  /** Buffers waiting for reuse (for tests). */
  get size(): number {
    return this.free.length;
  }
}
