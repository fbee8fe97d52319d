// Issue 18, item 5, on the CPU, side by side in one run:
//   1. handing a batch to the inference thread: the old design (shared memory, copied on the worker because
//      onnxruntime refuses shared tensors) against the new one (the buffer transferred there and back), at
//      the size that matters, a batch of 8 at S = 1036 (25.8 MB), through two echo workers that do nothing
//      else, so the difference is the hand-over alone;
//   2. one batch in flight against two (the next batch already posted to the worker when one finishes), on
//      the real worker-thread model with a small dev teacher: whether two in flight hurts on the CPU.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { openModelInWorker } from '../src/pipeline/worker-model.js';

const BYTES = 8 * 1036 * 1036 * 3;

/** An echo worker: `copy` copies a shared batch into its own buffer (old); else returns the transferred one. */
const ECHO = `
const { parentPort } = require('node:worker_threads');
let local = new Uint8Array(0);
parentPort.on('message', (m) => {
  if (m.copy) {
    if (local.length < m.input.byteLength) local = new Uint8Array(m.input.byteLength);
    local.set(new Uint8Array(m.input));
    parentPort.postMessage({ sum: local[local.length - 1] });
  } else {
    const v = new Uint8Array(m.input);
    parentPort.postMessage({ sum: v[v.length - 1], input: m.input }, [m.input]);
  }
});`;

async function handOver(copy: boolean, n: number): Promise<number> {
  const w = new Worker(ECHO, { eval: true });
  let buf: ArrayBuffer | SharedArrayBuffer = copy ? new SharedArrayBuffer(BYTES) : new ArrayBuffer(BYTES);
  new Uint8Array(buf).fill(7);
  const once = () =>
    new Promise<void>((resolve) => {
      w.once('message', (m: { input?: ArrayBuffer }) => {
        if (m.input) buf = m.input;
        resolve();
      });
      if (copy) w.postMessage({ copy, input: buf });
      else w.postMessage({ copy, input: buf }, [buf as ArrayBuffer]);
    });
  await once();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await once();
  const ms = (performance.now() - t0) / n;
  await w.terminate();
  return ms;
}

async function inFlight(depth: 1 | 2, bundleDir: string, batches: number): Promise<number> {
  const model = await openModelInWorker(bundleDir, { device: 'cpu', threads: 1 });
  const S = model.size;
  const pool: Uint8Array[] = [0, 1].map(() => new Uint8Array(4 * S * S * 3).fill(100));
  await model.run(pool[0].slice(), 4);
  const t0 = performance.now();
  let started = 0;
  const lane = async (slot: number): Promise<void> => {
    while (started < batches) {
      started++;
      const r = await model.runTransfer(pool[slot], 4);
      pool[slot] = r.input;
    }
  };
  await Promise.all(depth === 1 ? [lane(0)] : [lane(0), lane(1)]);
  const fps = (batches * 4) / ((performance.now() - t0) / 1000);
  await model.release();
  return fps;
}

export async function run(): Promise<void> {
  const copyMs = await handOver(true, 20);
  const moveMs = await handOver(false, 20);
  console.log(
    `hand-over of a batch of 8 at S=1036 (${(BYTES / 1e6).toFixed(1)} MB): shared + copy ${copyMs.toFixed(2)} ms, ` +
      `transfer ${moveMs.toFixed(3)} ms (${(copyMs / moveMs).toFixed(0)}× less)`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-bench-transfer-'));
  try {
    writeDevTeacher(join(dir, 't.safetensors'), { depth: 4, dim: 64, heads: 4, posGrid: 8, seed: 1 });
    createBundle({
      teacherPath: join(dir, 't.safetensors'),
      outDir: join(dir, 'b'),
      size: 224,
      layers: [3, 4],
      seed: 1,
    });
    // Alternating, twice, so a load change on the shared machine hits both alike.
    const one: number[] = [];
    const two: number[] = [];
    for (let i = 0; i < 2; i++) {
      one.push(await inFlight(1, join(dir, 'b'), 24));
      two.push(await inFlight(2, join(dir, 'b'), 24));
    }
    const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
    console.log(
      `S=224 dev teacher (depth 4, dim 64), batches of 4, 1 thread: one in flight ${mean(one).toFixed(1)} frames/s, ` +
        `two in flight ${mean(two).toFixed(1)} frames/s (ratio ${(mean(two) / mean(one)).toFixed(3)})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
