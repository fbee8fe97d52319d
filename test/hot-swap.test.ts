// Hot swap in the engine with real onnxruntime sessions in worker threads (tiny bundles of a models
// directory): a stream of parts during which the model is swapped twice gets exactly one verdict per part,
// each from the model of its batch (ids change only between batches, old → new → newer), with that model's
// thresholds, and no fail-safe; a corrupt version or one of another input size is refused and the running
// model stays.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { readManifest } from '../src/model/bundle.js';
import type { Manifest } from '../src/model/manifest.js';
import { publishVersion } from '../src/model/version-publish.js';
import { versionDir } from '../src/model/versions.js';
import { Engine, type EngineFrame } from '../src/pipeline/engine.js';
import { ModelSwapper } from '../src/pipeline/model-swap.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import type { VerdictSettings } from '../src/pipeline/verdict.js';
import { openModelInWorker } from '../src/pipeline/worker-model.js';
import { tinyBundle, tinyTeacher } from './helpers/model-versions.js';

const log = pino({ level: 'silent' });
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-hot-swap-'));
const models = join(tmp, 'models');
const v: string[] = [];
let corrupt: string;
let bigger: string;

const open = (dir: string) => openModelInWorker(dir, { device: 'cpu', threads: 1 });
const settings = (m: Manifest): VerdictSettings => ({
  thresholds: { reject: m.thresholds!.reject, pixel: m.thresholds!.pixel },
  minBlobArea: 1,
  ignore: [],
});

