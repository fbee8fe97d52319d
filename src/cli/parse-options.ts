// Strict parsers for numeric command-line options: "12abc" or "1.5" for a count is a usage error, not 12 or 1.
import { InvalidArgumentError } from 'commander';

export function intOption(min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    if (!/^[+-]?\d+$/.test(v.trim())) throw new InvalidArgumentError(`'${v}' is not an integer`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is outside ${min}..${max}`);
    return n;
  };
}

export function numberOption(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`'${v}' is not a number`);
  return n;
}

/** "8,12" → [8, 12]. */
export function layersOption(v: string): [number, number] {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(v);
  if (!m) throw new InvalidArgumentError(`'${v}' is not two block numbers like 8,12`);
  return [Number(m[1]), Number(m[2])];
}

/** A pixel count: an integer ("64000000") or megapixels with an MP suffix ("64MP", "100 mp"). */
export function pixelsOption(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(mp)?\s*$/i.exec(v);
  const n = m ? Math.round(Number(m[1]) * (m[2] ? 1e6 : 1)) : NaN;
  if (!(n >= 1 && Number.isSafeInteger(n))) {
    throw new InvalidArgumentError(`'${v}' is not a pixel count (an integer, or megapixels like 100MP)`);
  }
  return n;
}

/** `off`, or `SCALE[,OVERLAP]` (overlap 0.125 when left out): a --tiling value (docs/pipeline.md, "Tiling"). */
export function tilingOption(v: string): { scale: number; overlap: number } | 'off' {
  if (v.trim() === 'off') return 'off';
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:,\s*(\d+(?:\.\d+)?)\s*)?$/.exec(v);
  const scale = m ? Number(m[1]) : NaN;
  const overlap = m?.[2] !== undefined ? Number(m[2]) : 0.125;
  if (!(scale > 0 && scale <= 4) || !(overlap >= 0 && overlap < 0.5)) {
    throw new InvalidArgumentError(
      `'${v}' is not a tiling: off, or SCALE[,OVERLAP] with 0 < SCALE ≤ 4 and 0 ≤ OVERLAP < 0.5 (e.g. 1,0.125)`,
    );
  }
  return { scale, overlap };
}
