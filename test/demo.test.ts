// `pinpoint demo`: the verdict line, and the whole demo (a small S so the teach-in is quick) run twice: once
// to a fixed number of parts, once stopped with Ctrl-C (SIGINT), the second time reusing the taught model.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { formatVerdictLine, judge } from '../src/demo/verdict-line.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { runCli } from './helpers/cli.js';
import { killNow, track } from './helpers/children.js';

function result(over: Partial<InspectionResult>): InspectionResult {
  return {
    version: 1,
    cameraId: 'left',
    partId: 'left-7',
    seq: 7,
    captureTime: 1000,
    decideTime: 1042,
    latencyMs: 42,
    score: 0.2,
    threshold: 0.1,
    verdict: 'reject',
    reason: 'score',
    blobs: [
      {
        box: { x: 10, y: 20, width: 30, height: 40 },
        area: 900,
        centroid: { x: 25, y: 40 },
        peak: 0.31,
        mean: 0.2,
      },
    ],
    modelId: 'm',
    ...over,
  };
}

const dent = { defect: { kind: 'dent', size: 64, box: { x: 30, y: 50, width: 40, height: 40 } } };

describe('demo verdict line', () => {
  test('a reject shows its score, threshold, latency and blobs, and whether it hit the defect', () => {
    const line = formatVerdictLine(result({}), dent, { color: false });
    assert.match(
      line,
      /left-7 +REJECT +score 0\.200 > 0\.100 +42 ms +1 blob: 30×40 px at \(10,20\) peak 0\.31 +\[caught dent 64 px\]/,
    );
    assert.ok(!line.includes('\u001b['), 'no colour codes when color is off');
    assert.ok(formatVerdictLine(result({}), dent, { color: true }).includes('\u001b[1;31mREJECT'));
  });

  test('judge: caught, missed, blob elsewhere, false reject, fail-safe', () => {
    assert.equal(judge(result({}), dent), 'caught dent 64 px');
    assert.equal(judge(result({ verdict: 'ok', reason: 'pass', blobs: [] }), dent), 'MISSED dent 64 px');
    const far = result({ blobs: [{ ...result({}).blobs[0], box: { x: 200, y: 200, width: 5, height: 5 } }] });
    assert.equal(judge(far, dent), 'rejected, blob not on the dent 64 px');
    assert.equal(judge(result({}), { defect: null }), 'FALSE REJECT (good part)');
    assert.equal(judge(result({ verdict: 'ok', reason: 'pass' }), { defect: null }), 'good part');
    assert.equal(judge(result({ reason: 'timeout', score: null, blobs: [] }), { defect: null }), 'good part');
    assert.equal(judge(result({}), undefined), null);
  });

  test('fail-safe verdicts show their reason and detail', () => {
    const line = formatVerdictLine(
      result({
        verdict: 'reject',
        reason: 'timeout',
        score: null,
        threshold: null,
        blobs: [],
        detail: 'no verdict within 2000 ms',
      }),
      undefined,
      { color: false },
    );
    assert.match(line, /REJECT +timeout .* no verdict within 2000 ms/);
  });
});

describe('pinpoint demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-demo-'));

  test('teaches in, starts mosquitto and the daemon, prints one line per part, stops cleanly', async () => {
    const r = await runCli(['demo', '--dir', dir, '--size', '56', '--parts', '3', '--fps', '5'], {
      timeoutMs: 120000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (let i = 1; i <= 6; i++) assert.match(r.stdout, /\[[1-6]\/6\]/);
    const lines = r.stdout
      .split('\n')
      .filter((l) => /\b(left|right)-[0-9a-z]{8}-\d+ +(ok|REJECT|ERROR)/.test(l));
    assert.equal(lines.length, 6, r.stdout);
    assert.match(r.stdout, /status: online/);
    assert.match(r.stdout, /status: stopped/);
    assert.match(r.stdout, /6 parts, \d+ rejected/);
  });

  test('a demo killed outright (SIGKILL) leaves neither the daemon nor the broker behind', async (t) => {
    const child = track(
      spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--dir', dir, '--size', '56', '--fps', '5'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    t.after(() => killNow(child));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const until = Date.now() + 60000;
    while (!/(left|right)-[0-9a-z]{8}-1 /.test(out)) {
      if (Date.now() > until || child.exitCode !== null) assert.fail(`no verdicts:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const daemonPid = Number(/\(pid (\d+)/.exec(out)![1]);
    const port = Number(/mosquitto mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
    child.kill('SIGKILL');
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const listening = () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
    const deadline = Date.now() + 15000;
    while (alive(daemonPid) || (await listening())) {
      if (Date.now() > deadline)
        assert.fail(`left behind: daemon ${alive(daemonPid)}, broker ${await listening()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  test('Ctrl-C stops the daemon first (status stopped), then the broker; exit 0; the taught model is reused', async (t) => {
    const child = track(
      spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--dir', dir, '--size', '56', '--fps', '5'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // A failed assertion must not leave the demo running: the test file would wait for it until its timeout.
    t.after(() => killNow(child));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const consoleLine = /operator console: (http:\/\/127\.0\.0\.1:\d+\/)/;
    const until = Date.now() + 60000;
    // The killed run before left results in the outbox; they may be printed before this run's own verdicts.
    while (!/(left|right)-[0-9a-z]{8}-2 /.test(out) || !consoleLine.test(out)) {
      if (Date.now() > until || child.exitCode !== null) assert.fail(`no verdicts or no console:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The console it prints answers as soon as it is printed.
    const consoleUrl = consoleLine.exec(out)![1];
    assert.equal((await fetch(`${consoleUrl}api/session`)).status, 200);
    child.kill('SIGINT');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 20000))]);
    assert.equal(code, 0, out);
    assert.match(out, /already taught in/);
    assert.match(out, /stopping: the daemon drains/);
    assert.match(out, /status: stopped/);
  });
});
