// One camera = one gst-launch-1.0 child process (or, for a triggered GigE camera, the Python runner that
// feeds the same pipeline and takes `trigger` lines on stdin), supervised: frames come back over a pipe, a
// watchdog restarts a child that stops delivering, and restarts back off exponentially with jitter.
//
// Why a child process: a stalled capture call (OpenCV VideoCapture.read, a GigE stream waiting on a dead
// camera) blocks for tens of seconds and cannot be cancelled in-process. A child can always be killed, and
// the daemon only ever does non-blocking pipe reads. The state machine reported through ctx.onState:
//   connecting → streaming → (no frame for stallTimeoutMs, or the child died) stalled → backoff → connecting
//   connecting → (child failed / no first frame in time) backoff → connecting;  any → stopped (unsubscribe)
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { defer, Observable } from 'rxjs';
import type { CameraConfig } from '../config/schema.js';
import type {
  Frame,
  FrameEvidence,
  FramePixels,
  SourceContext,
  SourcePlugin,
  SourceState,
  TriggerLossReason,
} from './types.js';
import { GdpReader, type GdpBufferMeta } from './gdp.js';
import { CameraClock } from './camera-clock.js';
import { FRAME_FD, parseRawVideoCaps, redactText, type RawVideoCaps } from './gst-pipeline.js';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** ± share of the delay drawn at random, so cameras that failed together do not retry in lockstep. */
  jitter: number;
}

/**
 * Kept short: a reconnect attempt costs one process start (tens of ms of CPU), and a camera that comes
 * back must be streaming again within seconds.
 */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 2000, jitter: 0.2 };

/** Delay before reconnect attempt `attempt` (0-based): initial·2^attempt capped at max, ± jitter. */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number): number {
  const base = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(attempt, 30));
  return Math.max(0, Math.round(base * (1 + o.jitter * (2 * random() - 1))));
}

export interface GstProcessSpec {
  /** gst-launch-1.0 pipeline tokens, ending in frameSinkTokens(). */
  pipeline: readonly string[];
  /** Extra setpriv options for the child (e.g. dropping CAP_NET_RAW); see gstArgv. */
  setpriv?: readonly string[];
  /** Redacted one-line description for logs and state details (never the raw argv). */
  describe: string;
  /** Secrets that must never appear in a log line (e.g. an RTSP password); redacted from child stderr. */
  secrets?: readonly string[];
  stallTimeoutMs: number;
  /** Deadline for the first frame after a (re)start; defaults to max(stallTimeoutMs, 5000). */
  connectTimeoutMs?: number;
  backoff?: BackoffOptions;
  /**
   * `camera`: captureTime from the buffer timestamps (the camera's clock mapped onto the host clock by
   * CameraClock); `arrival`: the time the frame's last byte reached the daemon.
   */
  timestamps: 'camera' | 'arrival';
  /** Grace between SIGINT (clean shutdown: releases a GigE camera's control channel) and SIGKILL. */
  killGraceMs?: number;
  random?: () => number;
  /** The executable; tests may point it elsewhere. */
  gstLaunch?: string;
  /**
   * Executable and leading arguments that run `pipeline` instead of `gst-launch-1.0 -q` (the GigE trigger
   * runner, src/sources/gige-runner.py).
   */
  command?: readonly string[];
  /**
   * A triggered camera: frames come only when asked for, so the child prints `ready` on stdout once it can
   * take triggers (the camera counts as streaming from then on) and the stall watchdog runs only while a
   * trigger waits for its frame. With `software`, ctx.softwareTrigger$ is written to the child's stdin as
   * `trigger` lines; with `hardware` the camera's trigger input fires it. A dead idle camera is the
   * child's to detect (it exits).
   */
  triggered?: 'software' | 'hardware';
  /**
   * The child is gige-runner.py: its buffers carry the camera's evidence (frame id in offset_end, camera
   * timestamp in dts, answered software-trigger token in offset), and its stdout reports lost triggers.
   */
  evidence?: boolean;
  /** Called with each child's pid (benchmarks read its CPU time from /proc). */
  onSpawn?: (pid: number) => void;
}

/**
 * The argv a spec runs: [command, ...args]. Always through setpriv (util-linux) with a parent-death
 * signal, so a child never outlives a daemon that was killed outright — an orphan would keep holding
 * the camera (a GigE camera accepts one controller) and block the restarted daemon.
 */
export function gstArgv(spec: GstProcessSpec): string[] {
  return [
    'setpriv',
    '--pdeathsig',
    'KILL',
    ...(spec.setpriv ?? []),
    '--',
    ...(spec.command ?? [spec.gstLaunch ?? 'gst-launch-1.0', '-q']),
    ...spec.pipeline,
  ];
}

