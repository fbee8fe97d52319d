// PLC part triggers over MQTT: topic + payload → a part trigger, or the reason it is ignored. Pure: the sink
// does the counting and (rate-limited) logging; nothing here throws on any input.
import { MAX_TRIGGER_BYTES, triggerPayloadSchema } from './mqtt-payloads.js';

/** Structurally the pipeline's PartTrigger (src/pipeline/triggers.ts), plus the sender's clock. */
export interface PartTrigger {
  cameraId: string;
  partId: string;
  /** When pinpoint received the trigger, ms since the epoch (Date.now): the clock frames are timed on. */
  time: number;
  /** The payload's `time` (the PLC's clock), when given. */
  sentTime?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export type TriggerParse =
  { ok: true; trigger: PartTrigger } | { ok: false; kind: 'malformed' | 'unknown-camera'; reason: string };

/** Topic filters to subscribe for triggers under a prefix. */
export function triggerTopics(prefix: string): string[] {
  return [`${prefix}/+/trigger`, `${prefix}/trigger`];
}

export function parseTrigger(
  prefix: string,
  topic: string,
  payload: Uint8Array,
  cameras: { has(id: string): boolean },
  now: number,
): TriggerParse {
  const bad = (reason: string): TriggerParse => ({ ok: false, kind: 'malformed', reason });
  let topicCamera: string | undefined;
  if (topic !== `${prefix}/trigger`) {
    const head = `${prefix}/`;
    const tail = '/trigger';
    if (!topic.startsWith(head) || !topic.endsWith(tail) || topic.length <= head.length + tail.length) {
      return bad(`not a trigger topic: ${topic}`);
    }
    topicCamera = topic.slice(head.length, topic.length - tail.length);
  }
  if (payload.length > MAX_TRIGGER_BYTES)
    return bad(`payload of ${payload.length} bytes (max ${MAX_TRIGGER_BYTES})`);
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(payload));
  } catch {
    return bad('payload is not UTF-8 JSON');
  }
  const parsed = triggerPayloadSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return bad(`${where}${issue.message}`);
  }
  const p = parsed.data;
  if (topicCamera !== undefined && p.camera !== undefined && p.camera !== topicCamera) {
    return bad(`camera ${p.camera} in the payload of ${topic}`);
  }
  const cameraId = topicCamera ?? p.camera;
  if (cameraId === undefined) return bad(`no camera in a ${prefix}/trigger payload`);
  if (!cameras.has(cameraId))
    return { ok: false, kind: 'unknown-camera', reason: `unknown camera ${cameraId}` };
  const trigger: PartTrigger = { cameraId, partId: String(p.partId), time: now };
  if (p.time !== undefined) trigger.sentTime = p.time;
  return { ok: true, trigger };
}
