// `pinpoint doctor`'s GPU section against real shared objects built here with cc: a provider library whose
// dependency is absent is reported by the dependency's name with its remedy, not as a generic load failure.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deviceNodeCheck,
  driverCheck,
  parseLddMissing,
  providerLibraryCheck,
  remedyFor,
  vulkanCheck,
} from '../src/cli/gpu-doctor.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pinpoint-gpudoc-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A provider-like library that needs `soname`; `keepDep`: the dependency stays next to it (found by rpath). */
function buildProvider(name: string, soname: string, keepDep: boolean): string {
  const sub = join(dir, name);
  mkdirSync(sub);
  writeFileSync(join(sub, 'dep.c'), 'int dep_value(void) { return 7; }\n');
  writeFileSync(
    join(sub, 'prov.c'),
    'int dep_value(void);\nint provider_entry(void) { return dep_value(); }\n',
  );
  const dep = join(sub, soname);
  execFileSync('cc', ['-shared', '-fPIC', `-Wl,-soname,${soname}`, '-o', dep, join(sub, 'dep.c')]);
  const prov = join(sub, 'libonnxruntime_providers_cuda.so');
  execFileSync('cc', ['-shared', '-fPIC', '-Wl,-rpath,$ORIGIN', '-o', prov, join(sub, 'prov.c'), dep]);
  if (!keepDep) rmSync(dep);
  return prov;
}

describe('provider library check (ldd)', () => {
  test('a missing cuDNN is named, with the package to install', async () => {
    const prov = buildProvider('nocudnn', 'libcudnn.so.9', false);
    const c = await providerLibraryCheck('cuda', prov);
    assert.equal(c.ok, false);
    assert.match(c.detail, /missing libcudnn\.so\.9/);
    assert.match(c.detail, /cuDNN 9 for CUDA 12/);
  });

  test('a library with every dependency present passes', async () => {
    const prov = buildProvider('complete', 'libcudart.so.12', true);
    const c = await providerLibraryCheck('cuda', prov);
    assert.equal(c.ok, true, c.detail);
  });

  test('an absent provider file says to run setup:gpu', async () => {
    const c = await providerLibraryCheck('tensorrt', join(dir, 'nope.so'));
    assert.equal(c.ok, false);
    assert.match(c.detail, /npm run setup:gpu/);
  });

  test('ldd output parsing and remedies', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibcublasLt.so.12 => not found',
      '\tlibnvinfer.so.10 => not found',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)',
    ].join('\n');
    assert.deepEqual(parseLddMissing(out), ['libcublasLt.so.12', 'libnvinfer.so.10']);
    assert.match(remedyFor('libcublasLt.so.12'), /CUDA 12 runtime/);
    assert.match(remedyFor('libnvinfer.so.10'), /TensorRT 10/);
    assert.match(remedyFor('libcuda.so.1'), /driver/);
  });
});

describe('device nodes and driver', () => {
  test('nodes: none, GPU without nvidia-uvm (the hardened unit cannot create it), complete', () => {
    const dev = join(dir, 'dev');
    mkdirSync(dev);
    assert.equal(deviceNodeCheck(dev).ok, false);
    writeFileSync(join(dev, 'nvidia0'), '');
    writeFileSync(join(dev, 'nvidiactl'), '');
    const partial = deviceNodeCheck(dev);
    assert.equal(partial.ok, false);
    assert.match(partial.detail, /no \/dev\/nvidia-uvm/);
    writeFileSync(join(dev, 'nvidia-uvm'), '');
    assert.equal(deviceNodeCheck(dev).ok, true);
  });

  test('driver version from /proc/driver/nvidia/version', () => {
    const f = join(dir, 'version');
    writeFileSync(
      f,
      'NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\nGCC version: gcc 12\n',
    );
    assert.deepEqual(driverCheck(f), { name: 'nvidia driver', ok: true, detail: '550.54.14' });
    assert.equal(driverCheck(join(dir, 'absent')).ok, false);
  });
});

describe('vulkan for webgpu', () => {
  test('no loader, a loader without a driver, then a driver manifest (or one named by VK_DRIVER_FILES)', () => {
    const lib = join(dir, 'vk-lib');
    const icd = join(dir, 'vk-icd');
    mkdirSync(lib);
    mkdirSync(icd);
    const none = vulkanCheck([lib], [icd], {});
    assert.equal(none.ok, false);
    assert.match(none.detail, /no Vulkan loader \(libvulkan\.so\.1\): apt-get install libvulkan1/);
    writeFileSync(join(lib, 'libvulkan.so.1'), '');
    const noDriver = vulkanCheck([lib], [icd], {});
    assert.equal(noDriver.ok, false);
    assert.match(noDriver.detail, /no Vulkan driver \(ICD\) manifest .*NVIDIA_DRIVER_CAPABILITIES/);
    writeFileSync(join(icd, 'nvidia_icd.json'), '{}');
    const ok = vulkanCheck([lib], [icd], {});
    assert.equal(ok.ok, true);
    assert.match(ok.detail, /drivers: .*nvidia_icd\.json/);
    // The loader's own override wins over the directories: a file that does not exist is no driver.
    assert.equal(vulkanCheck([lib], [icd], { VK_DRIVER_FILES: join(dir, 'absent.json') }).ok, false);
  });
});
