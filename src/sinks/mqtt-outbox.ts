// The MQTT outbox: a bounded, ordered, on-disk queue of results not yet acknowledged by the broker.
//
// Every result is appended here before it is handed to MQTT and stays until its publishes complete, so a
// broker outage, a crash or a restart loses nothing that was accepted (up to the bound). Layout in `dir`:
// - `<firstSeq, 16 digits>.jsonl`: segments of `{"seq":N,"item":…}` lines, consecutive seqs, rolled every
//   `segmentRecords` records and deleted once all their records are acknowledged;
// - `acked`: append-only log of "acknowledged through seq N" (the last complete line wins; compacted on open).
// Records are read back lazily in chunks (the outbox may hold far more than we want in memory). Everything
// before the read cursor is acknowledged, dropped, or in flight; "acknowledged through" is therefore the
// oldest in-flight seq - 1, or the cursor - 1 when nothing is in flight. Writes are not fsynced: the outbox
// survives process crashes and restarts, not necessarily a power cut.
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../util/log.js';

export interface OutboxOptions {
  dir: string;
  /** Records waiting at most (those in flight, a bounded window, come on top); beyond it the oldest go. */
  maxMessages: number;
  /** Records per segment file (default 1024). */
  segmentRecords?: number;
  log: Logger;
}

export interface OutboxEntry<T> {
  seq: number;
  item: T;
}

interface Segment {
  firstSeq: number;
  count: number;
  /** Bytes of complete records (a failed write is truncated back to this). */
  bytes: number;
  path: string;
}

const SEGMENT_RE = /^(\d{16})\.jsonl$/;
const ACK_FILE = 'acked';
const ACK_COMPACT_BYTES = 64 * 1024;

const segmentName = (seq: number): string => `${String(seq).padStart(16, '0')}.jsonl`;

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/** Byte offset just past the `n`-th newline of buf (0 for n = 0), or -1 when buf has fewer. */
function offsetAfterLines(buf: Buffer, n: number): number {
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0) return -1;
    pos = nl + 1;
  }
  return pos;
}

function seqOfLine(line: string): number | undefined {
  try {
    const rec = JSON.parse(line) as { seq?: unknown };
    return typeof rec.seq === 'number' ? rec.seq : undefined;
  } catch {
    return undefined;
  }
}

export class Outbox<T> {
  readonly dir: string;
  private readonly maxMessages: number;
  private readonly segmentRecords: number;
  private readonly log: Logger;
  private segments: Segment[] = [];
  private writeSeg: Segment | undefined;
  private writeFd = -1;
  private nextSeq = 1;
  private readSeq = 1;
  private readonly inflight = new Set<number>();
  private readSeg: Segment | undefined;
  private readFd = -1;
  private readPos = 0;
  private chunk = Buffer.allocUnsafe(64 * 1024);
  private lines: string[] = [];
  private lineIdx = 0;
  private ackFd = -1;
  private ackBytes = 0;
  private ackedThrough = 0;
  private closed = false;
  /** Records dropped on overflow (or unreadable), since open. */
  dropped = 0;

  /** Opens (creating if needed) the outbox in `dir`, recovering what a previous process left. */
  constructor(opts: OutboxOptions) {
    this.dir = opts.dir;
    this.maxMessages = opts.maxMessages;
    this.segmentRecords = opts.segmentRecords ?? 1024;
    this.log = opts.log;
    mkdirSync(this.dir, { recursive: true });
    this.ackedThrough = this.readAckLog();
    this.recoverSegments();
    const last = this.segments.at(-1);
    this.nextSeq = Math.max(this.ackedThrough + 1, last ? last.firstSeq + last.count : 1);
    this.readSeq = Math.max(this.ackedThrough + 1, this.segments[0]?.firstSeq ?? this.nextSeq);
    this.collect();
    this.compactAckLog();
    this.positionReader();
    // Only the records a previous run left undelivered: acknowledged ones still on disk are not news.
    if (this.waiting > 0)
      this.log.info({ dir: this.dir, records: this.waiting }, 'outbox: recovered undelivered records');
    if (last && last.count < this.segmentRecords && this.segments.includes(last)) {
      this.writeSeg = last;
      this.writeFd = openSync(last.path, 'a');
    }
  }

  /** Records waiting to be handed out. */
  get waiting(): number {
    return this.nextSeq - this.readSeq;
  }

