#!/usr/bin/env node
// `node scripts/bench.mjs [flags]`: builds if the sources are newer than the build, then runs
// `arpeggio bench` with the flags given (`node scripts/bench.mjs --quick --out bench-out`).
// See docs/BENCHMARKS.md.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir) {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const s = statSync(path);
    t = Math.max(t, s.isDirectory() ? newest(path) : s.mtimeMs);
  }
  return t;
}

const built = 'dist/src/cli/main.js';
if (!existsSync(built) || newest('src') > statSync(built).mtimeMs) {
  process.stderr.write('building…\n');
  const b = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
    stdio: 'inherit',
  });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

const child = spawn(process.execPath, ['bin/arpeggio.js', 'bench', ...process.argv.slice(2)], {
  stdio: 'inherit',
});
// Ctrl-C reaches `arpeggio bench` from the terminal (one process group); it stops every server it
// started. Signals sent to this process alone are passed on.
process.on('SIGINT', () => {});
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
