// The gige source against Aravis's fake GigE Vision camera on 127.0.0.1 (arv-fake-gv-camera-0.8).
// The fake camera paints a diagonal ramp: Mono8 pixel = (x + y + frameId) mod 255; RGB8 = jet colormap
// of that index; Bayer8 = the jet image mosaicked (note: Aravis 0.8.26's fake camera writes the BayerRG8
// and BayerBG8 mosaics swapped — R where B belongs — so colours are checked on BayerGR8 and BayerGB8).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { pino } from 'pino';
import { cameraSchema } from '../src/config/schema.js';
import { sourcePlugin } from '../src/sources/registry.js';
import { PipelineValueError } from '../src/sources/gst-pipeline.js';
import type { FramePixels, SourceState } from '../src/sources/types.js';
import { startFakeCamera, type FakeCamera } from './helpers/fake-camera.js';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const W = 256;
const H = 64;

let cam: FakeCamera;
before(async () => {
  cam = await startFakeCamera('PPGIGE');
});
after(async () => {
  await cam?.kill();
});

function config(over: Record<string, unknown>) {
  const c = cameraSchema.parse({ type: 'gige', device: cam.device, packetSize: 8192, ...over });
  assert.equal(c.type, 'gige');
  return c as Extract<typeof c, { type: 'gige' }>;
}

const gige = sourcePlugin('gige')!;

/** The third frame of a fresh session (the first ones may predate the new settings). */
async function grab(pixelFormat: string): Promise<FramePixels> {
  const cfg = config({
    pixelFormat,
    features: { Width: W, Height: H, ExposureTimeAbs: 10000, GainRaw: 0 },
  });
  const src = gige.create('cam', cfg, { log, configDir: '.', onState: () => {} });
  const f = await firstValueFrom(src.pipe(filter((fr) => fr.seq >= 3)));
  return f.image;
}

/** Mean |a − b| between frame row `row` and the RGB8 reference row shifted by s, best s (and the swap). */
function bestMatch(im: FramePixels, ref: FramePixels, row: number, swap: boolean): number {
  let best = Infinity;
  for (let s = 0; s < 255; s++) {
    let err = 0;
    for (let x = 8; x < W - 8; x++) {
      const i = (row * W + x) * 3;
      const j = (row * W + ((x + s) % 255)) * 3;
      const r = im.data[swap ? i + 2 : i];
      const b = im.data[swap ? i : i + 2];
      err +=
        Math.abs(r - ref.data[j]) +
        Math.abs(im.data[i + 1] - ref.data[j + 1]) +
        Math.abs(b - ref.data[j + 2]);
    }
    best = Math.min(best, err / (W - 16));
  }
  return best;
}

test('Mono8, Mono16, RGB8 and Bayer frames arrive with the right size and pixels', async () => {
  const mono = await grab('Mono8');
  assert.deepEqual([mono.width, mono.height, mono.channels, mono.data.length], [W, H, 1, W * H]);
  const k = mono.data[0];
  let bad = 0;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) if (mono.data[y * W + x] !== (x + y + k) % 255) bad++;
  assert.equal(bad, 0, 'Mono8 ramp exact');

  // Mono16 ramp = 256·(x + y + id) mod 65535, delivered as its top byte (videoconvert may dither ±1).
  const m16 = await grab('Mono16');
  assert.deepEqual([m16.width, m16.height, m16.channels], [W, H, 1]);
  let off = 0;
  for (let y = 0; y < H; y++)
    for (let x = 1; x < W; x++) {
      const d = (m16.data[y * W + x] - m16.data[y * W + x - 1] + 256) % 256;
      if (d > 3 && d < 253) off++; // neighbours differ by 1 (mod 256) along the ramp
    }
  assert.ok(off < W * H * 0.01, `Mono16 ramp broken in ${off} places`);

  const rgb = await grab('RGB8');
  assert.deepEqual([rgb.width, rgb.height, rgb.channels, rgb.data.length], [W, H, 3, W * H * 3]);
  // A function of x + y only: every pixel equals its up-right neighbour.
  for (let y = 1; y < H; y++)
    for (let x = 0; x < W - 1; x++)
      for (let c = 0; c < 3; c++)
        assert.equal(rgb.data[(y * W + x) * 3 + c], rgb.data[((y - 1) * W + x + 1) * 3 + c]);
  // Jet runs dark blue → cyan → yellow → dark red, then wraps: red must sit left of the wrap, blue right.
  let wrap = 1;
  let jump = -1;
  for (let x = 1; x < W; x++) {
    const d =
      Math.abs(rgb.data[x * 3] - rgb.data[(x - 1) * 3]) +
      Math.abs(rgb.data[x * 3 + 2] - rgb.data[(x - 1) * 3 + 2]);
    if (d > jump) [jump, wrap] = [d, x];
  }
  const [r0, g0, b0] = rgb.data.subarray((wrap - 1) * 3, wrap * 3);
  const [r1, g1, b1] = rgb.data.subarray(wrap * 3, wrap * 3 + 3);
  assert.ok(r0 > 100 && g0 < 40 && b0 < 40, `dark red before the wrap: ${[r0, g0, b0]}`);
  assert.ok(b1 > 100 && r1 < 40 && g1 < 40, `dark blue after the wrap: ${[r1, g1, b1]}`);

  for (const fmt of ['BayerGR8', 'BayerGB8']) {
    const bay = await grab(fmt);
    assert.deepEqual([bay.width, bay.height, bay.channels], [W, H, 3]);
    const good = bestMatch(bay, rgb, 30, false);
    const swapped = bestMatch(bay, rgb, 30, true);
    assert.ok(good < 4, `${fmt} demosaiced ≈ RGB8 image (mean abs error ${good.toFixed(2)})`);
    assert.ok(swapped > 20, `${fmt}: swapping R and B would be visibly wrong (${swapped.toFixed(2)})`);
  }
});

