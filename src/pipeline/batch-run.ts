// From batches of frames to Δ grids: letterbox every frame straight into a pooled contiguous batch buffer
// (the model's input tensor, no intermediate copies), then run the batches in order on the session.
// While batch k runs on onnxruntime's threads, batch k+1 is already letterboxed and waiting (at the worker
// thread, for a model that queues runs), so the session starts it the moment k resolves, before k's frames
// are post-processed on the main thread.
import { Observable } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import type { Image } from './image.js';
import type { Letterbox, ResizeMode } from './letterbox.js';
import { computeLetterbox, letterbox } from './letterbox.js';

/** A fixed set of equal byte buffers, handed out and returned; never grows. */
export class BufferPool {
  private readonly free: Uint8Array[] = [];

  /** `shared`: over SharedArrayBuffers, so a worker thread can read a batch without a copy here. */
  constructor(
    readonly count: number,
    readonly bytes: number,
    shared = false,
  ) {
    for (let i = 0; i < count; i++)
      this.free.push(new Uint8Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes)));
  }

  get available(): number {
    return this.free.length;
  }

  acquire(): Uint8Array {
    const b = this.free.pop();
    // The batcher's credits equal the pool size, so running dry is a bug, not load.
    if (!b) throw new Error('batch buffer pool exhausted (more batches outstanding than credits)');
    return b;
  }

  release(b: Uint8Array): void {
    if (this.free.length >= this.count || this.free.includes(b))
      throw new Error('batch buffer released twice');
    this.free.push(b);
  }
}

export interface Prepared<F> {
  /** Frames that made it into the buffer, in batch order. */
  frames: F[];
  /** Per frame: how it was letterboxed (for post-processing). */
  boxes: Letterbox[];
  /** The pooled buffer; `pixels` is its first frames.length · S·S·3 bytes. */
  buffer: Uint8Array;
  pixels: Uint8Array;
}

/**
 * Letterboxes the frames of a batch into a buffer from the pool. A frame that cannot be letterboxed (a bad
 * image) is left out and reported through `onError`; the batch may end up empty (its buffer is then returned
 * at once by the caller's `done`). `fill`, when it returns a Letterbox, has written the item's input itself
 * (a tile of a tiled frame: tile-jobs.ts); null: the frame is letterboxed as usual.
 */
export function prepareBatch<F extends { image: Image }>(
  frames: readonly F[],
  size: number,
  mode: ResizeMode,
  pool: BufferPool,
  onError: (frame: F, err: Error) => void,
  fill?: (frame: F, out: Uint8Array) => Letterbox | null,
): Prepared<F> {
  const buffer = pool.acquire();
  const n = size * size * 3;
  const kept: F[] = [];
  const boxes: Letterbox[] = [];
  for (const f of frames) {
    try {
      const out = buffer.subarray(kept.length * n, (kept.length + 1) * n);
      let lb = fill?.(f, out) ?? null;
      if (!lb) {
        lb = computeLetterbox(f.image.width, f.image.height, size);
        letterbox(f.image, size, out, mode);
      }
      kept.push(f);
      boxes.push(lb);
    } catch (e) {
      onError(f, e as Error);
    }
  }
  return { frames: kept, boxes, buffer, pixels: buffer.subarray(0, kept.length * n) };
}

export interface Ran<B> {
  batch: B;
  /** The model's output; absent when `error` is set. */
  output?: Float32Array;
  error?: Error;
  /** Wall time of the run call, ms. */
  ms: number;
}

/**
 * Runs each batch through `run`, in order, with at most `maxInFlight` runs outstanding (1: one at a time; 2:
 * for a model that queues runs itself, like the worker thread, so the next batch starts there without a round
 * trip through this thread). When a run resolves, the next waiting batch is started, then `done(batch)` returns
 * its resources (buffer, batcher credit: the next batch may be closed and prepared while the session works),
 * and only then is the finished one emitted for post-processing, always in the order the batches came. The
 * waiting list is bounded by the batcher's credits. An empty batch skips `run`.
 * Completes when the source has completed and the last run has been emitted.
 */
export function inferSerially<B extends { frames: readonly unknown[] }>(
  run: (batch: B) => Promise<Float32Array>,
  done: (batch: B) => void,
  maxInFlight = 1,
): OperatorFunction<B, Ran<B>> {
  return (source) =>
    new Observable<Ran<B>>((subscriber) => {
      const waiting: B[] = [];
      /** Started runs in start order; a finished one is emitted once all before it are. */
      const running: { batch: B; result?: Omit<Ran<B>, 'batch'> }[] = [];
      /** Inside finish(): the source may complete from done(), but this batch is not emitted yet. */
      let emitting = false;
      let sourceDone = false;
      let closed = false;

      const idle = (): boolean => running.length === 0 && waiting.length === 0;
      const finish = (entry: (typeof running)[number], r: Omit<Ran<B>, 'batch'>): void => {
        entry.result = r;
        emitting = true;
        // The session first: a batch already prepared starts now. Then the resources: the batcher may close
        // the next batch into the freed buffer (it starts at once if none was waiting). Post-processing last.
        while (running.length > 0 && running[0].result) {
          const head = running.shift()!;
          if (!closed) start();
          done(head.batch);
          if (closed) return;
          subscriber.next({ batch: head.batch, ...head.result! });
        }
        emitting = false;
        if (sourceDone && idle()) subscriber.complete();
      };
      const start = (): void => {
        while (running.length < maxInFlight && waiting.length > 0) {
          const batch = waiting.shift()!;
          if (batch.frames.length === 0) {
            done(batch);
            continue;
          }
          const entry: (typeof running)[number] = { batch };
          running.push(entry);
          const t0 = performance.now();
          let p: Promise<Float32Array>;
          try {
            p = run(batch);
          } catch (e) {
            p = Promise.reject(e as Error);
          }
          p.then(
            (output) => finish(entry, { output, ms: performance.now() - t0 }),
            (error: unknown) =>
              finish(entry, {
                error: error instanceof Error ? error : new Error(String(error)),
                ms: performance.now() - t0,
              }),
          );
        }
      };
      const sub = source.subscribe({
        next: (batch) => {
          waiting.push(batch);
          start();
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          sourceDone = true;
          if (!emitting && idle()) subscriber.complete();
        },
      });
      return () => {
        closed = true;
        sub.unsubscribe();
        for (const b of waiting.splice(0)) done(b);
      };
    });
}
