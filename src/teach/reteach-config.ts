// The `reteach:` config section, for the daemon that starts re-teach jobs (console, MQTT `cmd/teach`). Defined
// here, next to the job, and added to src/config/schema.ts by the change that wires the runner into the daemon:
// until then no config accepts these keys, so none of them can sit in a file doing nothing.
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
  })
  .prefault({});

export type ReteachConfig = z.infer<typeof reteachSchema>;

/** A job request from the config section and the paths the daemon knows. */
export function reteachRequest(
  cfg: ReteachConfig,
  paths: { modelDir: string; archiveDir: string; outDir: string },
): ReteachRequest {
  return { ...paths, ...cfg };
}
