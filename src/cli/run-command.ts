// `pinpoint run --config FILE`: the daemon. SIGTERM / SIGINT stop it cleanly (sources stopped, frames in flight
// inspected and published, MQTT status `stopped`, exit 0); a second signal exits at once. SIGHUP re-reads the
// config file and applies what it can live (docs/live-changes.md); an invalid file is refused and logged.
import type { Command } from 'commander';
import { AppConfigError, TEST_INFER_DELAY_ENV, startApp } from '../app.js';
import { loadConfigFile } from '../config/load.js';
import { CliError, EXIT } from './exit.js';

/** A model that cannot be opened: a clear message and exit 1, not a stack trace (names survive the worker). */
const MODEL_ERRORS = new Set([
  'BundleError',
  'ManifestError',
  'WeightsError',
  'SafetensorsError',
  'InferenceError',
]);

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

function testDelay(): number | undefined {
  const v = process.env[TEST_INFER_DELAY_ENV];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new CliError(`${TEST_INFER_DELAY_ENV}=${v}: not a number of ms`, EXIT.usage);
  return n;
}

export async function runDaemon(configFile: string): Promise<void> {
  // SIGHUP's default action ends the process: one that arrives while the model loads is ignored instead.
  const early = (): void => void process.stderr.write('pinpoint: SIGHUP during start-up ignored\n');
  process.on('SIGHUP', early);
  const { config, dir, file } = loadConfigFile(configFile);
  let app;
  try {
    app = await startApp({ config, configDir: dir, configFile: file, testInferDelayMs: testDelay() });
  } catch (e) {
    if (e instanceof AppConfigError) throw new CliError(`pinpoint run: ${e.message}`, EXIT.usage);
    if (MODEL_ERRORS.has((e as Error).name))
      throw new CliError(`pinpoint run: ${(e as Error).message}`, EXIT.failure);
    throw e;
  } finally {
    process.off('SIGHUP', early);
  }
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      process.stderr.write(`pinpoint: second ${sig}: exiting at once\n`);
      process.exit(128 + (SIGNAL_NUMBERS[sig] ?? 1));
    }
    void app.stop(sig);
  };
  // The result is logged by the reload itself (applied, refused with its errors, or needing a restart).
  const onHangup = (): void => void app.reload({ who: 'config-file', source: 'sighup' });
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHangup);
  // Started by a supervisor over an IPC channel (pinpoint demo): stop when it goes away, even if it was killed
  // outright, so no daemon is left behind. The channel itself must not keep a stopped daemon alive.
  const onParentGone = (): void => void app.stop('parent process gone');
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', onParentGone);
  }
  try {
    await app.done;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHangup);
    process.off('disconnect', onParentGone);
  }
  if (app.sourcesFailed) process.exitCode = EXIT.failure;
  // Everything is closed; a handle some library forgot must not keep a stopped daemon alive.
  setTimeout(() => process.exit(process.exitCode ?? EXIT.ok), 3000).unref();
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the inspection daemon')
    .requiredOption('-c, --config <file>', 'deployment YAML')
    .action((opts: { config: string }) => runDaemon(opts.config));
}
