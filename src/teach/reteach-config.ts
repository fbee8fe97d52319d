// The `reteach:` config section, for the daemon that starts re-teach jobs (console, MQTT `cmd/teach`; wired by
// src/app/reteach-control.ts). Defined here, next to the job; src/config/schema.ts includes it. The candidate is
// staged under the models directory's .staging (same file system as versions/), so no key says where.
import { z } from 'zod';
import { RETEACH_DEFAULTS, type ReteachRequest } from './reteach-types.js';

const d = RETEACH_DEFAULTS;

export const reteachSchema = z
  .strictObject({
    /** onnxruntime intra-op threads of the job process (it runs at SCHED_IDLE / nice 19 besides). */
    threads: z.int().min(1).max(256).default(d.threads),
    /** Archived good parts (unlabelled, verdict ok) of the shadow window added to the set, evenly spaced. */
    recentGood: z.int().min(0).max(10_000).default(d.recentGood),
    /** Archived frames added to one re-teach at most (false rejects newest first, then recent good parts). */
    maxArchiveImages: z.int().min(1).max(100_000).default(d.maxArchiveImages),
    /** Hours of archived parts the shadow evaluation scores (labelled parts are scored whatever their age). */
    shadowHours: z
      .number()
      .positive()
      .max(24 * 365)
      .default(d.shadowHours),
    /** Parts the shadow evaluation scores at most (labelled ones first). */
    shadowMaxParts: z.int().min(1).max(1_000_000).default(d.shadowMaxParts),
    /**
     * Good images of the model in force's teach-in, for a bundle that does not record its set (taught before
     * pinpoint recorded it); relative to the config's folder. Unused when the bundle records its set.
     */
    teachInImages: z.string().min(1).optional(),
    /**
     * Promote the candidate as soon as its shadow evaluation says it is safe (no confirmed defect escapes it, its
     * reject rate is not higher). Off by default: an engineer reads the report and promotes.
     */
    autoPromote: z.boolean().default(false),
  })
  .prefault({});

export type ReteachConfig = z.infer<typeof reteachSchema>;

/** A job request from the config section and the paths the daemon knows. */
export function reteachRequest(
  cfg: ReteachConfig,
  paths: { modelDir: string; archiveDir: string; outDir: string; teachInImages?: string },
): ReteachRequest {
  const { autoPromote: _daemonOnly, teachInImages: _resolvedByCaller, ...job } = cfg;
  return { ...paths, ...job };
}
