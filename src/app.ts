// The composition root of `pinpoint run`: config → logger, model, engine, sources, sinks, systemd notifier;
// and the orderly shutdown. Everything here is wiring; the behaviour lives in the modules it wires.
//
// Shutdown (stop()): the sources are stopped, the frames already in the pipeline are inspected (their verdicts
// published; any part still undecided gets its fail-safe verdict from its deadline, so the drain needs at most
// the deadline plus a margin), then the sinks flush and stop (MQTT publishes `stopped`) and the model is released.
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { Subject } from 'rxjs';
import type { Subscription } from 'rxjs';
import type { CameraConfig, Config } from './config/schema.js';
import { AuditLog } from './app/audit-log.js';
import { AppConfigError, CameraSet, enabledCameras } from './app/camera-set.js';
import { builtInCommands } from './app/commands.js';
import { ConfigReloader } from './app/config-reload.js';
import { engineCameraFor } from './app/engine-camera.js';
import { LiveSettings } from './app/live-settings.js';
import { registerModelCommands } from './app/model-commands.js';
import { preflight } from './app/preflight.js';
import type { ChangedBy } from './config/change-source.js';
import { BundleError } from './model/bundle.js';
import { cameraTiling } from './app/camera-tiling.js';
import { thresholdsForPrecision } from './model/manifest.js';
import type { Manifest } from './model/manifest.js';
import { frameProfileFrom } from './model/frame-profile.js';
import { Engine } from './pipeline/engine.js';
import type { EngineCamera, EngineStats } from './pipeline/engine.js';
import type { Thresholds } from './pipeline/verdict.js';
import type { PartTrigger, TriggerLoss } from './pipeline/triggers.js';
import { openModelInWorker } from './pipeline/worker-model.js';
import { resolveCacheDir } from './util/cache-dir.js';
import { reportWarmUp } from './pipeline/warm-up-report.js';
import type { WorkerModel } from './pipeline/worker-model.js';
import { DaemonStatus } from './sinks/daemon-status.js';
import { createSinks } from './sinks/registry.js';
import { SinkSet } from './sinks/sink-set.js';
import { SinkConfigError } from './sinks/types.js';
import { createStatsLog } from './sinks/stats-log.js';
import type { Sink } from './sinks/types.js';
import type { ControlPlane, ReloadReport } from './sinks/control-plane.js';
import { runIdAt } from './sources/part-id.js';
import type { Logger } from './util/log.js';
import { createLogger } from './util/log.js';
import type { Notifier } from './util/systemd.js';
import { createNotifier } from './util/systemd.js';
import { prepareModelPath, startModelControl } from './app/hot-swap.js';
import type { ModelControl } from './app/model-control.js';
import { createReteachControl, type ReteachControl } from './app/reteach-control.js';
import { registerReteachCommand } from './app/reteach-command.js';

/** TEST ONLY: every inference call blocks the inference thread this many ms first (deadline tests). */
export const TEST_INFER_DELAY_ENV = 'PINPOINT_TEST_INFER_DELAY_MS';

export { AppConfigError } from './app/camera-set.js';

export interface AppOptions {
  config: Config;
  /** The file the config came from: SIGHUP / `cmd/reload` re-read it (absent: reload is refused). */
  configFile?: string;
  /** Relative paths in the config resolve against this (the config file's directory). */
  configDir: string;
  log?: Logger;
  notifier?: Notifier;
  /** Outputs besides the configured ones (the demo's terminal printer). */
  sinks?: Sink[];
  /** TEST ONLY: every inference call blocks the inference thread this long first (see TEST_INFER_DELAY_ENV). */
  testInferDelayMs?: number;
}

