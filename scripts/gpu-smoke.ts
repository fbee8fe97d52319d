// GPU smoke test: `npm run gpu-smoke` on a machine with only Node and the npm/Debian registries.
// For each execution provider: can it load (and if not, which library is missing), then for each input size
// and precision one ViT-B-shaped anomaly graph (random dev-teacher weights: the maths and the shapes of a real
// deployment, not its accuracy): which nodes ran on which provider (onnxruntime profiling), the max error
// against the CPU fp32 result, and ms/frame at each batch size. Prints a table and writes JSON (--out).
//
//   npm run gpu-smoke -- [--sizes 224,1036] [--batches 1,8] [--providers cuda,tensorrt,webgpu,cpu]
//                        [--cpu-ref-max 224] [--runs 3] [--arch vit-b|tiny] [--device-id 0] [--out file]
//
// The CPU fp32 reference at S = 1036 (ViT-B) takes minutes on a small CPU: it runs only for sizes up to
// --cpu-ref-max (224 by default); larger sizes report timings without an error column. The CUDA and TensorRT
// provider libraries are not on npm or Debian: without `npm run setup:gpu` (a download from GitHub) those two
// are reported unusable, with the missing library, and WebGPU and the CPU are still measured.
// WebGPU is fed host-normalised float32 frames, as the daemon feeds it (model/pixel-input.ts), so its node
// table should show no CPU nodes; its attention needs heads·T²·4 bytes per image in one buffer, and each
// WebGPU row says how many images pinpoint's default 1 GiB budget allows: a batch that runs here over that
// budget shows the adapter takes more (inference.webgpuBufferMiB can be raised).
//
// Needs only Node and the npm registry: `npm ci --ignore-scripts` (the native addons the daemon needs, OpenCV
// and SQLite, build from sources and headers a bare machine lacks; this script imports neither).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import {
  deviceNodeCheck,
  driverCheck,
  PROVIDER_FILES,
  providerLibraryCheck,
  vulkanCheck,
} from '../src/cli/gpu-doctor.js';
import { buildAnomalyGraph } from '../src/model/anomaly-graph.js';
import { makeDevTeacherWeights } from '../src/model/dev-teacher.js';
import { normalizePixels, pixelInputFor, type PixelInput } from '../src/model/pixel-input.js';
import { interpolatePosEmbed } from '../src/model/pos-embed.js';
import {
  PROVIDERS,
  probeExecutionProviders,
  providerLibraryDir,
  webgpuMaxBatch,
  type ProviderName,
  type ProviderProbe,
} from '../src/model/providers.js';
import { initStudents } from '../src/model/students.js';
import type { TeacherWeights } from '../src/model/types.js';
import { sessionOptions } from '../src/pipeline/inference.js';

interface Row {
  provider: ProviderName;
  size: number;
  precision: 'fp32' | 'fp16';
  ok: boolean;
  error?: string;
  pixelInput: PixelInput;
  /** Nodes per provider that ran them (from the profile). */
  nodes?: Record<string, number>;
  /** On a GPU provider: the op types that ran on the CPU (none expected). */
  cpuOps?: string[];
  /** WebGPU: the most images per run within pinpoint's default attention-buffer budget. */
  budgetBatch?: number;
  /** max |Δ| against the CPU fp32 result, relative to its peak; absent without a reference. */
  maxRelError?: number;
  /** ms/frame per batch size, or why that batch failed. */
  msPerFrame?: Record<string, number | string>;
}

const ARCH = {
  'vit-b': { depth: 12, dim: 768, heads: 12, registers: 4, posGrid: 37 },
  tiny: { depth: 2, dim: 32, heads: 2, registers: 4, posGrid: 4 },
} as const;