  /** Records handed out and not yet acknowledged. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /** Unacknowledged records: waiting + in flight. */
  get size(): number {
    return this.waiting + this.inflight.size;
  }

  /**
   * Appends a record; returns how many of the oldest waiting records were dropped to stay within the bound.
   * Throws when the disk refuses the write (the outbox is unchanged then).
   */
  append(item: T): number {
    this.assertOpen();
    if (!this.writeSeg || this.writeSeg.count >= this.segmentRecords) this.rollSegment();
    const seg = this.writeSeg as Segment;
    const buf = Buffer.from(`{"seq":${this.nextSeq},"item":${JSON.stringify(item)}}\n`);
    try {
      writeAll(this.writeFd, buf);
    } catch (err) {
      // Leave no torn line behind: later records must stay parseable.
      try {
        ftruncateSync(this.writeFd, seg.bytes);
      } catch {
        /* the original error is the one worth reporting */
      }
      throw err;
    }
    seg.bytes += buf.length;
    seg.count++;
    this.nextSeq++;
    let dropped = 0;
    while (this.waiting > this.maxMessages) {
      this.readLine();
      this.readSeq++;
      dropped++;
    }
    if (dropped > 0) {
      this.dropped += dropped;
      this.advanceAcked();
    }
    return dropped;
  }

  /** The oldest waiting record, now in flight until ack(seq); undefined when none waits. */
  next(): OutboxEntry<T> | undefined {
    this.assertOpen();
    while (this.readSeq < this.nextSeq) {
      const seq = this.readSeq;
      const line = this.readLine();
      this.readSeq++;
      try {
        const rec = JSON.parse(line) as { seq: number; item: T };
        if (rec.seq !== seq)
          this.log.error({ dir: this.dir, expected: seq, found: rec.seq }, 'outbox: sequence mismatch');
        this.inflight.add(seq);
        return { seq, item: rec.item };
      } catch {
        this.log.error({ dir: this.dir, seq }, 'outbox: unreadable record skipped');
        this.dropped++;
        this.advanceAcked();
      }
    }
    return undefined;
  }

