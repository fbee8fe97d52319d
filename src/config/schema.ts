// The deployment config: the one source of truth for its types, defaults and validation.
// Every object is strict, so a mistyped key is an error rather than a silently ignored setting.
import { isIP } from 'node:net';
import { z } from 'zod';
import { DEFAULT_MAX_IMAGE_PIXELS } from '../util/image-header.js';
import { checkFeature, withoutSoftwareTrigger } from '../sources/gige-features.js';
import { PipelineValueError, checkLiteral } from '../sources/gst-pipeline.js';
import { rtspTarget } from '../sources/rtsp-target.js';
import { reteachSchema } from '../teach/reteach-config.js';
import { parsePasswordHash } from '../sinks/web/auth-password.js';

/** Camera ids end up in MQTT topics, file names and log lines: keep them to a safe alphabet. */
export const cameraIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
    'camera id: 1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit',
  );

const queueSchema = z
  .strictObject({
    /** Frames waiting per camera before the batcher; the oldest or newest is dropped beyond it. */
    depth: z.int().min(1).max(64).default(2),
    policy: z.enum(['drop-oldest', 'drop-newest']).default('drop-oldest'),
  })
  .prefault({});

/** Per-camera verdict overrides; anything unset falls back to the `verdict` section or the bundle. */
const cameraVerdictSchema = z
  .strictObject({
    rejectThreshold: z.number().positive().optional(),
    pixelThreshold: z.number().positive().optional(),
    minBlobArea: z.int().min(1).optional(),
    /** Polygons in original-frame pixel coordinates whose map values are zeroed before scoring. */
    ignore: z
      .array(z.array(z.tuple([z.number(), z.number()])).min(3, 'a polygon needs at least 3 points'))
      .default([]),
  })
  .prefault({});

/**
 * Part ids from PLC `part` messages on MQTT: each names the part one of the camera's frames shows. Which frame:
 * `pairing` (docs/cameras.md, "Part ↔ frame pairing"). `auto` pairs by the camera's evidence (a GigE camera's
 * software-trigger token or its frame timestamps); a camera that gives none (RTSP, files, synthetic) needs an
 * explicit `order`: the next frame, where one lost frame gives the next part this part's image.
 */
const triggerFields = {
  enabled: z.boolean().default(false),
  /** How long a trigger waits for its frame; after it the part gets the fail-safe verdict (no-frame). */
  windowMs: z.int().min(1).max(60000).default(500),
  pairing: z.enum(['auto', 'timestamp', 'order']).default('auto'),
};
const triggerSchema = z.strictObject(triggerFields).prefault({});

/** A GigE camera's trigger: also the timestamp tolerance and the software trigger's busy limit. */
const gigeTriggerSchema = z
  .strictObject({
    ...triggerFields,
    /** Pairing by timestamp: how far a frame may be from its trigger's expected time; unset = learned. */
    toleranceMs: z.int().min(1).max(10000).optional(),
    /**
     * Software trigger: how long a trigger may wait while the camera is still busy with the one before
     * (default 100 ms, about an MQTT message's jitter); past it the part is `trigger-missed`.
     */
    maxDelayMs: z.int().min(0).max(10000).optional(),
  })
  .prefault({});

/** Cameras with no frame evidence: triggers only with the user's explicit `pairing: order`. */
const orderOnly = (c: { type: string; trigger: { enabled: boolean; pairing: string } }): boolean =>
  !c.trigger.enabled || c.trigger.pairing === 'order';
const orderOnlyMessage = {
  path: ['trigger', 'pairing'],
  message:
    'this camera type gives no evidence to pair a frame with its part: set `pairing: order` to pair each ' +
    "trigger with the camera's next frame (a lost frame then gives the next part this part's image), or " +
    'use a triggered GigE camera',
};

/**
 * Tiling for high-resolution frames (docs/pipeline.md, "Tiling"): `off` letterboxes each frame to one model
 * input (the method's path); `{ scale, overlap }` resizes the frame by `scale` and cuts it into overlapping
 * S×S tiles, each one model input, whose maps are stitched back into one frame map.
 */
