/**
 * Mutual TLS under the handshake: two nodes with certificates from the cluster CA talk; a node
 * whose certificate another CA signed is refused before it can even start the handshake.
 * Certificates are made for the test with the `openssl` CLI (`.ci/run` installs it).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type TestContext, test } from 'node:test';
import { isTransportError } from '../../../src/adapters/transport/errors.js';
import type { RejectionInfo, TcpTlsOptions } from '../../../src/adapters/transport/tcp.js';
import { Cluster, nextEvent } from './helpers.js';

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

/** A CA and one certificate it signs (for 127.0.0.1, usable as client and server), in `dir`. */
function makePki(dir: string, name: string): TcpTlsOptions {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    `${name}-ca.key`,
    '-out',
    `${name}-ca.crt`,
    '-days',
    '1',
    '-subj',
    `/CN=${name} CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  );
  run('req', ...ec, '-keyout', `${name}-node.key`, '-out', `${name}-node.csr`, '-subj', `/CN=${name} node`);
  writeFileSync(
    join(dir, `${name}.ext`),
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n',
  );
  run(
    'x509',
    '-req',
    '-in',
    `${name}-node.csr`,
    '-CA',
    `${name}-ca.crt`,
    '-CAkey',
    `${name}-ca.key`,
    '-CAcreateserial',
    '-out',
    `${name}-node.crt`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  );
  const read = (f: string) => readFileSync(join(dir, f));
  return { cert: read(`${name}-node.crt`), key: read(`${name}-node.key`), ca: read(`${name}-ca.crt`) };
}

/** A temp directory with the cluster CA and a certificate, and a Cluster; both gone after `t`. */
function setUp(t: TestContext): { dir: string; pki: TcpTlsOptions; cluster: Cluster } {
  assert.ok(haveOpenssl, 'the openssl CLI makes the test certificates: apt-get install openssl');
  const dir = mkdtempSync(join(tmpdir(), 'arpeggio-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cluster = new Cluster();
  t.after(() => cluster.closeAll());
  return { dir, pki: makePki(dir, 'cluster'), cluster };
}

test('mutual TLS: cluster members talk; a certificate from another CA is refused', {
  timeout: 30_000,
}, async (t) => {
  const { dir, pki, cluster } = setUp(t);
  const rogue = makePki(dir, 'rogue');
  const a = await cluster.start('a', { tls: pki });
  const b = await cluster.start('b', { tls: pki });
  const got: unknown[] = [];
  const arrived = new Promise<void>((resolve) =>
    b.onMessage((from, msg) => {
      got.push([from, msg]);
      if (got.length === 100) resolve();
    }),
  );
  for (let i = 0; i < 100; i++) a.send('b', { i });
  await arrived;
  assert.deepEqual(
    got,
    [...Array(100).keys()].map((i) => ['a', { i }]),
  );

  // The rogue holds the cluster secret but not a certificate from the cluster CA.
  const refused = nextEvent<[RejectionInfo]>(a, 'rejected');
  const r = await cluster.start('rogue', { tls: { ...rogue, ca: [rogue.ca as Buffer, pki.ca as Buffer] } });
  await assert.rejects(
    r.connect(a.address()!),
    (e) => isTransportError(e) && (e.code === 'TLS_ERROR' || /certificate/.test(e.message)),
    'the dialer learns the TLS layer refused it',
  );
  assert.equal((await refused)[0].code, 'TLS_ERROR');
  assert.equal(a.metrics().messagesDelivered, 0);
});

test('a TLS handshake that stalls is cut at handshakeTimeoutMs, and stalled handshakes are bounded', {
  timeout: 30_000,
}, async (t) => {
  const { pki, cluster } = setUp(t);
  const a = await cluster.start('a', { tls: pki, handshakeTimeoutMs: 300, maxPendingHandshakes: 2 });
  const [host, port] = [a.address()!.split(':')[0], Number(a.address()!.split(':')[1])];

  // Plain TCP clients that never start TLS: the first two wait in their handshake, the third
  // is over the bound and is closed at once.
  const sockets = [0, 1, 2].map(() => connect(port, host));
  t.after(() => {
    for (const s of sockets) s.destroy();
  });
  const closedAt = sockets.map(
    (s) =>
      new Promise<number>((resolve) => {
        s.on('error', () => {});
        s.on('close', () => resolve(performance.now()));
      }),
  );
  await Promise.all(sockets.map((s) => once(s, 'connect')));
  const start = performance.now();
  const times = await Promise.all(closedAt);
  assert.equal(a.metrics().rejected.TOO_MANY_HANDSHAKES, 1, 'the third stalled handshake was refused');
  const cut = times.filter((at) => at - start >= 200);
  assert.equal(
    cut.length,
    2,
    `two were cut by the handshake timeout, not left open: ${times.map((x) => x - start)}`,
  );
});
