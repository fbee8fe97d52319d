#!/usr/bin/env node
// Installed entry point: runs the compiled CLI (`npm run build` produces dist/).
process.env.OPENCV4NODEJS_DISABLE_EXTERNAL_MEM_TRACKING = '1';
await import('../dist/cli/main.js');
