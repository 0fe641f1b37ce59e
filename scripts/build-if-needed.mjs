// Shared by the scripts that run the CLI from a clone: rebuilds dist/ with tsc when any source is
// newer than the build (or there is no build yet), and exits the process if the build fails.
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

export function buildIfNeeded() {
  const built = 'dist/src/cli/main.js';
  if (existsSync(built) && newest('src') <= statSync(built).mtimeMs) return;
  process.stderr.write('building…\n');
  const b = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
    stdio: 'inherit',
  });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
