// Pipeline tokens, GDP framing and the camera clock: pure parts checked against real gst-launch-1.0 where
// GStreamer's own parser is the thing being relied on. Hostile config values must reach GStreamer as one
// literal value or be rejected — never as pipeline syntax.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  PipelineValueError,
  capsFilter,
  element,
  frameSinkTokens,
  parseRawVideoCaps,
  prop,
  quoteGst,
  redactText,
} from '../src/sources/gst-pipeline.js';
import { GdpReader } from '../src/sources/gdp.js';
import { CameraClock } from '../src/sources/camera-clock.js';
import { backoffDelay, gstArgv } from '../src/sources/gst-process.js';
import { dropNetRawOptions, gigePipeline, gigeSpec, SYSTEM_PYTHON } from '../src/sources/gige.js';
import { featureString } from '../src/sources/gige-features.js';
import { rtspPipeline, rtspSpec } from '../src/sources/rtsp.js';
import { rtspTarget } from '../src/sources/rtsp-target.js';
import { cameraSchema } from '../src/config/schema.js';

const run = promisify(execFile);

const HOSTILE = [
  '! filesink location=/tmp/x',
  'a" ! filesink location="/tmp/x',
  'it\'s "quoted" back',
  'spaces  and = signs, (brackets) [x] {y}',
  'x !filesink location=/tmp/x',
];

function gige(over: Record<string, unknown>) {
  const c = cameraSchema.parse({ type: 'gige', device: 'cam', ...over });
  assert.equal(c.type, 'gige');
  return c as Extract<typeof c, { type: 'gige' }>;
}
function rtsp(url: string) {
  const c = cameraSchema.parse({ type: 'rtsp', url });
  assert.equal(c.type, 'rtsp');
  return c as Extract<typeof c, { type: 'rtsp' }>;
}

