// The archive's worker thread: owns the store (index and files), encodes and writes each kept part, trims the
// archive to its bound. Everything slow (PNG/JPEG encoding, the map, file writes, SQLite) happens here, never on
// the event loop that decides parts. Messages: see ToArchiveWorker / FromArchiveWorker.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { ArchiveJob, EncodeOptions } from './encode-entry.js';
import { encodeEntry } from './encode-entry.js';
import { entryKey } from './layout.js';
import { ArchiveStore } from './archive-store.js';

export interface ArchiveWorkerInit extends EncodeOptions {
  dir: string;
  maxBytes: number;
}

export type ToArchiveWorker = { type: 'job'; job: ArchiveJob } | { type: 'stop' };

export type FromArchiveWorker =
  | { type: 'ready'; entries: number; bytes: number }
  | { type: 'open-failed'; error: string }
  | { type: 'done'; bytes: number; totalBytes: number }
  | { type: 'failed'; error: string; code?: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; fields: Record<string, unknown>; msg: string }
  | { type: 'stopped' };

const port = parentPort!;
const init = workerData as ArchiveWorkerInit;
const send = (m: FromArchiveWorker): void => port.postMessage(m);
const log = {
  info: (fields: Record<string, unknown>, msg: string) => send({ type: 'log', level: 'info', fields, msg }),
  warn: (fields: Record<string, unknown>, msg: string) => send({ type: 'log', level: 'warn', fields, msg }),
  error: (fields: Record<string, unknown>, msg: string) => send({ type: 'log', level: 'error', fields, msg }),
};

/**
 * The lowest CPU priority for this thread only (Linux: /proc/thread-self names its kernel thread id): on a small
 * line PC the archive must take only CPU time the inspection does not need. Elsewhere it runs at normal priority.
 */
function lowerThreadPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, 19);
  } catch {
    // not Linux, or not permitted: normal priority
  }
}

lowerThreadPriority();
let store: ArchiveStore | undefined;
try {
  store = new ArchiveStore(init.dir, init.maxBytes, log as never);
  send({ type: 'ready', entries: store.index.count(), bytes: store.totalBytes });
} catch (err) {
  send({ type: 'open-failed', error: (err as Error).message });
}

function write(job: ArchiveJob): void {
  const s = store;
  if (!s) return send({ type: 'failed', error: 'archive not open' });
  try {
    const enc = encodeEntry(job, init);
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
    send({ type: 'done', bytes, totalBytes: s.totalBytes });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    send({ type: 'failed', error: e.message, code: e.code });
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
