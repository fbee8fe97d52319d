// `pinpoint doctor [--config FILE] [--json]`: registers the command; the checks live in doctor.ts.
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import { doctorExitCode, formatChecks, runDoctor } from './doctor.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('report what this host can do and whether it has what a config needs')
    .option('-c, --config <file>', 'deployment YAML to check requirements against')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const loaded = opts.config ? loadConfigFile(opts.config) : undefined;
      const checks = await runDoctor(loaded?.config, loaded?.dir);
      process.stdout.write(opts.json ? JSON.stringify(checks, null, 2) + '\n' : formatChecks(checks));
      process.exitCode = doctorExitCode(checks);
    });
}
