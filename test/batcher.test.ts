import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NEVER, Subject, from } from 'rxjs';
import type { Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { BoundedQueue } from '../src/pipeline/queue.js';
import type { DropPolicy } from '../src/pipeline/queue.js';
import { batchFrames } from '../src/pipeline/batcher.js';

describe('BoundedQueue', () => {
  test('FIFO within depth', () => {
    const q = new BoundedQueue<number>(3, 'drop-oldest');
    for (const v of [1, 2, 3]) assert.equal(q.push(v), undefined);
    assert.equal(q.length, 3);
    assert.equal(q.shift(), 1);
    assert.equal(q.push(4), undefined);
    assert.deepEqual(q.clear(), [2, 3, 4]);
    assert.equal(q.dropped, 0);
  });

  test('drop-oldest returns the oldest and keeps the newest', () => {
    const q = new BoundedQueue<number>(2, 'drop-oldest');
    q.push(1);
    q.push(2);
    assert.equal(q.push(3), 1);
    assert.equal(q.push(4), 2);
    assert.equal(q.dropped, 2);
    assert.deepEqual(q.clear(), [3, 4]);
  });

  test('drop-newest returns the new item and keeps the queue', () => {
    const q = new BoundedQueue<number>(2, 'drop-newest');
    q.push(1);
    q.push(2);
    assert.equal(q.push(3), 3);
    assert.equal(q.dropped, 1);
    assert.deepEqual(q.clear(), [1, 2]);
  });

  test('rejects a depth below 1', () => {
    assert.throws(() => new BoundedQueue(0, 'drop-oldest'), RangeError);
  });
});

/** Items are 'x1'-style strings: the first letter is the queue key (camera). */
function run(
  body: (h: {
    cold: TestScheduler['createColdObservable'];
    hot: TestScheduler['createHotObservable'];
    expect: TestScheduler['expectObservable'];
  }) => void,
): void {
  new TestScheduler((a, e) => assert.deepEqual(a, e)).run(({ cold, hot, expectObservable }) =>
    body({ cold, hot, expect: expectObservable }),
  );
}

function opts(
  over: Partial<{
    maxBatch: number;
    maxWaitMs: number;
    credits: number;
    credit$: Observable<unknown>;
    depth: number;
    policy: DropPolicy;
    drops: string[];
  }> = {},
) {
  return {
    maxBatch: over.maxBatch ?? 2,
    maxWaitMs: over.maxWaitMs ?? 10,
    key: (s: string) => s[0],
    queue: () => ({ depth: over.depth ?? 8, policy: over.policy ?? ('drop-oldest' as DropPolicy) }),
    onDrop: (s: string) => over.drops?.push(s),
    credits: over.credits ?? 8,
    credit$: over.credit$ ?? NEVER,
  };
}

describe('batchFrames', () => {
  test('a batch closes as soon as it is full', () => {
    run(({ hot, expect }) => {
      const src = hot('a-b-c-d|', { a: 'x1', b: 'x2', c: 'x3', d: 'x4' });
      expect(src.pipe(batchFrames(opts()))).toBe('--A---B|', { A: ['x1', 'x2'], B: ['x3', 'x4'] });
    });
  });

  test('a partial batch closes maxWaitMs after its oldest item arrived', () => {
    run(({ hot, expect }) => {
      const src = hot('a 4ms b 20ms c', { a: 'x1', b: 'y1', c: 'x2' });
      // a at 0, b at 5, c at 26; maxWait 10 → [a, b] at 10, [c] at 36.
      expect(src.pipe(batchFrames(opts({ maxBatch: 4 })))).toBe('10ms A 25ms B', {
        A: ['x1', 'y1'],
        B: ['x2'],
      });
    });
  });

  test('maxWaitMs 0 emits every item at once', () => {
    run(({ hot, expect }) => {
      const src = hot('ab', { a: 'x1', b: 'y1' });
      expect(src.pipe(batchFrames(opts({ maxBatch: 4, maxWaitMs: 0 })))).toBe('AB', {
        A: ['x1'],
        B: ['y1'],
      });
    });
  });

  test('no batch while no credit is free; the waiting items leave with the returned credit', () => {
    run(({ hot, expect }) => {
      const src = hot('a 14ms b 4ms c', { a: 'x1', b: 'x2', c: 'y1' });
      const credit$ = hot('30ms k', { k: 1 });
      // [a] at 10 uses the only credit; b (15) and c (20) wait, due at 25, but leave only at 30.
      expect(src.pipe(batchFrames(opts({ maxBatch: 4, credits: 1, credit$ })))).toBe('10ms A 19ms B', {
        A: ['x1'],
        B: ['x2', 'y1'],
      });
    });
  });

  test('partialWhenIdle: while a batch is outstanding only full batches close; a partial one waits for idle', () => {
    run(({ hot, expect }) => {
      const src = hot('a 11ms b-cd 4ms e', { a: 'x1', b: 'x2', c: 'y1', d: 'x3', e: 'y2' });
      const credit$ = hot('40ms k 9ms k', { k: 1 });
      // a (0) alone, consumer idle → [a] at 10. b (12), c (14), d (15): full at 15 though busy.
      // e (20) is partial and the consumer busy until both credits are back at 50.
      const o = { ...opts({ maxBatch: 3, credits: 2, credit$ }), partialWhenIdle: true };
      expect(src.pipe(batchFrames(o))).toBe('10ms A 4ms B 34ms C', {
        A: ['x1'],
        B: ['x2', 'y1', 'x3'],
        C: ['y2'],
      });
    });
  });

  test('a full queue drops by its policy and reports each drop', () => {
    for (const [policy, kept, dropped] of [
      ['drop-oldest', ['x3', 'x4'], ['x1', 'x2']],
      ['drop-newest', ['x1', 'x2'], ['x3', 'x4']],
    ] as const) {
      const drops: string[] = [];
      run(({ hot, expect }) => {
        const src = hot('(abcd)', { a: 'x1', b: 'x2', c: 'x3', d: 'x4' });
        const credit$ = hot('20ms k', { k: 1 });
        const o = opts({ maxBatch: 4, credits: 1, credit$, depth: 2, policy, drops });
        expect(src.pipe(batchFrames(o))).toBe('10ms A', { A: [...kept] });
      });
      assert.deepEqual(drops, dropped, policy);
    }
  });

  test('keeps per-camera order and takes the oldest heads first across cameras', () => {
    run(({ hot, expect }) => {
      const src = hot('abcdef', { a: 'x1', b: 'y1', c: 'x2', d: 'z1', e: 'y2', f: 'x3' });
      expect(src.pipe(batchFrames(opts({ maxBatch: 4 })))).toBe('---A 10ms B', {
        A: ['x1', 'y1', 'x2', 'z1'],
        B: ['y2', 'x3'],
      });
    });
  });

  test('on completion the queue is flushed without waiting, then the output completes', () => {
    run(({ hot, expect }) => {
      const src = hot('abc|', { a: 'x1', b: 'x2', c: 'x3' });
      expect(src.pipe(batchFrames(opts({ maxBatch: 2 })))).toBe('-A-(B|)', {
        A: ['x1', 'x2'],
        B: ['x3'],
      });
    });
  });

  test('flush on completion still waits for credits', () => {
    run(({ hot, expect }) => {
      const src = hot('abc|', { a: 'x1', b: 'x2', c: 'x3' });
      const credit$ = hot('20ms k', { k: 1 });
      expect(src.pipe(batchFrames(opts({ maxBatch: 2, credits: 1, credit$ })))).toBe('-A 18ms (B|)', {
        A: ['x1', 'x2'],
        B: ['x3'],
      });
    });
  });

  test('a credit returned synchronously from the consumer does not recurse or reorder', () => {
    const credit$ = new Subject<void>();
    const out: string[][] = [];
    from(['x1', 'y1', 'x2', 'y2', 'x3'])
      .pipe(batchFrames(opts({ maxBatch: 1, credits: 1, credit$ })))
      .subscribe((b) => {
        out.push(b);
        credit$.next();
      });
    assert.deepEqual(out, [['x1'], ['y1'], ['x2'], ['y2'], ['x3']]);
  });

  test('unsubscribing releases the queued items and the timer', () => {
    run(({ hot, expect }) => {
      const src = hot('a 20ms b', { a: 'x1', b: 'x2' });
      expect(src.pipe(batchFrames(opts({ maxBatch: 4 }))), '^ 5ms !').toBe('');
    });
  });
});
