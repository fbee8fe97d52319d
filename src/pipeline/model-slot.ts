// The engine's model, swappable between two batches. Each batch takes a lease on the model in force when it is
// closed and runs on that model only; its parts' verdicts carry that model's id. A swap makes the next batch
// take the new model; the old one is released once the last lease on it is returned (its batches' runs on the
// worker finished), never while one is out. So every part gets one verdict from exactly one model. A tiled
// frame's tiles may span two batches: the frame holds a lease on its first batch's model until its last tile
// ran, and for a short while after a swap a batch with such a frame's tiles runs on that model (tile-jobs.ts).
//
// A new model must take the same input as the running one (size, patch grid, resize mode, transfer mode):
// the batch buffers, the letterbox and the post-processing are set up for it. Anything else needs a restart.
import type { EngineModel } from './engine.js';
import type { VerdictSettings } from './verdict.js';

/** A model with what belongs to it: the verdict settings its thresholds give each camera (absent: the engine's). */
export interface ModelInUse {
  readonly model: EngineModel & { release?(): Promise<void> };
  readonly verdicts?: ReadonlyMap<string, VerdictSettings>;
  /** The models-directory version it was loaded from, when it was. */
  readonly version?: string | null;
}

export interface ModelLease {
  readonly use: ModelInUse;
  /** Returns the lease (idempotent); the last one of a swapped-out model releases it. */
  release(): void;
  /** Another lease on the same model, returned on its own. */
  again(): ModelLease;
  /** ms since this model was swapped out; null while it is in force. */
  retiredMs(): number | null;
}

export class ModelSwapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelSwapError';
  }
}

/** Why `next` cannot replace `running` between batches, or undefined when it can. */
export function swapIncompatibility(running: EngineModel, next: EngineModel): string | undefined {
  const diffs: string[] = [];
  if (next.size !== running.size) diffs.push(`input size ${next.size} vs ${running.size}`);
  if (next.grid !== running.grid) diffs.push(`patch grid ${next.grid} vs ${running.grid}`);
  if (next.resize !== running.resize) diffs.push(`resize mode ${next.resize} vs ${running.resize}`);
  if (!next.runTransfer !== !running.runTransfer) diffs.push('a different kind of model runner');
  if (diffs.length === 0) return undefined;
  return `model ${next.modelId} cannot replace ${running.modelId} while running (${diffs.join(', ')}): restart pinpoint to change it`;
}

interface Entry {
  use: ModelInUse;
  leases: number;
  retired: boolean;
  /** performance.now() when it was swapped out. */
  retiredAt?: number;
  released?: Promise<void>;
  onReleased?: () => void;
}

export class ModelSlot {
  private entry: Entry;
  private readonly listeners: ((use: ModelInUse) => void)[] = [];

  constructor(first: ModelInUse) {
    this.entry = { use: first, leases: 0, retired: false };
  }

  get current(): ModelInUse {
    return this.entry.use;
  }

  get modelId(): string {
    return this.entry.use.model.modelId;
  }

  /** A batch takes the model in force now; it must release the lease when its run has come back. */
  acquire(): ModelLease {
    return this.leaseOn(this.entry);
  }

  private leaseOn(e: Entry): ModelLease {
    e.leases++;
    let done = false;
    return {
      use: e.use,
      release: () => {
        if (done) return;
        done = true;
        e.leases--;
        this.releaseIfIdle(e);
      },
      again: () => this.leaseOn(e),
      retiredMs: () => (e.retiredAt === undefined ? null : performance.now() - e.retiredAt),
    };
  }

  /**
   * Puts `next` in force for every batch closed from now on. Throws ModelSwapError (nothing changes) when it
   * does not fit the running model. Resolves `retired` once the old model's last batch is back and it is released.
   */
  swap(next: ModelInUse): { previous: ModelInUse; retired: Promise<void> } {
    const why = swapIncompatibility(this.entry.use.model, next.model);
    if (why) throw new ModelSwapError(why);
    const old = this.entry;
    this.entry = { use: next, leases: 0, retired: false };
    old.retired = true;
    old.retiredAt = performance.now();
    const retired = new Promise<void>((r) => (old.onReleased = r));
    this.releaseIfIdle(old);
    for (const l of this.listeners) l(next);
    return { previous: old.use, retired };
  }

  /**
   * A live change of one camera's settings (live-settings.ts) for the model in force: batches closed from now on
   * use it; batches already leased keep the settings they closed with. A no-op for a model without its own
   * verdict map (the engine's camera settings apply to it directly).
   */
  setVerdict(cameraId: string, v: VerdictSettings): void {
    const use = this.entry.use;
    if (!use.verdicts) return;
    const verdicts = new Map(use.verdicts);
    verdicts.set(cameraId, v);
    this.entry.use = { ...use, verdicts };
  }

  /** Called after every swap with the model now in force. */
  onSwap(l: (use: ModelInUse) => void): void {
    this.listeners.push(l);
  }

  /** Releases the model in force (shutdown); a swapped-out one still in flight is released when it returns. */
  async close(): Promise<void> {
    await this.entry.use.model.release?.();
  }

  private releaseIfIdle(e: Entry): void {
    if (!e.retired || e.leases > 0 || e.released) return;
    const done = (): void => e.onReleased?.();
    e.released = Promise.resolve(e.use.model.release?.()).then(done, done);
  }
}
