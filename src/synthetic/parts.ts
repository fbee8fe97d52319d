// Seeded synthetic "parts": a machined metal plate on a conveyor with natural per-seed variation, and
// defects with exact ground-truth masks. Every anomaly-detection acceptance test, the demo, the teach-in
// and the benchmarks run on these, so the good parts must look alike but not identical, and a defect must
// change exactly the pixels its mask claims. Pure: no I/O, deterministic from the seed on every platform.
import { Rng } from '../util/random.js';

export type DefectKind = 'scratch' | 'spot' | 'dent' | 'missing';
export const DEFECT_KINDS: readonly DefectKind[] = ['scratch', 'spot', 'dent', 'missing'];

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DefectInfo {
  kind: DefectKind;
  /** Bounding box of the mask, image pixels. */
  box: Box;
  /** Largest extent of the mask in pixels (Feret diameter, measured over 16 directions). */
  size: number;
}

export interface SyntheticPart {
  width: number;
  height: number;
  /** HWC RGB. */
  rgb: Uint8Array;
  /** H·W, 1 = defect pixel: exactly the pixels that differ from the same seed's good part. */
  mask: Uint8Array;
  defect: DefectInfo | null;
  seed: number;
  /** H·W, 1 = pixel of the part's material in the good part (background and holes are 0). */
  object: Uint8Array;
}

export interface PartOptions {
  width?: number;
  height?: number;
  seed: number;
  defect?: { kind: DefectKind; size: number } | null;
  /** Scale of the natural variation (pose, lighting, noise); 0 makes every good part identical. Default 1. */
  variation?: number;
}

/** A pixel belongs to the mask when a channel differs from the good part by more than this (0..255). */
export const MASK_TOLERANCE = 8;

const DEG = Math.PI / 180;

/** Per-seed pose and lighting; the part's design (texture, features) is the same for every seed. */
interface Pose {
  width: number;
  height: number;
  /** Design scale: 1 at 640×480. */
  s: number;
  cx: number;
  cy: number;
  cos: number;
  sin: number;
  gain: number;
  offset: number;
  gradX: number;
  gradY: number;
  noiseSigma: number;
  noiseKey: number;
}

/** The design, in object coordinates (pixels at this frame size, origin at the plate's centre). */
interface Design {
  s: number;
  halfW: number;
  halfH: number;
  corner: number;
  bevel: number;
  groovePeriod: number;
  knurlPeriod: number;
  bossR: number;
  holes: { u: number; v: number; r: number }[];
  bars: { u: number; v: number; hw: number; hh: number }[];
  tri: { u: number; v: number; r: number };
  streak: Float32Array;
  streakOrigin: number;
  /** Object-space texels, 4 per texel (see buildMap); origin at the map's centre. */
  map: Float32Array;
  mapW: number;
  mapH: number;
}

type Defect =
  | { kind: 'scratch'; pts: Float64Array; halfWidth: number; level: number; box: Box }
  | { kind: 'spot'; x: number; y: number; r: number; harm: number[]; color: number[]; box: Box }
  | { kind: 'dent'; x: number; y: number; r: number; lip: number; box: Box }
  | { kind: 'missing'; x: number; y: number; r: number; harm: number[]; box: Box };

// Light from the top left, in image (and, up to 2°, object) coordinates.
const LIGHT_X = -0.6;
const LIGHT_Y = -0.8;
const BG = [46, 52, 50];
const INK = [30, 48, 104];

