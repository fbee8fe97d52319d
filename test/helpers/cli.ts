// Runs the pinpoint CLI from source (through tsx) as a child process, the way a user runs it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { exitCodeWithin, track } from './children.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
        cwd: opts.cwd,
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pinpoint ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 60000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A `pinpoint run` child with its output collected (stdout and stderr together). */
export interface Daemon {
  child: ChildProcess;
  exited: Promise<number | null>;
  output(): string;
}

export function startDaemon(configFile: string, env: NodeJS.ProcessEnv = {}): Daemon {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', '--config', configFile], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, output: () => out };
}

/** The daemon's exit code; a daemon still running after `ms` is killed and fails the test (a hung shutdown). */
export async function exitWithin(d: Daemon, ms: number): Promise<number | null> {
  try {
    return await exitCodeWithin(d.child, ms);
  } catch {
    assert.fail(`pinpoint run did not exit within ${ms} ms:\n${d.output().slice(-3000)}`);
  }
}
