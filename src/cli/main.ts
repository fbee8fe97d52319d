// The `pinpoint` command line: parses arguments and hands over to one module per subcommand.
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfigFile } from '../config/load.js';
import { configCheck, configSchemaCommand } from './config-commands.js';
import { doctorExitCode, formatChecks, runDoctor } from './doctor.js';
import { CliError, EXIT, notImplemented } from './exit.js';
import { registerInfer } from './infer-command.js';
import { registerModel } from './model-command.js';
import { registerTrain } from './train-command.js';
import { registerDemo } from './demo-command.js';
import { registerRun } from './run-command.js';
import { registerArchive } from './archive-command.js';

export function buildProgram(): Command {
  const program = new Command('pinpoint')
    .description('Line-side visual inspection: cameras in, anomaly verdicts out over MQTT')
    .version(process.env.npm_package_version ?? '0.1.0')
    .exitOverride()
    .showHelpAfterError();

  registerRun(program);

  registerDemo(program);

  registerArchive(program);

  program
    .command('doctor')
    .description('report what this host can do and whether it has what a config needs')
    .option('-c, --config <file>', 'deployment YAML to check requirements against')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const config = opts.config ? loadConfigFile(opts.config).config : undefined;
      const checks = await runDoctor(config);
      process.stdout.write(opts.json ? JSON.stringify(checks, null, 2) + '\n' : formatChecks(checks));
      process.exitCode = doctorExitCode(checks);
    });

  const config = program.command('config').description('validate and describe deployment configs');
  config
    .command('check')
    .description('validate FILE and print the effective config, secrets redacted')
    .argument('<file>')
    .action((file: string) => configCheck(file));
  config
    .command('schema')
    .description('print the JSON Schema of the config, for editors')
    .action(() => configSchemaCommand());

  registerModel(program);

  registerTrain(program);
  registerInfer(program);
  program
    .command('eval')
    .description('evaluate a bundle on a labelled set')
    .allowUnknownOption()
    .action(() => notImplemented('eval'));
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander; they already printed.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version'
        ? EXIT.ok
        : EXIT.usage;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      return EXIT.usage;
    }
    if (err instanceof CliError) {
      process.stderr.write(err.message + '\n');
      return err.code;
    }
    process.stderr.write(`pinpoint: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.failure;
  }
}

process.exitCode = await main(process.argv.slice(2));
