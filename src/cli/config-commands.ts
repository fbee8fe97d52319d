// `pinpoint config check FILE` and `pinpoint config schema`.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { preflight } from '../app/preflight.js';
import { ConfigError, loadConfigFile } from '../config/load.js';
import { redactSecrets } from '../config/redact.js';
import { configJsonSchema } from '../config/schema.js';
import { cameraPairing } from '../sources/pairing.js';

/**
 * Validates FILE as `pinpoint run` would (schema, then cameras, model bundle, input size and thresholds)
 * and prints the effective config (defaults filled in, secrets redacted) as YAML, after a `# warning:` line
 * for each valid but risky choice (triggers paired by arrival order).
 */
export function configCheck(file: string, out: NodeJS.WritableStream = process.stdout): void {
  const { config, file: abs, dir, position } = loadConfigFile(file);
  const { problems, manifest } = preflight(config, dir);
  if (problems.length > 0) {
    throw new ConfigError(
      abs,
      problems.map((p) => ({ ...position(p.path), path: p.path.join('.'), message: p.message })),
    );
  }
  out.write(`# ${abs}: valid\n`);
  if (manifest) {
    const dev = manifest.teacher.devTeacher ? ' (DEV TEACHER: not a real backbone)' : '';
    out.write(`# model ${manifest.modelId}: input size ${manifest.input.size}${dev}\n`);
  }
  for (const [id, cam] of Object.entries(config.cameras)) {
    const warning = cameraPairing(cam)?.warning;
    if (warning) out.write(`# warning: cameras.${id}.trigger.pairing: ${warning}\n`);
  }
  out.write(stringify(redactSecrets(config)));
}

export function configSchemaCommand(out: NodeJS.WritableStream = process.stdout): void {
  out.write(JSON.stringify(configJsonSchema(), null, 2) + '\n');
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('validate and describe deployment configs');
  config
    .command('check')
    .description(
      'validate FILE as `run` would (cameras, model bundle, thresholds) and print the effective config',
    )
    .argument('<file>')
    .action((file: string) => configCheck(file));
  config
    .command('schema')
    .description('print the JSON Schema of the config, for editors')
    .action(() => configSchemaCommand());
}
