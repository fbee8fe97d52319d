// The composition root of `pinpoint run`: config → logger, model, engine, sources, sinks, systemd notifier;
// and the orderly shutdown. Everything here is wiring; the behaviour lives in the modules it wires.
//
// Shutdown (stop()): the sources are stopped, the frames already in the pipeline are inspected (their verdicts
// published; any part still undecided gets its fail-safe verdict from its deadline, so the drain needs at most
// the deadline plus a margin), then the sinks flush and stop (MQTT publishes `stopped`) and the model is released.
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { Subject, filter, map, merge, takeUntil } from 'rxjs';
import type { Subscription } from 'rxjs';
import type { CameraConfig, Config } from './config/schema.js';
import { readManifest } from './model/bundle.js';
import { Engine } from './pipeline/engine.js';
import type { EngineCamera, EngineStats } from './pipeline/engine.js';
import type { PartTrigger } from './pipeline/triggers.js';
import { openModelInWorker } from './pipeline/worker-model.js';
import type { WorkerModel } from './pipeline/worker-model.js';
import { resolveVerdictSettings } from './pipeline/verdict.js';
import { DaemonStatus } from './sinks/daemon-status.js';
import { createSinks } from './sinks/registry.js';
import { SinkSet } from './sinks/sink-set.js';
import { SinkConfigError } from './sinks/types.js';
import type { Sink } from './sinks/types.js';
import { sourcePlugin } from './sources/registry.js';
import { restartOnError } from './sources/restart-on-error.js';
import type { SourcePlugin, SourceState } from './sources/types.js';
import type { Logger } from './util/log.js';
import { createLogger, levelFromEnv } from './util/log.js';
import type { Notifier } from './util/systemd.js';
import { createNotifier } from './util/systemd.js';

/** TEST ONLY: every inference call blocks the inference thread this many ms first (deadline tests). */
export const TEST_INFER_DELAY_ENV = 'PINPOINT_TEST_INFER_DELAY_MS';

/** A config that cannot run (no model, no cameras, a camera type this build lacks): exit 2, not a crash. */
export class AppConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppConfigError';
  }
}

export interface AppOptions {
  config: Config;
  /** Relative paths in the config resolve against this (the config file's directory). */
  configDir: string;
  log?: Logger;
  notifier?: Notifier;
  /** Outputs besides the configured ones (the demo's terminal printer). */
  sinks?: Sink[];
  /** TEST ONLY: every inference call blocks the inference thread this long first (see TEST_INFER_DELAY_ENV). */
  testInferDelayMs?: number;
  /** How often the engine's counters are logged (ms; 0: never). Default 60 s. */
  statsEveryMs?: number;
}

export interface App {
  readonly engine: Engine;
  /** Model, camera states and counters, as the outputs see them. */
  readonly status: DaemonStatus;
  readonly model: WorkerModel;
  /** Resolves once the app has stopped: all finite sources ended, or stop() was called. */
  readonly done: Promise<void>;
  /** Stops the sources, drains what is in flight, stops the sinks. Idempotent. */
  stop(reason?: string): Promise<void>;
}

interface Camera {
  id: string;
  cfg: CameraConfig;
  plugin: SourcePlugin;
}

function enabledCameras(config: Config): Camera[] {
  const out: Camera[] = [];
  for (const [id, cfg] of Object.entries(config.cameras)) {
    if (!cfg.enabled) continue;
    const plugin = sourcePlugin(cfg.type);
    if (!plugin) throw new AppConfigError(`camera ${id}: type '${cfg.type}' is not supported by this build`);
    out.push({ id, cfg, plugin: plugin as SourcePlugin });
  }
  if (out.length === 0) throw new AppConfigError('no enabled cameras in the config');
  return out;
}

