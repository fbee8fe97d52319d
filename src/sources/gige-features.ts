// The rules for a GigE camera's config strings: its device id and GenICam features, as aravissrc's
// `features` property and gige-runner.py take them. Pure (no GStreamer, no I/O): the camera code builds
// its pipeline with these functions and the config schema runs the same ones, so `config check` refuses
// exactly what `run` would.
import { PipelineValueError, checkLiteral, type PropValue } from './gst-pipeline.js';

/** Features that aravissrc owns: mapped to caps/properties instead of the features string. */
export const REGION_FEATURES: ReadonlySet<string> = new Set([
  'Width',
  'Height',
  'OffsetX',
  'OffsetY',
  'BinningHorizontal',
  'BinningVertical',
]);
/** Feature string values: enum entries and numbers (the features string is space- and =-separated). */
const FEATURE_VALUE = /^[A-Za-z0-9_.:+-]+$/;
const FEATURE_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** The trigger features softwareTrigger sets; the config may repeat them, not contradict them. */
export const SOFTWARE_TRIGGER: Readonly<Record<string, string>> = {
  TriggerSelector: 'FrameStart',
  TriggerMode: 'On',
  TriggerSource: 'Software',
};

/** A region feature's value as the non-negative integer aravissrc's property needs. */
export function intFeature(name: string, v: PropValue): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
    throw new PipelineValueError(
      `features.${name}: must be a non-negative integer, got ${JSON.stringify(v)}`,
    );
  return n;
}

/** One non-region feature as `Name=value` for the features string; throws on anything it cannot carry. */
function featureToken(name: string, v: PropValue): string {
  if (!FEATURE_NAME.test(name))
    throw new PipelineValueError(`features: bad feature name ${JSON.stringify(name)}`);
  if (name === 'PixelFormat')
    throw new PipelineValueError('features.PixelFormat: set the camera key `pixelFormat` instead');
  if (typeof v === 'boolean') return `${name}=${v ? 'true' : 'false'}`;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new PipelineValueError(`features.${name}: ${v} is not finite`);
    return `${name}=${v}`;
  }
  checkLiteral(`features.${name}`, v);
  if (!FEATURE_VALUE.test(v))
    throw new PipelineValueError(
      `features.${name}: ${JSON.stringify(v)} — only letters, digits and _ . : + - are allowed`,
    );
  return `${name}=${v}`;
}

/** Checks one feature as the camera code will use it (region features as integers). */
export function checkFeature(name: string, v: PropValue): void {
  if (REGION_FEATURES.has(name)) intFeature(name, v);
  else featureToken(name, v);
}

/** The aravissrc `features` string for the non-region features (validated; order kept). */
export function featureString(features: Record<string, PropValue>): string {
  const parts: string[] = [];
  for (const [name, v] of Object.entries(features))
    if (!REGION_FEATURES.has(name)) parts.push(featureToken(name, v));
  return parts.join(' ');
}

/**
 * The features without the trigger ones softwareTrigger writes itself (the runner sets them, after the
 * selector where the camera has one); a contradicting value is an error.
 */
export function withoutSoftwareTrigger(features: Record<string, PropValue>): Record<string, PropValue> {
  const f = { ...features };
  for (const [name, want] of Object.entries(SOFTWARE_TRIGGER)) {
    if (f[name] === undefined) continue;
    if (f[name] !== want)
      throw new PipelineValueError(
        `features.${name}: softwareTrigger sets ${name} = ${want}; remove ${JSON.stringify(f[name])}`,
      );
    delete f[name];
  }
  return f;
}