export interface App {
  readonly engine: Engine;
  /** Model, camera states and counters, as the outputs see them. */
  readonly status: DaemonStatus;
  /** The model in force (a hot swap replaces it). */
  readonly model: WorkerModel;
  /** Model versions: hot swap, rollback (refused with a plain bundle as model.path). */
  readonly models: ModelControl;
  /** Resolves once the app has stopped: all finite sources ended, or stop() was called. */
  readonly done: Promise<void>;
  /** This start's id, part of every part id the daemon makes up (src/sources/part-id.ts). */
  readonly runId: string;
  /** True once every source ended without delivering a single frame: the daemon should exit non-zero. */
  readonly sourcesFailed: boolean;
  /** Live settings, reload, audit log and commands (what the console and MQTT commands change). */
  readonly control: ControlPlane;
  /** Re-reads the config file and applies what can be applied live (app/config-reload.ts). */
  reload(by: ChangedBy): Promise<ReloadReport>;
  /** Stops the sources, drains what is in flight, stops the sinks. Idempotent. */
  stop(reason?: string): Promise<void>;
}

/** The same checks as `config check` (app/preflight.ts): a config problem exits 2, a missing bundle 1. */
function checkedModel(
  config: Config,
  configDir: string,
): { bundleDir: string; m: Manifest; cacheDir?: string } {
  const { problems, bundleDir, manifest } = preflight(config, configDir);
  const first = problems[0];
  if (first) {
    const text = problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('; ');
    throw first.kind === 'model' ? new BundleError(text) : new AppConfigError(text);
  }
  const cacheDir = config.model?.cacheDir;
  return { bundleDir: bundleDir!, m: manifest!, cacheDir: cacheDir && resolve(configDir, cacheDir) };
}

