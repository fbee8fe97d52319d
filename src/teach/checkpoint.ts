// Teach-in checkpoints: after every epoch, the students, the Adam moments and what is needed to continue
// exactly where training stopped, in one safetensors file in the bundle directory, replaced atomically.
//
// No random-generator state is stored: the shuffle of epoch e is drawn from a generator seeded with
// (seed, e) (see epochRng), so (seed, epochs done) reproduces the rest of the run bit for bit.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, parseSafetensors, type TensorData } from '../model/safetensors.js';
import { joinFlat, paramSpecs, paramsToStudents, splitFlat, studentParams } from '../model/train-graph.js';
import type { StudentWeights } from '../model/types.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { AdamState } from './trainer.js';

export const CHECKPOINT_FILE = 'teach-checkpoint.safetensors';
const META_KEY = 'pinpoint.teach_checkpoint';

/** What must match for a checkpoint to be resumed, and the run's progress so far. */
export interface CheckpointMeta {
  version: 1;
  /** Identity of the run: a resume with different values is refused. */
  run: {
    teacherSha256: string;
    size: number;
    layers: [number, number];
    /** sha256 over the letterboxed training and holdout frames, in order. */
    imagesSha256: string;
    images: number;
    holdout: number[];
    seed: number;
    lr: number;
    batchRows: number;
    /** 'auto' or the fixed epoch count. */
    epochs: number | 'auto';
  };
  epochsDone: number;
  steps: number;
  /** Mean loss of each finished epoch. */
  epochLoss: number[];
  /** Loss of every step so far (the plateau test and the report read it). */
  stepLoss: number[];
  startedAt: string;
  /** Seconds spent training so far (ETA and the report across resumes). */
  trainSeconds: number;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  students: StudentWeights;
  state: AdamState;
}

export function checkpointPath(bundleDir: string): string {
  return join(bundleDir, CHECKPOINT_FILE);
}

export function writeCheckpoint(bundleDir: string, c: Checkpoint): void {
  const dim = c.students.forward.layers[0].inFeatures;
  const hidden = c.students.forward.layers[0].outFeatures;
  const specs = paramSpecs(dim, hidden);
  const params = studentParams(c.students);
  const m = splitFlat(c.state.m, dim, hidden);
  const v = splitFlat(c.state.v, dim, hidden);
  const tensors = new Map<string, TensorData>();
  specs.forEach((sp, k) => {
    tensors.set(sp.name, { dtype: 'F32', shape: sp.dims, data: params[k] });
    tensors.set(`m.${sp.name}`, { dtype: 'F32', shape: sp.dims, data: m[k] });
    tensors.set(`v.${sp.name}`, { dtype: 'F32', shape: sp.dims, data: v[k] });
  });
  const bytes = encodeSafetensors(tensors, {
    [META_KEY]: JSON.stringify({ ...c.meta, adamStep: c.state.step }),
  });
  writeFileAtomic(checkpointPath(bundleDir), bytes);
}

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** The bundle's checkpoint, or undefined when there is none. */
export function readCheckpoint(bundleDir: string): Checkpoint | undefined {
  const file = checkpointPath(bundleDir);
  if (!existsSync(file)) return undefined;
  let parsed;
  try {
    parsed = parseSafetensors(readFileSync(file), file);
  } catch (e) {
    throw new CheckpointError(`${file} is not a readable checkpoint: ${(e as Error).message}`);
  }
  const raw = parsed.metadata[META_KEY];
  if (!raw) throw new CheckpointError(`${file} is not a pinpoint teach-in checkpoint`);
  const meta = JSON.parse(raw) as CheckpointMeta & { adamStep: number };
  if (meta.version !== 1) throw new CheckpointError(`${file}: unknown checkpoint version ${meta.version}`);
  const first = parsed.tensors.get('forward.0.weight');
  if (!first) throw new CheckpointError(`${file}: no student tensors`);
  const [hidden, dim] = first.shape;
  const specs = paramSpecs(dim, hidden);
  const get = (name: string, size: number): Float32Array => {
    const t = parsed.tensors.get(name);
    if (!t || t.data.length !== size)
      throw new CheckpointError(`${file}: tensor ${name} is missing or malformed`);
    return t.data;
  };
  const params = specs.map((sp) => get(sp.name, sp.size));
  const flat = (prefix: string): Float32Array => joinFlat(specs.map((sp) => get(prefix + sp.name, sp.size)));
  const { adamStep, ...rest } = meta;
  return {
    meta: rest,
    students: paramsToStudents(params, dim, hidden),
    state: { step: adamStep, m: flat('m.'), v: flat('v.') },
  };
}

export function removeCheckpoint(bundleDir: string): void {
  rmSync(checkpointPath(bundleDir), { force: true });
}

/** Differences between a checkpoint's run identity and this run's, as readable lines. */
export function runMismatches(saved: CheckpointMeta['run'], now: CheckpointMeta['run']): string[] {
  const out: string[] = [];
  for (const k of Object.keys(now) as (keyof CheckpointMeta['run'])[]) {
    const a = JSON.stringify(saved[k]);
    const b = JSON.stringify(now[k]);
    if (a !== b) out.push(`${k}: checkpoint ${short(a)}, now ${short(b)}`);
  }
  return out;
}

function short(s: string): string {
  return s.length > 40 ? s.slice(0, 37) + '...' : s;
}
