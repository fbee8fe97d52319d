// Health and status as the web sink serves them: /readyz's verdict with its reasons, and /api/status's JSON.
// Pure functions of the daemon's status, so the rules are tested without a server.
import type { DaemonStatus } from './daemon-status.js';

export interface Readiness {
  ready: boolean;
  /** Why not, one line each (operators read these). */
  reasons: string[];
}

/**
 * Ready = the model is loaded and warmed up, the broker is connected (when MQTT is enabled: without it the line
 * gets no reject signals, even though results wait in the outbox), and every enabled camera is streaming.
 */
export function readiness(s: DaemonStatus): Readiness {
  const reasons: string[] = [];
  if (!s.modelReady) reasons.push('model not loaded and warmed up yet');
  const m = s.mqtt?.();
  if (m && !m.connected) reasons.push('MQTT broker not connected (results wait in the outbox)');
  for (const [id, c] of s.cameras()) {
    if (c.state !== 'streaming') reasons.push(`camera ${id} ${c.state}${c.detail ? `: ${c.detail}` : ''}`);
  }
  return { ready: reasons.length === 0, reasons };
}

/** /api/status: what runs, since when, per-camera state and the counters. No secrets: nothing from the config. */
export function statusJson(s: DaemonStatus, now = Date.now()): Record<string, unknown> {
  const e = s.engine();
  const cameras: Record<string, unknown> = {};
  for (const [id, c] of s.cameras()) {
    const k = e?.cameras[id];
    cameras[id] = {
      state: c.state,
      detail: c.detail ?? null,
      since: c.since,
      frames: k?.frames ?? 0,
      dropped: k?.dropped ?? 0,
      untriggered: k?.untriggered ?? 0,
      unusable: k?.unusable ?? 0,
      queued: k?.queued ?? 0,
      noFrame: k?.noFrame ?? 0,
      frameLost: k?.frameLost ?? 0,
      triggerMissed: k?.triggerMissed ?? 0,
    };
  }
  return {
    version: s.version,
    modelId: s.modelId,
    startTime: s.startTime,
    uptimeSec: Math.round((now - s.startTime) / 1000),
    ready: readiness(s),
    cameras,
    parts: e
      ? {
          published: e.published,
          timeouts: e.timeouts,
          noFrame: e.noFrame,
          errors: e.errors,
          late: e.late,
          duplicates: e.duplicates,
          inFlight: s.inFlight(),
        }
      : null,
    batches: e ? { count: e.batches, frames: e.batchedFrames, inferMs: Math.round(e.inferMs) } : null,
    mqtt: s.mqtt?.() ?? null,
    archive: s.archive?.() ?? null,
  };
}
