// Prometheus metrics (prom-client), served by the web sink at /metrics. Events the sinks see (parts, batches)
// are counted as they happen; counters that other parts own (the engine's frames and drops, MQTT, the archive)
// are read from DaemonStatus at scrape time, so there is one source of truth and nothing to keep in step.
// Names and units follow the Prometheus conventions: `_total` counters, `_seconds`, base units. See
// docs/metrics.md.
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type * as Prom from 'prom-client';
import type { CameraStats } from '../pipeline/engine.js';
import type { InspectionResult } from '../pipeline/result.js';
import type { SourceState } from '../sources/types.js';
import type { DaemonStatus } from './daemon-status.js';

const STATES: SourceState[] = ['connecting', 'streaming', 'stalled', 'backoff', 'stopped'];

/** Seconds buckets from 1 ms to ~16 s (latency, inference, processing). */
const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class PrometheusMetrics {
  readonly registry: Registry;
  private readonly parts: Counter<'camera' | 'verdict' | 'reason'>;
  private readonly latency: Histogram<'camera'>;
  private readonly score: Histogram<'camera'>;
  private readonly batchSize: Histogram;
  private readonly infer: Histogram;
  private readonly prep: Histogram;
  private readonly post: Histogram;
  private readonly unsubscribe: () => void;

  constructor(
    prom: typeof Prom,
    private readonly status: DaemonStatus,
    maxBatch: number,
  ) {
    const r = new prom.Registry();
    this.registry = r;
    prom.collectDefaultMetrics({ register: r });
    const reg = { registers: [r] };
    this.parts = new prom.Counter({
      name: 'pinpoint_parts_total',
      help: 'Decided parts by camera, verdict and reason (fail-safe verdicts included)',
      labelNames: ['camera', 'verdict', 'reason'],
      ...reg,
    });
    this.latency = new prom.Histogram({
      name: 'pinpoint_capture_to_publish_seconds',
      help: 'From frame capture to the verdict handed to the outputs',
      labelNames: ['camera'],
      buckets: SECONDS,
      ...reg,
    });
    this.score = new prom.Histogram({
      name: 'pinpoint_frame_score',
      help: 'Frame anomaly score (mean of the top 0.1 % of the map); parts decided on a frame',
      labelNames: ['camera'],
      buckets: prom.exponentialBuckets(0.001, 2, 21),
      ...reg,
    });
    this.batchSize = new prom.Histogram({
      name: 'pinpoint_batch_size',
      help: 'Frames per inference batch',
      buckets: Array.from({ length: maxBatch }, (_, i) => i + 1),
      ...reg,
    });
    const secs = (name: string, help: string): Histogram =>
      new prom.Histogram({ name, help, buckets: SECONDS, ...reg });
    this.infer = secs('pinpoint_inference_seconds', 'Inference time per batch');
    this.prep = secs('pinpoint_preprocess_seconds', 'Letterboxing time per batch');
    this.post = secs('pinpoint_postprocess_seconds', 'Anomaly maps, blobs and verdicts per batch');
    this.unsubscribe = status.onBatch((b) => {
      this.batchSize.observe(b.size);
      this.infer.observe(b.inferSeconds);
      this.prep.observe(b.prepareSeconds);
      this.post.observe(b.postprocessSeconds);
    });
    // The two everyday series exist from the start (a rate() over a series that appears later misses its first part).
    for (const id of status.cameraIds) {
      this.parts.labels(id, 'ok', 'pass').inc(0);
      this.parts.labels(id, 'reject', 'score').inc(0);
    }
    this.mirrored(prom, r);
  }

  result(r: InspectionResult): void {
    this.parts.labels(r.cameraId, r.verdict, r.reason).inc();
    this.latency.labels(r.cameraId).observe(Math.max(0, Date.now() - r.captureTime) / 1000);
    if (r.score !== null && Number.isFinite(r.score)) this.score.labels(r.cameraId).observe(r.score);
  }

  close(): void {
    this.unsubscribe();
    this.registry.clear();
  }

  /** Metrics whose values other parts own, read at scrape time. */
  private mirrored(prom: typeof Prom, r: Registry): void {
    const s = this.status;
    const counter = <L extends string>(
      name: string,
      help: string,
      labelNames: L[],
      values: () => [Partial<Record<L, string>>, number][],
    ): Counter<L> =>
      new prom.Counter<L>({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset();
          for (const [labels, v] of values()) this.inc(labels, v);
        },
      });
    const gauge = <L extends string>(
      name: string,
      help: string,
      labelNames: L[],
      values: () => [Partial<Record<L, string>>, number][],
    ): Gauge<L> =>
      new prom.Gauge<L>({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset();
          for (const [labels, v] of values()) this.set(labels, v);
        },
      });
    const perCamera = (f: (c: CameraStats) => number) => () =>
      s.cameraIds.map((id): [{ camera: string }, number] => {
        const c = s.engine()?.cameras[id];
        return [{ camera: id }, c ? f(c) : 0];
      });
    counter(
      'pinpoint_frames_captured_total',
      'Frames received from the camera',
      ['camera'],
      perCamera((c) => c.frames + c.untriggered),
    );
    counter(
      'pinpoint_frames_dropped_total',
      'Frames dropped by the camera queue (the part gets the fail-safe verdict)',
      ['camera'],
      perCamera((c) => c.dropped),
    );
    counter(
      'pinpoint_frames_untriggered_total',
      'Frames of a triggered camera with no trigger waiting (not parts)',
      ['camera'],
      perCamera((c) => c.untriggered),
    );
    counter(
      'pinpoint_frames_unusable_total',
      'Frames that could not be prepared for the model (size, corrupt data): the part gets the fail-safe verdict',
      ['camera'],
      perCamera((c) => c.unusable),
    );
    gauge(
      'pinpoint_queue_depth',
      'Frames waiting in the camera queue for an inference batch',
      ['camera'],
      perCamera((c) => c.queued),
    );
    // Disjoint reasons (their sum is every trigger answered by no frame), per camera: pairing losses (issue 17).
    counter(
      'pinpoint_triggers_unanswered_total',
      'PLC triggers answered by no frame, by camera and reason (the part gets the fail-safe verdict)',
      ['camera', 'reason'],
      () =>
        s.cameraIds.flatMap((id): [{ camera: string; reason: string }, number][] => {
          const c = s.engine()?.cameras[id];
          const lost = c?.frameLost ?? 0;
          const missed = c?.triggerMissed ?? 0;
          return [
            [{ camera: id, reason: 'frame_lost' }, lost],
            [{ camera: id, reason: 'trigger_missed' }, missed],
            [{ camera: id, reason: 'no_frame' }, (c?.noFrame ?? 0) - lost - missed],
          ];
        }),
    );
    gauge(
      'pinpoint_parts_in_flight',
      'Parts admitted and not yet decided (all camera queues and batches)',
      [],
      () => [[{}, s.inFlight()]],
    );
    gauge('pinpoint_camera_up', '1 while the camera is streaming', ['camera'], () =>
      [...s.cameras()].map(([id, c]) => [{ camera: id }, c.state === 'streaming' ? 1 : 0]),
    );
    gauge('pinpoint_camera_state', '1 for the state the camera source is in', ['camera', 'state'], () =>
      [...s.cameras()].flatMap(([id, c]) =>
        STATES.map((st): [{ camera: string; state: string }, number] => [
          { camera: id, state: st },
          c.state === st ? 1 : 0,
        ]),
      ),
    );
    counter('pinpoint_triggers_total', 'PLC part triggers by outcome', ['result'], () => {
      const e = s.engine();
      const m = s.mqtt?.();
      return [
        [{ result: 'accepted' }, Math.max(0, (m?.triggers ?? 0) - (e?.duplicates ?? 0))],
        [{ result: 'duplicate' }, e?.duplicates ?? 0],
        [{ result: 'no_frame' }, e?.noFrame ?? 0],
        // Software triggers the camera answered with no usable frame (docs/cameras.md, pairing).
        [{ result: 'frame_lost' }, e?.frameLost ?? 0],
        [{ result: 'trigger_missed' }, e?.triggerMissed ?? 0],
        [{ result: 'malformed' }, m?.malformedTriggers ?? 0],
        [{ result: 'unknown_camera' }, m?.unknownCameraTriggers ?? 0],
      ];
    });
    gauge('pinpoint_model_ready', '1 once the model is loaded and warmed up', [], () => [
      [{}, s.modelReady ? 1 : 0],
    ]);
    if (s.mqtt) this.mqttMetrics(counter, gauge);
    if (s.archive) this.archiveMetrics(counter, gauge);
  }

  private mqttMetrics(counter: MirrorFactory<'counter'>, gauge: MirrorFactory<'gauge'>): void {
    const m = (): NonNullable<ReturnType<NonNullable<DaemonStatus['mqtt']>>> => this.status.mqtt!();
    gauge('pinpoint_mqtt_connected', '1 while connected to the broker', [], () => [
      [{}, m().connected ? 1 : 0],
    ]);
    counter('pinpoint_mqtt_published_total', 'Results whose MQTT messages all completed', [], () => [
      [{}, m().published],
    ]);
    gauge('pinpoint_mqtt_outbox_messages', 'Results in the outbox, not yet acknowledged', [], () => [
      [{}, m().outboxSize],
    ]);
    counter('pinpoint_mqtt_outbox_dropped_total', 'Results dropped because the outbox was full', [], () => [
      [{}, m().outboxDropped],
    ]);
    counter('pinpoint_mqtt_errors_total', 'Outbox write and publish failures', ['kind'], () => [
      [{ kind: 'outbox_write' }, m().outboxErrors],
      [{ kind: 'publish' }, m().publishErrors],
    ]);
    counter('pinpoint_mqtt_reconnects_total', 'Connections after the first', [], () => [
      [{}, m().reconnects],
    ]);
  }

  private archiveMetrics(counter: MirrorFactory<'counter'>, gauge: MirrorFactory<'gauge'>): void {
    const a = (): NonNullable<ReturnType<NonNullable<DaemonStatus['archive']>>> => this.status.archive!();
    gauge('pinpoint_archive_queue', 'Parts waiting to be written to the archive', [], () => [
      [{}, a().queued],
    ]);
    counter('pinpoint_archive_written_total', 'Archive entries written', [], () => [[{}, a().written]]);
    counter('pinpoint_archive_dropped_total', 'Parts not archived, by cause', ['cause'], () => [
      [{ cause: 'queue_full' }, a().dropped],
      [{ cause: 'write_failed' }, a().failed],
    ]);
    gauge('pinpoint_archive_bytes', 'Bytes the archive holds', [], () => [[{}, a().bytes]]);
    counter('pinpoint_archive_cpu_seconds_total', 'CPU time the archive worker used', [], () => [
      [{}, a().cpuSeconds],
    ]);
    counter(
      'pinpoint_archive_yielded_seconds_total',
      'Time the archive worker waited for inspection to leave it CPU',
      [],
      () => [[{}, a().yieldedSeconds]],
    );
  }
}

type MirrorFactory<K extends 'counter' | 'gauge'> = <L extends string>(
  name: string,
  help: string,
  labelNames: L[],
  values: () => [Partial<Record<L, string>>, number][],
) => K extends 'counter' ? Counter<L> : Gauge<L>;
