// Incremental reader for GStreamer's GDP stream (gdppay): re-assembles pipe chunks into whole packets.
//
// GDP frames every buffer with a 62-byte header carrying its length and timestamps, and sends the caps
// in-band, so the reader never has to guess a frame size (GStreamer pads raw rows to 4 bytes, and a stream
// may renegotiate its size) and a corrupt stream is detected instead of silently misaligned.
// Header (big endian): 0 major=1, 1 minor, 2 flags, 4 u16 payload type, 6 u32 payload length, 10 u64 PTS,
// 18 duration, 26 offset, 34 offset_end, 42 u16 buffer flags, 44 u64 DTS, 58 header CRC, 60 payload CRC.

export const GDP_HEADER = 62;
export const GDP_BUFFER = 1;
export const GDP_CAPS = 2;
/** No real frame is this large (16k × 16k RGB); a bigger length means the stream is corrupt. */
const MAX_PAYLOAD = 1 << 30;
const NO_TIME = 0xffffffffffffffffn;

/** A buffer's other header fields (GStreamer's "none" value → null). */
export interface GdpBufferMeta {
  dtsNs: bigint | null;
  offset: bigint | null;
  offsetEnd: bigint | null;
}

export interface GdpHandlers {
  /** A complete buffer payload (freshly allocated, owned by the callee); pts in ns or null. */
  buffer(payload: Buffer, ptsNs: bigint | null, meta: GdpBufferMeta): void;
  caps(caps: string): void;
}

export class GdpError extends Error {
  override name = 'GdpError';
}

/** Feed it pipe chunks in order; it calls the handlers for each complete buffer and caps packet. */
export class GdpReader {
  private readonly header = Buffer.alloc(GDP_HEADER);
  private headerFill = 0;
  private payload: Buffer | null = null;
  private payloadFill = 0;
  private type = 0;
  private pts: bigint | null = null;
  private meta: GdpBufferMeta = { dtsNs: null, offset: null, offsetEnd: null };

  constructor(private readonly on: GdpHandlers) {}

  /** Throws GdpError on a malformed stream; the caller should then discard the whole stream. */
  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.payload === null) {
        const n = Math.min(GDP_HEADER - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + n);
        this.headerFill += n;
        at += n;
        if (this.headerFill < GDP_HEADER) return;
        this.startPacket();
        if (this.payload !== null && (this.payload as Buffer).length === 0) this.finishPacket();
        continue;
      }
      const p: Buffer = this.payload;
      const n = Math.min(p.length - this.payloadFill, chunk.length - at);
      chunk.copy(p, this.payloadFill, at, at + n);
      this.payloadFill += n;
      at += n;
      if (this.payloadFill === p.length) this.finishPacket();
    }
  }

  private startPacket(): void {
    const h = this.header;
    if (h[0] !== 1) throw new GdpError(`not a GDP 1.x stream (major version byte ${h[0]})`);
    const len = h.readUInt32BE(6);
    if (len > MAX_PAYLOAD) throw new GdpError(`GDP payload of ${len} bytes`);
    this.type = h.readUInt16BE(4);
    const u64 = (at: number): bigint | null => {
      const v = h.readBigUInt64BE(at);
      return v === NO_TIME ? null : v; // GST_CLOCK_TIME_NONE and GST_BUFFER_OFFSET_NONE are both all ones
    };
    this.pts = u64(10);
    this.meta = { dtsNs: u64(44), offset: u64(26), offsetEnd: u64(34) };
    // allocUnsafeSlow: frame-sized, never pooled, not zero-filled (every byte is overwritten).
    this.payload = Buffer.allocUnsafeSlow(len);
    this.payloadFill = 0;
  }

  private finishPacket(): void {
    const p = this.payload as Buffer;
    this.payload = null;
    this.headerFill = 0;
    if (this.type === GDP_BUFFER) this.on.buffer(p, this.pts, this.meta);
    else if (this.type === GDP_CAPS) {
      const end = p.indexOf(0);
      this.on.caps(p.toString('utf8', 0, end < 0 ? p.length : end));
    }
    // Events (stream-start, segment, EOS...) carry nothing the sources need.
  }
}
