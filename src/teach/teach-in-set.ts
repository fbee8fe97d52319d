// The teach-in set of a bundle: which image files its students were taught on, by path and sha256, recorded in
// the manifest's training record (`training.teachInSet`) so a re-teach can start from the same images and
// notice when one of them changed. Optional and additive: bundles taught before it was recorded load as before
// and a re-teach asks for their image folder instead.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

/** Where an image of the set came from. */
export const TEACH_IN_SOURCES = ['teach-in', 'false-reject', 'recent-good'] as const;
export type TeachInSource = (typeof TEACH_IN_SOURCES)[number];

export interface TeachInSetEntry {
  /** Absolute, or relative to the bundle directory (copies kept inside the bundle). */
  path: string;
  /** sha256 of the file's bytes. */
  sha256: string;
  source: TeachInSource;
  /** Archived parts: the part id and archive entry key the frame came from. */
  partId?: string;
  archiveKey?: string;
}

export interface TeachInSetRecord {
  version: 1;
  images: TeachInSetEntry[];
}

const entrySchema = z.object({
  path: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  source: z.enum(TEACH_IN_SOURCES),
  partId: z.string().optional(),
  archiveKey: z.string().optional(),
});
const recordSchema = z.object({ version: z.literal(1), images: z.array(entrySchema).min(1) });

export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The record for image files given to `pinpoint train` (hashed here: the set must say what was read). */
export function teachInSetOf(paths: readonly string[]): TeachInSetRecord {
  return {
    version: 1,
    images: paths.map((p) => ({ path: resolve(p), sha256: fileSha256(p), source: 'teach-in' })),
  };
}

/**
 * The teach-in set recorded in a manifest's training record; undefined when the bundle predates it. A record
 * that is there but malformed is an error naming the key: a re-teach must not run on a guess.
 */
export function teachInSetFrom(
  training: Record<string, unknown> | undefined,
  manifestFile: string,
): TeachInSetRecord | undefined {
  if (training?.teachInSet === undefined) return undefined;
  const r = recordSchema.safeParse(training.teachInSet);
  if (r.success) return r.data;
  const why = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  throw new Error(`${manifestFile}: training.teachInSet is malformed (${why})`);
}

/** An entry's file on disk (relative entries live in the bundle directory). */
export function entryFile(bundleDir: string, e: TeachInSetEntry): string {
  return isAbsolute(e.path) ? e.path : resolve(bundleDir, e.path);
}
