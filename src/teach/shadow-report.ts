// The shadow evaluation's comparison, pure: the same archived parts scored by the model in force and by the
// candidate, each against its own reject threshold. Reports side by side the reject rate (overall and on parts
// neither model was taught on), the labelled false rejects the candidate would pass, the confirmed defects it
// would let through, and both score distributions on shared bins. `safeToPromote` is the rule an automatic
// promotion may use: no confirmed defect escapes the candidate and its reject rate is not higher.

export interface ShadowPart {
  /** Archive entry id and key. */
  id: number;
  key: string;
  partId: string;
  cameraId: string;
  decideTime: number;
  /** The operator's label in force, if any. */
  label: 'false-reject' | 'confirmed-defect' | null;
  /** The candidate was taught on this part's frame (its scores say little about generalisation). */
  inTraining: boolean;
  current: number;
  candidate: number;
}

export interface ModelSide {
  modelId: string;
  rejectThreshold: number;
  rejects: number;
  rejectRate: number;
  /** Parts the candidate was not taught on. */
  unseenRejects: number;
  unseenRejectRate: number;
  /** Counts per bin of `bins` (shared by both models). */
  histogram: number[];
}

export interface PartRef {
  partId: string;
  cameraId: string;
  key: string;
  current: number;
  candidate: number;
}

export interface ShadowReport {
  window: { from: number; to: number; hours: number };
  parts: number;
  unseen: number;
  /** Entries not scored (no frame kept, trimmed, unreadable). */
  skipped: number;
  /**
   * Parts the model in force was run on here; the others it had decided itself, and their archived score is
   * used (same model id): half the work on a long window.
   */
  currentRescored: number;
  labelled: { falseRejects: number; confirmedDefects: number };
  bins: number[];
  current: ModelSide;
  candidate: ModelSide;
  /** Labelled false rejects the candidate passes. */
  falseRejectsPassing: PartRef[];
  /** Labelled false rejects the candidate still rejects. */
  falseRejectsStillRejected: PartRef[];
  /** Confirmed defects the candidate passes (each one blocks an automatic promotion). */
  defectsEscaping: PartRef[];
  /** Confirmed defects the model in force passes too (for comparison). */
  defectsEscapingCurrent: PartRef[];
  /** Every part the two models decide differently (what promotion would change), with its label. */
  changed: (PartRef & { label: ShadowPart['label']; candidateRejects: boolean })[];
  safeToPromote: boolean;
  /** Why not, in words; empty when safe. */
  reasons: string[];
}

export const HISTOGRAM_BINS = 20;

export function shadowReport(
  parts: readonly ShadowPart[],
  models: { current: { modelId: string; reject: number }; candidate: { modelId: string; reject: number } },
  window: { from: number; to: number },
  counts: { skipped: number; currentRescored: number },
): ShadowReport {
  const bins = binEdges(parts, models.current.reject, models.candidate.reject);
  const side = (which: 'current' | 'candidate'): ModelSide => {
    const t = models[which].reject;
    const rejects = parts.filter((p) => p[which] > t).length;
    const unseen = parts.filter((p) => !p.inTraining);
    const unseenRejects = unseen.filter((p) => p[which] > t).length;
    return {
      modelId: models[which].modelId,
      rejectThreshold: t,
      rejects,
      rejectRate: rate(rejects, parts.length),
      unseenRejects,
      unseenRejectRate: rate(unseenRejects, unseen.length),
      histogram: histogram(
        parts.map((p) => p[which]),
        bins,
      ),
    };
  };
  const current = side('current');
  const candidate = side('candidate');
  const ref = (p: ShadowPart): PartRef => ({
    partId: p.partId,
    cameraId: p.cameraId,
    key: p.key,
    current: p.current,
    candidate: p.candidate,
  });
  const fr = parts.filter((p) => p.label === 'false-reject');
  const cd = parts.filter((p) => p.label === 'confirmed-defect');
  const passes = (p: ShadowPart, which: 'current' | 'candidate'): boolean => p[which] <= models[which].reject;
  const defectsEscaping = cd.filter((p) => passes(p, 'candidate')).map(ref);
  const reasons: string[] = [];
  if (defectsEscaping.length > 0) reasons.push(`${defectsEscaping.length} confirmed defect(s) would pass`);
  if (candidate.rejectRate > current.rejectRate) {
    reasons.push(`reject rate would rise (${pct(current.rejectRate)} → ${pct(candidate.rejectRate)})`);
  }
  if (parts.length === 0) reasons.push('no archived part could be scored');
  return {
    window: { ...window, hours: (window.to - window.from) / 3_600_000 },
    parts: parts.length,
    unseen: parts.filter((p) => !p.inTraining).length,
    skipped: counts.skipped,
    currentRescored: counts.currentRescored,
    labelled: { falseRejects: fr.length, confirmedDefects: cd.length },
    bins,
    current,
    candidate,
    falseRejectsPassing: fr.filter((p) => passes(p, 'candidate')).map(ref),
    falseRejectsStillRejected: fr.filter((p) => !passes(p, 'candidate')).map(ref),
    defectsEscaping,
    defectsEscapingCurrent: cd.filter((p) => passes(p, 'current')).map(ref),
    changed: parts
      .filter((p) => passes(p, 'current') !== passes(p, 'candidate'))
      .map((p) => ({ ...ref(p), label: p.label, candidateRejects: !passes(p, 'candidate') })),
    safeToPromote: reasons.length === 0,
    reasons,
  };
}

