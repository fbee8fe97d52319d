// Which PLC part messages fire a camera's software trigger: one picture per new part id. The engine's trigger
// correlation refuses a part id it already knows (waiting, in the pipeline, or among the last decided ones);
// a camera fired for such a message would take a picture nobody waits for. So a part id fires the camera
// only the first time it is seen for that camera, remembered as long as the part ledger remembers decided
// ids (4096), which makes the two agree: a duplicate takes no second picture.
import { Observable } from 'rxjs';

/** The fields read from a part trigger (structurally the pipeline's PartTrigger). */
export interface PartTriggerLike {
  cameraId: string;
  partId: string;
}

/** How many part ids per camera are remembered (the part ledger's default memory of decided parts). */
export const REMEMBER_PART_IDS = 4096;

/**
 * One event per part message for `cameraId` with a part id not among the last `remember` seen for it. The
 * memory outlives re-subscriptions (a restarted source must not re-fire an old part id).
 */
export function newPartTriggers(
  triggers$: Observable<PartTriggerLike>,
  cameraId: string,
  remember = REMEMBER_PART_IDS,
): Observable<void> {
  const seen = new Set<string>();
  return new Observable<void>((subscriber) =>
    triggers$.subscribe({
      next: (t) => {
        if (t.cameraId !== cameraId || seen.has(t.partId)) return;
        seen.add(t.partId);
        // Insertion order: the first entry is the oldest.
        if (seen.size > remember) seen.delete(seen.values().next().value as string);
        subscriber.next();
      },
      error: (e: unknown) => subscriber.error(e),
      complete: () => subscriber.complete(),
    }),
  );
}
