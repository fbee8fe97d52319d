// Part ids that no two starts of the daemon share. Without PLC triggers a part is named by its camera and
// frame number, and frame numbers start again at 1 on every start; gateways that deduplicate by part id would
// then drop real parts. So every start gets a run id, put between the camera and the frame number:
// `<camera>-<run>-<seq>`. The run id is the start time in ms since the epoch in base 36 (8 characters until
// 2059; ids of later runs sort after earlier ones): made without a disk, unique unless the clock is set back
// to within the same millisecond as an earlier start.
import { map, type MonoTypeOperatorFunction } from 'rxjs';
import type { Frame } from './types.js';

/** The run id of a daemon started at `ms` (Date.now clock). */
export function runIdAt(ms: number): string {
  return Math.floor(ms).toString(36);
}

/** `<camera>-<run>-<seq>[-<name>]`; without a run id (tests), `<camera>-<seq>[-<name>]`. */
export function partIdFor(cameraId: string, seq: number, runId?: string, name?: string): string {
  const run = runId === undefined ? '' : `-${runId}`;
  return `${cameraId}${run}-${seq}${name === undefined ? '' : `-${name}`}`;
}

/** Names the frames a source left unnamed (gige, rtsp): `<camera>-<run>-<seq>`. */
export function namePartsOf(cameraId: string, runId: string): MonoTypeOperatorFunction<Frame> {
  return map((f) => (f.partId !== undefined ? f : { ...f, partId: partIdFor(cameraId, f.seq, runId) }));
}
