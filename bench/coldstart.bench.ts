// Cold start of the CLI, side by side for this build and an optional earlier one:
//
//   --help          process start to exit (module loading only).
//   infer           `pinpoint infer` of one 320×240 image on the CPU, process start to exit, model graph already
//                   cached (the usual case: the cache is built once per bundle and code version).
//   first verdict   `pinpoint run` with one synthetic camera: process start to its first result message on MQTT
//                   (config, bundle verification, inference session, warm-up, first frame).
//
// Each round runs every build once, in turn, so a loaded machine slows them alike; medians are printed with
// the ratio to the first build. Environment:
//   PINPOINT_BASE=DIR      another checkout with a built dist/ (e.g. the commit before a change): "before".
//   PINPOINT_COLDSTART_TEACHER=FILE  teacher weights to build the bundle from (e.g. a ViT-B-wide dev teacher,
//                          `pinpoint model dev-teacher --dim 768 --heads 12`); default a small dev teacher.
//   PINPOINT_COLDSTART_SIZE=S (default 112), PINPOINT_COLDSTART_ROUNDS=N (default 3).
// Run `npm run build` first: the builds are run as installed (node bin/pinpoint.js).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { writeImage } from '../src/util/image-io.js';
import { startMosquitto, type Broker } from '../test/helpers/mosquitto.js';
import { record } from '../test/helpers/mqtt.js';

const SIZE = Number(process.env.PINPOINT_COLDSTART_SIZE ?? 112);
const ROUNDS = Number(process.env.PINPOINT_COLDSTART_ROUNDS ?? 3);
const TIMEOUT_MS = 600_000;

interface Build {
  name: string;
  bin: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Milliseconds from spawn to exit (a non-zero exit is an error with the output). */
function timeCommand(b: Build, args: string[]): Promise<number> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [b.bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0
        ? done(performance.now() - t0)
        : fail(new Error(`${b.name} ${args.join(' ')}: exit ${code}\n${out}`)),
    );
  });
}

/** Milliseconds from spawn of `pinpoint run` to its first result on MQTT; the daemon is then stopped. */
async function timeFirstVerdict(b: Build, config: string, broker: Broker): Promise<number> {
  const rec = await record(broker.url, ['coldstart/+/result']);
  const t0 = performance.now();
  const child = spawn(process.execPath, [b.bin, 'run', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await Promise.race([
      rec.waitFor(() => rec.msgs.length > 0, `${b.name}: first result`, TIMEOUT_MS),
      exited.then(() => {
        throw new Error(`${b.name}: pinpoint run exited before a verdict\n${out}`);
      }),
    ]);
    return performance.now() - t0;
  } finally {
    child.kill('SIGTERM');
    await exited;
    await rec.end();
  }
}

function fixtures(dir: string): { bundle: string; image: string } {
  const teacher = process.env.PINPOINT_COLDSTART_TEACHER ?? join(dir, 'teacher.safetensors');
  if (!process.env.PINPOINT_COLDSTART_TEACHER) writeDevTeacher(teacher, { seed: 1 });
  const bundle = join(dir, 'bundle');
  createBundle({ teacherPath: resolve(teacher), outDir: bundle, size: SIZE });
  const image = join(dir, 'part.png');
  const data = new Uint8Array(320 * 240 * 3).map((_, i) => (i * 7) % 251);
  writeImage(image, { width: 320, height: 240, channels: 3, data });
  return { bundle, image };
}

function runConfig(dir: string, bundle: string, broker: Broker): string {
  const file = join(dir, 'run.yaml');
  writeFileSync(
    file,
    [
      'cameras:',
      '  cam:',
      '    type: synthetic',
      '    fps: 20',
      `pipeline:\n  inputSize: ${SIZE}`,
      `model:\n  path: ${bundle}`,
      'inference:\n  device: cpu',
      'verdict:\n  rejectThreshold: 1000\n  pixelThreshold: 1000',
      `mqtt:\n  url: ${broker.url}\n  topicPrefix: coldstart\n  outbox:\n    dir: ${join(dir, 'outbox')}`,
      'logging:\n  level: warn',
    ].join('\n') + '\n',
  );
  return file;
}

export async function run(): Promise<void> {
  const builds: Build[] = [{ name: 'this build', bin: resolve('bin/pinpoint.js') }];
  if (process.env.PINPOINT_BASE)
    builds.unshift({
      name: `base (${process.env.PINPOINT_BASE})`,
      bin: resolve(process.env.PINPOINT_BASE, 'bin/pinpoint.js'),
    });
  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-coldstart-'));
  const { bundle, image } = fixtures(dir);
  const broker = await startMosquitto();
  try {
    const config = runConfig(dir, bundle, broker);
    const inferArgs = ['infer', '--model', bundle, '--device', 'cpu', image];
    // Untimed: builds the model graph cache (shared: same graph code) and each build's hash cache.
    for (const b of builds) await timeCommand(b, inferArgs);
    const t: Record<string, Record<string, number[]>> = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const b of builds) {
        const m = (t[b.name] ??= { '--help': [], infer: [], 'first verdict': [] });
        m['--help'].push(await timeCommand(b, ['--help']));
        m.infer.push(await timeCommand(b, inferArgs));
        m['first verdict'].push(await timeFirstVerdict(b, config, broker));
      }
    }
    const teacher = process.env.PINPOINT_COLDSTART_TEACHER ?? 'small dev teacher';
    console.log(`S=${SIZE}, ${teacher}, ${ROUNDS} rounds, load average ${loadavg()[0].toFixed(1)}; medians:`);
    const first = builds[0].name;
    for (const what of ['--help', 'infer', 'first verdict']) {
      const cells = builds.map((b) => {
        const ms = median(t[b.name][what]);
        const ratio = b.name === first ? '' : ` (×${(ms / median(t[first][what])).toFixed(2)})`;
        return `${b.name} ${(ms / 1000).toFixed(2)} s${ratio}`;
      });
      console.log(`  ${what.padEnd(14)} ${cells.join('   ')}`);
    }
  } finally {
    await broker.stop();
  }
}
