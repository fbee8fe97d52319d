// Execution providers: which ones load on this host, and why the others do not.
import type { InferenceSession } from 'onnxruntime-node';
import { identityModel } from './onnx/probe-model.js';

export const PROVIDERS = ['cpu', 'cuda', 'tensorrt', 'webgpu'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export interface ProviderProbe {
  name: ProviderName;
  usable: boolean;
  reason: string;
}

/** Tries a one-node model on each provider; a provider is usable only if a session runs on it. */
export async function probeExecutionProviders(): Promise<ProviderProbe[]> {
  const ort = await import('onnxruntime-node');
  // Failed provider loads are expected here and reported as reasons, not as log noise.
  ort.env.logLevel = 'fatal';
  const model = identityModel();
  const out: ProviderProbe[] = [];
  for (const name of PROVIDERS) {
    let session: InferenceSession | undefined;
    try {
      session = await ort.InferenceSession.create(model, { executionProviders: [name], logSeverityLevel: 4 });
      const x = new ort.Tensor('float32', new Float32Array([1, 2]), [2]);
      await session.run({ x });
      out.push({ name, usable: true, reason: '' });
    } catch (err) {
      out.push({ name, usable: false, reason: explain(name, firstLine((err as Error).message)) });
    } finally {
      await session?.release();
    }
  }
  return out;
}

/** The CPU-only npm install lacks the GPU provider libraries; say so instead of a dlopen error. */
function explain(name: ProviderName, message: string): string {
  if ((name === 'cuda' || name === 'tensorrt') && /Failed to load shared library/i.test(message)) {
    return `${message} (the ${name} provider libraries are not installed: this is the CPU build; on a CUDA host run \`npm run setup:gpu\`)`;
  }
  return message;
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim().length > 0)
      ?.trim() ?? 'unknown error'
  );
}