export function makePart(opts: PartOptions): SyntheticPart {
  const width = opts.width ?? 640;
  const height = opts.height ?? 480;
  if (!(width >= 32 && height >= 32 && Number.isInteger(width) && Number.isInteger(height))) {
    throw new RangeError(`synthetic part size must be integers ≥ 32, got ${width}×${height}`);
  }
  const variation = opts.variation ?? 1;
  const rng = new Rng(opts.seed);
  const pose = makePose(rng, width, height, variation);
  const design = makeDesign(pose.s);
  const rgb = new Uint8Array(width * height * 3);
  const object = new Uint8Array(width * height);
  render(pose, design, null, 0, 0, width, height, rgb, width, object);
  const mask = new Uint8Array(width * height);
  let info: DefectInfo | null = null;

  if (opts.defect) {
    // The defect draws from its own stream so a good part and its defective twin share pose and noise.
    const defect = placeDefect(new Rng((opts.seed ^ 0x5bd1e995) >>> 0), pose, design, opts.defect);
    const { x, y, width: bw, height: bh } = defect.box;
    const patch = new Uint8Array(bw * bh * 3);
    render(pose, design, defect, x, y, bw, bh, patch, bw, null);
    for (let j = 0; j < bh; j++) {
      for (let i = 0; i < bw; i++) {
        const p = (j * bw + i) * 3;
        const q = ((y + j) * width + x + i) * 3;
        const d = Math.max(
          Math.abs(patch[p] - rgb[q]),
          Math.abs(patch[p + 1] - rgb[q + 1]),
          Math.abs(patch[p + 2] - rgb[q + 2]),
        );
        // Changes within the tolerance are dropped, so pixels outside the mask are the good part exactly.
        if (d > MASK_TOLERANCE) {
          mask[(y + j) * width + x + i] = 1;
          rgb[q] = patch[p];
          rgb[q + 1] = patch[p + 1];
          rgb[q + 2] = patch[p + 2];
        }
      }
    }
    info = describeMask(mask, width, defect.kind, defect.box);
  }
  return { width, height, rgb, mask, defect: info, seed: opts.seed, object };
}

export interface DatasetOptions {
  good: number;
  defective: number;
  seed: number;
  width?: number;
  height?: number;
  /** Defect sizes in px, cycled after the kinds. Default [6, 12, 24, 48]. */
  sizes?: number[];
  kinds?: DefectKind[];
  variation?: number;
}

/** Good parts first, then defective ones cycling through kinds (fastest) and sizes; seeds from `seed`. */
export function makeDataset(opts: DatasetOptions): SyntheticPart[] {
  const kinds = opts.kinds ?? [...DEFECT_KINDS];
  const sizes = opts.sizes ?? [6, 12, 24, 48];
  if (opts.defective > 0 && (kinds.length === 0 || sizes.length === 0)) {
    throw new RangeError('makeDataset: defective parts need at least one kind and one size');
  }
  const rng = new Rng(opts.seed);
  const base = { width: opts.width, height: opts.height, variation: opts.variation };
  const out: SyntheticPart[] = [];
  for (let i = 0; i < opts.good; i++) out.push(makePart({ ...base, seed: rng.nextU32() }));
  for (let i = 0; i < opts.defective; i++) {
    const kind = kinds[i % kinds.length];
    const size = sizes[Math.floor(i / kinds.length) % sizes.length];
    out.push(makePart({ ...base, seed: rng.nextU32(), defect: { kind, size } }));
  }
  return out;
}

function makePose(rng: Rng, width: number, height: number, variation: number): Pose {
  const s = Math.min(width / 640, height / 480);
  const angle = rng.uniform(-2, 2) * variation * DEG;
  return {
    width,
    height,
    s,
    cx: width / 2 + rng.uniform(-4, 4) * s * variation,
    cy: height / 2 + rng.uniform(-4, 4) * s * variation,
    cos: Math.cos(angle),
    sin: Math.sin(angle),
    gain: 1 + rng.uniform(-0.05, 0.05) * variation,
    offset: rng.uniform(-5, 5) * variation,
    gradX: 0.05 + rng.uniform(-0.05, 0.05) * variation,
    gradY: -0.04 + rng.uniform(-0.05, 0.05) * variation,
    noiseSigma: 2 * variation,
    noiseKey: rng.nextU32(),
  };
}

const designs = new Map<number, Design>();