function options() {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '224,1036' },
      batches: { type: 'string', default: '1,8' },
      providers: { type: 'string', default: PROVIDERS.join(',') },
      'cpu-ref-max': { type: 'string', default: '224' },
      runs: { type: 'string', default: '3' },
      arch: { type: 'string', default: 'vit-b' },
      'device-id': { type: 'string', default: '0' },
      out: { type: 'string' },
    },
  });
  const ints = (s: string) => s.split(',').map((x) => Number.parseInt(x, 10));
  const arch = values.arch as keyof typeof ARCH;
  if (!(arch in ARCH)) throw new Error(`--arch must be one of ${Object.keys(ARCH).join(', ')}`);
  return {
    sizes: ints(values.sizes),
    batches: ints(values.batches),
    providers: values.providers.split(',') as ProviderName[],
    cpuRefMax: Number(values['cpu-ref-max']),
    runs: Math.max(1, Number(values.runs)),
    arch,
    deviceId: Number(values['device-id']),
    out: values.out,
  };
}

/** Deterministic pseudo-random frames, so every provider sees the same pixels. */
function frames(batch: number, size: number): Uint8Array {
  const px = new Uint8Array(batch * size * size * 3);
  let x = 12345;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return px;
}

function graph(
  w: TeacherWeights,
  size: number,
  fp16: boolean,
  fused: boolean,
  pixelInput: PixelInput,
): Uint8Array {
  const g = size / w.arch.patch;
  const posEmbed = interpolatePosEmbed(w.posEmbed, w.arch.dim, w.arch.posGrid, g);
  return buildAnomalyGraph(w, initStudents(w.arch.dim, 5), {
    size,
    layers: [Math.max(1, w.arch.depth - 4), w.arch.depth],
    posEmbed,
    fp16,
    fusedAttention: fused,
    pixelInput,
  });
}

/** One run, fed as the daemon feeds the provider (uint8, or normalised float32 for WebGPU). */
async function runOnce(
  s: ort.InferenceSession,
  px: Uint8Array,
  b: number,
  size: number,
  pixelInput: PixelInput = 'uint8',
): Promise<Float32Array> {
  const dims = [b, size, size, 3];
  let input: ort.Tensor;
  if (pixelInput === 'float32') {
    const f = new Float32Array(px.length);
    normalizePixels(px, f);
    input = new ort.Tensor('float32', f, dims);
  } else input = new ort.Tensor('uint8', px, dims);
  const out = await s.run({ pixels: input });
  return out.anomaly.data as Float32Array;
}

/** Kernel events per execution provider, and the op types run on the CPU, from the profile in `dir`. */
function nodesByProvider(dir: string): { nodes: Record<string, number>; cpuOps: string[] } {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  const counts: Record<string, number> = {};
  const cpuOps = new Set<string>();
  const seen = new Set<string>();
  for (const f of files) {
    const events = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      cat?: string;
      name?: string;
      args?: { provider?: string; op_name?: string };
    }[];
    for (const e of events) {
      if (e.cat !== 'Node' || !e.args?.provider || !e.name?.endsWith('_kernel_time')) continue;
      if (seen.has(e.name)) continue;
      seen.add(e.name);
      counts[e.args.provider] = (counts[e.args.provider] ?? 0) + 1;
      if (e.args.provider === 'CPUExecutionProvider' && e.args.op_name) cpuOps.add(e.args.op_name);
    }
  }
  return { nodes: counts, cpuOps: [...cpuOps].sort() };
}

