// The running camera sources as one frame stream that cameras can join and leave while the engine runs (a
// config reload adds, removes or restarts cameras). Each camera's source is piped through the same steps it
// always was (restart on error, part names, frame checks) and ends on its own stop signal; the merged stream
// completes once no camera is left (all finite sources ended, or stopAll()), which is how the engine drains.
//
// A stopped camera's frames already in the engine keep their place in the ledger: each still gets exactly one
// verdict (decided, or fail-safe at its deadline). A restarted camera gets a fresh run id for its part names,
// so its frame numbers starting again never repeat a part id of its previous run.
import type { Observable } from 'rxjs';
import { Subject, filter, finalize, map, mergeAll, takeUntil, tap } from 'rxjs';
import type { CameraConfig, Config } from '../config/schema.js';
import type { FrameProfile } from '../model/frame-profile.js';
import type { PartTrigger, TriggerLoss } from '../pipeline/triggers.js';
import type { DaemonStatus } from '../sinks/daemon-status.js';
import type { SinkSet } from '../sinks/sink-set.js';
import { checkFrames } from '../sources/frame-check.js';
import { namePartsOf, runIdAt } from '../sources/part-id.js';
import { sourcePlugin } from '../sources/registry.js';
import { restartOnError } from '../sources/restart-on-error.js';
import type { Frame, SourcePlugin, SourceState } from '../sources/types.js';
import type { Logger } from '../util/log.js';

/** A config that cannot run (no model, no cameras, a camera type this build lacks): exit 2, not a crash. */
export class AppConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppConfigError';
  }
}

export interface Camera {
  id: string;
  cfg: CameraConfig;
  plugin: SourcePlugin;
}

/** The enabled cameras of a config, each checked by its plug-in; throws AppConfigError on the first problem. */
export function enabledCameras(config: Config, configDir: string): Camera[] {
  const out: Camera[] = [];
  for (const [id, cfg] of Object.entries(config.cameras)) {
    if (!cfg.enabled) continue;
    const plugin = sourcePlugin(cfg.type);
    if (!plugin) throw new AppConfigError(`camera ${id}: type '${cfg.type}' is not supported by this build`);
    const problem = (plugin as SourcePlugin).check?.(id, cfg as never, configDir);
    if (problem) throw new AppConfigError(problem);
    out.push({ id, cfg, plugin: plugin as SourcePlugin });
  }
  return out;
}

export interface CameraSetDeps {
  log: Logger;
  configDir: string;
  status: DaemonStatus;
  sinks: SinkSet;
  /** PLC triggers the engine accepted: a software-triggered camera fires on its own. */
  accepted$: Observable<PartTrigger>;
  losses$: Subject<TriggerLoss>;
  /** The model's input side and patch, and the training frames' profile (frame checks). */
  size: number;
  patch: number;
  profile: FrameProfile | undefined;
}

interface Running {
  stop$: Subject<void>;
  ended: Promise<void>;
}

export class CameraSet {
  private readonly streams$ = new Subject<Observable<Frame>>();
  /** Every frame of every running camera. Completes when no camera is left and none is being added. */
  readonly frames$: Observable<Frame> = this.streams$.pipe(mergeAll());
  /** Cameras that delivered at least one frame (a daemon whose cameras all failed exits non-zero). */
  readonly delivered = new Set<string>();
  private readonly running = new Map<string, Running>();
  /** >0 while a reload changes the set: an empty moment then must not end the stream. */
  private holds = 0;
  private isClosed = false;

  constructor(private readonly d: CameraSetDeps) {}

  get ids(): string[] {
    return [...this.running.keys()];
  }

  has(id: string): boolean {
    return this.running.has(id);
  }

  /** Starts a camera's source; `runId` names its parts (a restarted camera gets a new one, see the header). */
  start(cam: Camera, runId: string): void {
    if (this.isClosed || this.running.has(cam.id)) return;
    const stop$ = new Subject<void>();
    let ended!: () => void;
    const r: Running = { stop$, ended: new Promise<void>((res) => (ended = res)) };
    this.running.set(cam.id, r);
    this.streams$.next(
      this.frames(cam, runId).pipe(
        takeUntil(stop$),
        finalize(() => {
          if (this.running.get(cam.id) === r) this.running.delete(cam.id);
          ended();
          this.completeIfEmpty();
        }),
      ),
    );
  }

  /** Starts the daemon's first cameras; with none, the stream ends at once (nothing to inspect). */
  startAll(cams: readonly Camera[], runId: string): void {
    for (const c of cams) this.start(c, runId);
    this.completeIfEmpty();
  }

  /** The set has ended (stopAll, or every camera ended): nothing can join any more. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Stops a camera's source; resolves once its stream has ended (its frames in flight stay in the engine).
   * `removed`: the camera leaves the config, so its state becomes `stopped` for the outputs (MQTT retained).
   */
  async stop(id: string, removed?: string): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    r.stop$.next();
    await r.ended;
    if (removed !== undefined) {
      this.d.status.setCameraState(id, 'stopped', removed);
      this.d.sinks.cameraState(id, 'stopped', removed);
    }
  }

  /** Stops every camera: the merged stream completes. Idempotent. */
  stopAll(): void {
    this.isClosed = true;
    for (const r of this.running.values()) r.stop$.next();
    this.completeIfEmpty();
  }

  /** Runs a change of the set (a reload) without the stream ending in its empty moments. */
  async changing<T>(f: () => Promise<T>): Promise<T> {
    this.holds++;
    try {
      return await f();
    } finally {
      this.holds--;
      this.completeIfEmpty();
    }
  }

  /** A run id for a restarted or added camera: its start time, never the daemon's own run id. */
  static freshRunId(daemonRunId: string): string {
    let t = Date.now();
    while (runIdAt(t) === daemonRunId) t++;
    return runIdAt(t);
  }

  private completeIfEmpty(): void {
    if (this.running.size === 0 && this.holds === 0) {
      this.isClosed = true;
      this.streams$.complete();
    }
  }

  private frames({ id, cfg, plugin }: Camera, runId: string): Observable<Frame> {
    const { log, configDir, status, sinks, accepted$, losses$ } = this.d;
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
            map((t) => t.token!),
          )
        : undefined;
    const onTriggerLost = (token: number, reason: TriggerLoss['reason'], detail: string): void =>
      losses$.next({ cameraId: id, token, reason, detail });
    const ctx = { log: clog, configDir, runId, onState, softwareTrigger$, onTriggerLost };
    return plugin.create(id, cfg as never, ctx).pipe(
      restartOnError(clog, onState),
      tap(() => this.delivered.add(id)),
      namePartsOf(id, runId),
      checkFrames({
        cameraId: id,
        size: this.d.size,
        patch: this.d.patch,
        profile: this.d.profile,
        log: clog,
      }),
    );
  }
}