function makeDesign(s: number): Design {
  const cached = designs.get(s);
  if (cached) return cached;
  const halfW = 250 * s;
  const halfH = 180 * s;
  const hi = 40 * s;
  const hr = 15 * s;
  // Fine brushing marks across the grooves: a fixed (design, not seed) 1-D profile along v.
  const streakOrigin = Math.ceil(halfW + halfH) + 2;
  const streak = new Float32Array(2 * streakOrigin + 2);
  const r = new Rng(0x0b1e55ed);
  let a = 0;
  for (let i = 0; i < streak.length; i++) {
    a = 0.6 * a + r.normal();
    streak[i] = a;
  }
  const d: Design = {
    s,
    halfW,
    halfH,
    corner: 36 * s,
    bevel: Math.max(2, 7 * s),
    groovePeriod: Math.max(4, 12 * s),
    knurlPeriod: Math.max(4, 11 * s),
    bossR: 72 * s,
    holes: [
      { u: -halfW + hi, v: -halfH + hi, r: hr },
      { u: halfW - hi, v: -halfH + hi, r: hr },
      { u: -halfW + hi, v: halfH - hi, r: hr },
      { u: halfW - hi, v: halfH - hi, r: hr },
    ],
    bars: [
      { u: 165 * s, v: -32 * s, hw: 45 * s, hh: 6 * s },
      { u: 150 * s, v: 0, hw: 30 * s, hh: 6 * s },
      { u: 158 * s, v: 32 * s, hw: 38 * s, hh: 6 * s },
    ],
    tri: { u: -160 * s, v: 0, r: 34 * s },
    streak,
    streakOrigin,
    map: new Float32Array(0),
    mapW: 0,
    mapH: 0,
  };
  buildMap(d);
  // A few frame sizes are in use at a time; each map is ≈ 4 MB at 640×480.
  if (designs.size >= 8) designs.clear();
  designs.set(s, d);
  return d;
}

const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x);

/** Signed distance to the plate (rounded rectangle), negative inside. */
function plateSd(d: Design, u: number, v: number): number {
  const qx = Math.abs(u) - d.halfW + d.corner;
  const qy = Math.abs(v) - d.halfH + d.corner;
  const ox = Math.max(qx, 0);
  const oy = Math.max(qy, 0);
  return Math.hypot(ox, oy) + Math.min(Math.max(qx, qy), 0) - d.corner;
}

/** Outward normal of the plate outline nearest (u, v), as [nu, nv]. */
function plateNormal(d: Design, u: number, v: number): [number, number] {
  const qx = Math.abs(u) - d.halfW + d.corner;
  const qy = Math.abs(v) - d.halfH + d.corner;
  let nu: number;
  let nv: number;
  if (qx > 0 && qy > 0) {
    const l = Math.hypot(qx, qy);
    nu = qx / l;
    nv = qy / l;
  } else if (qx > qy) {
    nu = 1;
    nv = 0;
  } else {
    nu = 0;
    nv = 1;
  }
  return [u < 0 ? -nu : nu, v < 0 ? -nv : nv];
}

/** Groove profile: a turning mark with a sharp dark valley and a broad lit land. */
function groove(t: number): number {
  const f = t - Math.floor(t);
  return f < 0.25 ? 8 * f - 1 : 1 - (8 / 3) * (f - 0.25);
}

/**
 * Material luminance and printed-ink coverage at object coordinates (u, v), `inside` = distance inside
 * the outline; written to out[0] and out[1].
 */
