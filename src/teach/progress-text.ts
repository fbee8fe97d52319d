// Teach-in progress as one line of text, for the terminal bar (cli/progress-bar.ts), the demo and the log. It
// says the real plan: a fixed run counts to its last step; the auto schedule counts to its minimum and then
// says it trains on until the loss levels off, at most N steps (a bar to the minimum that then read "ETA 0 s"
// for thousands more steps told the user nothing true). Pure.
import type { TeachInProgress, TrainProgress } from './progress.js';

/**
 * The train phase's text, the numbers first (a narrow terminal cuts the end); `bar`: draw a [###...] bar where
 * the end is known.
 */
export function trainProgressText(p: TrainProgress, bar = true): string {
  const loss = `loss ${p.loss.toFixed(4)}`;
  const plan = p.plan;
  if (plan.kind === 'epochs') {
    return (
      `training ${bar ? progressBar(p.step / plan.steps) + ' ' : ''}step ${p.step}/${plan.steps} ` +
      `epoch ${p.epoch}/${plan.epochs} ${loss} ETA ${duration(p.etaSeconds)}`
    );
  }
  const open = `until the loss levels off, at most ${plan.maxSteps}`;
  if (p.step < plan.minSteps) {
    return (
      `training ${bar ? progressBar(p.step / plan.minSteps) + ' ' : ''}step ${p.step}/${plan.minSteps} ${loss}, ` +
      `minimum in ${duration(p.etaSeconds)}, then ${open}`
    );
  }
  return (
    `training step ${p.step} ${loss}, ${duration(p.elapsedSeconds)} so far: ` +
    `past the minimum ${plan.minSteps}, ${open}`
  );
}

/** Any phase's text (the bar's line). */
export function progressText(p: TeachInProgress, bar = true): string {
  switch (p.phase) {
    case 'images':
      return `letterboxing images ${p.done}`;
    case 'features':
      return `teacher features ${bar ? progressBar(p.done / p.total) + ' ' : ''}${p.done}/${p.total} images`;
    case 'train':
      return trainProgressText(p, bar);
    case 'epoch':
      return `epoch ${p.epoch} done, ${p.steps} steps, loss ${p.loss.toFixed(4)}`;
    case 'calibrate':
      return `calibrating on ${p.total} held-out images`;
  }
}

export function progressBar(frac: number, width = 20): string {
  const n = Math.round(Math.max(0, Math.min(1, frac)) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

/** 42s, 3m05s, 1h07m; `?` when unknown. */
export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const r = Math.round(s);
  const m = Math.floor(r / 60);
  const h = Math.floor(m / 60);
  if (h > 0) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(r % 60).padStart(2, '0')}s`;
  return `${r}s`;
}
