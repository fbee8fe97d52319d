// `pinpoint doctor`: what this host can do, and whether it has what a given config needs.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { preflight } from '../app/preflight.js';
import type { Config } from '../config/schema.js';
import {
  GPU_PROVIDERS,
  hasGpuDeviceNode,
  probeExecutionProviders,
  providerLibraryDir,
  type ProviderName,
  type ProviderProbe,
} from '../model/providers.js';
import {
  deviceNodeCheck,
  driverCheck,
  providerLibraryCheck,
  PROVIDER_FILES,
  vulkanCheck,
} from './gpu-doctor.js';
import { deadlineCheck } from './deadline-check.js';
import { webgpuConfigCheck } from './webgpu-check.js';
import { probeBroker } from '../sinks/mqtt-probe.js';
import { cv } from '../util/cv.js';

const run = promisify(execFile);

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** True when the given config (or pinpoint itself) cannot work without it. */
  required: boolean;
}

export const MIN_NODE: readonly [number, number] = [20, 19];

export function nodeVersionOk(version: string): boolean {
  const [maj, min] = version.replace(/^v/, '').split('.').map(Number);
  return maj > MIN_NODE[0] || (maj === MIN_NODE[0] && min >= MIN_NODE[1]);
}

/** Parses OpenCV's getBuildInformation() for the video I/O back ends pinpoint cares about. */
export function parseOpenCvBuild(info: string): { version: string; gstreamer: string; ffmpeg: string } {
  const field = (name: string): string => {
    const m = new RegExp(`^\\s*${name}:\\s*(.+)$`, 'mi').exec(info);
    return m ? m[1].trim() : 'unknown';
  };
  const version = /General configuration for OpenCV ([^\s=]+)/.exec(info)?.[1] ?? 'unknown';
  return { version, gstreamer: field('GStreamer'), ffmpeg: field('FFMPEG') };
}

const H264_DECODERS = ['avdec_h264', 'openh264dec', 'vah264dec', 'nvh264dec', 'v4l2h264dec'];

async function gstElement(name: string): Promise<boolean> {
  try {
    // Not `--exists`: it reports rank-none elements such as aravissrc as missing.
    await run('gst-inspect-1.0', [name], { timeout: 10000 });
    return true;
  } catch {
    return false;
  }
}

/** With a config: `configDir` is where its relative paths (the model bundle) resolve. */
export async function runDoctor(config?: Config, configDir = '.'): Promise<Check[]> {
  const checks: Check[] = [];
  const cams = Object.values(config?.cameras ?? {}).filter((c) => c.enabled);
  const needsGige = cams.some((c) => c.type === 'gige');
  const needsRtsp = cams.some((c) => c.type === 'rtsp');

  checks.push({
    name: 'node',
    ok: nodeVersionOk(process.version),
    detail: `${process.version} (needs >= ${MIN_NODE.join('.')})`,
    required: true,
  });

  let providers: ProviderProbe[] = [];
  try {
    const ort = await import('onnxruntime-node');
    checks.push({
      name: 'onnxruntime',
      ok: true,
      detail: `onnxruntime-node ${ort.env.versions.node ?? '?'}`,
      required: true,
    });
    providers = await probeExecutionProviders(doctorProbes(config?.inference.device ?? 'auto'), {
      deviceId: config?.inference.deviceId,
    });
  } catch (err) {
    checks.push({ name: 'onnxruntime', ok: false, detail: (err as Error).message, required: true });
  }
  checks.push(...(await gpuChecks(config, providers)));
  if (config) {
    checks.push(deadlineCheck(config, configDir));
    const webgpu = webgpuConfigCheck(config, configDir);
    if (webgpu) checks.push(webgpu);
  }

  try {
    const b = parseOpenCvBuild(cv().getBuildInformation());
    checks.push({ name: 'opencv', ok: true, detail: `OpenCV ${b.version}`, required: true });
    checks.push({
      name: 'opencv gstreamer',
      ok: /^YES/i.test(b.gstreamer),
      detail: b.gstreamer,
      required: false,
    });
    checks.push({ name: 'opencv ffmpeg', ok: /^YES/i.test(b.ffmpeg), detail: b.ffmpeg, required: false });
  } catch (err) {
    checks.push({ name: 'opencv', ok: false, detail: (err as Error).message.split('\n')[0], required: true });
  }

  for (const el of ['aravissrc', 'rtspsrc', 'videoconvert']) {
    const found = await gstElement(el);
    const required =
      (el === 'aravissrc' && needsGige) ||
      (el !== 'aravissrc' && (needsRtsp || (el === 'videoconvert' && needsGige)));
    checks.push({ name: `gstreamer ${el}`, ok: found, detail: found ? 'found' : 'not found', required });
  }
  const decoders: string[] = [];
  for (const d of H264_DECODERS) if (await gstElement(d)) decoders.push(d);
  checks.push({
    name: 'gstreamer h264 decoder',
    ok: decoders.length > 0,
    detail: decoders.length > 0 ? decoders.join(', ') : `none of ${H264_DECODERS.join(', ')}`,
    required: needsRtsp,
  });

  checks.push(rmemCheck(needsGige));

  if (config) {
    const r = await probeBroker(config.mqtt, 5000);
    checks.push({ name: 'mqtt broker', ok: r.ok, detail: r.detail, required: true });
    checks.push(...runChecks(config, configDir));
  }
  return checks;
}