function material(d: Design, u: number, v: number, inside: number, out: Float64Array): void {
  let lum = 168 + 26 * groove(v / d.groovePeriod);
  const si = v + d.streakOrigin;
  const i0 = Math.floor(si);
  const fr = si - i0;
  lum += 3 * (d.streak[i0] * (1 - fr) + d.streak[i0 + 1] * fr);

  // Knurled boss: diamond pyramids whose four facets catch the light differently.
  const r = Math.hypot(u, v);
  if (r < d.bossR + 4) {
    const a = (u + v) / d.knurlPeriod;
    const b = (u - v) / d.knurlPeriod;
    const fa = a - Math.floor(a) - 0.5;
    const fb = b - Math.floor(b) - 0.5;
    let nu: number;
    let nv: number;
    if (Math.abs(fa) > Math.abs(fb)) {
      const sg = fa > 0 ? 1 : -1;
      nu = sg * Math.SQRT1_2;
      nv = sg * Math.SQRT1_2;
    } else {
      const sg = fb > 0 ? 1 : -1;
      nu = sg * Math.SQRT1_2;
      nv = -sg * Math.SQRT1_2;
    }
    const k =
      150 + 60 * (nu * LIGHT_X + nv * LIGHT_Y) - 40 * Math.min(0.5 - Math.abs(fa), 0.5 - Math.abs(fb));
    const c = clamp01(d.bossR - r + 0.5);
    lum = lum * (1 - c) + k * c;
    // Raised rim around the boss.
    const rim = clamp01(1.5 - Math.abs(r - d.bossR - 1.5));
    lum += rim * (r > 0 ? 50 * ((u / r) * LIGHT_X + (v / r) * LIGHT_Y) + 10 : 0);
  }

  // Chamfer along the outline: facing the light bright, away dark.
  if (inside < d.bevel) {
    const [nu, nv] = plateNormal(d, u, v);
    const w = clamp01(d.bevel - inside);
    lum += w * (15 + 55 * (nu * LIGHT_X + nv * LIGHT_Y));
  }

  // Printed mark: three bars and a triangle.
  let ink = 0;
  for (const bar of d.bars) {
    const qx = Math.abs(u - bar.u) - bar.hw;
    const qy = Math.abs(v - bar.v) - bar.hh;
    ink = Math.max(ink, clamp01(0.5 - Math.max(qx, qy)));
  }
  const tu = u - d.tri.u;
  const tv = v - d.tri.v;
  const tsd = Math.max(
    -tv - d.tri.r * 0.5,
    0.866 * tu + 0.5 * tv - d.tri.r * 0.5,
    -0.866 * tu + 0.5 * tv - d.tri.r * 0.5,
  );
  ink = Math.max(ink, clamp01(0.5 - tsd));
  out[0] = lum;
  out[1] = ink;
}

/** 1024 standard-normal quantiles: sensor noise is drawn by indexing this with hash bits. */
const NORMAL_TABLE = (() => {
  const t = new Float32Array(1024);
  for (let k = 0; k < 1024; k++) t[k] = inverseNormal((k + 0.5) / 1024);
  return t;
})();

/** Acklam's rational approximation of the standard normal quantile (|error| < 1.2e-9). */
function inverseNormal(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const e = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  if (p < 0.02425 || p > 1 - 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p < 0.5 ? p : 1 - p));
    const x =
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((e[0] * q + e[1]) * q + e[2]) * q + e[3]) * q + 1);
    return p < 0.5 ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/** 32 well-mixed bits keyed by (key, pixel index): noise that any window of the frame reproduces. */