test('features are applied and read back; camera killed → stalled, restarted → streaming with features again', async () => {
  const features = { Width: W, Height: H, ExposureTimeAbs: 20000, GainRaw: 2, AcquisitionFrameRate: 20 };
  const want = {
    ExposureTimeAbs: '20000',
    GainRaw: '2',
    AcquisitionFrameRate: '20',
    Width: String(W),
    Height: String(H),
  };
  const stall = 1000;
  const states: { state: SourceState; detail?: string; at: number }[] = [];
  let frames = 0;
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const sub = gige
    .create('cam', config({ pixelFormat: 'Mono8', features, stallTimeoutMs: stall }), {
      log,
      configDir: '.',
      onState: (state, detail) => states.push({ state, detail, at: Date.now() }),
    })
    .subscribe(() => frames++);
  const until = async (pred: () => boolean, ms: number, what: string) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`${what}: states ${JSON.stringify(states)}`);
      await sleep(20);
    }
  };
  try {
    await until(() => frames >= 5, 15000, 'first frames');
    assert.deepEqual(await cam.read(...Object.keys(want)), want, 'features read back from the camera');

    await cam.kill();
    const killedAt = Date.now();
    await until(() => states.some((s) => s.state === 'stalled'), stall + 3000, 'stalled');
    const stalledAt = states.find((s) => s.state === 'stalled')!.at;
    // The last frame left at most one frame period (50 ms at 20 fps) before the kill; the rest of the margin is
    // for timers firing late on a loaded 2-core CI machine.
    assert.ok(stalledAt - killedAt <= stall + 250, `stalled ${stalledAt - killedAt} ms after the kill`);

    await sleep(1500); // a few failed reconnects while the camera is away
    const framesBefore = frames;
    await cam.start(); // a fresh camera process: every register back at its default
    const upAt = Date.now();
    await until(
      () => states.at(-1)?.state === 'streaming' && frames > framesBefore,
      15000,
      'streaming again',
    );
    const streamingAt = states.at(-1)!.at;
    // Backoff (at most its cap) plus Aravis's connect; the margin is for a loaded 2-core host.
    assert.ok(streamingAt - upAt < 15000, `streaming ${streamingAt - upAt} ms after the camera came back`);
    assert.deepEqual(await cam.read(...Object.keys(want)), want, 'features re-applied on reconnect');
  } finally {
    sub.unsubscribe();
    h.disable();
  }
  const order = states.map((s) => s.state).filter((s, i, a) => s !== a[i - 1]);
  assert.deepEqual(order.slice(0, 4), ['connecting', 'streaming', 'stalled', 'backoff']);
  assert.deepEqual(order.slice(-2), ['streaming', 'stopped']);
  // A read that blocked on the frozen camera would stall the loop for the whole stall time; a loaded CI host
  // alone can delay a timer by a few hundred ms (GC, starvation), which is not what this guards against.
  assert.ok(h.max < 500e6, `event loop blocked ${(h.max / 1e6).toFixed(1)} ms`);
});

test('hostile device names reach aravissrc as one literal (no other element runs)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-hostile-'));
  try {
    const names = [`x ! filesink location=${dir}/a`, `x" ! filesink location="${dir}/b`, `it's ${dir}/c "q"`];
    const runs = names.map(async (device) => {
      const states: { state: SourceState; detail?: string }[] = [];
      const src = gige.create('cam', config({ device, stallTimeoutMs: 1000 }), {
        log,
        configDir: '.',
        onState: (state, detail) => states.push({ state, detail }),
      });
      const sub = src.pipe(take(1), toArray()).subscribe();
      const end = Date.now() + 20000;
      while (!states.some((s) => s.state === 'backoff') && Date.now() < end) await sleep(50);
      sub.unsubscribe();
      return { device, states };
    });
    for (const { device, states } of await Promise.all(runs)) {
      const b = states.find((s) => s.state === 'backoff');
      assert.ok(b, JSON.stringify(states));
      // Aravis was asked for exactly the configured string, as one camera name.
      assert.ok(b.detail?.includes(`Device '${device}' not found`), b.detail);
      assert.ok(!states.some((s) => s.state === 'streaming'));
    }
    for (const f of ['a', 'b', 'c']) assert.ok(!existsSync(join(dir, f)), `${f} was never written`);
    for (const device of ['a\nb', 'a\\" ! filesink location=x'])
      await assert.rejects(
        firstValueFrom(
          gige.create('cam', { ...config({}), device }, { log, configDir: '.', onState: () => {} }),
        ),
        PipelineValueError,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