export async function startApp(o: AppOptions): Promise<App> {
  const { config } = o;
  const log = o.log ?? createLogger({ level: config.logging.level, pretty: config.logging.pretty });
  const notifier = o.notifier ?? createNotifier();
  const cameras = enabledCameras(config, o.configDir);
  const runId = runIdAt(Date.now());
  const versions = prepareModelPath(config, o.configDir, log);
  // The manifest only: the worker loads (and verifies) the weights, so they are never held twice.
  const { bundleDir, m, cacheDir } = checkedModel(config, o.configDir);
  if (m.teacher.devTeacher)
    log.warn('the model uses a DEV TEACHER (random weights, not a real backbone): for tests and demos only');
  // In a worker thread: onnxruntime-node runs sessions synchronously on the calling thread.
  const model = await openModelInWorker(bundleDir, {
    device: config.inference.device,
    threads: config.inference.threads,
    fp16: config.inference.fp16,
    deviceId: config.inference.deviceId,
    webgpuBufferBytes: config.inference.webgpuBufferMiB * 2 ** 20,
    maxBatch: config.pipeline.batch.maxBatch,
    cacheDir,
    log,
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

  // Thresholds hold only in the precision they were calibrated in (fp16 maps differ near the decision).
  const bundleThresholds = thresholdsForPrecision(m, model.precision);
  if (bundleThresholds.mismatch) log.error(bundleThresholds.mismatch);
  let modelThresholds: Thresholds | undefined = bundleThresholds.thresholds;
  const engineCameras = new Map<string, EngineCamera>();
  const tilingFor = (c: Config, cfg: CameraConfig, id: string) => cameraTiling(c, cfg, m, id, log);
  for (const { id, cfg } of cameras)
    engineCameras.set(
      id,
      engineCameraFor(id, cfg, config, bundleThresholds.thresholds, log, tilingFor(config, cfg, id)),
    );
  // Triggers the engine's correlation accepted (not duplicates, for a camera that takes triggers): each fires
  // its camera once when that camera is software-triggered, so every picture has a part waiting for it.
  const accepted$ = new Subject<PartTrigger>();
  // Software triggers a camera reports answered by no frame (their parts get frame-lost / trigger-missed).
  const losses$ = new Subject<TriggerLoss>();
  const status = new DaemonStatus(
    model.modelId,
    cameras.map((c) => c.id),
  );
  // The stats log is the operator's periodic counters line (logging.statsIntervalSec) and the per-decision
  // debug line; it reads the engine only once started, after the engine exists.
  const statsLog = createStatsLog({
    log,
    intervalSec: config.logging.statsIntervalSec,
    engineStats: () => engine.stats(),
  });
  const audit = new AuditLog(
    log,
    config.archive.enabled ? resolve(o.configDir, config.archive.dir) : undefined,
  );
  if (!audit.persistent)
    log.info('audit log: live changes are logged only (the archive, which keeps them, is off)');
  let reloader: ConfigReloader | undefined;
  const late: { reteach?: ReteachControl } = {}; // re-teach needs the model control (below)
  const live = new LiveSettings(
    engineCameras,
    audit,
    (id) => status.hasCamera(id),
    (id, v) => engine.models.setVerdict(id, v),
  );
  const control: ControlPlane = {
    settings: (id) => live.settings(id),
    setThresholds: (id, t, by) => live.setThresholds(id, t, by),
    setIgnoreZones: (id, z, by) => live.setIgnoreZones(id, z, by),
    auditLog: (q) => audit.query(q),
    get auditPersistent() {
      return audit.persistent;
    },
    reload: (by) =>
      reloader
        ? reloader.reload(by)
        : Promise.resolve({ ok: false, errors: ['this daemon was not started from a config file'] }),
    commands: builtInCommands(() => control),
    get reteach() {
      return late.reteach;
    },
  };
  const sinkCtx = { log, configDir: o.configDir, status, config, commands: control.commands, control };
  const sinks = new SinkSet([...createSinks(config, sinkCtx), statsLog, ...(o.sinks ?? [])], log);
  const engine = new Engine({
    model,
    modelVersion: versions.version,
    cameras: engineCameras,
    maxBatch: config.pipeline.batch.maxBatch,
    maxWaitMs: config.pipeline.batch.maxWaitMs,
    deadlineMs: config.verdict.deadlineMs,
    failSafe: config.verdict.failSafe,
    log,
    onTriggerAccepted: (t) => accepted$.next(t),
    evidence: sinks.wantsEvidence,
    onBatch: (b) => status.batch(b),
    load: status.pipelineLoad,
  });
  status.model = {
    devTeacher: m.teacher.devTeacher,
    trainedAt: m.training?.trainedAt ?? null,
    // Read when asked: live changes and hot swaps replace the cameras' settings.
    get thresholds() {
      return Object.fromEntries([...engineCameras].map(([id, c]) => [id, c.verdict.thresholds ?? null]));
    },
  };
  status.attachEngine(
    () => engine.stats(),
    () => engine.pending,
  );
  const models = startModelControl({
    config: () => reloader?.config ?? config,
    configDir: o.configDir,
    engineCameras,
    engine,
    status,
    log,
    modelsDir: versions.modelsDir,
    testInferDelayMs: o.testInferDelayMs,
    onThresholds: (t) => (modelThresholds = t),
  });
  registerModelCommands(control.commands, models, audit);
  const reteach = createReteachControl({
    config: () => reloader?.config ?? config,
    configDir: o.configDir,
    models,
    settings: (id) => live.settings(id),
    audit,
    log,
  });
  late.reteach = reteach;
  registerReteachCommand(control.commands, reteach);

  // Every batch size the engine will run (tiles' included) is set up before READY; the times say whether the
  // deadline holds.
  const tWarm = performance.now();
  const warm = await engine.warmUp();
  reportWarmUp(
    warm,
    {
      modelId: model.modelId,
      provider: model.provider,
      precision: model.precision,
      size: model.size,
      maxBatch: config.pipeline.batch.maxBatch,
      maxWaitMs: config.pipeline.batch.maxWaitMs,
      deadlineMs: config.verdict.deadlineMs,
      staticBatch: model.staticBatch,
      cameras: cameras.map((c) => ({ id: c.id, fps: 'fps' in c.cfg ? c.cfg.fps : undefined })),
      cacheDir: resolveCacheDir(bundleDir, cacheDir),
      log,
    },
    performance.now() - tWarm,
  );
  status.modelReady = true;

  await sinks.start().catch(async (err: unknown) => {
    await model.release().catch(() => undefined);
    if (err instanceof SinkConfigError) throw new AppConfigError(err.message);
    throw err;
  });

  const profile = frameProfileFrom(m.training);
  const partTriggers$ = sinks.triggers$;
  const cameraSet = new CameraSet({
    log,
    configDir: o.configDir,
    status,
    sinks,
    accepted$,
    losses$,
    size: m.input.size,
    patch: m.teacher.arch.patch,
    profile,
  });
  const frames$ = cameraSet.frames$;
  if (o.configFile)
    reloader = new ConfigReloader(config, {
      file: o.configFile,
      configDir: o.configDir,
      log,
      cameras: cameraSet,
      engineCameras,
      live,
      audit,
      status,
      runId,
      bundleThresholds: () => modelThresholds,
      tiling: tilingFor,
    });

  let engineDone!: () => void;
  const engineFinished = new Promise<void>((r) => (engineDone = r));
  const engineSub: Subscription = engine.decisions(frames$, partTriggers$, losses$).subscribe({
    next: (d) => sinks.result(d.result, d.evidence),
    error: (err: unknown) => {
      log.fatal({ err }, 'engine failed');
      engineDone();
    },
    complete: () => engineDone(),
  });

  // The sources start once the engine listens (the set's stream is hot).
  cameraSet.startAll(cameras, runId);

  let stopping = false;
  let stopped: Promise<void> | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const stopWatchdog = notifier.startWatchdog(() => !stopping);
  notifier.ready(`inspecting ${cameras.length} camera(s) with model ${model.modelId}`);
  log.info(
    {
      cameras: cameras.map((c) => c.id),
      model: model.modelId,
      provider: model.provider,
      size: model.size,
      runId,
    },
    'pinpoint running',
  );

  const drainMs = config.verdict.deadlineMs + 1000;
  const shutdown = async (reason: string): Promise<void> => {
    stopping = true;
    notifier.stopping();
    log.info({ reason, inFlight: engine.pending }, 'stopping: draining frames in flight');
    cameraSet.stopAll();
    let t: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      engineFinished.then(() => true),
      new Promise<boolean>((r) => (t = setTimeout(() => r(false), drainMs))),
    ]);
    clearTimeout(t);
    if (!drained) log.warn({ drainMs, inFlight: engine.pending }, 'drain bound reached; leaving the rest');
    engineSub.unsubscribe();
    stopWatchdog();
    models.stop();
    await reteach.stop(); // a running job is cancelled: it would outlive the daemon otherwise
    await sinks.stop();
    await engine.models.close().catch((err: unknown) => log.warn({ err }, 'model release failed'));
    audit.close();
    log.info({ stats: summary(engine.stats()) }, 'pinpoint stopped');
    resolveDone();
  };
  const stop = (reason = 'stop requested'): Promise<void> => (stopped ??= shutdown(reason));
  // Finite sources (a replay, a synthetic count) all ended: stop as if asked to. If none of them delivered a
  // frame, every source failed: a supervisor must see that (non-zero exit), not a clean stop.
  let sourcesFailed = false;
  void engineFinished.then(() => {
    if (!stopping && cameraSet.delivered.size === 0) {
      sourcesFailed = true;
      log.error('every camera source ended without delivering a frame');
    }
    return stop('all sources ended');
  });

  return {
    engine,
    status,
    get model() {
      return engine.models.current.model as WorkerModel;
    },
    models,
    done,
    runId,
    control,
    reload: (by) => control.reload(by),
    get sourcesFailed() {
      return sourcesFailed;
    },
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
    frameLost: s.frameLost,
    triggerMissed: s.triggerMissed,
    errors: s.errors,
    batches: s.batches,
    meanBatch: s.batches ? +(s.batchedFrames / s.batches).toFixed(2) : 0,
    meanInferMs: s.batches ? +(s.inferMs / s.batches).toFixed(1) : 0,
    cameras: s.cameras,
  };
}
