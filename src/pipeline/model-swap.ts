// A hot swap: load a bundle alongside the running model (its own worker thread and session), check that it fits,
// warm it at every batch size it will see, then put it in force between two batches (model-slot.ts). Any
// failure before the switch leaves the running model in force and nothing else changed: the new model is
// released, the error logged and returned. Swaps are serialised: a second request waits for the first.
import { performance } from 'node:perf_hooks';
import { readManifest } from '../model/bundle.js';
import { resizeModeOf, type Manifest } from '../model/manifest.js';
import { bundleProblem } from '../model/versions.js';
import type { Logger } from '../util/log.js';
import type { EngineModel } from './engine.js';
import { ModelSwapError, swapIncompatibility, type ModelInUse, type ModelSlot } from './model-slot.js';
import type { VerdictSettings } from './verdict.js';
import type { TiledCamera } from './tiled-warm-up.js';
import { warmUpModel } from './warm-up-run.js';

export type SwappableModel = EngineModel & { release(): Promise<void> };

export interface SwapLoader {
  /** Opens the bundle's model the way the running one was opened (worker thread, device, threads). */
  open(bundleDir: string): Promise<SwappableModel>;
  /** Each camera's verdict settings under this bundle's thresholds; throws when a camera would have none. */
  verdicts(manifest: Manifest, model: SwappableModel): ReadonlyMap<string, VerdictSettings>;
  maxBatch: number;
  /** The tiled cameras and their frame sizes, to warm the incoming model for (Engine.tiledCameras). */
  tiledCameras?(): TiledCamera[];
  log: Logger;
}

export interface SwapOutcome {
  ok: boolean;
  /** The model in force afterwards. */
  modelId: string;
  version: string | null;
  previousModelId: string;
  /** Why the swap was refused or failed (the running model stayed). */
  error?: string;
  /** ms from the request to the switch (load + warm-up), when it switched. */
  loadMs?: number;
}

export class ModelSwapper {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly slot: ModelSlot,
    private readonly loader: SwapLoader,
  ) {}

  /** Swaps to the bundle in `bundleDir` (a models-directory version when `version` is set). */
  swapTo(bundleDir: string, version: string | null = null): Promise<SwapOutcome> {
    const run = this.chain.then(() => this.swapNow(bundleDir, version));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async swapNow(bundleDir: string, version: string | null): Promise<SwapOutcome> {
    const { log } = this.loader;
    const before = this.slot.current;
    const t0 = performance.now();
    let model: SwappableModel | undefined;
    try {
      const manifest = this.checkedManifest(bundleDir, before);
      if (manifest.modelId === before.model.modelId && version === (before.version ?? null))
        return { ok: true, modelId: manifest.modelId, version, previousModelId: manifest.modelId };
      log.info({ version, modelId: manifest.modelId, dir: bundleDir }, 'loading a model to swap in');
      model = await this.loader.open(bundleDir);
      const why = swapIncompatibility(before.model, model);
      if (why) throw new ModelSwapError(why);
      const verdicts = this.loader.verdicts(manifest, model);
      await warmUpModel(model, this.loader.maxBatch, this.loader.tiledCameras?.() ?? []);
      const next: ModelInUse = { model, verdicts, version };
      const { retired } = this.slot.swap(next);
      const loadMs = Math.round(performance.now() - t0);
      log.info(
        { from: before.model.modelId, to: model.modelId, version, loadMs },
        `model swapped: ${before.model.modelId} → ${model.modelId}`,
      );
      void retired.then(() => log.debug({ modelId: before.model.modelId }, 'previous model released'));
      return { ok: true, modelId: model.modelId, version, previousModelId: before.model.modelId, loadMs };
    } catch (e) {
      await model?.release().catch(() => undefined);
      const error = (e as Error).message;
      log.error(
        { version, dir: bundleDir, err: error },
        `model swap failed: still running ${before.model.modelId}`,
      );
      return {
        ok: false,
        modelId: before.model.modelId,
        version: before.version ?? null,
        previousModelId: before.model.modelId,
        error,
      };
    }
  }

  /** The bundle's manifest when it is complete and its geometry fits the running model (before any loading). */
  private checkedManifest(bundleDir: string, running: ModelInUse): Manifest {
    const problem = bundleProblem(bundleDir);
    if (problem) throw new ModelSwapError(problem);
    const m = readManifest(bundleDir);
    const r = running.model;
    const size = m.input.size;
    const probe: EngineModel = {
      size,
      grid: size / m.teacher.arch.patch,
      resize: resizeModeOf(m),
      modelId: m.modelId,
      run: r.run,
      runTransfer: r.runTransfer,
    };
    const why = swapIncompatibility(r, probe);
    if (why) throw new ModelSwapError(why);
    return m;
  }
}
