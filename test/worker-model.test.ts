// The model in a worker thread: same numbers as the session on this thread, the event loop stays free while it
// runs, and its errors keep their class (the CLI's exit codes depend on it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BundleError, createBundle, loadBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { openAnomalyModel } from '../src/pipeline/inference.js';
import { openModelInWorker } from '../src/pipeline/worker-model.js';
import type { WorkerModel } from '../src/pipeline/worker-model.js';
import { captureLog } from './helpers/log-capture.js';

const dir = mkdtempSync(join(tmpdir(), 'pinpoint-worker-'));
const bundle = join(dir, 'model');

describe('model in a worker thread', () => {
  let model: WorkerModel;
  before(async () => {
    writeDevTeacher(join(dir, 't.safetensors'), { depth: 2, dim: 16, heads: 2, seed: 1 });
    createBundle({ teacherPath: join(dir, 't.safetensors'), outDir: bundle, size: 56, layers: [1, 2] });
    model = await openModelInWorker(bundle, {
      device: 'cpu',
      threads: 1,
      testDelayMs: 150,
    });
  });
  after(async () => {
    await model?.release();
  });

  test('the same Δ grids as a session on this thread; the event loop runs meanwhile', async () => {
    const S = model.size;
    assert.deepEqual([S, model.grid, model.provider], [56, 4, 'cpu']);
    const pixels = new Uint8Array(2 * S * S * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const out = await model.run(pixels, 2); // blocks the worker 150 ms (test delay) plus the run
    clearInterval(timer);
    assert.ok(ticks >= 8, `only ${ticks} timer ticks while the model ran`);
    const local = await openAnomalyModel(loadBundle(bundle), { device: 'cpu', threads: 1 });
    try {
      const want = await local.run(Uint8Array.from(pixels), 2);
      assert.deepEqual(out, want);
    } finally {
      await local.release();
    }
  });

  test('a transferred batch comes back over the same bytes with the same grids; bad input is refused', async () => {
    const S = model.size;
    const frame = S * S * 3;
    const pool = new Uint8Array(3 * frame); // a pool buffer of maxBatch 3, holding a batch of 2
    for (let i = 0; i < 2 * frame; i++) pool[i] = (i * 7919) % 251;
    const copy = pool.slice();
    const want = await model.run(copy.subarray(0, 2 * frame), 2);
    const r = await model.runTransfer(pool, 2);
    assert.equal(pool.length, 0, 'the sent buffer was transferred, not copied');
    assert.equal(r.input.length, 3 * frame);
    assert.deepEqual(r.input, copy, 'the same bytes come back');
    assert.deepEqual(r.output, want);
    await assert.rejects(model.run(new Uint8Array(frame), 2), /not a batch of 2/);
    await assert.rejects(model.runTransfer(r.input.subarray(frame), 1), /whole ArrayBuffer/);
    await assert.rejects(model.runTransfer(new Uint8Array(frame), 2), /cannot hold a batch of 2/);
  });

  test('a bundle that cannot be opened fails with its own error class and message', async () => {
    await assert.rejects(openModelInWorker(join(dir, 'nope')), (e: Error) => {
      assert.ok(e instanceof BundleError, `${e.name}: ${e.message}`);
      assert.match(e.message, /nope/);
      return true;
    });
  });
});

describe('worker thread log lines', () => {
  test("are written by the main thread's logger: pretty on a pretty logger, JSON records on a JSON one", async () => {
    const pretty = captureLog({ level: 'info', pretty: 'always' });
    const json = captureLog({ level: 'info', pretty: 'never' });
    for (const c of [pretty, json]) {
      const m = await openModelInWorker(bundle, { device: 'cpu', threads: 1, log: c.log });
      await m.release();
    }
    // The worker logs its session once it is open (inference.ts); on a pretty logger no line is raw JSON.
    const text = pretty.text();
    assert.ok(
      text.some((l) => /INFO.*inference session on cpu/.test(l)),
      text.join('\n'),
    );
    for (const l of text) assert.ok(!l.trimStart().startsWith('{'), `raw JSON line: ${l}`);
    assert.ok(text.some((l) => /thread.*"inference"/.test(l)));
    const rec = json.records().find((r) => r.msg === 'inference session on cpu');
    assert.ok(rec, JSON.stringify(json.records()));
    assert.equal(rec.level, 'info');
    assert.equal(rec.thread, 'inference');
    assert.equal(rec.provider, 'cpu');
  });

  test('the main logger level applies: a warn logger gets no info line from the worker', async () => {
    const c = captureLog({ level: 'warn' });
    const m = await openModelInWorker(bundle, { device: 'cpu', threads: 1, log: c.log });
    await m.release();
    assert.deepEqual(
      c.records().filter((r) => r.thread === 'inference' && r.level === 'info'),
      [],
    );
  });
});
