// trigger.pairing in the config: cameras that give no frame evidence take triggers only with an explicit
// `pairing: order`, which `config check` warns about; the GigE-only keys are refused where they do nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { cameraSchema } from '../src/config/schema.js';
import { configCheck } from '../src/cli/config-commands.js';
import { cameraPairing } from '../src/sources/pairing.js';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';

const rtsp = { type: 'rtsp', url: 'rtsp://192.0.2.1/s' };
const gige = { type: 'gige', device: 'cam' };

function issues(c: unknown): string[] {
  const r = cameraSchema.safeParse(c);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('triggers on a camera without evidence need pairing: order; GigE keys only where they act', () => {
  assert.match(
    issues({ ...rtsp, trigger: { enabled: true } }).join(),
    /trigger\.pairing: .*set `pairing: order`/,
  );
  assert.deepEqual(issues({ ...rtsp, trigger: { enabled: true, pairing: 'order' } }), []);
  assert.deepEqual(issues({ ...rtsp, trigger: { enabled: false } }), []);
  assert.match(issues({ type: 'synthetic', trigger: { enabled: true } }).join(), /pairing: order/);
  // A free-running GigE camera takes no trigger: it must say how frames pair.
  assert.match(issues({ ...gige, trigger: { enabled: true } }).join(), /free-running GigE camera/);
  assert.deepEqual(issues({ ...gige, trigger: { enabled: true, pairing: 'timestamp' } }), []);
  assert.match(
    issues({ ...gige, softwareTrigger: true, trigger: { enabled: true, toleranceMs: 5 } }).join(),
    /toleranceMs applies to pairing by timestamp only/,
  );
  assert.match(
    issues({ ...gige, features: { TriggerMode: 'On' }, trigger: { enabled: true, maxDelayMs: 5 } }).join(),
    /maxDelayMs applies to software-triggered cameras only/,
  );
  assert.match(
    issues({ ...rtsp, trigger: { enabled: true, pairing: 'order', toleranceMs: 5 } }).join(),
    /toleranceMs/,
  );
});

test('the pairing each camera gets, and config check warns about pairing by order', () => {
  const parse = (c: unknown) => cameraSchema.parse(c);
  assert.deepEqual(cameraPairing(parse({ ...gige, softwareTrigger: true, trigger: { enabled: true } })), {
    method: 'trigger-token',
  });
  assert.deepEqual(
    cameraPairing(
      parse({ ...gige, features: { TriggerMode: 'On' }, trigger: { enabled: true, toleranceMs: 8 } }),
    ),
    { method: 'timestamp', toleranceMs: 8 },
  );
  assert.equal(cameraPairing(parse(rtsp)), null);

  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-pairing-'));
  try {
    // config check validates the whole config as run would: it needs a bundle to look at.
    writeDevTeacher(join(dir, 't.safetensors'), { depth: 3, dim: 32, heads: 2, posGrid: 6, seed: 3 });
    createBundle({
      teacherPath: join(dir, 't.safetensors'),
      outDir: join(dir, 'm'),
      size: 56,
      layers: [2, 3],
    });
    const file = join(dir, 'p.yaml');
    writeFileSync(
      file,
      stringify({
        cameras: { side: { ...rtsp, trigger: { enabled: true, pairing: 'order' } }, top: gige },
        model: { path: 'm' },
        verdict: { rejectThreshold: 1, pixelThreshold: 1 },
      }),
    );
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        out += chunk.toString();
        cb();
      },
    });
    configCheck(file, sink);
    const warnings = out.split('\n').filter((l) => l.startsWith('# warning:'));
    assert.equal(warnings.length, 1, out);
    assert.match(warnings[0], /cameras\.side\.trigger\.pairing: triggers paired by arrival order: a lost/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
