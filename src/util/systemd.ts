// sd_notify for Type=notify units: READY=1 once wired, WATCHDOG=1 while healthy, STOPPING=1 on shutdown.
// Node cannot send unix datagrams itself; the optional native `sd-notify` addon does (as in zigbee2mqtt).
// Without it we fall back to the systemd-notify tool, which needs NotifyAccess=all in the unit.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';

interface SdNotifyAddon {
  sendState(state: string): void;
}

export interface Notifier {
  /** True when running under systemd with a notify socket. */
  readonly active: boolean;
  ready(status?: string): void;
  stopping(): void;
  status(text: string): void;
  /** Starts pinging WATCHDOG=1 at half the unit's WatchdogSec while `healthy()` holds. */
  startWatchdog(healthy: () => boolean): () => void;
}

function loadAddon(): SdNotifyAddon | null {
  try {
    const require = createRequire(import.meta.url);
    return require('sd-notify') as SdNotifyAddon;
  } catch {
    return null;
  }
}

/** Reads NOTIFY_SOCKET and WATCHDOG_USEC from the process environment (the native addon reads it there too). */
export function createNotifier(): Notifier {
  const env = process.env;
  const active = Boolean(env.NOTIFY_SOCKET);
  const addon = active ? loadAddon() : null;
  const send = (state: string): void => {
    if (!active) return;
    if (addon) addon.sendState(state);
    else execFile('systemd-notify', [`--pid=${process.pid}`, ...state.split('\n')], () => undefined);
  };
  return {
    active,
    ready: (status) => send(status ? `READY=1\nSTATUS=${status}` : 'READY=1'),
    stopping: () => send('STOPPING=1'),
    status: (text) => send(`STATUS=${text.replace(/\n/g, ' ')}`),
    startWatchdog(healthy) {
      const usec = Number(env.WATCHDOG_USEC ?? 0);
      if (!active || !(usec > 0)) return () => undefined;
      const timer = setInterval(
        () => {
          if (healthy()) send('WATCHDOG=1');
        },
        Math.max(500, usec / 2000),
      );
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
