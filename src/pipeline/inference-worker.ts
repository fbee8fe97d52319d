// Worker-thread side of worker-model.ts: owns the bundle and the onnxruntime session. onnxruntime-node runs a
// session synchronously on the calling thread (its promise only defers the start), so on the main thread every
// inference would freeze the event loop: deadline timers, MQTT, sources and post-processing would all wait.
import { parentPort, workerData } from 'node:worker_threads';
import { loadBundle } from '../model/bundle.js';
import { createLogger } from '../util/log.js';
import type { AnomalyModel, SessionOptions } from './inference.js';
import { openAnomalyModel } from './inference.js';
import type { ResizeMode } from '../model/manifest.js';
import type { LevelWithSilent } from 'pino';

export interface WorkerInit {
  bundleDir: string;
  session: Omit<SessionOptions, 'log'>;
  logLevel: LevelWithSilent;
  logPretty: 'auto' | 'always' | 'never';
  /** TEST ONLY: every run first blocks this thread for this long, like a slow synchronous session. */
  testDelayMs?: number;
}

export type ToWorker =
  { type: 'run'; id: number; input: SharedArrayBuffer; batch: number } | { type: 'release' };

export type FromWorker =
  | { type: 'ready'; size: number; resize: ResizeMode; grid: number; modelId: string; provider: string }
  | { type: 'failed'; name: string; message: string }
  | { type: 'result'; id: number; output?: Float32Array; error?: string }
  | { type: 'released' };

const port = parentPort;
if (port) {
  const init = workerData as WorkerInit;
  const log = createLogger({ level: init.logLevel, pretty: init.logPretty }).child({ thread: 'inference' });
  const send = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  let model: AnomalyModel | undefined;
  try {
    model = await openAnomalyModel(loadBundle(init.bundleDir, { cacheDir: init.session.cacheDir }), {
      ...init.session,
      log,
    });
    send({
      type: 'ready',
      size: model.size,
      resize: model.resize,
      grid: model.grid,
      modelId: model.modelId,
      provider: model.provider,
    });
  } catch (e) {
    send({ type: 'failed', name: (e as Error).name, message: (e as Error).message });
  }
  if (model) {
    const m = model;
    const frame = m.size * m.size * 3;
    // onnxruntime refuses tensors over shared memory: one private copy per batch, on this thread.
    let local = new Uint8Array(0);
    port.on('message', (msg: ToWorker) => {
      if (msg.type === 'release') {
        void m.release().finally(() => {
          send({ type: 'released' });
          port.close();
        });
        return;
      }
      if (init.testDelayMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, init.testDelayMs);
      const n = msg.batch * frame;
      if (local.length < n) local = new Uint8Array(n);
      local.set(new Uint8Array(msg.input, 0, n));
      m.run(local.subarray(0, n), msg.batch).then(
        (out) => {
          const output = out.slice(); // the session's output memory is not ours to transfer
          send({ type: 'result', id: msg.id, output }, [output.buffer]);
        },
        (e: unknown) => send({ type: 'result', id: msg.id, error: (e as Error).message ?? String(e) }),
      );
    });
  }
}
