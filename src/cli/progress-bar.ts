// One self-rewriting progress line on a terminal (`pinpoint train`), redrawn at most every 100 ms; the text
// comes from teach/progress-text.ts.
import type { TeachInProgress } from '../teach/progress.js';
import { progressText } from '../teach/progress-text.js';

export class ProgressBar {
  private last = 0;
  private shown = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(p: TeachInProgress): void {
    // Epoch ends are in the step line already (and come every few milliseconds in few-shot runs).
    if (p.phase === 'epoch') return;
    const now = performance.now();
    const final = (p.phase === 'features' && p.done === p.total) || p.phase === 'calibrate';
    if (!final && now - this.last < 100) return;
    this.last = now;
    const width = this.width();
    this.out.write(`\r${progressText(p).slice(0, width).padEnd(width)}`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.out.write(`\r${' '.repeat(this.width())}\r`);
    this.shown = false;
  }

  /** Terminal width less one (no wrap); 0 when the size is unknown (e.g. under `script`). */
  private width(): number {
    return Math.max(20, (this.out.columns || 100) - 1);
  }
}
