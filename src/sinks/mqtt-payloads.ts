// MQTT payloads: zod schemas are the one source of truth; docs/mqtt/*.schema.json are generated from them
// (scripts/mqtt-schemas.ts) and a test checks the committed files match. Builders turn pipeline values into the
// exact bytes published.
import { COMMAND_NAMES, commandRequestSchema, commandResponseSchema } from './mqtt-command-payload.js';
import { z } from 'zod';
import { reteachPayloadSchema } from './mqtt-reteach-payload.js';
import { cameraIdSchema } from '../config/schema.js';
import type { InspectionResult } from '../pipeline/result.js';
import { RESULT_VERSION } from '../pipeline/result.js';
import type { SourceState } from '../sources/types.js';

const ms = z.number().describe('ms since the Unix epoch');

const blobSchema = z.strictObject({
  box: z
    .strictObject({
      x: z.int().min(0),
      y: z.int().min(0),
      width: z.int().min(1),
      height: z.int().min(1),
    })
    .describe('Pixel rectangle [x, x+width) × [y, y+height) in original-frame coordinates'),
  area: z.int().min(1).describe('Pixels in the blob'),
  centroid: z
    .strictObject({ x: z.number(), y: z.number() })
    .describe('Mean of the pixel centres (pixel i covers [i, i+1))'),
  peak: z.number().describe('Maximum anomaly value over the blob'),
  mean: z.number().describe('Mean anomaly value over the blob'),
});

/** A triggered part's pairing evidence (docs/cameras.md, "Part ↔ frame pairing"). */
const pairingSchema = z.strictObject({
  method: z
    .enum(['trigger-token', 'timestamp', 'order'])
    .describe(
      'trigger-token: the frame answers the software trigger fired for this part (exact); timestamp: the ' +
        'frame taken at the trigger time (hardware trigger); order: the next frame (no evidence: a lost ' +
        'frame shifts part ids)',
    ),
  triggerTime: ms.describe('When the PLC part message was received, ms since the epoch'),
  frameId: z.int().min(0).optional().describe("The camera's frame (block) id"),
  cameraTimestampUs: z
    .int()
    .min(0)
    .optional()
    .describe("The camera's own timestamp of the frame, µs on the camera's clock"),
});

/** `<prefix>/<camera>/result`: the full decision for one part. */
export const resultPayloadSchema = z
  .strictObject({
    version: z.literal(RESULT_VERSION).describe('Payload version; bumped on incompatible changes'),
    cameraId: cameraIdSchema,
    partId: z.string().describe('Part id: from the source, a PLC trigger, or <camera>-<seq>'),
    seq: z.int().min(0).nullable().describe('Frame sequence number; null when the part got no frame'),
    captureTime: ms,
    decideTime: ms.describe('When the verdict was decided (fail-safe ones included), ms since the epoch'),
    publishTime: ms.describe(
      'When pinpoint handed the message to MQTT (later than decideTime after an outage), ms since the epoch',
    ),
    latencyMs: z.number().describe('decideTime - captureTime'),
    score: z
      .number()
      .nullable()
      .describe('Frame score (mean of the top 0.1 % of the anomaly map); null for fail-safe verdicts'),
    threshold: z.number().nullable().describe('Reject threshold the score was compared with'),
    pixelThreshold: z
      .number()
      .optional()
      .describe('Pixel threshold the blobs were found with (parts decided on a frame; absent on fail-safe)'),
    verdict: z.enum(['ok', 'reject', 'error']),
    reason: z
      .enum(['pass', 'score', 'timeout', 'no-frame', 'frame-lost', 'trigger-missed', 'error'])
      .describe(
        'pass: below threshold; score: above it; timeout / no-frame / frame-lost / trigger-missed / error: ' +
          'fail-safe verdict, see detail',
      ),
    blobs: z.array(blobSchema).describe('Anomalous regions, strongest first'),
    modelId: z.string(),
    detail: z.string().optional().describe('Human-readable detail of error and fail-safe verdicts'),
    pairing: pairingSchema.optional().describe('Triggered cameras: how the part was paired with its frame'),
  })
  .meta({ title: 'pinpoint inspection result' });

