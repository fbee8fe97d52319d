// A baseline JPEG encoder (ITU T.81, sequential DCT, Huffman, 8-bit) for the archive worker: frames stored as
// JPEG and the thumbnails of large frames. Why not jpeg-js: it builds its tables on every call (~83 ms even for an
// 8×8 image, measured), so each 160-px thumbnail cost ~83 ms; it encodes a whole frame in one go (~1.8 s for
// 2448×2048, measured), which the archive worker cannot pause while inspection is busy; and it always writes
// three colour components, also for a Mono8 camera. Here the tables are made once per quality, a grey frame is
// one component, and the caller's `step` runs each band of block rows (inspection-gate.ts), a few ms each.
// OpenCV's libjpeg-turbo is not an option in a worker thread (the addon may be loaded by one thread only).
//
// What is written: SOI, JFIF APP0, DQT, SOF0 (no subsampling: 4:4:4 keeps the colour detail of small defects),
// DHT with the standard tables of Annex K, SOS, the entropy-coded blocks, EOI. Edge blocks repeat the last
// column and row. The forward DCT is the AAN float algorithm (as IJG's jfdctflt.c); its scale factors are folded
// into the quantisation divisors.
import { runNow, type Step } from './png-encode.js';

export interface JpegImage {
  width: number;
  height: number;
  /** 1 grey, 3 RGB; samples interleaved, rows top to bottom, no padding. */
  channels: 1 | 3;
  data: Uint8Array;
}

export interface JpegEncodeOptions {
  /** 1–100, IJG scaling of the Annex K tables (default 90). */
  quality?: number;
  /** Runs the encoding of each band of block rows; default: at once. */
  step?: Step;
  /** About this many samples per band (default 64 Ki: a few ms). */
  bandSamples?: number;
}

/** Natural (row-major) index of a coefficient → its place in the zig-zag sequence. */
const ZIGZAG = Uint8Array.from([
  0, 1, 5, 6, 14, 15, 27, 28, 2, 4, 7, 13, 16, 26, 29, 42, 3, 8, 12, 17, 25, 30, 41, 43, 9, 11, 18, 24, 31,
  40, 44, 53, 10, 19, 23, 32, 39, 45, 52, 54, 20, 22, 33, 38, 46, 51, 55, 60, 21, 34, 37, 47, 50, 56, 59, 61,
  35, 36, 48, 49, 57, 58, 62, 63,
]);

// Annex K.1: the example quantisation tables (natural order).
const LUMA_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22,
  29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103,
  121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_Q = [
  17,
  18,
  24,
  47,
  99,
  99,
  99,
  99,
  18,
  21,
  26,
  66,
  99,
  99,
  99,
  99,
  24,
  26,
  56,
  99,
  99,
  99,
  99,
  99,
  47,
  66,
  99,
  99,
  99,
  99,
  99,
  99,
  ...new Array<number>(32).fill(99),
];

// Annex K.3: the typical Huffman tables; counts of codes of length 1..16, then the symbols.
const DC_LUMA_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const AC_CHROMA_BITS = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_LUMA_VALUES = [
  1, 2, 3, 0, 4, 17, 5, 18, 33, 49, 65, 6, 19, 81, 97, 7, 34, 113, 20, 50, 129, 145, 161, 8, 35, 66, 177, 193,
  21, 82, 209, 240, 36, 51, 98, 114, 130, 9, 10, 22, 23, 24, 25, 26, 37, 38, 39, 40, 41, 42, 52, 53, 54, 55,
  56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84, 85, 86, 87, 88, 89, 90, 99, 100, 101, 102, 103, 104,
  105, 106, 115, 116, 117, 118, 119, 120, 121, 122, 131, 132, 133, 134, 135, 136, 137, 138, 146, 147, 148,
  149, 150, 151, 152, 153, 154, 162, 163, 164, 165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182, 183,
  184, 185, 186, 194, 195, 196, 197, 198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215, 216, 217, 218,
  225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250,
];
const AC_CHROMA_VALUES = [
  0, 1, 2, 3, 17, 4, 5, 33, 49, 6, 18, 65, 81, 7, 97, 113, 19, 34, 50, 129, 8, 20, 66, 145, 161, 177, 193, 9,
  35, 51, 82, 240, 21, 98, 114, 209, 10, 22, 36, 52, 225, 37, 241, 23, 24, 25, 26, 38, 39, 40, 41, 42, 53, 54,
  55, 56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84, 85, 86, 87, 88, 89, 90, 99, 100, 101, 102, 103, 104,
  105, 106, 115, 116, 117, 118, 119, 120, 121, 122, 130, 131, 132, 133, 134, 135, 136, 137, 138, 146, 147,
  148, 149, 150, 151, 152, 153, 154, 162, 163, 164, 165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182,
  183, 184, 185, 186, 194, 195, 196, 197, 198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215, 216, 217,
  218, 226, 227, 228, 229, 230, 231, 232, 233, 234, 242, 243, 244, 245, 246, 247, 248, 249, 250,
];

