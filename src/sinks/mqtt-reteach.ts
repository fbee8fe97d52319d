// The retained `<prefix>/reteach` message: the daemon's re-teach state (phase, step/total, eta, the last shadow
// report's summary, the candidate version), so a SCADA screen or a script sees a job that runs for hours without
// polling. Progress changes many times a second; at most one message per MIN_INTERVAL_MS goes out (the latest
// state, trailing), and every change of job state goes out at once. Published again on every connect.
import type { ReteachHandle, ReteachState } from './reteach-view.js';
import { reteachSummary } from './reteach-view.js';

export const MIN_INTERVAL_MS = 1000;

export class ReteachPublisher {
  private last = 0;
  private lastState: ReteachState['state'] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private off: (() => void) | undefined;

  constructor(
    private readonly handle: ReteachHandle,
    private readonly topic: string,
    private readonly publish: (topic: string, payload: string) => unknown,
    private readonly connected: () => boolean,
  ) {}

  start(): void {
    this.off ??= this.handle.onChange((s) => this.changed(s));
  }

  /** On every connect: the current state. */
  publishNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.handle.status();
    this.last = Date.now();
    this.lastState = s.state;
    if (this.connected()) void this.publish(this.topic, JSON.stringify(reteachSummary(s)));
  }

  stop(): void {
    this.off?.();
    this.off = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private changed(s: ReteachState): void {
    const wait = this.last + MIN_INTERVAL_MS - Date.now();
    if (s.state !== this.lastState || wait <= 0) return this.publishNow();
    if (this.timer) return;
    this.timer = setTimeout(() => this.publishNow(), wait);
    this.timer.unref();
  }
}
