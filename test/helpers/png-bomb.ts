// A valid, all-black RGB PNG of any size written without ever holding its pixels: rows of zeros are streamed
// through zlib, so a 20000×20000 image (1.2 GB decoded) costs about 1 MB on disk and a few seconds of CPU.
// The "decompression bomb" of issue 10: small file, huge decode.
import { createWriteStream } from 'node:fs';
import { crc32, createDeflate } from 'node:zlib';

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** Writes `path` as a width×height 8-bit RGB PNG of zeros. */
export async function writeBlackPng(path: string, width: number, height: number): Promise<void> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const parts: Buffer[] = [];
  const deflate = createDeflate({ level: 1 });
  deflate.on('data', (d: Buffer) => parts.push(d));
  const ended = new Promise<void>((resolve, reject) => {
    deflate.on('end', resolve);
    deflate.on('error', reject);
  });
  // Each row: filter byte 0 then width·3 zero samples; written a block of rows at a time.
  const rowsPerBlock = Math.max(1, Math.floor((4 << 20) / (width * 3 + 1)));
  const block = Buffer.alloc(rowsPerBlock * (width * 3 + 1));
  for (let y = 0; y < height; y += rowsPerBlock) {
    const rows = Math.min(rowsPerBlock, height - y);
    if (!deflate.write(block.subarray(0, rows * (width * 3 + 1)))) {
      await new Promise<void>((r) => deflate.once('drain', r));
    }
  }
  deflate.end();
  await ended;
  const out = createWriteStream(path);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  out.write(signature);
  out.write(chunk('IHDR', ihdr));
  out.write(chunk('IDAT', Buffer.concat(parts)));
  out.write(chunk('IEND', Buffer.alloc(0)));
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}
