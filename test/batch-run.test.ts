// inferSerially with two runs in flight (the worker-thread model): never more than two outstanding, results
// emitted in the order the batches came even when a later run resolves first, every batch's resources returned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { inferSerially } from '../src/pipeline/batch-run.js';

interface B {
  frames: number[];
  id: number;
}

function deferred() {
  let resolve!: (v: Float32Array) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<Float32Array>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('two in flight: bounded, in order, resources returned, errors kept in place', async () => {
  const src = new Subject<B>();
  const runs = new Map<number, ReturnType<typeof deferred>>();
  let outstanding = 0;
  let peak = 0;
  const doneIds: number[] = [];
  const out = lastValueFrom(
    src.pipe(
      inferSerially<B>(
        (b) => {
          const d = deferred();
          runs.set(b.id, d);
          peak = Math.max(peak, ++outstanding);
          return d.promise.finally(() => outstanding--);
        },
        (b) => doneIds.push(b.id),
        2,
      ),
      toArray(),
    ),
  );
  for (let id = 1; id <= 4; id++) src.next({ id, frames: [id] });
  src.next({ id: 5, frames: [] }); // empty: never run, resources returned
  src.complete();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([...runs.keys()], [1, 2], 'only two started');
  runs.get(2)!.resolve(new Float32Array([2])); // the later one first
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(doneIds, [], 'nothing emitted before batch 1');
  runs.get(1)!.reject(new Error('boom'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([...runs.keys()], [1, 2, 3, 4]);
  runs.get(4)!.resolve(new Float32Array([4]));
  runs.get(3)!.resolve(new Float32Array([3]));
  const ran = await out;
  assert.equal(peak, 2);
  assert.deepEqual(
    ran.map((r) => [r.batch.id, r.error?.message ?? r.output![0]]),
    [
      [1, 'boom'],
      [2, 2],
      [3, 3],
      [4, 4],
    ],
  );
  assert.deepEqual([...doneIds].sort(), [1, 2, 3, 4, 5]);
});
