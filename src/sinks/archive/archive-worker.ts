// The archive's worker thread: owns the store (index and files), encodes and writes each kept part, trims the
// archive to its bound. Everything slow (PNG/JPEG encoding, the map, file writes, SQLite) happens here, never on
// the event loop that decides parts. Messages: see ToArchiveWorker / FromArchiveWorker.
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { ArchiveJob, EncodeOptions } from './encode-entry.js';
import { EncodeScratch, encodeEntry } from './encode-entry.js';
import { runNow, type Step } from '../../util/png-encode.js';
import { entryKey } from './layout.js';
import { ArchiveStore } from './archive-store.js';
import { makeSpares } from './frame-slots.js';
import type { ThreadPriority } from './thread-priority.js';
import { lowerThreadPriority } from './thread-priority.js';
import { InspectionGate, sharedLoadIo } from './inspection-gate.js';
import { statCpuMs } from '../../util/proc-stat.js';

export interface ArchiveWorkerInit extends EncodeOptions {
  dir: string;
  maxBytes: number;
  /** The pipeline's load cell (PipelineLoad.buffer) and the share of a core while it is busy (inspection-gate.ts). */
  load?: SharedArrayBuffer;
  cpuWhileInspecting?: number;
}

export type ToArchiveWorker =
  // `slot`: the shared frame slot holding the job's frame, handed back in the reply (frame-slots.ts).
  | { type: 'job'; job: ArchiveJob; slot?: number }
  | { type: 'spares'; bytes: number; count: number }
  | { type: 'stop' };

export type FromArchiveWorker =
  | { type: 'ready'; entries: number; bytes: number; priority: ThreadPriority; work: WorkerTime }
  | { type: 'open-failed'; error: string }
  // `slot`: the job's frame slot, free again (frame-slots.ts).
  | { type: 'done'; bytes: number; totalBytes: number; slot?: number; work: WorkerTime }
  | { type: 'failed'; error: string; code?: string; slot?: number; work: WorkerTime }
  | { type: 'spares'; buffers: SharedArrayBuffer[] }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; fields: Record<string, unknown>; msg: string }
  | { type: 'stopped' };

/** The worker's own CPU time and its waits for inspection so far, ms (for the archive's counters). */
export interface WorkerTime {
  cpuMs: number;
  yieldedMs: number;
}

const port = parentPort!;
const init = workerData as ArchiveWorkerInit;
const send = (m: FromArchiveWorker): void => port.postMessage(m);
const log = {
  debug: (fields: Record<string, unknown>, msg: string) => send({ type: 'log', level: 'debug', fields, msg }),
  info: (fields: Record<string, unknown>, msg: string) => send({ type: 'log', level: 'info', fields, msg }),
  warn: (fields: Record<string, unknown>, msg: string) => send({ type: 'log', level: 'warn', fields, msg }),
  error: (fields: Record<string, unknown>, msg: string) => send({ type: 'log', level: 'error', fields, msg }),
};

const priority = await lowerThreadPriority(log);
let store: ArchiveStore | undefined;
try {
  store = new ArchiveStore(init.dir, init.maxBytes, log as never);
  send({
    type: 'ready',
    entries: store.index.count(),
    bytes: store.totalBytes,
    priority,
    work: { cpuMs: threadCpuMs(), yieldedMs: 0 }, // before the gate exists: nothing yielded yet
  });
} catch (err) {
  send({ type: 'open-failed', error: (err as Error).message });
}

const scratch = new EncodeScratch();
// Without a load cell (a tool writing entries, not the daemon) there is no inspection to yield to.
const gate = init.load
  ? new InspectionGate(init.cpuWhileInspecting ?? 1, sharedLoadIo(init.load))
  : undefined;
const step: Step = gate ? (work) => gate.step(work) : runNow;

/** Encodes, writes and indexes one part; its frame slot goes back to the sink either way (frame-slots.ts). */
function write(job: ArchiveJob, slot: number | undefined): void {
  const reply = (m: FromArchiveWorker): void => port.postMessage(m);
  const s = store;
  if (!s) return reply({ type: 'failed', error: 'archive not open', slot, work: workerTime() });
  try {
    const enc = encodeEntry(job, init, scratch, step);
    const r = job.result;
    const bytes = step(() =>
      s.add({
        key: entryKey(r.decideTime),
        partId: r.partId,
        cameraId: r.cameraId,
        captureTime: r.captureTime,
        decideTime: r.decideTime,
        verdict: r.verdict,
        reason: r.reason,
        score: r.score,
        files: enc.files,
        frameFormat: enc.frameFormat,
        mapFormat: enc.mapFormat,
        mapScale: enc.mapScale,
      }),
    );
    reply({ type: 'done', bytes, totalBytes: s.totalBytes, slot, work: workerTime() });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    reply({ type: 'failed', error: e.message, code: e.code, slot, work: workerTime() });
  }
}

port.on('message', (m: ToArchiveWorker) => {
  if (m.type === 'job') write(m.job, m.slot);
  else if (m.type === 'spares') send({ type: 'spares', buffers: makeSpares(m.bytes, m.count) });
  else {
    store?.close();
    store = undefined;
    send({ type: 'stopped' });
    port.close();
  }
});

function workerTime(): WorkerTime {
  return { cpuMs: threadCpuMs(), yieldedMs: gate?.sleptMs ?? 0 };
}

/** This thread's CPU time, ms (Linux /proc); 0 where unreadable. */
function threadCpuMs(): number {
  try {
    return statCpuMs(readFileSync('/proc/thread-self/stat', 'utf8'));
  } catch {
    return 0;
  }
}
