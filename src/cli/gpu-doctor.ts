// `pinpoint doctor`, GPU part: for each GPU provider whether its library is there and which shared libraries
// it cannot find (ldd), with the exact remedy; the NVIDIA device nodes and driver version; the Vulkan loader
// and driver that WebGPU needs; and the deadline check from the last warm-up. onnxruntime's own load error
// ("Failed to load shared library") names only its provider file, not the CUDA/cuDNN/TensorRT library that is
// really missing, so we ask the dynamic linker.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface GpuCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** The provider libraries onnxruntime-node loads for each provider (webgpu is built into libonnxruntime). */
export const PROVIDER_FILES: Record<'cuda' | 'tensorrt', string> = {
  cuda: 'libonnxruntime_providers_cuda.so',
  tensorrt: 'libonnxruntime_providers_tensorrt.so',
};

const SETUP_GPU =
  'run `npm run setup:gpu` in the pinpoint directory (fetches onnxruntime-node’s CUDA 12 provider libraries)';

/** What to install for a missing library, by its soname. */
export function remedyFor(lib: string): string {
  if (/^libcuda\.so/.test(lib)) return 'the NVIDIA driver is not installed (apt-get install nvidia-driver)';
  if (/^libcudnn/.test(lib))
    return 'install cuDNN 9 for CUDA 12 (apt-get install libcudnn9-cuda-12, NVIDIA repository)';
  if (/^libnvinfer|^libnvonnxparser/.test(lib))
    return 'install TensorRT 10 for CUDA 12 (apt-get install libnvinfer10 libnvinfer-plugin10 libnvonnxparsers10)';
  if (/^lib(cudart|cublas|cublasLt|cufft|curand|cusparse|cusolver|nvrtc)\b/.test(lib))
    return 'install the CUDA 12 runtime libraries (apt-get install cuda-libraries-12-x, NVIDIA repository) or add their directory to LD_LIBRARY_PATH in the service unit';
  if (/^libonnxruntime_providers_shared/.test(lib)) return SETUP_GPU;
  return `install the package that provides ${lib}`;
}

/** Shared libraries `file` needs that the dynamic linker cannot find (ldd's "=> not found" lines). */
export async function missingLibraries(file: string): Promise<string[]> {
  // execFile: the path is passed as an argument, never through a shell.
  const { stdout } = await run('ldd', [file], { timeout: 10000 });
  return parseLddMissing(stdout);
}

export function parseLddMissing(ldd: string): string[] {
  const out: string[] = [];
  for (const line of ldd.split('\n')) {
    const m = /^\s*(\S+)\s+=>\s+not found/.exec(line);
    if (m && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}

/** One provider's library: present, loadable, or what is missing and what to install. */
export async function providerLibraryCheck(provider: string, file: string | undefined): Promise<GpuCheck> {
  const name = `${provider} libraries`;
  if (!file || !existsSync(file)) {
    return { name, ok: false, detail: `${file ?? 'provider library'} not found: ${SETUP_GPU}` };
  }
  let missing: string[];
  try {
    missing = await missingLibraries(file);
  } catch (e) {
    return { name, ok: false, detail: `ldd ${file} failed: ${(e as Error).message.split('\n')[0]}` };
  }
  if (missing.length === 0) return { name, ok: true, detail: `${file}: all shared libraries found` };
  const remedies = [...new Set(missing.map(remedyFor))];
  return { name, ok: false, detail: `missing ${missing.join(', ')}: ${remedies.join('; ')}` };
}

/**
 * NVIDIA device nodes. The service runs with NoNewPrivileges and RestrictSUIDSGID, so it cannot run
 * nvidia-modprobe to create them: they must exist at boot (docs/gpu.md).
 */
export function deviceNodeCheck(dev = '/dev'): GpuCheck {
  let names: string[] = [];
  try {
    names = readdirSync(dev);
  } catch {
    // no /dev: reported as no nodes below
  }
  const gpus = names.filter((n) => /^nvidia\d+$/.test(n)).sort();
  const needed = ['nvidiactl', 'nvidia-uvm'];
  const missing = needed.filter((n) => !names.includes(n));
  let render: string[] = [];
  try {
    render = readdirSync(join(dev, 'dri')).filter((n) => n.startsWith('renderD'));
  } catch {
    // no DRI devices
  }
  if (gpus.length === 0) {
    return {
      name: 'gpu device nodes',
      ok: false,
      detail: `no /dev/nvidia[0-9]${render.length > 0 ? ` (DRI render nodes: ${render.join(', ')}, for webgpu)` : ''}`,
    };
  }
  if (missing.length > 0) {
    return {
      name: 'gpu device nodes',
      ok: false,
      detail: `${gpus.join(', ')} but no ${missing.map((m) => '/dev/' + m).join(', ')}: the hardened service cannot create them; load nvidia-uvm at boot (docs/gpu.md)`,
    };
  }
  return {
    name: 'gpu device nodes',
    ok: true,
    detail: [...gpus, ...needed].map((n) => '/dev/' + n).join(', '),
  };
}

/** The kernel driver's version line, if the NVIDIA driver is loaded. */
export function driverCheck(file = '/proc/driver/nvidia/version'): GpuCheck {
  try {
    const line = readFileSync(file, 'utf8').split('\n')[0];
    const version = /Kernel Module(?: for [^\s]+)?\s+([\d.]+)/.exec(line)?.[1] ?? line.trim();
    return { name: 'nvidia driver', ok: true, detail: version };
  } catch {
    return { name: 'nvidia driver', ok: false, detail: 'not loaded (no /proc/driver/nvidia/version)' };
  }
}

const VULKAN_LIB_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
];
const VULKAN_ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d'];

/**
 * What WebGPU needs besides onnxruntime (whose Dawn is built in): the Vulkan loader, libvulkan.so.1, and a
 * driver's Vulkan ICD manifest. Without either, onnxruntime says only "No supported adapters".
 */
export function vulkanCheck(
  libDirs: readonly string[] = VULKAN_LIB_DIRS,
  icdDirs: readonly string[] = VULKAN_ICD_DIRS,
  env: NodeJS.ProcessEnv = process.env,
): GpuCheck {
  const name = 'vulkan (webgpu)';
  const loader = libDirs.map((d) => join(d, 'libvulkan.so.1')).find((f) => existsSync(f));
  if (!loader) {
    return { name, ok: false, detail: 'no Vulkan loader (libvulkan.so.1): apt-get install libvulkan1' };
  }
  const fromEnv = (env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES ?? '').split(':').filter((f) => f.length > 0);
  const icds = fromEnv.length > 0 ? fromEnv.filter((f) => existsSync(f)) : icdFiles(icdDirs);
  if (icds.length === 0) {
    return {
      name,
      ok: false,
      detail:
        `${loader} but no Vulkan driver (ICD) manifest in ${icdDirs.join(', ')}: install the GPU driver's ` +
        'Vulkan part (NVIDIA: the driver’s nvidia_icd.json, in a container NVIDIA_DRIVER_CAPABILITIES must ' +
        'include graphics; AMD/Intel: mesa-vulkan-drivers)',
    };
  }
  return { name, ok: true, detail: `${loader}; drivers: ${icds.join(', ')}` };
}

function icdFiles(dirs: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of dirs) {
    try {
      for (const f of readdirSync(d).sort()) if (f.endsWith('.json')) out.push(join(d, f));
    } catch {
      // no such directory
    }
  }
  return out;
}