export const tilingSchema = z.union([
  z.literal('off'),
  z.strictObject({
    /** Model pixels per frame pixel: 1 inspects at native resolution, 0.5 at half (4× fewer tiles). */
    scale: z.number().gt(0).max(4).default(1),
    /** Minimum share of the tile side that neighbouring tiles share. */
    overlap: z.number().min(0).lt(0.5).default(0.125),
  }),
]);

const cameraCommon = {
  enabled: z.boolean().default(true),
  queue: queueSchema,
  verdict: cameraVerdictSchema,
  /** Overrides `pipeline.tiling` for this camera. */
  tiling: tilingSchema.optional(),
  trigger: triggerSchema,
  /** How long without a frame before the source is considered stalled and restarted. */
  stallTimeoutMs: z.int().min(100).default(5000),
};

/**
 * Runs one of the camera code's own rules (sources/gige-features.ts, rtsp-target.ts) at validation, so
 * `config check` refuses exactly what `run` would. Their messages start with the field they are about
 * ("features.Gain: ..."), which becomes the issue's path.
 */
function cameraRule(ctx: z.RefinementCtx, check: () => unknown): void {
  try {
    check();
  } catch (e) {
    if (!(e instanceof PipelineValueError)) throw e;
    const m = /^([A-Za-z0-9_.]+)[^:]*: (.*)$/s.exec(e.message);
    const field = m?.[1];
    ctx.addIssue({
      code: 'custom',
      path: field ? field.split('.') : [],
      message: field && e.message.startsWith(`${field}: `) ? m[2] : e.message,
    });
  }
}

const genicamValue = z.union([z.number(), z.string(), z.boolean()]);

const gigeFields = z.strictObject({
  type: z.literal('gige'),
  /** Aravis device id: "<vendor>-<serial>", a serial number, or an IP address. */
  device: z.string().min(1),
  pixelFormat: z
    .enum(['Mono8', 'Mono16', 'RGB8', 'BayerRG8', 'BayerGR8', 'BayerGB8', 'BayerBG8'])
    .default('Mono8'),
  /** GenICam features applied on every (re)connect, e.g. ExposureTime: 5000. */
  features: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/), genicamValue).default({}),
  packetSize: z.int().min(576).max(65000).optional(),
  /** Inter-packet delay in ns (aravissrc converts it to the camera's ticks). */
  packetDelay: z.int().min(0).optional(),
  /** Fire the camera's TriggerSoftware for each PLC `part` message (which also names the part in the frame). */
  softwareTrigger: z.boolean().default(false),
  ...cameraCommon,
  trigger: gigeTriggerSchema,
});

const gigeCamera = gigeFields
  .refine((c) => !c.softwareTrigger || c.trigger.enabled, {
    path: ['softwareTrigger'],
    message:
      'softwareTrigger needs trigger.enabled: true (the PLC part message fires the camera and names the part in its frame)',
  })
  .refine((c) => c.softwareTrigger || c.trigger.maxDelayMs === undefined, {
    path: ['trigger', 'maxDelayMs'],
    message: 'maxDelayMs applies to software-triggered cameras only (softwareTrigger: true)',
  })
  .refine(
    (c) =>
      c.trigger.toleranceMs === undefined ||
      c.trigger.pairing === 'timestamp' ||
      (c.trigger.pairing === 'auto' && !c.softwareTrigger && c.features.TriggerMode === 'On'),
    {
      path: ['trigger', 'toleranceMs'],
      message:
        'toleranceMs applies to pairing by timestamp only (a hardware-triggered camera, or pairing: timestamp)',
    },
  )
  .refine(
    (c) =>
      !c.trigger.enabled ||
      c.trigger.pairing !== 'auto' ||
      c.softwareTrigger ||
      c.features.TriggerMode === 'On',
    {
      path: ['trigger', 'pairing'],
      message:
        'a free-running GigE camera takes no trigger: set softwareTrigger: true, or TriggerMode: On in features ' +
        "(its trigger input), or pairing: timestamp (the frame nearest the trigger's time) or order (the next frame)",
    },
  )
  .superRefine((c, ctx) => {
    cameraRule(ctx, () => checkLiteral('device', c.device));
    for (const [name, v] of Object.entries(c.features)) cameraRule(ctx, () => checkFeature(name, v));
    if (c.softwareTrigger) cameraRule(ctx, () => withoutSoftwareTrigger(c.features));
  });

