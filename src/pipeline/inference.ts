// onnxruntime sessions over a model bundle: picks the execution provider, builds the fused ONNX graph
// once and caches it on disk by content hash, and runs batches of letterboxed uint8 frames.
//
// Provider choice (inference.device): `auto` tries cuda, tensorrt, webgpu, then cpu (model/providers.ts says
// why), probing GPU providers only on a host with a GPU device node; skips are logged at debug and summed up
// in one info line. An explicit choice that cannot load is an error, never a silent CPU run.
// TensorRT runs a static batch (partial batches padded to `staticBatch`): the binding cannot pass it
// optimisation profiles, so every new batch size would build a new engine (minutes) mid-shift.
// WebGPU gets host-normalised float32 frames (its provider has no uint8 Cast; model/pixel-input.ts) and runs
// batches over its attention-buffer cap in parts (model/providers.ts, webgpuMaxBatch).
//
// Attention: com.microsoft MultiHeadAttention is the default on every provider but TensorRT (which fuses
// plain attention itself and has no kernel for the contrib op). Measured on CPU (bench/model.bench.ts):
// the same output as MatMul/Softmax/MatMul within 5e-7 of the peak; 1.02× as fast at S = 224, 1.14× at
// S = 448 (ViT-B size), 1.45× with 2.8× less memory at S = 1036, where plain attention materialises
// [heads, T, T] scores: 1.44 GB per ViT-B image and block. Never slower, so it is on by default.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InferenceSession } from 'onnxruntime-node';
import type * as OrtModule from 'onnxruntime-node';
import type { Bundle } from '../model/bundle.js';
import { buildAnomalyGraph, buildFeatureGraph } from '../model/anomaly-graph.js';
import { interpolatePosEmbed } from '../model/pos-embed.js';
import { resizeModeOf, type ResizeMode } from '../model/manifest.js';
import { normalizePixels, pixelInputFor, type PixelInput } from '../model/pixel-input.js';
import {
  AUTO_ORDER,
  executionProviders,
  probeExecutionProviders,
  providersToProbe,
  webgpuAttentionLimit,
  webgpuBatchSplit,
  webgpuMaxBatch,
  WEBGPU_DEFAULT_BUFFER_BYTES,
  type AttentionShape,
  type ProviderName,
  type ProviderProbe,
} from '../model/providers.js';
import { patchGrid } from '../model/teacher-graph.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { resolveCacheDir } from '../util/cache-dir.js';
import { FileHashCache } from '../util/file-hash-cache.js';
import type { Logger } from '../util/log.js';

export type Device = 'auto' | 'cpu' | 'cuda' | 'tensorrt' | 'webgpu';
export type Precision = 'fp32' | 'fp16';

export interface SessionOptions {
  device?: Device;
  /** onnxruntime intra-op threads; 0 or absent = onnxruntime's default (all cores). */
  threads?: number;
  /** float16 teacher on GPU providers; ignored (with a warning) on the CPU. */
  fp16?: boolean;
  /** MultiHeadAttention contrib op instead of MatMul/Softmax/MatMul; default: all providers but tensorrt. */
  fusedAttention?: boolean;
  /** Where built graphs are cached; default `<bundle>/.cache`, else `$XDG_CACHE_HOME/pinpoint`. */
  cacheDir?: string;
  /** GPU ordinal for cuda/tensorrt. */
  deviceId?: number;
  /** The largest batch the caller will run (pipeline.batch.maxBatch): TensorRT always runs this batch. */
  maxBatch?: number;
  /** Pad every batch to maxBatch; default: on TensorRT only (tests and the smoke script measure it elsewhere). */
  staticBatch?: boolean;
  /** What the graph takes: default float32 on WebGPU (no uint8 Cast there), uint8 elsewhere (tests set it). */
  pixelInput?: PixelInput;
  /** WebGPU's budget for one attention buffer (inference.webgpuBufferMiB); default 1 GiB. */
  webgpuBufferBytes?: number;
  /** At most this many frames per session run, larger batches in parts; default: WebGPU's cap only (tests set it). */
  maxRunBatch?: number;
  log?: Logger;
}

