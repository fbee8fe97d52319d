// The daemon's (and the CLI's) handle on re-teaching: starts one job process at a time at the lowest CPU priority
// the host offers, relays its progress and log lines, hands back its result, and cancels it (a message first,
// then SIGKILL when it does not stop in time). A second request while one runs is refused with a clear message,
// never queued: a re-teach takes minutes to hours, and the operator should see what is running instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../util/log.js';
import { relayLogLine } from '../util/log-relay.js';
import { wrapperArgv, wrapperOrder, type PriorityWrapper } from './reteach-priority.js';
import type {
  FromReteachJob,
  ReteachProgress,
  ReteachRequest,
  ReteachResult,
  ToReteachJob,
} from './reteach-types.js';

export class ReteachBusyError extends Error {
  constructor(readonly running: ReteachStatus) {
    super(
      `a re-teach is already running (job ${running.id}, started ${new Date(running.startedAt).toISOString()}, ` +
        `${running.progress ? `${running.progress.phase} ${running.progress.step}/${running.progress.total || '?'}` : 'starting'}); ` +
        `wait for it or cancel it first`,
    );
    this.name = 'ReteachBusyError';
  }
}

export class ReteachCancelledError extends Error {
  constructor() {
    super('re-teach cancelled; no candidate was kept');
    this.name = 'ReteachCancelledError';
  }
}

export interface ReteachStatus {
  id: string;
  startedAt: number;
  pid: number | undefined;
  wrapper: PriorityWrapper;
  progress?: ReteachProgress;
}

export interface ReteachJob {
  id: string;
  result: Promise<ReteachResult>;
  cancel(): void;
}

export interface RunnerOptions {
  log: Logger;
  /** Log level of the job's own lines (relayed through `log`). */
  logLevel?: string;
  /** How long a cancelled job may take to stop before it is killed (5 s). */
  cancelGraceMs?: number;
  /**
   * 'low' (default): the lowest priority the host offers. 'normal' exists to measure what 'low' buys
   * (bench/reteach.bench.ts); a daemon has no reason to use it.
   */
  priority?: 'low' | 'normal';
}

interface Running {
  status: ReteachStatus;
  child: ChildProcess;
  killTimer?: NodeJS.Timeout;
  /** The job process said it is ready (it was sent the request). */
  ready: boolean;
  /** A cancel was asked: no further wrapper is tried, no request is sent. */
  cancelled: boolean;
}

export class ReteachRunner {
  private running: Running | undefined;

  constructor(private readonly o: RunnerOptions) {}

  /** The job in progress, if any. */
  get current(): ReteachStatus | undefined {
    return this.running && { ...this.running.status };
  }

  /** Starts a job; throws ReteachBusyError while another one runs. */
  start(request: ReteachRequest, onProgress?: (p: ReteachProgress) => void): ReteachJob {
    if (this.running) throw new ReteachBusyError(this.current!);
    const id = randomUUID();
    const status: ReteachStatus = { id, startedAt: Date.now(), pid: undefined, wrapper: 'self' };
    const slot: Running = {
      status,
      child: undefined as unknown as ChildProcess,
      ready: false,
      cancelled: false,
    };
    this.running = slot;
    const wrappers: PriorityWrapper[] =
      this.o.priority === 'normal' ? ['normal'] : wrapperOrder().filter(available);
    const result = this.launch(slot, request, onProgress, wrappers).finally(() => {
      clearTimeout(slot.killTimer);
      if (this.running === slot) this.running = undefined;
    });
    result.catch(() => {}); // the caller's promise; an unhandled rejection must not end the daemon
    return { id, result, cancel: () => this.cancel() };
  }

  /**
   * Asks the job to stop; kills it after the grace period. A job process that is not ready yet (still loading,
   * which at SCHED_IDLE on a busy host takes seconds) has nothing to stop gracefully: it is killed at once, and
   * no other wrapper is tried after it. False when none runs.
   */
  cancel(): boolean {
    const r = this.running;
    if (!r?.child) return false;
    r.cancelled = true;
    if (!r.ready) {
      r.child.kill('SIGKILL');
      this.o.log.info({ job: r.status.id }, 're-teach cancelled before its process was ready');
      return true;
    }
    r.child.send?.({ type: 'cancel' } satisfies ToReteachJob, () => {});
    r.killTimer ??= setTimeout(() => r.child.kill('SIGKILL'), this.o.cancelGraceMs ?? 5000);
    this.o.log.info({ job: r.status.id }, 're-teach cancel requested');
    return true;
  }