const rate = (k: number, n: number): number => (n > 0 ? k / n : 0);
const pct = (r: number): string => `${(100 * r).toFixed(1)} %`;

/** HISTOGRAM_BINS + 1 edges from 0 to a little above the largest score or threshold (shared by both models). */
export function binEdges(parts: readonly ShadowPart[], ...thresholds: number[]): number[] {
  let top = Math.max(...thresholds, 0);
  for (const p of parts) top = Math.max(top, p.current, p.candidate);
  top = top > 0 ? top * 1.0001 : 1;
  return Array.from({ length: HISTOGRAM_BINS + 1 }, (_, i) => (top * i) / HISTOGRAM_BINS);
}

/** Counts per bin [edges[i], edges[i + 1]); the last bin includes its upper edge. */
export function histogram(values: readonly number[], edges: readonly number[]): number[] {
  const n = edges.length - 1;
  const counts = new Array<number>(n).fill(0);
  const top = edges[n];
  for (const v of values) {
    const i = Math.min(n - 1, Math.max(0, Math.floor((v / top) * n)));
    counts[i]++;
  }
  return counts;
}

/** A short side-by-side table for logs and the CLI. */
export function shadowText(r: ShadowReport): string {
  const row = (k: string, a: string, b: string): string => `  ${k.padEnd(28)}${a.padEnd(20)}${b}`;
  const c = r.current;
  const d = r.candidate;
  const lines = [
    `shadow evaluation: ${r.parts} archived parts (${r.unseen} not taught on, ${r.skipped} skipped), ` +
      `${r.labelled.falseRejects} labelled false rejects, ${r.labelled.confirmedDefects} confirmed defects`,
    row('', `current ${c.modelId.slice(0, 8)}`, `candidate ${d.modelId.slice(0, 8)}`),
    row('reject threshold', c.rejectThreshold.toPrecision(4), d.rejectThreshold.toPrecision(4)),
    row('reject rate', `${pct(c.rejectRate)} (${c.rejects})`, `${pct(d.rejectRate)} (${d.rejects})`),
    row(
      'reject rate, not taught on',
      `${pct(c.unseenRejectRate)} (${c.unseenRejects})`,
      `${pct(d.unseenRejectRate)} (${d.unseenRejects})`,
    ),
    row(
      'false rejects passing',
      `${r.labelled.falseRejects - countRejected(r, 'current')}/${r.labelled.falseRejects}`,
      `${r.falseRejectsPassing.length}/${r.labelled.falseRejects}`,
    ),
    row(
      'confirmed defects escaping',
      `${r.defectsEscapingCurrent.length}/${r.labelled.confirmedDefects}`,
      `${r.defectsEscaping.length}/${r.labelled.confirmedDefects}`,
    ),
    row('score histogram', sparkline(c.histogram), sparkline(d.histogram)),
    r.safeToPromote ? '  safe to promote: yes' : `  safe to promote: NO (${r.reasons.join('; ')})`,
  ];
  return lines.join('\n') + '\n';
}

function countRejected(r: ShadowReport, which: 'current'): number {
  const all = [...r.falseRejectsPassing, ...r.falseRejectsStillRejected];
  return all.filter((p) => p[which] > r[which].rejectThreshold).length;
}

const BARS = ' ▁▂▃▄▅▆▇█';

/** Counts as a row of block characters (relative heights). */
export function sparkline(counts: readonly number[]): string {
  const max = Math.max(...counts, 1);
  return counts.map((c) => BARS[c === 0 ? 0 : Math.max(1, Math.round((c / max) * 8))]).join('');
}
