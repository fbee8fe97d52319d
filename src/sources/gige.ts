// GigE Vision cameras through Aravis's GStreamer element (aravissrc), one supervised child per camera.
//
// Pixel formats: Mono8 as is; Mono16 → GRAY8 by videoconvert (top 8 bits); RGB8 as is; Bayer8 (all four
// orders) demosaiced in the child by bayer2rgb (bilinear) → RGB. The daemon only ever sees GRAY8 or RGB.
// Features: applied by aravissrc on every (re)connect, in the order written in the config. Width/Height
// become the caps size, OffsetX/OffsetY and BinningHorizontal/Vertical aravissrc properties (aravissrc
// sets the region and binning itself after opening the camera and would override those features); every
// other feature goes through aravissrc's `features` property (arv_device_set_features_from_string),
// after pixel format and region. A feature the camera rejects makes the pipeline fail → backoff, with
// the camera's error in the state detail.
// captureTime: the camera's own frame timestamps (aravissrc passes them on relative to the first frame),
// mapped onto the host clock by CameraClock, so transfer/scheduling jitter does not show in it.
// Not supported yet: software trigger over MQTT (needs a command channel into the process that holds the
// camera's control privilege; gst-launch has none). `softwareTrigger: true` errors the camera's stream.
import { readFileSync } from 'node:fs';
import type { CameraConfig } from '../config/schema.js';
import type { SourcePlugin } from './types.js';
import {
  PipelineValueError,
  capsFilter,
  checkLiteral,
  element,
  frameSinkTokens,
  link,
  type PropValue,
} from './gst-pipeline.js';
import { gstSourcePlugin, type GstProcessSpec } from './gst-process.js';

export type GigeConfig = Extract<CameraConfig, { type: 'gige' }>;
export type GigePixelFormat = GigeConfig['pixelFormat'];

const BAYER: Record<string, string> = {
  BayerRG8: 'rggb',
  BayerGR8: 'grbg',
  BayerGB8: 'gbrg',
  BayerBG8: 'bggr',
};

/** Features that aravissrc owns: mapped to caps/properties instead of the features string. */
const REGION_FEATURES = new Set([
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

function intFeature(name: string, v: PropValue): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
    throw new PipelineValueError(
      `features.${name}: must be a non-negative integer, got ${JSON.stringify(v)}`,
    );
  return n;
}

/** The aravissrc `features` string for the non-region features (validated; order kept). */
export function featureString(features: Record<string, PropValue>): string {
  const parts: string[] = [];
  for (const [name, v] of Object.entries(features)) {
    if (!FEATURE_NAME.test(name))
      throw new PipelineValueError(`features: bad feature name ${JSON.stringify(name)}`);
    if (name === 'PixelFormat')
      throw new PipelineValueError('features.PixelFormat: set the camera key `pixelFormat` instead');
    if (REGION_FEATURES.has(name)) continue;
    let s: string;
    if (typeof v === 'boolean') s = v ? 'true' : 'false';
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new PipelineValueError(`features.${name}: ${v} is not finite`);
      s = String(v);
    } else {
      checkLiteral(`features.${name}`, v);
      if (!FEATURE_VALUE.test(v))
        throw new PipelineValueError(
          `features.${name}: ${JSON.stringify(v)} — only letters, digits and _ . : + - are allowed`,
        );
      s = v;
    }
    parts.push(`${name}=${s}`);
  }
  return parts.join(' ');
}

