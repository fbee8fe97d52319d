// Part ids from PLC triggers: on a camera with triggers enabled, a `part` message names the part the camera's
// next frame shows. Each trigger waits `windowMs` for that frame; a trigger whose window passes gets the
// fail-safe `no-frame` verdict right then, and a frame that arrives with no trigger waiting is not a part
// (counted and dropped). Cameras without triggers keep the source's part id (or `<camera>-<seq>`).
import { asyncScheduler, Observable } from 'rxjs';
import type { MonoTypeOperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import type { Logger } from '../util/log.js';
import { createLogThrottle } from '../util/log-throttle.js';

export interface PartTrigger {
  cameraId: string;
  partId: string;
  /** When the trigger was received, ms on the scheduler's clock (Date.now). */
  time: number;
}

/** The frame fields the correlator reads and sets. */
export interface PartFrame {
  cameraId: string;
  seq: number;
  captureTime: number;
  partId?: string;
}

export interface TriggerOptions {
  /** The camera's trigger window in ms; null when the camera does not take triggers (or is unknown). */
  windowMs(cameraId: string): number | null;
  /** Whether a part id is already known (in the pipeline or decided): such a trigger is a duplicate. */
  known(cameraId: string, partId: string): boolean;
  /** A trigger's window passed without a frame (or the stream ended first). */
  onNoFrame(t: PartTrigger, detail: string): void;
  /** A frame on a triggered camera with no trigger waiting. */
  onUntriggered?(frame: PartFrame): void;
  /**
   * A trigger now waits for its frame (it was not refused): the moment to fire a software-triggered camera, so
   * that it takes exactly one picture per part the correlation will name.
   */
  onAccepted?(t: PartTrigger): void;
  log: Logger;
  /** Triggers waiting per camera; beyond it the oldest is given up (no-frame). */
  maxPending?: number;
  scheduler?: SchedulerLike;
}

interface Pending {
  trigger: PartTrigger;
  timer: Subscription;
}

/**
 * Sets every frame's part id: from the oldest waiting trigger on triggered cameras, else the source's, else
 * `<camera>-<seq>`. Completes with the frames; triggers still waiting then get their no-frame verdict.
 */
export function correlateTriggers<F extends PartFrame>(
  triggers$: Observable<PartTrigger>,
  o: TriggerOptions,
): MonoTypeOperatorFunction<F> {
  const sched = o.scheduler ?? asyncScheduler;
  const maxPending = o.maxPending ?? 64;
  return (frames$) =>
    new Observable<F>((subscriber) => {
      const pending = new Map<string, Pending[]>();
      // A PLC can send thousands of refused triggers: one warning per kind per 10 s, with the count between.
      const throttle = createLogThrottle(o.log, 10_000, () => sched.now());
      const giveUp = (p: Pending, detail: string): void => {
        p.timer.unsubscribe();
        o.onNoFrame(p.trigger, detail);
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
        const queue = pending.get(t.cameraId) ?? [];
        pending.set(t.cameraId, queue);
        if (o.known(t.cameraId, t.partId) || queue.some((p) => p.trigger.partId === t.partId)) {
          throttle.warn(
            'known-part-trigger',
            { camera: t.cameraId, part: t.partId },
            'trigger for a part already known: ignored',
          );
          return;
        }
        const p: Pending = {
          trigger: t,
          timer: sched.schedule(
            () => {
              const i = queue.indexOf(p);
              if (i >= 0) queue.splice(i, 1);
              o.onNoFrame(t, `no frame within ${windowMs} ms of the trigger`);
            },
            Math.max(0, t.time + windowMs - sched.now()),
          ),
        };
        queue.push(p);
        if (queue.length > maxPending)
          giveUp(queue.shift()!, `more than ${maxPending} triggers waiting for frames`);
        o.onAccepted?.(t);
      };
      const onFrame = (f: F): void => {
        if (o.windowMs(f.cameraId) === null) {
          subscriber.next(f.partId ? f : { ...f, partId: `${f.cameraId}-${f.seq}` });
          return;
        }
        const p = pending.get(f.cameraId)?.shift();
        if (!p) {
          o.onUntriggered?.(f);
          return;
        }
        p.timer.unsubscribe();
        subscriber.next({ ...f, partId: p.trigger.partId });
      };
      const flush = (detail: string): void => {
        for (const queue of pending.values()) for (const p of queue.splice(0)) giveUp(p, detail);
      };
      const triggerSub = triggers$.subscribe({
        next: onTrigger,
        // A broken trigger feed must not stop inspection of untriggered cameras.
        error: (e: unknown) => o.log.error({ err: e }, 'trigger stream failed'),
      });
      const frameSub = frames$.subscribe({
        next: onFrame,
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          triggerSub.unsubscribe();
          flush('the stream stopped before a frame came');
          subscriber.complete();
        },
      });
      return () => {
        triggerSub.unsubscribe();
        frameSub.unsubscribe();
        for (const queue of pending.values()) for (const p of queue.splice(0)) p.timer.unsubscribe();
      };
    });
}
