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
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { deviceNodeCheck, driverCheck, PROVIDER_FILES, providerLibraryCheck } from '../src/cli/gpu-doctor.js';
import { buildAnomalyGraph } from '../src/model/anomaly-graph.js';
import { makeDevTeacherWeights } from '../src/model/dev-teacher.js';
import { interpolatePosEmbed } from '../src/model/pos-embed.js';
import {
  PROVIDERS,
  probeExecutionProviders,
  providerLibraryDir,
  type ProviderName,
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
  /** Nodes per provider that ran them (from the profile). */
  nodes?: Record<string, number>;
  /** max |Δ| against the CPU fp32 result, relative to its peak; absent without a reference. */
  maxRelError?: number;
  msPerFrame?: Record<string, number>;
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

function graph(w: TeacherWeights, size: number, fp16: boolean, fused: boolean): Uint8Array {
  const g = size / w.arch.patch;
  const posEmbed = interpolatePosEmbed(w.posEmbed, w.arch.dim, w.arch.posGrid, g);
  return buildAnomalyGraph(w, initStudents(w.arch.dim, 5), {
    size,
    layers: [Math.max(1, w.arch.depth - 4), w.arch.depth],
    posEmbed,
    fp16,
    fusedAttention: fused,
  });
}

async function runOnce(
  s: ort.InferenceSession,
  px: Uint8Array,
  b: number,
  size: number,
): Promise<Float32Array> {
  const out = await s.run({ pixels: new ort.Tensor('uint8', px, [b, size, size, 3]) });
  return out.anomaly.data as Float32Array;
}

/** Kernel events per execution provider, from the profile onnxruntime wrote into `dir`. */
function nodesByProvider(dir: string): Record<string, number> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  const counts: Record<string, number> = {};
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
    }
  }
  return counts;
}

async function measure(
  provider: ProviderName,
  bytes: Uint8Array,
  size: number,
  o: ReturnType<typeof options>,
  ref: Float32Array | undefined,
): Promise<Omit<Row, 'provider' | 'size' | 'precision'>> {
  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-smoke-'));
  try {
    const session = await ort.InferenceSession.create(bytes, {
      ...sessionOptions(provider, 0, o.deviceId),
      enableProfiling: true,
      profileFilePrefix: join(dir, 'profile'),
    });
    const msPerFrame: Record<string, number> = {};
    let maxRelError: number | undefined;
    try {
      for (const b of o.batches) {
        const px = frames(b, size);
        const first = await runOnce(session, px, b, size); // per-shape set-up (cuDNN search, TRT engine)
        if (b === 1 && ref) {
          let peak = 0;
          let err = 0;
          for (let i = 0; i < ref.length; i++) {
            peak = Math.max(peak, Math.abs(ref[i]));
            err = Math.max(err, Math.abs(ref[i] - first[i]));
          }
          maxRelError = err / (peak || 1);
        }
        const times: number[] = [];
        for (let r = 0; r < o.runs; r++) {
          const t0 = performance.now();
          await runOnce(session, px, b, size);
          times.push(performance.now() - t0);
        }
        times.sort((x, y) => x - y);
        msPerFrame[`batch ${b}`] = Number((times[times.length >> 1] / b).toFixed(2));
      }
    } finally {
      session.endProfiling();
      await session.release();
    }
    return { ok: true, nodes: nodesByProvider(dir), maxRelError, msPerFrame };
  } catch (e) {
    return { ok: false, error: (e as Error).message.split('\n')[0] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function hostReport(o: ReturnType<typeof options>): Promise<ProviderName[]> {
  console.log(`node ${process.version}, onnxruntime-node ${ort.env.versions.node ?? '?'}`);
  for (const c of [deviceNodeCheck(), driverCheck()])
    console.log(`  ${c.ok ? 'ok ' : 'no '} ${c.name}: ${c.detail}`);
  const dir = providerLibraryDir();
  for (const p of ['cuda', 'tensorrt'] as const) {
    const c = await providerLibraryCheck(p, dir ? dir + PROVIDER_FILES[p] : undefined);
    console.log(`  ${c.ok ? 'ok ' : 'no '} ${c.name}: ${c.detail}`);
  }
  const probes = await probeExecutionProviders(o.providers, { deviceId: o.deviceId });
  for (const p of probes)
    console.log(`  ${p.usable ? 'ok ' : 'no '} provider ${p.name}${p.usable ? '' : `: ${p.reason}`}`);
  if (probes.some((p) => (p.name === 'cuda' || p.name === 'tensorrt') && !p.usable)) {
    console.log(
      '  note: the CUDA/TensorRT provider libraries are not on the npm or Debian registries; `npm run setup:gpu`\n' +
        '  downloads them (and needs CUDA 12, cuDNN 9, TensorRT 10 from NVIDIA). Measuring the usable providers.',
    );
  }
  return probes.filter((p) => p.usable).map((p) => p.name);
}

async function main(): Promise<void> {
  const o = options();
  ort.env.logLevel = 'error';
  const usable = await hostReport(o);
  const w = makeDevTeacherWeights({ ...ARCH[o.arch], seed: 7 });
  const rows: Row[] = [];
  for (const size of o.sizes) {
    const fp32 = graph(w, size, false, true);
    let ref: Float32Array | undefined;
    if (size <= o.cpuRefMax) {
      const cpu = await ort.InferenceSession.create(fp32, sessionOptions('cpu', 0));
      ref = await runOnce(cpu, frames(1, size), 1, size);
      await cpu.release();
    }
    for (const provider of usable) {
      const precisions = provider === 'cpu' ? (['fp32'] as const) : (['fp32', 'fp16'] as const);
      for (const precision of precisions) {
        // TensorRT fuses plain attention itself and has no kernel for the MultiHeadAttention contrib op.
        const bytes =
          precision === 'fp32' && provider !== 'tensorrt'
            ? fp32
            : graph(w, size, precision === 'fp16', provider !== 'tensorrt');
        process.stdout.write(`S=${size} ${provider} ${precision} … `);
        const r = { provider, size, precision, ...(await measure(provider, bytes, size, o, ref)) };
        rows.push(r);
        console.log(
          r.ok
            ? JSON.stringify({ nodes: r.nodes, maxRelError: r.maxRelError, msPerFrame: r.msPerFrame })
            : `FAILED: ${r.error}`,
        );
      }
    }
  }
  console.table(
    rows.map((r) => ({
      provider: r.provider,
      S: r.size,
      precision: r.precision,
      ok: r.ok,
      'max rel err': r.maxRelError?.toExponential(2) ?? '',
      ...r.msPerFrame,
      nodes: r.nodes
        ? Object.entries(r.nodes)
            .map(([k, v]) => `${k.replace('ExecutionProvider', '')} ${v}`)
            .join(', ')
        : r.error,
    })),
  );
  if (o.out) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(o.out, JSON.stringify({ arch: o.arch, rows }, null, 2));
    console.log(`results: ${o.out}`);
  }
}

await main();