/** The caps after aravissrc (choose the camera's pixel format) and the conversion to GRAY8/RGB. */
function formatTokens(fmt: GigePixelFormat, width?: number, height?: number): string[] {
  const size = { width, height };
  switch (fmt) {
    case 'Mono8':
      return [capsFilter('video/x-raw', { format: 'GRAY8', ...size })];
    case 'Mono16':
      return link(
        capsFilter('video/x-raw', { format: 'GRAY16_LE', ...size }),
        'videoconvert',
        capsFilter('video/x-raw', { format: 'GRAY8' }),
      );
    case 'RGB8':
      return [capsFilter('video/x-raw', { format: 'RGB', ...size })];
    default: {
      const order = BAYER[fmt];
      if (order === undefined) throw new PipelineValueError(`pixelFormat: unsupported ${fmt as string}`);
      return link(
        capsFilter('video/x-bayer', { format: order, ...size }),
        'bayer2rgb',
        'videoconvert',
        capsFilter('video/x-raw', { format: 'RGB' }),
      );
    }
  }
}

/** gst-launch pipeline tokens for a GigE camera config; throws PipelineValueError on unsafe values. */
export function gigePipeline(cfg: GigeConfig): string[] {
  const device = checkLiteral('device', cfg.device);
  const f = cfg.features;
  const get = (k: string): number | undefined => (f[k] === undefined ? undefined : intFeature(k, f[k]));
  const features = featureString(f);
  const src = element('aravissrc', {
    // camera-name first: aravissrc opens the camera when it is set, and applies later properties to it.
    'camera-name': device,
    'packet-size': cfg.packetSize,
    'packet-delay': cfg.packetDelay,
    'offset-x': get('OffsetX'),
    'offset-y': get('OffsetY'),
    'h-binning': get('BinningHorizontal'),
    'v-binning': get('BinningVertical'),
    features: features.length > 0 ? features : undefined,
  });
  return link(src, formatTokens(cfg.pixelFormat, get('Width'), get('Height')), frameSinkTokens());
}

const CAP_NET_RAW = 13n;

function capSet(status: string, name: string): bigint {
  const m = new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

/**
 * setpriv options that run the child without CAP_NET_RAW ([] when it would not have it anyway). With
 * CAP_NET_RAW Aravis receives the stream through a packet socket, which sees nothing on loopback (and we
 * never need it: the UDP socket path works on every interface).
 */
export function dropNetRawOptions(status = readFileSync('/proc/self/status', 'utf8')): string[] {
  const eff = capSet(status, 'CapEff');
  const amb = capSet(status, 'CapAmb');
  const bit = 1n << CAP_NET_RAW;
  if ((eff & bit) === 0n && (amb & bit) === 0n) return [];
  // Root regains every bounding-set capability on exec, so the bounding set must lose it too.
  const root = process.getuid?.() === 0;
  return root ? ['--bounding-set', '-net_raw', '--inh-caps', '-net_raw'] : ['--inh-caps', '-net_raw'];
}

export interface GigeOptions extends Partial<
  Pick<GstProcessSpec, 'backoff' | 'connectTimeoutMs' | 'onSpawn'>
> {
  /** Run the child without CAP_NET_RAW (default true). */
  dropNetRaw?: boolean;
}

/** The supervised-child spec for a GigE camera (exported for tests and benchmarks). */
export function gigeSpec(cfg: GigeConfig, opts: GigeOptions = {}): GstProcessSpec {
  if (cfg.softwareTrigger)
    throw new PipelineValueError(
      'softwareTrigger: not supported by the gige source yet (use the camera trigger input or free run)',
    );
  return {
    pipeline: gigePipeline(cfg),
    setpriv: opts.dropNetRaw === false ? [] : dropNetRawOptions(),
    describe: `gige ${cfg.device} ${cfg.pixelFormat}`,
    stallTimeoutMs: cfg.stallTimeoutMs,
    connectTimeoutMs: opts.connectTimeoutMs,
    backoff: opts.backoff,
    onSpawn: opts.onSpawn,
    timestamps: 'camera',
  };
}

export function createGigeSource(opts: GigeOptions = {}): SourcePlugin<'gige'> {
  return gstSourcePlugin('gige', (cfg) => gigeSpec(cfg, opts));
}

export const gigeSource: SourcePlugin<'gige'> = createGigeSource();
