// A drift-free fixed-rate loop for sources that produce frames themselves (files, synthetic). Ticks are aimed
// at start + k·period; when a tick runs late (slow decode, busy event loop) the schedule restarts from now
// instead of bursting to catch up, so a slow moment never turns into a pile of frames.

/** Calls `tick` at once and then every `periodMs` until it returns false or the canceller is called. */
export function pace(periodMs: number, tick: () => boolean): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let start = Date.now();
  let k = 0;
  const run = (): void => {
    timer = undefined;
    if (stopped) return;
    if (!tick() || stopped) return;
    k++;
    const now = Date.now();
    let due = start + k * periodMs;
    if (due < now - periodMs) {
      start = now;
      k = 0;
      due = now;
    }
    timer = setTimeout(run, Math.max(0, due - now));
  };
  timer = setTimeout(run, 0);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
