// `pinpoint archive list|export`: queries the parts archive of a config and packs ranges of it into a tar.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import type { ArchiveQuery, LabelKind } from '../sinks/archive/archive-index.js';
import { ArchiveIndex, LABELS } from '../sinks/archive/archive-index.js';
import { exportArchive } from '../sinks/archive/archive-export.js';
import { INDEX_FILE } from '../sinks/archive/layout.js';
import { CliError, EXIT } from './exit.js';

interface QueryOptions {
  config: string;
  from?: string;
  to?: string;
  camera?: string;
  part?: string;
  verdict?: string;
  label?: string;
}

/** An ISO 8601 time or ms since the epoch. */
function timeOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t))
    throw new CliError(`--${name} ${v}: not an ISO 8601 time or ms since the epoch`, EXIT.usage);
  return t;
}

function queryOf(o: QueryOptions): ArchiveQuery {
  if (o.verdict !== undefined && !['ok', 'reject', 'error'].includes(o.verdict))
    throw new CliError(`--verdict ${o.verdict}: one of ok, reject, error`, EXIT.usage);
  if (o.label !== undefined && !(LABELS as readonly string[]).includes(o.label))
    throw new CliError(`--label ${o.label}: one of ${LABELS.join(', ')}`, EXIT.usage);
  return {
    from: timeOption('from', o.from),
    to: timeOption('to', o.to),
    cameraId: o.camera,
    partId: o.part,
    verdict: o.verdict as ArchiveQuery['verdict'],
    label: o.label as LabelKind | undefined,
  };
}

/** The config's archive folder; a clear error when there is no archive there (yet). */
function archiveDir(configFile: string): string {
  const { config } = loadConfigFile(configFile);
  const dir = resolve(dirname(resolve(configFile)), config.archive.dir);
  if (!existsSync(join(dir, INDEX_FILE)))
    throw new CliError(`no parts archive at ${dir} (archive.dir of ${configFile})`, EXIT.failure);
  return dir;
}

function withQueryOptions(c: Command): Command {
  return c
    .requiredOption('-c, --config <file>', 'deployment YAML (its archive.dir)')
    .option('--from <time>', 'decided at or after (ISO 8601 or ms since the epoch)')
    .option('--to <time>', 'decided before (ISO 8601 or ms since the epoch)')
    .option('--camera <id>', 'one camera')
    .option('--part <id>', 'one part id')
    .option('--verdict <v>', 'ok, reject or error')
    .option('--label <l>', `an operator label (${LABELS.join(', ')})`);
}

export function registerArchive(program: Command): void {
  const archive = program.command('archive').description('query and export the parts archive');
  withQueryOptions(archive.command('list'))
    .description('print matching archive entries as JSON lines')
    .option('--limit <n>', 'at most this many', '1000')
    .action((o: QueryOptions & { limit: string }) => {
      const index = new ArchiveIndex(join(archiveDir(o.config), INDEX_FILE), { readonly: true });
      try {
        for (const e of index.query({ ...queryOf(o), limit: Number(o.limit) }))
          process.stdout.write(`${JSON.stringify({ ...e, labels: index.labels(e.id) })}\n`);
      } finally {
        index.close();
      }
    });
  withQueryOptions(archive.command('export'))
    .description('pack matching entries (images, maps, results, labels) into a tar')
    .requiredOption('--out <file>', 'the tar to write')
    .action(async (o: QueryOptions & { out: string }) => {
      const s = await exportArchive(archiveDir(o.config), queryOf(o), resolve(o.out));
      process.stdout.write(
        `exported ${s.entries} entries (${s.bytes} bytes) to ${o.out}` +
          (s.missing ? `; ${s.missing} deleted meanwhile` : '') +
          '\n',
      );
    });
}
