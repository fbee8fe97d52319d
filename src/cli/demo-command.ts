// `pinpoint demo`: see src/demo/demo.ts.
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { runDemo } from '../demo/demo.js';
import { intOption, numberOption } from './parse-options.js';

function fps(v: string): number {
  const n = numberOption(v);
  if (n < 0.1 || n > 50) throw new InvalidArgumentError(`${n} is outside 0.1..50`);
  return n;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('self-contained demo: dev teacher, synthetic parts, teach-in, MQTT verdict stream')
    .option('--dir <dir>', 'working directory (teacher, model, images, config, logs)', 'demo-data')
    .option('--size <px>', 'model input side S, a multiple of 14', intOption(14, 1036), 112)
    .option('--parts <n>', 'parts per camera, then stop (0: until Ctrl-C)', intOption(0), 0)
    .option('--fps <n>', 'parts per second per camera (0.1 to 50)', fps, 2)
    .option('--retrain', 'teach in again even if the directory holds a taught model')
    .option('--mqtt <url>', 'use this MQTT broker instead of starting a local mosquitto')
    .action(
      async (o: {
        dir: string;
        size: number;
        parts: number;
        fps: number;
        retrain?: boolean;
        mqtt?: string;
      }) => {
        process.exitCode = await runDemo({
          dir: o.dir,
          size: o.size,
          parts: o.parts,
          fps: o.fps,
          retrain: o.retrain === true,
          mqttUrl: o.mqtt,
        });
      },
    );
}
