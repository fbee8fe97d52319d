// `pinpoint demo`: the whole product on one machine, no GPU, no downloads, in a few minutes:
//   1. a seeded dev teacher (random weights: NOT a real backbone; it sees coarse defects only),
//   2. good synthetic parts, 3. a model bundle and teach-in, 4. a local mosquitto broker,
//   5. `pinpoint run` on two synthetic cameras, 6. the verdict stream as a PLC gateway sees it over MQTT,
//      one line per part, compared with the defect that was injected.
// Ctrl-C stops the daemon cleanly (it publishes `stopped`), then the broker. A second Ctrl-C exits at once.
// Without mosquitto (and no --mqtt URL) the engine runs inside the demo and prints verdicts directly.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { startApp } from '../app.js';
import { configSchema } from '../config/schema.js';
import type { CameraConfig } from '../config/schema.js';
import { createBundle, readManifest } from '../model/bundle.js';
import { writeDevTeacher } from '../model/dev-teacher.js';
import type { InspectionResult } from '../pipeline/result.js';
import type { Sink } from '../sinks/types.js';
import { syntheticParts } from '../sources/synthetic.js';
import { makeDataset } from '../synthetic/parts.js';
import type { SyntheticPart } from '../synthetic/parts.js';
import { teachIn } from '../teach/teach-in.js';
import type { TeachInProgress } from '../teach/teach-in.js';
import { trainProgressText } from '../teach/progress-text.js';
import { writeImage } from '../util/image-io.js';
import { createLogger } from '../util/log.js';
import { freePort, waitForPort } from '../util/net.js';
import { findMosquitto, startLocalMosquitto } from './broker.js';
import type { LocalBroker } from './broker.js';
import { formatVerdictLine, judge } from './verdict-line.js';
import type { PartTruth } from './verdict-line.js';

export interface DemoOptions {
  /** Working directory for the teacher, model, images, config and logs. */
  dir: string;
  /** Model input side S. */
  size: number;
  /** Parts per camera (0: until Ctrl-C). */
  parts: number;
  fps: number;
  /** Teach in again even when the directory holds a taught model. */
  retrain: boolean;
  /** An existing broker instead of a local mosquitto. */
  mqttUrl?: string;
  out?: NodeJS.WriteStream;
}

const TOPIC_PREFIX = 'pinpoint/demo';
const FRAME = { width: 320, height: 240 };
const GOOD_PARTS = 24;
const CAMERAS = { left: 11, right: 12 } as const;

type SyntheticConfig = Extract<CameraConfig, { type: 'synthetic' }>;

function cameraConfig(seed: number, o: DemoOptions): Record<string, unknown> {
  return {
    type: 'synthetic',
    ...FRAME,
    fps: o.fps,
    count: o.parts,
    seed,
    defectRate: 0.3,
    // Defects at least two teacher patches wide at the default S (a patch covers 14·320/S frame pixels).
    defectKinds: ['dent', 'missing', 'spot'],
    defectSizes: [64, 80, 96],
  };
}

/** Ground truth of each camera's parts, generated on demand in the daemon's order (same seeds). */
class Truths {
  private readonly gens = new Map<
    string,
    { it: Generator<SyntheticPart>; seq: number; known: Map<number, PartTruth> }
  >();

  constructor(cameras: Record<string, SyntheticConfig>) {
    for (const [id, cfg] of Object.entries(cameras)) {
      this.gens.set(id, { it: syntheticParts(cfg), seq: 0, known: new Map() });
    }
  }

  get(cameraId: string, seq: number | null): PartTruth | undefined {
    const g = this.gens.get(cameraId);
    if (!g || seq === null) return undefined;
    while (g.seq < seq) {
      const p = g.it.next().value as SyntheticPart;
      g.seq++;
      g.known.set(g.seq, { defect: p.defect });
      if (g.known.size > 256) g.known.delete(g.known.keys().next().value as number);
    }
    return g.known.get(seq);
  }
}

class Tally {
  parts = 0;
  rejects = 0;
  caught = 0;
  missed = 0;
  falseRejects = 0;
  defective = 0;

  add(r: InspectionResult, t: PartTruth | undefined): void {
    this.parts++;
    if (r.verdict !== 'ok') this.rejects++;
    const j = judge(r, t);
    if (t?.defect) this.defective++;
    if (j?.startsWith('caught')) this.caught++;
    if (j?.startsWith('MISSED')) this.missed++;
    if (j?.startsWith('FALSE')) this.falseRejects++;
  }

