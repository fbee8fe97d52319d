import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hasGpuDeviceNode } from '../src/model/providers.js';
import { runCli } from './helpers/cli.js';
import { freePort, startMosquitto, type Broker } from './helpers/mosquitto.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-cli-'));
function writeConfig(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

describe('pinpoint config', () => {
  // A runnable config (with a model) and the model problems: test/config-check.test.ts.
  test('check of a config run would refuse exits 2', async () => {
    const file = writeConfig('ok.yaml', 'mqtt:\n  username: plc\n  password: ${PW}\n');
    const r = await runCli(['config', 'check', file], { env: { PW: 'do-not-print' } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cameras: no enabled cameras/);
    assert.match(r.stderr, /model: model\.path is not set/);
    assert.ok(!(r.stdout + r.stderr).includes('do-not-print'));
  });

  test('check of a bad config exits 2 naming file, line:column and key', async () => {
    const file = writeConfig('bad.yaml', 'verdict:\n  failsafe: ok\n');
    const r = await runCli(['config', 'check', file]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(`${file}:2:3 verdict.failsafe: unknown key`), r.stderr);
  });

  test('schema prints a JSON Schema', async () => {
    const r = await runCli(['config', 'schema']);
    assert.equal(r.code, 0, r.stderr);
    const schema = JSON.parse(r.stdout) as { $schema: string; properties: Record<string, unknown> };
    assert.match(schema.$schema, /json-schema/);
    assert.ok('cameras' in schema.properties);
  });
});

describe('pinpoint run', () => {
  test('a config it cannot run is a usage error naming the problem', async () => {
    const noModel = writeConfig('run-no-model.yaml', 'cameras:\n  a:\n    type: synthetic\n');
    const r1 = await runCli(['run', '--config', noModel]);
    assert.equal(r1.code, 2, r1.stderr);
    assert.match(r1.stderr, /model\.path is not set/);
    const noCams = writeConfig('run-no-cams.yaml', 'model:\n  path: /nonexistent\n');
    const r2 = await runCli(['run', '--config', noCams]);
    assert.equal(r2.code, 2, r2.stderr);
    assert.match(r2.stderr, /no enabled cameras/);
  });

  test('a missing model bundle exits 1 and says which', async () => {
    const file = writeConfig(
      'run-missing.yaml',
      'cameras:\n  a:\n    type: synthetic\nmodel:\n  path: /nonexistent/model\n',
    );
    const r = await runCli(['run', '--config', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /\/nonexistent\/model/);
  });
});

describe('usage errors', () => {
  test('pinpoint eval without --model and --data exits 2 and names the option', async () => {
    const r = await runCli(['eval']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--model/);
  });

  test('an unknown command is a usage error', async () => {
    const r = await runCli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command/);
  });
});

describe('pinpoint doctor', () => {
  let broker: Broker;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  test('reports cpu usable, cuda unusable with a reason and its libraries, OpenCV with GStreamer', async () => {
    const r = await runCli(['doctor', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const checks = JSON.parse(r.stdout) as { name: string; ok: boolean; detail: string; required: boolean }[];
    const get = (n: string) => {
      const c = checks.find((x) => x.name === n);
      assert.ok(c, `no check ${n}`);
      return c;
    };
    assert.equal(get('node').ok, true);
    assert.match(get('onnxruntime').detail, /onnxruntime-node \d+\.\d+/);
    assert.equal(get('provider cpu').ok, true);
    const cuda = get('provider cuda');
    assert.equal(cuda.ok, false);
    // Without a GPU device node (this host) the GPU providers are not probed: that would only wake Dawn.
    assert.match(cuda.detail, hasGpuDeviceNode() ? /unusable: .+/ : /^not probed: no GPU device node/);
    assert.match(get('cuda libraries').detail, /setup:gpu|missing lib/);
    for (const n of [
      'provider tensorrt',
      'provider webgpu',
      'vulkan (webgpu)',
      'gpu device nodes',
      'nvidia driver',
    ])
      assert.ok(
        checks.some((c) => c.name === n),
        n,
      );
    assert.equal(
      r.stderr.replace(/^npm warn.*\n/gm, ''),
      '',
      'nothing on stderr (no Dawn/Vulkan probing noise)',
    );
    assert.equal(get('opencv gstreamer').ok, true);
    assert.match(get('opencv gstreamer').detail, /^YES/);
    assert.equal(get('gstreamer rtspsrc').ok, true);
    assert.ok(checks.some((c) => c.name === 'gstreamer aravissrc'));
    assert.equal(get('gstreamer h264 decoder').ok, true);
    // Not required without a GigE camera, but always reported with the value found.
    const rmem = get('gige receive buffer');
    assert.equal(rmem.required, false);
    assert.match(rmem.detail, /^net\.core\.rmem_default=\d+/);
  });

  test('with --config: the broker answers → that check is ok; what run would refuse FAILs', async () => {
    const file = writeConfig('up.yaml', `mqtt:\n  url: ${broker.url}\ninference:\n  device: cpu\n`);
    const r = await runCli(['doctor', '--config', file]);
    assert.match(r.stdout, /^ok\s+mqtt broker\s+mqtt:\/\/127\.0\.0\.1:\d+: connected$/m);
    // the same checks as config check (a runnable config: test/config-check.test.ts)
    assert.match(r.stdout, /^FAIL\s+config model\s+model\.path is not set/m);
    assert.equal(r.code, 1, r.stdout + r.stderr);
  });

  test('with --config: an unreachable broker or a missing provider → non-zero exit', async () => {
    const port = await freePort();
    const file = writeConfig(
      'down.yaml',
      `mqtt:\n  url: mqtt://127.0.0.1:${port}\ninference:\n  device: cuda\n`,
    );
    const r = await runCli(['doctor', '--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAIL\s+mqtt broker/m);
    assert.match(r.stdout, /^FAIL\s+provider cuda/m);
  });
});