function hash32(key: number, i: number): number {
  let z = (Math.imul(i, 0x9e3779b1) + key) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Rasterises the design once per frame scale into object-space texels: (luminance, ink, coverage, belt
 * shade). Parts are then drawn by resampling it under each seed's pose, which keeps a 640×480 part at a
 * few ms; the bilinear resampling also softens the texture like a camera's optics would.
 */
function buildMap(d: Design): void {
  const s = d.s;
  const pad = Math.ceil(16 * s + 4);
  const mw = Math.ceil(2 * d.halfW) + 2 * pad;
  const mh = Math.ceil(2 * d.halfH) + 2 * pad;
  const map = new Float32Array(mw * mh * 4);
  const mat = new Float64Array(2);
  const sh = 6 * s;
  const soft = 10 * s;
  for (let j = 0; j < mh; j++) {
    const v = j + 0.5 - mh / 2;
    for (let i = 0; i < mw; i++) {
      const u = i + 0.5 - mw / 2;
      const sd = plateSd(d, u, v);
      material(d, u, v, -sd, mat);
      let lum = mat[0];
      let cover = clamp01(0.5 - sd);
      // Through-holes show the belt; a bright chamfer rings each.
      for (const hole of d.holes) {
        const hu = u - hole.u;
        const hv = v - hole.v;
        const hr = Math.sqrt(hu * hu + hv * hv);
        if (hr < hole.r + 4 * s + 1) {
          cover *= clamp01(hr - hole.r + 0.5);
          const ring = clamp01(hole.r + 3 * s - hr);
          if (hr > 0) lum += ring * (20 - 50 * ((hu / hr) * LIGHT_X + (hv / hr) * LIGHT_Y));
        }
      }
      // The part's shadow on the belt, cast down-right, soft-edged.
      const shadow = clamp01((soft - plateSd(d, u - sh, v - sh)) / soft);
      const t = (j * mw + i) * 4;
      map[t] = lum;
      map[t + 1] = mat[1];
      map[t + 2] = cover;
      map[t + 3] = 1 - 0.35 * shadow;
    }
  }
  d.map = map;
  d.mapW = mw;
  d.mapH = mh;
}

/**
 * Renders the window [x0, x0+w) × [y0, y0+h) of the frame into `out` (row stride `stride` pixels).
 * Noise is keyed by absolute pixel index, so any window matches the full frame.
 */
function render(
  pose: Pose,
  d: Design,
  defect: Defect | null,
  x0: number,
  y0: number,
  w: number,
  h: number,
  out: Uint8Array,
  stride: number,
  object: Uint8Array | null,
): void {
  const { cos, sin, width, height } = pose;
  const { map, mapW, mapH } = d;
  const ou = mapW / 2 - 0.5;
  const ov = mapH / 2 - 0.5;
  const sigma = pose.noiseSigma;
  for (let j = 0; j < h; j++) {
    const y = y0 + j;
    const dy = y + 0.5 - pose.cy;
    const illumY = pose.gain * (1 + pose.gradY * ((y + 0.5) / height - 0.5));
    const su = sin * dy + ou;
    const sv = cos * dy + ov;
    for (let i = 0; i < w; i++) {
      const x = x0 + i;
      const dx = x + 0.5 - pose.cx;
      const fu = cos * dx + su;
      const fv = -sin * dx + sv;
      let cr = BG[0];
      let cg = BG[1];
      let cb = BG[2];
      let cover = 0;
      const iu = Math.floor(fu);
      const iv = Math.floor(fv);
      if (iu >= 0 && iv >= 0 && iu + 1 < mapW && iv + 1 < mapH) {
        // Bilinear sample of the design map.
        const au = fu - iu;
        const av = fv - iv;
        const w00 = (1 - au) * (1 - av);
        const w10 = au * (1 - av);
        const w01 = (1 - au) * av;
        const w11 = au * av;
        const t00 = (iv * mapW + iu) * 4;
        const t01 = t00 + mapW * 4;
        cover = w00 * map[t00 + 2] + w10 * map[t00 + 6] + w01 * map[t01 + 2] + w11 * map[t01 + 6];
        const shade = w00 * map[t00 + 3] + w10 * map[t00 + 7] + w01 * map[t01 + 3] + w11 * map[t01 + 7];
        cr *= shade;
        cg *= shade;
        cb *= shade;
        if (cover > 0) {
          const lum = w00 * map[t00] + w10 * map[t00 + 4] + w01 * map[t01] + w11 * map[t01 + 4];
          const ink = w00 * map[t00 + 1] + w10 * map[t00 + 5] + w01 * map[t01 + 1] + w11 * map[t01 + 5];
          let r = lum * 0.97;
          let g = lum;
          let b = lum * 1.04;
          r += (INK[0] - r) * ink;
          g += (INK[1] - g) * ink;
          b += (INK[2] - b) * ink;
          if (defect) {
            const px = x + 0.5;
            const py = y + 0.5;
            switch (defect.kind) {
              case 'scratch': {
                const a = scratchCoverage(defect.pts, defect.halfWidth, px, py);
                r += (defect.level - r) * a;
                g += (defect.level - g) * a;
                b += (defect.level - b) * a;
                break;
              }
              case 'spot': {
                const a = spotAlpha(defect, px, py);
                r += (defect.color[0] - r) * a;
                g += (defect.color[1] - g) * a;
                b += (defect.color[2] - b) * a;
                break;
              }
              case 'dent': {
                const k = dentShade(defect, px, py);
                r *= k;
                g *= k;
                b *= k;
                break;
              }
              case 'missing':
                cover *= 1 - blobCoverage(defect.x, defect.y, defect.r, defect.harm, px, py);
                break;
            }
          }
          cr += (r - cr) * cover;
          cg += (g - cg) * cover;
          cb += (b - cb) * cover;
        }
      }
      if (object) object[y * width + x] = cover >= 0.5 ? 1 : 0;
      const illum = illumY * (1 + pose.gradX * ((x + 0.5) / width - 0.5));
      const o = (j * stride + i) * 3;
      // Ten hash bits per channel pick a normal quantile: independent per channel and pixel.
      const hsh = hash32(pose.noiseKey, y * width + x);
      const vr = cr * illum + pose.offset + sigma * NORMAL_TABLE[hsh & 1023];
      const vg = cg * illum + pose.offset + sigma * NORMAL_TABLE[(hsh >>> 10) & 1023];
      const vb = cb * illum + pose.offset + sigma * NORMAL_TABLE[(hsh >>> 20) & 1023];
      out[o] = vr <= 0 ? 0 : vr >= 255 ? 255 : (vr + 0.5) | 0;
      out[o + 1] = vg <= 0 ? 0 : vg >= 255 ? 255 : (vg + 0.5) | 0;
      out[o + 2] = vb <= 0 ? 0 : vb >= 255 ? 255 : (vb + 0.5) | 0;
    }
  }
}

/** Coverage of a polyline stroke of half-width hw at pixel centre (px, py), antialiased over 1 px. */
function scratchCoverage(pts: Float64Array, hw: number, px: number, py: number): number {
  let best = Infinity;
  for (let k = 0; k + 3 < pts.length; k += 2) {
    const ax = pts[k];
    const ay = pts[k + 1];
    const ex = pts[k + 2] - ax;
    const ey = pts[k + 3] - ay;
    const l2 = ex * ex + ey * ey;
    const t = l2 > 0 ? clamp01(((px - ax) * ex + (py - ay) * ey) / l2) : 0;
    const qx = px - ax - t * ex;
    const qy = py - ay - t * ey;
    const dist = qx * qx + qy * qy;
    if (dist < best) best = dist;
  }
  return clamp01(hw + 0.5 - Math.sqrt(best));
}

/** Coverage of an irregular disc: radius r·(1 + Σ a·sin(kθ + φ)), antialiased over 1 px. */
function blobCoverage(cx: number, cy: number, r: number, harm: number[], px: number, py: number): number {
  const dx = px - cx;
  const dy = py - cy;
  const dist = Math.sqrt(dx * dx + dy * dy);
  if (dist > r * 1.5 + 1) return 0;
  const th = Math.atan2(dy, dx);
  let rr = 1;
  for (let k = 0; k < harm.length; k += 3) rr += harm[k] * Math.sin(harm[k + 1] * th + harm[k + 2]);
  return clamp01(r * rr - dist + 0.5);
}

/** A dried stain: denser towards its rim (the coffee-ring effect). */
function spotAlpha(sp: { x: number; y: number; r: number; harm: number[] }, px: number, py: number): number {
  const c = blobCoverage(sp.x, sp.y, sp.r, sp.harm, px, py);
  if (c === 0) return 0;
  const q = ((px - sp.x) ** 2 + (py - sp.y) ** 2) / (sp.r * sp.r);
  return c * (0.72 + 0.22 * Math.min(1, q));
}

/**
 * Multiplicative shading of a dent: a crater, darker throughout and darkest on the wall facing away from
 * the light, ringed by a pushed-up lip that is bright towards the light and dark away from it. The crater
 * never brightens, so its mask is a solid disc; the switch from crater to lip is hard (no antialiasing)
 * because a blend there would cross "unchanged" and punch holes in the mask.
 */
function dentShade(dt: { x: number; y: number; r: number; lip: number }, px: number, py: number): number {
  const dx = px - dt.x;
  const dy = py - dt.y;
  const dist = Math.sqrt(dx * dx + dy * dy);
  if (dist >= dt.r + dt.lip) return 1;
  // +1 on the side towards the light.
  const t = dist > 0 ? (dx * LIGHT_X + dy * LIGHT_Y) / dist : 0;
  if (dist < dt.r) {
    const q = (dist / dt.r) ** 2;
    return 1 - 0.32 - 0.18 * t * q;
  }
  // The lip is highest at the crater's edge, so no unchanged ring separates it from the crater.
  const f = 1 - (dist - dt.r) / dt.lip;
  return 1 + 0.4 * f * f * t;
}

/** Object → image coordinates. */
function toImage(p: Pose, u: number, v: number): [number, number] {
  return [p.cx + p.cos * u - p.sin * v, p.cy + p.sin * u + p.cos * v];
}

function harmonics(rng: Rng, amps: number[]): number[] {
  const out: number[] = [];
  amps.forEach((a, k) => out.push(rng.uniform(0.5, 1) * a, k + 2, rng.uniform(0, 2 * Math.PI)));
  return out;
}

function boxAround(p: Pose, x0: number, y0: number, x1: number, y1: number): Box {
  const x = Math.max(0, Math.floor(x0) - 2);
  const y = Math.max(0, Math.floor(y0) - 2);
  const xe = Math.min(p.width, Math.ceil(x1) + 2);
  const ye = Math.min(p.height, Math.ceil(y1) + 2);
  return { x, y, width: Math.max(1, xe - x), height: Math.max(1, ye - y) };
}

/** Chooses where the defect goes: on material, clear of the holes, within the frame. */
function placeDefect(rng: Rng, pose: Pose, d: Design, spec: { kind: DefectKind; size: number }): Defect {
  const { kind } = spec;
  const size = Math.max(1, Math.min(spec.size, 2 * Math.min(d.halfW, d.halfH) - 8));
  const half = size / 2;
  // Rejection sampling of the centre in object coordinates.
  const clearOfHoles = (u: number, v: number, r: number): boolean =>
    d.holes.every((h) => Math.hypot(u - h.u, v - h.v) > h.r + 5 * pose.s + r + 2);
  let u = 0;
  let v = 0;
  if (kind === 'missing') {
    // On a straight stretch of the outline, centre slightly inside so most of the disc bites material.
    for (let tries = 0; tries < 200; tries++) {
      const side = rng.int(0, 3);
      const along = side < 2 ? d.halfW - d.corner : d.halfH - d.corner;
      const t = rng.uniform(-along, along);
      const depth = (side < 2 ? d.halfH : d.halfW) - 0.15 * size;
      if (side === 0) [u, v] = [t, -depth];
      else if (side === 1) [u, v] = [t, depth];
      else if (side === 2) [u, v] = [-depth, t];
      else [u, v] = [depth, t];
      if (clearOfHoles(u, v, half * 1.3)) break;
    }
  } else {
    const margin = d.bevel + half + 3;
    for (let tries = 0; tries < 200; tries++) {
      u = rng.uniform(-d.halfW + margin, d.halfW - margin);
      v = rng.uniform(-d.halfH + margin, d.halfH - margin);
      if (plateSd(d, u, v) < -margin && clearOfHoles(u, v, half)) break;
    }
  }
  const [x, y] = toImage(pose, u, v);

  switch (kind) {
    case 'scratch': {
      // A slightly curved stroke of length ≈ size: a quadratic Bézier sampled as a polyline.
      const halfWidth = Math.min(1.4, 0.35 + size / 80);
      const len = Math.max(0.5, size - 2 * halfWidth - 0.5);
      const ang = rng.uniform(0, Math.PI);
      const bend = rng.uniform(-0.12, 0.12) * len;
      const ex = (Math.cos(ang) * len) / 2;
      const ey = (Math.sin(ang) * len) / 2;
      const segs = 12;
      const pts = new Float64Array((segs + 1) * 2);
      let xmin = Infinity;
      let ymin = Infinity;
      let xmax = -Infinity;
      let ymax = -Infinity;
      for (let k = 0; k <= segs; k++) {
        const t = k / segs;
        const off = bend * 4 * t * (1 - t);
        const px = x - ex + 2 * ex * t - Math.sin(ang) * off;
        const py = y - ey + 2 * ey * t + Math.cos(ang) * off;
        pts[2 * k] = px;
        pts[2 * k + 1] = py;
        xmin = Math.min(xmin, px);
        ymin = Math.min(ymin, py);
        xmax = Math.max(xmax, px);
        ymax = Math.max(ymax, py);
      }
      const level = rng.next() < 0.5 ? 248 : 62;
      const m = halfWidth + 1;
      return { kind, pts, halfWidth, level, box: boxAround(pose, xmin - m, ymin - m, xmax + m, ymax + m) };
    }
    case 'spot': {
      // The ragged outline and the antialiased rim add ≈ 10 % to the extent.
      const r = Math.max(0.6, half * 0.9);
      const harm = harmonics(rng, [0.12, 0.06, 0.04]);
      const color = rng.next() < 0.7 ? [72, 50, 34] : [236, 230, 205];
      const m = r * 1.5 + 2;
      return { kind, x, y, r, harm, color, box: boxAround(pose, x - m, y - m, x + m, y + m) };
    }
    case 'dent': {
      // Crater plus lip spans ≈ size along the light direction.
      const r = Math.max(0.8, size / 2.5);
      const lip = Math.max(1, 0.3 * r);
      const m = r + lip + 1;
      return { kind, x, y, r, lip, box: boxAround(pose, x - m, y - m, x + m, y + m) };
    }
    case 'missing': {
      const r = Math.max(0.6, half);
      const harm = harmonics(rng, [0.15, 0.08]);
      const m = r * 1.5 + 2;
      return { kind, x, y, r, harm, box: boxAround(pose, x - m, y - m, x + m, y + m) };
    }
  }
}

/** Bounding box and Feret diameter (max over 16 directions) of the mask inside `search`. */
function describeMask(mask: Uint8Array, width: number, kind: DefectKind, search: Box): DefectInfo {
  const dirs = 16;
  const lo = new Float64Array(dirs).fill(Infinity);
  const hi = new Float64Array(dirs).fill(-Infinity);
  const cs = Array.from({ length: dirs }, (_, k) => Math.cos((k * Math.PI) / dirs));
  const sn = Array.from({ length: dirs }, (_, k) => Math.sin((k * Math.PI) / dirs));
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let y = search.y; y < search.y + search.height; y++) {
    for (let x = search.x; x < search.x + search.width; x++) {
      if (!mask[y * width + x]) continue;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
      for (let k = 0; k < dirs; k++) {
        const p = x * cs[k] + y * sn[k];
        if (p < lo[k]) lo[k] = p;
        if (p > hi[k]) hi[k] = p;
      }
    }
  }
  if (x1 < 0) return { kind, box: { x: search.x, y: search.y, width: 0, height: 0 }, size: 0 };
  let size = 0;
  for (let k = 0; k < dirs; k++) size = Math.max(size, hi[k] - lo[k] + 1);
  return { kind, box: { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 }, size: Math.round(size) };
}