interface HuffTable {
  code: Uint16Array;
  size: Uint8Array;
  bits: number[];
  values: number[];
}

/** Annex C: code words from the counts per length (codes of one length are consecutive). */
function huffTable(bits: number[], values: number[]): HuffTable {
  const code = new Uint16Array(256);
  const size = new Uint8Array(256);
  let c = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    for (let i = 0; i < bits[len - 1]; i++) {
      code[values[k]] = c++;
      size[values[k++]] = len;
    }
    c <<= 1;
  }
  return { code, size, bits, values };
}

const DC_LUMA = huffTable(DC_LUMA_BITS, DC_VALUES);
const AC_LUMA = huffTable(AC_LUMA_BITS, AC_LUMA_VALUES);
const DC_CHROMA = huffTable(DC_CHROMA_BITS, DC_VALUES);
const AC_CHROMA = huffTable(AC_CHROMA_BITS, AC_CHROMA_VALUES);

/** AAN scale factors: cos(k·π/16)·√2 for k > 0, 1 for k = 0. */
const AAN = [1.0, 1.387039845, 1.306562965, 1.175875602, 1.0, 0.785694958, 0.5411961, 0.275899379];

interface QuantTable {
  /** As written in DQT (zig-zag order). */
  zigzag: Uint8Array;
  /** 1 / (q · AAN scale · 8) per natural index: what the float DCT's output is multiplied by. */
  factor: Float32Array;
}

function quantTable(base: number[], quality: number): QuantTable {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - 2 * q;
  const zigzag = new Uint8Array(64);
  const factor = new Float32Array(64);
  for (let i = 0; i < 64; i++) {
    const t = Math.min(255, Math.max(1, Math.floor((base[i] * scale + 50) / 100)));
    zigzag[ZIGZAG[i]] = t;
    factor[i] = 1 / (t * AAN[i >> 3] * AAN[i & 7] * 8);
  }
  return { zigzag, factor };
}

const quantCache = new Map<number, [QuantTable, QuantTable]>();
function quantTables(quality: number): [QuantTable, QuantTable] {
  let t = quantCache.get(quality);
  if (!t) quantCache.set(quality, (t = [quantTable(LUMA_Q, quality), quantTable(CHROMA_Q, quality)]));
  return t;
}

/** In place: the 2-D forward DCT of an 8×8 block (natural order), unscaled (see AAN). */
export function fdct8x8(d: Float32Array): void {
  for (let i = 0; i < 64; i += 8) fdct1(d, i, 1);
  for (let i = 0; i < 8; i++) fdct1(d, i, 8);
}

function fdct1(d: Float32Array, o: number, s: number): void {
  const d0 = d[o];
  const d1 = d[o + s];
  const d2 = d[o + 2 * s];
  const d3 = d[o + 3 * s];
  const d4 = d[o + 4 * s];
  const d5 = d[o + 5 * s];
  const d6 = d[o + 6 * s];
  const d7 = d[o + 7 * s];
  const t0 = d0 + d7;
  const t7 = d0 - d7;
  const t1 = d1 + d6;
  const t6 = d1 - d6;
  const t2 = d2 + d5;
  const t5 = d2 - d5;
  const t3 = d3 + d4;
  const t4 = d3 - d4;
  // Even part.
  const t10 = t0 + t3;
  const t13 = t0 - t3;
  const t11 = t1 + t2;
  const t12 = t1 - t2;
  d[o] = t10 + t11;
  d[o + 4 * s] = t10 - t11;
  const z1 = (t12 + t13) * 0.707106781;
  d[o + 2 * s] = t13 + z1;
  d[o + 6 * s] = t13 - z1;
  // Odd part.
  const u10 = t4 + t5;
  const u11 = t5 + t6;
  const u12 = t6 + t7;
  const z5 = (u10 - u12) * 0.382683433;
  const z2 = 0.5411961 * u10 + z5;
  const z4 = 1.306562965 * u12 + z5;
  const z3 = u11 * 0.707106781;
  const z11 = t7 + z3;
  const z13 = t7 - z3;
  d[o + 5 * s] = z13 + z2;
  d[o + 3 * s] = z13 - z2;
  d[o + s] = z11 + z4;
  d[o + 7 * s] = z11 - z4;
}

