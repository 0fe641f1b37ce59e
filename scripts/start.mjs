#!/usr/bin/env node
// `npm start`: builds if the sources are newer than the build, then runs a local cluster of three
// real node processes in the foreground (`arpeggio cluster up --dir .arpeggio`), printing every
// endpoint and a redis-cli line to try. Ctrl-C stops every node gracefully; `npm start` again
// brings the cluster back with its data. Arguments go to `cluster up`: `npm start -- --nodes 5`.
import { spawn } from 'node:child_process';
import { buildIfNeeded } from './build-if-needed.mjs';

buildIfNeeded();

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
