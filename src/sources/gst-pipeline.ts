// Builds gst-launch-1.0 argv tokens from validated values, and reads the raw-video caps the child reports.
//
// gst-launch joins its argv with spaces and re-parses the result (gst_parse_launchv escapes only spaces
// outside quotes), so an argv token is NOT one opaque value: `location=a!filesink location=/tmp/x` would
// link a second element. Every value from config therefore goes through `prop()`, which wraps it in
// double quotes with `"` escaped — inside quotes the parser takes `!`, spaces, `=`, `'` and brackets
// literally (checked against gst-launch 1.22 in test/gst-pipeline.test.ts). Control characters and
// backslashes (which GStreamer's quote tracking gets wrong before a quote) are rejected outright: neither
// has a legitimate use in a camera name, URL or feature value.

/** Thrown for a config value that cannot be passed to GStreamer safely; the message names the field. */
export class PipelineValueError extends Error {
  override name = 'PipelineValueError';
}

// Property and element names are code, not config, but check them anyway so a typo cannot smuggle syntax.
const IDENT = /^[a-z][a-z0-9-]*$/;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Rejects strings GStreamer cannot take literally (control characters, backslashes, empty). */
export function checkLiteral(field: string, value: string): string {
  if (value.length === 0) throw new PipelineValueError(`${field}: must not be empty`);
  if (CONTROL.test(value))
    throw new PipelineValueError(`${field}: control characters (newline, tab, NUL...) are not allowed`);
  // gst_parse_launchv toggles "inside quotes" at every quote not preceded by a backslash, so an escaped
  // backslash right before a quote desynchronises it and the rest of the pipeline is parsed wrongly.
  if (value.includes('\\')) throw new PipelineValueError(`${field}: backslashes are not allowed`);
  return value;
}

/** `value` with `\` and `"` backslash-escaped (the inside of a quoted gst-launch value). */
export function escapeGst(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** `"value"` with `\` and `"` escaped: one literal string for the gst-launch parser. */
export function quoteGst(value: string): string {
  return `"${escapeGst(value)}"`;
}

export type PropValue = string | number | boolean;

/** One `name=value` token; strings are quoted literals, numbers must be finite. */
export function prop(name: string, value: PropValue, field = name): string {
  if (!IDENT.test(name)) throw new PipelineValueError(`bad GStreamer property name ${JSON.stringify(name)}`);
  if (typeof value === 'boolean') return `${name}=${value}`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new PipelineValueError(`${field}: ${value} is not a finite number`);
    return `${name}=${value}`;
  }
  return `${name}=${quoteGst(checkLiteral(field, value))}`;
}

/** Tokens for one element with its properties (undefined properties are left out). */
export function element(factory: string, props: Record<string, PropValue | undefined> = {}): string[] {
  if (!IDENT.test(factory)) throw new PipelineValueError(`bad GStreamer element ${JSON.stringify(factory)}`);
  const out = [factory];
  for (const [k, v] of Object.entries(props)) if (v !== undefined) out.push(prop(k, v));
  return out;
}

/** A caps filter token (`video/x-raw,format=GRAY8,width=640`): built only from checked identifiers/ints. */
export function capsFilter(media: string, fields: Record<string, string | number | undefined>): string {
  if (!/^[a-z]+\/[a-z0-9-]+$/.test(media)) throw new PipelineValueError(`bad media type ${media}`);
  const parts = [media];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (!IDENT.test(k)) throw new PipelineValueError(`bad caps field ${k}`);
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 0) throw new PipelineValueError(`caps ${k}: ${v} is not an integer`);
    } else if (!/^([A-Za-z0-9_]+|\d+\/\d+)$/.test(v))
      throw new PipelineValueError(`caps ${k}: bad value ${v}`);
    parts.push(`${k}=${v}`);
  }
  return parts.join(',');
}

/** Joins element token groups with `!` links. */
export function link(...groups: (string | string[])[]): string[] {
  const out: string[] = [];
  for (const g of groups) {
    if (out.length > 0) out.push('!');
    if (typeof g === 'string') out.push(g);
    else out.push(...g);
  }
  return out;
}

/** Frame pipe fd in the child: stdout stays free for gst-launch's own chatter. */
export const FRAME_FD = 3;

/**
 * The common tail of every camera pipeline: keep at most one frame waiting (a slow reader sees the newest
 * frame, not a growing backlog), frame each buffer with GDP (length, caps, timestamps), write to FRAME_FD.
 * `everyFrame` (a triggered camera, where each frame is a part's): up to 8 wait and none is dropped here —
 * the trigger rate bounds them, and a frame dropped silently would cost its part its picture.
 */
export function frameSinkTokens(everyFrame = false): string[] {
  return link(
    element('queue', {
      'max-size-buffers': everyFrame ? 8 : 1,
      'max-size-bytes': 0,
      'max-size-time': 0,
      leaky: everyFrame ? undefined : 'downstream',
    }),
    element('gdppay'),
    element('fdsink', { fd: FRAME_FD, sync: false }),
  );
}

export interface RawVideoCaps {
  format: string;
  width: number;
  height: number;
  /** 1 for GRAY8, 3 for RGB; 0 for formats the sources do not emit. */
  channels: 0 | 1 | 3;
}

/** Parses a serialized video/x-raw caps string (`video/x-raw, format=(string)RGB, width=(int)640, ...`). */
export function parseRawVideoCaps(caps: string): RawVideoCaps | null {
  if (!caps.startsWith('video/x-raw')) return null;
  const field = (name: string): string | undefined =>
    new RegExp(`[,\\s]${name}=(?:\\([a-z]+\\))?([A-Za-z0-9_]+)`).exec(caps)?.[1];
  const format = field('format');
  const width = Number(field('width'));
  const height = Number(field('height'));
  if (format === undefined || !Number.isInteger(width) || !Number.isInteger(height)) return null;
  if (width <= 0 || height <= 0) return null;
  const channels = format === 'GRAY8' ? 1 : format === 'RGB' ? 3 : 0;
  return { format, width, height, channels };
}

/** Redacts `scheme://user:pass@` anywhere in a text, plus any literal secrets (also as escaped in argv). */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s"']*@/gi, '$1***@');
  for (const s of secrets) {
    if (s.length === 0) continue;
    for (const form of new Set([escapeGst(s), s])) out = out.split(form).join('***');
  }
  return out;
}
