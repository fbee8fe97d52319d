// An operator that restarts a camera source that errors (a plug-in bug: recoverable camera faults are handled
// inside the source), with exponential backoff up to 30 s, reporting `backoff` while it waits.
import { EMPTY, catchError, retry, timer } from 'rxjs';
import type { MonoTypeOperatorFunction } from 'rxjs';
import type { Logger } from '../util/log.js';
import type { Frame, SourceState } from './types.js';

/** `log`: the camera's logger, bound to its id. */
export function restartOnError(
  log: Logger,
  onState: (s: SourceState, d?: string) => void,
): MonoTypeOperatorFunction<Frame> {
  return (frames$) =>
    frames$.pipe(
      retry({
        resetOnSuccess: true,
        delay: (err: unknown, n: number) => {
          const ms = Math.min(30000, 1000 * 2 ** (n - 1));
          log.error({ err, retryInMs: ms }, 'camera source failed; restarting it');
          onState('backoff', `source failed: ${(err as Error)?.message ?? String(err)}`);
          return timer(ms);
        },
      }),
      catchError(() => EMPTY),
    );
}
