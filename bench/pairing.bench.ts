// What pairing by evidence costs the engine per part (issue 17): correlateTriggers by order, by trigger token
// and by timestamp on the same synthetic line (trigger, then its frame 20 ms later, 8 parts waiting at once),
// rounds interleaved so that load changes hit all three alike. The time is synchronous work on the daemon's
// event loop between a frame's arrival and its admission, i.e. latency added to every part.
import { performance } from 'node:perf_hooks';
import { Subject } from 'rxjs';
import { pino } from 'pino';
import { correlateTriggers } from '../src/pipeline/triggers.js';
import type { PairingMethod, PartFrame, PartTrigger } from '../src/pipeline/triggers.js';

const PARTS = 20000;
const ROUNDS = 5;
const AHEAD = 8;

/** µs per part for one pass of PARTS parts. */
function pass(method: PairingMethod): number {
  const triggers = new Subject<PartTrigger>();
  const frames = new Subject<PartFrame>();
  let paired = 0;
  let token = 0;
  const sub = frames
    .pipe(
      correlateTriggers<PartFrame>(triggers, {
        windowMs: () => 60000,
        pairing: () => ({ method, toleranceMs: 5 }),
        known: () => false,
        onNoFrame: () => {
          throw new Error('a part lost its frame');
        },
        onAccepted: () => token++,
        log: pino({ level: 'silent' }),
        maxPending: 64,
      }),
    )
    .subscribe(() => paired++);
  const t0 = 1e12;
  const frame = (i: number): PartFrame => ({
    cameraId: 'c',
    seq: i,
    captureTime: t0 + i * 50 + 20,
    evidence: { frameId: (i % 65535) + 1, cameraTimestampUs: i * 50000, trigger: i + 1 },
  });
  const start = performance.now();
  for (let i = 0; i < PARTS + AHEAD; i++) {
    if (i < PARTS) triggers.next({ cameraId: 'c', partId: `P-${i}`, time: t0 + i * 50 });
    if (i >= AHEAD) frames.next(frame(i - AHEAD));
  }
  const us = ((performance.now() - start) * 1000) / PARTS;
  sub.unsubscribe();
  if (paired !== PARTS || token !== PARTS) throw new Error(`${method}: ${paired} of ${PARTS} paired`);
  return us;
}

export async function run(): Promise<void> {
  const methods: PairingMethod[] = ['order', 'trigger-token', 'timestamp'];
  const times: Record<string, number[]> = { order: [], 'trigger-token': [], timestamp: [] };
  for (const m of methods) pass(m); // warm-up
  for (let r = 0; r < ROUNDS; r++) for (const m of methods) times[m].push(pass(m));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const base = median(times.order);
  for (const m of methods)
    console.log(
      `${m.padEnd(13)} ${median(times[m]).toFixed(2)} µs per part (median of ${ROUNDS}), ` +
        `×${(median(times[m]) / base).toFixed(2)} of order`,
    );
  await Promise.resolve();
}