const rtspCamera = z
  .strictObject({
    type: z.literal('rtsp'),
    url: z.url({ protocol: /^rtsps?$/ }),
    transport: z.enum(['tcp', 'udp']).default('tcp'),
    ...cameraCommon,
  })
  .refine(orderOnly, orderOnlyMessage)
  .superRefine((c, ctx) => cameraRule(ctx, () => rtspTarget(c.url)));

const filesCamera = z
  .strictObject({
    type: z.literal('files'),
    /** A folder (recursive) or a glob of images to replay. */
    path: z.string().min(1),
    fps: z.number().positive().max(1000).default(2),
    loop: z.boolean().default(true),
    /** Images with more pixels are skipped unread, with a warning: a 1 MB PNG can decode to gigabytes. */
    maxImagePixels: z.int().min(1).default(DEFAULT_MAX_IMAGE_PIXELS),
    ...cameraCommon,
  })
  .refine(orderOnly, orderOnlyMessage);

const syntheticCamera = z
  .strictObject({
    type: z.literal('synthetic'),
    width: z.int().min(16).max(8192).default(640),
    height: z.int().min(16).max(8192).default(480),
    fps: z.number().positive().max(1000).default(2),
    /** Share of parts that carry an injected defect (with its known mask). */
    defectRate: z.number().min(0).max(1).default(0.3),
    /** Defect sizes in frame pixels, drawn at random per defective part. */
    defectSizes: z.array(z.int().min(2).max(4096)).min(1).default([12, 24, 48]),
    /** Defect kinds, drawn at random per defective part. */
    defectKinds: z
      .array(z.enum(['scratch', 'spot', 'dent', 'missing']))
      .min(1)
      .default(['scratch', 'spot', 'dent', 'missing']),
    seed: z.int().default(1),
    /** Stop after this many parts (0 = endless). */
    count: z.int().min(0).default(0),
    ...cameraCommon,
  })
  .refine(orderOnly, orderOnlyMessage);

export const cameraSchema = z.discriminatedUnion('type', [
  gigeCamera,
  rtspCamera,
  filesCamera,
  syntheticCamera,
]);

const pipelineSchema = z
  .strictObject({
    /**
     * The model input side S the deployment expects (a multiple of the patch size 14). The bundle fixes S
     * (`pinpoint model build --size`); this only checks it: `config check` and `run` refuse a bundle of
     * another size, so a swapped bundle cannot silently change what the line inspects. Unset: not checked.
     */
    inputSize: z
      .int()
      .min(14)
      .max(4200)
      .refine((v) => v % 14 === 0, 'must be a multiple of 14 (the teacher patch size)')
      .optional(),
    batch: z
      .strictObject({
        maxBatch: z.int().min(1).max(64).default(4),
        /** How long the first frame of a batch may wait for others (cross-camera batching). */
        maxWaitMs: z.number().min(0).max(1000).default(10),
      })
      .prefault({}),
    tiling: tilingSchema.default('off'),
    /**
     * `run` refuses a camera whose tiling differs from the one the bundle was taught with (its thresholds were
     * calibrated on maps of that tiling); true runs anyway, with a warning.
     */
    allowTilingMismatch: z.boolean().default(false),
  })
  .prefault({});

const modelSchema = z
  .strictObject({
    /**
     * Model bundle directory (manifest.json, students.safetensors, teacher reference), or a models directory
     * (versions/ and a `current` link; hot swaps between versions: docs/model-bundles.md).
     */
    path: z.string().min(1),
    /** Where the fused ONNX built from the bundle is cached (by content hash). */
    cacheDir: z.string().min(1).optional(),
  })
  .optional();

const inferenceSchema = z
  .strictObject({
    device: z.enum(['auto', 'cpu', 'cuda', 'tensorrt', 'webgpu']).default('auto'),
    /** onnxruntime intra-op threads; 0 = onnxruntime's default (all cores). */
    threads: z.int().min(0).max(256).default(0),
    /** fp16 weights and activations (GPU only; the CPU always runs fp32). */
    fp16: z.boolean().default(false),
    /** GPU ordinal for cuda/tensorrt (nvidia-smi's index); ignored by cpu and webgpu. */
    deviceId: z.int().min(0).max(63).default(0),
    /**
     * WebGPU: the largest attention buffer (MiB) one run may need; batches over it run in parts, a model whose
     * single image is over it does not start on webgpu (docs/gpu.md). 1024: what common adapters grant.
     */
    webgpuBufferMiB: z.int().min(64).max(65536).default(1024),
  })
  .prefault({});