before(() => {
  const teacher = tinyTeacher(tmp);
  for (let s = 0; s < 3; s++) {
    tinyBundle(teacher, join(tmp, `b${s}`), s, { reject: 1e9 + s });
    v.push(publishVersion(models, join(tmp, `b${s}`), { parent: v.at(-1) ?? null }).version);
  }
  tinyBundle(teacher, join(tmp, 'b-corrupt'), 9);
  corrupt = publishVersion(models, join(tmp, 'b-corrupt'), { parent: null }).version;
  writeFileSync(join(versionDir(models, corrupt), 'students.safetensors'), 'garbage');
  tinyBundle(teacher, join(tmp, 'b-big'), 10, { size: 84 });
  bigger = publishVersion(models, join(tmp, 'b-big'), { parent: null }).version;
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function frame(seq: number): EngineFrame {
  const data = new Uint8Array(64 * 48 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seq * 13) & 255;
  return { cameraId: 'a', seq, captureTime: Date.now(), image: { width: 64, height: 48, channels: 3, data } };
}

describe('hot swap', () => {
  test(
    'two swaps mid-stream: one verdict per part, from its batch model, ids monotone, no fail-safe',
    { timeout: 180000 },
    async () => {
      const N = 90;
      const first = await open(versionDir(models, v[0]));
      const batches: { modelId: string; results: InspectionResult[] }[] = [];
      let open_: InspectionResult[] = [];
      const engine = new Engine({
        model: first,
        modelVersion: v[0],
        cameras: new Map([
          [
            'a',
            {
              queue: { depth: 64, policy: 'drop-oldest' },
              verdict: settings(readManifest(versionDir(models, v[0]))),
              triggerWindowMs: null,
            },
          ],
        ]),
        maxBatch: 4,
        maxWaitMs: 5,
        deadlineMs: 60000,
        failSafe: 'reject',
        log,
        // Results of a batch are published inside its inspection, before onBatch: group them by batch.
        onBatch: (b) => {
          batches.push({ modelId: b.modelId, results: open_ });
          open_ = [];
        },
      });
      await engine.warmUp();
      const swapper = new ModelSwapper(engine.models, {
        open,
        verdicts: (m) => new Map([['a', settings(m)]]),
        maxBatch: 4,
        log,
      });
      const frames$ = new Subject<EngineFrame>();
      const results: InspectionResult[] = [];
      const done = new Promise<void>((resolve, reject) =>
        engine.run(frames$).subscribe({
          next: (r) => {
            results.push(r);
            open_.push(r);
          },
          error: reject,
          complete: resolve,
        }),
      );
      const outcomes = [];
      for (let seq = 1; seq <= N; seq++) {
        frames$.next(frame(seq));
        await new Promise((r) => setTimeout(r, 8));
        // Swaps requested while parts keep coming; each loads and warms while the running model works.
        if (seq === 30) outcomes.push(swapper.swapTo(versionDir(models, v[1]), v[1]));
        if (seq === 60) outcomes.push(await outcomes[0], swapper.swapTo(versionDir(models, v[2]), v[2]));
      }
      const last = await outcomes[outcomes.length - 1];
      for (let seq = N + 1; seq <= N + 10; seq++) frames$.next(frame(seq)); // after the second swap for sure
      frames$.complete();
      await done;
      const total = N + 10;
      const ids = v.map((x) => readManifest(versionDir(models, x)).modelId);
      assert.ok(last.ok, last.error);
      assert.equal(engine.models.modelId, ids[2]);
      assert.equal(engine.models.current.version, v[2]);
      // Exactly one verdict per part, none a fail-safe.
      assert.equal(results.length, total);
      assert.equal(new Set(results.map((r) => r.partId)).size, total);
      assert.deepEqual(
        results
          .filter((r) => r.reason !== 'pass' && r.reason !== 'score')
          .map((r) => `${r.partId}: ${r.reason}`),
        [],
      );
      // Each batch's parts carry that batch's model id and that model's threshold.
      for (const b of batches) {
        for (const r of b.results) {
          assert.equal(r.modelId, b.modelId);
          assert.equal(r.threshold, 1e9 + ids.indexOf(b.modelId));
        }
      }
      assert.equal(
        batches.reduce((s, b) => s + b.results.length, 0),
        total,
      );
      // In part order the ids go old → new → newer, each in force for at least one batch.
      const order = results.sort((a, b) => a.seq! - b.seq!).map((r) => ids.indexOf(r.modelId));
      assert.ok(
        order.every((k, i) => k >= 0 && (i === 0 || k >= order[i - 1])),
        `monotone: ${order.join('')}`,
      );
      assert.deepEqual([...new Set(order)], [0, 1, 2]);
      const changes = batches.filter((b, i) => i > 0 && b.modelId !== batches[i - 1].modelId).length;
      console.log(
        `# hot swap: ${total} parts in ${batches.length} batches, 2 swaps (${changes} batch-boundary changes), load+warm ${last.loadMs} ms`,
      );
      assert.equal(changes, 2);
      // The swapped-out models were released once their last batch was back; the one in force was not.
      await assert.rejects(first.run(new Uint8Array(56 * 56 * 3), 1), /released/);
      assert.equal((await engine.models.current.model.run(new Uint8Array(56 * 56 * 3), 1)).length, 16);
      await engine.models.close();
    },
  );

  test(
    'a corrupt version or one of another input size is refused; the running model stays',
    { timeout: 120000 },
    async () => {
      const first = await open(versionDir(models, v[0]));
      const engine = new Engine({
        model: first,
        modelVersion: v[0],
        cameras: new Map([
          [
            'a',
            {
              queue: { depth: 8, policy: 'drop-oldest' },
              verdict: settings(readManifest(versionDir(models, v[0]))),
              triggerWindowMs: null,
            },
          ],
        ]),
        maxBatch: 2,
        maxWaitMs: 5,
        deadlineMs: 60000,
        failSafe: 'reject',
        log,
      });
      let opened = 0;
      const swapper = new ModelSwapper(engine.models, {
        open: (dir) => (opened++, open(dir)),
        verdicts: (m) => new Map([['a', settings(m)]]),
        maxBatch: 2,
        log,
      });
      const bad = await swapper.swapTo(versionDir(models, corrupt), corrupt);
      assert.equal(bad.ok, false);
      assert.match(bad.error!, /does not match its manifest/);
      const big = await swapper.swapTo(versionDir(models, bigger), bigger);
      assert.equal(big.ok, false);
      assert.match(big.error!, /input size 84 vs 56.*restart/);
      assert.equal(opened, 0, 'refused before a worker was started');
      assert.equal(engine.models.current.version, v[0]);
      // Teacher missing at load time (after the cheap checks passed): the worker fails, the old model stays.
      const id0 = engine.models.modelId;
      const results: InspectionResult[] = [];
      const frames$ = new Subject<EngineFrame>();
      const done = new Promise<void>((r) =>
        engine.run(frames$).subscribe({ next: (x) => results.push(x), complete: r }),
      );
      const failing = new ModelSwapper(engine.models, {
        open: async () => {
          throw new Error('injected load failure');
        },
        verdicts: (m) => new Map([['a', settings(m)]]),
        maxBatch: 2,
        log,
      });
      const r = await failing.swapTo(versionDir(models, v[1]), v[1]);
      assert.deepEqual([r.ok, r.error, r.modelId], [false, 'injected load failure', id0]);
      for (let seq = 1; seq <= 4; seq++) frames$.next(frame(seq));
      frames$.complete();
      await done;
      assert.deepEqual(
        results.map((x) => [x.modelId, x.reason === 'pass' || x.reason === 'score']),
        Array(4).fill([id0, true]),
      );
      await engine.models.close();
    },
  );
});
