/**
 * How `arpeggio start` turns flags, the config file and the environment into settings: flags win
 * over the file, the secret comes from the flag, then ARPEGGIO_SECRET, then the file; quorums
 * default to a majority of --replicas; mistakes name the flag.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { UsageError } from '../../src/cli/args.js';
import { parseStartArgs } from '../../src/cli/commands/start.js';
import { tempDir } from './helpers.js';

const dirs: Array<{ remove(): Promise<void> }> = [];
after(async () => {
  for (const d of dirs) await d.remove();
});

async function configFile(content: unknown): Promise<{ dir: string; path: string }> {
  const d = await tempDir('arpeggio-config-');
  dirs.push(d);
  const path = join(d.path, 'node.json');
  writeFileSync(path, JSON.stringify(content));
  return { dir: d.path, path };
}

describe('arpeggio start settings', () => {
  test('flags win over the config file; a relative data directory is relative to the file', async () => {
    const { dir, path } = await configFile({
      data: 'n1',
      'peer-port': 7001,
      join: ['127.0.0.1:7000', '127.0.0.1:7002'],
      replicas: 5,
      kv: { requestTimeoutMs: 500 },
    });
    const s = parseStartArgs(['--config', path, '--peer-port', '7009'], {});
    assert.equal(s.dataDir, join(dir, 'n1'));
    assert.equal(s.peerPort, 7009);
    assert.deepEqual(s.join, ['127.0.0.1:7000', '127.0.0.1:7002']);
    assert.deepEqual(s.kvConfig, { requestTimeoutMs: 500, replicaCount: 5, readQuorum: 3, writeQuorum: 3 });
  });

  test('--replicas alone sets majority quorums, so R + W > N holds', () => {
    const s = parseStartArgs(['--data', 'd', '--peer-port', '0', '--replicas', '1'], {});
    assert.deepEqual(s.kvConfig, { replicaCount: 1, readQuorum: 1, writeQuorum: 1 });
    const t = parseStartArgs(
      ['--data', 'd', '--peer-port', '0', '--replicas', '4', '--read-quorum', '2'],
      {},
    );
    assert.equal(t.kvConfig.readQuorum, 2);
    assert.equal(t.kvConfig.writeQuorum, 3);
  });

  test('the secret: the flag, else ARPEGGIO_SECRET, else the file, else none (a warning)', async () => {
    const { path } = await configFile({ data: 'd', 'peer-port': 0, secret: 'secret-from-the-file!!' });
    const env = { ARPEGGIO_SECRET: 'secret-from-the-environment' };
    assert.equal(
      parseStartArgs(['--config', path, '--secret', 'secret-from-the-flag!!'], env).secretSource,
      'flag',
    );
    assert.equal(parseStartArgs(['--config', path], env).secret, 'secret-from-the-environment');
    assert.equal(parseStartArgs(['--config', path], {}).secretSource, 'config file');
    assert.equal(parseStartArgs(['--data', 'd', '--peer-port', '0'], {}).secretSource, 'none');
    assert.throws(
      () => parseStartArgs(['--data', 'd', '--peer-port', '0', '--secret', 'short'], {}),
      /16 bytes/,
    );
  });

  test('mistakes name the flag or key', async () => {
    const bad = (argv: string[], pattern: RegExp) =>
      assert.throws(
        () => parseStartArgs(argv, {}),
        (e) => e instanceof UsageError && pattern.test(e.message),
      );
    bad(['--peer-port', '1'], /--data DIR is required/);
    bad(['--data', 'd'], /--peer-port P is required/);
    bad(['--data', 'd', '--peer-port', '70000'], /--peer-port must be between 0 and 65535/);
    bad(
      ['--data', 'd', '--peer-port', '0', '--durability', 'sometimes'],
      /--durability must be flush or relaxed/,
    );
    bad(['--data', 'd', '--peer-port', '0', '--bogus'], /bogus/);
    const { path } = await configFile({ data: 'd', 'peer-port': 0, peerPort: 1 });
    bad(['--config', path], /unknown key 'peerPort'/);
  });
});
