// manifest.json of a model bundle (format version 1): what the bundle was built from and for.
// The schema is strict about the keys inference depends on (hashes, sizes, layers, architecture) and
// open about the free-form training record and threshold extras that teach-in writes.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { TeacherArch } from './types.js';

export const MANIFEST_FILE = 'manifest.json';
export const STUDENTS_FILE = 'students.safetensors';
export const FORMAT_VERSION = 1;

/**
 * How frames are resampled to S×S (src/pipeline/letterbox.ts has the maths): recorded at bundle creation, used by
 * teach-in and by inference alike, so the students are judged on the pre-processing they were trained on.
 */
export const RESIZE_MODES = ['fast', 'area', 'exact'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];
/** New bundles. */
export const DEFAULT_RESIZE_MODE: ResizeMode = 'fast';
/** Bundles written before the mode was recorded were taught with what is now 'area'. */
export const LEGACY_RESIZE_MODE: ResizeMode = 'area';

export interface Manifest {
  format: 'pinpoint-bundle';
  formatVersion: 1;
  /** Short hash over teacher sha256 + students sha256 + size + layers: changes when the students are retrained. */
  modelId: string;
  /** ISO 8601. */
  createdAt: string;
  teacher: {
    /** Relative to the bundle directory, or absolute. */
    path: string;
    sha256: string;
    layout: 'huggingface' | 'official';
    arch: TeacherArch;
    /** Random dev weights: NOT a real backbone (say so wherever the bundle is described). */
    devTeacher: boolean;
  };
  input: {
    size: number;
    mean: [number, number, number];
    std: [number, number, number];
    /** absent in bundles made before it was recorded: LEGACY_RESIZE_MODE */
    resize?: ResizeMode;
    /** The tiling the bundle was taught with (issue 15); absent: off (letterboxed frames). */
    tiling?: { scale: number; overlap: number };
  };
  layers: [number, number];
  students: { file: 'students.safetensors'; sha256: string; seed: number; hidden: number };
  training?: Record<string, unknown> & { trainedAt: string };
  /** precision: what the calibration session ran in; absent in bundles made before it was recorded = fp32. */
  thresholds?: { reject: number; pixel: number; rule: string; precision?: 'fp32' | 'fp16' } & Record<
    string,
    unknown
  >;
}

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected a lowercase hex sha256 (64 characters)');
const posInt = z.int().min(1);
const triple = z.tuple([z.number(), z.number(), z.number()]);

const archSchema = z.strictObject({
  depth: posInt,
  dim: posInt,
  heads: posInt,
  registers: z.int().min(0),
  patch: posInt,
  mlpHidden: posInt,
  posGrid: posInt,
  lnEps: z.number().positive(),
});

export const manifestSchema = z
  .strictObject({
    format: z.literal('pinpoint-bundle'),
    formatVersion: z.literal(FORMAT_VERSION),
    modelId: z.string().min(1),
    createdAt: z.iso.datetime(),
    teacher: z.strictObject({
      path: z.string().min(1),
      sha256: sha256Hex,
      layout: z.enum(['huggingface', 'official']),
      arch: archSchema,
      devTeacher: z.boolean(),
    }),
    input: z.strictObject({
      size: posInt,
      mean: triple,
      std: triple,
      resize: z.enum(RESIZE_MODES).optional(),
      tiling: z.strictObject({ scale: z.number().gt(0), overlap: z.number().min(0).lt(0.5) }).optional(),
    }),
    layers: z.tuple([posInt, posInt]),
    students: z.strictObject({
      file: z.literal(STUDENTS_FILE),
      sha256: sha256Hex,
      seed: z.int(),
      hidden: posInt,
    }),
    training: z.looseObject({ trainedAt: z.string().min(1) }).optional(),
    thresholds: z
      .looseObject({
        reject: z.number().positive(),
        pixel: z.number().positive(),
        rule: z.string(),
        precision: z.enum(['fp32', 'fp16']).optional(),
      })
      .optional(),
  })
  .superRefine((m, ctx) => {
    const { arch } = m.teacher;
    if (m.input.size % arch.patch !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['input', 'size'],
        message: `${m.input.size} is not a multiple of the patch size ${arch.patch}`,
      });
    }
    const [a, b] = m.layers;
    if (!(a < b && b <= arch.depth)) {
      ctx.addIssue({
        code: 'custom',
        path: ['layers'],
        message: `need 1 ≤ a < b ≤ depth ${arch.depth}, got [${a}, ${b}]`,
      });
    }
    if (arch.dim % arch.heads !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['teacher', 'arch', 'heads'],
        message: `${arch.heads} heads do not divide the width ${arch.dim}`,
      });
    }
  });

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

/** Validate parsed JSON as a manifest; the error names the file and every bad key. */
export function parseManifest(json: unknown, file: string): Manifest {
  const r = manifestSchema.safeParse(json);
  if (r.success) return r.data as Manifest;
  const lines = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new ManifestError(`${file}: not a valid pinpoint bundle manifest:\n  - ${lines.join('\n  - ')}`);
}

/** The bundle's model identity: 16 hex digits of sha256 over what determines the anomaly output. */
export function computeModelId(
  teacherSha: string,
  studentsSha: string,
  size: number,
  layers: [number, number],
): string {
  return createHash('sha256')
    .update(`pinpoint-model-v1\n${teacherSha}\n${studentsSha}\n${size}\n${layers[0]},${layers[1]}`)
    .digest('hex')
    .slice(0, 16);
}

/** The resize mode a bundle was taught with. */
export function resizeModeOf(m: Pick<Manifest, 'input'>): ResizeMode {
  return m.input.resize ?? LEGACY_RESIZE_MODE;
}

/** The tiling a bundle was taught with; null: off. */
export function tilingOf(m: Pick<Manifest, 'input'>): { scale: number; overlap: number } | null {
  return m.input.tiling ?? null;
}

/**
 * The bundle's thresholds when they were calibrated in the precision the session runs, else why not: fp16
 * maps differ from fp32 ones by more than a threshold's margin near the decision, so a threshold is only
 * valid in its own precision. Bundles from before the field was recorded were calibrated in fp32.
 */
export function thresholdsForPrecision(
  m: Pick<Manifest, 'thresholds'>,
  precision: 'fp32' | 'fp16',
): { thresholds?: Manifest['thresholds']; mismatch?: string } {
  if (!m.thresholds) return {};
  const recorded = m.thresholds.precision ?? 'fp32';
  if (recorded === precision) return { thresholds: m.thresholds };
  return {
    mismatch:
      `the bundle's thresholds were calibrated in ${recorded} and the model runs in ${precision}: ` +
      `teach in again on this device (pinpoint train${precision === 'fp16' ? ' --fp16' : ''}), ` +
      `set inference.fp16: ${recorded === 'fp16'}, or set verdict.rejectThreshold and verdict.pixelThreshold`,
  };
}