/**
 * The CPU always; a GPU provider when the config names it or the host has a GPU device node. Probing webgpu
 * on a host without one only prints Dawn's Vulkan warnings.
 */
function doctorProbes(device: string): ProviderName[] {
  const gpu = hasGpuDeviceNode();
  return ['cpu', ...GPU_PROVIDERS.filter((p) => gpu || device === p)];
}

/** Per provider: probe result (or why not probed), its libraries (ldd), the device nodes and the driver. */
async function gpuChecks(config: Config | undefined, probes: readonly ProviderProbe[]): Promise<Check[]> {
  const device = config?.inference.device ?? 'auto';
  const checks: Check[] = [];
  const dir = providerLibraryDir();
  for (const name of ['cpu', ...GPU_PROVIDERS] as const) {
    const required = name === 'cpu' ? device === 'cpu' || device === 'auto' || !config : device === name;
    const p = probes.find((x) => x.name === name);
    checks.push({
      name: `provider ${name}`,
      ok: p?.usable ?? false,
      detail: !p
        ? 'not probed: no GPU device node on this host'
        : p.usable
          ? 'usable'
          : `unusable: ${p.reason}`,
      required,
    });
    if (name === 'cuda' || name === 'tensorrt') {
      const file = dir ? `${dir}${PROVIDER_FILES[name]}` : undefined;
      const c = await providerLibraryCheck(name, file);
      checks.push({ ...c, required: device === name });
    }
    if (name === 'webgpu') checks.push({ ...vulkanCheck(), required: device === 'webgpu' });
  }
  const nvidia = device === 'cuda' || device === 'tensorrt';
  checks.push({ ...deviceNodeCheck(), required: nvidia });
  checks.push({ ...driverCheck(), required: nvidia });
  return checks;
}

/** What `pinpoint run` would refuse in this config (the checks `config check` makes), as doctor checks. */
function runChecks(config: Config, configDir: string): Check[] {
  const { problems, manifest } = preflight(config, configDir);
  const out: Check[] = problems.map((p) => ({
    name: `config ${p.path.join('.')}`,
    ok: false,
    detail: p.message,
    required: true,
  }));
  if (manifest && problems.length === 0) {
    const m = manifest;
    out.push({ name: 'model', ok: true, detail: `${m.modelId}: input size ${m.input.size}`, required: true });
  }
  return out;
}

/** GigE Vision streams lose nearly every packet with the default 208 KiB socket buffer (measured at 1280×1024). */
export const GIGE_RMEM_MIN = 4194304;

function rmemCheck(required: boolean): Check {
  let value = NaN;
  try {
    value = Number(readFileSync('/proc/sys/net/core/rmem_default', 'utf8').trim());
  } catch {
    // not Linux, or /proc hidden
  }
  const ok = value >= GIGE_RMEM_MIN;
  return {
    name: 'gige receive buffer',
    ok,
    detail: Number.isFinite(value)
      ? `net.core.rmem_default=${value}${ok ? '' : ` (GigE needs >= ${GIGE_RMEM_MIN}: install systemd/99-pinpoint-gige.conf)`}`
      : 'net.core.rmem_default unreadable',
    required,
  };
}

export function formatChecks(checks: readonly Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  return (
    checks
      .map((c) => {
        const mark = c.ok ? 'ok  ' : c.required ? 'FAIL' : 'no  ';
        return `${mark}  ${c.name.padEnd(width)}  ${c.detail}`;
      })
      .join('\n') + '\n'
  );
}

export function doctorExitCode(checks: readonly Check[]): number {
  return checks.some((c) => c.required && !c.ok) ? 1 : 0;
}
