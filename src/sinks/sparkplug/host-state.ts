// The primary host application's STATE message (`spBv1.0/STATE/<hostId>`, retained): Sparkplug 3.0 sends
// JSON `{"online": true|false, "timestamp": ms}`; Sparkplug 2.2 hosts sent the bare words ONLINE / OFFLINE.
// Pure; undefined for anything else (the sink logs it and keeps the host's last known state).

export interface HostState {
  online: boolean;
  /** 3.0 only: a message older than the last one seen is stale (a retained message from a previous session). */
  timestamp?: number;
}

export function parseHostState(payload: Uint8Array): HostState | undefined {
  const text = Buffer.from(payload).toString('utf8').trim();
  if (text === 'ONLINE') return { online: true };
  if (text === 'OFFLINE') return { online: false };
  try {
    const j = JSON.parse(text) as { online?: unknown; timestamp?: unknown };
    if (typeof j.online !== 'boolean') return undefined;
    return typeof j.timestamp === 'number'
      ? { online: j.online, timestamp: j.timestamp }
      : { online: j.online };
  } catch {
    return undefined;
  }
}

/** Whether `next` replaces `current`: a 3.0 message with an older timestamp does not. */
export function isNewer(next: HostState, current: HostState | undefined): boolean {
  return (
    current?.timestamp === undefined || next.timestamp === undefined || next.timestamp >= current.timestamp
  );
}
