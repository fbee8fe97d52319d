// The supervised gst-launch child, driven by videotestsrc pipelines (no camera needed): frames re-assembled
// from the pipe, a frozen child detected and replaced, a dead child restarted with backoff, seq counting on
// across restarts, everything torn down on unsubscribe, and the event loop never blocked meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { pino } from 'pino';
import type { Frame, SourceState } from '../src/sources/types.js';
import { gstFrames, type GstProcessSpec } from '../src/sources/gst-process.js';
import { capsFilter, element, frameSinkTokens, link } from '../src/sources/gst-pipeline.js';
import { track } from './helpers/children.js';

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Probe {
  frames: Frame[];
  states: { state: SourceState; detail?: string; at: number }[];
  pids: number[];
  stop(): void;
  waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void>;
}

function watch(spec: Omit<GstProcessSpec, 'onSpawn'>): Probe {
  const p: Probe = {
    frames: [],
    states: [],
    pids: [],
    stop: () => {},
    async waitFor(pred, timeoutMs, what) {
      const until = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > until)
          throw new Error(
            `timed out waiting for ${what}; states: ${JSON.stringify(p.states.map((s) => s.state))}`,
          );
        await sleep(20);
      }
    },
  };
  const sub = gstFrames(
    'cam1',
    { ...spec, onSpawn: (pid) => p.pids.push(pid) },
    { log, configDir: '.', onState: (state, detail) => p.states.push({ state, detail, at: Date.now() }) },
  ).subscribe((f) => p.frames.push(f));
  p.stop = () => sub.unsubscribe();
  return p;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function testPipeline(width: number, height: number, format = 'GRAY8', fps = 25): string[] {
  return link(
    element('videotestsrc', { 'is-live': true, pattern: 'gradient' }),
    capsFilter('video/x-raw', { format, width, height, framerate: `${fps}/1` }),
    frameSinkTokens(),
  );
}

test('frames arrive with padded rows packed, exact pixels, increasing seq', async () => {
  // 6×3 GRAY8: GStreamer's buffers have 8-byte rows; the source must hand out 18 tight bytes.
  const { stdout: ref } = await run(
    'gst-launch-1.0',
    [
      '-q',
      'videotestsrc',
      'num-buffers=1',
      'pattern=gradient',
      '!',
      'video/x-raw,format=GRAY8,width=6,height=3',
      '!',
      'fdsink',
      'fd=1',
    ],
    { encoding: 'buffer', timeout: 10000 },
  );
  assert.equal(ref.length, 24);
  const tight = Buffer.concat([0, 1, 2].map((y) => ref.subarray(y * 8, y * 8 + 6)));
  const p = watch({
    pipeline: testPipeline(6, 3),
    describe: 'test',
    stallTimeoutMs: 2000,
    timestamps: 'arrival',
  });
  try {
    await p.waitFor(() => p.frames.length >= 3, 15000, '3 frames');
    for (const f of p.frames) {
      assert.deepEqual({ w: f.image.width, h: f.image.height, c: f.image.channels }, { w: 6, h: 3, c: 1 });
      assert.deepEqual(Buffer.from(f.image.data), tight);
      assert.ok(Math.abs(f.captureTime - Date.now()) < 10000);
    }
    assert.deepEqual(
      p.frames.slice(0, 3).map((f) => f.seq),
      [1, 2, 3],
    );
    assert.deepEqual(
      p.states.slice(0, 2).map((s) => s.state),
      ['connecting', 'streaming'],
    );
  } finally {
    p.stop();
  }
});