export interface AnomalyModel {
  readonly size: number;
  /** How frames must be letterboxed for this model (the bundle's mode). */
  readonly resize: ResizeMode;
  readonly grid: number;
  readonly modelId: string;
  readonly provider: string;
  /** Whether the teacher runs in float16 (thresholds are only valid in the precision they were set in). */
  readonly precision: Precision;
  /** Batches are padded to this size before the session sees them (TensorRT), else undefined. */
  readonly staticBatch?: number;
  /** Batches over this many frames run in parts (WebGPU's attention buffer), else undefined. */
  readonly maxRunBatch?: number;
  /** What the session is fed: uint8 bytes, or frames normalised to float32 on this thread (WebGPU). */
  readonly pixelInput: PixelInput;
  /** pixels: B·S·S·3 uint8 RGB letterboxed frames, contiguous; returns B·g·g float32 raw Δ grids. One call in flight at a time. */
  run(pixels: Uint8Array, batch: number): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface FeatureModel {
  readonly size: number;
  readonly resize: ResizeMode;
  readonly grid: number;
  readonly dim: number;
  /** Each output B·P·D float32 (P = grid²): final-LayerNorm patch features of the bundle's two layers. */
  run(pixels: Uint8Array, batch: number): Promise<{ a: Float32Array; b: Float32Array }>;
  release(): Promise<void>;
}

/** A provider that was asked for explicitly and cannot run, or a model that cannot be opened at all. */
export class InferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InferenceError';
  }
}

/** Bump when graph semantics change in a way the source hash below would not see. */
const GRAPH_FORMAT = 1;
const GPU = new Set<ProviderName>(['cuda', 'tensorrt', 'webgpu']);

// ---------------------------------------------------------------------------------------------------------------
// Graph cache.

/**
 * Hash of the modules that shape the graph, so editing the graph code invalidates every cached graph
 * (a stale cache would silently run the old maths). Falls back to GRAPH_FORMAT alone when the sources
 * are not next to this module (e.g. a single-file bundle of the app).
 */
let codeHash: string | undefined;
function graphCodeHash(): string {
  if (codeHash !== undefined) return codeHash;
  const here = fileURLToPath(import.meta.url);
  const ext = here.endsWith('.ts') ? '.ts' : '.js';
  const model = join(dirname(here), '..', 'model');
  const files = [
    'anomaly-graph',
    'teacher-graph',
    'student-graph',
    'pos-embed',
    'onnx/builder',
    'onnx/layers',
  ];
  const h = createHash('sha256').update(`format ${GRAPH_FORMAT}\n`);
  for (const f of files) {
    try {
      h.update(readFileSync(join(model, f + ext)));
    } catch {
      h.update(`missing ${f}\n`);
    }
  }
  codeHash = h.digest('hex');
  return codeHash;
}

interface CachedGraph {
  bytes: Uint8Array;
  /** Where it is (or would have been) cached; undefined when no cache directory is writable. */
  file?: string;
  hit: boolean;
}

interface GraphSpec {
  kind: 'anomaly' | 'features' | 'train';
  /** Everything the graph bytes depend on besides the code. */
  key: Record<string, unknown>;
  build: () => Uint8Array;
  /** false: always built, never cached (graphs without weights build in milliseconds). */
  cache?: boolean;
}

function cacheFile(dir: string, spec: GraphSpec): string {
  const digest = createHash('sha256')
    .update(JSON.stringify({ ...spec.key, kind: spec.kind, code: graphCodeHash() }))
    .digest('hex');
  return join(dir, `${spec.kind}-${digest.slice(0, 32)}.onnx`);
}

/**
 * The graph from the cache when its sidecar's sha256 and length match, else built and cached (atomically:
 * the graph first, then the sidecar that vouches for it). A corrupt or half-written entry is rebuilt.
 */
