// Worker-thread side of worker-model.ts: owns the bundle and the onnxruntime session. onnxruntime-node runs a
// session synchronously on the calling thread (its promise only defers the start), so on the main thread every
// inference would freeze the event loop: deadline timers, MQTT, sources and post-processing would all wait.
import { parentPort, workerData } from 'node:worker_threads';
import { loadBundle } from '../model/bundle.js';
import { relayingLogger } from '../util/log-relay.js';
import type { AnomalyModel, Precision, SessionOptions } from './inference.js';
import { openAnomalyModel } from './inference.js';
import type { ResizeMode } from '../model/manifest.js';
import type { LevelWithSilent } from 'pino';

export interface WorkerInit {
  bundleDir: string;
  session: Omit<SessionOptions, 'log'>;
  /** Lines below it are not even sent to the main thread, which logs the rest (log-relay.ts). */
  logLevel: LevelWithSilent;
  /** TEST ONLY: every run first blocks this thread for this long, like a slow synchronous session. */
  testDelayMs?: number;
}

/** input: transferred here (the first batch·S·S·3 bytes are the batch) and transferred back with the result. */
export type ToWorker = { type: 'run'; id: number; input: ArrayBuffer; batch: number } | { type: 'release' };

export type FromWorker =
  | {
      type: 'ready';
      size: number;
      resize: ResizeMode;
      grid: number;
      modelId: string;
      provider: string;
      precision: Precision;
      staticBatch?: number;
    }
  | { type: 'failed'; name: string; message: string }
  | { type: 'result'; id: number; input: ArrayBuffer; output?: Float32Array; error?: string }
  | { type: 'released' }
  | { type: 'log'; line: string };

const port = parentPort;
if (port) {
  const init = workerData as WorkerInit;
  const send = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  const log = relayingLogger(init.logLevel, (line) => send({ type: 'log', line })).child({
    thread: 'inference',
  });
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
      precision: model.precision,
      staticBatch: model.staticBatch,
    });
  } catch (e) {
    send({ type: 'failed', name: (e as Error).name, message: (e as Error).message });
  }
  if (model) {
    const m = model;
    const frame = m.size * m.size * 3;
    // The session takes one run at a time; a batch posted while another runs waits here, on this thread, and
    // starts the moment the first resolves (no round trip to the main thread in between).
    let queue: Promise<void> = Promise.resolve();
    port.on('message', (msg: ToWorker) => {
      if (msg.type === 'release') {
        void m.release().finally(() => {
          send({ type: 'released' });
          port.close();
        });
        return;
      }
      if (init.testDelayMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, init.testDelayMs);
      // The batch buffer was transferred, not copied (onnxruntime refuses shared memory); it goes back with
      // the result so the engine's pool keeps its size.
      const { input } = msg;
      queue = queue.then(() =>
        m.run(new Uint8Array(input, 0, msg.batch * frame), msg.batch).then(
          (out) => {
            const output = out.slice(); // the session's output memory is not ours to transfer
            send({ type: 'result', id: msg.id, input, output }, [output.buffer, input]);
          },
          (e: unknown) =>
            send({ type: 'result', id: msg.id, input, error: (e as Error).message ?? String(e) }, [input]),
        ),
      );
    });
  }
}
