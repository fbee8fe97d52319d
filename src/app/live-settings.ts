// Verdict settings changed while the line runs: per camera reject and pixel thresholds and ignore zones. The
// engine reads each camera's `verdict` once per frame from the same map object this class holds; a change
// replaces that object whole between two event-loop turns, so a batch is decided entirely with the old or
// entirely with the new settings, and the pipeline (queues, batches, the model) is never touched. Every
// decided result carries the thresholds that decided it (`threshold`, `pixelThreshold`).
//
// Changes are validated first (a refused one changes nothing) and written to the audit log. They last until
// the daemon stops or the config file is reloaded with other values for that camera: the config file stays
// the deployment's record (docs/live-changes.md).
import { z } from 'zod';
import type { Polygon } from '../pipeline/anomaly-map.js';
import type { EngineCamera } from '../pipeline/engine.js';
import type { Thresholds, VerdictSettings } from '../pipeline/verdict.js';
import type { AuditLog } from './audit-log.js';
import type { ChangedBy } from '../config/change-source.js';
import type { CameraVerdict } from '../sinks/control-plane.js';

/** A change that cannot be applied: the message says why, for the console or an MQTT response. */
export class LiveSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LiveSettingsError';
  }
}

/** Bounds on ignore zones set at run time: a zone list is per-frame work on the hot path. */
export const MAX_ZONES = 64;
export const MAX_ZONE_POINTS = 1024;

// zod 4's number refuses NaN and ±Infinity itself.
const finitePositive = z.number().positive();
const thresholdPatch = z
  .strictObject({ reject: finitePositive.optional(), pixel: finitePositive.optional() })
  .refine((t) => t.reject !== undefined || t.pixel !== undefined, 'give reject, pixel or both');
const point = z.tuple([z.number(), z.number()]);
const zones = z
  .array(z.array(point).min(3, 'a polygon needs at least 3 points').max(MAX_ZONE_POINTS))
  .max(MAX_ZONES, `at most ${MAX_ZONES} ignore zones`);

export class LiveSettings {
  constructor(
    /** The engine's camera map: the same object, so a replaced `verdict` is what the next frame reads. */
    private readonly cameras: Map<string, EngineCamera>,
    private readonly audit: AuditLog,
    /** Whether a camera runs now: a removed camera's entry stays in the map while its last parts drain. */
    private readonly isRunning: (cameraId: string) => boolean = () => true,
    /** Told of every accepted change: the model in force keeps its own copy of the settings (model-slot.ts). */
    private readonly onWrite: (cameraId: string, v: VerdictSettings) => void = () => {},
  ) {}

  /** The settings a camera's next part is decided with, or undefined for an unknown camera. */
  settings(cameraId: string): CameraVerdict | undefined {
    if (!this.isRunning(cameraId)) return undefined;
    const v = this.cameras.get(cameraId)?.verdict;
    return v && { thresholds: v.thresholds, minBlobArea: v.minBlobArea, ignore: v.ignore };
  }

  /**
   * Sets a camera's reject and/or pixel threshold from its next batch on. Throws LiveSettingsError (nothing
   * changed) for an unknown camera, a value that is not a positive finite number, or one threshold alone on a
   * camera that has none yet.
   */
  setThresholds(cameraId: string, t: { reject?: number; pixel?: number }, by: ChangedBy): Thresholds {
    const cam = this.camera(cameraId);
    const parsed = thresholdPatch.safeParse(t);
    if (!parsed.success) throw new LiveSettingsError(`thresholds: ${describe(parsed.error)}`);
    const old = cam.verdict.thresholds;
    const reject = parsed.data.reject ?? old?.reject;
    const pixel = parsed.data.pixel ?? old?.pixel;
    if (reject === undefined || pixel === undefined)
      throw new LiveSettingsError(
        `camera ${cameraId} has no thresholds yet (the model was not taught in): give both reject and pixel`,
      );
    const next = { reject, pixel };
    this.write(cameraId, cam, { ...cam.verdict, thresholds: next });
    this.audit.record(by, { what: 'thresholds', camera: cameraId, old, new: next });
    return next;
  }

  /** Replaces a camera's ignore zones (polygons in original-frame pixels) from its next batch on. */
  setIgnoreZones(cameraId: string, polygons: unknown, by: ChangedBy): readonly Polygon[] {
    const cam = this.camera(cameraId);
    const parsed = zones.safeParse(polygons);
    if (!parsed.success) throw new LiveSettingsError(`ignore zones: ${describe(parsed.error)}`);
    const old = cam.verdict.ignore;
    const next = parsed.data as Polygon[];
    this.write(cameraId, cam, { ...cam.verdict, ignore: next });
    this.audit.record(by, { what: 'ignore zones', camera: cameraId, old, new: next });
    return next;
  }

  /** The config reload's path: a camera's settings as resolved from the new file, audited when they differ. */
  replace(cameraId: string, v: VerdictSettings, by: ChangedBy): void {
    const cam = this.camera(cameraId);
    const old = cam.verdict;
    if (sameVerdict(old, v)) return;
    this.write(cameraId, cam, v);
    this.audit.record(by, {
      what: 'verdict settings',
      camera: cameraId,
      old: { thresholds: old.thresholds, minBlobArea: old.minBlobArea, ignore: old.ignore },
      new: { thresholds: v.thresholds, minBlobArea: v.minBlobArea, ignore: v.ignore },
    });
  }

  private write(cameraId: string, cam: EngineCamera, v: VerdictSettings): void {
    cam.verdict = v;
    this.onWrite(cameraId, v);
  }

  private camera(id: string): EngineCamera {
    const cam = this.isRunning(id) ? this.cameras.get(id) : undefined;
    if (!cam) throw new LiveSettingsError(`unknown camera ${JSON.stringify(id)}`);
    return cam;
  }
}

function sameVerdict(a: VerdictSettings, b: VerdictSettings): boolean {
  return (
    JSON.stringify([a.thresholds, a.minBlobArea, a.ignore]) ===
    JSON.stringify([b.thresholds, b.minBlobArea, b.ignore])
  );
}

function describe(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
}
