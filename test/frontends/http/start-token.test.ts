/**
 * `arpeggio start` settings for the HTTP door: the bearer token comes from --http-token, else
 * ARPEGGIO_HTTP_TOKEN, else the config file's "http-token"; without any the API is open.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseStartArgs } from '../../../src/cli/commands/start.js';
import { tempDir } from '../../runtime/helpers.js';

test('the HTTP token: the flag, else ARPEGGIO_HTTP_TOKEN, else the config file, else none', async () => {
  const d = await tempDir('arpeggio-http-config-');
  try {
    const file = join(d.path, 'node.json');
    writeFileSync(
      file,
      JSON.stringify({ data: 'n', 'peer-port': 7001, 'http-port': 8080, 'http-token': 'from-file' }),
    );
    const env = { ARPEGGIO_HTTP_TOKEN: 'from-env' };
    assert.equal(parseStartArgs(['--config', file, '--http-token', 'from-flag'], env).httpToken, 'from-flag');
    assert.equal(parseStartArgs(['--config', file], env).httpToken, 'from-env');
    assert.equal(parseStartArgs(['--config', file], {}).httpToken, 'from-file');
    const open = parseStartArgs(['--data', 'n', '--peer-port', '1', '--http-port', '0'], {});
    assert.equal(open.httpToken, undefined);
    assert.equal(open.httpPort, 0);
  } finally {
    await d.remove();
  }
});
