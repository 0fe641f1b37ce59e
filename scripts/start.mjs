#!/usr/bin/env node
// `npm start`: builds if the sources are newer than the build, then runs a local cluster of three
// real node processes in the foreground (`arpeggio cluster up --dir .arpeggio`), printing every
// endpoint and a redis-cli line to try. Ctrl-C stops every node gracefully; `npm start` again
// brings the cluster back with its data. Arguments go to `cluster up`: `npm start -- --nodes 5`.
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

const child = spawn(
  process.execPath,
  ['bin/arpeggio.js', 'cluster', 'up', '--dir', '.arpeggio', ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
// Ctrl-C reaches `cluster up` straight from the terminal (one process group), which then stops
// every node; passing it on as well would count as a second Ctrl-C (kill at once). Signals sent to
// this process alone are passed on.
process.on('SIGINT', () => {});
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