/** `<prefix>/<camera>/reject` (rejectPayload: json): the compact signal a PLC gateway acts on. */
export const rejectPayloadSchema = z
  .strictObject({
    v: z.literal(1).describe('Payload version'),
    partId: z.string(),
    seq: z.int().min(0).nullable(),
    reject: z.boolean().describe('true: divert the part (verdict reject or error); false: the part is ok'),
    reason: resultPayloadSchema.shape.reason,
    score: z.number().nullable(),
    time: ms.describe('When the verdict was decided, ms since the epoch'),
  })
  .meta({ title: 'pinpoint reject signal' });

/** `<prefix>/<camera>/reject` (rejectPayload: plain): the number 1 (reject) or 0 (ok). */
export const rejectPlainPayloadSchema = z
  .union([z.literal(1), z.literal(0)])
  .meta({ title: 'pinpoint reject signal (plain mode)', description: '1: divert the part, 0: ok' });

/** `<prefix>/status`, retained. The payload is the bare word, not JSON-quoted. */
export const statusPayloadSchema = z.enum(['online', 'offline', 'stopped']).meta({
  title: 'pinpoint daemon status',
  description:
    'Retained. The payload is the bare UTF-8 word (not a JSON string): online after every (re)connect, ' +
    'offline as the broker-published last will, stopped after a clean shutdown.',
});

const sourceStates = ['connecting', 'streaming', 'stalled', 'backoff', 'stopped'] as const;
const n = z.int().min(0);
/** The camera's frame and pairing-loss counters since the daemon started (docs/mqtt.md). */
export const cameraCountersSchema = z.strictObject({
  frames: n.describe('Frames that became parts'),
  dropped: n.describe("Frames dropped by the camera's queue"),
  unusable: n.describe('Frames that could not be prepared for the model'),
  untriggered: n.describe('Frames of a triggered camera paired with no trigger (not parts)'),
  noFrame: n.describe('PLC triggers answered by no frame, all reasons'),
  frameLost: n.describe('Of noFrame: the camera reported the frame lost'),
  triggerMissed: n.describe('Of noFrame: the camera did not take the picture (merged or missed trigger)'),
});
/** `<prefix>/<camera>/state`, retained: what the camera source is doing. */
export const cameraStatePayloadSchema = z
  .strictObject({
    state: z.enum(sourceStates),
    detail: z.string().optional(),
    time: ms.describe('When the state was entered, ms since the epoch'),
    counters: cameraCountersSchema
      .optional()
      .describe(
        'Since the daemon started; republished when they change (at most every statsIntervalSec, or 1 s after a pairing loss)',
      ),
  })
  .meta({ title: 'pinpoint camera state' });

/** `<prefix>/info`, retained: what this daemon runs, republished on every connect. */
export const infoPayloadSchema = z
  .strictObject({
    v: z.literal(1),
    modelId: z.string().nullable(),
    cameras: z.array(cameraIdSchema),
    host: z.string(),
    pid: z.int(),
    startTime: ms,
  })
  .meta({ title: 'pinpoint daemon info' });

const count = z.int().min(0);
/** `<prefix>/stats`, retained, every `mqtt.statsIntervalSec`: the daemon's counters since start. */
export const statsPayloadSchema = z
  .strictObject({
    v: z.literal(1),
    time: ms.describe('When the counters were read, ms since the epoch'),
    uptimeSec: z.number().min(0),
    modelId: z.string().nullable(),
    parts: z
      .strictObject({
        published: count,
        timeouts: count.describe('Fail-safe verdicts: no verdict within the deadline'),
        noFrame: count.describe('Fail-safe verdicts: a triggered part never got a frame'),
        errors: count.describe('Fail-safe verdicts: the frame could not be processed'),
        late: count.describe('Real results that came after their fail-safe verdict (not published)'),
      })
      .describe('Verdicts since start'),
    cameras: z.record(
      cameraIdSchema,
      z.strictObject({
        state: z.enum(sourceStates),
        frames: count.describe('Frames that became parts'),
        dropped: count.describe('Frames dropped by the camera queue'),
      }),
    ),
    mqtt: z.strictObject({
      published: count,
      outboxSize: count,
      outboxDropped: count,
      reconnects: count,
      triggers: count,
      malformedTriggers: count,
    }),
  })
  .meta({ title: 'pinpoint daemon counters' });

/** Longest trigger payload parsed; anything longer is malformed (a PLC part message is tiny). */
export const MAX_TRIGGER_BYTES = 4096;

