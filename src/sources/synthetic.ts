// Synthetic parts as a camera: seeded machined plates (src/synthetic/parts.ts), a share of them with an
// injected defect whose exact mask rides along as ground truth, at a fixed rate. For the demo, the
// end-to-end tests and the benchmarks; every part is its own part id `<camera>-<seq>`.
import { Observable } from 'rxjs';
import type { CameraConfig } from '../config/schema.js';
import type { SyntheticPart } from '../synthetic/parts.js';
import { makePart } from '../synthetic/parts.js';
import { Rng } from '../util/random.js';
import { pace } from './pace.js';
import { partIdFor } from './part-id.js';
import type { Frame, SourcePlugin } from './types.js';

type SyntheticConfig = Extract<CameraConfig, { type: 'synthetic' }>;

/**
 * The endless sequence of parts a synthetic camera with this config shows, in order (the first is seq 1).
 * Exported so a test or the demo can know the ground truth of part k without receiving its frame.
 */
export function* syntheticParts(cfg: SyntheticConfig): Generator<SyntheticPart> {
  const rng = new Rng(cfg.seed);
  while (true) {
    const seed = rng.nextU32();
    const defective = rng.next() < cfg.defectRate;
    const kind = cfg.defectKinds[rng.int(0, cfg.defectKinds.length - 1)];
    const size = cfg.defectSizes[rng.int(0, cfg.defectSizes.length - 1)];
    yield makePart({ width: cfg.width, height: cfg.height, seed, defect: defective ? { kind, size } : null });
  }
}

export const syntheticSource: SourcePlugin<'synthetic'> = {
  type: 'synthetic',
  create(id, cfg, ctx) {
    // Outside the subscription: a restarted source carries on with new parts and higher sequence numbers.
    const parts = syntheticParts(cfg);
    let seq = 0;
    return new Observable<Frame>((subscriber) => {
      let emitted = 0;
      let finished = false;
      ctx.onState('streaming');
      const stop = pace(1000 / cfg.fps, () => {
        if (cfg.count > 0 && emitted >= cfg.count) {
          finished = true;
          ctx.onState('stopped', `${cfg.count} parts done`);
          subscriber.complete();
          return false;
        }
        const part = parts.next().value as SyntheticPart;
        seq++;
        emitted++;
        subscriber.next({
          cameraId: id,
          seq,
          captureTime: Date.now(),
          partId: partIdFor(id, seq, ctx.runId),
          image: { width: part.width, height: part.height, channels: 3, data: part.rgb },
          truth: { mask: part.mask, defect: part.defect },
        });
        return true;
      });
      return () => {
        stop();
        if (!finished) ctx.onState('stopped');
      };
    });
  },
};
