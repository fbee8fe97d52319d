// An archive writer in a process of its own, writing synthetic parts as fast as it can, for the test that
// kill -9s it at random moments. Plain JavaScript on the built dist/ (no tsx: twenty restarts must be quick).
// argv[2]: JSON { dir, maxBytes }. Prints "ready" once the archive is open (and repaired).
import { setInterval } from 'node:timers';
import { computeLetterbox } from '../../dist/pipeline/letterbox.js';
import { ArchiveWriter } from '../../dist/sinks/archive/archive-writer.js';
import { createLogger } from '../../dist/util/log.js';

const args = JSON.parse(process.argv[2]);
const W = 96;
const H = 64;
const writer = new ArchiveWriter(
  { dir: args.dir, maxBytes: args.maxBytes, imageFormat: 'png', jpegQuality: 90, mapFormat: 'npy' },
  4,
  createLogger({ level: 'silent' }),
);
await writer.start();
console.log('ready');
let n = 0;
const result = (k) => ({
  version: 1,
  cameraId: 'cam1',
  partId: `cam1-part-${k}`,
  seq: k,
  captureTime: Date.now() - 12,
  decideTime: Date.now(),
  latencyMs: 12,
  score: 0.9,
  threshold: 0.5,
  verdict: 'reject',
  reason: 'score',
  blobs: [],
  modelId: 'kill-test',
});
setInterval(() => {
  // Keep the worker's queue full: whatever the moment of the kill, something is being written.
  while (writer.st.queued < 4) {
    n++;
    writer.enqueue({
      result: result(n),
      evidence: {
        image: { width: W, height: H, channels: 3, data: new Uint8Array(W * H * 3).fill(n % 256) },
        grid: new Float32Array(16).map((_, i) => (i * n) % 7),
        g: 4,
        letterbox: computeLetterbox(W, H, 56),
        ignore: [],
        pixelThreshold: 3,
      },
    });
  }
}, 2);