const verdictSchema = z
  .strictObject({
    /** Frame score above which a part is rejected; defaults to the bundle's calibrated threshold. */
    rejectThreshold: z.number().positive().optional(),
    /** Map value above which a pixel belongs to a blob; defaults to the bundle's calibrated threshold. */
    pixelThreshold: z.number().positive().optional(),
    minBlobArea: z.int().min(1).default(16),
    /** A part without a verdict this long after capture gets the fail-safe verdict. */
    deadlineMs: z.int().min(1).max(600000).default(2000),
    failSafe: z.enum(['reject', 'ok']).default('reject'),
  })
  .prefault({});

/** Sparkplug B ids: UTF-8 without the MQTT topic separators and wildcards (Sparkplug 3.0, topic namespace). */
const sparkplugIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^/+#\p{Cc}]+$/u, 'no / + # or control characters (Sparkplug B id)');

/** Sparkplug B 3.0 edge node (docs/sparkplug.md): pinpoint is one edge node, each camera a device. */
const sparkplugSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    groupId: sparkplugIdSchema.optional(),
    edgeNodeId: sparkplugIdSchema.optional(),
    /** Births wait for this primary host's STATE `online`, and are sent again when it comes back. */
    primaryHostId: sparkplugIdSchema.optional(),
    /** bdSeq (persisted across restarts) and the outbox of decisions not yet delivered. */
    dir: z.string().default('/var/lib/pinpoint/sparkplug'),
  })
  .refine((s) => !s.enabled || (s.groupId !== undefined && s.edgeNodeId !== undefined), {
    path: ['groupId'],
    message:
      'enabled: true needs groupId and edgeNodeId (the Sparkplug topic spBv1.0/<groupId>/…/<edgeNodeId>)',
  })
  .prefault({});

