// Which decided parts the archive keeps: `rejects` (every part not passed: rejects and fail-safe verdicts),
// `all`, or `rejects+N%` (rejects plus a random N % of good parts, a sample to audit the passes). Pure.
import type { InspectionResult } from '../../pipeline/result.js';

export type KeepPolicy = (r: InspectionResult) => boolean;

/** Parses a validated `archive.keep` value (see archiveKeepSchema); `random` is in [0, 1). */
export function keepPolicy(keep: string, random: () => number = Math.random): KeepPolicy {
  if (keep === 'all') return () => true;
  const m = /^rejects(?:\+([0-9.]+)%)?$/.exec(keep);
  if (!m) throw new Error(`archive.keep: '${keep}' is not rejects, all or rejects+N%`);
  const goodShare = m[1] === undefined ? 0 : Number(m[1]) / 100;
  return (r) => r.verdict !== 'ok' || (goodShare > 0 && random() < goodShare);
}
