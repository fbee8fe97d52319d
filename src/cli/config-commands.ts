// `pinpoint config check FILE` and `pinpoint config schema`.
import { stringify } from 'yaml';
import { loadConfigFile } from '../config/load.js';
import { redactSecrets } from '../config/redact.js';
import { configJsonSchema } from '../config/schema.js';
import { cameraPairing } from '../sources/pairing.js';

/**
 * Validates FILE and prints the effective config (defaults filled in, secrets redacted) as YAML, after a
 * `# warning:` line for each valid but risky choice (triggers paired by arrival order).
 */
export function configCheck(file: string, out: NodeJS.WritableStream = process.stdout): void {
  const { config, file: abs } = loadConfigFile(file);
  out.write(`# ${abs}: valid\n`);
  for (const [id, cam] of Object.entries(config.cameras)) {
    const warning = cameraPairing(cam)?.warning;
    if (warning) out.write(`# warning: cameras.${id}.trigger.pairing: ${warning}\n`);
  }
  out.write(stringify(redactSecrets(config)));
}

export function configSchemaCommand(out: NodeJS.WritableStream = process.stdout): void {
  out.write(JSON.stringify(configJsonSchema(), null, 2) + '\n');
}
