// The config reload's plan (src/config/config-diff.ts), exactly: which cameras are added, removed, restarted,
// which verdict settings change live, which keys need a restart (with redacted values), and the effective
// config that holds those keys at their running values.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { changedLeaves, diffConfig, effectiveConfig, isEmptyDiff } from '../src/config/config-diff.js';
import { configSchema, type Config } from '../src/config/schema.js';

const synthetic = (extra: Record<string, unknown> = {}) => ({ type: 'synthetic', fps: 5, ...extra });

function cfg(o: Record<string, unknown>): Config {
  return configSchema.parse({
    model: { path: '/models/a' },
    cameras: { a: synthetic(), b: synthetic() },
    ...o,
  });
}

describe('diffConfig', () => {
  test('the same config: an empty diff', () => {
    const d = diffConfig(cfg({}), cfg({}));
    assert.ok(isEmptyDiff(d));
    assert.deepEqual(d, {
      added: [],
      removed: [],
      restarted: [],
      cameraVerdicts: [],
      globalVerdict: false,
      needsRestart: [],
    });
  });

  test('cameras added, removed, disabled (= removed), enabled (= added), changed (= restarted)', () => {
    const running = cfg({
      cameras: { a: synthetic(), b: synthetic(), c: synthetic(), d: synthetic({ enabled: false }) },
    });
    const next = cfg({
      cameras: {
        a: synthetic({ fps: 10 }),
        c: synthetic({ enabled: false }),
        d: synthetic(),
        e: synthetic(),
      },
    });
    const d = diffConfig(running, next);
    assert.deepEqual(
      { added: d.added, removed: d.removed, restarted: d.restarted },
      { added: ['d', 'e'], removed: ['b', 'c'], restarted: ['a'] },
    );
    assert.deepEqual(d.needsRestart, []);
    assert.equal(d.globalVerdict, false);
  });

  test("a camera's verdict and ignore zones are live (no restart); its queue needs a restart", () => {
    const running = cfg({});
    const next = cfg({
      cameras: {
        a: synthetic({
          verdict: {
            rejectThreshold: 3,
            ignore: [
              [
                [0, 0],
                [5, 0],
                [5, 5],
              ],
            ],
          },
        }),
        b: synthetic({ queue: { depth: 4 } }),
      },
    });
    const d = diffConfig(running, next);
    assert.deepEqual(d.restarted, []);
    assert.deepEqual(d.cameraVerdicts, ['a']);
    assert.deepEqual(d.needsRestart, [{ key: 'cameras.b.queue.depth', old: 2, new: 4 }]);
  });

  test('global verdict thresholds are live; deadline and fail-safe need a restart', () => {
    const d = diffConfig(
      cfg({ verdict: { rejectThreshold: 1 } }),
      cfg({ verdict: { rejectThreshold: 2, minBlobArea: 9, deadlineMs: 500, failSafe: 'ok' } }),
    );
    assert.equal(d.globalVerdict, true);
    assert.deepEqual(d.needsRestart, [
      { key: 'verdict.deadlineMs', old: 2000, new: 500 },
      { key: 'verdict.failSafe', old: 'reject', new: 'ok' },
    ]);
  });

  test('model, pipeline, inference, mqtt, web, archive and logging need a restart, secrets redacted', () => {
    const d = diffConfig(
      cfg({ mqtt: { url: 'mqtt://u:pw@h:1883', password: 'old' } }),
      cfg({
        model: { path: '/models/b' },
        pipeline: { batch: { maxBatch: 8 } },
        inference: { threads: 2 },
        mqtt: { url: 'mqtt://u:pw2@h:1884', password: 'new', commands: true },
        web: { port: 9090 },
        archive: { enabled: true },
        logging: { level: 'debug' },
      }),
    );
    assert.ok(!d.globalVerdict && d.added.length + d.removed.length + d.restarted.length === 0);
    assert.deepEqual(d.needsRestart, [
      { key: 'archive.enabled', old: false, new: true },
      { key: 'inference.threads', old: 0, new: 2 },
      { key: 'logging.level', old: 'info', new: 'debug' },
      { key: 'model.path', old: '/models/a', new: '/models/b' },
      { key: 'mqtt.commands', old: false, new: true },
      { key: 'mqtt.password', old: '***', new: '***' },
      { key: 'mqtt.url', old: 'mqtt://***@h:1883', new: 'mqtt://***@h:1884' },
      { key: 'pipeline.batch.maxBatch', old: 4, new: 8 },
      { key: 'web.port', old: 8080, new: 9090 },
    ]);
  });

  test('a section that appears or goes (optional model) is one key', () => {
    assert.deepEqual(changedLeaves(undefined, { path: '/m' }, 'model'), [
      { key: 'model', old: undefined, new: { path: '/m' } },
    ]);
    assert.deepEqual(changedLeaves([1, 2], [1, 2], 'x'), []);
    assert.deepEqual(changedLeaves([1, 2], [2, 1], 'x'), [{ key: 'x', old: [1, 2], new: [2, 1] }]);
  });
});

describe('effectiveConfig', () => {
  test('the new file with every needs-restart key held at its running value', () => {
    const running = cfg({ verdict: { deadlineMs: 1000 }, web: { port: 8081 } });
    const next = cfg({
      cameras: { a: synthetic({ fps: 7, queue: { depth: 5 } }), c: synthetic() },
      verdict: { deadlineMs: 300, rejectThreshold: 4 },
      model: { path: '/models/b' },
    });
    const d = diffConfig(running, next);
    const e = effectiveConfig(running, next, d);
    assert.equal(e.verdict.deadlineMs, 1000, 'deadline: running value');
    assert.equal(e.verdict.rejectThreshold, 4, 'threshold: applied');
    assert.equal(e.model?.path, '/models/a');
    assert.equal(e.web.port, 8081);
    assert.equal(e.cameras.a.queue.depth, 2, 'queue: running value');
    assert.equal((e.cameras.a as { fps: number }).fps, 7, 'fps: applied (camera restarted)');
    assert.deepEqual(Object.keys(e.cameras).sort(), ['a', 'c']);
    // Compared with the effective config, the same file reports only what still needs a restart.
    const again = diffConfig(e, next);
    assert.deepEqual(
      again.needsRestart.map((k) => k.key),
      ['cameras.a.queue.depth', 'model.path', 'verdict.deadlineMs', 'web.port'],
    );
    assert.deepEqual([again.added, again.removed, again.restarted, again.globalVerdict], [[], [], [], false]);
  });

  test('a key absent in the running config stays absent', () => {
    const running = configSchema.parse({ cameras: { a: synthetic() } });
    const next = cfg({});
    const e = effectiveConfig(running, next, diffConfig(running, next));
    assert.equal(e.model, undefined);
    assert.deepEqual(Object.keys(e.cameras).sort(), ['a', 'b']);
  });
});