  toString(): string {
    const good = this.parts - this.defective;
    return (
      `${this.parts} parts, ${this.rejects} rejected; defective ${this.defective}: ${this.caught} caught, ` +
      `${this.missed} missed; good ${good}: ${this.falseRejects} false rejects`
    );
  }
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const out = o.out ?? process.stdout;
  const color = out.isTTY === true;
  const say = (s: string): void => void out.write(s + '\n');
  const step = (n: number, s: string): void =>
    say(color ? `\u001b[1m[${n}/6]\u001b[0m ${s}` : `[${n}/6] ${s}`);
  const t0 = Date.now();
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });

  // 1. Teacher.
  const teacher = join(dir, 'dev-teacher.safetensors');
  if (!existsSync(teacher)) writeDevTeacher(teacher, { seed: 0 });
  step(1, `dev teacher ${teacher} (random weights, NOT a real backbone: it only sees coarse defects)`);

  // 2-3. Good parts and teach-in, unless a taught model of this size is already there.
  const bundleDir = join(dir, 'model');
  let taught = false;
  try {
    const m = readManifest(bundleDir);
    taught = !o.retrain && m.thresholds !== undefined && m.input.size === o.size;
  } catch {
    taught = false;
  }
  if (taught) {
    step(2, `good parts: already taught in (${bundleDir}; --retrain to do it again)`);
    step(3, 'teach-in: skipped');
  } else {
    const goodDir = join(dir, 'good');
    mkdirSync(goodDir, { recursive: true });
    const good = makeDataset({ good: GOOD_PARTS, defective: 0, seed: 1000, ...FRAME });
    good.forEach((p, i) =>
      writeImage(join(goodDir, `good-${String(i).padStart(2, '0')}.png`), {
        width: p.width,
        height: p.height,
        channels: 3,
        data: p.rgb,
      }),
    );
    step(2, `${good.length} good parts ${FRAME.width}×${FRAME.height} in ${goodDir}`);
    createBundle({ teacherPath: teacher, outDir: bundleDir, size: o.size, force: true });
    step(3, `teach-in at S = ${o.size} (a minute or less on two cores)…`);
    let last = 0;
    const progress = (p: TeachInProgress): void => {
      if (p.phase !== 'train' || Date.now() - last < 1000) return;
      last = Date.now();
      const line = `      ${trainProgressText(p, false)}`;
      out.write(color ? `\r${line}\u001b[K` : line + '\n');
    };
    const r = await teachIn({
      bundleDir,
      images: good.map((p) => ({ width: p.width, height: p.height, channels: 3 as const, data: p.rgb })),
      // The dev teacher is tiny: the CPU is quick and needs no GPU provider probing (noisy on GPU-less hosts).
      options: { seed: 0, device: 'cpu' },
      onProgress: progress,
    });
    if (color) out.write('\r\u001b[K');
    say(
      `      ${r.steps} steps, loss ${r.finalLoss.toFixed(4)}; thresholds: reject ${r.thresholds?.reject.toFixed(4)}, ` +
        `pixel ${r.thresholds?.pixel.toFixed(4)} (calibrated on ${r.images.holdout} held-out good parts)`,
    );
  }

  // 4. Broker.
  let broker: LocalBroker | undefined;
  let url = o.mqttUrl;
  if (!url) {
    const bin = findMosquitto();
    if (bin) {
      broker = await startLocalMosquitto(bin, dir);
      url = broker.url;
      step(4, `mosquitto ${url} (log ${join(dir, 'mosquitto.log')})`);
    } else {
      step(
        4,
        'mosquitto is not installed (sudo apt-get install mosquitto; `make demo` installs it), and no --mqtt URL: ' +
          'FALLBACK: the engine runs inside the demo and verdicts are printed directly, not over MQTT',
      );
    }
  } else step(4, `MQTT broker ${url}`);

  // 5. Config and daemon.
  const webPort = await freePort();
  const cameras: Record<string, unknown> = {};
  for (const [id, seed] of Object.entries(CAMERAS)) cameras[id] = cameraConfig(seed, o);
  const rawConfig = {
    cameras,
    pipeline: { inputSize: o.size, batch: { maxBatch: 4, maxWaitMs: 20 } },
    model: { path: 'model' },
    // One core left to the pipeline's main thread (docs/pipeline.md).
    inference: { device: 'auto', threads: Math.max(1, cpus().length - 1) },
    verdict: { deadlineMs: 2000, failSafe: 'reject' },
    mqtt: { url: url ?? 'mqtt://127.0.0.1:1883', topicPrefix: TOPIC_PREFIX, outbox: { dir: 'outbox' } },
    logging: { level: 'info', pretty: 'never' },
    // The operator console on loopback, with rejects (and a tenth of good parts) archived for its drill-down.
    web: { enabled: true, port: webPort },
    archive: { enabled: true, dir: 'archive', keep: 'rejects+10%', maxMegabytes: 256 },
  };
  const config = configSchema.parse(rawConfig);
  const configFile = join(dir, 'pinpoint.yaml');
  writeFileSync(configFile, '# written by `pinpoint demo`\n' + stringify(rawConfig));
  const truths = new Truths(config.cameras as Record<string, SyntheticConfig>);
  const tally = new Tally();
  const print = (r: InspectionResult): void => {
    const t = truths.get(r.cameraId, r.seq);
    tally.add(r, t);
    say(formatVerdictLine(r, t, { color }));
  };
  const logFile = join(dir, 'pinpoint.log');

  if (!url) return runInProcess(config, dir, logFile, print, tally, say, step, t0);

  const logFd = openSync(logFile, 'a');
  const daemon: ChildProcess = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1], 'run', '--config', configFile],
    // Own process group: the terminal's Ctrl-C reaches only the demo, which then stops the daemon first. The
    // IPC channel makes the daemon stop by itself if the demo dies without cleaning up (e.g. SIGKILL).
    { stdio: ['ignore', logFd, logFd, 'ipc'], detached: true },
  );
  closeSync(logFd);
  const exited = new Promise<number | null>((r) => daemon.once('exit', (code) => r(code)));
  step(5, `pinpoint run --config ${configFile}  (pid ${daemon.pid}, log ${logFile})`);

  // 6. What a PLC gateway sees.
  let stoppedSeen: () => void = () => undefined;
  const stoppedStatus = new Promise<void>((r) => (stoppedSeen = r));
  const sub = mqtt.connect(url, { clientId: `pinpoint-demo-${process.pid}`, reconnectPeriod: 500 });
  sub.on('connect', () => sub.subscribe(`${TOPIC_PREFIX}/#`, { qos: 1 }));
  sub.on('message', (topic, payload) => {
    const rest = topic.slice(TOPIC_PREFIX.length + 1);
    const text = payload.toString();
    if (rest === 'status') {
      say(`      status: ${text}`);
      if (text === 'stopped') stoppedSeen();
    } else if (rest.endsWith('/result')) {
      try {
        print(JSON.parse(text) as InspectionResult);
      } catch {
        say(`      unreadable result on ${topic}`);
      }
    } else if (rest.endsWith('/state')) {
      try {
        const s = JSON.parse(text) as { state: string; detail?: string };
        say(`      camera ${rest.split('/')[0]}: ${s.state}${s.detail ? ` (${s.detail})` : ''}`);
      } catch {
        // not ours
      }
    }
  });
  step(6, `verdicts as a PLC sees them on ${TOPIC_PREFIX}/<camera>/result (Ctrl-C stops)`);
  // The console's address is printed once it answers, so that it works when clicked. Verdicts may come before
  // it: the outbox of a run that was killed is delivered as soon as the daemon reaches the broker.
  void waitForPort(webPort, 60000, 'the operator console', () =>
    daemon.exitCode !== null ? 'the daemon exited' : null,
  ).then(
    () => {
      say(`      operator console: http://127.0.0.1:${webPort}/`);
      say(`      ready after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    },
    () => undefined, // the daemon's exit is reported below, with the end of its log
  );

  let signals = 0;
  let stopping: Promise<void> | null = null;
  const killAll = (): void => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    broker?.process.stdin?.end(); // its shell stops mosquitto (it would also when our end of the pipe closes)
  };
  const onExit = (): void => killAll();
  process.on('exit', onExit);
  const stopDaemon = (): Promise<void> =>
    (stopping ??= (async () => {
      say('      stopping: the daemon drains its frames and publishes `stopped`…');
      if (daemon.exitCode === null) daemon.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15000))]);
    })());
  const onSignal = (): void => {
    if (++signals > 1) {
      killAll();
      process.exit(130);
    }
    void stopDaemon();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const code = await exited;
  if (daemon.connected) daemon.disconnect();
  await Promise.race([stoppedStatus, new Promise((r) => setTimeout(r, 1000))]);
  await new Promise<void>((r) => sub.end(false, {}, () => r()));
  await broker?.stop();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('exit', onExit);
  say(`      ${tally}`);
  if (code !== 0) {
    const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n');
    say(`pinpoint run exited with status ${code}; the end of ${logFile}:\n${tail}`);
    return 1;
  }
  return 0;
}

/** The fallback without a broker: the app in this process, verdicts printed by a sink. */
async function runInProcess(
  config: ReturnType<typeof configSchema.parse>,
  dir: string,
  logFile: string,
  print: (r: InspectionResult) => void,
  tally: Tally,
  say: (s: string) => void,
  step: (n: number, s: string) => void,
  t0: number,
): Promise<number> {
  const logStream = createWriteStream(logFile, { flags: 'a' });
  const log = createLogger({ level: 'info', pretty: 'never', destination: logStream });
  const terminal: Sink = {
    name: 'terminal',
    start: async () => undefined,
    result: print,
    cameraState: (id, state, detail) => say(`      camera ${id}: ${state}${detail ? ` (${detail})` : ''}`),
    stop: async () => undefined,
  };
  const noMqtt = { ...config, mqtt: { ...config.mqtt, enabled: false } };
  const app = await startApp({ config: noMqtt, configDir: dir, log, sinks: [terminal] });
  step(5, `engine running in this process (log ${logFile})`);
  say(`      operator console: http://127.0.0.1:${config.web.port}/`);
  step(
    6,
    `verdicts straight from the engine (Ctrl-C stops); ready after ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  );
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(130);
    say('      stopping…');
    void app.stop('Ctrl-C');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await app.done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  logStream.end();
  say(`      ${tally}`);
  return 0;
}
