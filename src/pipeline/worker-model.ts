// The anomaly model in a worker thread (see inference-worker.ts for why). The engine letterboxes into batch
// buffers that are transferred to the worker and back (runTransfer), so a batch is never copied: onnxruntime
// refuses shared memory, which cost a 26 MB copy per batch of 8 at S = 1036 before. The Δ grids come back as
// a transferred Float32Array. One batch in flight at a time, like the session itself.
import { Worker } from 'node:worker_threads';
import type { LevelWithSilent } from 'pino';
import { BundleError } from '../model/bundle.js';
import type { Logger } from '../util/log.js';
import { relayLogLine } from '../util/log-relay.js';
import type { EngineModel } from './engine.js';
import type { Precision, SessionOptions } from './inference.js';
import { InferenceError } from './inference.js';
import type { FromWorker, ToWorker, WorkerInit } from './inference-worker.js';

export interface WorkerModel extends EngineModel {
  readonly provider: string;
  readonly precision: Precision;
  readonly staticBatch?: number;
  runTransfer: NonNullable<EngineModel['runTransfer']>;
  release(): Promise<void>;
}

export interface WorkerModelOptions extends Omit<SessionOptions, 'log'> {
  /** The worker's lines are logged on it (its level, format and destination); none: the worker is silent. */
  log?: Logger;
  /** TEST ONLY: each run blocks the worker this long first (a slow model, for the deadline tests). */
  testDelayMs?: number;
}

/** The worker's error as the class the callers test for (exit codes of `pinpoint run`). */
function rebuild(name: string, message: string): Error {
  if (name === 'BundleError') return new BundleError(message);
  if (name === 'InferenceError') return new InferenceError(message);
  const e = new Error(message);
  e.name = name;
  return e;
}

/**
 * Built (dist/*.js): the worker module itself. From source (.ts under tsx, tests and development): worker
 * threads do not inherit tsx's loader, so a one-line bootstrap registers it before importing the module.
 */
function spawnWorker(init: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./inference-worker.js', import.meta.url), { workerData: init });
  }
  const entry = new URL('./inference-worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(code, { eval: true, workerData: init });
}

export async function openModelInWorker(bundleDir: string, o: WorkerModelOptions = {}): Promise<WorkerModel> {
  const { log, testDelayMs, ...session } = o;
  const init: WorkerInit = {
    bundleDir,
    session,
    logLevel: (log?.level as LevelWithSilent | undefined) ?? 'silent',
    testDelayMs,
  };
  const worker = spawnWorker(init);
  worker.on('message', (m: FromWorker) => {
    if (m.type === 'log' && log) relayLogLine(log, m.line);
  });
  const pending = new Map<
    number,
    {
      resolve: (r: { output: Float32Array; input: Uint8Array }) => void;
      reject: (e: Error) => void;
      bytes: number;
    }
  >();
  let dead: Error | null = null;
  let released: (() => void) | null = null;
  const die = (e: Error): void => {
    dead ??= e;
    // Their buffers are gone with the worker; the caller's pool gets fresh ones through the error.
    for (const p of pending.values())
      p.reject(Object.assign(new InferenceError(dead.message), { input: new Uint8Array(p.bytes) }));
    pending.clear();
  };

  const ready = await new Promise<Extract<FromWorker, { type: 'ready' }>>((resolve, reject) => {
    const onExit = (code: number): void =>
      reject(new InferenceError(`inference worker exited (status ${code}) before the model was open`));
    const onMessage = (m: FromWorker): void => {
      if (m.type !== 'ready' && m.type !== 'failed') return;
      // Only our own listeners: removeAllListeners() would also drop the Worker's internal ones.
      worker.off('message', onMessage).off('error', reject).off('exit', onExit);
      if (m.type === 'ready') resolve(m);
      else reject(rebuild(m.name, m.message));
    };
    worker.on('message', onMessage).once('error', reject).once('exit', onExit);
  });
  worker.on('message', (m: FromWorker) => {
    if (m.type === 'result') {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (!p) return;
      const input = new Uint8Array(m.input);
      if (m.output) p.resolve({ output: m.output, input });
      else p.reject(Object.assign(new InferenceError(m.error ?? 'inference failed'), { input }));
    } else if (m.type === 'released') released?.();
  });
  worker.on('error', (e) => die(new InferenceError(`inference worker failed: ${e.message}`)));
  worker.on('exit', (code) => {
    die(new InferenceError(`inference worker exited (status ${code})`));
    released?.();
  });

  let nextId = 0;
  const { size, grid } = ready;
  const frame = size * size * 3;
  const runTransfer: WorkerModel['runTransfer'] = (buffer, batch) => {
    if (dead) return Promise.reject(Object.assign(new InferenceError(dead.message), { input: buffer }));
    if (
      !(buffer.buffer instanceof ArrayBuffer) ||
      buffer.byteOffset !== 0 ||
      buffer.length !== buffer.buffer.byteLength
    ) {
      return Promise.reject(
        new InferenceError('worker model: the batch must be a whole ArrayBuffer (it is transferred)'),
      );
    }
    if (!Number.isInteger(batch) || batch < 1 || batch * frame > buffer.length) {
      return Promise.reject(
        new InferenceError(`worker model: ${buffer.length} bytes cannot hold a batch of ${batch}`),
      );
    }
    const id = nextId++;
    const bytes = buffer.length;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject, bytes });
      const msg: ToWorker = { type: 'run', id, input: buffer.buffer as ArrayBuffer, batch };
      worker.postMessage(msg, [msg.input]);
    });
  };
  return {
    size,
    resize: ready.resize,
    grid,
    modelId: ready.modelId,
    provider: ready.provider,
    precision: ready.precision,
    staticBatch: ready.staticBatch,
    runTransfer,
    /** The caller keeps `pixels`: one copy into a buffer of the worker's (warm-up, tools; not the hot path). */
    run(pixels, batch) {
      if (pixels.length !== batch * frame) {
        return Promise.reject(
          new InferenceError(`worker model: ${pixels.length} bytes is not a batch of ${batch}`),
        );
      }
      return runTransfer(Uint8Array.from(pixels), batch).then((r) => r.output);
    },
    release() {
      if (dead) return Promise.resolve();
      return new Promise<void>((resolve) => {
        released = resolve;
        dead = new InferenceError('model released');
        worker.postMessage({ type: 'release' } satisfies ToWorker);
      });
    },
  };
}
