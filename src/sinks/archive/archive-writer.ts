// The archive sink's side of the worker: a bounded count of parts handed to the worker and not yet written.
// When the disk is slow or full the worker falls behind, the bound is reached, and new parts are dropped and
// counted: a verdict is never delayed or lost because of the archive.
import type { Worker } from 'node:worker_threads';
import type { Logger } from '../../util/log.js';
import { createLogThrottle } from '../../util/log-throttle.js';
import { spawnWorker } from '../../util/spawn-worker.js';
import type { ArchiveWorkerInit, FromArchiveWorker, ToArchiveWorker } from './archive-worker.js';
import type { ArchiveJob } from './encode-entry.js';
import { FrameSlots } from './frame-slots.js';

export interface ArchiveStats {
  /** Parts handed to the worker, not yet written. */
  queued: number;
  /** Entries written since start. */
  written: number;
  /** Parts not archived because the queue was full (slow or full disk). */
  dropped: number;
  /** Parts the worker could not write (disk full, I/O errors). */
  failed: number;
  /** Bytes the archive holds. */
  bytes: number;
  /** CPU seconds the worker used so far (Linux; 0 elsewhere). */
  cpuSeconds: number;
  /** Seconds the worker waited for inspection to leave it CPU (inspection-gate.ts). */
  yieldedSeconds: number;
}

/** How long stop() waits for queued parts to be written. */
const STOP_DRAIN_MS = 5000;

export class ArchiveWriter {
  readonly st: ArchiveStats = {
    queued: 0,
    written: 0,
    dropped: 0,
    failed: 0,
    bytes: 0,
    cpuSeconds: 0,
    yieldedSeconds: 0,
  };
  private worker: Worker | undefined;
  private open = false;
  private readonly throttle;
  private drained: (() => void) | undefined;
  private readonly frames: FrameSlots;

  /** `depth`: parts waiting at most; `maxQueueBytes`: their frame copies' bytes at most. */
  constructor(
    private readonly init: ArchiveWorkerInit,
    private readonly depth: number,
    private readonly log: Logger,
    maxQueueBytes = Infinity,
  ) {
    this.throttle = createLogThrottle(log);
    this.frames = new FrameSlots(depth, maxQueueBytes);
  }

  /** Starts the worker and opens (and repairs) the archive; a failure is logged and the daemon runs on. */
  async start(): Promise<void> {
    const w = spawnWorker(import.meta.url, 'archive-worker', this.init);
    this.worker = w;
    w.unref();
    await new Promise<void>((resolve) => {
      const first = (m: FromArchiveWorker): void => {
        if (m.type === 'log') return;
        w.off('message', first);
        if (m.type === 'ready') {
          this.open = true;
          this.st.bytes = m.bytes;
          this.st.cpuSeconds = m.work.cpuMs / 1000; // opening and repairing the archive
          this.log.info(
            { dir: this.init.dir, entries: m.entries, megabytes: mb(m.bytes), cpuPriority: m.priority },
            'archive open',
          );
        } else if (m.type === 'open-failed') {
          this.log.error(
            { dir: this.init.dir, err: m.error },
            'archive could not be opened: parts are not archived',
          );
        }
        resolve();
      };
      w.on('message', first);
      w.on('message', (m: FromArchiveWorker) => this.onMessage(m));
      w.once('error', (err) => {
        this.open = false;
        this.log.error({ err: err.message }, 'archive worker failed: parts are no longer archived');
        resolve();
      });
    });
  }

  /** Frame slots shared with the worker: allocated, and free now. */
  get frameSlots(): { total: number; free: number } {
    return this.frames.size;
  }

  /** Hands a part to the worker, or drops and counts it when the queue is full. */
  enqueue(job: ArchiveJob): void {
    if (!this.open || !this.worker) {
      this.st.dropped++;
      return;
    }
    if (this.st.queued >= this.depth) {
      this.dropFull();
      return;
    }
    const ev = job.evidence;
    let slot: number | undefined;
    if (ev) {
      // A copy into a slot shared with the worker (frame-slots.ts): the source's and the engine's buffers stay
      // theirs, other outputs may still read them. The Δ grid is the engine's own copy (evidenceOf).
      const s = this.frames.copy(ev.image.data, (bytes, count) =>
        this.worker?.postMessage({ type: 'spares', bytes, count } satisfies ToArchiveWorker),
      );
      if (!s) {
        const n = ev.image.data.byteLength;
        if (this.frames.fits(n)) return this.dropFull();
        this.st.dropped++;
        this.throttle.warn(
          'too-large',
          { frameMegabytes: mb(n), dropped: this.st.dropped },
          'archive: a frame larger than archive.queueMegabytes is not archived',
        );
        return;
      }
      slot = s.id;
      ev.image = { ...ev.image, data: s.view };
    }
    this.st.queued++;
    this.worker.postMessage({ type: 'job', job, slot } satisfies ToArchiveWorker);
  }

  /** The queue (parts or their bytes) is full: the part is dropped and counted. */
  private dropFull(): void {
    this.st.dropped++;
    this.throttle.warn(
      'full',
      { dropped: this.st.dropped, depth: this.depth },
      'archive queue full: part not archived',
    );
  }

  /** Waits (bounded) for the queue to be written, then closes the archive. */
  async stop(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    if (this.open && this.st.queued > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => (this.drained = r)),
        new Promise<void>((r) => (t = setTimeout(r, STOP_DRAIN_MS))),
      ]);
      clearTimeout(t);
    }
    this.open = false;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void w.terminate().then(() => resolve()), 2000);
      w.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      w.postMessage({ type: 'stop' } satisfies ToArchiveWorker);
    });
    this.worker = undefined;
    this.log.info({ ...this.st }, 'archive closed');
  }

  private onMessage(m: FromArchiveWorker): void {
    if (m.type === 'done' || m.type === 'failed') {
      if (m.slot !== undefined) this.frames.release(m.slot);
      this.st.cpuSeconds = m.work.cpuMs / 1000;
      this.st.yieldedSeconds = m.work.yieldedMs / 1000;
    }
    switch (m.type) {
      case 'done':
        this.st.queued--;
        this.st.written++;
        this.st.bytes = m.totalBytes;
        break;
      case 'failed':
        this.st.queued--;
        this.st.failed++;
        this.throttle.warn(
          `failed-${m.code ?? 'other'}`,
          { err: m.error, failed: this.st.failed },
          'archive write failed: part not archived',
        );
        break;
      case 'spares':
        this.frames.addSpares(m.buffers);
        break;
      case 'log':
        this.log[m.level](m.fields, m.msg);
        break;
      default:
        break;
    }
    if (this.st.queued === 0) this.drained?.();
  }
}

const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10;