const STDERR_TAIL = 2048;

/** The camera's evidence from a runner buffer's header fields (null when the buffer has none). */
export function frameEvidence(meta: GdpBufferMeta): FrameEvidence | null {
  if (meta.offsetEnd === null || meta.dtsNs === null) return null;
  const e: FrameEvidence = {
    frameId: Number(meta.offsetEnd),
    cameraTimestampUs: Number(meta.dtsNs / 1000n),
  };
  if (meta.offset !== null) e.trigger = Number(meta.offset);
  return e;
}

const LOST_LINE = /^lost (\d+) (frame-lost|trigger-missed) (.*)$/;

/** Packs a buffer whose rows are padded (GStreamer rounds raw strides up to 4 bytes) into tight rows. */
function packRows(buf: Buffer, caps: RawVideoCaps): Uint8Array | string {
  const row = caps.width * caps.channels;
  if (buf.length === row * caps.height) return buf;
  const stride = buf.length / caps.height;
  if (!Number.isInteger(stride) || stride < row)
    return `buffer of ${buf.length} bytes does not fit ${caps.width}×${caps.height} ${caps.format}`;
  for (let y = 1; y < caps.height; y++) buf.copyWithin(y * row, y * stride, y * stride + row);
  return buf.subarray(0, row * caps.height);
}

/**
 * A cold Observable of frames from a supervised gst-launch child. It never errors: every fault becomes a
 * state report and a restart. seq starts at 1 and counts up across restarts and re-subscriptions.
 */
