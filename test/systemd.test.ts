import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';

const BIN = resolve('bin/pinpoint.js');

/** Runs `systemd-analyze verify` on a copy whose ExecStart points at this checkout's executable. */
function verify(unit: string, instanceName?: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-units-'));
  const text = readFileSync(join('systemd', unit), 'utf8').replaceAll('/opt/pinpoint/bin/pinpoint.js', BIN);
  const target = join(dir, instanceName ?? unit);
  writeFileSync(target, text);
  const r = spawnSync('systemd-analyze', ['verify', target], { encoding: 'utf8' });
  return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

describe('systemd units', () => {
  test('pinpoint.service passes systemd-analyze verify without warnings', () => {
    const r = verify('pinpoint.service');
    assert.equal(r.status, 0, r.output);
    assert.equal(r.output, '');
  });

  test('the pinpoint@.service template verifies as an instance', () => {
    const r = verify('pinpoint@.service', 'pinpoint@line1.service');
    assert.equal(r.status, 0, r.output);
    assert.equal(r.output, '');
  });

  test('a broken unit is caught (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pinpoint-units-'));
    copyFileSync('systemd/pinpoint.service', join(dir, 'x.service'));
    writeFileSync(
      join(dir, 'x.service'),
      readFileSync(join(dir, 'x.service'), 'utf8').replace('Type=notify', 'Type=notifyy'),
    );
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'x.service')], { encoding: 'utf8' });
    assert.match(r.stderr, /Failed to parse service type/);
  });

  for (const unit of ['pinpoint.service', 'pinpoint@.service']) {
    test(`${unit} is a hardened notify service with watchdog and restart`, () => {
      const text = readFileSync(join('systemd', unit), 'utf8');
      for (const line of [
        'Type=notify',
        'Restart=on-failure',
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'ProtectHome=yes',
        'PrivateTmp=yes',
        'User=pinpoint',
        'CapabilityBoundingSet=',
      ])
        assert.match(text, new RegExp(`^${line.replace('.', '\\.')}$`, 'm'), line);
      assert.match(text, /^WatchdogSec=\d+$/m);
      assert.match(text, /^RestartSec=\d+$/m);
      assert.match(text, /^ReadWritePaths=\/var\/lib\/pinpoint\S* \/var\/cache\/pinpoint\S*$/m);
    });
  }

  test('the GigE sysctl drop-in raises existing kernel settings', () => {
    const text = readFileSync('systemd/99-pinpoint-gige.conf', 'utf8');
    const keys = [...text.matchAll(/^([a-z_.]+)\s*=\s*(\d+)$/gm)].map((m) => [m[1], Number(m[2])] as const);
    assert.deepEqual(
      keys.map(([k]) => k),
      ['net.core.rmem_default', 'net.core.rmem_max'],
    );
    for (const [k, v] of keys) {
      assert.ok(existsSync(join('/proc/sys', ...k.split('.'))), k);
      assert.ok(v >= 4194304, k);
    }
  });
});
