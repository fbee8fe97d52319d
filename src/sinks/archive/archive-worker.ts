// The archive's worker thread: owns the store (index and files), encodes and writes each kept part, trims the
// archive to its bound. Everything slow (PNG/JPEG encoding, the map, file writes, SQLite) happens here, never on
// the event loop that decides parts. Messages: see ToArchiveWorker / FromArchiveWorker.
import { parentPort, workerData } from 'node:worker_threads';
import type { ArchiveJob, EncodeOptions } from './encode-entry.js';
import { EncodeScratch, encodeEntry } from './encode-entry.js';
import { entryKey } from './layout.js';
import { ArchiveStore } from './archive-store.js';
import type { ThreadPriority } from './thread-priority.js';
import { lowerThreadPriority } from './thread-priority.js';

export interface ArchiveWorkerInit extends EncodeOptions {
  dir: string;
  maxBytes: number;
}

export type ToArchiveWorker = { type: 'job'; job: ArchiveJob } | { type: 'stop' };

export type FromArchiveWorker =
  | { type: 'ready'; entries: number; bytes: number; priority: ThreadPriority }
  | { type: 'open-failed'; error: string }
  // `frame`: the job's frame buffer, moved back for reuse (frame-pool.ts).
  | { type: 'done'; bytes: number; totalBytes: number; frame?: ArrayBuffer }
  | { type: 'failed'; error: string; code?: string; frame?: ArrayBuffer }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; fields: Record<string, unknown>; msg: string }
  | { type: 'stopped' };

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
  send({ type: 'ready', entries: store.index.count(), bytes: store.totalBytes, priority });
} catch (err) {
  send({ type: 'open-failed', error: (err as Error).message });
}

const scratch = new EncodeScratch();

/** Encodes, writes and indexes one part; its frame buffer goes back to the sink either way (frame-pool.ts). */
function write(job: ArchiveJob): void {
  const frame = job.evidence?.image.data.buffer as ArrayBuffer | undefined;
  const reply = (m: FromArchiveWorker): void => port.postMessage(m, frame ? [frame] : []);
  const s = store;
  if (!s) return reply({ type: 'failed', error: 'archive not open', frame });
  try {
    const enc = encodeEntry(job, init, scratch);
    const r = job.result;
    const bytes = s.add({
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
    });
    reply({ type: 'done', bytes, totalBytes: s.totalBytes, frame });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    reply({ type: 'failed', error: e.message, code: e.code, frame });
  }
}

port.on('message', (m: ToArchiveWorker) => {
  if (m.type === 'job') write(m.job);
  else {
    store?.close();
    store = undefined;
    send({ type: 'stopped' });
    port.close();
  }
});
