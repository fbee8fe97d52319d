// What `pinpoint train` tells the user while it trains: the progress text states the real plan (a fixed run
// counts to its end; the auto schedule counts to its minimum, then trains on until the loss levels off, at
// most N steps), and piped output stays a bounded number of lines whatever the number of epochs.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { makeDataset } from '../src/synthetic/parts.js';
import type { TrainProgress } from '../src/teach/progress.js';
import { ProgressLogPace } from '../src/teach/progress-log-pace.js';
import { duration, trainProgressText } from '../src/teach/progress-text.js';
import { writeImage } from '../src/util/image-io.js';
import { runCli } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-train-progress-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const auto = { kind: 'auto', minSteps: 1002, maxSteps: 5001, maxEpochs: 1667 } as const;
const at = (step: number, plan: TrainProgress['plan'], eta: number): TrainProgress => ({
  phase: 'train',
  epoch: Math.ceil(step / 3),
  step,
  plan,
  loss: 0.01234,
  elapsedSeconds: 75,
  etaSeconds: eta,
});

describe('train progress text', () => {
  test('auto schedule before its minimum: a bar to the minimum, then the open end with its bound', () => {
    assert.equal(
      trainProgressText(at(501, auto, 42)),
      'training [##########..........] step 501/1002 loss 0.0123, minimum in 42s, ' +
        'then until the loss levels off, at most 5001',
    );
  });

  test('auto schedule past its minimum: no bar and no ETA, the open end and the time so far', () => {
    const text = trainProgressText(at(1200, auto, NaN));
    assert.equal(
      text,
      'training step 1200 loss 0.0123, 1m15s so far: past the minimum 1002, ' +
        'until the loss levels off, at most 5001',
    );
    assert.doesNotMatch(text, /ETA/);
  });

  test('fixed epochs: a bar to the last step, epochs and ETA; no bar for the log', () => {
    const fixed = { kind: 'epochs', epochs: 200, steps: 600 } as const;
    assert.equal(
      trainProgressText(at(150, fixed, 3725)),
      'training [#####...............] step 150/600 epoch 50/200 loss 0.0123 ETA 1h02m',
    );
    assert.equal(
      trainProgressText(at(150, fixed, 65), false),
      'training step 150/600 epoch 50/200 loss 0.0123 ETA 1m05s',
    );
  });

  test('durations round before they split (59.6 s is 1m00s, not 0m60s)', () => {
    assert.deepEqual(
      [duration(59.6), duration(119.7), duration(3599.6), duration(NaN)],
      ['1m00s', '2m00s', '1h00m', '?'],
    );
  });
});

describe('progress log pace', () => {
  test('every 10 s at first, then a tenth of the time so far: a 2 h run logs a few dozen lines', () => {
    const pace = new ProgressLogPace();
    let lines = 0;
    const times: number[] = [];
    // An epoch every 5 ms for two hours.
    for (let t = 0; t <= 7200; t += 0.005) {
      if (pace.due(t)) {
        lines++;
        times.push(t);
      }
    }
    assert.ok(lines >= 30 && lines <= 60, `${lines} lines`);
    assert.ok(Math.abs(times[0] - 10) < 0.01 && Math.abs(times[1] - 20) < 0.01, times.slice(0, 3).join());
    assert.ok(times[times.length - 1] > 6000, 'still reporting near the end');
  });
});

describe('pinpoint train, piped', () => {
  test(
    '600 epochs give a bounded number of log lines, the final one included',
    { timeout: 180000 },
    async () => {
      writeDevTeacher(join(tmp, 't.safetensors'), { depth: 2, dim: 16, heads: 2, seed: 1 });
      const model = join(tmp, 'model');
      createBundle({ teacherPath: join(tmp, 't.safetensors'), outDir: model, size: 56, layers: [1, 2] });
      const imgs = join(tmp, 'good');
      mkdirSync(imgs);
      makeDataset({ good: 5, defective: 0, seed: 1, width: 64, height: 48 }).forEach((p, i) =>
        writeImage(join(imgs, `g${i}.png`), { width: p.width, height: p.height, channels: 3, data: p.rgb }),
      );
      const r = await runCli(
        ['train', '--model', model, '--images', imgs, '--epochs', '600', '--device', 'cpu', '--threads', '1'],
        { timeoutMs: 170000 },
      );
      assert.equal(r.code, 0, r.stderr);
      const records = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      // One line per epoch before: 600 "epoch done" lines.
      // Progress every 10 s: a slow host writes a few more lines, never hundreds.
      assert.ok(records.length <= 40, `${records.length} log lines:\n${r.stderr.slice(0, 3000)}`);
      assert.ok(!records.some((x) => x.msg === 'epoch done'));
      const done = records.find((x) => x.msg === 'students trained');
      assert.ok(done, r.stderr);
      assert.deepEqual([done.epochs, done.stoppedBy], [600, 'epochs']);
      assert.match(r.stdout, /600 epochs/);
    },
  );
});