export async function startApp(o: AppOptions): Promise<App> {
  const { config } = o;
  const log = o.log ?? createLogger({ level: config.logging.level, pretty: config.logging.pretty });
  const notifier = o.notifier ?? createNotifier();
  const cameras = enabledCameras(config);
  if (!config.model) throw new AppConfigError('model.path is not set: pinpoint run needs a model bundle');

  // The manifest only: the worker loads (and verifies) the weights, so they are never held twice.
  const bundleDir = resolve(o.configDir, config.model.path);
  const m = readManifest(bundleDir);
  if (m.teacher.devTeacher)
    log.warn('the model uses a DEV TEACHER (random weights, not a real backbone): for tests and demos only');
  if (config.pipeline.inputSize !== m.input.size) {
    log.info(
      { configured: config.pipeline.inputSize, bundle: m.input.size },
      'pipeline.inputSize differs from the bundle: the bundle was built for its size, which is used',
    );
  }
  // In a worker thread: onnxruntime-node runs sessions synchronously on the calling thread.
  const model = await openModelInWorker(bundleDir, {
    device: config.inference.device,
    threads: config.inference.threads,
    fp16: config.inference.fp16,
    cacheDir: config.model.cacheDir ? resolve(o.configDir, config.model.cacheDir) : undefined,
    logLevel: levelFromEnv(config.logging.level),
    logPretty: config.logging.pretty,
    testDelayMs: o.testInferDelayMs,
  });
  if (model.provider === 'cpu' && config.inference.threads === 0 && cpus().length > 1) {
    log.info(
      { cores: cpus().length },
      'inference on the CPU with all cores: inference.threads = cores - 1 leaves one to the pipeline and is usually faster (docs/pipeline.md)',
    );
  }
  const delay = o.testInferDelayMs ?? 0;
  if (delay > 0) log.warn({ ms: delay }, `TEST ONLY: inference slowed by ${delay} ms per batch`);

  const engineCameras = new Map<string, EngineCamera>();
  for (const { id, cfg } of cameras) {
    const v = resolveVerdictSettings(m.thresholds, config.verdict, cfg.verdict);
    if (!v.thresholds) {
      log.error(
        { camera: id, missing: v.missing },
        'NO THRESHOLDS: the model was not taught in (pinpoint train) and the config sets none; ' +
          `every part of camera ${id} gets the error verdict (fail-safe)`,
      );
    }
    engineCameras.set(id, {
      queue: cfg.queue,
      verdict: v,
      triggerWindowMs: cfg.trigger.enabled ? cfg.trigger.windowMs : null,
    });
  }
  // Triggers the engine's correlation accepted (not duplicates, for a camera that takes triggers): each fires
  // its camera once when that camera is software-triggered, so every picture has a part waiting for it.
  const accepted$ = new Subject<PartTrigger>();
  const status = new DaemonStatus(
    model.modelId,
    cameras.map((c) => c.id),
  );
  const sinks = new SinkSet(
    [...createSinks(config, { log, configDir: o.configDir, status, config }), ...(o.sinks ?? [])],
    log,
  );
  const engine = new Engine({
    model,
    cameras: engineCameras,
    maxBatch: config.pipeline.batch.maxBatch,
    maxWaitMs: config.pipeline.batch.maxWaitMs,
    deadlineMs: config.verdict.deadlineMs,
    failSafe: config.verdict.failSafe,
    log,
    onTriggerAccepted: (t) => accepted$.next(t),
    evidence: sinks.wantsEvidence,
    onBatch: (b) => status.batch(b),
  });
  status.attachEngine(
    () => engine.stats(),
    () => engine.pending,
  );

  await engine.warmUp();
  status.modelReady = true;

  await sinks.start().catch(async (err: unknown) => {
    await model.release().catch(() => undefined);
    if (err instanceof SinkConfigError) throw new AppConfigError(err.message);
    throw err;
  });

  const stop$ = new Subject<void>();
  const partTriggers$ = sinks.triggers$;
  const frames$ = merge(
    ...cameras.map(({ id, cfg, plugin }) => {
      const clog = log.child({ camera: id });
      const onState = (state: SourceState, detail?: string): void => {
        clog.info({ state, detail }, `camera ${state}`);
        status.setCameraState(id, state, detail);
        sinks.cameraState(id, state, detail);
      };
      // A software-triggered camera takes its picture when the correlation accepts a PLC part message for it
      // (the same message gives that frame its part id).
      const softwareTrigger$ =
        cfg.type === 'gige' && cfg.softwareTrigger
          ? accepted$.pipe(
              filter((t) => t.cameraId === id),
              map(() => undefined),
            )
          : undefined;
      const ctx = { log: clog, configDir: o.configDir, onState, softwareTrigger$ };
      const src = plugin.create(id, cfg as never, ctx);
      return src.pipe(restartOnError(id, clog, onState), takeUntil(stop$));
    }),
  );

  let engineDone!: () => void;
  const engineFinished = new Promise<void>((r) => (engineDone = r));
  const engineSub: Subscription = engine.decisions(frames$, partTriggers$).subscribe({
    next: (d) => sinks.result(d.result, d.evidence),
    error: (err: unknown) => {
      log.fatal({ err }, 'engine failed');
      engineDone();
    },
    complete: () => engineDone(),
  });

  let stopping = false;
  let stopped: Promise<void> | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const statsEvery = o.statsEveryMs ?? 60000;
  const statsTimer =
    statsEvery > 0
      ? setInterval(() => log.info({ stats: summary(engine.stats()) }, 'engine stats'), statsEvery)
      : null;
  statsTimer?.unref();
  const stopWatchdog = notifier.startWatchdog(() => !stopping);
  notifier.ready(`inspecting ${cameras.length} camera(s) with model ${model.modelId}`);
  log.info(
    { cameras: cameras.map((c) => c.id), model: model.modelId, provider: model.provider, size: model.size },
    'pinpoint running',
  );

  const drainMs = config.verdict.deadlineMs + 1000;
  const shutdown = async (reason: string): Promise<void> => {
    stopping = true;
    notifier.stopping();
    log.info({ reason, inFlight: engine.pending }, 'stopping: draining frames in flight');
    stop$.next();
    let t: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      engineFinished.then(() => true),
      new Promise<boolean>((r) => (t = setTimeout(() => r(false), drainMs))),
    ]);
    clearTimeout(t);
    if (!drained) log.warn({ drainMs, inFlight: engine.pending }, 'drain bound reached; leaving the rest');
    engineSub.unsubscribe();
    if (statsTimer) clearInterval(statsTimer);
    stopWatchdog();
    await sinks.stop();
    await model.release().catch((err: unknown) => log.warn({ err }, 'model release failed'));
    log.info({ stats: summary(engine.stats()) }, 'pinpoint stopped');
    resolveDone();
  };
  const stop = (reason = 'stop requested'): Promise<void> => (stopped ??= shutdown(reason));
  // Finite sources (a replay, a synthetic count) all ended: stop as if asked to.
  void engineFinished.then(() => stop('all sources ended'));

  return {
    engine,
    status,
    model,
    done,
    stop,
  };
}

/** The counters worth a log line. */
function summary(s: EngineStats): Record<string, unknown> {
  return {
    published: s.published,
    timeouts: s.timeouts,
    late: s.late,
    noFrame: s.noFrame,
    errors: s.errors,
    batches: s.batches,
    meanBatch: s.batches ? +(s.batchedFrames / s.batches).toFixed(2) : 0,
    meanInferMs: s.batches ? +(s.inferMs / s.batches).toFixed(1) : 0,
    cameras: s.cameras,
  };
}
