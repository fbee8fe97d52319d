// Reconnect delays: capped exponential with "equal jitter", so a line of daemons that lost one broker does not
// reconnect in lock-step, yet no delay falls below half its step (no hammering).

export interface BackoffRange {
  minMs: number;
  maxMs: number;
}

/** Delay before reconnect attempt `attempt` (0-based), in [step/2, step], step = min(maxMs, minMs·2^attempt). */
export function backoffDelay(attempt: number, range: BackoffRange, random: number): number {
  const max = Math.max(range.minMs, range.maxMs);
  const step = Math.min(max, range.minMs * 2 ** Math.min(attempt, 40));
  return Math.round(step / 2 + (step / 2) * random);
}
