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
// Every camera's child is gige-runner.py (gigePipeline, the aravissrc equivalent, documents what it
// reproduces): aravissrc leaves the stream socket at the system's default receive buffer, which loses every
// frame of 512×512 and up, and gives no frame evidence. For triggered cameras (`softwareTrigger: true`, or
// `TriggerMode: On` in the features for the trigger input) aravissrc would also fail its pipeline after 2 s
// without a frame, and gst-launch has no command channel. The child (Debian's /usr/bin/python3 with Aravis +
// GStreamer introspection) holds the camera, applies the same settings in aravissrc's order (software
// trigger: then TriggerSelector = FrameStart where the camera has one, TriggerMode = On, TriggerSource =
// Software), pushes frames with their evidence (frame id, camera timestamp, answered trigger token) into an
// appsrc in front of the same caps/conversion/GDP tokens, fires TriggerSoftware for each `trigger <token>`
// line on stdin (ctx.softwareTrigger$), and exits when the camera stops answering while idle. Its settings
// go in as one JSON argument, never through the pipeline parser.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CameraConfig } from '../config/schema.js';
import type { SourcePlugin } from './types.js';
import {
  PipelineValueError,
  capsFilter,
  checkLiteral,
  element,
  frameSinkTokens,
  link,
} from './gst-pipeline.js';
import { featureString, intFeature, withoutSoftwareTrigger } from './gige-features.js';
import { gstSourcePlugin, type GstProcessSpec } from './gst-process.js';

export type GigeConfig = Extract<CameraConfig, { type: 'gige' }>;
export type GigePixelFormat = GigeConfig['pixelFormat'];

const BAYER: Record<string, string> = {
  BayerRG8: 'rggb',
  BayerGR8: 'grbg',
  BayerGB8: 'gbrg',
  BayerBG8: 'bggr',
};

/** The camera's pixel format as GStreamer caps (no size), and its bytes per pixel. */
function cameraCaps(fmt: GigePixelFormat): { media: string; format: string; bytes: number } {
  switch (fmt) {
    case 'Mono8':
      return { media: 'video/x-raw', format: 'GRAY8', bytes: 1 };
    case 'Mono16':
      return { media: 'video/x-raw', format: 'GRAY16_LE', bytes: 2 };
    case 'RGB8':
      return { media: 'video/x-raw', format: 'RGB', bytes: 3 };
    default: {
      const order = BAYER[fmt];
      if (order === undefined) throw new PipelineValueError(`pixelFormat: unsupported ${fmt as string}`);
      return { media: 'video/x-bayer', format: order, bytes: 1 };
    }
  }
}

/** The caps after the camera (choose its pixel format) and the conversion to GRAY8/RGB. */
function formatTokens(fmt: GigePixelFormat, width?: number, height?: number): string[] {
  const { media, format } = cameraCaps(fmt);
  const caps = capsFilter(media, { format, width, height });
  if (fmt === 'Mono16') return link(caps, 'videoconvert', capsFilter('video/x-raw', { format: 'GRAY8' }));
  if (media === 'video/x-bayer')
    return link(caps, 'bayer2rgb', 'videoconvert', capsFilter('video/x-raw', { format: 'RGB' }));
  return [caps];
}

/** gst-launch pipeline tokens for a free-running GigE camera; throws PipelineValueError on unsafe values. */
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

export type TriggerKind = 'software' | 'hardware';

/** How a camera is triggered: software (MQTT), hardware (TriggerMode: On in its features), or free run. */
export function triggerKind(cfg: GigeConfig): TriggerKind | null {
  if (cfg.softwareTrigger) return 'software';
  return cfg.features.TriggerMode === 'On' ? 'hardware' : null;
}

/** What gige-runner.py applies to the camera (JSON on its command line; no value goes through a parser). */
export interface GigeRunnerSettings {
  device: string;
  pixelFormat: GigePixelFormat;
  /** The camera's caps without size (the runner adds the frame's width and height). */
  caps: string;
  bytesPerPixel: number;
  width?: number;
  height?: number;
  offsetX?: number;
  offsetY?: number;
  binningH?: number;
  binningV?: number;
  packetSize?: number;
  packetDelay?: number;
  /** arv_device_set_features_from_string input, as aravissrc gets it. */
  features: string;
  /** `none`: free-running. */
  trigger: TriggerKind | 'none';
  /** Software trigger: how long a trigger may wait for the camera to finish the one before (trigger-missed). */
  maxDelayMs: number;
  /** Software trigger: how long a fired trigger waits for its frame before it is frame-lost. */
  frameTimeoutMs: number;
}