describe('quoting for gst-launch', () => {
  test('values are quoted with \\ and " escaped; names and numbers checked', () => {
    assert.equal(quoteGst('a b'), '"a b"');
    assert.equal(quoteGst('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(prop('camera-name', 'x ! y'), 'camera-name="x ! y"');
    assert.equal(prop('fd', 3), 'fd=3');
    assert.equal(prop('sync', false), 'sync=false');
    assert.throws(() => prop('bad name', 'x'), PipelineValueError);
    assert.throws(() => prop('fd', NaN), PipelineValueError);
    assert.throws(() => prop('location', 'a\nb'), /control characters/);
    assert.throws(() => prop('location', ''), /empty/);
    assert.throws(() => prop('location', 'a\\" ! b'), /backslash/);
    assert.throws(() => element('filesink location=x'), PipelineValueError);
    assert.equal(
      capsFilter('video/x-raw', { format: 'RGB', width: 4, height: undefined }),
      'video/x-raw,format=RGB,width=4',
    );
    assert.throws(() => capsFilter('video/x-raw', { format: 'RGB,width=1' }), PipelineValueError);
    assert.throws(() => capsFilter('video/x-raw', { width: 1.5 }), PipelineValueError);
  });

  test('gst-launch takes every quoted value as one literal (filesink writes exactly that file name)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pinpoint-quote-'));
    try {
      for (const name of [...HOSTILE.map((h) => h.replace(/\//g, '_')), '"lead', 'tail"', '"']) {
        const argv = [
          '-q',
          ...element('fakesrc', { 'num-buffers': 1, sizetype: 2, sizemax: 4 }),
          '!',
          // Not the last token: a quoting slip would garble what follows it.
          ...element('filesink', { location: join(dir, name), async: false }),
        ];
        await run('gst-launch-1.0', argv, { timeout: 10000 });
        assert.deepEqual(readdirSync(dir), [name], `file for ${JSON.stringify(name)}`);
        rmSync(join(dir, name));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gige pipeline', () => {
  test('expected argv: camera first, region features mapped, others in one features string', () => {
    const p = gigePipeline(
      gige({
        device: 'Basler acA1300-12345',
        pixelFormat: 'BayerGR8',
        packetSize: 8192,
        features: {
          ExposureTime: 5000,
          Width: 640,
          OffsetX: 8,
          TriggerMode: 'Off',
          ReverseX: true,
          Height: 480,
        },
      }),
    );
    assert.deepEqual(p, [
      'aravissrc',
      'camera-name="Basler acA1300-12345"',
      'packet-size=8192',
      'offset-x=8',
      'features="ExposureTime=5000 TriggerMode=Off ReverseX=true"',
      '!',
      'video/x-bayer,format=grbg,width=640,height=480',
      '!',
      'bayer2rgb',
      '!',
      'videoconvert',
      '!',
      'video/x-raw,format=RGB',
      '!',
      ...frameSinkTokens(),
    ]);
    assert.deepEqual(gigePipeline(gige({ pixelFormat: 'Mono16' })).slice(3, 8), [
      'video/x-raw,format=GRAY16_LE',
      '!',
      'videoconvert',
      '!',
      'video/x-raw,format=GRAY8',
    ]);
  });

  test('hostile device names stay one quoted value; hostile feature values are rejected', () => {
    for (const h of HOSTILE) {
      const p = gigePipeline(gige({ device: h }));
      assert.equal(p[1], `camera-name=${quoteGst(h)}`);
      assert.equal(p.filter((t) => t === '!').length, 4, 'no extra links');
      assert.throws(() => featureString({ TriggerSource: h }), PipelineValueError);
    }
    assert.throws(() => gigePipeline(gige({ device: 'cam\nfilesink' })), /control characters/);
    assert.throws(() => featureString({ 'Bad Name': 1 }), /bad feature name/);
    assert.throws(() => featureString({ PixelFormat: 'Mono8' }), /pixelFormat/);
    assert.throws(() => gigePipeline(gige({ features: { Width: 'x' } })), /integer/);
    assert.equal(
      featureString({ ExposureTime: 1.5e3, Gain: -2.25, X: 'Line0', Y: 'a:b+c-d.e' }),
      'ExposureTime=1500 Gain=-2.25 X=Line0 Y=a:b+c-d.e',
    );
  });

  test('triggered cameras run gige-runner.py: settings as JSON, the same caps/conversion/sink tokens after an appsrc', () => {
    const cfg = gige({
      softwareTrigger: true,
      trigger: { enabled: true },
      pixelFormat: 'BayerGR8',
      features: { Width: 640, OffsetX: 8, ExposureTime: 500, TriggerMode: 'On' },
    });
    const spec = gigeSpec(cfg, { dropNetRaw: false });
    assert.equal(spec.triggered, 'software');
    assert.deepEqual(spec.command!.slice(0, 2), ['/usr/bin/python3', '-I']);
    assert.ok(existsSync(spec.command![2]), spec.command![2]);
    const settings = JSON.parse(spec.command![3]) as Record<string, unknown>;
    assert.deepEqual(settings, {
      device: 'cam',
      pixelFormat: 'BayerGR8',
      caps: 'video/x-bayer,format=grbg',
      bytesPerPixel: 1,
      width: 640,
      offsetX: 8,
      features: 'ExposureTime=500', // TriggerMode=On is the runner's to write (after the selector)
      trigger: 'software',
      maxDelayMs: 100,
      frameTimeoutMs: 300,
    });
    const free = gigePipeline({ ...cfg, softwareTrigger: false, features: { Width: 640, OffsetX: 8 } });
    assert.deepEqual(spec.pipeline.slice(0, 5), [
      'appsrc',
      'name="camera"',
      'is-live=true',
      'format="time"',
      '!',
    ]);
    // The same conversion; the queue keeps every frame (each is a part's) instead of the newest one.
    const keepAll = ['queue', 'max-size-buffers=8', 'max-size-bytes=0', 'max-size-time=0'];
    const tail = free.slice(free.indexOf('!') + 1);
    const q = tail.indexOf('queue');
    assert.deepEqual(
      spec.pipeline.slice(5),
      [...tail.slice(0, q), ...keepAll, ...tail.slice(q + 5)],
      'same tokens after the source',
    );
    // A free-running camera runs the runner too (its receive buffer), keeping only the newest frame.
    const freeSpec = gigeSpec({
      ...cfg,
      softwareTrigger: false,
      trigger: { ...cfg.trigger, enabled: false },
      features: { Width: 640, OffsetX: 8 },
    });
    assert.equal(freeSpec.triggered, undefined);
    assert.equal((JSON.parse(freeSpec.command![3]) as { trigger: string }).trigger, 'none');
    assert.deepEqual(freeSpec.pipeline.slice(5), tail);
    assert.deepEqual(gstArgv(spec).slice(0, 5), ['setpriv', '--pdeathsig', 'KILL', '--', '/usr/bin/python3']);

    for (const [k, v] of [
      ['TriggerMode', 'Off'],
      ['TriggerSource', 'Line0'],
      ['TriggerSelector', 'AcquisitionStart'],
    ]) {
      const over = { softwareTrigger: true, trigger: { enabled: true }, features: { [k]: v } };
      // The schema runs the same rule (config check refuses it), and so does the camera code.
      assert.throws(() => gige(over), new RegExp(`softwareTrigger sets ${k}`));
      const unchecked = {
        ...gige({ softwareTrigger: true, trigger: { enabled: true } }),
        features: { [k]: v },
      };
      assert.throws(() => gigeSpec(unchecked), new RegExp(`features\\.${k}: softwareTrigger sets ${k}`));
    }
    // Hardware trigger (TriggerMode On in the features): the runner too (aravissrc fails after 2 s idle),
    // with the trigger features left to the config.
    const hw = gigeSpec(gige({ features: { TriggerMode: 'On', TriggerSource: 'Line0' } }), {
      dropNetRaw: false,
    });
    assert.equal(hw.triggered, 'hardware');
    assert.equal(
      (JSON.parse(hw.command![3]) as { features: string }).features,
      'TriggerMode=On TriggerSource=Line0',
    );
    assert.equal(
      gigeSpec(gige({}), { dropNetRaw: false }).command?.[0],
      SYSTEM_PYTHON,
      'free run: the runner',
    );
    assert.throws(() => gige({ softwareTrigger: true }), /softwareTrigger needs trigger\.enabled: true/);
    // A hostile device name travels only in the JSON, never in the parsed pipeline.
    for (const h of HOSTILE) {
      const t = gigeSpec(gige({ device: h, softwareTrigger: true, trigger: { enabled: true } }), {
        dropNetRaw: false,
      });
      assert.equal((JSON.parse(t.command![3]) as { device: string }).device, h);
      assert.ok(!t.pipeline.some((tok) => tok.includes(h)));
      assert.equal(t.pipeline.filter((tok) => tok === '!').length, 4, 'no extra links');
    }
    assert.throws(
      () => gigeSpec(gige({ device: 'a\\" ! x', softwareTrigger: true, trigger: { enabled: true } })),
      /backslashes/,
    );
  });

  test('CAP_NET_RAW is dropped only when the daemon has it', () => {
    const status = (eff: string, amb = '0000000000000000') =>
      `Name:\tnode\nCapEff:\t${eff}\nCapAmb:\t${amb}\n`;
    assert.deepEqual(dropNetRawOptions(status('0000000000000000')), []);
    assert.deepEqual(dropNetRawOptions(status('0000000000001000')), []); // bit 12 only
    const w = dropNetRawOptions(status('000001ffffffffff'));
    assert.ok(w.includes('-net_raw'));
    assert.ok(dropNetRawOptions(status('0000000000000000', '0000000000002000')).length > 0);
  });
});

describe('rtsp pipeline', () => {
  test('credentials leave the URL for user-id/user-pw; describe and argv for logs are redacted', () => {
    const cfg = rtsp('rtsp://alice:p%40ss%22w@cam.local:554/stream1');
    assert.deepEqual(rtspTarget(cfg.url), {
      location: 'rtsp://cam.local:554/stream1',
      user: 'alice',
      password: 'p@ss"w',
    });
    const p = rtspPipeline(cfg);
    assert.deepEqual(p.slice(0, 6), [
      'rtspsrc',
      'location="rtsp://cam.local:554/stream1"',
      'user-id="alice"',
      'user-pw="p@ss\\"w"',
      'latency=0',
      'protocols="tcp"',
    ]);
    const spec = rtspSpec(cfg);
    assert.equal(spec.describe, 'rtsp rtsp://***@cam.local:554/stream1 (tcp)');
    const logged = gstArgv(spec)
      .map((a) => redactText(a, spec.secrets))
      .join(' ');
    assert.ok(!logged.includes('p@ss'), logged);
    assert.ok(!spec.describe.includes('alice'));
  });

  test('hostile URLs become one percent-encoded literal or are rejected', () => {
    const p = rtspPipeline(rtsp('rtsp://127.0.0.1:1/x!filesink%20location=/tmp/x'));
    assert.equal(p[1], 'location="rtsp://127.0.0.1:1/x!filesink%20location=/tmp/x"');
    assert.equal(p.filter((t) => t === '!').length, 6);
    const q = rtspPipeline(rtsp('rtsp://127.0.0.1:1/a"b'));
    assert.equal(q[1], 'location="rtsp://127.0.0.1:1/a%22b"');
    assert.throws(() => rtspTarget('rtsp://127.0.0.1:1/a\nb'), PipelineValueError);
    assert.throws(() => rtspTarget('rtsp://127.0.0.1:1/x ! filesink location=/tmp/x'), /whitespace/);
    assert.throws(() => rtspTarget('http://127.0.0.1/'), /rtsp/);
  });
});

test('redactText removes URL credentials anywhere and literal secrets', () => {
  assert.equal(
    redactText('could not open rtsp://bob:hunter22@10.0.0.1/s; again rtsp://x@h/ (pw hunter22)', [
      'hunter22',
    ]),
    'could not open rtsp://***@10.0.0.1/s; again rtsp://***@h/ (pw ***)',
  );
});

test('parseRawVideoCaps reads format and size', () => {
  assert.deepEqual(
    parseRawVideoCaps(
      'video/x-raw, format=(string)RGB, width=(int)1280, height=(int)1024, framerate=(fraction)25/1',
    ),
    { format: 'RGB', width: 1280, height: 1024, channels: 3 },
  );
  assert.equal(
    parseRawVideoCaps('video/x-raw, format=(string)GRAY8, width=(int)6, height=(int)3')?.channels,
    1,
  );
  assert.equal(
    parseRawVideoCaps('video/x-raw, format=(string)I420, width=(int)6, height=(int)4')?.channels,
    0,
  );
  assert.equal(parseRawVideoCaps('video/x-bayer, format=(string)rggb, width=(int)6, height=(int)4'), null);
});

describe('GDP reader', () => {
  test('re-assembles real gdppay output split at every possible chunk size', async () => {
    // 6×3 GRAY8: GStreamer pads rows to 8 bytes, so each buffer is 24 bytes, not 18.
    const { stdout } = await run(
      'gst-launch-1.0',
      [
        '-q',
        'videotestsrc',
        'num-buffers=3',
        'pattern=gradient',
        '!',
        'video/x-raw,format=GRAY8,width=6,height=3,framerate=10/1',
        '!',
        'gdppay',
        '!',
        'fdsink',
        'fd=1',
      ],
      { encoding: 'buffer', timeout: 10000 },
    );
    let reference: string | null = null;
    for (const step of [1, 7, 61, 62, 63, 1000]) {
      const caps: string[] = [];
      const bufs: { len: number; pts: bigint | null; bytes: number[] }[] = [];
      const r = new GdpReader({
        caps: (c) => caps.push(c),
        buffer: (b, pts) => bufs.push({ len: b.length, pts, bytes: [...b] }),
      });
      for (let i = 0; i < stdout.length; i += step) r.push(stdout.subarray(i, i + step));
      assert.equal(caps.length, 1);
      assert.match(caps[0], /^video\/x-raw, format=\(string\)GRAY8, width=\(int\)6, height=\(int\)3/);
      assert.deepEqual(
        bufs.map((b) => b.len),
        [24, 24, 24],
      );
      assert.deepEqual(
        bufs.map((b) => b.pts),
        [0n, 100000000n, 200000000n],
      );
      const s = JSON.stringify(bufs.map((b) => ({ ...b, pts: String(b.pts) })));
      reference ??= s;
      assert.equal(s, reference, `chunk size ${step}`);
    }
  });

  test('a stream that is not GDP is an error, not a misaligned frame', () => {
    const r = new GdpReader({ caps: () => {}, buffer: () => assert.fail('no frame') });
    assert.throws(() => r.push(Buffer.alloc(100, 7)), /not a GDP/);
  });
});

test('CameraClock: capture time = camera time + minimum offset over the window', () => {
  const c = new CameraClock(4);
  // camera ticks 40 ms; transfer 5 ms + jitter; host clock 1000 ms ahead of the camera's.
  const jitter = [3, 0, 7, 1, 9, 2, 0, 4];
  const out = jitter.map((j, i) => c.map(i * 40, 1000 + i * 40 + 5 + j));
  assert.deepEqual(out.slice(0, 2), [1000 + 8, 1040 + 5]);
  // From the second frame on, the offset is the minimum seen (1005) until it leaves the 4-frame window.
  assert.deepEqual(out, [1008, 1045, 1085, 1125, 1165, 1206, 1245, 1285]);
  c.reset();
  assert.equal(c.map(0, 50), 50);
});

test('backoff doubles to the cap with bounded jitter', () => {
  const o = { initialMs: 100, maxMs: 1000, jitter: 0.2 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, o, () => 0.5)),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(
    backoffDelay(0, o, () => 0),
    80,
  );
  assert.equal(
    backoffDelay(0, o, () => 1),
    120,
  );
  assert.ok(!existsSync('/tmp/x'), 'nothing ever created /tmp/x');
});
