// The parts archive as a sink: every decided part that `archive.keep` selects goes, with its frame and Δ grid
// (a tiled frame: its tiles' Δ grids and the tile grid), to the archive worker (encoding, files, SQLite index,
// size bound: sinks/archive/). See docs/archive.md.
import { resolve } from 'node:path';
import { keepPolicy } from './archive/keep-policy.js';
import { ArchiveWriter } from './archive/archive-writer.js';
import type { ArchiveStats } from './archive/archive-writer.js';
import { archiveEvidence } from './archive/entry-map.js';
import type { Sink, SinkPlugin } from './types.js';

export interface ArchiveSink extends Sink {
  stats(): ArchiveStats;
}

export const archiveSink: SinkPlugin<'archive'> = {
  section: 'archive',
  create(cfg, ctx): ArchiveSink {
    const keep = keepPolicy(cfg.keep);
    const writer = new ArchiveWriter(
      {
        dir: resolve(ctx.configDir, cfg.dir),
        maxBytes: cfg.maxMegabytes * 1024 * 1024,
        imageFormat: cfg.image.format,
        jpegQuality: cfg.image.jpegQuality,
        mapFormat: cfg.mapFormat,
        load: ctx.status.pipelineLoad.buffer,
        cpuWhileInspecting: cfg.cpuWhileInspecting,
      },
      cfg.queueDepth,
      ctx.log.child({ sink: 'archive' }),
      cfg.queueMegabytes * 1024 * 1024,
    );
    ctx.status.archive = () => writer.st;
    return {
      name: 'archive',
      wantsEvidence: true,
      start: () => writer.start(),
      result(r, evidence) {
        if (!keep(r)) return;
        writer.enqueue({ result: r, evidence: evidence && archiveEvidence(evidence) });
      },
      cameraState: () => {},
      stop: () => writer.stop(),
      stats: () => ({ ...writer.st }),
    };
  },
};
