#!/usr/bin/env node
// `node scripts/bench.mjs [flags]`: builds if the sources are newer than the build, then runs
// `arpeggio bench` with the flags given (`node scripts/bench.mjs --quick --out bench-out`).
// See docs/BENCHMARKS.md.
import { spawn } from 'node:child_process';
import { buildIfNeeded } from './build-if-needed.mjs';

buildIfNeeded();

const child = spawn(process.execPath, ['bin/arpeggio.js', 'bench', ...process.argv.slice(2)], {
  stdio: 'inherit',
});
// Ctrl-C reaches `arpeggio bench` from the terminal (one process group); it stops every server it
// started. Signals sent to this process alone are passed on.
process.on('SIGINT', () => {});
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
