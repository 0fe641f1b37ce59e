/**
 * The curl examples of docs/HTTP-API.md work as shown: a real `arpeggio start --http-port 0`
 * process, and each `$ curl …` line of the marked block run by the shell, its output compared
 * with the lines the document shows under it (the port substituted for 8080). Skipped where curl
 * is not installed.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startNodeProcess } from '../../runtime/helpers.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const hasCurl = spawnSync('curl', ['--version']).status === 0;

/** The `$ command` lines of the marked block and the output shown under each. */
function examples(): Array<{ command: string; expected: string }> {
  const doc = readFileSync(join(root, 'docs/HTTP-API.md'), 'utf8');
  const block = doc.split('<!-- curl-examples:start -->')[1].split('<!-- curl-examples:end -->')[0];
  const out: Array<{ command: string; expected: string }> = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('```')) continue;
    if (line.startsWith('$ ')) out.push({ command: line.slice(2), expected: '' });
    else if (out.length > 0) out[out.length - 1].expected += `${line}\n`;
  }
  return out;
}

test('the curl examples in docs/HTTP-API.md print what the document shows', { timeout: 30_000 }, async () => {
  assert.ok(hasCurl, 'curl runs the examples: apt-get install curl');
  const node = await startNodeProcess([
    '--id',
    'n1',
    '--peer-port',
    '0',
    '--http-port',
    '0',
    '--replicas',
    '1',
    '--read-quorum',
    '1',
    '--write-quorum',
    '1',
  ]);
  try {
    assert.equal(node.line.event, 'ready', node.first);
    const list = examples();
    assert.ok(list.length >= 10, 'the block holds the examples');
    for (const { command, expected } of list) {
      const real = command.replaceAll('127.0.0.1:8080', node.line.http);
      const { stdout } = await promisify(execFile)('sh', ['-c', real]);
      assert.equal(stdout.trimEnd(), expected.trimEnd(), `$ ${command}`);
    }
  } finally {
    await node.stop();
  }
});
