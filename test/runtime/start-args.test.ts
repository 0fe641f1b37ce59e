/**
 * How `arpeggio start` turns flags, the config file and the environment into settings: flags win
 * over the file, the secret comes from the flag, then ARPEGGIO_SECRET, then the file; quorums
 * default to a majority of --replicas; mistakes name the flag; TLS files are checked before the
 * node starts, with a stable code.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UsageError } from '../../src/cli/args.js';
import { loadStartTls, parseStartArgs } from '../../src/cli/commands/start.js';
import { isTlsConfigError } from '../../src/runtime/tls.js';
import { devCa, type Pki } from '../e2e/pki.js';
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

describe('arpeggio start TLS settings', () => {
  const base = ['--data', 'd', '--peer-port', '0'];
  let pki: Pki;
  before(async () => {
    const d = await tempDir('arpeggio-pki-');
    dirs.push(d);
    pki = devCa(d.path, ['n1']);
  });

  test('--tls-cert, --tls-key and --tls-ca go together; --client-tls-ca needs a client cert and key', () => {
    const bad = (argv: string[], pattern: RegExp) =>
      assert.throws(
        () => parseStartArgs([...base, ...argv], {}),
        (e) => e instanceof UsageError && pattern.test(e.message),
      );
    bad(['--tls-cert', 'c.pem', '--tls-key', 'k.pem'], /--tls-ca missing: mutual TLS between nodes needs/);
    bad(['--tls-ca', 'ca.pem'], /--tls-cert and --tls-key missing/);
    bad(['--client-tls-cert', 'c.pem'], /--client-tls-key missing/);
    bad(['--client-tls-ca', 'ca.pem'], /--client-tls-cert missing/);
    const none = parseStartArgs(base, {});
    assert.equal(none.peerTls, undefined, 'plain TCP between nodes is the default');
    assert.equal(none.clientTls, undefined, 'plain TCP on the client ports is the default');
  });

  test('relative paths are taken from here for flags and from the file’s directory in the config file', async () => {
    const { dir, path } = await configFile({
      data: 'd',
      'peer-port': 0,
      'tls-cert': 'pki/n1.pem',
      'tls-key': 'pki/n1-key.pem',
      'tls-ca': 'pki/ca.pem',
    });
    const s = parseStartArgs(
      ['--config', path, '--client-tls-cert', 'c.pem', '--client-tls-key', 'k.pem'],
      {},
    );
    assert.equal(s.peerTls?.cert, join(dir, 'pki/n1.pem'));
    assert.equal(s.peerTls?.ca, join(dir, 'pki/ca.pem'));
    assert.equal(s.clientTls?.cert, resolve('c.pem'));
    assert.equal(s.clientTls?.ca, undefined);
  });

  test('the files are read and checked before the node starts: a missing file is TLS_FILE_UNREADABLE, a mismatched key TLS_FILE_INVALID', () => {
    const load = (argv: string[]) => loadStartTls(parseStartArgs([...base, ...argv], {}));
    const peer = [
      '--tls-cert',
      pki.path('n1.pem'),
      '--tls-key',
      pki.path('n1-key.pem'),
      '--tls-ca',
      pki.path('ca.pem'),
    ];
    const loaded = load([
      ...peer,
      '--client-tls-cert',
      pki.path('n1.pem'),
      '--client-tls-key',
      pki.path('n1-key.pem'),
      '--client-tls-ca',
      pki.path('ca.pem'),
    ]);
    assert.ok(loaded.peer && loaded.client, 'dev-ca.sh certificates load');
    assert.equal(loaded.client.requireClientCert, true, 'a client CA makes client certificates required');

    const fails = (argv: string[], code: string, pattern: RegExp) =>
      assert.throws(
        () => load(argv),
        (e) => isTlsConfigError(e) && e.code === code && pattern.test(e.message),
      );
    const missing = join(pki.dir, 'nope.pem');
    fails(
      ['--tls-cert', missing, '--tls-key', pki.path('n1-key.pem'), '--tls-ca', pki.path('ca.pem')],
      'TLS_FILE_UNREADABLE',
      /--tls-cert .*nope\.pem: cannot read the certificate \(ENOENT\).*dev-ca\.sh/,
    );
    fails(
      [
        '--tls-cert',
        pki.path('n1.pem'),
        '--tls-key',
        pki.path('client-key.pem'),
        '--tls-ca',
        pki.path('ca.pem'),
      ],
      'TLS_FILE_INVALID',
      /do not make a usable certificate/,
    );
    fails(
      ['--client-tls-cert', pki.path('ca-key.pem'), '--client-tls-key', pki.path('n1-key.pem')],
      'TLS_FILE_INVALID',
      /do not make a usable certificate|not a PEM/,
    );
    const notPem = join(pki.dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    fails(
      ['--client-tls-cert', pki.path('n1.pem'), '--client-tls-key', notPem],
      'TLS_FILE_INVALID',
      /--client-tls-key .*not\.pem: not a PEM file/,
    );
  });

  test('a node certificate another CA signed is refused at start, not at every connection', async () => {
    const d = await tempDir('arpeggio-pki-other-');
    dirs.push(d);
    const other = devCa(d.path, ['x1']);
    assert.throws(
      () =>
        loadStartTls(
          parseStartArgs(
            [
              ...base,
              '--tls-cert',
              other.path('x1.pem'),
              '--tls-key',
              other.path('x1-key.pem'),
              '--tls-ca',
              pki.path('ca.pem'),
            ],
            {},
          ),
        ),
      (e) =>
        isTlsConfigError(e) && e.code === 'TLS_FILE_INVALID' && /is not signed by --tls-ca/.test(e.message),
    );
  });
});
