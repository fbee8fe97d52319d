// Part ids from PLC triggers: on a camera with triggers enabled, a `part` message names the part one of the
// camera's frames shows. Which frame is decided by the camera's own evidence, never by arrival order alone
// (a lost frame would otherwise shift every later part onto its neighbour's image):
//   trigger-token — a software-triggered camera: each accepted trigger gets a token, the camera child fires
//     it and stamps the frame that answers it with the token, or reports the token lost (frame-lost,
//     trigger-missed). Exact.
//   timestamp — a hardware-triggered camera: the frame whose capture time (camera clock on the host clock)
//     is where the trigger's frame is expected, within a tolerance (time-pairing.ts). Frames the camera
//     numbered but never delivered (frame-id gaps) tell a lost frame from a missed trigger.
//   order — the camera gives no evidence (RTSP, files): the next frame takes the oldest waiting trigger.
//     Only on the user's explicit `trigger.pairing: order`; a lost frame then shifts part ids.
// Each trigger waits `windowMs` for its frame; a trigger whose window passes gets the fail-safe `no-frame`
// verdict right then, and a frame that pairs with no trigger is not a part (counted and dropped). Cameras
// without triggers keep the source's part id (or `<camera>-<seq>`).
import { asyncScheduler, NEVER, Observable } from 'rxjs';
import type { MonoTypeOperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import type { Logger } from '../util/log.js';
import { createLogThrottle } from '../util/log-throttle.js';
import { TriggerDelay, frameGap, triggersNear } from './time-pairing.js';

export interface PartTrigger {
  cameraId: string;
  partId: string;
  /** When the trigger was received, ms on the scheduler's clock (Date.now). */
  time: number;
  /** Set by the correlation when it accepts the trigger: what a software-triggered camera echoes back. */
  token?: number;
}

export type PairingMethod = 'trigger-token' | 'timestamp' | 'order';

/** Why a triggered part has no frame. */
export type NoFrameReason = 'no-frame' | 'frame-lost' | 'trigger-missed';

/** A software trigger its camera reports as answered by no frame. */
export interface TriggerLoss {
  cameraId: string;
  token: number;
  reason: 'frame-lost' | 'trigger-missed';
  detail: string;
}

/** What the camera says about a frame (structurally sources' FrameEvidence). */
export interface CameraEvidence {
  frameId: number;
  cameraTimestampUs: number;
  trigger?: number;
}

/** How a part was paired with its frame: carried into its result. */
export interface PairingEvidence {
  method: PairingMethod;
  /** The trigger's receive time, ms since the epoch. */
  triggerTime: number;
  frameId?: number;
  cameraTimestampUs?: number;
}

/** The frame fields the correlator reads and sets. */
export interface PartFrame {
  cameraId: string;
  seq: number;
  captureTime: number;
  partId?: string;
  evidence?: CameraEvidence;
  pairing?: PairingEvidence;
}

export interface CameraPairing {
  method: PairingMethod;
  /** timestamp: the configured tolerance in ms; undefined = learned from the first pairs. */
  toleranceMs?: number;
}

export interface TriggerOptions {
  /** The camera's trigger window in ms; null when the camera does not take triggers (or is unknown). */
  windowMs(cameraId: string): number | null;
  /** How the camera's frames are paired with triggers (default: order). */
  pairing?(cameraId: string): CameraPairing;
  /** Whether a part id is already known (in the pipeline or decided): such a trigger is a duplicate. */
  known(cameraId: string, partId: string): boolean;
  /** A trigger that gets no frame (window passed, lost, missed, or the stream ended first). */
  onNoFrame(t: PartTrigger, detail: string, reason: NoFrameReason): void;
  /** A frame on a triggered camera that pairs with no trigger. */
  onUntriggered?(frame: PartFrame, why: string): void;
  /**
   * A trigger now waits for its frame (it was not refused): the moment to fire a software-triggered camera, so
   * that it takes exactly one picture per part the correlation will name. Carries the trigger's token.
   */
  onAccepted?(t: PartTrigger): void;
  /** Software triggers their camera reports lost (by token). */
  losses$?: Observable<TriggerLoss>;
  log: Logger;
  /** Triggers waiting per camera; beyond it the oldest is given up (no-frame). */
  maxPending?: number;
  scheduler?: SchedulerLike;
}

interface Pending {
  trigger: PartTrigger;
  timer: Subscription;
}

/** Per-camera pairing state. */
interface CameraState {
  queue: Pending[];
  nextToken: number;
  lastFrameId?: number;
  delay?: TriggerDelay;
}

/**
 * Why `n` triggers got no frame before camera frame `id`, which came after `gap` frames it never delivered:
 * all lost, all missed, or (a mix that cannot be told apart per part) no-frame.
 */
function overdueReason(n: number, gap: number, id: number): [NoFrameReason, string] {
  if (gap >= n) return ['frame-lost', `${gap} frame(s) lost before camera frame ${id}`];
  if (gap === 0) return ['trigger-missed', `the camera took no picture for it (next frame ${id} is later)`];
  return ['no-frame', `${gap} frame(s) lost and ${n - gap} trigger(s) missed before camera frame ${id}`];
}

/**
 * Sets every frame's part id: from its trigger on triggered cameras (by the camera's pairing method), else
 * the source's, else `<camera>-<seq>`. Completes with the frames; triggers still waiting then get their
 * no-frame verdict.
 */
export function correlateTriggers<F extends PartFrame>(
  triggers$: Observable<PartTrigger>,
  o: TriggerOptions,
): MonoTypeOperatorFunction<F> {
  const sched = o.scheduler ?? asyncScheduler;
  const maxPending = o.maxPending ?? 64;
  const pairingOf = (id: string): CameraPairing => o.pairing?.(id) ?? { method: 'order' };
  return (frames$) =>
    new Observable<F>((subscriber) => {
      // A PLC can send thousands of refused triggers: one warning per kind per 10 s, with the count between.
      const throttle = createLogThrottle(o.log, 10_000, () => sched.now());
      const cams = new Map<string, CameraState>();
      const cam = (id: string): CameraState => {
        let c = cams.get(id);
        if (!c) {
          c = { queue: [], nextToken: 1 };
          cams.set(id, c);
        }
        return c;
      };
      const remove = (c: CameraState, p: Pending): void => {
        const i = c.queue.indexOf(p);
        if (i >= 0) c.queue.splice(i, 1);
        p.timer.unsubscribe();
      };
      const giveUp = (c: CameraState, p: Pending, detail: string, reason: NoFrameReason): void => {
        remove(c, p);
        o.onNoFrame(p.trigger, detail, reason);
      };
      const paired = (c: CameraState, p: Pending, f: F, method: PairingMethod): void => {
        remove(c, p);
        const pairing: PairingEvidence = { method, triggerTime: p.trigger.time };
        if (f.evidence) {
          pairing.frameId = f.evidence.frameId;
          pairing.cameraTimestampUs = f.evidence.cameraTimestampUs;
        }
        subscriber.next({ ...f, partId: p.trigger.partId, pairing });
      };

      const onTrigger = (t: PartTrigger): void => {
        const windowMs = o.windowMs(t.cameraId);
        if (windowMs === null) {
          throttle.warn(
            'no-trigger-camera',
            { camera: t.cameraId, part: t.partId },
            'trigger for a camera that takes no triggers (trigger.enabled is false, or no such camera): ignored',
          );
          return;
        }
        const c = cam(t.cameraId);
        if (o.known(t.cameraId, t.partId) || c.queue.some((p) => p.trigger.partId === t.partId)) {
          throttle.warn(
            'known-part-trigger',
            { camera: t.cameraId, part: t.partId },
            'trigger for a part already known: ignored',
          );
          return;
        }
        const trigger = { ...t, token: c.nextToken++ };
        const p: Pending = {
          trigger,
          timer: sched.schedule(
            () => giveUp(c, p, `no frame within ${windowMs} ms of the trigger`, 'no-frame'),
            Math.max(0, t.time + windowMs - sched.now()),
          ),
        };
        c.queue.push(p);
        if (c.queue.length > maxPending)
          giveUp(c, c.queue[0], `more than ${maxPending} triggers waiting for frames`, 'no-frame');
        o.onAccepted?.(trigger);
      };

      const byToken = (c: CameraState, f: F): void => {
        const token = f.evidence?.trigger;
        const p = token === undefined ? undefined : c.queue.find((q) => q.trigger.token === token);
        if (p) paired(c, p, f, 'trigger-token');
        else
          o.onUntriggered?.(
            f,
            token === undefined ? 'answers no trigger' : `answers trigger ${token}, no longer waiting`,
          );
      };

      const byTime = (c: CameraState, f: F, windowMs: number): void => {
        const id = f.evidence?.frameId;
        const gap = id === undefined ? 0 : frameGap(c.lastFrameId, id);
        if (id !== undefined) c.lastFrameId = id;
        const d = (c.delay ??= new TriggerDelay(pairingOf(f.cameraId).toleranceMs));
        if (!d.ready) return learn(c, f, d, gap, windowMs);
        const near = triggersNear(
          f.captureTime,
          c.queue.map((p) => p.trigger.time),
          d,
        ).map((i) => c.queue[i]);
        // Triggers whose frame was due before this one: the camera never delivered it (gap) or never took it.
        const overdue = c.queue.filter(
          (p) => !near.includes(p) && d.miss(f.captureTime, p.trigger.time) > d.tolerance,
        );
        const [reason, detail] = overdueReason(overdue.length, gap, id ?? f.seq);
        for (const p of overdue) giveUp(c, p, detail, reason);
        if (near.length === 1) {
          d.add(f.captureTime - near[0].trigger.time);
          paired(c, near[0], f, 'timestamp');
          return;
        }
        for (const p of near)
          giveUp(
            c,
            p,
            `one picture for ${near.length} triggers (camera frame ${id ?? f.seq})`,
            'trigger-missed',
          );
        o.onUntriggered?.(f, near.length ? 'taken for several triggers' : 'no trigger at its time');
      };

      /**
       * Learning the delay (the first LEARN_PAIRS pairs), while no tolerance tells triggers apart: a frame
       * pairs with the newest trigger received before it only when every older waiting trigger is accounted
       * for by a frame the camera numbered but never delivered (those parts are frame-lost). Anything else
       * (a missed trigger, a frame whose trigger is unknown, no frame ids) is not a part, and every trigger
       * received before it gets the fail-safe verdict now, so the next frame starts from a clean slate.
       * Assumes the part message comes before its frame.
       */
      const learn = (c: CameraState, f: F, d: TriggerDelay, gap: number, windowMs: number): void => {
        const before = c.queue.filter((q) => q.trigger.time <= f.captureTime);
        const p = before.at(-1);
        const older = before.slice(0, -1);
        if (!p || older.length !== gap || !f.evidence || f.captureTime - p.trigger.time > windowMs) {
          const detail = `still learning the trigger delay: camera frame ${f.evidence?.frameId ?? f.seq} is ambiguous`;
          for (const q of before) giveUp(c, q, detail, 'no-frame');
          o.onUntriggered?.(f, 'learning the trigger delay: ambiguous frame');
          return;
        }
        for (const q of older)
          giveUp(c, q, `frame lost before camera frame ${f.evidence.frameId}`, 'frame-lost');
        d.add(f.captureTime - p.trigger.time);
        paired(c, p, f, 'timestamp');
      };

      const onFrame = (f: F): void => {
        const windowMs = o.windowMs(f.cameraId);
        if (windowMs === null) {
          subscriber.next(f.partId ? f : { ...f, partId: `${f.cameraId}-${f.seq}` });
          return;
        }
        const c = cam(f.cameraId);
        const method = pairingOf(f.cameraId).method;
        if (method === 'trigger-token') return byToken(c, f);
        if (method === 'timestamp') return byTime(c, f, windowMs);
        const p = c.queue[0];
        if (p) paired(c, p, f, 'order');
        else o.onUntriggered?.(f, 'no trigger waiting');
      };

      const onLoss = (l: TriggerLoss): void => {
        const c = cams.get(l.cameraId);
        const p = c?.queue.find((q) => q.trigger.token === l.token);
        if (c && p) giveUp(c, p, l.detail, l.reason);
      };

      const flush = (detail: string): void => {
        for (const c of cams.values()) for (const p of [...c.queue]) giveUp(c, p, detail, 'no-frame');
      };
      const triggerSub = triggers$.subscribe({
        next: onTrigger,
        // A broken trigger feed must not stop inspection of untriggered cameras.
        error: (e: unknown) => o.log.error({ err: e }, 'trigger stream failed'),
      });
      const lossSub = (o.losses$ ?? NEVER).subscribe(onLoss);
      const frameSub = frames$.subscribe({
        next: onFrame,
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          triggerSub.unsubscribe();
          lossSub.unsubscribe();
          flush('the stream stopped before a frame came');
          subscriber.complete();
        },
      });
      return () => {
        triggerSub.unsubscribe();
        lossSub.unsubscribe();
        frameSub.unsubscribe();
        for (const c of cams.values()) for (const p of c.queue.splice(0)) p.timer.unsubscribe();
      };
    });
}
