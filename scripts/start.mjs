#!/usr/bin/env node
// `npm start`: builds if the sources are newer than the build, then runs the main job.
// Until the node runtime lands, the main job is a simulated Chord ring of 1,024 nodes.
import { spawnSync } from 'node:child_process';
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
  const b = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const args = process.argv.slice(2);
const r = spawnSync(process.execPath, ['bin/arpeggio.js', ...(args.length ? args : ['sim', 'chord', '--nodes', '1024'])], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
