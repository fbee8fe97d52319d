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
