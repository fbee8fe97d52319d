// Child-process helper for test/gst-process.test.ts: runs one supervised videotestsrc pipeline and prints
// `PID <n>` for each gst-launch child it starts, until it is killed.
import { pino } from 'pino';
import { gstFrames } from '../../src/sources/gst-process.js';
import { capsFilter, element, frameSinkTokens, link } from '../../src/sources/gst-pipeline.js';

const pipeline = link(
  element('videotestsrc', { 'is-live': true }),
  capsFilter('video/x-raw', { format: 'GRAY8', width: 16, height: 16, framerate: '25/1' }),
  frameSinkTokens(),
);
gstFrames(
  'orphan',
  {
    pipeline,
    describe: 'test',
    stallTimeoutMs: 5000,
    timestamps: 'arrival',
    onSpawn: (pid) => process.stdout.write(`PID ${pid}\n`),
  },
  { log: pino({ level: 'silent' }), configDir: '.', onState: () => {} },
).subscribe();
