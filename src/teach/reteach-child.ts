// The re-teach job process: started by ReteachRunner at low priority (reteach-priority.ts), it runs one job and
// exits. A process, not a worker thread, because the job decodes and letterboxes through OpenCV, and the OpenCV
// addon loaded in a worker thread crashes the whole process when that worker exits (measured: SIGSEGV on the
// main thread's next OpenCV call) — a cancelled re-teach must never take the line down. A process also hands
// its memory (teacher features: up to GBs) back to the system the moment it ends, and is stopped by a signal
// when a cancel does not come through in time.
import { reniceSelf, type PriorityWrapper } from './reteach-priority.js';
import type { LevelWithSilent } from 'pino';
import { relayingLogger } from '../util/log-relay.js';
import { runReteachJob } from './reteach-job.js';
import type { FromReteachJob, ReteachProgress, ToReteachJob } from './reteach-types.js';

/** Progress messages at most this often (a tiny model takes thousands of steps a second). */
const PROGRESS_MS = 250;

const send = (m: FromReteachJob): Promise<void> =>
  new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(m, undefined, {}, () => resolve());
  });

if (!process.send) {
  process.stderr.write('reteach-child: start it through ReteachRunner (it needs an IPC channel)\n');
  process.exit(2);
}
const wrapper = (process.env.PINPOINT_RETEACH_WRAPPER ?? 'self') as PriorityWrapper;
if (wrapper === 'self') reniceSelf();
const controller = new AbortController();
// The daemon went away (crash, kill -9): nobody is left to promote the candidate, so stop at once.
const orphaned = (): never => process.exit(0);
process.on('disconnect', orphaned);
process.on('message', (m: ToReteachJob) => {
  if (m.type === 'cancel') controller.abort();
  else if (m.type === 'start') void run(m.request, m.logLevel as LevelWithSilent);
});
void send({ type: 'ready' });

async function run(request: Parameters<typeof runReteachJob>[0], level: LevelWithSilent): Promise<void> {
  const log = relayingLogger(level, (line) => void send({ type: 'log', line }));
  let last = 0;
  let lastPhase = '';
  const onProgress = (p: ReteachProgress): void => {
    const now = performance.now();
    if (p.phase === lastPhase && now - last < PROGRESS_MS && p.step !== p.total) return;
    last = now;
    lastPhase = p.phase;
    void send({ type: 'progress', progress: p });
  };
  let code = 0;
  try {
    const result = await runReteachJob(request, { log, onProgress, signal: controller.signal, wrapper });
    await send({ type: 'done', result });
  } catch (e) {
    code = 1;
    const cancelled = controller.signal.aborted;
    await send({ type: 'failed', error: cancelled ? 'cancelled' : (e as Error).message, cancelled });
  }
  process.off('disconnect', orphaned);
  process.disconnect?.();
  process.exit(code);
}
