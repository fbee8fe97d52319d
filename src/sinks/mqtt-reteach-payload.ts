// The retained `<prefix>/reteach` payload as a zod schema: the source of docs/mqtt/reteach.schema.json (generated
// with the other payloads by scripts/mqtt-schemas.ts), and what the tests check the published message against.
// It mirrors reteachSummary() in reteach-view.ts.
import { z } from 'zod';

const phase = z.enum(['collect', 'images', 'features', 'train', 'calibrate', 'shadow']);
const side = z.strictObject({ modelId: z.string(), rejectRate: z.number(), rejects: z.int() });

export const reteachPayloadSchema = z
  .strictObject({
    v: z.literal(1),
    unavailable: z.string().nullable().describe('Why re-teach cannot run with this config; null when it can'),
    state: z.enum(['idle', 'running', 'done', 'failed', 'cancelled']),
    job: z.string().nullable(),
    by: z.string().nullable().describe('Who asked for the last job: `<source>:<who>`'),
    startedAt: z.number().nullable().describe('ms since the epoch'),
    endedAt: z.number().nullable(),
    progress: z
      .strictObject({
        phase,
        step: z.int(),
        total: z.int().describe('0 when unknown (the auto schedule stops when the loss levels off)'),
        etaSeconds: z.number().nullable(),
        elapsedSeconds: z.number(),
      })
      .nullable(),
    error: z.string().nullable().describe('Why the last job failed or was cancelled'),
    set: z
      .strictObject({
        teachIn: z.int(),
        falseRejects: z.int(),
        recentGood: z.int(),
        skipped: z.int().describe('Files of the recorded set left out (gone or changed)'),
      })
      .nullable(),
    candidate: z
      .strictObject({
        version: z.string().describe('The published model version (promote it with cmd/model/promote)'),
        modelId: z.string(),
        parent: z.string(),
        safeToPromote: z.boolean(),
        reasons: z.array(z.string()),
        promoted: z.boolean(),
      })
      .nullable(),
    report: z
      .strictObject({
        parts: z.int(),
        unseen: z.int(),
        skipped: z.int(),
        labelled: z.strictObject({ falseRejects: z.int(), confirmedDefects: z.int() }),
        current: side,
        candidate: side,
        falseRejectsPassing: z.int(),
        falseRejectsStillRejected: z.int(),
        defectsEscaping: z.int(),
        defectsEscapingCurrent: z.int(),
        safeToPromote: z.boolean(),
        reasons: z.array(z.string()),
      })
      .nullable()
      .describe(
        "The last job's shadow evaluation, summarised (the parts are in the console's GET /api/reteach)",
      ),
  })
  .meta({ title: 'pinpoint re-teach state', description: 'Retained on <prefix>/reteach' });

export type ReteachPayload = z.output<typeof reteachPayloadSchema>;
