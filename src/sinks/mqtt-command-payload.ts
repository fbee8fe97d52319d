// MQTT commands in: topic + payload → the command's name, its correlation id, who sent it and its arguments,
// or the reason it is refused. Pure, and nothing here throws on any input (the payload is untrusted). The
// arguments of each built-in command are strict schemas: an unknown field is refused, not ignored, so a typo
// never silently does less than the sender meant.
import { z } from 'zod';
import { cameraIdSchema } from '../config/schema.js';

/** A command is a few hundred bytes; anything bigger is refused unread. */
export const MAX_COMMAND_BYTES = 4096;

/** Commands, by their topic below `<prefix>/cmd/`. */
export const COMMAND_NAMES = ['reload', 'threshold', 'model/promote', 'model/rollback', 'teach'] as const;

/** `<prefix>/cmd/response`: the answers (not a command, and never read as one). */
export const RESPONSE_TOPIC = 'response';

export function commandTopics(prefix: string): string[] {
  return [`${prefix}/cmd/+`, `${prefix}/cmd/model/+`];
}

export function responseTopic(prefix: string): string {
  return `${prefix}/cmd/${RESPONSE_TOPIC}`;
}

// zod 4's number refuses NaN and ±Infinity itself.
const positive = z.number().positive();

/** Fields every command carries; the rest of the object is the command's arguments. */
const envelopeShape = {
  correlationId: z.string().min(1).max(128).describe('Echoed in the response'),
  who: z
    .string()
    .regex(/^[\p{L}\p{N} ._@:-]{1,64}$/u, '1-64 letters, digits, space or . _ @ : -')
    .optional()
    .describe('Who sends it, for the audit log (self-declared: the broker ACL is what authorises)'),
};

/** Each built-in command's own fields. */
const argShapes = {
  reload: {},
  threshold: {
    camera: cameraIdSchema,
    reject: positive.optional().describe('Frame score above which a part is rejected'),
    pixel: positive.optional().describe('Map value above which a pixel belongs to a blob'),
  },
  'model/promote': { version: z.string().min(1).max(128).describe('The model version to make current') },
  'model/rollback': {},
  teach: {
    cancel: z
      .literal(true)
      .optional()
      .describe('true: cancel the re-teach in progress (no candidate is kept); absent: start one'),
  },
} satisfies Record<(typeof COMMAND_NAMES)[number], z.ZodRawShape>;

const oneThreshold = (a: { reject?: number; pixel?: number }): boolean =>
  a.reject !== undefined || a.pixel !== undefined;

/** Built-in commands' arguments (the payload less correlationId and who). */
export const commandArgs = {
  reload: z.strictObject(argShapes.reload),
  threshold: z.strictObject(argShapes.threshold).refine(oneThreshold, 'give reject, pixel or both'),
  'model/promote': z.strictObject(argShapes['model/promote']),
  'model/rollback': z.strictObject(argShapes['model/rollback']),
  teach: z.strictObject(argShapes.teach),
} satisfies Record<(typeof COMMAND_NAMES)[number], z.ZodType<Record<string, unknown>>>;

const envelope = z.looseObject(envelopeShape);

/** A built-in command's whole payload (for its JSON Schema in docs/mqtt/). */
export function commandRequestSchema(name: (typeof COMMAND_NAMES)[number]): z.ZodType {
  return z
    .strictObject({ ...envelopeShape, ...argShapes[name] })
    .meta({ title: `pinpoint command ${name}`, description: `Published to <prefix>/cmd/${name}` });
}

/** `<prefix>/cmd/response` (or the MQTT 5 response topic): one answer per command message. */
export const commandResponseSchema = z
  .strictObject({
    correlationId: z
      .string()
      .nullable()
      .describe("The command's correlationId; null when the payload carried none that could be read"),
    command: z.string().nullable().describe("The command's name from its topic"),
    ok: z.boolean().describe('true: done; false: refused or failed, nothing changed'),
    error: z.string().optional().describe('Why it was refused or failed (ok: false)'),
    result: z.unknown().optional().describe("The command's result (ok: true), e.g. the new thresholds"),
  })
  .meta({ title: 'pinpoint command response' });

export interface ParsedCommand {
  name: string;
  correlationId: string;
  who: string | undefined;
  args: Record<string, unknown>;
}

export type CommandParse =
  | { ok: true; command: ParsedCommand }
  | {
      ok: false;
      kind: 'malformed' | 'not-a-command';
      reason: string;
      correlationId: string | null;
      name: string | null;
    };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The command named by `topic` and its envelope. The arguments are checked later against the registered
 * command's schema (the registry knows the commands; this knows the wire format).
 */
export function parseCommand(prefix: string, topic: string, payload: Uint8Array): CommandParse {
  const head = `${prefix}/cmd/`;
  const name = topic.startsWith(head) ? topic.slice(head.length) : '';
  if (name === '' || name === RESPONSE_TOPIC)
    return {
      ok: false,
      kind: 'not-a-command',
      reason: `not a command topic: ${topic}`,
      correlationId: null,
      name: null,
    };
  // An empty payload is how a client deletes a retained message: not a command, and nothing to answer.
  if (payload.length === 0)
    return { ok: false, kind: 'not-a-command', reason: 'empty payload', correlationId: null, name };
  const bad = (reason: string, correlationId: string | null = null): CommandParse => ({
    ok: false,
    kind: 'malformed',
    reason,
    correlationId,
    name,
  });
  if (payload.length > MAX_COMMAND_BYTES)
    return bad(`payload of ${payload.length} bytes (max ${MAX_COMMAND_BYTES})`);
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(payload));
  } catch {
    return bad('payload is not UTF-8 JSON');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    return bad('payload must be a JSON object');
  const rawId = (json as Record<string, unknown>).correlationId;
  const id = typeof rawId === 'string' && rawId.length > 0 && rawId.length <= 128 ? rawId : null;
  const env = envelope.safeParse(json);
  if (!env.success) return bad(issueText(env.error), id);
  const { correlationId, who, ...args } = env.data;
  return { ok: true, command: { name, correlationId, who, args } };
}

/** The arguments checked against a command's schema: the parsed value, or the refusal's text. */
export function checkArgs(
  schema: z.ZodType<Record<string, unknown>>,
  args: Record<string, unknown>,
): { ok: true; args: Record<string, unknown> } | { ok: false; reason: string } {
  const r = schema.safeParse(args);
  return r.success ? { ok: true, args: r.data } : { ok: false, reason: issueText(r.error) };
}

/** Every issue as `path: message` (`unknown field x` for a field the command does not take). */
function issueText(e: z.ZodError): string {
  return e.issues
    .map((i) => {
      if (i.code === 'unrecognized_keys')
        return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}`;
      return `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`;
    })
    .join('; ');
}

/** The answer on `<prefix>/cmd/response` (or the MQTT 5 response topic). */
export type CommandResponse = z.infer<typeof commandResponseSchema>;

/** An MQTT 5 response topic the sender asked for, if it is usable (no wildcards, not empty, not huge). */
export function usableResponseTopic(t: string | undefined): string | undefined {
  if (t === undefined || t.length === 0 || t.length > 512) return undefined;
  return /[#+\0]/.test(t) ? undefined : t;
}
