// `pinpoint doctor --config`: whether the model fits WebGPU's attention-buffer budget at this config (the
// check the daemon makes before opening a WebGPU session, model/providers.ts), so a skipped or refused
// WebGPU is explained without starting the daemon.
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { readManifest } from '../model/bundle.js';
import {
  attentionBytesPerImage,
  webgpuAttentionLimit,
  webgpuBatchSplit,
  webgpuMaxBatch,
  type AttentionShape,
} from '../model/providers.js';

export interface WebgpuFitInput {
  device: string;
  heads: number;
  patch: number;
  registers: number;
  size: number;
  fp16: boolean;
  maxBatch: number;
  budgetMiB: number;
}

/** The check for a config: undefined when the device can never be webgpu (cpu, cuda, tensorrt). */
export function webgpuFitCheck(
  i: WebgpuFitInput,
): { name: string; ok: boolean; detail: string; required: boolean } | undefined {
  if (i.device !== 'webgpu' && i.device !== 'auto') return undefined;
  const g = i.size / i.patch;
  const shape: AttentionShape = { heads: i.heads, tokens: g * g + 1 + i.registers, fp16: i.fp16 };
  const budget = i.budgetMiB * 2 ** 20;
  const name = 'webgpu attention budget';
  const required = i.device === 'webgpu';
  const error = webgpuAttentionLimit(shape, budget);
  if (error) return { name, ok: false, detail: error, required };
  const split = webgpuBatchSplit(shape, i.maxBatch, budget);
  if (split) return { name, ok: true, detail: split, required };
  const mib = (attentionBytesPerImage(shape) / 2 ** 20).toFixed(1);
  return {
    name,
    ok: true,
    detail: `${mib} MiB per image; a run takes up to ${webgpuMaxBatch(shape, budget)} images, maxBatch ${i.maxBatch} fits`,
    required,
  };
}

/** webgpuFitCheck from the config and its bundle's manifest; undefined without a model or for other devices. */
export function webgpuConfigCheck(
  config: Config,
  configDir: string,
): { name: string; ok: boolean; detail: string; required: boolean } | undefined {
  if (!config.model) return undefined;
  let m;
  try {
    m = readManifest(resolve(configDir, config.model.path));
  } catch {
    return undefined; // the deadline and run checks report an unreadable bundle
  }
  const { heads, patch, registers } = m.teacher.arch;
  return webgpuFitCheck({
    device: config.inference.device,
    heads,
    patch,
    registers,
    size: m.input.size,
    fp16: config.inference.fp16,
    maxBatch: config.pipeline.batch.maxBatch,
    budgetMiB: config.inference.webgpuBufferMiB,
  });
}