const mqttSchema = z
  .strictObject({
    /** false: no MQTT at all (results go only to the other outputs). */
    enabled: z.boolean().default(true),
    url: z.url({ protocol: /^(mqtts?|wss?|tcp|ssl)$/ }).default('mqtt://127.0.0.1:1883'),
    clientId: z.string().min(1).max(128).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
    /** Topic prefix; may not contain MQTT wildcards. */
    topicPrefix: z
      .string()
      .regex(/^[^#+]+$/, 'no MQTT wildcards (# +)')
      .refine((s) => !s.includes('\0'), 'no NUL characters')
      .refine((s) => !s.startsWith('/') && !s.endsWith('/'), 'no leading or trailing /')
      .default('pinpoint'),
    qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
    /** `json` for the versioned reject message, `plain` for `1`/`0` payloads (simple PLC gateways). */
    rejectPayload: z.enum(['json', 'plain']).default('json'),
    keepaliveSec: z.int().min(1).max(3600).default(30),
    /** Reconnect delays: exponential from minMs, capped at maxMs, with jitter (many daemons, one broker). */
    reconnect: z
      .strictObject({
        minMs: z.int().min(10).max(600000).default(500),
        maxMs: z.int().min(10).max(600000).default(10000),
      })
      .prefault({}),
    tls: z
      .strictObject({
        ca: z.string().optional(),
        cert: z.string().optional(),
        key: z.string().optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .optional(),
    outbox: z
      .strictObject({
        /** Results produced while the broker is away are kept here and delivered in order later. */
        dir: z.string().default('/var/lib/pinpoint/outbox'),
        maxMessages: z.int().min(1).default(100000),
      })
      .prefault({}),
    /** Retained `<prefix>/stats` counters every this many seconds (0: never). */
    statsIntervalSec: z.int().min(0).max(86400).default(60),
    /**
     * Accept commands on `<prefix>/cmd/…` (reload, threshold, model promote/rollback, teach; docs/mqtt.md).
     * Off by default: when off, every command is answered with a refusal and nothing changes.
     */
    commands: z.boolean().default(false),
    /** The JSON topics under topicPrefix (docs/mqtt.md); false with Sparkplug B as the only MQTT output. */
    json: z.boolean().default(true),
    sparkplug: sparkplugSchema,
  })
  .refine((m) => !m.enabled || m.json || m.sparkplug.enabled, {
    path: ['json'],
    message: 'json: false needs sparkplug.enabled: true (otherwise no verdict leaves pinpoint over MQTT)',
  })
  .prefault({});

/** 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Name of an environment variable: secrets come from the environment, never from the config file. */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');

/** A console user: the name typed at login, a role, and a scrypt hash from `pinpoint web hash-password`. */
export const webUserSchema = z.strictObject({
  name: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/,
      'user name: 1-64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit',
    ),
  /** viewer: looks; engineer: also labels parts, changes thresholds, re-teaches. */
  role: z.enum(['viewer', 'engineer']),
  passwordHash: z.string().superRefine((h, ctx) => {
    const parsed = parsePasswordHash(h);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  }),
});

/** Console users, with each name once (a login must find exactly one). */
export const webUsersSchema = z
  .array(webUserSchema)
  .min(1)
  .superRefine((users, ctx) => {
    const seen = new Set<string>();
    users.forEach((u, i) => {
      const key = u.name.toLowerCase();
      if (seen.has(key))
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `user ${u.name} is listed twice` });
      seen.add(key);
    });
  });

/** `web.auth`: who may see and change what (docs/console-auth.md). */
const webAuthSchema = z
  .strictObject({
    /** Environment variable holding a bearer token for machines (Prometheus, scripts): /metrics and /api read-only. */
    tokenEnv: envName.optional(),
    /** Console users in the config itself... */
    users: webUsersSchema.optional(),
    /** ...or in a YAML/JSON file with the same list (relative to the config's folder), read at start. */
    usersFile: z.string().min(1).optional(),
    /** A console session ends after this long without a request (a shift plus margin). */
    sessionIdleMinutes: z
      .int()
      .min(1)
      .max(7 * 24 * 60)
      .default(720),
    /** Sessions kept at most; beyond it the least recently used one is ended. */
    maxSessions: z.int().min(1).max(100000).default(1000),
    /**
     * Where sessions are kept across restarts (digests, not cookies; relative to the config's folder); null:
     * in memory only, a restart logs everyone out.
     */
    sessionsFile: z.string().min(1).nullable().default('/var/lib/pinpoint/console-sessions.json'),
    /** Session cookie's Secure flag: `auto` sets it on https requests; `always` behind a TLS-terminating proxy. */
    cookieSecure: z.enum(['auto', 'always']).default('auto'),
    login: z
      .strictObject({
        /** Failed logins per user name within `windowSec` before that name is refused (429); per address ×4. */
        maxFailures: z.int().min(1).max(1000).default(5),
        windowSec: z.int().min(1).max(86400).default(300),
      })
      .prefault({}),
  })
  .refine((a) => a.tokenEnv !== undefined || a.users !== undefined || a.usersFile !== undefined, {
    message: 'needs tokenEnv, users or usersFile (or remove web.auth for loopback without auth)',
  })
  .refine((a) => a.users === undefined || a.usersFile === undefined, {
    path: ['usersFile'],
    message: 'give users or usersFile, not both',
  });

export type WebAuthConfig = z.infer<typeof webAuthSchema>;

/** A reverse proxy's address: an IP, a CIDR range, or one of proxy-addr's names (loopback, uniquelocal…). */
const proxyAddress = z.string().refine(
  (a) => {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(a)) return true;
    const [ip, bits, ...rest] = a.split('/');
    const v = isIP(ip);
    if (v === 0 || rest.length > 0) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d{1,3}$/.test(bits) && n <= (v === 4 ? 32 : 128);
  },
  { message: "an IP address, a CIDR range (10.0.0.0/8) or 'loopback', 'linklocal', 'uniquelocal'" },
);