/** trigger.maxDelayMs unset: about an MQTT message's jitter; a picture later than that shows a moved part. */
export const DEFAULT_MAX_TRIGGER_DELAY_MS = 100;
/**
 * How long a fired software trigger waits for its frame (or the trigger window, when shorter): exposure,
 * readout and Aravis's 100 ms frame retention for an incomplete frame fit well inside. Past it the part is
 * frame-lost and the next trigger may fire; the late frame, exposed before that trigger, is then stale.
 */
export const TRIGGER_FRAME_TIMEOUT_MS = 300;

/** The runner's settings and pipeline tokens (appsrc `camera` → caps → conversion → frame sink). */
export function gigeRunner(
  cfg: GigeConfig,
  trigger: TriggerKind | 'none',
): { settings: GigeRunnerSettings; pipeline: string[] } {
  const f = trigger === 'software' ? withoutSoftwareTrigger(cfg.features) : { ...cfg.features };
  const get = (k: string): number | undefined => (f[k] === undefined ? undefined : intFeature(k, f[k]));
  const { media, format, bytes } = cameraCaps(cfg.pixelFormat);
  const settings: GigeRunnerSettings = {
    device: checkLiteral('device', cfg.device),
    pixelFormat: cfg.pixelFormat,
    caps: capsFilter(media, { format }),
    bytesPerPixel: bytes,
    width: get('Width'),
    height: get('Height'),
    offsetX: get('OffsetX'),
    offsetY: get('OffsetY'),
    binningH: get('BinningHorizontal'),
    binningV: get('BinningVertical'),
    packetSize: cfg.packetSize,
    packetDelay: cfg.packetDelay,
    features: featureString(f),
    trigger,
    maxDelayMs: cfg.trigger.maxDelayMs ?? DEFAULT_MAX_TRIGGER_DELAY_MS,
    frameTimeoutMs: Math.min(cfg.trigger.windowMs, TRIGGER_FRAME_TIMEOUT_MS),
  };
  const src = element('appsrc', { name: 'camera', 'is-live': true, format: 'time' });
  return {
    settings,
    pipeline: link(
      src,
      formatTokens(cfg.pixelFormat, settings.width, settings.height),
      frameSinkTokens(trigger !== 'none'),
    ),
  };
}

/** gige-runner.py next to this module, or in src/ when this is the compiled copy in dist/. */
function runnerPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const inSrc = join(here, 'gige-runner.py');
  const fromDist = join(here, '..', '..', 'src', 'sources', 'gige-runner.py');
  return existsSync(inSrc) || !existsSync(fromDist) ? inSrc : fromDist;
}

/** Debian's interpreter, which has the python3-gi bindings (a PATH python3, e.g. a venv's, may not). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

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

/**
 * The supervised-child spec for a GigE camera (exported for tests and benchmarks). Every GigE camera runs
 * gige-runner.py, free-running ones too: aravissrc leaves the stream socket at the system's default receive
 * buffer (212 KB), which loses every frame of 512×512 and up, and reports no frame evidence.
 */
export function gigeSpec(cfg: GigeConfig, opts: GigeOptions = {}): GstProcessSpec {
  const trigger = triggerKind(cfg);
  const runner = gigeRunner(cfg, trigger ?? 'none');
  return {
    pipeline: runner.pipeline,
    // -I: no PYTHON* variables, no user site-packages; only Debian's own modules.
    command: [SYSTEM_PYTHON, '-I', runnerPath(), JSON.stringify(runner.settings)],
    triggered: trigger ?? undefined,
    evidence: true,
    setpriv: opts.dropNetRaw === false ? [] : dropNetRawOptions(),
    describe: `gige ${cfg.device} ${cfg.pixelFormat}${trigger ? ` (${trigger} trigger)` : ''}`,
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