export function gstFrames(cameraId: string, spec: GstProcessSpec, ctx: SourceContext): Observable<Frame> {
  // Outside the subscription: a re-subscribed source carries on with higher sequence numbers.
  let seq = 0;
  return new Observable<Frame>((subscriber) => {
    const backoff = spec.backoff ?? DEFAULT_BACKOFF;
    const random = spec.random ?? Math.random;
    const connectTimeoutMs = spec.connectTimeoutMs ?? Math.max(spec.stallTimeoutMs, 5000);
    const killGraceMs = spec.killGraceMs ?? 1000;
    const argv = gstArgv(spec);
    const clock = new CameraClock();
    const redact = (s: string): string => redactText(s, spec.secrets);

    let attempt = 0;
    let state: SourceState | null = null;
    let stopped = false;
    let child: ChildProcess | null = null;
    let generation = 0;
    let lastFrameAt = 0;
    let startedAt = 0;
    let watchdog: NodeJS.Timeout | null = null;
    let retryTimer: NodeJS.Timeout | null = null;
    let killTimer: NodeJS.Timeout | null = null;
    let downReason = '';
    // Triggered cameras: when the first trigger still without a frame was sent (null: nothing asked for).
    let waitingSince: number | null = null;
    let droppedTriggers = 0;
    let dropLoggedAt = 0;
    // The child's latest `frames lost: …` warning (gige-runner.py: the kernel dropping packets at a full
    // receive buffer): why no frame came, in the stall detail.
    let lossNote = '';
    // Software triggers sent to the child and not yet answered (by a frame or a `lost` line).
    const unanswered = new Set<number>();
    const triggerLost = (token: number, reason: TriggerLossReason, detail: string): void => {
      unanswered.delete(token);
      ctx.onTriggerLost?.(token, reason, detail);
    };

    const report = (s: SourceState, detail?: string): void => {
      if (s === state && s !== 'backoff') return;
      state = s;
      ctx.onState(s, detail);
    };

    const clearWatchdog = (): void => {
      if (watchdog) clearTimeout(watchdog);
      watchdog = null;
    };

    /**
     * When the watchdog fires: the first frame (or `ready`) is due by the connect deadline; then a frame is
     * due stallTimeoutMs after the last one — or, on a triggered camera, stallTimeoutMs after the first
     * trigger still waiting for its frame (null: idle, which is normal for a triggered camera).
     */
    const dueAt = (): number | null => {
      if (state !== 'streaming') return startedAt + connectTimeoutMs;
      if (!spec.triggered) return lastFrameAt + spec.stallTimeoutMs;
      return waitingSince === null ? null : waitingSince + spec.stallTimeoutMs;
    };

    // One timer, re-armed only when it fires early: no per-frame timer churn at 25–60 fps.
    const armWatchdog = (): void => {
      clearWatchdog();
      const check = (): void => {
        watchdog = null;
        if (stopped || child === null) return;
        const due = dueAt();
        if (due === null) return;
        const now = Date.now();
        if (now < due) {
          watchdog = setTimeout(check, due - now);
          return;
        }
        const note = lossNote ? `; ${lossNote}` : '';
        if (state !== 'streaming') fail(`no first frame within ${connectTimeoutMs} ms${note}`);
        else if (spec.triggered) fail(`no frame ${now - waitingSince!} ms after a trigger${note}`);
        else fail(`no frame for ${now - lastFrameAt} ms${note}`);
      };
      const due = dueAt();
      if (due !== null) watchdog = setTimeout(check, Math.max(0, due - Date.now()));
    };

    /** A software trigger: one `trigger <token>` line to a streaming child, else lost at once (counted). */
    const sendTrigger = (token: number): void => {
      const stdin = child?.stdin;
      // A full pipe means the child is stuck: a few lines of slack, then drop rather than queue.
      if (state !== 'streaming' || downReason || !stdin?.writable || stdin.writableLength > 256) {
        droppedTriggers++;
        const now = Date.now();
        if (now - dropLoggedAt >= 5000) {
          dropLoggedAt = now;
          ctx.log.warn({ state, droppedTriggers }, 'software trigger dropped: the camera is not streaming');
        }
        triggerLost(token, 'trigger-missed', `camera ${state ?? 'starting'}: trigger not sent`);
        return;
      }
      unanswered.add(token);
      stdin.write(`trigger ${token}\n`);
      if (waitingSince === null) {
        waitingSince = Date.now();
        armWatchdog();
      }
    };
    const triggerSub =
      spec.triggered === 'software' ? ctx.softwareTrigger$?.subscribe(sendTrigger) : undefined;

    const kill = (): void => {
      const c = child;
      if (c === null || c.exitCode !== null || c.signalCode !== null || killTimer !== null) return;
      c.kill('SIGINT');
      killTimer = setTimeout(() => {
        killTimer = null;
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }, killGraceMs);
    };

    const fail = (why: string): void => {
      if (downReason) return; // already going down; the first reason is the telling one
      downReason = why;
      if (state === 'streaming') report('stalled', why);
      kill();
    };

    const start = (): void => {
      retryTimer = null;
      if (stopped) return;
      const gen = ++generation;
      clock.reset();
      downReason = '';
      lossNote = '';
      waitingSince = null;
      let caps: RawVideoCaps | null = null;
      let stderrTail = '';
      startedAt = Date.now();
      report('connecting', `${spec.describe} (attempt ${attempt + 1})`);
      ctx.log.debug({ argv: argv.map(redact) }, 'camera pipeline start');

      let c: ChildProcess;
      try {
        c = spawn(argv[0], argv.slice(1), {
          stdio: [
            // The runner's stdin: trigger lines, and EOF when the daemon is gone.
            spec.triggered || spec.command ? 'pipe' : 'ignore',
            spec.triggered ? 'pipe' : 'ignore',
            'pipe',
            'pipe',
          ],
          env: { ...process.env, GST_DEBUG_NO_COLOR: '1' },
        });
      } catch (err) {
        downReason = `cannot start ${argv[0]}: ${(err as Error).message}`;
        scheduleRetry();
        return;
      }
      child = c;
      if (c.pid !== undefined) spec.onSpawn?.(c.pid);

      const reader = new GdpReader({
        caps(s) {
          const parsed = parseRawVideoCaps(s);
          if (parsed === null || parsed.channels === 0) fail(`unsupported caps from pipeline: ${s}`);
          else caps = parsed;
        },
        buffer(payload, ptsNs, meta) {
          if (gen !== generation || stopped) return;
          if (caps === null) return fail('frame before caps');
          const arrival = Date.now();
          const data = packRows(payload, caps);
          if (typeof data === 'string') return fail(data);
          lastFrameAt = arrival;
          waitingSince = null;
          if (state !== 'streaming') {
            attempt = 0;
            report('streaming', `${caps.width}×${caps.height} ${caps.format}`);
            armWatchdog();
          }
          const captureTime =
            spec.timestamps === 'camera' && ptsNs !== null
              ? clock.map(Number(ptsNs) / 1e6, arrival)
              : arrival;
          const image: FramePixels = {
            width: caps.width,
            height: caps.height,
            channels: caps.channels as 1 | 3,
            data,
          };
          const frame: Frame = { cameraId, seq: ++seq, captureTime, image };
          const evidence = spec.evidence ? frameEvidence(meta) : null;
          if (evidence !== null) {
            frame.evidence = evidence;
            if (evidence.trigger !== undefined) unanswered.delete(evidence.trigger);
          }
          subscriber.next(frame);
        },
      });

      const frames = c.stdio[FRAME_FD] as Readable;
      frames.on('data', (chunk: Buffer) => {
        if (gen !== generation || downReason) return;
        try {
          reader.push(chunk);
        } catch (err) {
          fail(`corrupt frame stream: ${(err as Error).message}`);
        }
      });
      frames.on('error', () => {}); // EPIPE/ECONNRESET on kill; the 'close' below handles the restart
      if (spec.triggered) {
        // `ready`: the camera is set up and takes triggers; it counts as streaming from here on.
        // `lost <token> <reason> <detail>`: a software trigger that will get no frame.
        let out = '';
        c.stdout?.setEncoding('utf8');
        c.stdout?.on('data', (s: string) => {
          if (gen !== generation) return;
          const lines = (out + s).split('\n');
          out = lines.pop()!.slice(-1024);
          for (const line of lines) onRunnerLine(line);
        });
        c.stdin?.on('error', () => {}); // EPIPE when it dies; 'close' handles that
      }
      const onRunnerLine = (line: string): void => {
        const lost = LOST_LINE.exec(line);
        if (lost) return triggerLost(Number(lost[1]), lost[2] as TriggerLossReason, lost[3]);
        if (line !== 'ready' || downReason || state === 'streaming') return;
        attempt = 0;
        report('streaming', `${spec.describe}: waiting for triggers`);
        armWatchdog();
      };
      c.stderr?.setEncoding('utf8');
      c.stderr?.on('data', (s: string) => {
        stderrTail = (stderrTail + s).slice(-STDERR_TAIL);
        const loss = /WARNING: (frames lost: [^\n]*)/.exec(s);
        if (loss && gen === generation) lossNote = loss[1].slice(0, 200);
      });
      c.on('error', (err) => {
        // spawn failure (ENOENT...): 'close' still follows.
        downReason = `cannot start ${argv[0]}: ${err.message}`;
      });
      c.on('close', (code, signal) => {
        if (gen !== generation) return;
        child = null;
        clearWatchdog();
        if (killTimer) clearTimeout(killTimer);
        killTimer = null;
        if (stopped) return;
        const err = redact(lastErrorLine(stderrTail));
        const why =
          downReason ||
          (code !== null ? `pipeline exited with code ${code}` : `pipeline killed by ${signal}`) +
            (err ? `: ${err}` : '');
        if (state === 'streaming') report('stalled', why);
        // Triggers the child took and never answered: their frames will not come.
        for (const token of [...unanswered]) triggerLost(token, 'frame-lost', `camera pipeline down: ${why}`);
        // debug only: the app logs every state change, and an unplugged camera fails every few seconds.
        ctx.log.debug({ reason: why }, 'camera pipeline down');
        downReason = why;
        scheduleRetry();
      });
      armWatchdog();
    };

    const scheduleRetry = (): void => {
      if (stopped) return;
      const delay = backoffDelay(attempt++, backoff, random);
      report('backoff', `${downReason}; retry in ${delay} ms`);
      retryTimer = setTimeout(start, delay);
    };

    start();

    return () => {
      stopped = true;
      triggerSub?.unsubscribe();
      clearWatchdog();
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      const c = child;
      if (c !== null && c.exitCode === null && c.signalCode === null) {
        c.kill('SIGINT');
        // Unref'd: an unsubscribed camera must not keep the daemon alive while its child winds down.
        const t = setTimeout(() => {
          if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        }, killGraceMs);
        t.unref();
        c.once('close', () => clearTimeout(t));
      }
      report('stopped');
    };
  });
}

/**
 * The most telling line of gst-launch's stderr: the first element error ("Could not find camera …") —
 * later ones are consequences ("state change failed", "pipeline doesn't want to preroll") — else the
 * last ERROR/WARNING line, else the last line.
 */
/**
 * A camera plug-in that runs one supervised gst-launch child per camera, from a pure spec builder.
 * Deferred: a config the source cannot run errors this camera's stream (logged, state reported, retried by
 * the app) instead of throwing out of the app's start-up and taking every camera down.
 */
export function gstSourcePlugin<T extends 'gige' | 'rtsp'>(
  type: T,
  spec: (cfg: Extract<CameraConfig, { type: T }>) => GstProcessSpec,
): SourcePlugin<T> {
  return { type, create: (id, cfg, ctx) => defer(() => gstFrames(id, spec(cfg), ctx)) };
}

export function lastErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const fromElement = lines.filter((l) => l.startsWith('ERROR: from element'));
  const line =
    fromElement[0]?.replace(/^ERROR: from element \S+?: /, '') ??
    lines.filter((l) => l.startsWith('ERROR') || l.startsWith('WARNING')).at(-1) ??
    lines.at(-1) ??
    '';
  return line.slice(0, 300);
}