test('frozen child (SIGSTOP) → stalled within the timeout, replaced, seq keeps counting; dead child → restart', async () => {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const stall = 800;
  const p = watch({
    pipeline: testPipeline(64, 48, 'RGB'),
    describe: 'test',
    stallTimeoutMs: stall,
    timestamps: 'arrival',
    killGraceMs: 300,
    backoff: { initialMs: 50, maxMs: 200, jitter: 0.2 },
  });
  try {
    await p.waitFor(() => p.frames.length >= 5, 15000, 'first frames');
    const frozenPid = p.pids[0];
    process.kill(frozenPid, 'SIGSTOP');
    const frozeAt = Date.now();
    await p.waitFor(() => p.states.some((s) => s.state === 'stalled'), 5000, 'stalled');
    const stalled = p.states.find((s) => s.state === 'stalled')!;
    // The last frame came at most one frame period before the freeze; detection is at lastFrame + stall.
    assert.ok(stalled.at - frozeAt <= stall + 300, `stalled after ${stalled.at - frozeAt} ms`);
    assert.match(stalled.detail ?? '', /no frame for \d+ ms/);
    await p.waitFor(() => p.pids.length >= 2 && p.states.at(-1)?.state === 'streaming', 15000, 'restart');
    await p.waitFor(() => !alive(frozenPid), 3000, 'frozen child killed');

    // A child that dies outright is noticed at once (no need to wait for the watchdog).
    const n = p.frames.length;
    process.kill(p.pids[1], 'SIGKILL');
    const killedAt = Date.now();
    await p.waitFor(() => p.states.filter((s) => s.state === 'stalled').length >= 2, 5000, 'second stall');
    const second = p.states.filter((s) => s.state === 'stalled')[1];
    assert.ok(second.at - killedAt < stall, `noticed after ${second.at - killedAt} ms`);
    assert.match(second.detail ?? '', /SIGKILL/);
    await p.waitFor(() => p.pids.length >= 3 && p.frames.length > n + 3, 15000, 'frames after restart');

    const seqs = p.frames.map((f) => f.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
      'seq 1,2,3,… across restarts',
    );
    const order = p.states.map((s) => s.state).filter((s, i, a) => s !== a[i - 1]);
    assert.deepEqual(order.slice(0, 5), ['connecting', 'streaming', 'stalled', 'backoff', 'connecting']);
  } finally {
    p.stop();
    h.disable();
  }
  assert.equal(p.states.at(-1)?.state, 'stopped');
  // Kill grace 300 ms: the children are gone soon after (polled, not one fixed sleep, for a loaded host).
  const until = Date.now() + 3000;
  while (!p.pids.every((pid) => !alive(pid)) && Date.now() < until) await sleep(50);
  assert.ok(
    p.pids.every((pid) => !alive(pid)),
    'no child left after unsubscribe',
  );
  // A read that blocked on the frozen camera would stall the loop for the whole stall time; a loaded CI host
  // alone can delay a timer by a few hundred ms (GC, starvation), which is not what this guards against.
  assert.ok(h.max < 500e6, `event loop blocked ${(h.max / 1e6).toFixed(1)} ms`);
});

test('a failing pipeline backs off with growing delays and a redacted reason; never reports streaming', async () => {
  const p = watch({
    // rtspsrc to a closed port fails fast; the password must not show in any state detail.
    pipeline: link(
      element('rtspsrc', { location: 'rtsp://127.0.0.1:1/x', 'user-id': 'bob', 'user-pw': 'hunter22' }),
      'decodebin',
      frameSinkTokens(),
    ),
    describe: 'rtsp rtsp://***@127.0.0.1:1/x',
    secrets: ['hunter22'],
    stallTimeoutMs: 1000,
    connectTimeoutMs: 3000,
    timestamps: 'arrival',
    backoff: { initialMs: 100, maxMs: 400, jitter: 0 },
  });
  try {
    await p.waitFor(() => p.states.filter((s) => s.state === 'backoff').length >= 3, 20000, '3 backoffs');
  } finally {
    p.stop();
  }
  const backoffs = p.states.filter((s) => s.state === 'backoff').map((s) => s.detail ?? '');
  assert.deepEqual(
    backoffs.slice(0, 3).map((d) => /retry in (\d+) ms/.exec(d)?.[1]),
    ['100', '200', '400'],
  );
  assert.match(backoffs[0], /exited with code \d+: Could not open resource/);
  assert.ok(!p.states.some((s) => s.state === 'streaming' || s.state === 'stalled'));
  assert.ok(!JSON.stringify(p.states).includes('hunter22'));
});

test('a daemon killed outright takes its camera children with it (no orphan holding the camera)', async () => {
  const script = new URL('./helpers/gst-orphan.ts', import.meta.url).pathname;
  const daemon = track(
    spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const pid = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no child started')), 20000);
    daemon.stdout!.on('data', (d: Buffer) => {
      const m = /PID (\d+)/.exec(d.toString());
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
  });
  try {
    await sleep(500);
    assert.ok(alive(pid));
  } finally {
    daemon.kill('SIGKILL');
  }
  const until = Date.now() + 3000;
  while (alive(pid) && Date.now() < until) await sleep(50);
  const orphan = alive(pid);
  if (orphan) process.kill(pid, 'SIGKILL');
  assert.ok(!orphan, 'gst-launch child died with its parent');
});
