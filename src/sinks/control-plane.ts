// What the console (and any other sink) may change while the daemon runs, as one interface the app implements:
// live verdict settings, a config reload, the audit log and the command registry. Sinks get it in their
// context and never import the app (data flows app → sinks; this is the one handle that points back).
import type { RestartKey } from '../config/config-diff.js';
import type { ChangedBy } from '../config/change-source.js';
import type { Polygon } from '../pipeline/anomaly-map.js';
import type { Thresholds } from '../pipeline/verdict.js';
import type { AuditQuery } from './archive/audit-table.js';
import type { CommandRegistry } from './command-registry.js';
import type { ReteachHandle } from './reteach-view.js';

export type { AuditQuery } from './archive/audit-table.js';
export type { ChangedBy } from '../config/change-source.js';

/** One change as the console shows it. */
export interface AuditEntry {
  /** The row id (absent when the archive is disabled: no database). */
  id?: number;
  /** ms since the epoch. */
  time: number;
  who: string;
  /** sighup, mqtt or console. */
  source: string;
  /** What changed: `thresholds`, `ignore zones`, `verdict settings`, `camera added`, `config reload`… */
  what: string;
  camera: string | null;
  old: unknown;
  new: unknown;
}

/** The verdict settings one camera's next part is decided with. */
export interface CameraVerdict {
  /** null: no thresholds anywhere (every part gets the error verdict). */
  thresholds: Thresholds | null;
  minBlobArea: number;
  ignore: readonly Polygon[];
}

export interface ReloadReport {
  ok: boolean;
  /** Why it was refused (ok: false): each problem as FILE:LINE:COL key: message. */
  errors?: string[];
  added?: string[];
  removed?: string[];
  restarted?: string[];
  /** Cameras whose verdict settings changed. */
  verdict?: string[];
  /** Changed keys that only a restart applies: not applied. */
  needsRestart?: RestartKey[];
}

export interface ControlPlane {
  /** Running cameras' current verdict settings (undefined: no such camera). */
  settings(cameraId: string): CameraVerdict | undefined;
  /** Throws LiveSettingsError (name) with a clear message; nothing changed then. */
  setThresholds(cameraId: string, t: { reject?: number; pixel?: number }, by: ChangedBy): Thresholds;
  /** Throws LiveSettingsError (name) with a clear message; nothing changed then. */
  setIgnoreZones(cameraId: string, polygons: unknown, by: ChangedBy): readonly Polygon[];
  /** Changes in [from, to), oldest first (newest `limit`, default 1000). */
  auditLog(q?: AuditQuery): AuditEntry[];
  /** Whether the audit log is kept in the archive's database (else only in the log). */
  readonly auditPersistent: boolean;
  /** Re-reads the config file (as SIGHUP does); never throws. */
  reload(by: ChangedBy): Promise<ReloadReport>;
  readonly commands: CommandRegistry;
  /** Re-teach in the daemon (MQTT `cmd/teach` and the console share it); absent in daemons built without it. */
  readonly reteach?: ReteachHandle;
}