  /** Cancels the job in progress and waits for it to end (daemon shutdown). */
  async stop(): Promise<void> {
    const r = this.running;
    if (!r?.child) return;
    const exited = new Promise<void>((res) => r.child.once('exit', () => res()));
    if (r.child.exitCode === null && r.child.signalCode === null) {
      this.cancel();
      await exited;
    }
  }

  /** Runs the job under the first wrapper that starts; falls back to the next when one cannot. */
  private async launch(
    slot: Running,
    request: ReteachRequest,
    onProgress: ((p: ReteachProgress) => void) | undefined,
    wrappers: PriorityWrapper[],
  ): Promise<ReteachResult> {
    for (const w of wrappers) {
      const outcome = await this.attempt(slot, w, request, onProgress);
      if (outcome !== 'not-started') return outcome;
      // Killed by a cancel before it was ready: that is not a wrapper that cannot start.
      if (slot.cancelled) throw new ReteachCancelledError();
      this.o.log.warn({ wrapper: w }, 're-teach: could not start at this priority, trying the next');
    }
    throw new Error('re-teach: the job process could not be started');
  }

  private attempt(
    slot: Running,
    wrapper: PriorityWrapper,
    request: ReteachRequest,
    onProgress: ((p: ReteachProgress) => void) | undefined,
  ): Promise<ReteachResult | 'not-started'> {
    const [cmd, ...args] = [...wrapperArgv(wrapper), ...childArgv()];
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, PINPOINT_RETEACH_WRAPPER: wrapper },
    });
    slot.child = child;
    slot.ready = false;
    slot.status.pid = child.pid;
    slot.status.wrapper = wrapper;
    return new Promise((resolve, reject) => {
      let ready = false;
      let settled: { result?: ReteachResult; error?: Error } | undefined;
      child.on('message', (m: FromReteachJob) => {
        if (m.type === 'ready') {
          if (slot.cancelled) return; // killed already (cancel()); its exit settles the attempt
          ready = true;
          slot.ready = true;
          this.o.log.info({ job: slot.status.id, pid: child.pid, wrapper }, 're-teach started');
          child.send({ type: 'start', request, logLevel: this.o.logLevel ?? 'info' } satisfies ToReteachJob);
        } else if (m.type === 'progress') {
          slot.status.progress = m.progress;
          onProgress?.(m.progress);
        } else if (m.type === 'log') relayLogLine(this.o.log, m.line);
        else if (m.type === 'done') settled = { result: m.result };
        else if (m.type === 'failed') {
          settled = {
            error: m.cancelled ? new ReteachCancelledError() : new Error(`re-teach failed: ${m.error}`),
          };
        }
      });
      child.once('error', (err) => {
        if (!ready) resolve('not-started');
        else reject(err);
      });
      child.once('exit', (code, signal) => {
        if (!ready) return resolve('not-started');
        if (settled?.result) return resolve(settled.result);
        if (settled?.error) return reject(settled.error);
        reject(
          slot.killTimer
            ? new ReteachCancelledError()
            : new Error(`re-teach process ended without a result (${signal ?? `exit code ${code}`})`),
        );
      });
    });
  }
}

/** node + the job module, from the build or (tests, development) from source through tsx. */
function childArgv(): string[] {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return [process.execPath, fileURLToPath(new URL('./reteach-child.js', here))];
  const tsx = import.meta.resolve('tsx');
  return [process.execPath, '--import', tsx, fileURLToPath(new URL('./reteach-child.ts', here))];
}

/** Whether a wrapper's program is on the PATH (those without one always are). */
function available(w: PriorityWrapper): boolean {
  const [cmd] = wrapperArgv(w);
  if (!cmd) return true;
  return (process.env.PATH ?? '').split(delimiter).some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
