// A bounded FIFO with a drop policy: the per-camera queue in front of the batcher. When a camera delivers
// faster than inference consumes, frames are dropped here (and counted) instead of piling up in memory.
// drop-oldest keeps the freshest view of the line; drop-newest keeps what was queued first.

export type DropPolicy = 'drop-oldest' | 'drop-newest';

export class BoundedQueue<T> {
  /** Ring buffer of `depth` slots; `head` is the oldest item. */
  private readonly slots: (T | undefined)[];
  private head = 0;
  private count = 0;
  /** Items dropped since construction (by the policy, not by clear()). */
  dropped = 0;

  constructor(
    readonly depth: number,
    readonly policy: DropPolicy,
  ) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`queue depth must be ≥ 1, got ${depth}`);
    this.slots = new Array<T | undefined>(depth);
  }

  get length(): number {
    return this.count;
  }

  /** Adds `item`; returns the item the policy dropped to make room (the oldest, or `item` itself), if any. */
  push(item: T): T | undefined {
    if (this.count < this.depth) {
      this.slots[(this.head + this.count) % this.depth] = item;
      this.count++;
      return undefined;
    }
    this.dropped++;
    if (this.policy === 'drop-newest') return item;
    const old = this.slots[this.head] as T;
    this.slots[this.head] = item;
    this.head = (this.head + 1) % this.depth;
    return old;
  }

  /** The oldest item, without removing it. */
  peek(): T | undefined {
    return this.count > 0 ? this.slots[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.slots[this.head];
    this.slots[this.head] = undefined; // no reference kept: frames are large
    this.head = (this.head + 1) % this.depth;
    this.count--;
    return item;
  }

  /** Removes and returns everything, oldest first. */
  clear(): T[] {
    const out: T[] = [];
    while (this.count > 0) out.push(this.shift() as T);
    return out;
  }
}
