// Teach-in into a models directory: the current version's bundle is copied into a staging directory, taught
// there (checkpoints and feature caches stay in it), then published as a new version whose parent is the one
// it started from, and promoted unless asked not to. The version the daemon runs is never written to; a crash
// at any point leaves the models directory as it was, or with the new version complete.
import { rmSync } from 'node:fs';
import { copyBundleFiles, createStaging, publishVersion } from '../model/version-publish.js';
import { promoteVersion } from '../model/version-promote.js';
import { VersionError, currentVersion, versionDir, type VersionRecord } from '../model/versions.js';
import { teachIn, type TeachInParams, type TeachInResult } from './teach-in.js';

export interface TeachVersionResult {
  result: TeachInResult;
  record: VersionRecord;
  promoted: boolean;
}

/** The teach-in set a version records, from a teach-in's manifest. */
export function teachInSet(r: TeachInResult): { images: string[]; imagesSha256?: string } | null {
  const t = r.manifest.training as { imageHashes?: unknown; imagesSha256?: unknown } | undefined;
  if (!t || !Array.isArray(t.imageHashes)) return null;
  return {
    images: t.imageHashes as string[],
    ...(typeof t.imagesSha256 === 'string' ? { imagesSha256: t.imagesSha256 } : {}),
  };
}

export async function teachVersion(
  modelsDir: string,
  p: Omit<TeachInParams, 'bundleDir'>,
  opts: { promote?: boolean; source?: string } = {},
): Promise<TeachVersionResult> {
  const parent = currentVersion(modelsDir);
  if (!parent) throw new VersionError(`${modelsDir} has no current version to teach from`);
  if (p.options?.resume) throw new VersionError('--resume works on a plain bundle only');
  const staging = createStaging(modelsDir, 'train');
  try {
    copyBundleFiles(versionDir(modelsDir, parent), staging);
    const result = await teachIn({ ...p, bundleDir: staging });
    const record = publishVersion(modelsDir, staging, {
      parent,
      teachIn: teachInSet(result),
      source: opts.source ?? 'train',
    });
    const promoted = opts.promote !== false;
    if (promoted) promoteVersion(modelsDir, record.version);
    p.log?.info({ version: record.version, parent, promoted }, 'teach-in published as a new model version');
    return { result, record, promoted };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