/** The daemon's HTTP server: /metrics (Prometheus), /healthz, /readyz, /api/status, the console. */
const webSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Loopback by default; any other address needs `auth`. */
    host: z.string().min(1).default('127.0.0.1'),
    port: z.int().min(1).max(65535).default(8080),
    /** The console's live view: at most this many updates per camera per second (each one a JPEG tile). */
    liveFps: z.number().min(0.1).max(30).default(2),
    /** The console's status page counts parts, rejects and yield per camera over this many last hours. */
    shiftHours: z.int().min(1).max(24).default(8),
    /**
     * Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (the client's address for the login
     * limit and the log, https for the cookie's Secure flag). Empty: the headers are ignored, as anyone can
     * send them.
     */
    trustProxy: z.array(proxyAddress).max(64).default([]),
    auth: webAuthSchema.optional(),
  })
  .refine((w) => !w.enabled || w.auth !== undefined || isLoopback(w.host), {
    path: ['host'],
    message:
      'not a loopback address: the web server shows production data, so on any other address it needs web.auth (tokenEnv, users or usersFile)',
  })
  .prefault({});

/** `rejects`, `all`, or `rejects+N%`: rejects (and fail-safe verdicts) plus a random N % of good parts. */
export const archiveKeepSchema = z
  .string()
  .regex(
    /^(rejects|all|rejects\+(100|[0-9]{1,2}(\.[0-9]+)?)%)$/,
    "keep: 'rejects', 'all', or 'rejects+N%' with 0 <= N <= 100 (e.g. rejects+1%)",
  );

const archiveSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    dir: z.string().min(1).default('/var/lib/pinpoint/archive'),
    keep: archiveKeepSchema.default('rejects'),
    /** Oldest entries are deleted beyond this size (labelled ones last). */
    maxMegabytes: z.int().min(1).default(2048),
    image: z
      .strictObject({
        /** png: lossless; jpeg: smaller, at `jpegQuality`. */
        format: z.enum(['png', 'jpeg']).default('png'),
        jpegQuality: z.int().min(1).max(100).default(90),
      })
      .prefault({}),
    /** Anomaly map: 16-bit PNG (scaled by the scale in the entry) or float32 .npy (exact). */
    mapFormat: z.enum(['png16', 'npy']).default('npy'),
    /** Parts waiting to be encoded and written; beyond it new ones are dropped and counted. */
    queueDepth: z.int().min(1).max(1024).default(16),
    /**
     * The waiting parts' frame copies in MiB at most (16 frames of 20 MP are 960 MB); beyond it new parts are
     * dropped and counted like a full queue.
     */
    queueMegabytes: z.int().min(1).max(65536).default(256),
    /**
     * The share of one CPU core the archive may use while parts are in the pipeline (0–1); between parts it
     * works freely. Low priority alone is not enough: on a small PC (and on SMT cores) any busy core slows the
     * inspection. 1: no limit, for a PC with cores to spare; 0: archive only between parts.
     */
    cpuWhileInspecting: z.number().min(0).max(1).default(0.1),
  })
  .prefault({});

const loggingSchema = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** `auto`: human-readable on a terminal, JSON lines otherwise (journald). */
    pretty: z.enum(['auto', 'always', 'never']).default('auto'),
    /**
     * Every this many seconds one info line per camera: parts by verdict, drops, fps, latency p50/p99 since the
     * last line (none while idle). 0: off. Each decision is logged at debug either way.
     */
    statsIntervalSec: z.int().min(0).max(86400).default(60),
  })
  .prefault({});

export const configSchema = z.strictObject({
  cameras: z.record(cameraIdSchema, cameraSchema).default({}),
  pipeline: pipelineSchema,
  model: modelSchema,
  inference: inferenceSchema,
  verdict: verdictSchema,
  mqtt: mqttSchema,
  web: webSchema,
  archive: archiveSchema,
  /** Re-teach in the daemon (MQTT `cmd/teach`, the console): needs a models directory and the archive. */
  reteach: reteachSchema,
  logging: loggingSchema,
});

export type Config = z.infer<typeof configSchema>;
export type CameraConfig = z.infer<typeof cameraSchema>;
export type CameraType = CameraConfig['type'];

/** Key names whose values are secrets: redacted when a config is printed or logged. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'password',
  'passphrase',
  'token',
  'secret',
  'passwordhash',
]);

export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}
