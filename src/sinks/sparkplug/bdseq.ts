// The Sparkplug birth/death sequence number (bdSeq) of each MQTT session, persisted so that it keeps
// increasing across restarts: a host pairs an NDEATH with its NBIRTH by it, and a will from a previous run of
// the daemon must never match the current session's birth. 0-255, wrapping (Sparkplug 3.0).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class BdSeqStore {
  constructor(private readonly path: string) {}

  /** The bdSeq of the next session: one more than the last one handed out (0 the first time), stored first. */
  next(): number {
    const v = (this.last() + 1) % 256;
    mkdirSync(dirname(this.path), { recursive: true });
    // Written to the side and renamed: a crash mid-write leaves the old value, never a torn one.
    writeFileSync(`${this.path}.tmp`, `${v}\n`);
    renameSync(`${this.path}.tmp`, this.path);
    return v;
  }

  /** The last bdSeq handed out; -1 when none was (or the file is unreadable: start over at 0). */
  last(): number {
    try {
      const v = Number(readFileSync(this.path, 'utf8').trim());
      return Number.isInteger(v) && v >= 0 && v <= 255 ? v : -1;
    } catch {
      return -1;
    }
  }
}