/** The entropy-coded segment's bits, with a 0 stuffed after every 0xFF byte (F.1.2.3). */
class BitWriter {
  buf: Uint8Array;
  pos = 0;
  private acc = 0;
  private n = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(1024, capacity));
  }

  bytes(b: ArrayLike<number>): void {
    this.room(b.length);
    for (let i = 0; i < b.length; i++) this.buf[this.pos++] = b[i];
  }

  /** `size` bits of `code`, most significant first (size ≤ 16). */
  bits(code: number, size: number): void {
    this.acc = (this.acc << size) | (code & ((1 << size) - 1));
    this.n += size;
    while (this.n >= 8) {
      this.n -= 8;
      const b = (this.acc >>> this.n) & 0xff;
      this.room(2);
      this.buf[this.pos++] = b;
      if (b === 0xff) this.buf[this.pos++] = 0;
    }
    this.acc &= (1 << this.n) - 1;
  }

  /** Pads the last byte with 1 bits (F.1.2.3), as a marker must start on a byte. */
  flush(): void {
    if (this.n > 0) this.bits(0xff, 8 - this.n);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
}

const word = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];

function writeHeaders(w: BitWriter, img: JpegImage, q: [QuantTable, QuantTable]): void {
  const nc = img.channels;
  w.bytes([0xff, 0xd8]); // SOI
  // JFIF 1.1, no density, no thumbnail.
  w.bytes([0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  const tables = nc === 3 ? q : [q[0]];
  w.bytes([0xff, 0xdb, ...word(2 + 65 * tables.length)]);
  tables.forEach((t, id) => w.bytes([id, ...t.zigzag]));
  w.bytes([0xff, 0xc0, ...word(8 + 3 * nc), 8, ...word(img.height), ...word(img.width), nc]);
  for (let c = 0; c < nc; c++) w.bytes([c + 1, 0x11, c === 0 ? 0 : 1]);
  const huff = nc === 3 ? [DC_LUMA, AC_LUMA, DC_CHROMA, AC_CHROMA] : [DC_LUMA, AC_LUMA];
  const classId = [0x00, 0x10, 0x01, 0x11];
  w.bytes([0xff, 0xc4, ...word(2 + huff.reduce((a, h) => a + 17 + h.values.length, 0))]);
  huff.forEach((h, i) => w.bytes([classId[i], ...h.bits, ...h.values]));
  w.bytes([0xff, 0xda, ...word(6 + 2 * nc), nc]);
  for (let c = 0; c < nc; c++) w.bytes([c + 1, c === 0 ? 0x00 : 0x11]);
  w.bytes([0, 63, 0]);
}

/** Encodes the image; see the header for what is written. */
export function encodeJpeg(img: JpegImage, o: JpegEncodeOptions = {}): Uint8Array {
  const { width: W, height: H, channels: nc } = img;
  if (W < 1 || H < 1 || W > 65535 || H > 65535)
    throw new RangeError(`JPEG: ${W}×${H} is outside 1–65535 px a side`);
  if (img.data.length < W * H * nc)
    throw new RangeError(`JPEG: ${img.data.length} bytes for ${W}×${H}×${nc}`);
  const q = quantTables(o.quality ?? 90);
  const w = new BitWriter((W * H * nc) >> 2);
  writeHeaders(w, img, q);
  const enc = new BlockEncoder(img, q, w);
  const blockRows = Math.ceil(H / 8);
  const perBand = Math.max(1, Math.floor((o.bandSamples ?? 65536) / (W * 8 * nc)));
  const step = o.step ?? runNow;
  for (let by = 0; by < blockRows; by += perBand) step(() => enc.rows(by, Math.min(blockRows, by + perBand)));
  w.flush();
  w.bytes([0xff, 0xd9]); // EOI
  return w.result();
}

/** The blocks of block rows, carrying each component's DC prediction from band to band. */
class BlockEncoder {
  private readonly y = new Float32Array(64);
  private readonly cb = new Float32Array(64);
  private readonly cr = new Float32Array(64);
  private readonly zz = new Int32Array(64);
  private dc = [0, 0, 0];

  constructor(
    private readonly img: JpegImage,
    private readonly q: [QuantTable, QuantTable],
    private readonly w: BitWriter,
  ) {}

  rows(from: number, to: number): void {
    const blockCols = Math.ceil(this.img.width / 8);
    for (let by = from; by < to; by++)
      for (let bx = 0; bx < blockCols; bx++) {
        if (this.img.channels === 3) {
          this.loadRgb(bx * 8, by * 8);
          this.dc[0] = this.block(this.y, this.q[0], this.dc[0], DC_LUMA, AC_LUMA);
          this.dc[1] = this.block(this.cb, this.q[1], this.dc[1], DC_CHROMA, AC_CHROMA);
          this.dc[2] = this.block(this.cr, this.q[1], this.dc[2], DC_CHROMA, AC_CHROMA);
        } else {
          this.loadGrey(bx * 8, by * 8);
          this.dc[0] = this.block(this.y, this.q[0], this.dc[0], DC_LUMA, AC_LUMA);
        }
      }
  }

  /** Y, Cb, Cr of the block at (x0, y0), level-shifted (JFIF's conversion); edges repeat the last pixel. */
  private loadRgb(x0: number, y0: number): void {
    const { width: W, height: H, data } = this.img;
    for (let r = 0; r < 8; r++) {
      const row = Math.min(y0 + r, H - 1) * W;
      for (let c = 0; c < 8; c++) {
        const p = (row + Math.min(x0 + c, W - 1)) * 3;
        const R = data[p];
        const G = data[p + 1];
        const B = data[p + 2];
        const k = r * 8 + c;
        this.y[k] = 0.299 * R + 0.587 * G + 0.114 * B - 128;
        this.cb[k] = -0.168736 * R - 0.331264 * G + 0.5 * B;
        this.cr[k] = 0.5 * R - 0.418688 * G - 0.081312 * B;
      }
    }
  }

  private loadGrey(x0: number, y0: number): void {
    const { width: W, height: H, data } = this.img;
    for (let r = 0; r < 8; r++) {
      const row = Math.min(y0 + r, H - 1) * W;
      for (let c = 0; c < 8; c++) this.y[r * 8 + c] = data[row + Math.min(x0 + c, W - 1)] - 128;
    }
  }

  /** DCT, quantisation and Huffman coding of one block (F.1.2); returns its DC for the next prediction. */
  private block(d: Float32Array, q: QuantTable, prevDc: number, dcT: HuffTable, acT: HuffTable): number {
    fdct8x8(d);
    const zz = this.zz;
    // Clamped to the ranges the Huffman tables code (F.1.2: AC ±1023; a DC difference ±2047), which only a
    // float rounding at quality 100 could leave.
    for (let i = 0; i < 64; i++)
      zz[ZIGZAG[i]] = Math.max(-1023, Math.min(1023, Math.round(d[i] * q.factor[i])));
    const w = this.w;
    const diff = zz[0] - prevDc;
    const dn = magnitudeBits(diff);
    w.bits(dcT.code[dn], dcT.size[dn]);
    if (dn) w.bits(diff < 0 ? diff - 1 : diff, dn);
    let run = 0;
    for (let k = 1; k < 64; k++) {
      const v = zz[k];
      if (v === 0) {
        run++;
        continue;
      }
      for (; run > 15; run -= 16) w.bits(acT.code[0xf0], acT.size[0xf0]); // ZRL
      const n = magnitudeBits(v);
      const sym = (run << 4) | n;
      w.bits(acT.code[sym], acT.size[sym]);
      w.bits(v < 0 ? v - 1 : v, n);
      run = 0;
    }
    if (run > 0) w.bits(acT.code[0], acT.size[0]); // EOB
    return zz[0];
  }
}

/** SSSS of F.1.2.1: the number of bits of |v|. */
function magnitudeBits(v: number): number {
  return v === 0 ? 0 : 32 - Math.clz32(v < 0 ? -v : v);
}
