// The anomaly model in a worker thread (see inference-worker.ts for why). The engine letterboxes into batch
// buffers over shared memory (sharedInput), so handing a batch to the worker copies nothing on the main thread;
// the Δ grids come back as a transferred Float32Array. One batch in flight at a time, like the session itself.
import { Worker } from 'node:worker_threads';
import type { LevelWithSilent } from 'pino';
import { BundleError } from '../model/bundle.js';
import type { EngineModel } from './engine.js';
import type { Precision, SessionOptions } from './inference.js';
import { InferenceError } from './inference.js';
import type { FromWorker, ToWorker, WorkerInit } from './inference-worker.js';

export interface WorkerModel extends EngineModel {
  readonly provider: string;
  readonly precision: Precision;
  readonly staticBatch?: number;
  readonly sharedInput: true;
  release(): Promise<void>;
}

export interface WorkerModelOptions extends Omit<SessionOptions, 'log'> {
  /** The worker logs on its own (JSON lines on stdout, like the main thread). */
  logLevel?: LevelWithSilent;
  logPretty?: 'auto' | 'always' | 'never';
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
  const { logLevel = 'info', logPretty = 'auto', testDelayMs, ...session } = o;
  const init: WorkerInit = { bundleDir, session, logLevel, logPretty, testDelayMs };
  const worker = spawnWorker(init);
  const pending = new Map<number, { resolve: (f: Float32Array) => void; reject: (e: Error) => void }>();
  let dead: Error | null = null;
  let released: (() => void) | null = null;
  const die = (e: Error): void => {
    dead ??= e;
    for (const p of pending.values()) p.reject(dead);
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
      if (m.output) p.resolve(m.output);
      else p.reject(new InferenceError(m.error ?? 'inference failed'));
    } else if (m.type === 'released') released?.();
  });
  worker.on('error', (e) => die(new InferenceError(`inference worker failed: ${e.message}`)));
  worker.on('exit', (code) => {
    die(new InferenceError(`inference worker exited (status ${code})`));
    released?.();
  });

  let nextId = 0;
  const { size, grid } = ready;
  return {
    size,
    resize: ready.resize,
    grid,
    modelId: ready.modelId,
    provider: ready.provider,
    precision: ready.precision,
    staticBatch: ready.staticBatch,
    sharedInput: true,
    run(pixels, batch) {
      if (dead) return Promise.reject(dead);
      if (!(pixels.buffer instanceof SharedArrayBuffer) || pixels.byteOffset !== 0) {
        return Promise.reject(new InferenceError('worker model: pixels must start a SharedArrayBuffer'));
      }
      if (pixels.length !== batch * size * size * 3) {
        return Promise.reject(
          new InferenceError(`worker model: ${pixels.length} bytes is not a batch of ${batch}`),
        );
      }
      const id = nextId++;
      return new Promise<Float32Array>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        const msg: ToWorker = { type: 'run', id, input: pixels.buffer as SharedArrayBuffer, batch };
        worker.postMessage(msg);
      });
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