async function measure(
  provider: ProviderName,
  bytes: Uint8Array,
  size: number,
  pixelInput: PixelInput,
  o: ReturnType<typeof options>,
  ref: Float32Array | undefined,
): Promise<Pick<Row, 'ok' | 'error' | 'nodes' | 'cpuOps' | 'maxRelError' | 'msPerFrame'>> {
  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-smoke-'));
  try {
    const session = await ort.InferenceSession.create(bytes, {
      ...sessionOptions(provider, 0, o.deviceId),
      enableProfiling: true,
      profileFilePrefix: join(dir, 'profile'),
    });
    const msPerFrame: Record<string, number | string> = {};
    let maxRelError: number | undefined;
    try {
      for (const b of o.batches) {
        // A batch that fails (out of memory, a buffer over the adapter's limit) does not hide the others.
        try {
          const px = frames(b, size);
          const first = await runOnce(session, px, b, size, pixelInput); // per-shape set-up (cuDNN, TRT engine)
          if (b === 1 && ref) maxRelError = relError(ref, first);
          const times: number[] = [];
          for (let r = 0; r < o.runs; r++) {
            const t0 = performance.now();
            await runOnce(session, px, b, size, pixelInput);
            times.push(performance.now() - t0);
          }
          times.sort((x, y) => x - y);
          msPerFrame[`batch ${b}`] = Number((times[times.length >> 1] / b).toFixed(2));
        } catch (e) {
          msPerFrame[`batch ${b}`] = `failed: ${firstLine(e)}`;
        }
      }
    } finally {
      session.endProfiling();
      await session.release();
    }
    const ok = Object.values(msPerFrame).some((v) => typeof v === 'number');
    return { ok, ...nodesByProvider(dir), maxRelError, msPerFrame };
  } catch (e) {
    return { ok: false, error: firstLine(e) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** max |ref − x| relative to the peak of ref. */
function relError(ref: Float32Array, x: Float32Array): number {
  let peak = 0;
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    peak = Math.max(peak, Math.abs(ref[i]));
    err = Math.max(err, Math.abs(ref[i] - x[i]));
  }
  return err / (peak || 1);
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

async function hostReport(o: ReturnType<typeof options>): Promise<ProviderName[]> {
  console.log(`node ${process.version}, onnxruntime-node ${ort.env.versions.node ?? '?'}`);
  for (const c of [deviceNodeCheck(), driverCheck(), vulkanCheck()])
    console.log(`  ${c.ok ? 'ok ' : 'no '} ${c.name}: ${c.detail}`);
  const dir = providerLibraryDir();
  for (const p of ['cuda', 'tensorrt'] as const) {
    const c = await providerLibraryCheck(p, dir ? dir + PROVIDER_FILES[p] : undefined);
    console.log(`  ${c.ok ? 'ok ' : 'no '} ${c.name}: ${c.detail}`);
  }
  const probes = await probeExecutionProviders(o.providers, { deviceId: o.deviceId });
  for (const p of probes)
    console.log(`  ${p.usable ? 'ok ' : 'no '} provider ${p.name}${p.usable ? '' : `: ${p.reason}`}`);
  const notes = unmeasuredNotes(probes);
  for (const n of notes) console.log(`  NOT MEASURED: ${n}`);
  return probes.filter((p) => p.usable).map((p) => p.name);
}

/** One line per provider that cannot be measured, saying why in the terms of this host. */
function unmeasuredNotes(probes: readonly ProviderProbe[]): string[] {
  const out: string[] = [];
  const gpuLibs = probes.filter((p) => (p.name === 'cuda' || p.name === 'tensorrt') && !p.usable);
  if (gpuLibs.length > 0) {
    const libs = providerLibraryDir();
    const fetched = libs !== undefined && existsSync(libs + PROVIDER_FILES.cuda);
    out.push(
      `${gpuLibs.map((p) => p.name).join(' and ')}: ` +
        (fetched
          ? 'the provider library is there but does not load: a CUDA, cuDNN or TensorRT library it needs is missing (named above)'
          : 'onnxruntime-node’s CUDA/TensorRT provider libraries are not on the npm or Debian registries; ' +
            '`npm run setup:gpu` downloads them (NuGet/GitHub), with CUDA 12, cuDNN 9 and TensorRT 10 from ' +
            'NVIDIA’s repository') +
        '. The other providers are measured.',
    );
  }
  if (probes.some((p) => p.name === 'webgpu' && !p.usable))
    out.push('webgpu: no adapter (see the vulkan line above for what is missing).');
  return out;
}

async function main(): Promise<void> {
  const o = options();
  ort.env.logLevel = 'error';
  const usable = await hostReport(o);
  const w = makeDevTeacherWeights({ ...ARCH[o.arch], seed: 7 });
  const rows: Row[] = [];
  for (const size of o.sizes) {
    const graphs = new Map<string, Uint8Array>();
    const graphFor = (fp16: boolean, fused: boolean, pixelInput: PixelInput): Uint8Array => {
      const key = `${fp16}/${fused}/${pixelInput}`;
      let g = graphs.get(key);
      if (!g) graphs.set(key, (g = graph(w, size, fp16, fused, pixelInput)));
      return g;
    };
    let ref: Float32Array | undefined;
    if (size <= o.cpuRefMax) {
      const cpu = await ort.InferenceSession.create(graphFor(false, true, 'uint8'), sessionOptions('cpu', 0));
      ref = await runOnce(cpu, frames(1, size), 1, size);
      await cpu.release();
    }
    const tokens = (size / w.arch.patch) ** 2 + 1 + w.arch.registers;
    for (const provider of usable) {
      const precisions = provider === 'cpu' ? (['fp32'] as const) : (['fp32', 'fp16'] as const);
      // On the CPU also the float input WebGPU is fed (checked against the uint8 reference), so a WebGPU
      // error can be told apart from an input error; only where the reference runs (it costs a CPU run).
      const inputs: PixelInput[] =
        provider === 'cpu' && ref ? ['uint8', 'float32'] : [pixelInputFor(provider)];
      for (const [precision, pixelInput] of precisions.flatMap((p) => inputs.map((i) => [p, i] as const))) {
        const fp16 = precision === 'fp16';
        // TensorRT fuses plain attention itself and has no kernel for the MultiHeadAttention contrib op.
        const bytes = graphFor(fp16, provider !== 'tensorrt', pixelInput);
        const budgetBatch =
          provider === 'webgpu' ? webgpuMaxBatch({ heads: w.arch.heads, tokens, fp16 }) : undefined;
        process.stdout.write(`S=${size} ${provider} ${precision} (${pixelInput} input) … `);
        const r: Row = {
          provider,
          size,
          precision,
          pixelInput,
          budgetBatch,
          ...(await measure(provider, bytes, size, pixelInput, o, ref)),
        };
        rows.push(r);
        console.log(
          r.error
            ? `FAILED: ${r.error}`
            : JSON.stringify({
                nodes: r.nodes,
                ...(provider !== 'cpu' ? { cpuOps: r.cpuOps } : {}),
                ...(budgetBatch !== undefined ? { imagesWithin1GiB: budgetBatch } : {}),
                maxRelError: r.maxRelError,
                msPerFrame: r.msPerFrame,
              }),
        );
      }
    }
  }
  printTable(rows);
  if (o.out) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(o.out, JSON.stringify({ arch: o.arch, rows }, null, 2));
    console.log(`results: ${o.out}`);
  }
}

function printTable(rows: Row[]): void {
  console.table(
    rows.map((r) => ({
      provider: r.provider,
      S: r.size,
      precision: r.precision,
      input: r.pixelInput,
      ok: r.ok,
      'max rel err': r.maxRelError?.toExponential(2) ?? '',
      ...Object.fromEntries(
        Object.entries(r.msPerFrame ?? {}).map(([k, v]) => [k, typeof v === 'number' ? v : 'failed']),
      ),
      nodes: r.nodes
        ? Object.entries(r.nodes)
            .map(([k, v]) => `${k.replace('ExecutionProvider', '')} ${v}`)
            .join(', ') + (r.cpuOps?.length && r.provider !== 'cpu' ? ` (CPU: ${r.cpuOps.join(' ')})` : '')
        : r.error,
      'webgpu budget': r.budgetBatch ?? '',
    })),
  );
}

await main();