function loadOrBuild(
  spec: GraphSpec,
  dir: string | undefined,
  log?: Logger,
  forceBuild = false,
): CachedGraph {
  const file = dir ? cacheFile(dir, spec) : undefined;
  if (file && !forceBuild && existsSync(file) && existsSync(file + '.json')) {
    try {
      const meta = JSON.parse(readFileSync(file + '.json', 'utf8')) as { sha256?: string; bytes?: number };
      // Hashed once per change of the file (util/file-hash-cache.ts), not on every start.
      const hashed = new FileHashCache(dir).sha256(file);
      const bytes = hashed.bytes ?? readFileSync(file);
      if (bytes.length === meta.bytes && hashed.sha256 === meta.sha256) {
        log?.debug({ file }, 'model graph loaded from cache');
        return { bytes, file, hit: true };
      }
      log?.warn({ file }, 'cached model graph is corrupt; rebuilding it');
    } catch (e) {
      log?.warn({ file, err: (e as Error).message }, 'cached model graph is unreadable; rebuilding it');
    }
  }
  const t0 = performance.now();
  const bytes = spec.build();
  // debug: the session line that follows says `cache: built`.
  log?.debug(
    { kind: spec.kind, ms: Math.round(performance.now() - t0), bytes: bytes.length },
    'model graph built',
  );
  if (file) {
    try {
      const digest = sha256(bytes);
      writeFileAtomic(file, bytes);
      new FileHashCache(dir).record(file, digest);
      writeFileAtomic(
        file + '.json',
        JSON.stringify({
          sha256: digest,
          bytes: bytes.length,
          key: spec.key,
          builtAt: new Date().toISOString(),
        }),
      );
    } catch (e) {
      // A full disk must not stop inspection: the next start rebuilds.
      log?.warn({ file, err: (e as Error).message }, 'could not cache the model graph');
    }
  }
  return { bytes, file, hit: false };
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

// ---------------------------------------------------------------------------------------------------------------
// Providers and sessions.

type Ort = typeof OrtModule;

const probes = new Map<string, Promise<ProviderProbe>>();
/** The probe loads provider libraries; once per provider and process is enough (train opens several sessions). */
async function probeOnce(names: readonly ProviderName[], deviceId: number): Promise<ProviderProbe[]> {
  return Promise.all(
    names.map((n) => {
      const key = `${n}:${deviceId}`;
      let p = probes.get(key);
      if (!p) {
        p = probeExecutionProviders([n], { deviceId }).then((r) => r[0]);
        probes.set(key, p);
      }
      return p;
    }),
  );
}

/** The full onnxruntime session options for a provider (exported for the tests and the GPU smoke script). */
export function sessionOptions(
  provider: ProviderName,
  threads: number | undefined,
  deviceId = 0,
): InferenceSession.SessionOptions {
  return {
    executionProviders: executionProviders(provider, { deviceId }),
    graphOptimizationLevel: 'all',
    ...(threads && threads > 0 ? { intraOpNumThreads: threads } : {}),
    logSeverityLevel: 3,
  };
}

export interface Opened {
  session: InferenceSession;
  provider: ProviderName;
  ort: Ort;
  precision: Precision;
  pixelInput: PixelInput;
  /** WebGPU: the most frames its attention buffer takes in one run (larger batches run in parts). */
  maxRunBatch?: number;
}

/** What graphFor needs to know about the session the graph is for. */
export interface GraphVariant {
  provider: ProviderName;
  fp16: boolean;
  fused: boolean;
  pixelInput: PixelInput;
}

/** The skip summary goes out once per process (train opens a session per step). */
let skippedLogged = false;

/**
 * Walks the candidate providers: a provider whose probe failed is skipped (auto) or fatal (explicit); the
 * graph for the chosen provider (fp16 / attention variant) is built or read from the cache and a session
 * created. A session that fails on a cached graph is retried once with a freshly built graph.
 */
async function openSession(
  bundle: Bundle,
  opts: SessionOptions,
  graphFor: (v: GraphVariant) => GraphSpec,
): Promise<Opened> {
  const log = opts.log;
  const device = opts.device ?? 'auto';
  if (!['auto', 'cpu', 'cuda', 'tensorrt', 'webgpu'].includes(device)) {
    throw new InferenceError(`unknown inference device '${device}' (auto, cpu, cuda, tensorrt or webgpu)`);
  }
  const ort = await import('onnxruntime-node');
  const deviceId = opts.deviceId ?? 0;
  const toProbe = providersToProbe(device);
  const candidates = device === 'auto' ? AUTO_ORDER.filter((p) => toProbe.includes(p)) : [device];
  // The CPU needs no probe; probing loads the GPU provider libraries (and Dawn's Vulkan warnings) for nothing.
  const probed = await probeOnce(
    toProbe.filter((p) => p !== 'cpu'),
    deviceId,
  );
  const cacheDir = resolveCacheDir(bundle.dir, opts.cacheDir);
  if (!cacheDir)
    log?.warn(
      { bundle: bundle.dir },
      'no writable cache directory: the model graph is rebuilt on every start',
    );
  const failures: string[] = [];
  const skipped: string[] = [];
  for (const provider of candidates) {
    const probe = probed.find((p) => p.name === provider);
    if (probe && !probe.usable) {
      if (device !== 'auto') {
        throw new InferenceError(
          `inference device '${provider}' is not available on this host: ${probe.reason}`,
        );
      }
      log?.debug({ provider, reason: probe.reason }, `execution provider ${provider} skipped`);
      skipped.push(provider);
      failures.push(`${provider}: ${probe.reason}`);
      continue;
    }
    const gpu = GPU.has(provider);
    if (opts.fp16 && !gpu) log?.warn('fp16 is ignored on the CPU: its kernels are float32');
    const fp16 = opts.fp16 === true && gpu;
    const fit = provider === 'webgpu' ? webgpuFit(bundle, opts, fp16) : undefined;
    if (fit?.error) {
      if (device !== 'auto') throw new InferenceError(`inference device 'webgpu': ${fit.error}`);
      log?.debug({ provider, reason: fit.error }, 'execution provider webgpu skipped');
      skipped.push(provider);
      failures.push(`${provider}: ${fit.error}`);
      continue;
    }
    const fused = opts.fusedAttention ?? provider !== 'tensorrt';
    const pixelInput = opts.pixelInput ?? pixelInputFor(provider);
    const spec = graphFor({ provider, fp16, fused, pixelInput });
    let graph = loadOrBuild(spec, spec.cache === false ? undefined : cacheDir, log);
    try {
      let session: InferenceSession;
      try {
        session = await ort.InferenceSession.create(
          graph.bytes,
          sessionOptions(provider, opts.threads, deviceId),
        );
      } catch (e) {
        if (!graph.hit) throw e;
        log?.warn({ file: graph.file, err: firstLine(e) }, 'cached model graph does not load; rebuilding it');
        graph = loadOrBuild(spec, cacheDir, log, true);
        session = await ort.InferenceSession.create(
          graph.bytes,
          sessionOptions(provider, opts.threads, deviceId),
        );
      }
      if (skipped.length > 0 && !skippedLogged) {
        skippedLogged = true;
        log?.info(`execution providers ${skipped.join(', ')} not usable here (pinpoint doctor says why)`);
      }
      log?.info(
        {
          provider,
          fp16,
          fusedAttention: fused,
          pixelInput,
          cache: graph.hit ? 'hit' : 'built',
          file: graph.file,
        },
        `inference session on ${provider}`,
      );
      if (fit?.split) log?.warn(fit.split);
      return {
        session,
        provider,
        ort,
        precision: fp16 ? 'fp16' : 'fp32',
        pixelInput,
        // Whatever maxBatch says: teach-in and `infer` choose their own batch sizes.
        maxRunBatch: fit?.maxRunBatch,
      };
    } catch (e) {
      const why = firstLine(e);
      if (device !== 'auto') {
        throw new InferenceError(`inference device '${provider}': the model does not load: ${why}`);
      }
      log?.warn({ provider, reason: why }, `execution provider ${provider} failed to load the model`);
      failures.push(`${provider}: ${why}`);
    }
  }
  throw new InferenceError(`no execution provider could load the model:\n  - ${failures.join('\n  - ')}`);
}

function firstLine(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return (
    s
      .split('\n')
      .find((l) => l.trim().length > 0)
      ?.trim() ?? 'unknown error'
  );
}

/**
 * The bundle's attention against WebGPU's buffer budget: an error when not one image fits, else the most
 * images per run, with the warning when that is under maxBatch (batches then run in parts).
 */
function webgpuFit(
  bundle: Bundle,
  opts: SessionOptions,
  fp16: boolean,
): { error?: string; split?: string; maxRunBatch: number } {
  // The manifest's arch: the teacher's weights need not be read for this.
  const { arch } = bundle.manifest.teacher;
  const g = patchGrid(bundle.manifest.input.size, arch.patch);
  const shape: AttentionShape = { heads: arch.heads, tokens: g * g + 1 + arch.registers, fp16 };
  const budget = opts.webgpuBufferBytes ?? WEBGPU_DEFAULT_BUFFER_BYTES;
  return {
    error: webgpuAttentionLimit(shape, budget),
    split: webgpuBatchSplit(shape, opts.maxBatch ?? 1, budget),
    maxRunBatch: webgpuMaxBatch(shape, budget),
  };
}

function resizedPosEmbed(bundle: Bundle): Float32Array {
  const { arch } = bundle.teacher;
  const g = patchGrid(bundle.manifest.input.size, arch.patch);
  return interpolatePosEmbed(bundle.teacher.posEmbed, arch.dim, arch.posGrid, g);
}

interface RunnerSpec {
  /** Output name → float32 values per frame. */
  outputs: Record<string, number>;
  /** Every session run is padded to this many frames (TensorRT); the padding's outputs are dropped. */
  staticBatch?: number;
  /** Batches over this many frames run in parts (WebGPU's attention buffer). */
  maxRunBatch?: number;
}

/**
 * Runs one batch at a time on a session: checks the input, feeds it as the graph wants it (uint8, or
 * normalised float32 written into one reused buffer), pads a static batch, splits a batch over the run cap,
 * and returns each output as the caller's batch·perFrame floats.
 */
class Runner {
  private busy = false;
  private released = false;
  /** The padded uint8 input of a static-batch session, allocated once. */
  private padded: Uint8Array | undefined;
  /** The float32 input (WebGPU), grown to the largest run and reused. */
  private floats: Float32Array | undefined;

  constructor(
    private readonly o: Opened,
    private readonly size: number,
    private readonly what: string,
    private readonly spec: RunnerSpec,
  ) {}

  get staticBatch(): number | undefined {
    return this.spec.staticBatch;
  }

  async run(pixels: Uint8Array, batch: number): Promise<Record<string, Float32Array>> {
    if (this.released) throw new InferenceError(`${this.what}: run() after release()`);
    if (this.busy)
      throw new InferenceError(`${this.what}: run() while another run is in flight (one at a time)`);
    const frame = this.size * this.size * 3;
    if (!Number.isInteger(batch) || batch < 1)
      throw new InferenceError(`${this.what}: batch ${batch} must be ≥ 1`);
    if (!(pixels instanceof Uint8Array) || pixels.length !== batch * frame) {
      throw new InferenceError(
        `${this.what}: pixels hold ${pixels?.length} bytes, a batch of ${batch} ${this.size}×${this.size} RGB frames needs ${batch * frame}`,
      );
    }
    const fixed = this.spec.staticBatch;
    if (fixed !== undefined && batch > fixed)
      throw new InferenceError(`${this.what}: batch ${batch} is over the static batch ${fixed}`);
    this.busy = true;
    try {
      const part = fixed ?? this.spec.maxRunBatch ?? batch;
      if (batch <= part) return await this.runPart(pixels, batch);
      const out: Record<string, Float32Array> = {};
      for (const [name, per] of Object.entries(this.spec.outputs)) out[name] = new Float32Array(batch * per);
      for (let start = 0; start < batch; start += part) {
        const n = Math.min(part, batch - start);
        const r = await this.runPart(pixels.subarray(start * frame, (start + n) * frame), n);
        for (const [name, per] of Object.entries(this.spec.outputs)) out[name].set(r[name], start * per);
      }
      return out;
    } finally {
      this.busy = false;
    }
  }

  private async runPart(pixels: Uint8Array, n: number): Promise<Record<string, Float32Array>> {
    const rows = this.spec.staticBatch ?? n;
    const out = await this.o.session.run({ pixels: this.input(pixels, n, rows) });
    const r: Record<string, Float32Array> = {};
    for (const [name, per] of Object.entries(this.spec.outputs))
      r[name] = outputF32(out, name, n * per, rows * per, this.what);
    return r;
  }

  /** The session's input tensor for n frames padded to rows. Padding rows are zeros (frames are independent). */
  private input(pixels: Uint8Array, n: number, rows: number): OrtModule.Tensor {
    const S = this.size;
    const dims = [rows, S, S, 3];
    const length = rows * S * S * 3;
    if (this.o.pixelInput === 'float32') {
      if (!this.floats || this.floats.length < length) this.floats = new Float32Array(length);
      const data = this.floats.subarray(0, length);
      normalizePixels(pixels, data);
      if (rows > n) data.fill(0, pixels.length);
      return new this.o.ort.Tensor('float32', data, dims);
    }
    if (rows === n) return new this.o.ort.Tensor('uint8', pixels, dims);
    this.padded ??= new Uint8Array(length);
    this.padded.set(pixels);
    this.padded.fill(0, pixels.length);
    return new this.o.ort.Tensor('uint8', this.padded, dims);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.o.session.release();
  }
}

/** Output `name` as `length` floats; a static-batch session returns `rows` frames, the padding's last. */
function outputF32(
  out: InferenceSession.OnnxValueMapType,
  name: string,
  length: number,
  rowsLength: number,
  what: string,
): Float32Array {
  const t = out[name];
  if (!t || t.type !== 'float32' || t.data.length !== rowsLength) {
    throw new InferenceError(`${what}: output '${name}' is missing or not ${rowsLength} float32 values`);
  }
  const data = t.data as Float32Array;
  return data.length === length ? data : data.subarray(0, length);
}

/** The fused anomaly model of a loaded bundle: uint8 frames in, Δ grids out. */
export async function openAnomalyModel(bundle: Bundle, opts: SessionOptions = {}): Promise<AnomalyModel> {
  const m = bundle.manifest;
  const size = m.input.size;
  // The manifest's arch (the teacher's, checked when it is parsed): reading it must not load the teacher.
  const grid = patchGrid(size, m.teacher.arch.patch);
  const o = await openSession(bundle, opts, ({ fp16, fused, pixelInput }) => ({
    kind: 'anomaly',
    key: {
      teacher: m.teacher.sha256,
      students: m.students.sha256,
      heads: m.teacher.arch.heads,
      size,
      layers: m.layers,
      fp16,
      fusedAttention: fused,
      // Absent for uint8, so the graphs cached before float input existed keep their keys.
      ...(pixelInput === 'uint8' ? {} : { pixelInput }),
    },
    build: () =>
      buildAnomalyGraph(bundle.teacher, bundle.students, {
        size,
        layers: m.layers,
        posEmbed: resizedPosEmbed(bundle),
        fp16,
        fusedAttention: fused,
        pixelInput,
      }),
  }));
  const padded = opts.staticBatch ?? o.provider === 'tensorrt';
  const staticBatch = padded && opts.maxBatch ? opts.maxBatch : undefined;
  const maxRunBatch = staticBatch === undefined ? (opts.maxRunBatch ?? o.maxRunBatch) : undefined;
  const runner = new Runner(o, size, `model ${m.modelId}`, {
    outputs: { anomaly: grid * grid },
    staticBatch,
    maxRunBatch,
  });
  return {
    size,
    resize: resizeModeOf(m),
    grid,
    modelId: m.modelId,
    provider: o.provider,
    precision: o.precision,
    staticBatch,
    maxRunBatch,
    pixelInput: o.pixelInput,
    async run(pixels, batch) {
      return (await runner.run(pixels, batch)).anomaly;
    },
    release: () => runner.release(),
  };
}

/** The teacher alone, returning the two feature layers (teach-in). Always float32 (training needs it). */
export async function openFeatureModel(bundle: Bundle, opts: SessionOptions = {}): Promise<FeatureModel> {
  const m = bundle.manifest;
  const size = m.input.size;
  const { patch, dim } = m.teacher.arch;
  const grid = patchGrid(size, patch);
  const o = await openSession(bundle, { ...opts, fp16: false }, ({ fused, pixelInput }) => ({
    kind: 'features',
    key: {
      teacher: m.teacher.sha256,
      heads: m.teacher.arch.heads,
      size,
      layers: m.layers,
      fusedAttention: fused,
      ...(pixelInput === 'uint8' ? {} : { pixelInput }),
    },
    build: () =>
      buildFeatureGraph(bundle.teacher, {
        size,
        layers: m.layers,
        posEmbed: resizedPosEmbed(bundle),
        fusedAttention: fused,
        pixelInput,
      }),
  }));
  const n = grid * grid * dim;
  const runner = new Runner(o, size, `features of ${m.modelId}`, {
    outputs: { feat_a: n, feat_b: n },
    maxRunBatch: opts.maxRunBatch ?? o.maxRunBatch,
  });
  return {
    size,
    resize: resizeModeOf(m),
    grid,
    dim,
    async run(pixels, batch) {
      const out = await runner.run(pixels, batch);
      return { a: out.feat_a, b: out.feat_b };
    },
    release: () => runner.release(),
  };
}

/**
 * A session over a graph of the caller's (the teach-in step) on the provider the model's own rules pick
 * (`device`, probes, auto order). The graph is built on every open, not cached.
 */
export function openGraphSession(
  bundle: Bundle,
  opts: SessionOptions,
  kind: 'train',
  build: () => Uint8Array,
): Promise<Opened> {
  return openSession(bundle, { ...opts, fp16: false }, () => ({ kind, key: {}, build, cache: false }));
}