  /** The record's publishes are complete: it may go. */
  ack(seq: number): void {
    if (this.closed || !this.inflight.delete(seq)) return;
    this.advanceAcked();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of [this.writeFd, this.readFd, this.ackFd]) if (fd >= 0) closeSync(fd);
    this.writeFd = this.readFd = this.ackFd = -1;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`outbox ${this.dir} is closed`);
  }

  private readAckLog(): number {
    let text: string;
    try {
      text = readFileSync(join(this.dir, ACK_FILE), 'utf8');
    } catch {
      return 0;
    }
    // Only complete lines count: a torn last write is ignored (its records are sent again: at-least-once).
    const lines = text.split('\n').slice(0, -1);
    for (let i = lines.length - 1; i >= 0; i--) {
      if (/^\d+$/.test(lines[i])) return Number(lines[i]);
    }
    return 0;
  }

  private compactAckLog(): void {
    const path = join(this.dir, ACK_FILE);
    const text = `${this.ackedThrough}\n`;
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
    if (this.ackFd >= 0) closeSync(this.ackFd);
    this.ackFd = openSync(path, 'a');
    this.ackBytes = text.length;
  }

  /** Loads segment metadata, truncating a torn tail and setting aside anything inconsistent. */
  private recoverSegments(): void {
    const names = readdirSync(this.dir)
      .filter((n) => SEGMENT_RE.test(n))
      .sort();
    let broken = false;
    for (const name of names) {
      const path = join(this.dir, name);
      if (broken) {
        this.setAside(path, 'follows an inconsistent segment');
        continue;
      }
      const firstSeq = Number(SEGMENT_RE.exec(name)?.[1]);
      const buf = readFileSync(path);
      const end = buf.lastIndexOf(10) + 1;
      if (end < buf.length) {
        this.log.warn(
          { path, bytes: buf.length - end },
          'outbox: truncating a torn last record (crash while writing)',
        );
        const fd = openSync(path, 'r+');
        try {
          ftruncateSync(fd, end);
        } finally {
          closeSync(fd);
        }
      }
      let count = 0;
      for (let p = buf.indexOf(10); p >= 0 && p < end; p = buf.indexOf(10, p + 1)) count++;
      const prev = this.segments.at(-1);
      const firstLineEnd = buf.indexOf(10);
      const lastLineStart = end >= 2 ? buf.lastIndexOf(10, end - 2) + 1 : 0;
      const consistent =
        count === 0 ||
        (seqOfLine(buf.toString('utf8', 0, firstLineEnd)) === firstSeq &&
          seqOfLine(buf.toString('utf8', lastLineStart, end - 1)) === firstSeq + count - 1 &&
          (!prev || prev.firstSeq + prev.count === firstSeq));
      if (!consistent) {
        broken = true;
        this.setAside(path, 'inconsistent sequence numbers');
        continue;
      }
      if (count === 0) {
        unlinkSync(path);
        continue;
      }
      this.segments.push({ firstSeq, count, bytes: end, path });
    }
  }

  private setAside(path: string, why: string): void {
    const to = `${path}.corrupt-${Date.now()}`;
    renameSync(path, to);
    this.log.error({ path: to, why }, 'outbox: segment set aside; its records will not be sent');
  }

  private positionReader(): void {
    if (this.readSeq >= this.nextSeq) return;
    const seg = this.segmentFor(this.readSeq);
    if (!seg) throw new Error(`outbox ${this.dir}: no segment holds seq ${this.readSeq}`);
    this.readSeg = seg;
    this.readFd = openSync(seg.path, 'r');
    this.readPos = offsetAfterLines(readFileSync(seg.path), this.readSeq - seg.firstSeq);
  }

  private segmentFor(seq: number): Segment | undefined {
    return this.segments.find((s) => seq >= s.firstSeq && seq < s.firstSeq + s.count);
  }

  private rollSegment(): void {
    if (this.writeFd >= 0) closeSync(this.writeFd);
    const seg: Segment = {
      firstSeq: this.nextSeq,
      count: 0,
      bytes: 0,
      path: join(this.dir, segmentName(this.nextSeq)),
    };
    this.writeFd = openSync(seg.path, 'a');
    ftruncateSync(this.writeFd, 0);
    this.writeSeg = seg;
    this.segments.push(seg);
  }

  /** The line of record readSeq (the caller advances readSeq). */
  private readLine(): string {
    if (this.lineIdx < this.lines.length) return this.lines[this.lineIdx++];
    const seg = this.readSeg;
    if (!seg || this.readSeq >= seg.firstSeq + seg.count) {
      if (this.readFd >= 0) closeSync(this.readFd);
      const next = this.segmentFor(this.readSeq);
      if (!next) throw new Error(`outbox ${this.dir}: no segment holds seq ${this.readSeq}`);
      this.readSeg = next;
      this.readFd = openSync(next.path, 'r');
      this.readPos = 0;
    }
    for (;;) {
      const n = readSync(this.readFd, this.chunk, 0, this.chunk.length, this.readPos);
      const nl = n > 0 ? this.chunk.lastIndexOf(10, n - 1) : -1;
      if (nl >= 0) {
        this.lines = this.chunk.toString('utf8', 0, nl).split('\n');
        this.lineIdx = 0;
        this.readPos += nl + 1;
        return this.lines[this.lineIdx++];
      }
      if (n < this.chunk.length) throw new Error(`outbox ${this.dir}: record ${this.readSeq} is missing`);
      this.chunk = Buffer.allocUnsafe(this.chunk.length * 2); // a record longer than the chunk
    }
  }

  private advanceAcked(): void {
    const oldest = this.inflight.values().next();
    // Sets iterate in insertion order and seqs go in ascending: the first is the oldest in flight.
    const through = oldest.done ? this.readSeq - 1 : oldest.value - 1;
    if (through <= this.ackedThrough) return;
    this.ackedThrough = through;
    const line = `${through}\n`;
    writeSync(this.ackFd, line);
    this.ackBytes += line.length;
    if (this.ackBytes > ACK_COMPACT_BYTES) this.compactAckLog();
    this.collect();
  }

  /** Deletes segments whose records are all acknowledged (the one being written stays). */
  private collect(): void {
    while (this.segments.length > 0) {
      const s = this.segments[0];
      if (s === this.writeSeg || s.firstSeq + s.count - 1 > this.ackedThrough) break;
      unlinkSync(s.path);
      this.segments.shift();
    }
  }
}
