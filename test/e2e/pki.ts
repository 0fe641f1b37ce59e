/**
 * Certificates for the TLS tests, made by the script operators use (scripts/dev-ca.sh), so the
 * tests also check that its certificates work with every TLS door.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** scripts/dev-ca.sh from the built tree (dist/test/e2e/ → the repository root). */
export const DEV_CA_SCRIPT = fileURLToPath(new URL('../../../scripts/dev-ca.sh', import.meta.url));

export interface Pki {
  dir: string;
  /** Absolute path of a file the script wrote (`ca.pem`, `n1-key.pem`, …). */
  path(name: string): string;
  /** Its content. */
  read(name: string): Buffer;
}

/** Runs scripts/dev-ca.sh into `dir` for `nodes`; returns its stdout lines and the files. */
export function devCa(dir: string, nodes: string[]): Pki & { output: string[] } {
  assert.equal(
    spawnSync('openssl', ['version']).status,
    0,
    'the openssl CLI makes the test certificates: apt-get install openssl',
  );
  const output = execFileSync('bash', [DEV_CA_SCRIPT, dir, ...nodes], { encoding: 'utf8' })
    .trim()
    .split('\n');
  const path = (name: string) => join(dir, name);
  return { dir, output, path, read: (name) => readFileSync(path(name)) };
}
