// Cross-camera batching (the nvstreammux idea): frames of all cameras wait in one bounded queue per camera;
// a batch closes when it holds `maxBatch` frames or when its oldest frame has waited `maxWaitMs`, and only
// while a credit is free. Credits are the batches that may be outstanding downstream (one in inference, one
// prepared); the consumer returns one through `credit$` when it is done with a batch. So nothing upstream
// can outrun inference: excess frames are dropped by the per-camera queue policy, never buffered without
// bound. Per-camera order is kept (within a camera frames leave in arrival order); across cameras, oldest
// arrival first.
import { asyncScheduler, Observable } from 'rxjs';
import type { OperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import type { DropPolicy } from './queue.js';
import { BoundedQueue } from './queue.js';

export interface BatchOptions<T> {
  maxBatch: number;
  /** How long the oldest queued item may wait for others to join its batch (0: no waiting). */
  maxWaitMs: number;
  /** The queue an item belongs to (its camera id). */
  key(item: T): string;
  /** Depth and drop policy of a key's queue; asked once per key. */
  queue(key: string): { depth: number; policy: DropPolicy };
  /** Called synchronously for every item a queue drops. */
  onDrop?(item: T, key: string): void;
  /** Batches that may be outstanding at once (emitted, credit not yet returned). */
  credits: number;
  /** Each emission returns one credit. */
  credit$: Observable<unknown>;
  /**
   * Close a partial batch (after maxWaitMs) only while no batch is outstanding. While the consumer is busy a
   * batch closes only when full, so under load batches fill up instead of leaving half empty; the partial
   * batch goes the moment the consumer is free. Default false: partial batches close on any free credit.
   */
  partialWhenIdle?: boolean;
  scheduler?: SchedulerLike;
}

interface Entry<T> {
  item: T;
  /** Global arrival number: batches take the oldest heads first. */
  order: number;
  /** Arrival time (scheduler clock). */
  at: number;
}

/**
 * Emits batches (arrays of 1..maxBatch items). On completion of the source, the queued items are flushed
 * without waiting (credits still apply), then the output completes.
 */
export function batchFrames<T>(o: BatchOptions<T>): OperatorFunction<T, T[]> {
  if (!Number.isInteger(o.maxBatch) || o.maxBatch < 1) throw new RangeError('maxBatch must be ≥ 1');
  if (!Number.isInteger(o.credits) || o.credits < 1) throw new RangeError('credits must be ≥ 1');
  const sched = o.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<T[]>((subscriber) => {
      const queues = new Map<string, BoundedQueue<Entry<T>>>();
      let queued = 0;
      let credits = o.credits;
      let order = 0;
      let done = false;
      let pumping = false;
      let timer: Subscription | null = null;
      let timerDue = Infinity;

      const disarm = (): void => {
        timer?.unsubscribe();
        timer = null;
        timerDue = Infinity;
      };
      const arm = (due: number): void => {
        if (timer && timerDue === due) return;
        disarm();
        timerDue = due;
        timer = sched.schedule(
          () => {
            timer = null;
            timerDue = Infinity;
            pump();
          },
          Math.max(0, due - sched.now()),
        );
      };
      const oldestQueue = (): BoundedQueue<Entry<T>> | undefined => {
        let best: BoundedQueue<Entry<T>> | undefined;
        for (const q of queues.values()) {
          const h = q.peek();
          if (h && (!best || h.order < best.peek()!.order)) best = q;
        }
        return best;
      };
      const takeBatch = (): T[] => {
        const batch: T[] = [];
        while (batch.length < o.maxBatch && queued > 0) {
          batch.push(oldestQueue()!.shift()!.item);
          queued--;
        }
        return batch;
      };
      const pump = (): void => {
        // A batch emitted below may return a credit synchronously; the loop re-reads `credits` instead of
        // recursing.
        if (pumping) return;
        pumping = true;
        try {
          while (credits > 0 && queued > 0 && !subscriber.closed) {
            if (queued < o.maxBatch && !done) {
              // A partial batch: wait for more items, or for the consumer to become idle.
              if (o.partialWhenIdle && credits < o.credits) break;
              const due = oldestQueue()!.peek()!.at + o.maxWaitMs;
              if (sched.now() < due) {
                arm(due);
                return;
              }
            }
            disarm();
            credits--;
            subscriber.next(takeBatch());
          }
          // Here: nothing queued, no credit, or waiting for the consumer: no timer needed until something changes.
          disarm();
          if (done && queued === 0) subscriber.complete();
        } finally {
          pumping = false;
        }
      };

      const creditSub = o.credit$.subscribe({
        next: () => {
          credits++;
          pump();
        },
        error: (e: unknown) => subscriber.error(e),
      });
      const sourceSub = source.subscribe({
        next: (item) => {
          const key = o.key(item);
          let q = queues.get(key);
          if (!q) {
            const { depth, policy } = o.queue(key);
            q = new BoundedQueue<Entry<T>>(depth, policy);
            queues.set(key, q);
          }
          const dropped = q.push({ item, order: order++, at: sched.now() });
          if (dropped) o.onDrop?.(dropped.item, key);
          else queued++;
          pump();
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          done = true;
          pump();
        },
      });
      return () => {
        sourceSub.unsubscribe();
        creditSub.unsubscribe();
        disarm();
        for (const q of queues.values()) q.clear();
      };
    });
}
