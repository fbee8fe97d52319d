// What a config reload (SIGHUP) changes, and how each change can be applied. Pure: two validated configs in,
// a plan out; app/reload.ts carries it out.
//
//   cameras added / removed           their sources are started / stopped
//   a camera's source settings        that camera is restarted (its parts in flight are still decided)
//   verdict thresholds, minBlobArea,  applied live between two batches, nothing else touched
//   a camera's verdict and ignore
//   everything else                   "needs restart": reported, and NOT applied (the running value stays)
//
// "Everything else" is what the running pipeline was built around: the model and its precision, the pipeline
// sizes, the deadline and fail-safe (the part ledger), a camera's queue (the batcher's), the MQTT connection,
// the web server, the archive, logging. Half-applying one of those would leave the daemon in a state no config
// file describes; so `effectiveConfig` is the new file with those keys held at their running values, and the
// next reload is compared against it (a key still needing a restart is reported again).
import type { CameraConfig, Config } from './schema.js';
import { redactSecrets } from './redact.js';

export interface RestartKey {
  /** Dotted key path, e.g. `model.path`, `cameras.top.queue.depth`. */
  key: string;
  /** Running and file values, secrets and URL credentials redacted. */
  old: unknown;
  new: unknown;
}

export interface ConfigDiff {
  /** Cameras running in the new config only (absent or disabled before). */
  added: string[];
  /** Cameras running before and absent or disabled now. */
  removed: string[];
  /** Cameras in both whose source settings changed: stopped and started again. */
  restarted: string[];
  /** Cameras whose own `verdict` section changed (applied live). */
  cameraVerdicts: string[];
  /** The global verdict thresholds or minBlobArea changed: every camera's settings are resolved again. */
  globalVerdict: boolean;
  /** Changes only a restart can apply; not applied. */
  needsRestart: RestartKey[];
}

/** Global verdict keys applied live; the section's other keys (deadline, fail-safe) need a restart. */
const LIVE_VERDICT_KEYS = ['rejectThreshold', 'pixelThreshold', 'minBlobArea'] as const;
/** Per camera: applied live (`verdict`), or only at a restart (`queue`: the batcher's queue). */
const CAMERA_LIVE = 'verdict';
const CAMERA_RESTART_ONLY = 'queue';

export function diffConfig(running: Config, next: Config): ConfigDiff {
  const was = runningCameras(running);
  const now = runningCameras(next);
  const d: ConfigDiff = {
    added: [...now.keys()].filter((id) => !was.has(id)).sort(),
    removed: [...was.keys()].filter((id) => !now.has(id)).sort(),
    restarted: [],
    cameraVerdicts: [],
    globalVerdict: false,
    needsRestart: [],
  };
  for (const [id, a] of was) {
    const b = now.get(id);
    if (!b) continue;
    const { [CAMERA_LIVE]: va, [CAMERA_RESTART_ONLY]: qa, ...sa } = a;
    const { [CAMERA_LIVE]: vb, [CAMERA_RESTART_ONLY]: qb, ...sb } = b;
    if (!same(sa, sb)) d.restarted.push(id);
    if (!same(va, vb)) d.cameraVerdicts.push(id);
    d.needsRestart.push(...changedLeaves(qa, qb, `cameras.${id}.${CAMERA_RESTART_ONLY}`));
  }
  d.restarted.sort();
  d.cameraVerdicts.sort();
  for (const k of LIVE_VERDICT_KEYS) if (!same(running.verdict[k], next.verdict[k])) d.globalVerdict = true;
  for (const section of Object.keys({ ...running, ...next }) as (keyof Config)[]) {
    if (section === 'cameras') continue;
    if (section === 'verdict') {
      const { rejectThreshold: _r, pixelThreshold: _p, minBlobArea: _m, ...ra } = running.verdict;
      const { rejectThreshold: _r2, pixelThreshold: _p2, minBlobArea: _m2, ...rb } = next.verdict;
      d.needsRestart.push(...changedLeaves(ra, rb, 'verdict'));
      continue;
    }
    d.needsRestart.push(...changedLeaves(running[section], next[section], section));
  }
  d.needsRestart.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  return d;
}

/** Whether the diff changes anything at all (applied or not). */
export function isEmptyDiff(d: ConfigDiff): boolean {
  return (
    d.added.length +
      d.removed.length +
      d.restarted.length +
      d.cameraVerdicts.length +
      d.needsRestart.length ===
      0 && !d.globalVerdict
  );
}

/**
 * The config the daemon runs once `d` is applied: `next`, with every needs-restart key held at its value in
 * `running` (a key absent there is absent here too).
 */
export function effectiveConfig(running: Config, next: Config, d: ConfigDiff): Config {
  const out = structuredClone(next);
  for (const { key } of d.needsRestart) {
    const path = splitKey(key);
    setPath(out as Record<string, unknown>, path, getPath(running, path));
  }
  return out;
}

/** Enabled cameras by id. */
function runningCameras(c: Config): Map<string, CameraConfig> {
  return new Map(Object.entries(c.cameras).filter(([, cam]) => cam.enabled));
}

/**
 * Dotted paths of the leaves that differ under `prefix`; arrays are leaves (a list is replaced whole). Values
 * are redacted: they go to the log and to an MQTT response.
 */
export function changedLeaves(a: unknown, b: unknown, prefix: string): RestartKey[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedLeaves(a[k], b[k], `${prefix}.${k}`));
  }
  if (same(a, b)) return [];
  const last = prefix.slice(prefix.lastIndexOf('.') + 1);
  const [old, nu] = [redactSecrets({ [last]: a })[last], redactSecrets({ [last]: b })[last]];
  return [{ key: prefix, old, new: nu }];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Deep equality of JSON-like values (validated configs hold nothing else). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => same(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!same(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/**
 * A dotted key back into its path. Camera ids and config keys never hold dots (schema), but record keys like
 * GenICam feature names cannot either, so splitting on `.` is exact.
 */
function splitKey(key: string): string[] {
  return key.split('.');
}

function getPath(root: unknown, path: readonly string[]): unknown {
  let v = root;
  for (const k of path) {
    if (!isPlainObject(v)) return undefined;
    v = v[k];
  }
  return v === undefined ? undefined : structuredClone(v);
}

function setPath(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let o = root;
  for (const k of path.slice(0, -1)) {
    if (!isPlainObject(o[k])) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (value === undefined) delete o[last];
  else o[last] = value;
}
