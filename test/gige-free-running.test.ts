// Issue 10 item 7: a free-running GigE camera of 512×512 and up delivers frames on a default host. aravissrc
// left its stream socket at net.core.rmem_default (212992 here), which holds less than one such frame, so
// every frame was lost; every GigE camera now runs gige-runner.py, which sizes the buffer to the frame.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { cameraSchema } from '../src/config/schema.js';
import { sourcePlugin } from '../src/sources/registry.js';
import type { Frame, SourceState } from '../src/sources/types.js';
import { startFakeCamera, type FakeCamera } from './helpers/fake-camera.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let cam: FakeCamera;
before(async () => {
  cam = await startFakeCamera('PPFREE');
});
after(async () => {
  await cam?.kill();
});

test('free-running 640×512 Mono8 (over the default receive buffer): frames arrive, with the camera evidence', async () => {
  const rmem = Number(readFileSync('/proc/sys/net/core/rmem_default', 'utf8'));
  console.log(`net.core.rmem_default ${rmem}; frame ${640 * 512} bytes`);
  const cfg = cameraSchema.parse({
    type: 'gige',
    device: cam.device,
    packetSize: 8192,
    features: { Width: 640, Height: 512 },
  });
  assert.equal(cfg.type, 'gige');
  const states: { state: SourceState; detail?: string }[] = [];
  const frames: Frame[] = [];
  const sub = sourcePlugin('gige')!
    .create('free', cfg as Extract<typeof cfg, { type: 'gige' }>, {
      log: pino({ level: 'silent' }),
      configDir: '.',
      onState: (state, detail) => states.push({ state, detail }),
    })
    .subscribe((f) => frames.push(f));
  try {
    const end = Date.now() + 20000;
    while (frames.length < 10 && Date.now() < end) await sleep(50);
  } finally {
    sub.unsubscribe();
  }
  assert.ok(frames.length >= 10, `${frames.length} frames; states ${JSON.stringify(states)}`);
  for (const f of frames) {
    assert.deepEqual([f.image.width, f.image.height, f.image.channels], [640, 512, 1]);
    // The fake camera's ramp names the frame: the evidence is this frame's.
    assert.equal(f.image.data[0], f.evidence!.frameId % 255);
    assert.equal(f.evidence!.trigger, undefined, 'free-running: answers no trigger');
  }
  assert.ok(!states.some((s) => s.state === 'stalled'), JSON.stringify(states));
});

test('a socket buffer too small for the frames: no frame, and the state detail says the receive buffer lost them', async () => {
  // A host whose net.core.rmem_max holds a fraction of a frame, reproduced without touching the host's
  // sysctls: the runner's own override asks the kernel for a 16 KiB stream socket buffer, so the kernel drops
  // most of every 1280×1024 frame's packets (a real fault, counted in /proc/net/udp).
  process.env.PINPOINT_GVSP_SOCKET_BUFFER = '16384';
  const cfg = cameraSchema.parse({
    type: 'gige',
    device: cam.device,
    packetSize: 1500,
    stallTimeoutMs: 2000,
    features: { Width: 1280, Height: 1024 },
  });
  assert.equal(cfg.type, 'gige');
  const states: { state: SourceState; detail?: string }[] = [];
  const sub = sourcePlugin('gige')!
    .create('starved', cfg as Extract<typeof cfg, { type: 'gige' }>, {
      log: pino({ level: 'silent' }),
      configDir: '.',
      onState: (state, detail) => states.push({ state, detail }),
    })
    .subscribe();
  const said = () =>
    states.some(
      // Never a whole frame: `backoff` (no first frame), or `stalled` had frames come before.
      (s) =>
        (s.state === 'backoff' || s.state === 'stalled') &&
        /frames lost: receive buffer \(\d+ packets dropped/.test(s.detail ?? ''),
    );
  try {
    const end = Date.now() + 30000;
    while (!said() && Date.now() < end) await sleep(100);
  } finally {
    sub.unsubscribe();
    delete process.env.PINPOINT_GVSP_SOCKET_BUFFER;
  }
  assert.ok(said(), JSON.stringify(states));
});
