// Starts a worker thread from a module next to the caller, built or from source. Built (dist/*.js): the worker
// module itself. From source (.ts under tsx, tests and development): worker threads do not inherit tsx's
// loader, so a one-line bootstrap registers it before importing the module.
import { Worker } from 'node:worker_threads';

/** `callerUrl`: the caller's import.meta.url; `name`: the worker module's base name (no extension). */
export function spawnWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(code, { eval: true, workerData });
}
