// Execution providers: which ones load on this host, why the others do not, and the options each gets.
//
// What onnxruntime-node 1.30 passes on (js/node/src/session_options_helper.cc): for `cuda` and `tensorrt`
// only `deviceId`; every other CUDA/TensorRT provider option (cuDNN algorithm search, TensorRT fp16, engine
// cache, optimisation profiles) is dropped, and because the binding uses the V2 options struct the
// ORT_TENSORRT_* environment variables are ignored too. `webgpu` takes a fixed list of string options. The
// choices around those limits (static batch on TensorRT, warm-up of every batch size, cuda before tensorrt
// in `auto`) are in docs/gpu.md.
import { existsSync, readdirSync } from 'node:fs';
import type { InferenceSession } from 'onnxruntime-node';
import { identityModel } from './onnx/probe-model.js';

export const PROVIDERS = ['cpu', 'cuda', 'tensorrt', 'webgpu'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
export const GPU_PROVIDERS: readonly ProviderName[] = ['cuda', 'tensorrt', 'webgpu'];

/**
 * `auto` order, from measurement and from the binding's limits: CUDA first, because TensorRT through this
 * binding can have no engine cache (every start rebuilds its engines, minutes for ViT-B) and no fp16 flag;
 * TensorRT only when CUDA itself does not load; WebGPU (Vulkan) before the CPU.
 */
export const AUTO_ORDER: readonly ProviderName[] = ['cuda', 'tensorrt', 'webgpu', 'cpu'];

export interface ProviderProbe {
  name: ProviderName;
  usable: boolean;
  reason: string;
}

export interface ProviderSettings {
  /** GPU ordinal for cuda/tensorrt (inference.deviceId). */
  deviceId?: number;
}

/** The executionProviders entry for a provider: only the keys the binding really reads (see above). */
export function executionProviders(
  provider: ProviderName,
  s: ProviderSettings = {},
): InferenceSession.ExecutionProviderConfig[] {
  const deviceId = s.deviceId ?? 0;
  switch (provider) {
    case 'cuda':
      return [{ name: 'cuda', deviceId }];
    case 'tensorrt':
      // Nodes TensorRT does not take go to CUDA rather than to the CPU.
      return [
        { name: 'tensorrt', deviceId },
        { name: 'cuda', deviceId },
      ];
    case 'webgpu':
      // Validation costs time on every dispatch; the graph is ours and fixed. Buffers are reused by size
      // bucket, so batches of every size share them instead of growing the cache.
      return [{ name: 'webgpu', validationMode: 'disabled', storageBufferCacheMode: 'bucket' }];
    case 'cpu':
      return ['cpu'];
  }
}

/**
 * Whether this host has a GPU device node at all (/dev/nvidia0…, /dev/dri/renderD*). Without one, probing a
 * GPU provider only wakes Dawn's Vulkan loader (warnings on stderr) to learn what is already known.
 */
export function hasGpuDeviceNode(dev = '/dev'): boolean {
  try {
    if (readdirSync(dev).some((n) => /^nvidia\d+$/.test(n))) return true;
  } catch {
    return false;
  }
  try {
    return readdirSync(`${dev}/dri`).some((n) => n.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** The providers worth probing for a device setting: `auto` skips the GPU ones on a host with no GPU node. */
export function providersToProbe(device: string, gpuPresent = hasGpuDeviceNode()): ProviderName[] {
  if (device === 'auto') return gpuPresent ? [...AUTO_ORDER] : ['cpu'];
  return (PROVIDERS as readonly string[]).includes(device) ? [device as ProviderName] : [];
}

/** Tries a one-node model on each named provider; a provider is usable only if a session runs on it. */
export async function probeExecutionProviders(
  names: readonly ProviderName[] = PROVIDERS,
  settings: ProviderSettings = {},
): Promise<ProviderProbe[]> {
  const ort = await import('onnxruntime-node');
  // Failed provider loads are expected here and reported as reasons, not as log noise.
  ort.env.logLevel = 'fatal';
  const model = identityModel();
  const out: ProviderProbe[] = [];
  for (const name of names) {
    if (name === 'cpu') {
      out.push({ name, usable: true, reason: '' });
      continue;
    }
    let session: InferenceSession | undefined;
    try {
      session = await ort.InferenceSession.create(model, {
        executionProviders: executionProviders(name, settings),
        logSeverityLevel: 4,
      });
      const x = new ort.Tensor('float32', new Float32Array([1, 2]), [2]);
      await session.run({ x });
      out.push({ name, usable: true, reason: '' });
    } catch (err) {
      out.push({ name, usable: false, reason: explain(name, firstLine((err as Error).message)) });
    } finally {
      await session?.release();
    }
  }
  return out;
}

/** Where onnxruntime-node keeps its provider libraries (the CUDA ones only after `npm run setup:gpu`). */
export function providerLibraryDir(): string | undefined {
  try {
    const main = import.meta.resolve('onnxruntime-node');
    const root = new URL('../../', main); // dist/index.js → package root
    const dir = new URL(`bin/napi-v6/${process.platform}/${process.arch}/`, root);
    const path = decodeURIComponent(dir.pathname);
    return existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

/** The CPU-only npm install lacks the GPU provider libraries; say so instead of a dlopen error. */
function explain(name: ProviderName, message: string): string {
  if ((name === 'cuda' || name === 'tensorrt') && /Failed to load shared library/i.test(message)) {
    return `${message} (run \`pinpoint doctor\`: it names the missing library and the remedy)`;
  }
  return message;
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim().length > 0)
      ?.trim() ?? 'unknown error'
  );
}

/**
 * WebGPU's attention kernels materialise the full [B, heads, T, T] probability matrix in one storage buffer
 * (the CPU and CUDA kernels tile it). Adapters cap one binding (maxStorageBufferBindingSize) well below that
 * for ViT-B at large S, and the failure then comes mid-run; so the size is checked before a session is made.
 * The binding cannot ask the adapter for its limit: 1 GiB, the most common desktop adapters grant, is the
 * default budget (`inference.webgpuBufferMiB`; `npm run gpu-smoke` shows whether an adapter takes more).
 */
export const WEBGPU_DEFAULT_BUFFER_BYTES = 2 ** 30;

export interface AttentionShape {
  heads: number;
  /** Tokens per image: (S / patch)² patches + 1 cls + the registers. */
  tokens: number;
  fp16: boolean;
}

/** Bytes of one image's attention probabilities, heads · T² · (4 or 2 bytes). */
export function attentionBytesPerImage(a: AttentionShape): number {
  return a.heads * a.tokens * a.tokens * (a.fp16 ? 2 : 4);
}

/** The most images one WebGPU run may hold within the budget (0: not even one). */
export function webgpuMaxBatch(a: AttentionShape, budgetBytes = WEBGPU_DEFAULT_BUFFER_BYTES): number {
  return Math.floor(budgetBytes / attentionBytesPerImage(a));
}

const gib = (n: number): string => (n / 2 ** 30).toFixed(2);

/** Why no image fits WebGPU's attention buffer (an error at start), or undefined when one does. */
export function webgpuAttentionLimit(
  a: AttentionShape,
  budgetBytes = WEBGPU_DEFAULT_BUFFER_BYTES,
): string | undefined {
  if (webgpuMaxBatch(a, budgetBytes) >= 1) return undefined;
  return (
    `webgpu attention needs ${gib(attentionBytesPerImage(a))} GiB in one buffer per image (${a.tokens} tokens, ` +
    `${a.heads} heads${a.fp16 ? ', fp16' : ''}), over the ${gib(budgetBytes)} GiB budget (inference.webgpuBufferMiB): ` +
    `use cuda, a smaller pipeline.inputSize${a.fp16 ? '' : ', inference.fp16'} or, if the adapter grants more, a larger budget`
  );
}

/**
 * What happens to a maxBatch over the WebGPU cap (a warning at start): batches run in parts of `fits` images,
 * undefined when maxBatch fits in one run.
 */
export function webgpuBatchSplit(
  a: AttentionShape,
  maxBatch: number,
  budgetBytes = WEBGPU_DEFAULT_BUFFER_BYTES,
): string | undefined {
  const fits = webgpuMaxBatch(a, budgetBytes);
  if (fits < 1 || maxBatch <= fits) return undefined;
  return (
    `webgpu attention needs ${gib(attentionBytesPerImage(a))} GiB per image in one buffer; within the ` +
    `${gib(budgetBytes)} GiB budget (inference.webgpuBufferMiB) one run takes ${fits} image${fits === 1 ? '' : 's'}, so batches of up ` +
    `to pipeline.batch.maxBatch ${maxBatch} run in ${Math.ceil(maxBatch / fits)} parts (set maxBatch ≤ ${fits} to avoid it)`
  );
}