/**
 * `<prefix>/<camera>/trigger` or `<prefix>/trigger`: a PLC names the part the camera's next frame shows.
 * Unknown keys are ignored (gateways may add their own); retained trigger messages are ignored.
 */
export const triggerPayloadSchema = z
  .object({
    partId: z
      .union([
        z
          .string()
          .min(1)
          .max(128)
          .regex(/^\P{Cc}+$/u, 'no control characters'),
        z.int().min(0),
      ])
      .describe(
        'Part id: 1-128 printable characters, or a non-negative integer (sent on as its decimal string)',
      ),
    camera: cameraIdSchema
      .optional()
      .describe(
        'Camera id: required on <prefix>/trigger; on <prefix>/<camera>/trigger it must match if given',
      ),
    time: z
      .number()
      .positive()
      .optional()
      .describe(
        'When the PLC sent the trigger, ms since the epoch (informational; pinpoint times from receipt)',
      ),
  })
  .meta({ title: 'pinpoint part trigger' });

export type ResultPayload = z.infer<typeof resultPayloadSchema>;
export type RejectPayload = z.infer<typeof rejectPayloadSchema>;
export type StatusPayload = z.infer<typeof statusPayloadSchema>;
export type CameraStatePayload = z.infer<typeof cameraStatePayloadSchema>;
export type CameraCounters = z.infer<typeof cameraCountersSchema>;
export type InfoPayload = z.infer<typeof infoPayloadSchema>;
export type StatsPayload = z.infer<typeof statsPayloadSchema>;
export type TriggerPayload = z.input<typeof triggerPayloadSchema>;

// Compile-time: the schemas describe exactly the pipeline's types (a drift fails `tsc`, not a PLC).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const resultMatches: Same<Omit<ResultPayload, 'publishTime'>, InspectionResult> = true;
const stateMatches: Same<CameraStatePayload['state'], SourceState> = true;
void resultMatches;
void stateMatches;

/** The result payload: the pipeline's result plus the publish time. */
export function resultPayload(r: InspectionResult, publishTime: number): string {
  return JSON.stringify({ ...r, publishTime } satisfies ResultPayload);
}

/** Reject for verdict reject and error (fail-safe: an undecidable part is not passed). */
export function isReject(r: InspectionResult): boolean {
  return r.verdict !== 'ok';
}

export function rejectPayload(r: InspectionResult, mode: 'json' | 'plain'): string {
  if (mode === 'plain') return isReject(r) ? '1' : '0';
  const p: RejectPayload = {
    v: 1,
    partId: r.partId,
    seq: r.seq,
    reject: isReject(r),
    reason: r.reason,
    score: r.score,
    time: r.decideTime,
  };
  return JSON.stringify(p);
}

export function cameraStatePayload(
  state: SourceState,
  detail: string | undefined,
  time: number,
  counters?: CameraCounters,
): string {
  const p: CameraStatePayload = detail === undefined ? { state, time } : { state, detail, time };
  if (counters) p.counters = counters;
  return JSON.stringify(p);
}

/** Schema name → JSON Schema, as committed under docs/mqtt/<name>.schema.json. */
export function mqttJsonSchemas(): Record<string, unknown> {
  const out = (s: z.ZodType): unknown => z.toJSONSchema(s, { io: 'output', target: 'draft-2020-12' });
  return {
    result: out(resultPayloadSchema),
    reject: out(rejectPayloadSchema),
    'reject-plain': out(rejectPlainPayloadSchema),
    status: out(statusPayloadSchema),
    state: out(cameraStatePayloadSchema),
    info: out(infoPayloadSchema),
    stats: out(statsPayloadSchema),
    // What we accept: the input side (numeric part ids allowed, unknown keys ignored).
    trigger: z.toJSONSchema(triggerPayloadSchema, { io: 'input', target: 'draft-2020-12' }),
    'cmd-response': out(commandResponseSchema),
    reteach: out(reteachPayloadSchema),
    ...Object.fromEntries(
      COMMAND_NAMES.map((n) => [
        `cmd-${n.replace('/', '-')}`,
        z.toJSONSchema(commandRequestSchema(n), { io: 'input', target: 'draft-2020-12' }),
      ]),
    ),
  };
}
