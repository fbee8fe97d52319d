// Frame slots shared with the archive worker: each kept part's pixels are copied into a free slot (memory both
// threads see) and only the slot's number travels in the message; the worker hands the number back once the
// entry is written.
//
// Why shared slots rather than moving (transferring) a buffer there and back: every buffer that arrives back on
// the event loop is counted by V8 as fresh external memory, and external memory is what triggers its full
// collections here. Measured on the archive bench (640×480 frames, keep: all), the round trips raised the
// event loop's full collections from 27 to 46 per 1000 parts. A slot is allocated once and never moves. And why
// the worker allocates the spares: a fresh buffer's pages are faulted in by whoever writes it first, 3.7 ms per
// 640×480 frame on the event loop (measured), against 0.08 ms to copy into a slot already in use. So only the
// first frame of a size is copied into a slot made on the spot; the worker makes and touches the others.
// The copy itself stays: the frame belongs to the source and other outputs may still read it after the archive.

export interface Slot {
  id: number;
  /** The frame's bytes, a view of exactly its length at the start of the slot. */
  view: Uint8Array;
}

export class FrameSlots {
  private readonly buffers = new Map<number, SharedArrayBuffer>();
  private readonly busy = new Set<number>();
  private nextId = 0;
  private bytes = 0;
  /** Sizes the worker was asked spares for (asked once per size). */
  private readonly asked = new Set<number>();

  /**
   * `max`: slots at most (the archive queue depth: never more are in flight at once); `maxBytes`: their total
   * size at most (16 slots of a 20 MP frame would be 960 MB).
   */
  constructor(
    private readonly max: number,
    private readonly maxBytes = Infinity,
  ) {}

  /**
   * A free slot holding a copy of `data`, or undefined when every slot is busy. `askSpares(bytes, count)` is
   * called the first time a size finds no slot, so the worker can make (and fault in) the rest for it.
   */
  copy(data: Uint8Array, askSpares: (bytes: number, count: number) => void): Slot | undefined {
    const n = data.byteLength;
    let id = this.freeFitting(n);
    if (id === undefined) {
      if (n > this.maxBytes) return undefined;
      while (this.buffers.size >= this.max || this.bytes + n > this.maxBytes)
        if (!this.dropFree()) return undefined;
      id = this.add(new SharedArrayBuffer(n));
      if (!this.asked.has(n)) {
        this.asked.add(n);
        const count = Math.min(this.max - this.buffers.size, Math.floor((this.maxBytes - this.bytes) / n));
        if (count > 0) askSpares(n, count);
      }
    }
    this.busy.add(id);
    const view = new Uint8Array(this.buffers.get(id)!, 0, n);
    view.set(data);
    return { id, view };
  }

  /** Spares made by the worker; beyond `max` slots or `maxBytes` they are let go. */
  addSpares(buffers: SharedArrayBuffer[]): void {
    for (const b of buffers)
      if (this.buffers.size < this.max && this.bytes + b.byteLength <= this.maxBytes) this.add(b);
  }

  /** Whether a frame of n bytes can ever have a slot (it is larger than `maxBytes`). */
  fits(n: number): boolean {
    return n <= this.maxBytes;
  }

  /** The worker is done with a slot. */
  release(id: number): void {
    this.busy.delete(id);
  }

  /** Slots allocated, how many of them are free, and their bytes (for tests and status). */
  get size(): { total: number; free: number; bytes: number } {
    return { total: this.buffers.size, free: this.buffers.size - this.busy.size, bytes: this.bytes };
  }

  private add(b: SharedArrayBuffer): number {
    const id = this.nextId++;
    this.buffers.set(id, b);
    this.bytes += b.byteLength;
    return id;
  }

  /** A free slot of at least n bytes and at most twice that (two cameras of different sizes share the slots). */
  private freeFitting(n: number): number | undefined {
    for (const [id, b] of this.buffers)
      if (!this.busy.has(id) && b.byteLength >= n && b.byteLength <= 2 * n) return id;
    return undefined;
  }

  /** Lets a free slot (none fits, or copy() would have used it) go to make room; false when all are busy. */
  private dropFree(): boolean {
    for (const [id, b] of this.buffers)
      if (!this.busy.has(id)) {
        this.buffers.delete(id);
        this.bytes -= b.byteLength;
        return true;
      }
    return false;
  }
}

/** Makes `count` slots of `bytes` with every page written once, so the event loop never faults them in. */
export function makeSpares(bytes: number, count: number): SharedArrayBuffer[] {
  const out: SharedArrayBuffer[] = [];
  for (let i = 0; i < count; i++) {
    const b = new SharedArrayBuffer(bytes);
    const v = new Uint8Array(b);
    for (let p = 0; p < bytes; p += 4096) v[p] = 0;
    out.push(b);
  }
  return out;
}
