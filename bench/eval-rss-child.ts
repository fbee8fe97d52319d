// Child of eval.bench.ts: runs the `pinpoint` CLI in this process (arguments as given) and prints its peak
// resident set size as the last line, `maxrss-kb <n>`, when it exits.
process.on('exit', () => process.stdout.write(`\nmaxrss-kb ${process.resourceUsage().maxRSS}\n`));
await import('../src/cli/main.js');
